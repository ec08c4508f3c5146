// The health checker against real sockets on loopback: a server thread whose answer can be
// switched (HTTP 200, 503, garbage, closed without a reply, no answer at all), a port that
// refuses, and a black hole that drops SYNs, driven by the same loop the control plane runs
// (epoll on checker.fd() until next_deadline_ms(), then run()).
//
// Why the rig looks like this:
// - Servers listen on 127.0.0.2, not 127.0.0.1. The checker's source address is 127.0.0.1,
//   so a connect to a port nobody listens on can never turn into a TCP self-connect
//   (source port == destination port), which would look like a healthy backend.
// - A port that refuses is a socket bound but never listening: the port stays ours, so
//   another process cannot start listening on it in the middle of a test.
// - The black hole stays on loopback: a listening socket with backlog 0 whose accept queue
//   holds one connection nobody accepts. Linux then drops every further SYN
//   (LISTENOVERFLOWS), so a connect neither succeeds nor is refused: it times out.
//   BlackHoleDropsSyns checks that this kernel behaves so.
// - Timings: interval 200 ms, timeout 100 ms, fall 3 gives a bound of 700 ms from death to
//   Down. The machine running the tests is often busy, so measured times may exceed the
//   bound by kTolerance (100 ms) of scheduling delay, no more.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "controlplane/health/health_checker.h"

namespace fulcrum::cp {
namespace {

constexpr const char* kServerAddr = "127.0.0.2";
constexpr uint64_t kTolerance = 100;  // ms of scheduling delay allowed on a busy machine

uint64_t mono_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

uint32_t server_addr_be() { return inet_addr(kServerAddr); }
config::IpAddr server_ip() { return config::IpAddr::from_v4(server_addr_be()); }

int open_fds() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

sockaddr_in server_sockaddr(uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = server_addr_be();
  sa.sin_port = htons(port);
  return sa;
}

config::HealthCheck tcp_check(uint32_t rise = 2, uint32_t fall = 3) {
  config::HealthCheck c;
  c.type = config::CheckType::Tcp;
  c.interval_ms = 200;
  c.timeout_ms = 100;
  c.rise = rise;
  c.fall = fall;
  return c;
}

config::HealthCheck http_check(uint32_t rise = 2, uint32_t fall = 3) {
  config::HealthCheck c = tcp_check(rise, fall);
  c.type = config::CheckType::Http;
  c.http_path = "/healthz";
  return c;
}

// A port on kServerAddr that refuses connections: bound, never listening.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa = server_sockaddr(0);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) std::abort();
    socklen_t len = sizeof sa;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
  }
  ~RefusingPort() { close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

enum class Reply { Ok200, Status503, Garbage, CloseWithoutReply, Hang };

// A TCP/HTTP server on kServerAddr with one thread. A TCP check just connects; an HTTP
// check gets the answer chosen by set_reply(). close_listener()/reopen_listener() and
// black_hole() are done by the server thread and have taken effect when they return.
class LocalServer {
 public:
  explicit LocalServer(Reply reply = Reply::Ok200) : reply_(reply) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    watch(wake_, kWake);
    open_listener(0);
    thread_ = std::thread([this] { loop(); });
  }
  ~LocalServer() {
    exec([this] { stop_ = true; });
    thread_.join();
    for (auto& [fd, buf] : conns_) close(fd);
    if (listener_ >= 0) close(listener_);
    for (int fd : parked_) close(fd);
    close(wake_);
    close(ep_);
  }

  uint16_t port() const { return port_; }
  void set_reply(Reply r) { reply_ = r; }
  std::vector<std::string> requests() {
    std::lock_guard lk(mu_);
    return requests_;
  }

  // The port refuses connections from now on (connections queued but not yet accepted
  // are reset by the kernel).
  void close_listener() {
    exec([this] {
      close(listener_);
      listener_ = -1;
    });
  }
  void reopen_listener() { exec([this] { open_listener(port_); }); }

  // Stops accepting and parks one connection in a backlog-0 accept queue: from now on
  // SYNs to this port are dropped and connects time out.
  void black_hole() {
    exec([this] {
      epoll_ctl(ep_, EPOLL_CTL_DEL, listener_, nullptr);
      listen(listener_, 0);
      accept_all(/*keep=*/false);  // empty the queue of connections made before
      int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      sockaddr_in sa = server_sockaddr(port_);
      connect(c, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
      parked_.push_back(c);
      // A check may have taken the one place first; either way the queue is full once
      // one connection completes. Wait for that, so the hole exists when we return.
      pollfd p{c, POLLOUT, 0};
      poll(&p, 1, 50);
    });
  }

 private:
  static constexpr uint64_t kWake = ~0ULL;
  static constexpr uint64_t kListen = ~0ULL - 1;

  void watch(int fd, uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  }

  void open_listener(uint16_t port) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa = server_sockaddr(port);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(listener_, 4096) != 0) {
      std::perror("LocalServer: bind/listen");
      std::abort();
    }
    socklen_t len = sizeof sa;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    watch(listener_, kListen);
  }

  void exec(std::function<void()> f) {
    std::packaged_task<void()> task(std::move(f));
    std::future<void> done = task.get_future();
    {
      std::lock_guard lk(mu_);
      commands_.push_back(std::move(task));
    }
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_, &one, sizeof one);
    done.wait();
  }

  void accept_all(bool keep) {
    for (;;) {
      int c = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) return;
      if (!keep) {
        close(c);
        continue;
      }
      conns_[c] = {};
      watch(c, static_cast<uint64_t>(c));
    }
  }

  void drop(int fd) {
    close(fd);
    conns_.erase(fd);
  }

  void on_readable(int fd) {
    char buf[2048];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return drop(fd);  // the checker closed (FIN or RST)
    std::string& req = conns_[fd];
    bool had_request = req.find("\r\n\r\n") != std::string::npos;
    req.append(buf, static_cast<size_t>(n));
    if (had_request || req.find("\r\n\r\n") == std::string::npos) return;
    {
      std::lock_guard lk(mu_);
      requests_.push_back(req);
    }
    std::string answer;
    switch (reply_.load()) {
      case Reply::Ok200: answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"; break;
      case Reply::Status503:
        answer = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        break;
      case Reply::Garbage: answer = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"; break;
      case Reply::CloseWithoutReply: return drop(fd);
      case Reply::Hang: return;  // keep it open, say nothing
    }
    [[maybe_unused]] ssize_t w = send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
    drop(fd);
  }

  void loop() {
    epoll_event evs[64];
    while (!stop_) {
      int n = epoll_wait(ep_, evs, 64, -1);
      for (int i = 0; i < n; ++i) {
        uint64_t tag = evs[i].data.u64;
        if (tag == kWake) {
          uint64_t v;
          [[maybe_unused]] ssize_t r = read(wake_, &v, sizeof v);
          std::deque<std::packaged_task<void()>> cmds;
          {
            std::lock_guard lk(mu_);
            cmds.swap(commands_);
          }
          for (auto& c : cmds) c();
        } else if (tag == kListen) {
          if (listener_ >= 0) accept_all(/*keep=*/true);
        } else if (conns_.count(static_cast<int>(tag))) {
          on_readable(static_cast<int>(tag));
        }
      }
    }
  }

  std::atomic<Reply> reply_;
  int ep_ = -1, wake_ = -1, listener_ = -1;
  uint16_t port_ = 0;
  bool stop_ = false;  // server thread only
  std::map<int, std::string> conns_;
  std::vector<int> parked_;
  std::thread thread_;
  std::mutex mu_;
  std::deque<std::packaged_task<void()>> commands_;
  std::vector<std::string> requests_;
};

struct Recorded {
  HealthEvent event;
  uint64_t at_ms;
  TargetStatus status;  // the target's status when the event fired
};

// The checker with the control plane's loop around it, recording every event.
class Rig {
 public:
  explicit Rig(std::function<uint64_t()> clock = mono_ms)
      : checker([this](const HealthEvent& e) { events.push_back({e, mono_ms(), *checker.status(e.target)}); },
                std::move(clock)) {
    loop_ = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    epoll_ctl(loop_, EPOLL_CTL_ADD, checker.fd(), &ev);
  }
  ~Rig() { close(loop_); }

  // Runs the loop until pred() holds (true) or max_ms have passed (false).
  bool drive_until(const std::function<bool()>& pred, uint64_t max_ms) {
    uint64_t end = mono_ms() + max_ms;
    for (;;) {
      if (pred()) return true;
      uint64_t now = mono_ms();
      if (now >= end) return false;
      uint64_t until = std::min(end, checker.next_deadline_ms());
      epoll_event ev;
      epoll_wait(loop_, &ev, 1, until > now ? static_cast<int>(until - now) : 0);
      checker.run();
    }
  }
  void drive_for(uint64_t ms) {
    drive_until([] { return false; }, ms);
  }

  std::vector<Recorded> events_of(uint64_t id) const {
    std::vector<Recorded> out;
    for (const Recorded& r : events)
      if (r.event.target == id) out.push_back(r);
    return out;
  }

  std::vector<Recorded> events;
  HealthChecker checker;

 private:
  int loop_ = -1;
};

TEST(HealthCheckerRig, BlackHoleDropsSyns) {
  LocalServer hole;
  hole.black_hole();
  int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in sa = server_sockaddr(hole.port());
  ASSERT_NE(connect(c, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(errno, EINPROGRESS);
  pollfd p{c, POLLOUT, 0};
  EXPECT_EQ(poll(&p, 1, 300), 0) << "this kernel answered a SYN to a full backlog-0 accept queue; "
                                    "the timeout tests below cannot work";
  close(c);

  RefusingPort refusing;
  c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sa = server_sockaddr(refusing.port());
  EXPECT_NE(connect(c, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  EXPECT_EQ(errno, ECONNREFUSED);
  close(c);
}

TEST(HealthChecker, EmptyChecker) {
  Rig rig;
  EXPECT_EQ(rig.checker.next_deadline_ms(), UINT64_MAX);
  EXPECT_EQ(rig.checker.status(7), nullptr);
  rig.checker.remove(7);  // unknown: no-op
  rig.checker.run();
  EXPECT_EQ(rig.checker.checks_in_flight(), 0u);
}

// Every kind of failure, five targets each (different ids: different phases in the
// interval), all in one checker: each target goes Down exactly once, after exactly `fall`
// failures, with the reason of the failure, within interval*fall + timeout.
TEST(HealthChecker, EachFailureGoesDownAfterExactlyFallWithItsReasonInBoundedTime) {
  struct Kind {
    const char* name;
    config::HealthCheck check;
    std::unique_ptr<LocalServer> server;
    std::function<void(LocalServer&)> kill;
    std::string reason;
    uint64_t min_ms;  // the earliest a correct checker can get there
  };
  const uint64_t interval = 200, timeout = 100, fall = 3;
  const uint64_t bound = interval * fall + timeout;
  std::vector<Kind> kinds;
  kinds.push_back({"refused", tcp_check(), std::make_unique<LocalServer>(),
                   [](LocalServer& s) { s.close_listener(); }, "connection refused", (fall - 1) * interval});
  kinds.push_back({"connect timeout", tcp_check(), std::make_unique<LocalServer>(),
                   [](LocalServer& s) { s.black_hole(); }, "timeout after 100 ms", (fall - 1) * interval + timeout});
  kinds.push_back({"HTTP 503", http_check(), std::make_unique<LocalServer>(),
                   [](LocalServer& s) { s.set_reply(Reply::Status503); }, "HTTP status 503 (expected 200)",
                   (fall - 1) * interval});
  kinds.push_back({"garbage", http_check(), std::make_unique<LocalServer>(),
                   [](LocalServer& s) { s.set_reply(Reply::Garbage); }, "malformed HTTP response",
                   (fall - 1) * interval});
  kinds.push_back({"closed", http_check(), std::make_unique<LocalServer>(),
                   [](LocalServer& s) { s.set_reply(Reply::CloseWithoutReply); },
                   "connection closed before a response", (fall - 1) * interval});
  kinds.push_back({"HTTP hang", http_check(), std::make_unique<LocalServer>(),
                   [](LocalServer& s) { s.set_reply(Reply::Hang); }, "timeout after 100 ms",
                   (fall - 1) * interval + timeout});

  Rig rig;
  const int per_kind = 5;
  auto id_of = [](size_t k, int i) { return static_cast<uint64_t>(k * 100 + static_cast<size_t>(i)); };
  for (size_t k = 0; k < kinds.size(); ++k)
    for (int i = 0; i < per_kind; ++i)
      rig.checker.add(id_of(k, i), server_ip(), kinds[k].server->port(), kinds[k].check, Health::Up);

  // Everyone healthy first.
  ASSERT_TRUE(rig.drive_until(
      [&] {
        for (size_t k = 0; k < kinds.size(); ++k)
          for (int i = 0; i < per_kind; ++i)
            if (rig.checker.status(id_of(k, i))->successes_in_a_row == 0) return false;
        return true;
      },
      2000));
  ASSERT_TRUE(rig.events.empty());

  std::vector<uint64_t> killed_at(kinds.size());
  for (size_t k = 0; k < kinds.size(); ++k) {
    kinds[k].kill(*kinds[k].server);
    killed_at[k] = mono_ms();
  }
  const size_t total = kinds.size() * per_kind;
  ASSERT_TRUE(rig.drive_until([&] { return rig.events.size() >= total; }, bound + 1000))
      << rig.events.size() << " of " << total << " targets went down";
  rig.drive_for(2 * interval);  // and nothing more happens

  for (size_t k = 0; k < kinds.size(); ++k) {
    uint64_t worst = 0, best = UINT64_MAX;
    for (int i = 0; i < per_kind; ++i) {
      auto ev = rig.events_of(id_of(k, i));
      ASSERT_EQ(ev.size(), 1u) << kinds[k].name;
      EXPECT_EQ(ev[0].event.health, Health::Down) << kinds[k].name;
      EXPECT_EQ(ev[0].event.reason, kinds[k].reason) << kinds[k].name;
      EXPECT_EQ(ev[0].status.failures_in_a_row, fall) << kinds[k].name;
      EXPECT_EQ(ev[0].status.transitions, 1u) << kinds[k].name;
      uint64_t took = ev[0].at_ms - killed_at[k];
      worst = std::max(worst, took);
      best = std::min(best, took);
      EXPECT_LE(took, bound + kTolerance) << kinds[k].name;
      // 20 ms of slack: a check that started just before the kill may see it.
      EXPECT_GE(took + 20, kinds[k].min_ms) << kinds[k].name << ": down before `fall` checks could fail";
      const TargetStatus* s = rig.checker.status(id_of(k, i));
      EXPECT_EQ(s->health, Health::Down);
      EXPECT_EQ(s->transitions, 1u);
      EXPECT_EQ(s->last_result, kinds[k].reason);
    }
    std::printf("  %-16s detection %llu..%llu ms (bound %llu + %llu tolerance)\n", kinds[k].name,
                static_cast<unsigned long long>(best), static_cast<unsigned long long>(worst),
                static_cast<unsigned long long>(bound), static_cast<unsigned long long>(kTolerance));
  }
}

// Initial Down: Up after exactly `rise` successes, one event, with the success's reason.
TEST(HealthChecker, DownGoesUpAfterExactlyRise) {
  LocalServer tcp, http;
  Rig rig;
  rig.checker.add(1, server_ip(), tcp.port(), tcp_check(/*rise=*/3), Health::Down);
  rig.checker.add(2, server_ip(), http.port(), http_check(/*rise=*/3), Health::Down);
  uint64_t t0 = mono_ms();
  // After two successes each, still Down.
  ASSERT_TRUE(rig.drive_until(
      [&] { return rig.checker.status(1)->successes_in_a_row >= 2 || rig.checker.status(2)->successes_in_a_row >= 2; },
      2000));
  EXPECT_TRUE(rig.events.empty()) << "up after fewer than `rise` successes";
  ASSERT_TRUE(rig.drive_until([&] { return rig.events.size() >= 2; }, 1000));
  uint64_t took = mono_ms() - t0;
  rig.drive_for(400);
  for (uint64_t id : {1, 2}) {
    auto ev = rig.events_of(id);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].event.health, Health::Up);
    EXPECT_EQ(ev[0].status.successes_in_a_row, 3u);
    EXPECT_EQ(ev[0].status.transitions, 1u);
    EXPECT_EQ(rig.checker.status(id)->health, Health::Up);
  }
  EXPECT_EQ(rig.events_of(1)[0].event.reason, "connected");
  EXPECT_EQ(rig.events_of(2)[0].event.reason, "HTTP 200");
  // First check within one interval of add(), then two more intervals.
  EXPECT_LE(took, 3 * 200 + kTolerance);
  std::printf("  both up %llu ms after add (bound %d + %llu)\n", static_cast<unsigned long long>(took), 3 * 200,
              static_cast<unsigned long long>(kTolerance));
}

// Passive health readmits an ejected backend after `rise` successful checks made since its
// ejection: it needs to count the checks.
TEST(HealthChecker, CompletedChecksAreCounted) {
  LocalServer tcp;
  Rig rig;
  rig.checker.add(1, server_ip(), tcp.port(), tcp_check(/*rise=*/2), Health::Up);
  ASSERT_TRUE(rig.drive_until([&] { return rig.checker.status(1)->successes_in_a_row >= 3; }, 2000));
  EXPECT_EQ(rig.checker.status(1)->checks, 3u);
  EXPECT_TRUE(rig.events.empty());
}

// The state given to add() holds until checks say otherwise: no event for a Down target
// that keeps failing, nor for an Up target that keeps succeeding.
TEST(HealthChecker, InitialStateHonoured) {
  LocalServer up;
  RefusingPort refusing;
  Rig rig;
  rig.checker.add(1, server_ip(), refusing.port(), tcp_check(), Health::Down);
  rig.checker.add(2, server_ip(), up.port(), tcp_check(), Health::Up);
  EXPECT_EQ(rig.checker.status(1)->health, Health::Down);
  EXPECT_EQ(rig.checker.status(2)->health, Health::Up);
  ASSERT_TRUE(rig.drive_until([&] { return rig.checker.status(1)->failures_in_a_row >= 4; }, 2000));
  EXPECT_TRUE(rig.events.empty());
  EXPECT_EQ(rig.checker.status(1)->health, Health::Down);
  EXPECT_EQ(rig.checker.status(1)->transitions, 0u);
  EXPECT_EQ(rig.checker.status(1)->last_result, "connection refused");
  EXPECT_EQ(rig.checker.status(2)->health, Health::Up);
  EXPECT_GE(rig.checker.status(2)->successes_in_a_row, 3u);
  EXPECT_EQ(rig.checker.status(2)->last_result, "connected");
}

// fall=3: one failure, or two in a row, between successes change nothing.
TEST(HealthChecker, NoFlappingOnFewerThanFallFailures) {
  LocalServer http;
  Rig rig;
  rig.checker.add(1, server_ip(), http.port(), http_check(/*rise=*/2, /*fall=*/3), Health::Up);
  auto s = [&] { return rig.checker.status(1); };
  for (uint32_t failures : {1u, 2u, 1u}) {
    ASSERT_TRUE(rig.drive_until([&] { return s()->successes_in_a_row >= 1; }, 1000));
    http.set_reply(Reply::Status503);
    ASSERT_TRUE(rig.drive_until([&] { return s()->failures_in_a_row >= failures; }, 1000));
    EXPECT_EQ(s()->failures_in_a_row, failures);
    http.set_reply(Reply::Ok200);
  }
  ASSERT_TRUE(rig.drive_until([&] { return s()->successes_in_a_row >= 2; }, 1000));
  EXPECT_TRUE(rig.events.empty());
  EXPECT_EQ(s()->health, Health::Up);
  EXPECT_EQ(s()->transitions, 0u);
}

// 200 targets in one checker, five kinds mixed; each one changes state exactly once.
TEST(HealthChecker, TwoHundredTargetsInOneChecker) {
  LocalServer tcp_up, http_up, http_503(Reply::Status503), hole;
  hole.black_hole();
  RefusingPort refusing;
  Rig rig;
  const uint64_t n = 200;
  // id % 5: 0 TCP up, 1 HTTP 200, 2 TCP refused, 3 HTTP 503, 4 TCP timeout. Up ones start
  // Down and failing ones start Up, so every target must make one transition.
  for (uint64_t id = 0; id < n; ++id) {
    switch (id % 5) {
      case 0: rig.checker.add(id, server_ip(), tcp_up.port(), tcp_check(), Health::Down); break;
      case 1: rig.checker.add(id, server_ip(), http_up.port(), http_check(), Health::Down); break;
      case 2: rig.checker.add(id, server_ip(), refusing.port(), tcp_check(), Health::Up); break;
      case 3: rig.checker.add(id, server_ip(), http_503.port(), http_check(), Health::Up); break;
      case 4: rig.checker.add(id, server_ip(), hole.port(), tcp_check(), Health::Up); break;
    }
  }
  uint64_t t0 = mono_ms();
  size_t max_in_flight = 0;
  bool all = rig.drive_until(
      [&] {
        max_in_flight = std::max(max_in_flight, rig.checker.checks_in_flight());
        return rig.events.size() >= n;
      },
      3000);
  uint64_t took = mono_ms() - t0;
  ASSERT_TRUE(all) << rig.events.size() << " of " << n << " transitions";
  rig.drive_for(200);
  EXPECT_EQ(rig.events.size(), n);
  const char* reasons[] = {"connected", "HTTP 200", "connection refused", "HTTP status 503 (expected 200)",
                           "timeout after 100 ms"};
  for (uint64_t id = 0; id < n; ++id) {
    const TargetStatus* s = rig.checker.status(id);
    bool healthy = id % 5 < 2;
    EXPECT_EQ(s->health, healthy ? Health::Up : Health::Down) << "target " << id;
    EXPECT_EQ(s->transitions, 1u) << "target " << id;
    EXPECT_EQ(s->last_result, reasons[id % 5]) << "target " << id;
  }
  std::printf("  200 targets settled in %llu ms, up to %zu checks in flight at once\n",
              static_cast<unsigned long long>(took), max_in_flight);
  // First checks within one interval, then fall-1 = 2 more intervals and a timeout.
  EXPECT_LE(took, 3 * 200 + 100 + kTolerance);
}

// remove() of a target with a check in flight closes its socket; so does destruction.
TEST(HealthChecker, RemoveOrDestroyWithCheckInFlightLeaksNoFd) {
  LocalServer hole;
  hole.black_hole();
  config::HealthCheck slow = tcp_check();
  slow.interval_ms = 500;
  slow.timeout_ms = 400;

  const int before_checker = open_fds();
  {
    Rig rig;
    const int baseline = open_fds();
    rig.checker.add(1, server_ip(), hole.port(), slow, Health::Up);
    ASSERT_TRUE(rig.drive_until([&] { return rig.checker.checks_in_flight() == 1; }, 1000));
    EXPECT_EQ(open_fds(), baseline + 1);
    rig.checker.remove(1);
    EXPECT_EQ(open_fds(), baseline);
    EXPECT_EQ(rig.checker.checks_in_flight(), 0u);
    EXPECT_EQ(rig.checker.status(1), nullptr);
    EXPECT_EQ(rig.checker.next_deadline_ms(), UINT64_MAX);
    rig.drive_for(100);
    EXPECT_TRUE(rig.events.empty());

    for (uint64_t id = 10; id < 30; ++id) rig.checker.add(id, server_ip(), hole.port(), slow, Health::Up);
    ASSERT_TRUE(rig.drive_until([&] { return rig.checker.checks_in_flight() >= 10; }, 1000));
    EXPECT_EQ(open_fds(), baseline + static_cast<int>(rig.checker.checks_in_flight()));
  }
  EXPECT_EQ(open_fds(), before_checker);
}

// Re-adding an id keeps its state (health, transitions); with a new target or check the
// checks restart; with the same one the check in flight is left alone.
TEST(HealthChecker, ReAddKeepsState) {
  LocalServer up, hole;
  hole.black_hole();
  RefusingPort refusing;
  Rig rig;
  rig.checker.add(1, server_ip(), refusing.port(), tcp_check(/*rise=*/2, /*fall=*/2), Health::Up);
  ASSERT_TRUE(rig.drive_until([&] { return rig.events.size() == 1; }, 1500));
  EXPECT_EQ(rig.checker.status(1)->health, Health::Down);

  // The backend moves to a healthy address: still Down until `rise` successes there.
  rig.checker.add(1, server_ip(), up.port(), tcp_check(/*rise=*/2, /*fall=*/2), Health::Up);
  EXPECT_EQ(rig.checker.status(1)->health, Health::Down);
  EXPECT_EQ(rig.checker.status(1)->transitions, 1u);
  ASSERT_TRUE(rig.drive_until([&] { return rig.events.size() == 2; }, 1500));
  EXPECT_EQ(rig.events[1].event.health, Health::Up);
  EXPECT_EQ(rig.events[1].status.successes_in_a_row, 2u);
  EXPECT_EQ(rig.checker.status(1)->transitions, 2u);

  // Same target, same check (a reload): the check in flight goes on and times out.
  config::HealthCheck slow = tcp_check();
  slow.interval_ms = 500;
  slow.timeout_ms = 400;
  rig.checker.add(2, server_ip(), hole.port(), slow, Health::Up);
  ASSERT_TRUE(rig.drive_until([&] { return rig.checker.checks_in_flight() == 1; }, 1000));
  rig.checker.add(2, server_ip(), hole.port(), slow, Health::Down);
  EXPECT_EQ(rig.checker.checks_in_flight(), 1u);
  EXPECT_EQ(rig.checker.status(2)->health, Health::Up);  // `initial` only for new ids
  ASSERT_TRUE(rig.drive_until([&] { return !rig.checker.status(2)->last_result.empty(); }, 1000));
  EXPECT_EQ(rig.checker.status(2)->last_result, "timeout after 400 ms");
}

// The request on the wire, the Host header, the check's own port, and expect_status.
TEST(HealthChecker, HttpRequestIsWellFormed) {
  LocalServer http;
  Rig rig;
  rig.checker.add(1, server_ip(), http.port(), http_check(), Health::Up);
  config::HealthCheck head = http_check();
  head.http_method = "HEAD";
  head.http_path = "/status?full=1";
  head.http_host = "www.example.test";
  head.port = http.port();
  rig.checker.add(2, server_ip(), 1, head, Health::Up);  // backend port 1: the check's port wins
  config::HealthCheck want204 = http_check();
  want204.expect_status = 204;
  rig.checker.add(3, server_ip(), http.port(), want204, Health::Up);
  ASSERT_TRUE(rig.drive_until(
      [&] {
        for (uint64_t id : {1, 2, 3})
          if (rig.checker.status(id)->last_result.empty()) return false;
        return true;
      },
      1000));
  auto reqs = http.requests();
  const std::string get = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.2\r\nUser-Agent: fulcrum-health\r\nConnection: close\r\n\r\n";
  const std::string head_req =
      "HEAD /status?full=1 HTTP/1.1\r\nHost: www.example.test\r\nUser-Agent: fulcrum-health\r\nConnection: close\r\n\r\n";
  EXPECT_NE(std::find(reqs.begin(), reqs.end(), get), reqs.end());
  EXPECT_NE(std::find(reqs.begin(), reqs.end(), head_req), reqs.end());
  EXPECT_EQ(rig.checker.status(1)->last_result, "HTTP 200");
  EXPECT_EQ(rig.checker.status(2)->last_result, "HTTP 200");
  EXPECT_EQ(rig.checker.status(3)->last_result, "HTTP status 200 (expected 204)");
}

// With an injected clock: 1,000 targets added at once start their first checks spread over
// the interval, and run() does a bounded amount of work when everything is due at once.
TEST(HealthChecker, FirstChecksSpreadAndRunIsBounded) {
  LocalServer hole;
  hole.black_hole();
  uint64_t fake = 1000;
  Rig rig([&] { return fake; });
  config::HealthCheck c = tcp_check();
  c.interval_ms = 1000;
  c.timeout_ms = 950;
  const size_t n = 1000;
  for (uint64_t id = 0; id < n; ++id) rig.checker.add(id, server_ip(), hole.port(), c, Health::Up);
  EXPECT_GE(rig.checker.next_deadline_ms(), 1000u);

  size_t prev = 0;
  for (uint64_t step = 1; step <= 10; ++step) {
    fake = 1000 + step * 100 - 1;
    while (rig.checker.next_deadline_ms() <= fake) rig.checker.run();
    size_t now_in_flight = rig.checker.checks_in_flight();
    EXPECT_GE(now_in_flight - prev, 50u) << "first checks in [" << (step - 1) * 100 << ", " << step * 100 << ") ms";
    EXPECT_LE(now_in_flight - prev, 160u) << "first checks in [" << (step - 1) * 100 << ", " << step * 100 << ") ms";
    prev = now_in_flight;
  }
  EXPECT_EQ(prev, n);

  // Everything times out at once: one run() handles at most 256 timers and says to come
  // back at once.
  fake = 10'000;
  rig.checker.run();
  EXPECT_EQ(rig.checker.checks_in_flight(), n - 256);
  EXPECT_LE(rig.checker.next_deadline_ms(), fake);
  int runs = 1;
  while (rig.checker.next_deadline_ms() <= fake) {
    rig.checker.run();
    ++runs;
  }
  EXPECT_EQ(runs, 8);  // 1,000 timeouts and 1,000 rescheduled starts, 256 a run
  for (uint64_t id = 0; id < n; ++id) {
    EXPECT_EQ(rig.checker.status(id)->last_result, "timeout after 950 ms");
    EXPECT_EQ(rig.checker.status(id)->failures_in_a_row, 1u);
  }
  // The loop stalled for 8 s: no check starts late, all at once. Each waits for its own
  // next grid point, so the checks stay spread over the interval as they were (review
  // finding 3: they used to restart together and stay in lockstep for good, and 100
  // simultaneous connects to one small backend timed out).
  EXPECT_EQ(rig.checker.checks_in_flight(), 0u);
  prev = 0;
  size_t most = 0;
  for (uint64_t step = 1; step <= 10; ++step) {
    fake = 10'000 + step * 100 - (step < 10 ? 1 : 0);  // a grid point at exactly 10'000 moved to 11'000
    while (rig.checker.next_deadline_ms() <= fake) rig.checker.run();
    size_t now_in_flight = rig.checker.checks_in_flight();
    most = std::max(most, now_in_flight - prev);
    EXPECT_GE(now_in_flight - prev, 50u) << "restarts in [" << (step - 1) * 100 << ", " << step * 100 << ") ms after the stall";
    EXPECT_LE(now_in_flight - prev, 160u) << "restarts in [" << (step - 1) * 100 << ", " << step * 100 << ") ms after the stall";
    prev = now_in_flight;
  }
  EXPECT_EQ(prev, n);
  std::printf("  after an 8 s stall, 1000 checks restart spread over the interval: at most %zu in any 100 ms\n", most);
}

// ------------------------------------------------------------------ IPv6 (issue 15)

// A listener on ::1 that answers every request with HTTP 200 and records it, and a port
// on ::1 that refuses (bound, never listening). One thread, blocking accept with a poll
// timeout so that it stops promptly.
class Loopback6Server {
 public:
  Loopback6Server() {
    listener_ = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    refusing_ = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    if (listener_ < 0 || refusing_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        listen(listener_, 64) != 0 || bind(refusing_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      available_ = false;  // no IPv6 on this host's loopback
      return;
    }
    socklen_t len = sizeof sa;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin6_port);
    getsockname(refusing_, reinterpret_cast<sockaddr*>(&sa), &len);
    refusing_port_ = ntohs(sa.sin6_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~Loopback6Server() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (listener_ >= 0) close(listener_);
    if (refusing_ >= 0) close(refusing_);
  }
  bool available() const { return available_; }
  uint16_t port() const { return port_; }
  uint16_t refusing_port() const { return refusing_port_; }
  std::vector<std::string> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{listener_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      timeval tv{0, 300'000};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::string req;
      char buf[1024];
      ssize_t n;
      while (req.find("\r\n\r\n") == std::string::npos && (n = read(c, buf, sizeof buf)) > 0) req.append(buf, n);
      if (!req.empty()) {
        {
          std::lock_guard lock(mu_);
          requests_.push_back(req);
        }
        const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        (void)!write(c, ok, sizeof ok - 1);
      }
      close(c);
    }
  }

  int listener_ = -1, refusing_ = -1;
  uint16_t port_ = 0, refusing_port_ = 0;
  bool available_ = true;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> requests_;
};

// AF_INET6 checks: TCP and HTTP to a v6 listener go up, a refusing v6 port goes down; the
// HTTP check's default Host header is "[::1]:port"; a v6 source address is bound.
TEST(HealthChecker, Ipv6TcpAndHttpChecksUpAndDown) {
  Loopback6Server server;
  if (!server.available()) GTEST_SKIP() << "no IPv6 on loopback (::1 cannot be bound)";
  const config::IpAddr loopback6 = *config::parse_ip("::1");
  Rig rig;
  rig.checker.add(1, loopback6, server.port(), tcp_check(/*rise=*/1), Health::Down);
  config::HealthCheck http = http_check(/*rise=*/1);
  http.source = loopback6;
  rig.checker.add(2, loopback6, server.port(), http, Health::Down);
  rig.checker.add(3, loopback6, server.refusing_port(), tcp_check(/*rise=*/1, /*fall=*/1), Health::Up);
  ASSERT_TRUE(rig.drive_until(
      [&] {
        return rig.checker.status(1)->health == Health::Up && rig.checker.status(2)->health == Health::Up &&
               rig.checker.status(3)->health == Health::Down;
      },
      2000))
      << "tcp: " << rig.checker.status(1)->last_result << ", http: " << rig.checker.status(2)->last_result
      << ", refusing: " << rig.checker.status(3)->last_result;
  EXPECT_EQ(rig.checker.status(1)->last_result, "connected");
  EXPECT_EQ(rig.checker.status(2)->last_result, "HTTP 200");
  EXPECT_EQ(rig.events_of(3).at(0).event.reason, "connection refused");
  const std::string want = "GET /healthz HTTP/1.1\r\nHost: [::1]:" + std::to_string(server.port()) +
                           "\r\nUser-Agent: fulcrum-health\r\nConnection: close\r\n\r\n";
  auto reqs = server.requests();
  EXPECT_NE(std::find(reqs.begin(), reqs.end(), want), reqs.end()) << (reqs.empty() ? "(no request)" : reqs[0]);
}

}  // namespace
}  // namespace fulcrum::cp
