// IPv6 pieces of the data plane's core (issue 15): the IPv6 route table and the neighbour
// table instantiated over IPv6 addresses (its IPv4 behaviour is in test_dp_core.cpp; these
// check what the address type changes: keys, the empty marker, deletion with 16-byte keys).
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <map>
#include <random>

#include "dataplane/core/neighbours.h"
#include "dataplane/core/routes6.h"

namespace fulcrum::dp {
namespace {

abi::Ip6 a6(const char* text) {
  abi::Ip6 a{};
  EXPECT_EQ(inet_pton(AF_INET6, text, a.b), 1) << text;
  return a;
}

TEST(Routes6, LongestPrefixFirstOnLinkAndDefault) {
  RouteTable6 t;
  ASSERT_TRUE(t.add(a6("::"), 0, 0, a6("2001:db8:1::fe")));            // default
  ASSERT_TRUE(t.add(a6("2001:db8:1::1"), 64, 0, abi::Ip6{}));          // on link (host bits ignored)
  ASSERT_TRUE(t.add(a6("2001:db8:2::"), 64, 1, abi::Ip6{}));
  ASSERT_TRUE(t.add(a6("2001:db8:99::"), 48, 1, a6("2001:db8:2::fe")));
  ASSERT_TRUE(t.add(a6("2001:db8:99:5::7"), 128, 0, a6("2001:db8:1::fd")));
  RouteResult6 r;
  ASSERT_TRUE(t.lookup(a6("2001:db8:2::11"), &r));
  EXPECT_EQ(r.port, 1);
  EXPECT_EQ(r.next_hop, a6("2001:db8:2::11")) << "on link: the destination itself";
  ASSERT_TRUE(t.lookup(a6("2001:db8:99:1::1"), &r));
  EXPECT_EQ(r.next_hop, a6("2001:db8:2::fe"));
  ASSERT_TRUE(t.lookup(a6("2001:db8:99:5::7"), &r));
  EXPECT_EQ(r.next_hop, a6("2001:db8:1::fd")) << "a /128 beats its /48";
  ASSERT_TRUE(t.lookup(a6("2001:db8:99:5::8"), &r));
  EXPECT_EQ(r.next_hop, a6("2001:db8:2::fe"));
  ASSERT_TRUE(t.lookup(a6("2a00::1"), &r));
  EXPECT_EQ(r.next_hop, a6("2001:db8:1::fe")) << "everything else: the default route";
  EXPECT_EQ(r.port, 0);
  EXPECT_FALSE(t.add(a6("::"), 129, 0, abi::Ip6{})) << "length beyond 128";
}

TEST(Routes6, PrefixesNotOnByteBoundariesAndAFullTable) {
  RouteTable6 t;
  ASSERT_TRUE(t.add(a6("2001:db8:8000::"), 33, 1, abi::Ip6{}));
  RouteResult6 r;
  EXPECT_TRUE(t.lookup(a6("2001:db8:8000::1"), &r));
  EXPECT_TRUE(t.lookup(a6("2001:db8:ffff::1"), &r));
  EXPECT_FALSE(t.lookup(a6("2001:db8:7fff::1"), &r)) << "bit 33 differs";
  EXPECT_FALSE(t.lookup(a6("2001:db9:8000::1"), &r));
  for (uint32_t k = 1; k < RouteTable6::kMaxRoutes; ++k) ASSERT_TRUE(t.add(a6("fd00::"), 16, 0, abi::Ip6{}));
  EXPECT_FALSE(t.add(a6("fd00::"), 16, 0, abi::Ip6{})) << "at most kMaxRoutes";
}

TEST(Neighbours6, SetLookupRemoveAndTheEmptyMarker) {
  NeighbourTable6 t;
  NeighView v;
  const abi::Ip6 a = a6("2001:db8:2::11"), b = a6("2001:db8:2::12");
  EXPECT_FALSE(t.lookup(a, &v));
  ASSERT_TRUE(t.set(a, NeighState::Reachable, MacBytes{2, 0, 0, 0, 0, 1}, 1, 10));
  ASSERT_TRUE(t.lookup(a, &v));
  EXPECT_EQ(v.mac, (MacBytes{2, 0, 0, 0, 0, 1}));
  EXPECT_FALSE(t.lookup(b, &v)) << "addresses differing in the last byte are different keys";
  EXPECT_FALSE(t.set(abi::Ip6{}, NeighState::Static, MacBytes{}, 0, 1)) << ":: is the empty-slot marker";
  ASSERT_TRUE(t.remove(a));
  EXPECT_FALSE(t.lookup(a, &v));
  EXPECT_EQ(t.size(), 0u);
}

// Random sets and removes against a std::map: backward-shift deletion with 16-byte keys
// never loses a key that is still there or finds one that is gone.
TEST(Neighbours6, ChurnMatchesAnOracle) {
  NeighbourTable6 t;
  std::map<std::array<uint8_t, 16>, uint8_t> oracle;
  std::mt19937 rng(7);
  auto addr = [&](uint32_t n) {
    abi::Ip6 a = a6("2001:db8:2::");
    a.b[12] = static_cast<uint8_t>(n >> 24);
    a.b[13] = static_cast<uint8_t>(n >> 16);
    a.b[14] = static_cast<uint8_t>(n >> 8);
    a.b[15] = static_cast<uint8_t>(n | 1);
    return a;
  };
  for (int step = 0; step < 50'000; ++step) {
    const abi::Ip6 a = addr(rng() % 12'000);
    std::array<uint8_t, 16> key;
    std::copy(a.b, a.b + 16, key.begin());
    if (rng() % 3 == 0) {
      EXPECT_EQ(t.remove(a), oracle.erase(key) == 1);
    } else if (oracle.size() < NeighbourTable6::kCapacity || oracle.count(key)) {
      const uint8_t port = static_cast<uint8_t>(rng() % 4);
      ASSERT_TRUE(t.set(a, NeighState::Reachable, MacBytes{}, port, step));
      oracle[key] = port;
    }
  }
  EXPECT_EQ(t.size(), oracle.size());
  for (const auto& [key, port] : oracle) {
    abi::Ip6 a;
    std::copy(key.begin(), key.end(), a.b);
    NeighView v;
    ASSERT_TRUE(t.lookup(a, &v));
    EXPECT_EQ(v.port, port);
  }
}

}  // namespace
}  // namespace fulcrum::dp
