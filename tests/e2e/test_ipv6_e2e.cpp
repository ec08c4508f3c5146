// IPv6 end to end (issue 15): curl -6 from the client namespace through IPv6 VIPs to nginx
// on the backends, lb-dataplane on net_af_packet, in the three IPv6 modes:
//   [2001:db8::10]:80 nat      -> [2001:db8:2::11..13]:80 (their IPv6 default route is the
//                                 balancer's backend port, 2001:db8:2::1)
//   [2001:db8::20]:80 fullnat  -> the same, SNAT 2001:db8:2::100
//   [2001:db8::40]:80 fullnat  -> 198.18.2.11..13:80 (NAT64, SNAT 198.18.2.101)
// Ipv6E2E: the tables come from a test writer of the shared-memory contract (as in
// test_dataplane_e2e.cpp), so only the data plane's config must take the ports' address6.
// Ipv6ControlPlaneE2E: the same three VIPs as [[vip]] tables of the config, published by
// lb-controlplane after HTTP checks over IPv6 (from the lb namespace's management port,
// 2001:db8:2::2) and over IPv4 (NAT64's backends).
// While the config refuses IPv6 (the config part of issue 15 not merged), they skip and say so.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "tests/e2e/lb_harness.h"

namespace fulcrum::test {
namespace {

abi::Ip6 addr6(const std::string& text) {
  abi::Ip6 a{};
  EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), a.b), 1) << text;
  return a;
}

cp::TableSpec ipv6_tables(const Topology& topo) {
  cp::TableSpec spec;
  struct Vip {
    const char* addr;
    abi::ForwardMode mode;
    bool ipv4_backends;
  } vips[] = {{"2001:db8::10", abi::ForwardMode::Nat, false},
              {"2001:db8::20", abi::ForwardMode::FullNat, false},
              {"2001:db8::40", abi::ForwardMode::FullNat, true}};
  for (uint16_t i = 0; i < 3; ++i) {
    cp::VipSpec v;
    v.family = abi::Family::Ipv6;
    v.addr6 = addr6(vips[i].addr);
    v.port_be = htons(80);
    v.mode = vips[i].mode;
    v.vip_id = static_cast<uint16_t>(1 + i);
    v.hash_key = abi::HashKey{0xE2E, 0x7E57};
    if (i == 1) v.snat_addrs6 = {addr6("2001:db8:2::100")};
    if (i == 2) v.snat_addrs_be = {inet_addr("198.18.2.101")};
    for (size_t b = 0; b < topo.backends.size(); ++b) {
      cp::BackendSpec s{0, htons(80), static_cast<uint16_t>(1 + b + 100 * i), 1, abi::BackendState::Active};
      if (vips[i].ipv4_backends) {
        s.addr_be = inet_addr(topo.backends[b].ip.c_str());
      } else {
        s.family = abi::Family::Ipv6;
        s.addr6 = addr6(topo.backends[b].ip6);
      }
      v.backends.push_back(s);
    }
    spec.vips.push_back(v);
  }
  return spec;
}

class Ipv6E2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    std::string why;
    topo_ = Topology::create({3, TopologyOptions::Mode::Dpdk, 1, true}, &why);
    ASSERT_TRUE(topo_) << why;
    shm_ = std::make_unique<ShmNames>(*topo_);
    publisher_ = std::make_unique<TablesPublisher>(*shm_);
    if (std::string e = publisher_->publish(ipv6_tables(*topo_)); !e.empty()) GTEST_SKIP() << "the tables refuse IPv6 VIPs: " << e;
    dp_ = start_dataplane(*topo_, dataplane_toml(*topo_, *shm_, DataplaneOptions{}));
    bool ready = false;  // a data plane that refuses its config exits: no need to wait 20 s
    for (int s = 0; s < 20 && !ready && dp_->running(); ++s) ready = wait_dataplane_ready(shm_->status, 0, std::chrono::seconds(1));
    if (!ready) {
      std::string log = dp_->log();
      if (log.find("address6") != std::string::npos) {
        dp_.reset();  // it exited on its config: nothing to stop
        GTEST_SKIP() << "lb-dataplane's config does not take the ports' address6 yet (issue 15's config part):\n" << log;
      }
      FAIL() << "lb-dataplane did not come up:\n" << log;
    }
  }
  void TearDown() override {
    if (dp_) {
      EXPECT_EQ(dp_->stop(), 0) << "lb-dataplane did not shut down cleanly:\n" << dp_->log();
    }
  }
  // `n` requests over IPv6 from the client; how many each answer (the backend's name) got.
  std::map<std::string, int> spread(const std::string& vip, int n) {
    std::map<std::string, int> seen;
    for (int i = 0; i < n; ++i) {
      std::string out;
      int rc = topo_->exec(topo_->client_ns, "curl -6 -g -s --max-time 5 'http://[" + vip + "]/'", &out);
      ++seen[rc == 0 ? out : ""];
    }
    return seen;
  }

  std::unique_ptr<Topology> topo_;
  std::unique_ptr<ShmNames> shm_;
  std::unique_ptr<TablesPublisher> publisher_;
  std::unique_ptr<Process> dp_;
};

TEST_F(Ipv6E2E, CurlThroughNatFullNatAndNat64Vips) {
  for (const char* vip : {"2001:db8::10", "2001:db8::20", "2001:db8::40"}) {
    auto seen = spread(vip, 20);
    EXPECT_EQ(seen.count(""), 0u) << vip << ": " << seen[""] << " of 20 requests failed\n" << dp_->log();
    EXPECT_GE(seen.size(), 2u) << vip << ": all 20 connections went to one backend";
    for (const auto& [name, n] : seen) {
      EXPECT_TRUE(name.empty() || name == "b1\n" || name == "b2\n" || name == "b3\n") << vip << ": unexpected answer '" << name << "'";
    }
  }
  EXPECT_GE(status_counter(shm_->status, abi::WorkerCounter::NewConnections), 60u);
}

// The three VIPs as config text, appended to full_toml()'s (which has the IPv4 VIPs).
std::string ipv6_vips_toml(const Topology& topo) {
  std::string t;
  struct Vip {
    const char* name;
    const char* addr;
    const char* mode;
    const char* snat;
    bool ipv4_backends;
  } vips[] = {{"web6", "2001:db8::10", "nat", nullptr, false},
              {"web6-full", "2001:db8::20", "fullnat", "2001:db8:2::100", false},
              {"web6-to-v4", "2001:db8::40", "fullnat", "198.18.2.101", true}};
  for (const Vip& v : vips) {
    t += std::string("\n[[vip]]\nname = \"") + v.name + "\"\naddress = \"" + v.addr + "\"\nport = 80\nmode = \"" + v.mode + "\"\n";
    if (v.snat != nullptr) t += std::string("snat = [\"") + v.snat + "\"]\n";
    t += "[vip.health]\ntype = \"http\"\ninterval_ms = 300\ntimeout_ms = 200\nrise = 2\nfall = 2\n";
    for (const BackendHost& b : topo.backends) {
      t += "[[vip.backends]]\nname = \"" + b.name + "\"\naddress = \"" + (v.ipv4_backends ? b.ip : b.ip6) + "\"\nport = 80\n";
    }
  }
  return t;
}

class Ipv6ControlPlaneE2E : public ::testing::Test {
 protected:
  void TearDown() override {
    if (cp_) cp_->stop();
    if (dp_) {
      EXPECT_EQ(dp_->stop(), 0) << "lb-dataplane did not shut down cleanly:\n" << dp_->log();
    }
  }
  std::unique_ptr<Topology> topo_;
  std::unique_ptr<ShmNames> shm_;
  std::unique_ptr<Process> dp_, cp_;
};

TEST_F(Ipv6ControlPlaneE2E, CurlThroughIpv6VipsOfTheConfig) {
  if (std::string why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  std::string why;
  topo_ = Topology::create({3, TopologyOptions::Mode::Dpdk, 1, true}, &why);
  ASSERT_TRUE(topo_) << why;
  shm_ = std::make_unique<ShmNames>(*topo_);
  const std::string path = topo_->value("RUN_DIR") + "/lb.toml";
  const std::string config = full_toml(*topo_, *shm_, DataplaneOptions{}, ControlplaneOptions{}) + ipv6_vips_toml(*topo_);
  std::ofstream(path) << config;
  dp_ = start_dataplane(*topo_, config);
  bool ready = false;
  for (int s = 0; s < 20 && !ready && dp_->running(); ++s) ready = wait_dataplane_ready(shm_->status, 0, std::chrono::seconds(1));
  if (!ready && !dp_->running()) {
    dp_.reset();
    GTEST_SKIP() << "lb-dataplane refuses the IPv6 config (issue 15's config part not merged?):\n" << config;
  }
  ASSERT_TRUE(ready) << dp_->log();
  cp_ = start_controlplane(*topo_, path);
  if (!cp_->running()) {
    std::string log = cp_->log();
    cp_.reset();
    GTEST_SKIP() << "lb-controlplane refuses the IPv6 config (issue 15's config part not merged?):\n" << log;
  }
  bool healthy = wait_until([&] {
    LbctlResult r = lbctl(*topo_, "backend list");
    if (r.exit != 0 || !r.json.is_array() || r.json.size() != 15) return false;
    for (const auto& b : r.json) {
      if (b["health_reason"] != "HTTP 200") return false;
    }
    return true;
  }, std::chrono::seconds(15));
  ASSERT_TRUE(healthy) << "not every backend passed its check:\n" << lbctl(*topo_, "backend list", true).out << cp_->log();
  for (const char* vip : {"2001:db8::10", "2001:db8::20", "2001:db8::40"}) {
    int ok = 0;
    for (int i = 0; i < 10; ++i) {
      std::string out;
      int rc = topo_->exec(topo_->client_ns, std::string("curl -6 -g -s --max-time 5 'http://[") + vip + "]/'", &out);
      ok += rc == 0 && (out == "b1\n" || out == "b2\n" || out == "b3\n");
    }
    EXPECT_EQ(ok, 10) << vip << ": " << 10 - ok << " of 10 requests failed\n" << dp_->log();
  }
  // The connections just made, sampled from the IPv6 table (closed ones stay 10 s): IPv6
  // endpoints printed, a NAT64 flow's backend and SNAT address as IPv4.
  LbctlResult nat6 = lbctl(*topo_, "conn list --vip web6");
  ASSERT_EQ(nat6.exit, 0) << nat6.err;
  EXPECT_GE(nat6.json["matched"].get<int>(), 10) << nat6.out;
  ASSERT_FALSE(nat6.json["connections"].empty()) << nat6.out;
  EXPECT_EQ(nat6.json["connections"][0]["vip_address"], "[2001:db8::10]:80") << nat6.out;
  EXPECT_EQ(nat6.json["connections"][0]["client"].get<std::string>().rfind("[2001:db8:1::2]:", 0), 0u) << nat6.out;
  LbctlResult nat64 = lbctl(*topo_, "conn list --vip web6-to-v4 --limit 1");
  ASSERT_EQ(nat64.exit, 0) << nat64.err;
  ASSERT_EQ(nat64.json["connections"].size(), 1u) << nat64.out;
  EXPECT_EQ(nat64.json["connections"][0]["snat"].get<std::string>().rfind("198.18.2.101:", 0), 0u) << nat64.out;
  EXPECT_EQ(nat64.json["connections"][0]["backend"].get<std::string>().rfind("198.18.2.", 0), 0u) << nat64.out;
}

}  // namespace
}  // namespace fulcrum::test
