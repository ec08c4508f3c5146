// lb-dataplane end to end: real curl through the VIP to real nginx backends, the data plane
// on net_af_packet and on net_af_xdp over veth, tables published by a test writer of the
// shared-memory contract (the control plane's job, tested with it in the acceptance suite).
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "tests/e2e/lb_harness.h"

namespace fulcrum::test {
namespace {

class DataplaneE2E : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (std::string why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    std::string why;
    topo_ = Topology::create({3, TopologyOptions::Mode::Dpdk, 1}, &why);
    ASSERT_TRUE(topo_) << why;
    shm_ = std::make_unique<ShmNames>(*topo_);
    publisher_ = std::make_unique<TablesPublisher>(*shm_);
    ASSERT_EQ(publisher_->publish(e2e_tables(*topo_)), "");
    DataplaneOptions o;
    o.driver = GetParam();
    dp_ = start_dataplane(*topo_, dataplane_toml(*topo_, *shm_, o));
    if (!wait_dataplane_ready(shm_->status, 0, std::chrono::seconds(20))) {
      std::string log = dp_->log();
      if (o.driver == std::string("net_af_xdp") && log.find("af_xdp") != std::string::npos && log.find("rror") != std::string::npos) {
        GTEST_SKIP() << "AF_XDP unavailable here:\n" << log;
      }
      FAIL() << "lb-dataplane did not come up:\n" << log;
    }
  }
  void TearDown() override {
    if (dp_) {
      EXPECT_EQ(dp_->stop(), 0) << "lb-dataplane did not shut down cleanly:\n" << dp_->log();
    }
  }
  // `n` requests; returns how many answered per backend name.
  std::map<std::string, int> spread(const std::string& url, int n) {
    std::map<std::string, int> seen;
    for (int i = 0; i < n; ++i) ++seen[http_get(*topo_, url)];
    return seen;
  }

  std::unique_ptr<Topology> topo_;
  std::unique_ptr<ShmNames> shm_;
  std::unique_ptr<TablesPublisher> publisher_;
  std::unique_ptr<Process> dp_;
};

TEST_P(DataplaneE2E, CurlThroughNatAndFullNatVips) {
  for (const char* vip : {"198.18.0.10", "198.18.0.20"}) {
    auto seen = spread(std::string("http://") + vip + "/", 30);
    EXPECT_EQ(seen.count(""), 0u) << vip << ": " << seen[""] << " of 30 requests failed\n" << dp_->log();
    EXPECT_GE(seen.size(), 2u) << vip << ": all 30 connections went to one backend";
    for (const auto& [name, n] : seen) EXPECT_TRUE(name == "b1\n" || name == "b2\n" || name == "b3\n") << "unexpected answer '" << name << "'";
  }
  EXPECT_GE(status_counter(shm_->status, abi::WorkerCounter::NewConnections), 60u);
  EXPECT_EQ(status_drops(shm_->status, abi::DropReason::IpBadChecksum), 0u);
  EXPECT_EQ(status_drops(shm_->status, abi::DropReason::NoTables), 0u);
}

TEST_P(DataplaneE2E, NewGenerationIsUsedAndDrainingBackendGetsNoNewConnections) {
  cp::TableSpec spec = e2e_tables(*topo_);
  for (auto& vip : spec.vips) vip.backends[1].state = abi::BackendState::Draining;  // b2
  ASSERT_EQ(publisher_->publish(spec), "");
  for (const char* vip : {"198.18.0.10", "198.18.0.20"}) {
    auto seen = spread(std::string("http://") + vip + "/", 30);
    EXPECT_EQ(seen.count(""), 0u) << vip;
    EXPECT_EQ(seen.count("b2\n"), 0u) << vip << ": a new connection reached the draining backend";
  }
}

TEST_P(DataplaneE2E, LongTransferSurvivesATableChange) {
  // A 16 MiB download at 2 MiB/s runs while the backend set changes twice.
  std::string out;
  std::thread download([&] {
    topo_->exec(topo_->client_ns, "curl -s --max-time 30 -o /dev/null -w '%{http_code} %{size_download}' http://198.18.0.10/big", &out);
  });
  std::this_thread::sleep_for(std::chrono::seconds(2));
  cp::TableSpec spec = e2e_tables(*topo_);
  spec.vips[0].backends.pop_back();
  ASSERT_EQ(publisher_->publish(spec), "");
  std::this_thread::sleep_for(std::chrono::seconds(1));
  for (auto& b : spec.vips[0].backends) b.weight = 3;
  ASSERT_EQ(publisher_->publish(spec), "");
  download.join();
  EXPECT_EQ(out, "200 16777216") << dp_->log();
}

INSTANTIATE_TEST_SUITE_P(Drivers, DataplaneE2E, ::testing::Values("net_af_packet", "net_af_xdp"),
                         [](const auto& info) { return std::string(info.param).substr(4); });

}  // namespace
}  // namespace fulcrum::test
