// The operator verbs that need a real data plane (issue 10): `lbctl conn list` (a sample of
// the connection table, asked for through the conn-sample region and answered by the main
// lcore), per-VIP packets, bytes, drops and connections in `lbctl stats` (from per-backend
// counters the workers keep), and the generation each lcore uses in `lbctl status`.
// lb-dataplane on net_af_packet and lb-controlplane from one config, real curl and nginx.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "tests/e2e/lb_harness.h"

namespace fulcrum::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class CpDataplane : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    std::string why;
    topo_ = Topology::create({3, TopologyOptions::Mode::Dpdk, 1}, &why);
    ASSERT_TRUE(topo_) << why;
    shm_ = std::make_unique<ShmNames>(*topo_);
    config_path_ = topo_->value("RUN_DIR") + "/lb.toml";
    std::ofstream(config_path_) << full_toml(*topo_, *shm_, DataplaneOptions{}, ControlplaneOptions{});
    std::ifstream in(config_path_);
    std::stringstream text;
    text << in.rdbuf();
    dp_ = start_dataplane(*topo_, text.str(), "dp");
    ASSERT_TRUE(wait_dataplane_ready(shm_->status, 0, 20s)) << dp_->log();
    cp_ = start_controlplane(*topo_, config_path_);
    ASSERT_TRUE(cp_->running()) << cp_->log();
    ASSERT_TRUE(wait_until([&] { return !http_get(*topo_, "http://198.18.0.10/", 1).empty(); }, 10s)) << dp_->log();
  }
  void TearDown() override {
    if (HasFailure()) {
      if (cp_) std::printf("--- lb-controlplane log:\n%s\n", cp_->log().c_str());
      if (dp_) std::printf("--- lb-dataplane log:\n%s\n", dp_->log().c_str());
    }
    if (cp_) cp_->stop();
    if (dp_) {
      EXPECT_EQ(dp_->stop(), 0) << "lb-dataplane did not exit cleanly";
    }
  }
  std::unique_ptr<Topology> topo_;
  std::unique_ptr<ShmNames> shm_;
  std::string config_path_;
  std::unique_ptr<Process> dp_, cp_;
};

TEST_F(CpDataplane, ConnListPerVipStatsAndGenerationPerLcore) {
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(http_get(*topo_, "http://198.18.0.10/").empty());
    EXPECT_FALSE(http_get(*topo_, "http://198.18.0.20/").empty());
  }
  // A download that lasts: an established connection to find in the sample.
  std::thread download([&] {
    topo_->exec(topo_->client_ns, "curl -s --max-time 4 -o /dev/null http://198.18.0.10/big");
  });
  std::this_thread::sleep_for(1500ms);

  LbctlResult conns = lbctl(*topo_, "conn list --vip web");
  ASSERT_EQ(conns.exit, 0) << conns.err;
  json established;
  for (const json& c : conns.json["connections"]) {
    EXPECT_EQ(c["vip"], "web") << c;
    if (c["state"] == "established") established = c;
  }
  ASSERT_FALSE(established.is_null()) << conns.out;
  EXPECT_EQ(established["client"].get<std::string>().rfind("198.18.1.2:", 0), 0u) << established;
  EXPECT_EQ(established["vip_address"], "198.18.0.10:80");
  EXPECT_TRUE(established["snat"].is_null()) << "nat: no SNAT";
  EXPECT_LT(established["idle_ms"].get<int>(), 1000) << established;
  EXPECT_EQ(established["worker"], 0);
  EXPECT_GE(conns.json["matched"].get<int>(), 21) << "20 closed or closing, 1 downloading: " << conns.out;
  EXPECT_EQ(conns.json["connections"].size(), std::min<size_t>(100, conns.json["matched"].get<size_t>()));
  std::printf("[          ] conn list: %d of %d entries match web, sampled in %.1f ms\n", conns.json["matched"].get<int>(),
              conns.json["in_use"].get<int>(), conns.json["took_ms"].get<double>());
  // Filters: the download's backend, a limit, the fullnat VIP (SNAT shown).
  LbctlResult by_backend = lbctl(*topo_, "conn list --vip web --backend " + established["backend"].get<std::string>() + " --limit 1");
  ASSERT_EQ(by_backend.exit, 0) << by_backend.err;
  EXPECT_EQ(by_backend.json["connections"].size(), 1u);
  EXPECT_EQ(by_backend.json["connections"][0]["backend"], established["backend"]);
  EXPECT_LT(by_backend.json["matched"].get<int>(), conns.json["matched"].get<int>());
  LbctlResult full = lbctl(*topo_, "conn list --vip web-full");
  ASSERT_EQ(full.exit, 0);
  ASSERT_FALSE(full.json["connections"].empty());
  EXPECT_EQ(full.json["connections"][0]["snat"].get<std::string>().rfind("198.18.2.100:", 0), 0u) << full.out;
  EXPECT_NE(lbctl(*topo_, "conn list --vip web", true).out.find("CLIENT"), std::string::npos);
  download.join();

  // Per-VIP traffic: every forwarded packet belongs to one VIP's connection.
  json stats = lbctl(*topo_, "stats").json;
  uint64_t vip_packets = 0;
  for (const json& v : stats["vips"]) {
    EXPECT_GT(v["packets"].get<uint64_t>(), 0u) << v;
    EXPECT_GT(v["bytes"].get<uint64_t>(), 0u) << v;
    EXPECT_GE(v["new_connections"].get<uint64_t>(), 20u) << v;
    vip_packets += v["packets"].get<uint64_t>();
  }
  EXPECT_EQ(vip_packets, stats["counters"]["forwarded"].get<uint64_t>());
  std::printf("[          ] per VIP: web %llu packets %llu bytes, web-full %llu packets; forwarded %llu\n",
              stats["vips"][0]["packets"].get<unsigned long long>(), stats["vips"][0]["bytes"].get<unsigned long long>(),
              stats["vips"][1]["packets"].get<unsigned long long>(), stats["counters"]["forwarded"].get<unsigned long long>());
  // Per-VIP drops: web-full with every backend drained drops new connections.
  ASSERT_EQ(lbctl(*topo_, "drain backend b1 --vip web-full").exit, 0);
  ASSERT_EQ(lbctl(*topo_, "drain backend b2 --vip web-full").exit, 0);
  ASSERT_EQ(lbctl(*topo_, "drain backend b3 --vip web-full").exit, 0);
  http_get(*topo_, "http://198.18.0.20/", 1);
  stats = lbctl(*topo_, "stats").json;
  EXPECT_GT(stats["vips"][1]["drops"].get<uint64_t>(), 0u) << stats["vips"];
  EXPECT_EQ(stats["vips"][0]["drops"].get<uint64_t>(), 0u);

  // Every lcore (the worker and the main lcore) on the published generation.
  json s = lbctl(*topo_, "status").json;
  ASSERT_TRUE(wait_until([&] {
    s = lbctl(*topo_, "status").json;
    for (const json& l : s["dataplane"]["lcore_generations"]) {
      if (l["generation"] != s["tables"]["generation"]) return false;
    }
    return s["dataplane"]["lcore_generations"].size() == 2;
  }, 3s)) << s;
  EXPECT_LT(s["dataplane"]["heartbeat_age_ms"].get<int>(), 1000);
}

}  // namespace
}  // namespace fulcrum::test
