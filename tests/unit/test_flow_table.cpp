// Unit tests of the shared connection table: sizing, the owner's life cycle of an entry
// (alloc, publish, unpublish, free), load at full capacity, and a two-thread stress test
// of lock-free lookups against an owner that inserts and removes flows. The behaviour
// tests are typed: they run on the IPv4 table and on the IPv6 one (issue 15), whose keys
// are the IPv4 ones widened into 2001:db8::/96 (widen()) or random 128-bit addresses.
//
// The table leaves reclamation to its caller (rte_rcu_qsbr in the data plane). The stress
// test uses its own minimal quiescent-state scheme: the reader bumps a counter between
// lookups; the owner frees a removed entry only once that counter has moved past the value
// it read after unpublishing.
#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <cmath>

#include "dataplane/core/admission_queue.h"
#include "dataplane/core/flow_table.h"

namespace fulcrum::dp {
namespace {

// Zeroed, suitably aligned storage for one table (what the data plane maps from hugepages).
template <class Key = FlowKey>
struct Storage {
  using Table = BasicFlowTable<Key>;
  using Entry = typename Table::Entry;
  typename Table::Sizes sizes;
  std::unique_ptr<Entry[]> entries;
  std::unique_ptr<FlowBucket[]> buckets;
  Table table;

  Storage(uint32_t capacity, uint32_t partitions, uint64_t seed = 0x5EED)
      : sizes(Table::sizes_for(capacity, partitions)),
        entries(new Entry[sizes.entries]()),
        buckets(new FlowBucket[sizes.buckets]()),
        table(entries.get(), buckets.get(), sizes, partitions, seed) {}

  uint64_t overflow_total() const {
    uint64_t n = 0;
    for (uint32_t b = 0; b < sizes.buckets; ++b) n += buckets[b].overflow.load(std::memory_order_relaxed);
    return n;
  }
};

uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return htonl(uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d);
}

// An IPv4 address in 2001:db8::/96: IPv4 test keys carried over to the IPv6 table keep
// their structure (one VIP, clients of one prefix, sequential ports).
Addr6 widen(uint32_t addr_be) {
  Addr6 a{{0x20, 0x01, 0x0d, 0xb8}};
  std::memcpy(a.b + 12, &addr_be, 4);
  return a;
}
template <class Key>
Key widen(const FlowKey& k) {
  if constexpr (std::is_same_v<Key, FlowKey>) {
    return k;
  } else {
    return Key{widen(k.src_addr), widen(k.dst_addr), k.src_port, k.dst_port};
  }
}

template <class Key = FlowKey>
Key random_key(std::mt19937_64& rng) {
  if constexpr (std::is_same_v<Key, FlowKey>) {
    uint64_t r = rng();
    return FlowKey{static_cast<uint32_t>(r), static_cast<uint32_t>(r >> 32), static_cast<uint16_t>(rng()),
                   static_cast<uint16_t>(rng())};
  } else {
    Key k{};
    for (Addr6* a : {&k.src_addr, &k.dst_addr}) {
      uint64_t w[2] = {rng(), rng()};
      std::memcpy(a->b, w, 16);
    }
    k.src_port = static_cast<uint16_t>(rng());
    k.dst_port = static_cast<uint16_t>(rng());
    return k;
  }
}

template <class Key>
FlowRef find(const BasicFlowTable<Key>& t, const Key& k) { return t.lookup(k, t.hash(k)); }

std::string key_str(const FlowKey& k) {
  char buf[96];
  uint32_t s = ntohl(k.src_addr), d = ntohl(k.dst_addr);
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u:%u -> %u.%u.%u.%u:%u", s >> 24, (s >> 16) & 255, (s >> 8) & 255,
                s & 255, ntohs(k.src_port), d >> 24, (d >> 16) & 255, (d >> 8) & 255, d & 255, ntohs(k.dst_port));
  return buf;
}
std::string key_str(const FlowKey6& k) {
  char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, k.src_addr.b, s, sizeof s);
  inet_ntop(AF_INET6, k.dst_addr.b, d, sizeof d);
  return std::string("[") + s + "]:" + std::to_string(ntohs(k.src_port)) + " -> [" + d + "]:" +
         std::to_string(ntohs(k.dst_port));
}

// Allocates an entry of partition p, fills both keys and publishes it.
template <class Key>
uint32_t add_flow(BasicFlowTable<Key>& t, uint32_t p, const Key& fwd, const Key& rev, PublishResult* result = nullptr,
                  uint8_t state = initial_state(true)) {
  uint32_t e = t.alloc(p);
  if (e == FlowRef::kNone) return e;
  auto& c = t.entry(e);
  c.fwd = fwd;
  c.rev = rev;
  c.backend_id = 7;
  PublishResult r = t.publish(e, t.hash(fwd), t.hash(rev), state, 1000);
  if (result != nullptr) *result = r;
  return e;
}

const FlowKey kClientToVip{ip4(198, 18, 0, 10), ip4(198, 18, 1, 1), htons(40000), htons(80)};
const FlowKey kBackendToSnat{ip4(198, 18, 2, 11), ip4(198, 18, 2, 1), htons(8080), htons(1025)};

// ------------------------------------------------------------------ sizes

TEST(FlowTableSizes, EntriesRoundedToEvenPartitionsBucketsPowerOfTwo) {
  struct Case {
    uint32_t capacity, partitions, entries, buckets;
  };
  const Case cases[] = {
      {1000, 1, 1000, 512},  {1001, 1, 1002, 512},  {1000, 3, 1002, 512},   {7, 2, 8, 4},
      {1, 1, 2, 2},          {0, 1, 0, 2},          {5, 0, 6, 4},           {65536, 1, 65536, 32768},
      {65536, 3, 65538, 65536}, {100, 32, 128, 64}, {1u << 20, 31, 1048606, 1u << 20},
  };
  for (const Case& c : cases) {
    FlowTable::Sizes s = FlowTable::sizes_for(c.capacity, c.partitions);
    SCOPED_TRACE("capacity " + std::to_string(c.capacity) + ", partitions " + std::to_string(c.partitions));
    EXPECT_EQ(s.entries, c.entries);
    EXPECT_EQ(s.buckets, c.buckets);
    uint32_t parts = c.partitions == 0 ? 1 : c.partitions;
    EXPECT_EQ(s.entries % parts, 0u);
    EXPECT_EQ(s.entries / parts % 2, 0u) << "even per partition";
    EXPECT_GE(s.entries, c.capacity);
    EXPECT_EQ(s.buckets & (s.buckets - 1), 0u) << "power of two";
    EXPECT_GE(uint64_t{s.buckets} * 2, s.entries) << "a bucket per two entries at least";
    EXPECT_EQ(s.entry_bytes(), size_t{s.entries} * 32);
    EXPECT_EQ(s.bucket_bytes(), size_t{s.buckets} * 64);
  }
}

TEST(FlowTableSizes, SixtyFourBytesPerConnectionAtPowerOfTwoCapacity) {
  for (uint32_t capacity : {1u << 10, 1u << 16, 1u << 20, 1u << 24}) {
    for (uint32_t partitions : {1u, 2u, 4u, 16u, 32u}) {
      FlowTable::Sizes s = FlowTable::sizes_for(capacity, partitions);
      EXPECT_EQ(s.entry_bytes() + s.bucket_bytes(), size_t{64} * capacity)
          << "capacity " << capacity << ", partitions " << partitions;
    }
  }
  FlowTable::Sizes s = FlowTable::sizes_for(1u << 20, 2);
  EXPECT_EQ(s.entry_bytes() + s.bucket_bytes(), size_t{64} << 20);
  EXPECT_EQ(s.entry_bytes(), size_t{32} << 20);
}

// IPv6 (issue 15): 80-byte entries and the same index, 112 bytes per connection; the
// IPv4 table keeps its 64 (above).
TEST(FlowTableSizes, IpV6HundredTwelveBytesPerConnectionAtPowerOfTwoCapacity) {
  for (uint32_t capacity : {1u << 10, 1u << 16, 1u << 20}) {
    for (uint32_t partitions : {1u, 2u, 32u}) {
      FlowTable6::Sizes s = FlowTable6::sizes_for(capacity, partitions);
      EXPECT_EQ(s.entry_bytes(), size_t{80} * capacity);
      EXPECT_EQ(s.entry_bytes() + s.bucket_bytes(), size_t{112} * capacity)
          << "capacity " << capacity << ", partitions " << partitions;
    }
  }
  EXPECT_EQ(alignof(Conn6), 16u) << "no 80-byte entry straddles more than two cache lines";
}

// ------------------------------------------------------------------ single thread

// The behaviour tests, once per address family.
template <class Key>
class FlowTableFamily : public ::testing::Test {
 protected:
  const Key client_to_vip = widen<Key>(kClientToVip);
  const Key backend_to_snat = widen<Key>(kBackendToSnat);
};
struct FamilyName {
  template <class Key>
  static std::string GetName(int) { return std::is_same_v<Key, FlowKey> ? "ipv4" : "ipv6"; }
};
using KeyTypes = ::testing::Types<FlowKey, FlowKey6>;
TYPED_TEST_SUITE(FlowTableFamily, KeyTypes, FamilyName);

TYPED_TEST(FlowTableFamily, PublishMakesBothKeysFindableWithTheirDirection) {
  Storage<TypeParam> st(1024, 2);
  auto& t = st.table;
  const TypeParam& kClientToVip = this->client_to_vip;
  const TypeParam& kBackendToSnat = this->backend_to_snat;
  EXPECT_FALSE(find(t, kClientToVip).found());
  uint32_t free_before = t.free_count(1);
  PublishResult r;
  uint32_t e = add_flow(t, 1, kClientToVip, kBackendToSnat, &r);
  ASSERT_NE(e, FlowRef::kNone);
  ASSERT_EQ(r, PublishResult::Ok);
  EXPECT_EQ(t.partition_of(e), 1u);
  EXPECT_EQ(t.free_count(1), free_before - 1);
  EXPECT_EQ(t.in_use(1), 1u);
  EXPECT_EQ(t.in_use(0), 0u);

  FlowRef f = find(t, kClientToVip);
  ASSERT_TRUE(f.found());
  EXPECT_EQ(f.index, e);
  EXPECT_EQ(f.dir, Dir::FromClient);
  FlowRef b = find(t, kBackendToSnat);
  ASSERT_TRUE(b.found());
  EXPECT_EQ(b.index, e);
  EXPECT_EQ(b.dir, Dir::FromBackend);

  const auto& c = t.entry(e);
  EXPECT_EQ(c.state.load(), initial_state(true));
  EXPECT_EQ(c.last_seen.load(), 1000u);
  EXPECT_EQ(c.backend_id, 7);
  EXPECT_EQ(c.client_addr(), kClientToVip.src_addr);
  EXPECT_EQ(c.backend_addr(), kBackendToSnat.src_addr);
  EXPECT_EQ(c.snat_port(), kBackendToSnat.dst_port);
  uint64_t cand = t.candidate(t.hash(kClientToVip));
  ASSERT_NE(cand, 0u) << "a lone key sits in its home bucket";
  EXPECT_EQ(FlowTable::entry_of(cand), e);
  FlowRef via_candidate = t.lookup_from(kBackendToSnat, t.hash(kBackendToSnat), t.candidate(t.hash(kBackendToSnat)));
  EXPECT_EQ(via_candidate.index, e);
  EXPECT_EQ(via_candidate.dir, Dir::FromBackend);
  // A stale candidate (another key's slot) falls back to the full lookup.
  EXPECT_EQ(t.lookup_from(kBackendToSnat, t.hash(kBackendToSnat), cand).dir, Dir::FromBackend);

  // Keys differing in one field only are other flows.
  TypeParam other = kClientToVip;
  other.src_port = htons(40001);
  EXPECT_FALSE(find(t, other).found());
  other = kClientToVip;
  std::swap(other.src_addr, other.dst_addr);
  EXPECT_FALSE(find(t, other).found());
}

TYPED_TEST(FlowTableFamily, UnpublishHidesBothKeysAndFreeReturnsTheEntry) {
  Storage<TypeParam> st(1024, 2);
  auto& t = st.table;
  const TypeParam& kClientToVip = this->client_to_vip;
  const TypeParam& kBackendToSnat = this->backend_to_snat;
  const uint32_t free_before = t.free_count(0);
  uint32_t e = add_flow(t, 0, kClientToVip, kBackendToSnat);
  ASSERT_NE(e, FlowRef::kNone);
  t.unpublish(e);
  EXPECT_FALSE(find(t, kClientToVip).found());
  EXPECT_FALSE(find(t, kBackendToSnat).found());
  EXPECT_NE(t.entry(e).state.load() & conn_state::kDead, 0) << "readers holding it see it dead";
  EXPECT_EQ(t.in_use(0), 0u);
  EXPECT_EQ(t.free_count(0), free_before - 1) << "not free until the caller frees it";
  EXPECT_EQ(t.index_load(), 0.0);

  t.free(e);
  EXPECT_EQ(t.free_count(0), free_before);
  EXPECT_EQ(t.entry(e).flags, 0);
  // The entry is back in its own partition: the next alloc there hands it out again, and
  // it can carry a new flow on the same keys.
  uint32_t again = add_flow(t, 0, kClientToVip, kBackendToSnat);
  EXPECT_EQ(again, e);
  EXPECT_EQ(find(t, kBackendToSnat).index, e);
  EXPECT_EQ(t.free_count(1), t.partition_end(1) - t.partition_begin(1)) << "the other partition untouched";
}

TEST(FlowTable, FullPartitionRefusesAndOthersStillAllocate) {
  Storage st(64, 4);
  FlowTable& t = st.table;
  const uint32_t per = t.partition_end(2) - t.partition_begin(2);
  ASSERT_EQ(per, 16u);
  std::set<uint32_t> got;
  for (uint32_t i = 0; i < per; ++i) {
    uint32_t e = t.alloc(2);
    ASSERT_NE(e, FlowRef::kNone) << i;
    got.insert(e);
  }
  EXPECT_EQ(got.size(), per);
  EXPECT_EQ(t.alloc(2), FlowRef::kNone);
  EXPECT_EQ(t.alloc(2), FlowRef::kNone);
  EXPECT_EQ(t.free_count(2), 0u);
  EXPECT_NE(t.alloc(1), FlowRef::kNone);
  t.free(*got.begin());
  EXPECT_EQ(t.alloc(2), *got.begin());
}

TEST(FlowTable, PartitionsNeverHandOutEachOthersEntries) {
  Storage st(1000, 5);
  FlowTable& t = st.table;
  ASSERT_EQ(t.partitions(), 5u);
  std::vector<int> owner(t.capacity(), -1);
  for (uint32_t p = 0; p < 5; ++p) {
    EXPECT_EQ(t.partition_begin(p), p * t.capacity() / 5);
    for (uint32_t e; (e = t.alloc(p)) != FlowRef::kNone;) {
      ASSERT_LT(e, t.capacity());
      ASSERT_EQ(owner[e], -1) << "entry " << e << " handed out twice";
      ASSERT_GE(e, t.partition_begin(p));
      ASSERT_LT(e, t.partition_end(p));
      ASSERT_EQ(t.partition_of(e), p);
      owner[e] = static_cast<int>(p);
    }
  }
  for (uint32_t e = 0; e < t.capacity(); ++e) ASSERT_NE(owner[e], -1) << "entry " << e << " never handed out";
  // Freed entries go back where they belong, whoever's turn it is next.
  for (uint32_t e = 0; e < t.capacity(); e += 3) t.free(e);
  for (uint32_t p = 0; p < 5; ++p) {
    for (uint32_t e; (e = t.alloc(p)) != FlowRef::kNone;) ASSERT_EQ(t.partition_of(e), p);
  }
}

TYPED_TEST(FlowTableFamily, ReverseConflictLeavesNothingVisible) {
  Storage<TypeParam> st(1024, 2);
  auto& t = st.table;
  const TypeParam& kClientToVip = this->client_to_vip;
  const TypeParam& kBackendToSnat = this->backend_to_snat;
  const uint32_t e1 = add_flow(t, 0, kClientToVip, kBackendToSnat);
  ASSERT_NE(e1, FlowRef::kNone);

  // A second flow (another client port) whose reply key is the first flow's reply key:
  // e.g. the same backend behind two nat VIPs.
  TypeParam fwd2 = kClientToVip;
  fwd2.dst_addr = widen<TypeParam>(FlowKey{0, ip4(198, 18, 1, 2), 0, 0}).dst_addr;
  PublishResult r;
  uint32_t e2 = add_flow(t, 1, fwd2, kBackendToSnat, &r);
  ASSERT_NE(e2, FlowRef::kNone);
  EXPECT_EQ(r, PublishResult::ReverseConflict);
  EXPECT_FALSE(find(t, fwd2).found()) << "the refused flow's forward key must not be visible";
  EXPECT_EQ(find(t, kBackendToSnat).index, e1) << "the reply key still leads to the first flow";
  EXPECT_EQ(find(t, kBackendToSnat).dir, Dir::FromBackend);
  EXPECT_EQ(find(t, kClientToVip).index, e1);
  EXPECT_EQ(t.in_use(1), 0u);
  const uint32_t free1 = t.free_count(1);
  t.free(e2);
  EXPECT_EQ(t.free_count(1), free1 + 1);

  // A reply key equal to another flow's *forward* key conflicts too.
  TypeParam fwd3 = kClientToVip;
  fwd3.src_port = htons(40002);
  uint32_t e3 = add_flow(t, 1, fwd3, kClientToVip, &r);
  EXPECT_EQ(r, PublishResult::ReverseConflict);
  EXPECT_FALSE(find(t, fwd3).found());
  t.free(e3);
  EXPECT_NEAR(t.index_load(), 2.0 / (st.sizes.buckets * 7.0), 1e-12) << "only the first flow's two keys";
}

TYPED_TEST(FlowTableFamily, HashAndOwnerAreDeterministic) {
  Storage<TypeParam> a(4096, 4, 1234), b(4096, 4, 1234);
  std::mt19937_64 rng(42);
  uint32_t per_owner[4] = {};
  for (int i = 0; i < 4000; ++i) {
    TypeParam k = random_key<TypeParam>(rng);
    FlowHash h1 = a.table.hash(k), h2 = a.table.hash(k), h3 = b.table.hash(k);
    ASSERT_EQ(h1.bucket, h2.bucket);
    ASSERT_EQ(h1.bucket, h3.bucket);
    ASSERT_EQ(h1.sig, h3.sig);
    ASSERT_EQ(h1.alt, h3.alt);
    ASSERT_EQ(a.table.owner_of(h1), b.table.owner_of(h3)) << "two workers must agree on the owner";
    ASSERT_LT(a.table.owner_of(h1), 4u);
    ASSERT_LT(h1.bucket, a.sizes.buckets);
    ASSERT_LT(h1.alt, a.sizes.buckets);
    ASSERT_NE(h1.bucket, h1.alt);
    // The packet path hashes the words it loads from the header; same result.
    FlowHash hw;
    if constexpr (std::is_same_v<TypeParam, FlowKey>) {
      uint64_t addrs;
      uint32_t ports;
      std::memcpy(&addrs, &k, 8);
      std::memcpy(&ports, reinterpret_cast<const char*>(&k) + 8, 4);
      hw = a.table.hash_words(addrs, ports);
    } else {
      uint32_t ports;
      std::memcpy(&ports, &k.src_port, 4);
      hw = a.table.hash6(k.src_addr, k.dst_addr, ports);
    }
    ASSERT_EQ(hw.bucket, h1.bucket);
    ASSERT_EQ(hw.sig, h1.sig);
    ASSERT_EQ(hw.owner_bits, h1.owner_bits);
    ++per_owner[a.table.owner_of(h1)];
  }
  for (uint32_t n : per_owner) EXPECT_NEAR(n, 1000, 150) << "owners roughly balanced";
}

// ------------------------------------------------------------------ load

template <class Key>
struct Flow {
  Key fwd, rev;
  uint32_t index;
};

// Fills every free entry with a flow of fresh random keys. A refused publish (IndexFull)
// is counted and the entry reused for other keys, so the table still ends up full.
template <class Key>
std::vector<Flow<Key>> fill(BasicFlowTable<Key>& t, std::mt19937_64& rng, uint32_t* refused) {
  std::vector<Flow<Key>> flows;
  std::set<std::string> used;  // random keys: skip repeats
  auto fresh = [&] {
    for (;;) {
      Key k = random_key<Key>(rng);
      if (used.emplace(reinterpret_cast<const char*>(&k), sizeof k).second) return k;
    }
  };
  *refused = 0;
  for (uint32_t p = 0; p < t.partitions(); ++p) {
    for (uint32_t e; (e = t.alloc(p)) != FlowRef::kNone;) {
      auto& c = t.entry(e);
      c.fwd = fresh();
      c.rev = fresh();
      PublishResult r = t.publish(e, t.hash(c.fwd), t.hash(c.rev), initial_state(true), 1);
      if (r != PublishResult::Ok) {
        EXPECT_EQ(r, PublishResult::IndexFull);
        t.free(e);  // single-threaded: no reader to wait for
        if (++*refused > t.capacity() / 8) return flows;
        continue;
      }
      flows.push_back({c.fwd, c.rev, e});
    }
  }
  return flows;
}

template <class Key>
void expect_all_findable(const BasicFlowTable<Key>& t, const std::vector<Flow<Key>>& flows) {
  uint32_t missing = 0;
  for (const auto& f : flows) {
    FlowRef a = find(t, f.fwd), b = find(t, f.rev);
    if (a.index != f.index || a.dir != Dir::FromClient || b.index != f.index || b.dir != Dir::FromBackend) {
      if (++missing <= 5) ADD_FAILURE() << "flow " << key_str(f.fwd) << " at " << f.index << " not found right";
    }
  }
  EXPECT_EQ(missing, 0u);
}

template <class Key>
class FlowTableLoad : public ::testing::Test {};
TYPED_TEST_SUITE(FlowTableLoad, KeyTypes, FamilyName);

TYPED_TEST(FlowTableLoad, FullTableAllFindableThenEmptiedAndRefilled) {
  Storage<TypeParam> st(65536, 2);
  auto& t = st.table;
  ASSERT_EQ(t.capacity(), 65536u);
  std::mt19937_64 rng(65536);
  uint32_t refused = 0;
  auto flows = fill(t, rng, &refused);
  ASSERT_EQ(flows.size(), 65536u) << "filled to 100 %";
  EXPECT_EQ(t.in_use(0) + t.in_use(1), flows.size());
  expect_all_findable(t, flows);
  const double load = t.index_load();
  EXPECT_LE(load, 0.6);
  EXPECT_NEAR(load, 2.0 * flows.size() / (st.sizes.buckets * 7.0), 1e-9);
  EXPECT_GT(st.overflow_total(), 0u) << "at this load some keys live in their alternative bucket";
  std::printf("[          ] full: index load %.3f, %llu keys in their alternative bucket, %u flows refused "
              "on the way (see FillsToCapacity)\n",
              load, static_cast<unsigned long long>(st.overflow_total()), refused);

  // Keys never inserted are not found, at full load.
  std::mt19937_64 other(7);
  for (int i = 0; i < 20000; ++i) ASSERT_FALSE(find(t, random_key<TypeParam>(other)).found());

  for (const auto& f : flows) t.unpublish(f.index);
  for (const auto& f : flows) t.free(f.index);
  EXPECT_EQ(t.index_load(), 0.0);
  EXPECT_EQ(st.overflow_total(), 0u) << "every overflow count returned to zero: absent keys take the short path";
  EXPECT_EQ(t.in_use(0) + t.in_use(1), 0u);
  EXPECT_EQ(t.free_count(0) + t.free_count(1), 65536u);
  for (const auto& f : flows) {
    ASSERT_FALSE(find(t, f.fwd).found());
    ASSERT_FALSE(find(t, f.rev).found());
  }

  auto again = fill(t, rng, &refused);
  EXPECT_EQ(again.size(), 65536u);
  expect_all_findable(t, again);
  for (const auto& f : flows) ASSERT_FALSE(find(t, f.fwd).found()) << "an old flow came back";
  EXPECT_LE(t.index_load(), 0.6);
}

// The table is sized for its capacity ("64 bytes per connection, index at most 57 % full"),
// so every entry must be publishable. Two key sets: random tuples, and what a VIP sees
// (4096 clients of one /20 with sequential source ports; 16 backends; one SNAT address
// with sequential ports). The keyed hash must spread both alike.
// The hash is keyed: another seed places the same keys elsewhere (so nobody can precompute
// colliding tuples), and structured keys (one VIP, clients of one /20, sequential ports)
// fill the buckets as evenly as random ones would.
template <class Key>
class FlowTableHash : public ::testing::Test {};
TYPED_TEST_SUITE(FlowTableHash, KeyTypes, FamilyName);

TYPED_TEST(FlowTableHash, KeyedAndUniformOnStructuredKeys) {
  Storage<TypeParam> a(1u << 16, 4, 1), b(1u << 16, 4, 2);
  const uint32_t buckets = a.sizes.buckets;
  std::vector<uint32_t> load(buckets, 0);
  uint32_t same_bucket = 0, same_owner = 0;
  const uint32_t n = 200000;
  for (uint32_t i = 0; i < n; ++i) {
    TypeParam k = widen<TypeParam>(
        FlowKey{htonl(0x0A010000u + i % 4096), ip4(198, 18, 1, 1), htons(static_cast<uint16_t>(32768 + i / 4096)), htons(443)});
    FlowHash ha = a.table.hash(k), hb = b.table.hash(k);
    ++load[ha.bucket];
    same_bucket += ha.bucket == hb.bucket;
    same_owner += a.table.owner_of(ha) == b.table.owner_of(hb);
    ASSERT_NE(ha.alt, ha.bucket);
  }
  // Chi-square against uniform; buckets-1 degrees of freedom, mean buckets-1, sd sqrt(2(b-1)).
  double expected = double(n) / buckets, chi2 = 0;
  for (uint32_t l : load) chi2 += (l - expected) * (l - expected) / expected;
  double z = (chi2 - (buckets - 1)) / std::sqrt(2.0 * (buckets - 1));
  std::printf("[          ] %s: %u structured keys in %u buckets: chi-square z = %.2f; same bucket under two seeds %u, same owner (of 4) %u\n",
              FamilyName::GetName<TypeParam>(0).c_str(), n, buckets, z, same_bucket, same_owner);
  EXPECT_LT(std::abs(z), 5.0) << "bucket load is not uniform";
  EXPECT_LT(same_bucket, n / 1000) << "the seed must change where keys go";
  EXPECT_NEAR(double(same_owner) / n, 0.25, 0.02) << "owners must be independent of the seed's choice";
}

TYPED_TEST(FlowTableLoad, FillsToCapacity) {
  struct KeySet {
    const char* name;
    FlowKey (*fwd)(uint32_t);
    FlowKey (*rev)(uint32_t);
    uint32_t max_refused;
  };
  const KeySet sets[] = {
      {"random tuples",
       [](uint32_t i) {
         std::mt19937_64 g(2 * uint64_t{i} + 1);
         uint64_t r = g();
         return FlowKey{static_cast<uint32_t>(r), static_cast<uint32_t>(r >> 32), static_cast<uint16_t>(g()),
                        static_cast<uint16_t>(g())};
       },
       [](uint32_t i) {
         std::mt19937_64 g(2 * uint64_t{i} + 2);
         uint64_t r = g();
         return FlowKey{static_cast<uint32_t>(r), static_cast<uint32_t>(r >> 32), static_cast<uint16_t>(g()),
                        static_cast<uint16_t>(g())};
       },
       0},
      {"clients of a /20 to one VIP",
       [](uint32_t i) {
         return FlowKey{htonl(0x0A010000u + i % 4096), ip4(198, 18, 1, 1), htons(static_cast<uint16_t>(32768 + i / 4096)),
                        htons(443)};
       },
       [](uint32_t i) {
         return FlowKey{htonl(0xC6120201u + i % 16), htonl(0xC6120301u + i / 60000), htons(8443),
                        htons(static_cast<uint16_t>(1024 + i % 60000))};
       },
       0},
  };
  for (const KeySet& ks : sets) {
    SCOPED_TRACE(ks.name);
    Storage<TypeParam> st(65536, 1);
    auto& t = st.table;
    uint32_t refused = 0, first = 0;
    for (uint32_t i = 0; i < t.capacity(); ++i) {
      uint32_t e = t.alloc(0);
      ASSERT_NE(e, FlowRef::kNone);
      auto& c = t.entry(e);
      c.fwd = widen<TypeParam>(ks.fwd(i));
      c.rev = widen<TypeParam>(ks.rev(i));
      PublishResult r = t.publish(e, t.hash(c.fwd), t.hash(c.rev), initial_state(true), 1);
      if (r != PublishResult::Ok) {
        ASSERT_EQ(r, PublishResult::IndexFull) << "flow " << i;
        if (refused++ == 0) first = i;
        t.free(e);
      }
    }
    std::printf("[          ] %s, %s: %u of %u refused", FamilyName::GetName<TypeParam>(0).c_str(), ks.name, refused, t.capacity());
    if (refused != 0) std::printf(", the first at %.1f %% of capacity", 100.0 * first / t.capacity());
    std::printf("\n");
    EXPECT_LE(refused, ks.max_refused);
    if (refused != 0) {
      EXPECT_GE(first, t.capacity() / 100 * 95) << "refused well before the table was full";
    }
    EXPECT_LE(t.index_load(), 0.6);
  }
}

// Churn at full load: remove a random half, insert new flows, many times over. The
// overflow counts must track exactly (a leak would send every miss to the second bucket).
TYPED_TEST(FlowTableLoad, ChurnAtFullLoadKeepsOverflowCountsExact) {
  Storage<TypeParam> st(16384, 1);
  auto& t = st.table;
  std::mt19937_64 rng(99);
  uint32_t refused = 0;
  auto flows = fill(t, rng, &refused);
  ASSERT_EQ(flows.size(), t.capacity());
  for (int round = 0; round < 20; ++round) {
    std::shuffle(flows.begin(), flows.end(), rng);
    size_t keep = flows.size() / 2;
    for (size_t i = keep; i < flows.size(); ++i) t.unpublish(flows[i].index);
    for (size_t i = keep; i < flows.size(); ++i) t.free(flows[i].index);
    flows.resize(keep);
    auto added = fill(t, rng, &refused);
    flows.insert(flows.end(), added.begin(), added.end());
  }
  ASSERT_EQ(flows.size(), t.capacity());
  expect_all_findable(t, flows);
  // Count, independently, the keys stored outside their home bucket.
  uint64_t outside = 0;
  for (const auto& f : flows) {
    for (const TypeParam* k : {&f.fwd, &f.rev}) {
      FlowHash h = t.hash(*k);
      bool home = false;
      for (const auto& s : st.buckets[h.bucket].slots) {
        uint64_t v = s.load();
        if (v != 0 && static_cast<uint32_t>(v >> 32) == h.sig && ((static_cast<uint32_t>(v) - 1) >> 1) == f.index)
          home = true;
      }
      outside += !home;
    }
  }
  EXPECT_EQ(st.overflow_total(), outside);
  for (const auto& f : flows) t.unpublish(f.index);
  EXPECT_EQ(st.overflow_total(), 0u);
  EXPECT_EQ(t.index_load(), 0.0);
}

// ------------------------------------------------------------------ concurrency

// The flow with id i: keys unique per id, computable by both threads.
template <class Key>
Key fwd_of(uint32_t id) {
  return widen<Key>(FlowKey{htonl(0x0A000000u + id), ip4(198, 18, 1, 1), htons(static_cast<uint16_t>(1024 + id % 60000)),
                 htons(80)});
}
template <class Key>
Key rev_of(uint32_t id) {
  return widen<Key>(FlowKey{htonl(0xC6120200u + id % 200 + 1), htonl(0x0B000000u + id), htons(8080),
                            htons(static_cast<uint16_t>(1024 + id % 60000))});
}

template <class Key>
class FlowTableConcurrency : public ::testing::Test {};
TYPED_TEST_SUITE(FlowTableConcurrency, KeyTypes, FamilyName);

TYPED_TEST(FlowTableConcurrency, ReaderNeverGetsAnotherFlowsEntry) {
  using Key = TypeParam;
  auto fwd_of = [](uint32_t id) { return dp::fwd_of<Key>(id); };
  auto rev_of = [](uint32_t id) { return dp::rev_of<Key>(id); };
  constexpr uint32_t kMaxIds = 1u << 24;
  constexpr uint32_t kLive = 50000;
  constexpr auto kDuration = std::chrono::seconds(2);
  enum : uint8_t { kNever = 0, kLiveFlow = 1, kRemoving = 2, kRemoved = 3 };

  Storage<Key> st(131072, 1);
  auto& t = st.table;
  std::unique_ptr<std::atomic<uint8_t>[]> status(new std::atomic<uint8_t>[kMaxIds]());
  std::atomic<uint32_t> next_id{0};
  std::atomic<uint64_t> quiescent{0};  // bumped by the reader between lookups
  std::atomic<bool> stop{false};

  struct ReaderResult {
    uint64_t lookups = 0, found = 0, wrong_entry = 0, missed_live = 0, found_removed = 0;
    std::string first_error;
  } rr;

  std::thread reader([&] {
    std::mt19937 rng(1);
    while (!stop.load(std::memory_order_relaxed)) {
      uint32_t n = next_id.load(std::memory_order_acquire);
      if (n == 0) continue;
      for (int k = 0; k < 64; ++k) {
        // Recent ids: about half still live, the rest removed (some just now).
        uint32_t span = std::min<uint32_t>(n, 2 * kLive);
        uint32_t id = n - 1 - rng() % span;
        bool reply = rng() & 1;
        Key key = reply ? rev_of(id) : fwd_of(id);
        uint8_t before = status[id].load(std::memory_order_acquire);
        FlowRef ref = t.lookup(key, t.hash(key));
        uint8_t after = status[id].load(std::memory_order_acquire);
        ++rr.lookups;
        if (ref.found()) {
          ++rr.found;
          const auto& c = t.entry(ref.index);
          const Key& got = ref.dir == Dir::FromClient ? c.fwd : c.rev;
          bool ok = got == key && ref.dir == (reply ? Dir::FromBackend : Dir::FromClient);
          // Hold the entry a while, as a worker translating a packet does: until this
          // thread's next quiescent point it must keep holding this flow, removed or not.
          for (int hold = 0; hold < 32 && ok; ++hold) {
            std::atomic_signal_fence(std::memory_order_seq_cst);
            ok = c.fwd == fwd_of(id) && c.rev == rev_of(id);
          }
          if (!ok) {
            if (rr.wrong_entry++ == 0)
              rr.first_error = "asked " + key_str(key) + ", got entry " + std::to_string(ref.index) + " holding " +
                               key_str(c.fwd) + " / " + key_str(c.rev);
          }
          if (before == kRemoved) ++rr.found_removed;
        } else if (before == kLiveFlow && after == kLiveFlow) {
          if (rr.missed_live++ == 0) rr.first_error = "live flow " + std::to_string(id) + " not found";
        }
      }
      // Quiescent point: this thread holds no entry from here to its next lookup.
      quiescent.fetch_add(1, std::memory_order_seq_cst);
      std::atomic_thread_fence(std::memory_order_seq_cst);
    }
  });

  struct Live {
    uint32_t id, index;
  };
  struct Deferred {
    uint32_t index;
    uint64_t after;  // free once the reader's counter exceeds this
  };
  std::vector<Live> live;
  live.reserve(kLive + 1);
  std::deque<Deferred> deferred;
  std::mt19937 rng(2);
  uint64_t published = 0, removed = 0, publish_failures = 0, max_deferred = 0;
  uint32_t id = 0;
  const auto deadline = std::chrono::steady_clock::now() + kDuration;
  for (uint64_t step = 0; id < kMaxIds; ++step) {
    if ((step & 1023) == 0 && std::chrono::steady_clock::now() >= deadline) break;
    // Reclaim what the reader can no longer hold.
    uint64_t q = quiescent.load(std::memory_order_seq_cst);
    while (!deferred.empty() && deferred.front().after < q) {
      t.free(deferred.front().index);
      deferred.pop_front();
    }
    if (live.size() < kLive) {
      uint32_t e = t.alloc(0);
      if (e == FlowRef::kNone) {  // everything waits for the reader: let it run
        std::this_thread::yield();
        continue;
      }
      auto& c = t.entry(e);
      c.fwd = fwd_of(id);
      c.rev = rev_of(id);
      c.backend_id = static_cast<uint16_t>(id);
      PublishResult r = t.publish(e, t.hash(c.fwd), t.hash(c.rev), initial_state(true), id);
      if (r != PublishResult::Ok) {
        ++publish_failures;  // nothing visible, but a reader may have glimpsed the forward key
        deferred.push_back({e, quiescent.load(std::memory_order_seq_cst)});
      } else {
        status[id].store(kLiveFlow, std::memory_order_release);
        live.push_back({id, e});
        ++published;
      }
      next_id.store(++id, std::memory_order_release);
    }
    if (live.size() >= kLive || rng() % 4 == 0) {
      size_t pos = rng() % live.size();
      Live victim = live[pos];
      live[pos] = live.back();
      live.pop_back();
      status[victim.id].store(kRemoving, std::memory_order_release);
      t.unpublish(victim.index);
      status[victim.id].store(kRemoved, std::memory_order_release);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      deferred.push_back({victim.index, quiescent.load(std::memory_order_seq_cst)});
      ++removed;
      max_deferred = std::max<uint64_t>(max_deferred, deferred.size());
    }
  }
  stop = true;
  reader.join();

  EXPECT_EQ(rr.wrong_entry, 0u) << rr.first_error;
  EXPECT_EQ(rr.missed_live, 0u) << rr.first_error;
  EXPECT_EQ(rr.found_removed, 0u) << "a flow removed before the lookup began was found";
  EXPECT_GT(rr.lookups, 10000u);
  EXPECT_GT(rr.found, 0u);
  EXPECT_GT(removed, 10000u);
  EXPECT_EQ(t.in_use(0), live.size());
  std::printf("[          ] %llu lookups (%llu found) against %llu inserts and %llu removals; "
              "at most %llu entries awaiting a quiescent point; %llu publishes refused (IndexFull, see "
              "FillsToCapacity)\n",
              static_cast<unsigned long long>(rr.lookups), static_cast<unsigned long long>(rr.found),
              static_cast<unsigned long long>(published), static_cast<unsigned long long>(removed),
              static_cast<unsigned long long>(max_deferred), static_cast<unsigned long long>(publish_failures));
  this->RecordProperty("lookups", std::to_string(rr.lookups));

  // Drain: everything still live is findable, then the table empties completely.
  for (const Live& l : live) ASSERT_EQ(find(t, fwd_of(l.id)).index, l.index);
  for (const Live& l : live) t.unpublish(l.index);
  EXPECT_EQ(t.index_load(), 0.0);
  EXPECT_EQ(st.overflow_total(), 0u);
}

}  // namespace
}  // namespace fulcrum::dp

namespace fulcrum::dp {
namespace {

// The admission queue keeps handshakes in order; when full the oldest record goes, and a
// reused index is told apart by its tag.
TEST(AdmissionQueue, OrderWrapAndOverflow) {
  AdmissionQueue q(5);  // rounded up to 8
  EXPECT_EQ(q.capacity(), 8u);
  for (uint32_t i = 0; i < 8; ++i) q.push(i, 100 + i);
  EXPECT_EQ(q.size(), 8u);
  q.push(8, 108);  // full: record 0 is dropped
  EXPECT_EQ(q.size(), 8u);
  for (uint32_t i = 1; i <= 8; ++i) {
    ASSERT_FALSE(q.empty());
    EXPECT_EQ(q.front().index, i);
    EXPECT_EQ(q.front().tag, 100 + i);
    q.pop();
  }
  EXPECT_TRUE(q.empty());
  FlowKey a{1, 2, 3, 4}, b{1, 2, 5, 4};
  EXPECT_NE(AdmissionQueue::tag_of(a), AdmissionQueue::tag_of(b));
}

}  // namespace
}  // namespace fulcrum::dp
