#include "controlplane/announce/bird_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace fulcrum::cp {
namespace {

constexpr size_t kMaxAnswer = 4 << 20;  // `show route all` of a full table is bigger; we never ask for it

bool four_digits(const std::string& s) {
  if (s.size() < 5) return false;
  for (int i = 0; i < 4; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return s[4] == ' ' || s[4] == '-';
}

}  // namespace

std::string BirdReply::message() const {
  for (const BirdLine& l : lines) {
    if (l.code >= 8000) return l.text;
  }
  return lines.empty() ? std::string() : lines.back().text;
}

bool parse_bird_line(const std::string& raw, int previous_code, BirdLine* line, bool* final) {
  *final = false;
  if (!raw.empty() && raw[0] == '+') return false;
  if (four_digits(raw)) {
    line->code = std::stoi(raw.substr(0, 4));
    line->text = raw.substr(5);
    *final = raw[4] == ' ';
    return true;
  }
  // " text": a continuation of the previous code's output.
  line->code = previous_code;
  line->text = !raw.empty() && raw[0] == ' ' ? raw.substr(1) : raw;
  return true;
}

BirdClient::~BirdClient() {
  if (fd_ >= 0) close(fd_);
}

std::string BirdClient::connect(const std::string& path, int timeout_ms) {
  timeout_ms_ = timeout_ms;
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return "socket path too long: " + path;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return std::string("socket: ") + std::strerror(errno);
  // A Unix stream connect does not block for long (the listener's backlog is full at most),
  // but SO_SNDTIMEO bounds it anyway.
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string why = std::strerror(errno);
    close(fd_);
    fd_ = -1;
    return "cannot connect to " + path + ": " + why + " (is BIRD running, and is this its control socket?)";
  }
  std::string line;
  if (std::string err = read_line(&line); !err.empty()) return "no greeting from " + path + ": " + err;
  BirdLine l;
  bool final = false;
  if (!parse_bird_line(line, 0, &l, &final) || l.code != 1 || !final) {
    return path + " does not answer like BIRD's control socket (greeting \"" + line.substr(0, 80) + "\")";
  }
  greeting_ = l.text;
  return "";
}

std::string BirdClient::read_line(std::string* line) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
  for (;;) {
    size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      *line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return "";
    }
    if (buffer_.size() > kMaxAnswer) return "answer too long";
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return "no answer within " + std::to_string(timeout_ms_) + " ms";
    pollfd p{fd_, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return std::string("poll: ") + std::strerror(errno);
    if (r == 0) continue;
    char buf[4096];
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return std::string("read: ") + std::strerror(errno);
    if (n == 0) return "BIRD closed the connection";
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

std::string BirdClient::command(const std::string& command, BirdReply* reply) {
  reply->lines.clear();
  if (fd_ < 0) return "not connected";
  std::string out = command + "\n";
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::string("send: ") + std::strerror(errno);
    sent += static_cast<size_t>(n);
  }
  int previous = 0;
  for (;;) {
    std::string raw;
    if (std::string err = read_line(&raw); !err.empty()) return err;
    BirdLine l;
    bool final = false;
    if (!parse_bird_line(raw, previous, &l, &final)) continue;
    previous = l.code;
    reply->lines.push_back(std::move(l));
    if (final) return "";
  }
}

}  // namespace fulcrum::cp
