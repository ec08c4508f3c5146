// The scheduling suite (docs/scheduling.md) end to end: lb-dataplane and lb-controlplane in
// the namespace rig, real nginx backends, real TCP clients. Each test states what an
// operator is promised and prints the figures it measured.
//
//  * a backend's nginx killed, then its namespace blackholed, under load, in nat and
//    fullnat at once: no client connection fails (retry on failure), the blackhole adds at
//    most one SYN retransmission, passive health ejects the backend before the active
//    checks could;
//  * least_conn: a backend holding 200 idle connections gets few of the next 1,000;
//  * fastest: a backend 20 ms slower (tc netem) gets few new connections, and its share
//    comes back when the delay goes;
//  * max_connections: a backend never holds more, the rest overflow to the others.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <regex>

#include "tests/e2e/client.h"
#include "tests/e2e/lb_node.h"

namespace fulcrum::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Active checks every second, down after 3 failures: interval x fall = 3 s (+ a 500 ms
// timeout), the detection time passive health must beat.
LbNode::Options options(const std::string& vip_keys = "") {
  LbNode::Options o;
  o.cp.interval_ms = 1000;
  o.cp.timeout_ms = 500;
  o.cp.fall = 3;
  o.cp.rise = 2;
  o.cp.extra_vip_keys = vip_keys;
  return o;
}

class Scheduling : public ::testing::Test {
 protected:
  void start(const LbNode::Options& o) {
    std::string skip;
    node_ = LbNode::start(o, &skip);
    if (!skip.empty()) GTEST_SKIP() << skip;
    ASSERT_TRUE(node_);
  }
  void TearDown() override {
    undelay();
    if (node_ && HasFailure()) node_->dump();
    for (const std::string& undo : undo_) node_->topo().exec(undo.substr(0, undo.find('|')), undo.substr(undo.find('|') + 1));
    node_.reset();
  }
  // Runs `cmd` in backend b's namespace (1-based); `undo` runs there at teardown.
  void in_backend(int b, const std::string& cmd, const std::string& undo) {
    const std::string& ns = node_->topo().backends[b - 1].ns;
    std::string out;
    ASSERT_EQ(node_->topo().exec(ns, cmd, &out), 0) << cmd << ": " << out;
    undo_.push_back(ns + "|" + undo);
  }
  // The backend's entry in `lbctl backend list VIP`.
  nlohmann::json backend(const std::string& vip, const std::string& name) {
    LbctlResult r = lbctl(node_->topo(), "backend list " + vip);
    if (r.exit == 0) {
      for (const auto& b : r.json) {
        if (b["name"] == name) return b;
      }
    }
    return nlohmann::json::object();
  }
  static std::string device_cmd() { return "ip -o link show | awk -F': ' '$2 != \"lo\" {print $2}' | cut -d@ -f1 | head -1"; }

  // Makes backend b answer 20 ms late: tc netem on its link where the kernel has netem,
  // else the NFQUEUE delayer (tests/e2e/nfq_delay.cpp) on its outgoing TCP. Returns how.
  std::string delay(int b) {
    const std::string& ns = node_->topo().backends[b - 1].ns;
    std::string out;
    if (node_->topo().exec(ns, "tc qdisc add dev $(" + device_cmd() + ") root netem delay 20ms", &out) == 0) {
      undelay_ = [this, ns] { node_->topo().exec(ns, "tc qdisc del dev $(" + device_cmd() + ") root"); };
      return "tc netem";
    }
    if (!std::ifstream(built("tests/e2e/nfq_delay"))) return "";
    delayer_ = std::make_unique<Process>(node_->topo(), ns, std::vector<std::string>{built("tests/e2e/nfq_delay"), "7", "20"},
                                         node_->topo().value("RUN_DIR") + "/nfq_delay.log");
    const std::string rule = "OUTPUT -p tcp --sport 80 -j NFQUEUE --queue-num 7 --queue-bypass";
    if (node_->topo().exec(ns, "iptables -A " + rule, &out) != 0) {
      ADD_FAILURE() << "iptables: " << out;
      return "";
    }
    undelay_ = [this, ns, rule] {
      node_->topo().exec(ns, "iptables -D " + rule);
      if (delayer_) delayer_->stop();
      delayer_.reset();
    };
    return "an NFQUEUE delayer (no tc netem in this kernel)";
  }
  void undelay() {
    if (undelay_) undelay_();
    undelay_ = nullptr;
  }

  std::unique_ptr<LbNode> node_;
  std::vector<std::string> undo_;
  std::unique_ptr<Process> delayer_;
  std::function<void()> undelay_;
};

double share(const std::map<std::string, int>& by, const std::string& b) {
  int total = 0;
  for (const auto& [name, n] : by) total += n;
  auto it = by.find(b);
  return total == 0 ? 0 : double(it == by.end() ? 0 : it->second) / total;
}

std::string describe(const std::map<std::string, int>& by) {
  std::string s;
  for (const auto& [name, n] : by) s += (s.empty() ? "" : ", ") + name + " " + std::to_string(n);
  return s;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * double(v.size())))];
}

long long ms_between(Clock::time_point a, Clock::time_point b) {
  return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count());
}

// A backend's nginx killed (its kernel refuses: RST), later its namespace blackholed (SYNs
// dropped), under load on the nat and the fullnat VIP at once.
TEST_F(Scheduling, FailingBackendsFailNoClientConnection) {
  start(options());
  if (!node_) return;
  // Open-loop clients, 150 new connections a second on each VIP: a client stalled by a
  // retransmission does not slow the others down.
  Load nat(node_->topo(), "198.18.0.10", 80, 48, 3000, 150), full(node_->topo(), "198.18.0.20", 80, 48, 3000, 150);
  std::this_thread::sleep_for(1s);

  // 1. nginx killed on b2 (SIGKILL, a crash): refused attempts are retried on another
  // backend, and passive health ejects b2 long before the active checks' interval x fall.
  // A connection b2 had already accepted when it died is lost whatever the balancer does
  // (its handshake was done): only connections that start after the kill must all succeed.
  const auto killing = Clock::now();
  const int before = nat.total() + full.total();
  int status = -1;
  run_command("ip netns pids " + node_->topo().backends[1].ns + " | xargs -r kill -9", &status);
  ASSERT_EQ(status, 0);
  ASSERT_TRUE(wait_until([&] { return run_command("ip netns pids " + node_->topo().backends[1].ns, &status).empty(); }, 5s));
  const auto killed = Clock::now();
  Clock::time_point ejected{};
  ASSERT_TRUE(wait_until([&] {
    bool both = backend("web", "b2").value("ejected", false) && backend("web-full", "b2").value("ejected", false);
    if (both) ejected = Clock::now();
    return both;
  }, 10s)) << backend("web", "b2").dump();
  std::this_thread::sleep_for(2s);
  const auto kill_end = Clock::now();
  const double rate = double(nat.total() + full.total() - before) / (double(ms_between(killing, kill_end)) / 1000.0);
  std::printf("[          ] nginx killed on b2: %d + %d connections so far (nat + fullnat, %.0f/s during the kill); of those "
              "started after it, %d + %d failed (%d + %d in flight at the kill, already accepted by b2); passive ejection %lld ms "
              "after the kill (active checks: up to interval x fall = 3000 ms + 500 ms timeout)\n",
              nat.total(), full.total(), rate, nat.failed_since(killed), full.failed_since(killed),
              nat.failed() - nat.failed_since(killed), full.failed() - full.failed_since(killed), ms_between(killed, ejected));
  EXPECT_EQ(nat.failed_since(killed), 0) << nat.first_error();
  EXPECT_EQ(full.failed_since(killed), 0) << full.first_error();
  std::printf("[          ] %s\n", backend("web", "b2").value("out_reason", "").c_str());
  // What an operator sees: why b2 is out in `lbctl backend list`, the figures in /metrics.
  LbctlResult human = lbctl(node_->topo(), "backend list web", true);
  EXPECT_NE(human.out.find("OUT BECAUSE"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("ejected: "), std::string::npos) << human.out;
  std::string metrics;
  node_->topo().exec(node_->topo().lb_ns, "curl -s http://" + metrics_address(node_->topo()) + "/metrics", &metrics);
  for (const char* name : {"lb_backend_passive_down{vip=\"web\",backend=\"198.18.2.12:80\"} 1", "lb_backend_connect_time_seconds_bucket",
                           "lb_backend_connect_attempts_total{vip=\"web\",backend=\"198.18.2.12:80\",result=\"refused\"}",
                           "lb_backend_ejections_total", "lb_backend_retries_total", "lb_backend_open_connections"}) {
    EXPECT_NE(metrics.find(name), std::string::npos) << name << " missing from /metrics";
  }
  EXPECT_GE(rate, 100.0);
  EXPECT_LT(ms_between(killed, ejected), 3000);
  const int failed_nat_kill = nat.failed(), failed_full_kill = full.failed();
  EXPECT_GT(node_->counter(abi::WorkerCounter::ConnectRefused), 0u);

  // Back: nginx restarted, readmitted by the active checks (rise 2).
  ASSERT_TRUE(node_->topo().start_backend(2));
  const auto restarted = Clock::now();
  ASSERT_TRUE(wait_until([&] { return !backend("web", "b2").value("ejected", true) && !backend("web-full", "b2").value("ejected", true); }, 10s));
  std::printf("[          ] b2 readmitted %lld ms after nginx came back\n", ms_between(restarted, Clock::now()));

  // 2. b3's namespace blackholed: its SYNs go unanswered; the client's retransmission
  // (1 s) goes to another backend.
  std::this_thread::sleep_for(500ms);
  const auto holed = Clock::now();
  in_backend(3, "nft add table inet fulcrum_blackhole && nft add chain inet fulcrum_blackhole in "
                "'{ type filter hook input priority 0; policy drop; }'",
             "nft delete table inet fulcrum_blackhole");
  ASSERT_TRUE(wait_until([&] { return backend("web", "b3").value("ejected", false) && backend("web-full", "b3").value("ejected", false); }, 15s))
      << backend("web", "b3").dump();
  const auto b3_out = Clock::now();
  std::this_thread::sleep_for(2s);
  const auto end = Clock::now();
  nat.stop();
  full.stop();
  std::vector<double> before_hole = nat.durations_ms(killed + 3s, holed), after = nat.durations_ms(holed, end);
  for (double d : full.durations_ms(killed + 3s, holed)) before_hole.push_back(d);
  for (double d : full.durations_ms(holed, end)) after.push_back(d);
  const double slowest = percentile(after, 1.0), usual = percentile(before_hole, 0.99);
  const auto retransmitted = std::count_if(after.begin(), after.end(), [](double d) { return d >= 900; });
  // Connections b3 was serving when it was cut off stall and time out: lost whatever the
  // balancer does. Those that start after it must all succeed.
  const int hole_nat = nat.failed() - failed_nat_kill - nat.failed_since(holed), hole_full = full.failed() - failed_full_kill - full.failed_since(holed);
  std::printf("[          ] b3 blackholed: %zu connections started after it, %d + %d failed (nat + fullnat; %d + %d in flight at "
              "the blackhole); ejected after %lld ms; %lld took one SYN retransmission; slowest %.0f ms (p99 before %.0f ms)\n",
              after.size(), nat.failed_since(holed), full.failed_since(holed), std::max(hole_nat, 0), std::max(hole_full, 0),
              ms_between(holed, b3_out), static_cast<long long>(retransmitted), slowest, usual);
  EXPECT_EQ(nat.failed_since(holed), 0) << nat.first_error();
  EXPECT_EQ(full.failed_since(holed), 0) << full.first_error();
  EXPECT_GT(retransmitted, 0) << "some connections did meet the blackhole";
  EXPECT_LE(slowest, usual + 1000 + 300) << "at most one client SYN retransmission (1 s) added";
  std::printf("[          ] by backend after the blackhole: nat %s; fullnat %s\n", describe(nat.by_backend(b3_out, end)).c_str(),
              describe(full.by_backend(b3_out, end)).c_str());
}

// least_conn: b1 holds 200 idle keep-alive connections (made while b2 and b3 were drained);
// of the next 1,000 new connections it gets under 10 %.
TEST_F(Scheduling, LeastConnAvoidsABackendHoldingManyConnections) {
  start(options("scheduler = \"least_conn\"\n"));
  if (!node_) return;
  for (const char* b : {"b2", "b3"}) ASSERT_EQ(lbctl(node_->topo(), std::string("drain backend ") + b + " --vip web").exit, 0);
  std::vector<std::unique_ptr<KeepAlive>> idle;
  for (int i = 0; i < 200; ++i) {
    idle.push_back(std::make_unique<KeepAlive>(node_->topo(), "198.18.0.10", 80));
    ASSERT_EQ(idle.back()->get(), "b1\n") << "connection " << i;
  }
  for (const char* b : {"b2", "b3"}) ASSERT_EQ(lbctl(node_->topo(), std::string("undrain backend ") + b + " --vip web").exit, 0);
  ASSERT_TRUE(wait_until([&] { return backend("web", "b1").value("open_connections", 0) >= 200; }, 5s)) << backend("web", "b1").dump();
  SpreadResult next = spread(node_->topo(), "198.18.0.10", 80, 1000);
  std::printf("[          ] least_conn, b1 holding 200 idle connections: of the next 1000, %s (%d failed)\n",
              describe(next.by_backend).c_str(), next.failed);
  EXPECT_EQ(next.failed, 0) << next.first_error;
  EXPECT_LT(next.by_backend["b1"], 100);
  for (auto& c : idle) EXPECT_EQ(c->get(), "b1\n") << "the idle connections still work";
}

// fastest: b1 answers 20 ms later than the others (tc netem on its link): it gets under
// 10 % of new connections; once the delay is gone its share comes back.
TEST_F(Scheduling, FastestAvoidsASlowBackendAndItsShareComesBack) {
  start(options("scheduler = \"fastest\"\n"));
  if (!node_) return;
  const std::string how = delay(1);
  if (how.empty()) GTEST_SKIP() << "no way to delay a backend: neither tc netem nor tests/e2e/nfq_delay (libnetfilter-queue-dev)";
  Load load(node_->topo(), "198.18.0.10", 80, 4, 3000);
  std::this_thread::sleep_for(1s);  // the first samples
  const auto slow_from = Clock::now();
  std::this_thread::sleep_for(3s);
  const auto slow_to = Clock::now();
  std::printf("[          ] connect times (EWMA) while delayed: b1 %s ms, b2 %s ms\n", backend("web", "b1")["connect_time_ms"].dump().c_str(),
              backend("web", "b2")["connect_time_ms"].dump().c_str());
  undelay();
  std::this_thread::sleep_for(5s);
  const auto fast_to = Clock::now();
  load.stop();
  const auto slow = load.by_backend(slow_from, slow_to);
  std::printf("[          ] fastest, b1 delayed 20 ms (%s): %s (b1 %.1f %%)\n", how.c_str(), describe(slow).c_str(), 100 * share(slow, "b1"));
  EXPECT_LT(share(slow, "b1"), 0.10);
  std::string timeline;
  for (int s = 0; s < 5; ++s) {
    auto from = slow_to + std::chrono::seconds(s), to = from + 1s;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.0f%%", s ? ", " : "", 100 * share(load.by_backend(from, to), "b1"));
    timeline += buf;
  }
  const auto back = load.by_backend(slow_to + 2s, fast_to);
  std::printf("[          ] delay removed: b1's share second by second: %s; in the last 3 s %s (b1 %.1f %%)\n", timeline.c_str(),
              describe(back).c_str(), 100 * share(back, "b1"));
  EXPECT_GT(share(back, "b1"), 0.15) << "its share came back";
  EXPECT_EQ(load.failed(), 0) << load.first_error();
}

// max_connections = 50 on b1: 240 idle connections, of which Maglev would give b1 about 80;
// b1 never holds more than 50, the rest go to the others.
TEST_F(Scheduling, MaxConnectionsCapsABackend) {
  start(options());
  if (!node_) return;
  std::string config = node_->read_config();
  const std::string b1 = "name = \"b1\"\naddress = \"198.18.2.11\"\nport = 80\n";
  const size_t at = config.find(b1);  // the first VIP's, "web"
  ASSERT_NE(at, std::string::npos);
  config.insert(at + b1.size(), "max_connections = 50\n");
  node_->write_config(config);
  ASSERT_EQ(lbctl(node_->topo(), "reload").exit, 0);
  std::vector<std::unique_ptr<KeepAlive>> held;
  std::map<std::string, int> by;
  uint64_t most_open = 0;
  for (int i = 0; i < 240; ++i) {
    held.push_back(std::make_unique<KeepAlive>(node_->topo(), "198.18.0.10", 80));
    std::string got = held.back()->get();
    ASSERT_FALSE(got.empty()) << "connection " << i;
    ++by[got.substr(0, got.find('\n'))];
    if (i % 20 == 19) most_open = std::max<uint64_t>(most_open, backend("web", "b1").value("open_connections", 0));
  }
  const nlohmann::json b = backend("web", "b1");
  std::printf("[          ] max_connections 50 on b1: 240 connections held: %s; b1 open at most %llu; overflows %s\n",
              describe(by).c_str(), static_cast<unsigned long long>(most_open), b["overflows"].dump().c_str());
  EXPECT_EQ(by["b1"], 50);
  EXPECT_LE(most_open, 50u);
  EXPECT_GT(b["overflows"].value("max_connections", 0), 0);
  EXPECT_EQ(by["b1"] + by["b2"] + by["b3"], 240);
}

}  // namespace
}  // namespace fulcrum::test
