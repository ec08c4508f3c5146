#include "tests/e2e/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace fulcrum::test {
namespace {

using Clock = std::chrono::steady_clock;

int connect_to(const std::string& ip, uint16_t port, int timeout_ms, std::string* error) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
    if (error) *error = std::string("connect: ") + std::strerror(errno);
    close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  int soerr = 0;
  socklen_t len = sizeof soerr;
  if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
    if (error) *error = soerr != 0 ? std::string("connect: ") + std::strerror(soerr) : "connect: timeout";
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n > 0) off += static_cast<size_t>(n);
    else if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, 2000) != 1) return false;
    } else {
      return false;
    }
  }
  return true;
}

// Reads one HTTP response (status line, headers, Content-Length body): the body, or "".
std::string read_response(int fd, int timeout_ms, std::string* error) {
  std::string buf;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t header_end = std::string::npos, need = 0;
  for (;;) {
    if (header_end == std::string::npos) {
      header_end = buf.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        size_t cl = buf.find("Content-Length: ");
        need = cl != std::string::npos && cl < header_end ? std::stoul(buf.substr(cl + 16)) : 0;
        if (buf.compare(0, 12, "HTTP/1.1 200") != 0) {
          if (error) *error = "HTTP status: " + buf.substr(0, buf.find("\r\n"));
          return "";
        }
      }
    }
    if (header_end != std::string::npos && buf.size() >= header_end + 4 + need) return buf.substr(header_end + 4, need);
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) != 1) {
      if (error) *error = "response: timeout";
      return "";
    }
    char chunk[4096];
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      if (error) *error = n == 0 ? "response: connection closed" : std::string("response: ") + std::strerror(errno);
      return "";
    }
    buf.append(chunk, static_cast<size_t>(n));
  }
}

std::string name_of(const std::string& body) { return body.empty() ? "" : body.substr(0, body.find('\n')); }

}  // namespace

std::string http_once(const std::string& ip, uint16_t port, int timeout_ms, std::string* error) {
  int fd = connect_to(ip, port, timeout_ms, error);
  if (fd < 0) return "";
  std::string body;
  if (send_all(fd, "GET / HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n")) body = read_response(fd, timeout_ms, error);
  close(fd);
  return body;
}

KeepAlive::KeepAlive(const Topology& topo, const std::string& ip, uint16_t port) {
  NetnsScope in(topo.client_ns);
  if (in.ok()) fd_ = connect_to(ip, port, 3000, nullptr);
}

uint16_t KeepAlive::local_port() const {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (fd_ < 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  return ntohs(a.sin_port);
}

KeepAlive::~KeepAlive() {
  if (fd_ >= 0) close(fd_);
}

std::string KeepAlive::get(int timeout_ms) {
  if (fd_ < 0 || !send_all(fd_, "GET / HTTP/1.1\r\nHost: vip\r\nConnection: keep-alive\r\n\r\n")) return "";
  return read_response(fd_, timeout_ms, nullptr);
}

SpreadResult spread(const Topology& topo, const std::string& ip, uint16_t port, int connections, int parallel) {
  SpreadResult result;
  std::mutex mu;
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < parallel; ++t) {
    threads.emplace_back([&] {
      NetnsScope in(topo.client_ns);
      while (next.fetch_add(1) < connections) {
        std::string error;
        std::string body = http_once(ip, port, 3000, &error);
        std::lock_guard lock(mu);
        if (body.empty()) {
          if (result.failed++ == 0) result.first_error = error;
        } else {
          ++result.by_backend[name_of(body)];
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return result;
}

Load::Load(const Topology& topo, const std::string& ip, uint16_t port, int threads, int timeout_ms, double per_second) {
  const auto period = per_second > 0 ? std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(threads / per_second))
                                     : Clock::duration::zero();
  for (int t = 0; t < threads; ++t) {
    threads_.emplace_back([this, &topo, ip, port, timeout_ms, period, t, threads] {
      NetnsScope in(topo.client_ns);
      auto next = Clock::now() + period * t / threads;  // threads spread over one period
      while (!stop_.load()) {
        if (period != Clock::duration::zero()) {
          while (Clock::now() < next && !stop_.load()) std::this_thread::sleep_for(std::min<Clock::duration>(next - Clock::now(), std::chrono::milliseconds(50)));
          if (stop_.load()) break;
          next = std::max(next + period, Clock::now() - period);  // a slow connection's missed starts are not made up in a burst
        }
        auto at = Clock::now();
        std::string error;
        std::string body = http_once(ip, port, timeout_ms, &error);
        ++total_;
        if (body.empty()) ++failed_;
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - at).count();
        std::lock_guard lock(mu_);
        outcomes_.push_back({at, !body.empty(), name_of(body), ms});
        if (body.empty() && first_error_.empty()) first_error_ = error;
      }
    });
  }
}

Load::~Load() { stop(); }

void Load::stop() {
  stop_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

int Load::failed_since(Clock::time_point t) const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const Outcome& o : outcomes_) n += !o.ok && o.at >= t;
  return n;
}

Clock::time_point Load::last_failure() const {
  std::lock_guard lock(mu_);
  Clock::time_point last{};
  for (const Outcome& o : outcomes_) {
    if (!o.ok && o.at > last) last = o.at;
  }
  return last;
}

std::map<std::string, int> Load::by_backend() const {
  std::lock_guard lock(mu_);
  std::map<std::string, int> m;
  for (const Outcome& o : outcomes_) {
    if (o.ok) ++m[o.backend];
  }
  return m;
}

std::map<std::string, int> Load::by_backend(Clock::time_point from, Clock::time_point to) const {
  std::lock_guard lock(mu_);
  std::map<std::string, int> m;
  for (const Outcome& o : outcomes_) {
    if (o.ok && o.at >= from && o.at < to) ++m[o.backend];
  }
  return m;
}

std::vector<double> Load::durations_ms(Clock::time_point from, Clock::time_point to) const {
  std::lock_guard lock(mu_);
  std::vector<double> out;
  for (const Outcome& o : outcomes_) {
    if (o.at >= from && o.at < to) out.push_back(o.ms);
  }
  return out;
}

}  // namespace fulcrum::test
