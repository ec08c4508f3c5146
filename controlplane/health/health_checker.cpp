// Health checks without threads: every check is a small state machine on a non-blocking
// socket in one epoll set, and every target has exactly one timer in an ordered set (its
// next start while idle, its deadline while a check is in flight). run() drains ready I/O
// first, so a check that completed just before its deadline counts, then fires due timers.
//
// Why the schedule looks like this:
// - Checks start on a fixed grid (previous start + interval), not "interval after the last
//   result", so the detection time is bounded: a target that dies is marked down at most
//   interval*fall + timeout later (the check in flight when it died may still succeed, the
//   next `fall` starts fail, the last one by its deadline).
// - The first check of a target starts at a deterministic offset (a hash of its id) within
//   the interval, so 1,000 targets added by one config load do not all connect at once,
//   and a restart spreads them the same way.
// - run() does bounded work (at most kMaxEvents I/O events and kMaxTimers timers); when
//   more is due, next_deadline_ms() is already past and the caller's loop comes back at
//   once, so lbctl and signals sharing the thread are never starved.
// - A failure to run a check locally (no fds left, no ephemeral ports) says nothing about
//   the backend: it is recorded in last_result but counts neither as success nor failure,
//   so an fd leak elsewhere in the process cannot take every backend down.
// - Sockets are closed with SO_LINGER 0 (an RST, as HAProxy does): a checker connecting to
//   every backend every few seconds would otherwise fill the table with TIME_WAIT.
#include "controlplane/health/health_checker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <system_error>
#include <unordered_map>
#include <utility>

namespace fulcrum::cp {

namespace {

constexpr int kMaxEvents = 256;        // I/O events handled per run()
constexpr int kMaxTimers = 256;        // timers (starts and timeouts) handled per run()
constexpr size_t kMaxStatusLine = 1024;  // longer without a line end: not HTTP
constexpr size_t kMaxResponse = 16384;   // read at most this much of a response for a body match

uint64_t mix64(uint64_t x) {  // splitmix64's finaliser: spreads consecutive ids
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string errno_reason(int err) {
  switch (err) {
    case ECONNREFUSED: return "connection refused";
    case EHOSTUNREACH: return "no route to host";
    case ENETUNREACH: return "network unreachable";
    case ECONNRESET: return "connection reset";
    case ETIMEDOUT: return "connection timed out";
    case EPIPE: return "connection closed before a response";
    default: {
      std::string s = std::strerror(err);
      if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
      return s;
    }
  }
}

// Errors that are about this host, not the backend: the check did not happen.
bool is_local_error(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM || err == EADDRNOTAVAIL ||
         err == EAGAIN;  // connect() on loopback: no ephemeral port left
}

// The Host header when the check names none: the IPv4 address alone (as before IPv6), an
// IPv6 address as "[2001:db8::11]:80" (RFC 7230 5.4: an IPv6 literal needs the brackets,
// and with them the port reads naturally).
std::string default_host(const config::IpAddr& addr, uint16_t port) {
  return addr.is_v6() ? config::endpoint_str(addr, port) : addr.str();
}

// A socket address of either family: the length to pass with it, 0 for an empty address.
socklen_t fill_sockaddr(const config::IpAddr& addr, uint16_t port, sockaddr_storage* out) {
  *out = {};
  if (addr.is_v6()) {
    auto* sa = reinterpret_cast<sockaddr_in6*>(out);
    sa->sin6_family = AF_INET6;
    std::memcpy(&sa->sin6_addr, addr.v6.b, sizeof addr.v6.b);
    sa->sin6_port = htons(port);
    return sizeof *sa;
  }
  auto* sa = reinterpret_cast<sockaddr_in*>(out);
  sa->sin_family = AF_INET;
  sa->sin_addr.s_addr = addr.v4_be;
  sa->sin_port = htons(port);
  return sizeof *sa;
}

// "HTTP/1.1 503 Service Unavailable" -> 503; -1 when it is not an HTTP/1.x status line.
int parse_status_line(const std::string& line) {
  if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0) return -1;
  auto digit = [&](size_t i) { return line[i] >= '0' && line[i] <= '9'; };
  if (!digit(5) || line[6] != '.' || !digit(7) || line[8] != ' ') return -1;
  if (!digit(9) || !digit(10) || !digit(11)) return -1;
  if (line.size() > 12 && line[12] != ' ' && line[12] != '\r' && line[12] != '\n') return -1;
  int code = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  return code >= 100 ? code : -1;
}

}  // namespace

struct HealthChecker::Impl {
  enum class Phase { Idle, Connecting, Sending, Reading };

  struct Target {
    uint64_t id = 0;
    config::IpAddr addr;  // issue 15: IPv4 or IPv6 (AF_INET6 sockets)
    uint16_t port = 0;  // the port checked, host order
    config::HealthCheck check;
    TargetStatus status;

    uint64_t sched_ms = 0;  // grid point of the next (or current) check's start
    uint64_t wake_ms = 0;   // its one entry in `timers`
    uint64_t started_ms = 0;

    // The check in flight, if any.
    Phase phase = Phase::Idle;
    int fd = -1;
    uint64_t token = 0;  // epoll data; identifies this check, never reused
    std::string request;
    size_t sent = 0;
    std::string response;
    int status_code = 0;  // the expected status, seen; the body is being matched
  };

  OnChange on_change;
  std::function<uint64_t()> now_ms;
  int epfd = -1;
  uint64_t next_token = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Target>> targets;
  std::unordered_map<uint64_t, Target*> by_token;  // checks in flight
  std::set<std::pair<uint64_t, uint64_t>> timers;  // (wake_ms, id)

  Impl(OnChange cb, std::function<uint64_t()> clock) : on_change(std::move(cb)), now_ms(std::move(clock)) {
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) throw std::system_error(errno, std::generic_category(), "health checker: epoll_create1");
  }

  ~Impl() {
    for (auto& [id, t] : targets) close_check(*t);
    ::close(epfd);
  }

  void set_wake(Target& t, uint64_t when) {
    timers.erase({t.wake_ms, t.id});
    t.wake_ms = when;
    timers.insert({when, t.id});
  }

  void close_check(Target& t) {
    if (t.fd >= 0) {
      linger lg{1, 0};  // RST, no TIME_WAIT (see the top of the file)
      setsockopt(t.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      ::close(t.fd);  // also leaves the epoll set
      t.fd = -1;
    }
    if (t.token != 0) by_token.erase(t.token);
    t.token = 0;
    t.phase = Phase::Idle;
    t.request.clear();
    t.request.shrink_to_fit();
    t.response.clear();
    t.response.shrink_to_fit();
    t.status_code = 0;
    t.sent = 0;
  }

  // The check is over (or could not run): close it and schedule the next start.
  void end_check(Target& t, uint64_t now) {
    close_check(t);
    set_wake(t, std::max(t.sched_ms, now));
  }

  void start_check(Target& t, uint64_t now) {
    // A start more than an interval late (the loop stalled): skip to this target's own
    // next grid point. Starting it now would start every overdue check at once, and
    // re-anchoring them all to `now` would keep them in lockstep for good.
    const uint64_t interval = t.check.interval_ms;
    if (now - t.sched_ms >= interval) {
      t.sched_ms += (now - t.sched_ms) / interval * interval + interval;
      return set_wake(t, t.sched_ms);
    }
    t.started_ms = now;
    t.sched_ms += interval;
    int fd = ::socket(t.addr.is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return not_run(t, errno, now);
    t.fd = fd;
    sockaddr_storage ss;
    if (!t.check.source.empty()) {
      // A source of the other family cannot be bound (the loader refuses it): EAFNOSUPPORT, "not run".
      socklen_t len = fill_sockaddr(t.check.source, 0, &ss);
      if (t.check.source.family != t.addr.family) return not_run(t, EAFNOSUPPORT, now);
      if (::bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) return not_run(t, errno, now);
    }
    socklen_t len = fill_sockaddr(t.addr, t.port, &ss);
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&ss), len);
    if (rc != 0 && errno != EINPROGRESS) {
      int err = errno;
      if (is_local_error(err)) return not_run(t, err, now);
      return finish(t, false, errno_reason(err), now);
    }
    t.token = next_token++;
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = t.token;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      t.token = 0;
      return not_run(t, errno, now);
    }
    by_token[t.token] = &t;
    t.phase = Phase::Connecting;
    set_wake(t, now + t.check.timeout_ms);
    // A connect that finished at once (possible on loopback) is seen by the next
    // epoll_wait as writable, like any other.
  }

  void not_run(Target& t, int err, uint64_t now) {
    t.status.last_result = "check not run: " + errno_reason(err);
    end_check(t, now);
  }

  // Records a result and applies rise/fall. The callback runs last, after the target's
  // state is consistent, so it may call add()/remove() (even on this id).
  void finish(Target& t, bool ok, std::string reason, uint64_t now) {
    end_check(t, now);
    TargetStatus& s = t.status;
    s.last_check_ms = now;
    ++s.checks;
    bool changed = false;
    if (ok) {
      s.failures_in_a_row = 0;
      ++s.successes_in_a_row;
      if (s.health == Health::Down && s.successes_in_a_row >= t.check.rise) {
        s.health = Health::Up;
        changed = true;
      }
    } else {
      s.successes_in_a_row = 0;
      ++s.failures_in_a_row;
      if (s.health == Health::Up && s.failures_in_a_row >= t.check.fall) {
        s.health = Health::Down;
        changed = true;
      }
    }
    s.last_result = reason;
    if (!ok) {
      s.last_error = reason;
      s.last_error_ms = now;
    }
    if (changed) {
      ++s.transitions;
      s.last_change_ms = now;
      if (on_change) on_change(HealthEvent{t.id, s.health, std::move(reason)});
    }
  }

  void on_io(Target& t, uint32_t events, uint64_t now) {
    if (t.phase == Phase::Connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(t.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err != 0) return finish(t, false, errno_reason(err), now);
      // No error: connected (a HUP without an error means it connected and was closed at
      // once; an HTTP check then reports that when it sends).
      if (!(events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) return;
      if (t.check.type == config::CheckType::Tcp) return finish(t, true, "connected", now);
      const std::string& host = t.check.http_host.empty() ? default_host(t.addr, t.port) : t.check.http_host;
      t.request = t.check.http_method + " " + t.check.http_path + " HTTP/1.1\r\nHost: " + host +
                  "\r\nUser-Agent: fulcrum-health\r\nConnection: close\r\n\r\n";
      t.sent = 0;
      t.phase = Phase::Sending;
    }
    if (t.phase == Phase::Sending) {
      while (t.sent < t.request.size()) {
        ssize_t n = ::send(t.fd, t.request.data() + t.sent, t.request.size() - t.sent, MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EAGAIN || errno == EINTR) return;  // still EPOLLOUT
          return finish(t, false, errno_reason(errno), now);
        }
        t.sent += static_cast<size_t>(n);
      }
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = t.token;
      if (epoll_ctl(epfd, EPOLL_CTL_MOD, t.fd, &ev) != 0) return not_run(t, errno, now);
      t.phase = Phase::Reading;
      return;  // the answer comes with a later event
    }
    if (t.phase == Phase::Reading) read_response(t, now);
  }

  static std::string body_missing(const Target& t) {
    return "HTTP " + std::to_string(t.status_code) + " but the body does not contain \"" + t.check.expect_body + "\"";
  }

  void read_response(Target& t, uint64_t now) {
    char buf[512];
    for (;;) {
      size_t limit = t.status_code != 0 ? kMaxResponse : kMaxStatusLine + 1;
      size_t room = limit - std::min(limit - 1, t.response.size());
      ssize_t n = ::recv(t.fd, buf, std::min(room, sizeof buf), 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        if (t.status_code != 0) return finish(t, false, body_missing(t), now);
        if (t.response.empty()) return finish(t, false, errno_reason(errno), now);
        return finish(t, false, "malformed HTTP response", now);
      }
      if (n == 0) {
        if (t.status_code != 0) return finish(t, false, body_missing(t), now);
        if (t.response.empty()) return finish(t, false, "connection closed before a response", now);
        return finish(t, false, "malformed HTTP response", now);
      }
      size_t old = t.response.size();
      t.response.append(buf, static_cast<size_t>(n));
      size_t eol = t.response.find('\n', old);
      if (t.status_code == 0 && eol != std::string::npos) {
        int code = parse_status_line(t.response.substr(0, eol + 1));
        if (code < 0) return finish(t, false, "malformed HTTP response", now);
        if (code != t.check.expect_status) {
          return finish(t, false,
                        "HTTP status " + std::to_string(code) + " (expected " +
                            std::to_string(t.check.expect_status) + ")",
                        now);
        }
        if (t.check.expect_body.empty()) return finish(t, true, "HTTP " + std::to_string(code), now);
        t.status_code = code;
      }
      if (t.status_code != 0) {
        // Body match: the headers end at the first empty line; the body is searched as it
        // arrives, up to kMaxResponse bytes in all.
        size_t body = t.response.find("\r\n\r\n");
        if (body != std::string::npos &&
            t.response.find(t.check.expect_body, body + 4) != std::string::npos) {
          return finish(t, true, "HTTP " + std::to_string(t.status_code) + ", body matched", now);
        }
        if (t.response.size() >= kMaxResponse) return finish(t, false, body_missing(t), now);
        continue;
      }
      if (t.response.size() > kMaxStatusLine) return finish(t, false, "malformed HTTP response", now);
      if (t.response.size() >= 5 && t.response.compare(0, 5, "HTTP/") != 0)
        return finish(t, false, "malformed HTTP response", now);  // no need to wait for more
    }
  }

  void on_timer(Target& t, uint64_t now) {
    if (t.phase == Phase::Idle) return start_check(t, now);
    finish(t, false, "timeout after " + std::to_string(t.check.timeout_ms) + " ms", now);
  }

  void run() {
    epoll_event evs[kMaxEvents];
    int n = epoll_wait(epfd, evs, kMaxEvents, 0);
    uint64_t now = now_ms();
    for (int i = 0; i < n; ++i) {
      // Look the token up each time: an earlier callback may have removed or re-added
      // targets, and a closed fd's number may already be reused by a new check.
      auto it = by_token.find(evs[i].data.u64);
      if (it == by_token.end()) continue;
      on_io(*it->second, evs[i].events, now);
    }
    for (int done = 0; done < kMaxTimers && !timers.empty(); ++done) {
      auto [when, id] = *timers.begin();
      if (when > now) break;
      auto it = targets.find(id);
      if (it == targets.end()) {  // cannot happen: remove() erases the timer
        timers.erase(timers.begin());
        continue;
      }
      on_timer(*it->second, now);
    }
  }

  void add(uint64_t id, const config::IpAddr& addr, uint16_t port, const config::HealthCheck& check, Health initial) {
    uint16_t check_port = check.port != 0 ? check.port : port;
    config::HealthCheck c = check;
    if (c.interval_ms == 0) c.interval_ms = 1;  // the loader forbids these; stay sane anyway
    if (c.rise == 0) c.rise = 1;
    if (c.fall == 0) c.fall = 1;
    uint64_t now = now_ms();
    auto it = targets.find(id);
    if (it != targets.end()) {
      Target& t = *it->second;
      if (t.addr == addr && t.port == check_port && t.check == c) return;  // a reload: nothing changed
      close_check(t);  // keep the state, restart the checks with the new target
      t.addr = addr;
      t.port = check_port;
      t.check = c;
      t.sched_ms = now + mix64(id) % c.interval_ms;
      set_wake(t, t.sched_ms);
      return;
    }
    auto t = std::make_unique<Target>();
    t->id = id;
    t->addr = addr;
    t->port = check_port;
    t->check = c;
    t->status.health = initial;
    t->sched_ms = now + mix64(id) % c.interval_ms;
    t->wake_ms = t->sched_ms;
    timers.insert({t->wake_ms, id});
    targets.emplace(id, std::move(t));
  }

  void remove(uint64_t id) {
    auto it = targets.find(id);
    if (it == targets.end()) return;
    close_check(*it->second);
    timers.erase({it->second->wake_ms, id});
    targets.erase(it);
  }
};

HealthChecker::HealthChecker(OnChange on_change, std::function<uint64_t()> now_ms)
    : impl_(std::make_unique<Impl>(std::move(on_change), std::move(now_ms))) {}

HealthChecker::~HealthChecker() = default;

void HealthChecker::add(uint64_t id, const config::IpAddr& addr, uint16_t port, const config::HealthCheck& check,
                        Health initial) {
  impl_->add(id, addr, port, check, initial);
}

void HealthChecker::remove(uint64_t id) { impl_->remove(id); }

const TargetStatus* HealthChecker::status(uint64_t id) const {
  auto it = impl_->targets.find(id);
  return it == impl_->targets.end() ? nullptr : &it->second->status;
}

int HealthChecker::fd() const { return impl_->epfd; }

uint64_t HealthChecker::next_deadline_ms() const {
  return impl_->timers.empty() ? UINT64_MAX : impl_->timers.begin()->first;
}

size_t HealthChecker::checks_in_flight() const { return impl_->by_token.size(); }

void HealthChecker::run() { impl_->run(); }

}  // namespace fulcrum::cp
