#include "controlplane/metrics/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <vector>

namespace fulcrum::cp {
namespace {

uint64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1'000'000;
}

struct Client {
  std::string in, out;
  size_t sent = 0;
  uint64_t since = 0;
};

std::string response(int code, const char* reason, const std::string& type, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

std::unique_ptr<HttpServer> HttpServer::start(const std::string& address, Render render, std::string* error) {
  std::unique_ptr<HttpServer> s(new HttpServer());
  s->render_ = std::move(render);
  // "IPv4:port" or "[IPv6]:port" (issue 15), as the config checked.
  size_t colon = address.rfind(':');
  sockaddr_storage ss{};
  socklen_t ss_len = 0;
  const bool v6 = !address.empty() && address[0] == '[';
  const std::string host = colon == std::string::npos ? "" : v6 ? address.substr(1, colon - 2) : address.substr(0, colon);
  const uint16_t port = colon == std::string::npos ? 0 : static_cast<uint16_t>(std::strtoul(address.c_str() + colon + 1, nullptr, 10));
  if (v6) {
    auto* sa6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sa6->sin6_family = AF_INET6;
    sa6->sin6_port = htons(port);
    ss_len = sizeof *sa6;
    if (colon == std::string::npos || colon < 2 || address[colon - 1] != ']' ||
        inet_pton(AF_INET6, host.c_str(), &sa6->sin6_addr) != 1) {
      *error = "\"" + address + "\" is not [IPv6]:port";
      return nullptr;
    }
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&ss);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    ss_len = sizeof *sa;
    if (colon == std::string::npos || inet_pton(AF_INET, host.c_str(), &sa->sin_addr) != 1) {
      *error = "\"" + address + "\" is not IPv4:port";
      return nullptr;
    }
  }
  s->listen_fd_ = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(s->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6) setsockopt(s->listen_fd_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&ss), ss_len) != 0 || ::listen(s->listen_fd_, 64) != 0) {
    *error = "cannot listen on " + address + ": " + std::strerror(errno);
    return nullptr;
  }
  socklen_t len = ss_len;
  getsockname(s->listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len);
  s->port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  s->epoll_ = epoll_create1(EPOLL_CLOEXEC);
  s->wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  for (int fd : {s->listen_fd_, s->wake_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(s->epoll_, EPOLL_CTL_ADD, fd, &ev);
  }
  s->thread_ = std::thread([p = s.get()] { p->loop(); });
  return s;
}

HttpServer::~HttpServer() {
  stop_ = true;
  if (wake_ >= 0) {
    uint64_t one = 1;
    (void)!write(wake_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  for (int fd : {listen_fd_, epoll_, wake_}) {
    if (fd >= 0) close(fd);
  }
}

void HttpServer::loop() {
  std::map<int, Client> clients;
  auto drop = [&](int fd) {
    epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    clients.erase(fd);
  };
  while (!stop_) {
    epoll_event evs[32];
    int n = epoll_wait(epoll_, evs, 32, 250);
    uint64_t now = now_ms();
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == wake_) continue;
      if (fd == listen_fd_) {
        for (;;) {
          int c = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          if (clients.size() >= kMaxConnections) {
            // Full: the client that has waited longest without a complete request makes
            // room, so idle connections can delay a scrape by nothing, however many.
            auto oldest = clients.begin();
            for (auto it = clients.begin(); it != clients.end(); ++it) {
              if (it->second.out.empty() && (!oldest->second.out.empty() || it->second.since < oldest->second.since)) oldest = it;
            }
            if (!oldest->second.out.empty()) {
              close(c);  // every slot is sending an answer: this one waits for its retry
              continue;
            }
            drop(oldest->first);
          }
          clients[c].since = now;
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.fd = c;
          epoll_ctl(epoll_, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      auto it = clients.find(fd);
      if (it == clients.end()) continue;
      Client& c = it->second;
      if (c.out.empty()) {
        char buf[2048];
        ssize_t got = read(fd, buf, sizeof buf);
        if (got < 0 && errno == EAGAIN) continue;
        if (got <= 0) {
          drop(fd);
          continue;
        }
        c.in.append(buf, size_t(got));
        if (c.in.find("\r\n\r\n") == std::string::npos && c.in.find("\n\n") == std::string::npos) {
          if (c.in.size() > kMaxRequest) drop(fd);
          continue;
        }
        if (c.in.rfind("GET /metrics", 0) == 0 && (c.in[12] == ' ' || c.in[12] == '?')) {
          std::string body;
          try {
            body = render_();
            c.out = response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", body);
          } catch (const std::exception& e) {
            c.out = response(500, "Internal Server Error", "text/plain", std::string(e.what()) + "\n");
          }
        } else if (c.in.rfind("GET ", 0) == 0) {
          c.out = response(404, "Not Found", "text/plain", "only /metrics here\n");
        } else {
          c.out = response(405, "Method Not Allowed", "text/plain", "GET /metrics\n");
        }
        epoll_event ev{};
        ev.events = EPOLLOUT;
        ev.data.fd = fd;
        epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev);
      }
      ssize_t put = send(fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (put > 0) c.sent += size_t(put);
      if (c.sent == c.out.size() || (put < 0 && errno != EAGAIN)) drop(fd);
    }
    std::vector<int> stale;
    for (auto& [fd, c] : clients) {
      if (now - c.since > kRequestMs) stale.push_back(fd);
    }
    for (int fd : stale) drop(fd);
  }
  for (auto& [fd, c] : clients) close(fd);
}

}  // namespace fulcrum::cp
