// Issue 15: lbctl with IPv6. `lbctl -j shm dump` reads the tables region directly and prints
// an IPv6 VIP, its SNAT pool and its backends from vip6[] / backend_addr6[] ("[v6]:port");
// backends are named on the command line as "[2001:db8::11]:80", "2001:db8::11" or
// "[2001:db8::11]", compared as values (the control plane's resolve() and `lbctl backend
// show` share config::parse_endpoint_ref), and a malformed one is refused.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <memory>

#include "config/loader/ip_addr.h"
#include "config/loader/net_parse.h"
#include "controlplane/lbctl/shm_json.h"
#include "controlplane/tables/table_builder.h"

namespace fulcrum {
namespace {

abi::Ip6 ip6(const char* s) { return *config::parse_ipv6(s); }

TEST(LbctlIpv6, ShmDumpPrintsIpv6VipsSnatAndBackends) {
  auto region = std::make_unique<abi::TablesRegion>();
  cp::TableSpec spec;
  cp::VipSpec v;
  v.family = abi::Family::Ipv6;
  v.addr6 = ip6("2001:db8::10");
  v.port_be = htons(443);
  v.vip_id = 2;
  v.mode = abi::ForwardMode::FullNat;
  v.maglev_size = 251;
  v.snat_addrs6 = {ip6("2001:db8:2::100")};
  cp::BackendSpec b;
  b.family = abi::Family::Ipv6;
  b.addr6 = ip6("2001:db8:2::11");
  b.port_be = htons(8443);
  b.id = 1;
  v.backends = {b};
  cp::VipSpec nat64 = v;
  nat64.vip_id = 3;
  nat64.port_be = htons(80);
  nat64.snat_addrs6.clear();
  nat64.snat_addrs_be = {inet_addr("198.18.2.100")};
  nat64.backends = {cp::BackendSpec{inet_addr("198.18.2.11"), htons(80), 2}};
  spec.vips = {v, nat64};
  ASSERT_EQ(cp::fill_slot(spec, region->slots[1]), "");
  region->slots[1].hdr.vip_count = 2;
  region->header.generation.store(1);
  nlohmann::json j = lbctl::tables_json(*region, false);
  ASSERT_EQ(j["vips"].size(), 2u) << j.dump(2);
  EXPECT_EQ(j["vips"][0]["vip"], "[2001:db8::10]:443");
  EXPECT_EQ(j["vips"][0]["snat"], nlohmann::json::array({"2001:db8:2::100"}));
  EXPECT_EQ(j["vips"][0]["backends"][0]["backend"], "[2001:db8:2::11]:8443");
  EXPECT_EQ(j["vips"][1]["vip"], "[2001:db8::10]:80");
  EXPECT_EQ(j["vips"][1]["snat"], nlohmann::json::array({"198.18.2.100"})) << "NAT64: an IPv4 pool";
  EXPECT_EQ(j["vips"][1]["backends"][0]["backend"], "198.18.2.11:80");
}

TEST(LbctlIpv6, BackendReferencesOfBothFamilies) {
  const config::IpAddr b6 = *config::parse_ip("2001:db8::11");
  for (const char* ref : {"[2001:db8::11]:80", "[2001:DB8:0::11]:80", "2001:db8::11", "[2001:db8::11]"}) {
    auto r = config::parse_endpoint_ref(ref);
    ASSERT_TRUE(r) << ref;
    EXPECT_TRUE(r->matches(b6, 80)) << ref;
  }
  EXPECT_FALSE(config::parse_endpoint_ref("[2001:db8::11]:80")->matches(b6, 81));
  EXPECT_FALSE(config::parse_endpoint_ref("2001:db8::12")->matches(b6, 80));
  auto v4 = config::parse_endpoint_ref("198.18.2.11:80");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->matches(config::IpAddr::from_v4(inet_addr("198.18.2.11")), 80));
  EXPECT_TRUE(config::parse_endpoint_ref("198.18.2.11")->matches(config::IpAddr::from_v4(inet_addr("198.18.2.11")), 8080));
  for (const char* bad : {"2001:db8::11:80x", "[2001:db8::11", "[2001:db8::g]:80", "2001:db8:::11", "web-1"}) {
    EXPECT_FALSE(config::parse_endpoint_ref(bad)) << bad;
  }
}

}  // namespace
}  // namespace fulcrum
