// Issue 15: what the control plane writes for IPv6 VIPs and backends, from the config's
// model to the tables: table_spec() fills families and IPv6 addresses, fill_slot() puts
// them where the data plane looks them up (find_vip6, find_nat_backend6, the sorted
// local_addrs6), refuses mixed families, and Maglev spreads IPv6 backends as evenly and
// moves as few slots as it does for IPv4.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "config/loader/net_parse.h"
#include "controlplane/maglev/maglev.h"
#include "controlplane/service/model.h"
#include "controlplane/tables/table_builder.h"

namespace fulcrum::cp {
namespace {

abi::Ip6 ip6(const char* s) { return *config::parse_ipv6(s); }

BackendSpec backend6(const char* addr, uint16_t id, uint16_t port = 80) {
  BackendSpec b;
  b.family = abi::Family::Ipv6;
  b.addr6 = ip6(addr);
  b.port_be = htons(port);
  b.id = id;
  return b;
}

VipSpec vip6(const char* addr, uint16_t id, abi::ForwardMode mode = abi::ForwardMode::Nat) {
  VipSpec v;
  v.family = abi::Family::Ipv6;
  v.addr6 = ip6(addr);
  v.port_be = htons(80);
  v.vip_id = id;
  v.mode = mode;
  v.maglev_size = 251;
  return v;
}

TEST(TableBuilderIpv6, Ipv6VipAndNatBackendsAreFoundByTheirIndexes) {
  auto slot = std::make_unique<abi::TableSlot>();
  TableSpec spec;
  VipSpec v = vip6("2001:db8::10", 3);
  v.backends = {backend6("2001:db8:2::11", 1), backend6("2001:db8:2::12", 2)};
  VipSpec v4;
  v4.addr_be = inet_addr("198.18.0.10");
  v4.port_be = htons(80);
  v4.vip_id = 4;
  v4.maglev_size = 251;
  v4.backends = {BackendSpec{inet_addr("198.18.2.11"), htons(80), 7}};
  spec.vips = {v, v4};
  ASSERT_EQ(fill_slot(spec, *slot), "");
  int i = abi::find_vip6(*slot, ip6("2001:db8::10"), htons(80), abi::kProtoTcp);
  ASSERT_GE(i, 0);
  EXPECT_EQ(slot->vips[i].vip_id, 3);
  EXPECT_EQ(slot->vips[i].family, static_cast<uint8_t>(abi::Family::Ipv6));
  EXPECT_EQ(slot->vips[i].backend_family, static_cast<uint8_t>(abi::Family::Ipv6));
  EXPECT_EQ(slot->vips[i].addr_be, 0u);
  EXPECT_LT(abi::find_vip6(*slot, ip6("2001:db8::10"), htons(81), abi::kProtoTcp), 0);
  EXPECT_GE(abi::find_vip(*slot, inet_addr("198.18.0.10"), htons(80), abi::kProtoTcp), 0) << "IPv4 beside it";
  int b = abi::find_nat_backend6(*slot, ip6("2001:db8:2::12"), htons(80));
  ASSERT_GE(b, 0);
  EXPECT_EQ(slot->backends[b].id, 2);
  EXPECT_EQ(slot->backend_addr6[b], ip6("2001:db8:2::12"));
  EXPECT_LT(abi::find_nat_backend6(*slot, ip6("2001:db8:2::13"), htons(80)), 0);
}

TEST(TableBuilderIpv6, LocalAddrs6AreSortedWithTheirKinds) {
  auto slot = std::make_unique<abi::TableSlot>();
  TableSpec spec;
  VipSpec a = vip6("2001:db8::ff", 1, abi::ForwardMode::FullNat);
  a.snat_addrs6 = {ip6("2001:db8:2::101"), ip6("2001:db8:2::100")};
  a.backends = {backend6("2001:db8:2::11", 1)};
  VipSpec b = vip6("2001:db8::1", 2);
  b.backends = {backend6("2001:db8:2::12", 2)};
  spec.vips = {a, b};
  ASSERT_EQ(fill_slot(spec, *slot), "");
  ASSERT_EQ(slot->hdr.local_addr6_count, 4u);
  for (uint32_t i = 1; i < 4; ++i) {
    EXPECT_LT(std::memcmp(slot->local_addrs6[i - 1].addr.b, slot->local_addrs6[i].addr.b, 16), 0) << i;
  }
  EXPECT_EQ(abi::local_addr6_kind(*slot, ip6("2001:db8::1")), abi::local_addr::kVip);
  EXPECT_EQ(abi::local_addr6_kind(*slot, ip6("2001:db8:2::100")), abi::local_addr::kSnat);
  EXPECT_EQ(abi::local_addr6_kind(*slot, ip6("2001:db8:2::11")), 0) << "a backend is not ours";
}

TEST(TableBuilderIpv6, Nat64VipHasAnIpv4PoolAndIpv4Backends) {
  auto slot = std::make_unique<abi::TableSlot>();
  TableSpec spec;
  VipSpec v = vip6("2001:db8::10", 1, abi::ForwardMode::FullNat);
  v.snat_addrs_be = {inet_addr("198.18.2.100")};
  v.backends = {BackendSpec{inet_addr("198.18.2.11"), htons(80), 1}};
  spec.vips = {v};
  ASSERT_EQ(fill_slot(spec, *slot), "");
  int i = abi::find_vip6(*slot, ip6("2001:db8::10"), htons(80), abi::kProtoTcp);
  ASSERT_GE(i, 0);
  EXPECT_EQ(slot->vips[i].backend_family, static_cast<uint8_t>(abi::Family::Ipv4));
  EXPECT_EQ(slot->vips[i].snat_addrs_be[0], inet_addr("198.18.2.100"));
  // Being set up: no backends yet, only its IPv4 pool (the config allows it).
  spec.vips[0].backends.clear();
  EXPECT_EQ(fill_slot(spec, *slot), "");
}

TEST(TableBuilderIpv6, MixedFamiliesAreRefused) {
  auto slot = std::make_unique<abi::TableSlot>();
  auto refused = [&](VipSpec v) {
    TableSpec spec;
    spec.vips = {std::move(v)};
    return fill_slot(spec, *slot);
  };
  VipSpec mixed = vip6("2001:db8::10", 1);
  mixed.backends = {backend6("2001:db8:2::11", 1), BackendSpec{inet_addr("198.18.2.11"), htons(80), 2}};
  EXPECT_EQ(refused(mixed), "VIP 1 mixes IPv4 and IPv6 backends");
  VipSpec v4_to_v6;
  v4_to_v6.addr_be = inet_addr("198.18.0.10");
  v4_to_v6.port_be = htons(80);
  v4_to_v6.maglev_size = 251;
  v4_to_v6.backends = {backend6("2001:db8:2::11", 1)};
  EXPECT_EQ(refused(v4_to_v6), "VIP 0: an IPv4 VIP cannot have IPv6 backends");
  VipSpec nat64_in_nat = vip6("2001:db8::10", 1);
  nat64_in_nat.backends = {BackendSpec{inet_addr("198.18.2.11"), htons(80), 1}};
  EXPECT_EQ(refused(nat64_in_nat), "VIP 1: an IPv6 VIP with IPv4 backends (NAT64) needs fullnat");
  VipSpec wrong_snat = vip6("2001:db8::10", 1, abi::ForwardMode::FullNat);
  wrong_snat.backends = {backend6("2001:db8:2::11", 1)};
  wrong_snat.snat_addrs_be = {inet_addr("198.18.2.100")};
  EXPECT_EQ(refused(wrong_snat), "VIP 1: its SNAT addresses must be of its backends' family");
}

// From the config's model: table_spec() carries families, addresses and SNAT pools.
TEST(TableBuilderIpv6, TableSpecFromTheModel) {
  VipRt v;
  v.cfg.addr = config::IpAddr::from_v6(ip6("2001:db8::10"));
  v.cfg.port = 443;
  v.cfg.mode = config::ForwardMode::FullNat;
  v.cfg.snat = {config::IpAddr::from_v6(ip6("2001:db8:2::100"))};
  v.id = 5;
  BackendRt b;
  b.cfg.addr = config::IpAddr::from_v6(ip6("2001:db8:2::11"));
  b.cfg.port = 8443;
  b.id = 9;
  v.backends = {b};
  VipRt nat64 = v;
  nat64.id = 6;
  nat64.cfg.port = 80;
  nat64.cfg.snat = {config::IpAddr::from_v4(inet_addr("198.18.2.100"))};
  nat64.backends[0].cfg.addr = config::IpAddr::from_v4(inet_addr("198.18.2.11"));
  nat64.backends[0].id = 10;
  TableSpec spec = table_spec({v, nat64});
  ASSERT_EQ(spec.vips.size(), 2u);
  const VipSpec& s = spec.vips[0];
  EXPECT_EQ(s.family, abi::Family::Ipv6);
  EXPECT_EQ(s.addr6, ip6("2001:db8::10"));
  EXPECT_EQ(s.addr_be, 0u);
  EXPECT_EQ(s.snat_addrs6, std::vector<abi::Ip6>{ip6("2001:db8:2::100")});
  EXPECT_TRUE(s.snat_addrs_be.empty());
  EXPECT_EQ(s.backends[0].family, abi::Family::Ipv6);
  EXPECT_EQ(s.backends[0].addr6, ip6("2001:db8:2::11"));
  EXPECT_EQ(s.backends[0].port_be, htons(8443));
  EXPECT_EQ(spec.vips[1].backends[0].family, abi::Family::Ipv4);
  EXPECT_EQ(spec.vips[1].snat_addrs_be, std::vector<uint32_t>{inet_addr("198.18.2.100")});
  auto slot = std::make_unique<abi::TableSlot>();
  EXPECT_EQ(fill_slot(spec, *slot), "");
  // same_tables() sees an IPv6 address change (its IPv4 fields are all 0).
  TableSpec moved = table_spec({v, nat64});
  moved.vips[0].backends[0].addr6 = ip6("2001:db8:2::12");
  EXPECT_FALSE(same_tables(spec, moved));
  EXPECT_TRUE(same_tables(spec, table_spec({v, nat64})));
}

// ------------------------------------------------------------------ Maglev over IPv6

constexpr abi::HashKey kKey{0x0123456789abcdefull, 0xfedcba9876543210ull};

MaglevBackend mb6(uint32_t i) {
  MaglevBackend b;
  b.family = abi::Family::Ipv6;
  b.addr6 = ip6("2001:db8:2::");
  b.addr6.b[12] = static_cast<uint8_t>(i >> 24);
  b.addr6.b[13] = static_cast<uint8_t>(i >> 16);
  b.addr6.b[14] = static_cast<uint8_t>(i >> 8);
  b.addr6.b[15] = static_cast<uint8_t>(i);
  b.port_be = htons(80);
  b.weight = 1;
  return b;
}

std::vector<MaglevBackend> backends6(uint32_t n) {
  std::vector<MaglevBackend> out;
  for (uint32_t i = 1; i <= n; ++i) out.push_back(mb6(i));
  return out;
}

// The table as backend identities (the address's low 32 bits), comparable across sets.
std::vector<uint32_t> identities(const std::vector<MaglevBackend>& bs, uint32_t m) {
  std::vector<uint16_t> table(m);
  EXPECT_EQ(build_maglev(bs, kKey, std::span<uint16_t>(table)), "");
  std::vector<uint32_t> out(m);
  for (uint32_t s = 0; s < m; ++s) {
    const abi::Ip6& a = bs[table[s]].addr6;
    out[s] = uint32_t{a.b[12]} << 24 | uint32_t{a.b[13]} << 16 | uint32_t{a.b[14]} << 8 | a.b[15];
  }
  return out;
}

TEST(MaglevIpv6, EqualWeightsDifferByAtMostOneSlot) {
  for (uint32_t n : {3u, 10u, 100u}) {
    std::map<uint32_t, uint32_t> count;
    for (uint32_t id : identities(backends6(n), 65537)) ++count[id];
    ASSERT_EQ(count.size(), n);
    auto [lo, hi] = std::minmax_element(count.begin(), count.end(), [](auto& a, auto& b) { return a.second < b.second; });
    EXPECT_LE(hi->second - lo->second, 1u) << "N=" << n;
  }
}

TEST(MaglevIpv6, OrderIndependentAndKeyedByTheFullAddress) {
  auto bs = backends6(20);
  auto reversed = bs;
  std::reverse(reversed.begin(), reversed.end());
  EXPECT_EQ(identities(bs, 4099), identities(reversed, 4099));
  // Same low 32 bits, another /96: another permutation, another table.
  auto other = bs;
  for (MaglevBackend& b : other) b.addr6.b[5] = 0x77;
  EXPECT_NE(identities(bs, 4099), identities(other, 4099));
}

TEST(MaglevIpv6, RemovingOrAddingOneBackendIsMinimallyDisruptive) {
  for (uint32_t n : {5u, 20u, 100u}) {
    auto bs = backends6(n);
    auto before = identities(bs, 65537);
    auto fewer = bs;
    const uint32_t gone = n / 2 + 1;
    fewer.erase(fewer.begin() + n / 2);
    auto after = identities(fewer, 65537);
    size_t changed = 0, collateral = 0;
    for (size_t s = 0; s < before.size(); ++s) {
      if (before[s] == after[s]) continue;
      ++changed;
      collateral += before[s] != gone;
    }
    EXPECT_LE(double(changed) / before.size(), 1.6 / n) << "N=" << n;
    EXPECT_LE(double(collateral) / before.size(), 0.6 / n) << "N=" << n;
    auto more = bs;
    more.push_back(mb6(5000));
    auto grown = identities(more, 65537);
    changed = 0;
    for (size_t s = 0; s < before.size(); ++s) changed += before[s] != grown[s];
    EXPECT_LE(double(changed) / before.size(), 1.6 / (n + 1)) << "N=" << n;
  }
}

}  // namespace
}  // namespace fulcrum::cp
