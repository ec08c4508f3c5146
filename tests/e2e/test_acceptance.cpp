// The acceptance suite: lb-dataplane on net_af_packet and lb-controlplane, started from one
// config in the balancer namespace, real TCP clients in the client namespace, three (or
// four) real nginx backends. Each test states a promise to an operator and checks it from
// the client's side.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <regex>

#include "tests/e2e/client.h"
#include "tests/e2e/lb_harness.h"

namespace fulcrum::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// interval 300 ms x fall 2 + timeout 200 ms: the promised detection time.
constexpr auto kDetection = 800ms;

class Acceptance : public ::testing::Test {
 protected:
  void bring_up(int backends = 3) {
    if (std::string why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    std::string why;
    topo_ = Topology::create({backends, TopologyOptions::Mode::Dpdk, 1}, &why);
    ASSERT_TRUE(topo_) << why;
    shm_ = std::make_unique<ShmNames>(*topo_);
    dp_options_.closed_timeout_s = 2;
    dp_options_.closing_timeout_s = 4;
    config_path_ = topo_->value("RUN_DIR") + "/lb.toml";
    write_config(full_toml(*topo_, *shm_, dp_options_, ControlplaneOptions{}));
    dp_ = start_dataplane(*topo_, read_config(), "dp");
    ASSERT_TRUE(wait_dataplane_ready(shm_->status, 0, 20s)) << dp_->log();
    cp_ = start_controlplane(*topo_, config_path_);
    ASSERT_TRUE(cp_->running()) << cp_->log();
    // Ready when every backend has passed a check and the data plane forwards.
    ASSERT_TRUE(wait_until([&] {
      LbctlResult r = lbctl(*topo_, "backend list");
      if (r.exit != 0) return false;
      for (const auto& b : r.json) {
        if (b["health_reason"] != "HTTP 200") return false;
      }
      return true;
    }, 10s)) << lbctl(*topo_, "backend list", true).out;
    ASSERT_TRUE(wait_until([&] { return !http_get(*topo_, "http://198.18.0.10/", 1).empty(); }, 10s)) << dp_->log();
  }
  void TearDown() override {
    if (HasFailure()) {
      if (cp_) std::printf("--- lb-controlplane log:\n%s\n", cp_->log().c_str());
      if (dp_) std::printf("--- lb-dataplane log:\n%s\n", dp_->log().c_str());
      if (topo_) std::printf("--- lbctl stats:\n%s\n", lbctl(*topo_, "stats", true).out.c_str());
    }
    if (cp_) cp_->stop();
    if (dp_) {
      EXPECT_EQ(dp_->stop(), 0) << "lb-dataplane did not exit cleanly";
    }
  }
  void write_config(const std::string& text) { std::ofstream(config_path_) << text; }
  std::string read_config() {
    std::ifstream in(config_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  static std::string vip_ip(bool fullnat) { return fullnat ? "198.18.0.20" : "198.18.0.10"; }
  static std::string vip_name(bool fullnat) { return fullnat ? "web-full" : "web"; }

  DataplaneOptions dp_options_;
  std::unique_ptr<Topology> topo_;
  std::unique_ptr<ShmNames> shm_;
  std::string config_path_;
  std::unique_ptr<Process> dp_, cp_;
};

// Items 1, 3 and 4 in both forwarding modes (item 8).
class BothModes : public Acceptance, public ::testing::WithParamInterface<bool> {};

// 1. Spread: 3,000 new connections over 3 equal backends within +-10 % of even; weights
// 1:2:3 give shares within +-10 % of proportional.
TEST_P(BothModes, SpreadEvenAndWeighted) {
  bring_up();
  const bool fullnat = GetParam();
  SpreadResult even = spread(*topo_, vip_ip(fullnat), 80, 3000);
  EXPECT_EQ(even.failed, 0) << even.first_error;
  for (const char* b : {"b1", "b2", "b3"}) {
    EXPECT_NEAR(even.by_backend[b], 1000, 100) << b << " got " << even.by_backend[b] << " of 3000";
  }
  std::printf("[          ] %s even: b1 %d, b2 %d, b3 %d of 3000\n", vip_name(fullnat).c_str(), even.by_backend["b1"],
              even.by_backend["b2"], even.by_backend["b3"]);

  ASSERT_EQ(lbctl(*topo_, "weight backend b2 2 --vip " + vip_name(fullnat)).exit, 0);
  ASSERT_EQ(lbctl(*topo_, "weight backend b3 3 --vip " + vip_name(fullnat)).exit, 0);
  SpreadResult weighted = spread(*topo_, vip_ip(fullnat), 80, 6000);
  EXPECT_EQ(weighted.failed, 0) << weighted.first_error;
  int want[4] = {0, 1000, 2000, 3000};
  for (int b = 1; b <= 3; ++b) {
    int got = weighted.by_backend["b" + std::to_string(b)];
    EXPECT_NEAR(got, want[b], want[b] / 10) << "b" << b << " got " << got << " of 6000, want " << want[b] << " (1:2:3)";
  }
  std::printf("[          ] %s 1:2:3: b1 %d, b2 %d, b3 %d of 6000\n", vip_name(fullnat).c_str(), weighted.by_backend["b1"],
              weighted.by_backend["b2"], weighted.by_backend["b3"]);
}

// 3. Drain: once `lbctl drain backend X` returns, no new connection reaches X; an open
// connection to X completes normally; --wait returns when X has no active connections.
TEST_P(BothModes, DrainKeepsOpenConnectionsAndSendsNewOnesElsewhere) {
  bring_up();
  const bool fullnat = GetParam();
  KeepAlive open(*topo_, vip_ip(fullnat), 80);
  ASSERT_TRUE(open.connected());
  std::string x = open.get();
  ASSERT_FALSE(x.empty());
  x = x.substr(0, x.find('\n'));

  LbctlResult drain = lbctl(*topo_, "drain backend " + x + " --vip " + vip_name(fullnat));
  ASSERT_EQ(drain.exit, 0) << drain.err;
  SpreadResult after = spread(*topo_, vip_ip(fullnat), 80, 300);
  EXPECT_EQ(after.failed, 0) << after.first_error;
  EXPECT_EQ(after.by_backend.count(x), 0u) << after.by_backend[x] << " new connections reached the drained " << x;
  EXPECT_EQ(open.get(), x + "\n") << "the open connection to the drained backend still works";

  // --wait: returns once the open connection is gone (and its entry expired: the closed
  // timeout is 2 s here).
  int rc = -1;
  auto t0 = Clock::now();
  std::thread waiter([&] { rc = lbctl(*topo_, "drain backend " + x + " --vip " + vip_name(fullnat) + " --wait --timeout 30").exit; });
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(rc, -1) << "--wait returned while a connection was open";
  { KeepAlive closing = std::move(open); }  // close it
  waiter.join();
  EXPECT_EQ(rc, 0);
  std::printf("[          ] drain --wait returned %lld ms after it started (connection closed after 1 s)\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()));
}

// 4. Failure: under continuous load, nginx on one backend is killed; after at most
// interval x fall + timeout every new connection succeeds. Reports the failures.
TEST_P(BothModes, DeadBackendIsRoutedAroundWithinTheDetectionTime) {
  bring_up();
  const bool fullnat = GetParam();
  Load load(*topo_, vip_ip(fullnat), 80, 2);
  std::this_thread::sleep_for(1s);
  ASSERT_EQ(load.failed(), 0);
  auto killed = Clock::now();
  ASSERT_TRUE(topo_->stop_backend(2));
  // The promise: after the detection time (plus the publish and a burst, a few ms), no
  // failures. 200 ms of allowance for a loaded 2-core machine's scheduling.
  std::this_thread::sleep_for(kDetection + 200ms + 3s);
  int in_window = load.failed_since(killed);
  int after = load.failed_since(killed + kDetection + 200ms);
  auto last = load.last_failure();
  load.stop();
  EXPECT_EQ(after, 0) << after << " connections failed after the detection time";
  EXPECT_GT(load.total(), 100);
  std::printf("[          ] %s: %d of %d connections failed while b2 was being detected (last failure %lld ms after the kill)\n",
              vip_name(fullnat).c_str(), in_window, load.total(),
              in_window ? static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(last - killed).count()) : 0LL);
  EXPECT_EQ(lbctl(*topo_, "backend list " + vip_name(fullnat)).json[1]["health"], "down");
}

INSTANTIATE_TEST_SUITE_P(Modes, BothModes, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? std::string("fullnat") : std::string("nat"); });

// 2. Persistence: a long-lived connection stays on its backend while other backends are
// added, removed or re-weighted.
TEST_F(Acceptance, LongLivedConnectionStaysOnItsBackendThroughChanges) {
  bring_up(4);  // b4 is not in the config yet
  std::string config = read_config();
  // The config lists every topology backend; start without b4.
  std::regex b4("\\[\\[vip\\.backends\\]\\]\\nname = \"b4\"\\naddress = \"198\\.18\\.2\\.14\"\\nport = 80\\n");
  write_config(std::regex_replace(config, b4, ""));
  ASSERT_EQ(lbctl(*topo_, "reload").exit, 0);
  KeepAlive conn(*topo_, "198.18.0.10", 80);
  std::string x = conn.get();
  ASSERT_FALSE(x.empty());
  std::string other = x == "b1\n" ? "b2" : "b1";
  write_config(config);  // b4 added
  ASSERT_EQ(lbctl(*topo_, "reload").exit, 0);
  EXPECT_EQ(conn.get(), x) << "after adding b4";
  std::string without = std::regex_replace(config, std::regex("\\[\\[vip\\.backends\\]\\]\\nname = \"" + other + "\"\\n[^\\[]*"), "");
  write_config(without);
  ASSERT_EQ(lbctl(*topo_, "reload").exit, 0);
  EXPECT_EQ(conn.get(), x) << "after removing " << other;
  ASSERT_EQ(lbctl(*topo_, "weight backend b4 5").exit, 0);
  EXPECT_EQ(conn.get(), x) << "after re-weighting b4";
  ASSERT_EQ(lbctl(*topo_, "weight backend " + x.substr(0, 2) + " 0 --vip web").exit, 0);
  EXPECT_EQ(conn.get(), x) << "after setting its own backend's weight to 0";
}

// 5. Control plane killed with SIGKILL under load: no request fails; after the restart,
// drains are still in force.
TEST_F(Acceptance, ControlPlaneKilledUnderLoadFailsNothingAndKeepsDrains) {
  bring_up();
  ASSERT_EQ(lbctl(*topo_, "drain backend b1").exit, 0);
  Load load(*topo_, "198.18.0.10", 80, 2);
  std::this_thread::sleep_for(1s);
  cp_->kill9();
  std::this_thread::sleep_for(2s);
  cp_ = start_controlplane(*topo_, config_path_, "cp2");
  ASSERT_TRUE(cp_->running());
  std::this_thread::sleep_for(2s);
  load.stop();
  EXPECT_EQ(load.failed(), 0) << load.failed() << " of " << load.total() << " requests failed";
  EXPECT_GT(load.total(), 100);
  auto per = load.by_backend();
  EXPECT_EQ(per.count("b1"), 0u) << "the drained b1 got new connections";
  LbctlResult b = lbctl(*topo_, "backend list web");
  ASSERT_EQ(b.exit, 0);
  EXPECT_EQ(b.json[0]["state"], "draining") << "the drain survived the kill";
  std::printf("[          ] %d requests across the control plane's kill and restart, 0 failed\n", load.total());
}

// 6. Data plane restart: service is back within a stated time (10 s), and a nat connection
// opened before the restart continues on the same backend (Maglev picks it up).
TEST_F(Acceptance, DataplaneRestartServiceBackAndNatConnectionContinues) {
  bring_up();
  KeepAlive conn(*topo_, "198.18.0.10", 80);
  std::string x = conn.get();
  ASSERT_FALSE(x.empty());
  auto t0 = Clock::now();
  ASSERT_EQ(dp_->stop(), 0);
  dp_ = start_dataplane(*topo_, read_config(), "dp2");
  ASSERT_TRUE(wait_until([&] { return !http_get(*topo_, "http://198.18.0.10/", 1).empty(); }, 10s)) << dp_->log();
  auto back = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  EXPECT_LE(back.count(), 10000);
  EXPECT_EQ(conn.get(5000), x) << "the connection opened before the restart";
  std::printf("[          ] service back %lld ms after the data plane was stopped; the old connection continued on %s",
              static_cast<long long>(back.count()), x.c_str());
}

// 7. A broken config and a reload: the error is reported, traffic is unaffected.
TEST_F(Acceptance, BrokenReloadIsReportedAndTrafficIsUnaffected) {
  bring_up();
  std::string good = read_config();
  Load load(*topo_, "198.18.0.10", 80, 2);
  std::this_thread::sleep_for(500ms);
  write_config(good + "\n[[vip]]\nname = \"web\"\naddress = \"198.18.0.99\"\nport = 80\n");
  LbctlResult r = lbctl(*topo_, "reload");
  EXPECT_EQ(r.exit, 1);
  EXPECT_NE(r.err.find(config_path_ + ":"), std::string::npos) << r.err;
  kill(cp_->pid(), SIGHUP);  // the same through a signal: logged, nothing changes
  std::this_thread::sleep_for(1s);
  load.stop();
  EXPECT_EQ(load.failed(), 0);
  EXPECT_GT(load.total(), 50);
  EXPECT_NE(cp_->log().find("reload refused"), std::string::npos);
  write_config(good);
}

}  // namespace
}  // namespace fulcrum::test
