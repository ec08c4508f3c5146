// Maglev properties: determinism, order independence, balance, weights, disruption, and an
// independent slow oracle that follows the paper's description literally.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "controlplane/maglev/maglev.h"

namespace fulcrum::cp {
namespace {

constexpr abi::HashKey kKey{0x0123456789abcdefull, 0xfedcba9876543210ull};

MaglevBackend backend(uint32_t n, uint32_t weight = 1) {
  // 10.x.y.z:8000+n, distinct for every n
  return MaglevBackend{htonl(0x0A000000u + n), htons(static_cast<uint16_t>(8000 + n % 1000)), weight};
}

std::vector<MaglevBackend> backends(uint32_t n, uint32_t weight = 1) {
  std::vector<MaglevBackend> out;
  for (uint32_t i = 0; i < n; ++i) out.push_back(backend(i, weight));
  return out;
}

std::vector<uint16_t> build(const std::vector<MaglevBackend>& bs, uint32_t size, abi::HashKey key = kKey) {
  std::vector<uint16_t> table(size);
  std::string err = build_maglev(bs, key, table);
  EXPECT_EQ(err, "");
  return table;
}

// Table contents as backend identities, so tables built from differently ordered inputs
// can be compared.
std::vector<uint64_t> identities(const std::vector<uint16_t>& table, const std::vector<MaglevBackend>& bs) {
  std::vector<uint64_t> out;
  for (uint16_t e : table) {
    out.push_back(e == abi::kNoBackend ? ~0ull : (uint64_t{bs[e].addr_be} << 16 | bs[e].port_be));
  }
  return out;
}

std::vector<uint32_t> slot_counts(const std::vector<uint16_t>& table, size_t n) {
  std::vector<uint32_t> counts(n, 0);
  for (uint16_t e : table) {
    if (e != abi::kNoBackend) ++counts.at(e);
  }
  return counts;
}

// ---- The oracle: maglev.h's description spelled out literally, with full permutation
// lists and exact quotas. Slow (O(N*M) memory) and deliberately written differently.
std::vector<uint16_t> oracle(const std::vector<MaglevBackend>& input, uint32_t m, abi::HashKey key) {
  struct B { uint32_t idx; uint64_t w; std::vector<uint32_t> perm; uint32_t quota; uint32_t got; uint64_t credit; };
  std::vector<B> bs;
  std::vector<uint32_t> idx(input.size());
  std::iota(idx.begin(), idx.end(), 0u);
  std::sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) {
    return std::make_pair(ntohl(input[a].addr_be), ntohs(input[a].port_be)) <
           std::make_pair(ntohl(input[b].addr_be), ntohs(input[b].port_be));
  });
  for (uint32_t i : idx) {
    if (input[i].weight == 0) continue;
    uint64_t h = abi::backend_hash(key, input[i].addr_be, input[i].port_be);
    uint64_t offset = (h & 0xFFFFFFFFu) % m, skip = (h >> 32) % (m - 1) + 1;
    B b{i, input[i].weight, {}, 0, 0, 0};
    for (uint64_t j = 0; j < m; ++j) b.perm.push_back(static_cast<uint32_t>((offset + j * skip) % m));
    bs.push_back(std::move(b));
  }
  std::vector<uint16_t> table(m, abi::kNoBackend);
  if (bs.empty()) return table;
  uint64_t total = 0, wmax = 0;
  for (auto& b : bs) { total += b.w; wmax = std::max(wmax, b.w); }
  // quotas: floor shares, then +1 by largest remainder, ties to the earlier backend
  uint32_t given = 0;
  for (auto& b : bs) { b.quota = static_cast<uint32_t>(uint64_t{m} * b.w / total); given += b.quota; }
  std::vector<size_t> by_rem(bs.size());
  std::iota(by_rem.begin(), by_rem.end(), size_t{0});
  std::stable_sort(by_rem.begin(), by_rem.end(), [&](size_t a, size_t b) {
    return uint64_t{m} * bs[a].w % total > uint64_t{m} * bs[b].w % total;
  });
  for (size_t k = 0; given < m; ++k, ++given) bs[by_rem[k]].quota++;
  // Phase 1, until 99.0 % of the slots are taken (checked between rounds): each turn
  // looks at exactly one permutation entry and takes it if free.
  std::vector<size_t> pos(bs.size(), 0);
  const uint32_t limit = static_cast<uint32_t>(uint64_t{m} * 990 / 1000);
  uint32_t filled = 0;
  auto unfinished = [&] { for (auto& b : bs) if (b.got < b.quota) return true; return false; };
  while (filled < limit && unfinished()) {
    for (size_t i = 0; i < bs.size(); ++i) {
      B& b = bs[i];
      if (b.got == b.quota) continue;
      b.credit += b.w;
      while (b.credit >= wmax && b.got < b.quota) {
        b.credit -= wmax;
        uint32_t c = b.perm[pos[i]++ % m];
        if (table[c] == abi::kNoBackend) { table[c] = static_cast<uint16_t>(b.idx); ++b.got; ++filled; }
      }
    }
  }
  // Phase 2: the paper's turns, walking ahead to the next free entry.
  while (filled < m) {
    for (size_t i = 0; i < bs.size(); ++i) {
      B& b = bs[i];
      if (b.got == b.quota) continue;
      b.credit += b.w;
      while (b.credit >= wmax && b.got < b.quota) {
        b.credit -= wmax;
        while (table[b.perm[pos[i] % m]] != abi::kNoBackend) ++pos[i];
        table[b.perm[pos[i]++ % m]] = static_cast<uint16_t>(b.idx);
        ++b.got;
        ++filled;
      }
    }
  }
  return table;
}

TEST(Maglev, PrimeCheck) {
  EXPECT_TRUE(is_prime(65537));
  EXPECT_TRUE(is_prime(655373));
  EXPECT_FALSE(is_prime(65536));
  EXPECT_FALSE(is_prime(1));
  EXPECT_EQ(check_maglev_size(65537), "");
  EXPECT_NE(check_maglev_size(65535).find("not a prime"), std::string::npos);
  EXPECT_NE(check_maglev_size(2).find("out of range"), std::string::npos);
  std::vector<uint16_t> table(100);
  EXPECT_NE(build_maglev(backends(3), kKey, table).find("not a prime"), std::string::npos);
}

TEST(Maglev, MatchesOracleOnSmallCases) {
  std::mt19937 rng(7);
  for (uint32_t m : {7u, 13u, 101u, 251u, 1009u}) {
    for (uint32_t n = 1; n <= 7 && n <= m; ++n) {
      for (int trial = 0; trial < 5; ++trial) {
        std::vector<MaglevBackend> bs;
        for (uint32_t i = 0; i < n; ++i) bs.push_back(backend(rng() % 5000, rng() % 4));  // weights 0..3
        std::sort(bs.begin(), bs.end(), [](auto& a, auto& b) { return a.addr_be < b.addr_be; });
        bs.erase(std::unique(bs.begin(), bs.end(), [](auto& a, auto& b) { return a.addr_be == b.addr_be; }), bs.end());
        std::shuffle(bs.begin(), bs.end(), rng);
        abi::HashKey key{rng(), rng()};
        EXPECT_EQ(build(bs, m, key), oracle(bs, m, key)) << "M=" << m << " N=" << bs.size();
      }
    }
  }
}

TEST(Maglev, DeterministicAndOrderIndependent) {
  auto bs = backends(50);
  auto first = build(bs, 65537);
  EXPECT_EQ(first, build(bs, 65537));
  std::mt19937 rng(1);
  for (int i = 0; i < 5; ++i) {
    auto shuffled = bs;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    EXPECT_EQ(identities(build(shuffled, 65537), shuffled), identities(first, bs));
  }
}

TEST(Maglev, SeedChangesTheTable) {
  auto bs = backends(10);
  auto a = build(bs, 65537, kKey);
  auto b = build(bs, 65537, abi::HashKey{1, 2});
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  EXPECT_LT(same, a.size() / 5);  // unrelated tables agree on ~1/N of slots
}

TEST(Maglev, EqualWeightsDifferByAtMostOneSlot) {
  for (uint32_t n : {1u, 2u, 3u, 10u, 100u, 1000u}) {
    auto bs = backends(n);
    auto counts = slot_counts(build(bs, 65537), n);
    auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
    EXPECT_LE(*hi - *lo, 1u) << "N=" << n;
  }
}

TEST(Maglev, WeightedSharesWithinOnePercent) {
  std::mt19937 rng(3);
  for (uint32_t n : {2u, 3u, 10u, 50u, 100u}) {
    const uint32_t m = 65537;  // >= 100 * N for every N here
    std::vector<MaglevBackend> bs;
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; ++i) {
      bs.push_back(backend(i, 1 + rng() % 10));
      total += bs.back().weight;
    }
    auto counts = slot_counts(build(bs, m), n);
    for (uint32_t i = 0; i < n; ++i) {
      double want = double(m) * bs[i].weight / double(total);
      EXPECT_LE(std::abs(counts[i] - want) / want, 0.01) << "N=" << n << " backend " << i;
      EXPECT_LT(std::abs(counts[i] - want), 1.0);  // exact apportionment
    }
  }
  // 1:2:3, the acceptance test's weights
  std::vector<MaglevBackend> bs{backend(1, 1), backend(2, 2), backend(3, 3)};
  auto counts = slot_counts(build(bs, 65537), 3);
  EXPECT_NEAR(counts[1] / double(counts[0]), 2.0, 0.001);
  EXPECT_NEAR(counts[2] / double(counts[0]), 3.0, 0.001);
}

TEST(Maglev, WeightZeroGetsNoSlots) {
  std::vector<MaglevBackend> bs{backend(1, 1), backend(2, 0), backend(3, 1)};
  auto counts = slot_counts(build(bs, 65537), 3);
  EXPECT_EQ(counts[1], 0u);
  EXPECT_EQ(counts[0] + counts[2], 65537u);
  std::vector<MaglevBackend> none{backend(1, 0)};
  auto table = build(none, 13);
  EXPECT_TRUE(std::all_of(table.begin(), table.end(), [](uint16_t e) { return e == abi::kNoBackend; }));
  EXPECT_EQ(build({}, 13), std::vector<uint16_t>(13, abi::kNoBackend));
}

TEST(Maglev, TooManyBackendsForTheTable) {
  std::vector<uint16_t> table(7);
  EXPECT_NE(build_maglev(backends(8), kKey, table).find("do not fit"), std::string::npos);
}

// Changing one backend of N moves at most 1.6/N of the slots, and of the slots that
// belonged to unaffected backends, the ones that move to another unaffected backend stay
// within that bound too.
struct Disruption { double changed; double collateral; };

Disruption compare(const std::vector<uint64_t>& before, const std::vector<uint64_t>& after, uint64_t affected) {
  size_t changed = 0, collateral = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i] == after[i]) continue;
    ++changed;
    if (before[i] != affected && after[i] != affected) ++collateral;
  }
  return {double(changed) / before.size(), double(collateral) / before.size()};
}

uint64_t identity(const MaglevBackend& b) { return uint64_t{b.addr_be} << 16 | b.port_be; }

TEST(Maglev, RemovingOneBackendIsMinimallyDisruptive) {
  for (uint32_t n : {2u, 3u, 5u, 10u, 20u, 50u, 100u}) {
    auto bs = backends(n);
    auto before = identities(build(bs, 65537), bs);
    for (uint32_t victim : {0u, n / 2, n - 1}) {
      auto fewer = bs;
      uint64_t gone = identity(fewer[victim]);
      fewer.erase(fewer.begin() + victim);
      auto after = identities(build(fewer, 65537), fewer);
      Disruption d = compare(before, after, gone);
      EXPECT_LE(d.changed, 1.6 / n) << "N=" << n << " removed " << victim;
      EXPECT_LE(d.collateral, 1.6 / n - 1.0 / n) << "N=" << n;
    }
  }
}

TEST(Maglev, AddingOneBackendIsMinimallyDisruptive) {
  for (uint32_t n : {2u, 3u, 5u, 10u, 20u, 50u, 100u}) {
    auto bs = backends(n - 1);
    auto before = identities(build(bs, 65537), bs);
    auto more = bs;
    more.push_back(backend(5000 + n));
    auto after = identities(build(more, 65537), more);
    Disruption d = compare(before, after, identity(more.back()));
    EXPECT_LE(d.changed, 1.6 / n) << "N=" << n;
    EXPECT_LE(d.collateral, 1.6 / n - 1.0 / n) << "N=" << n;
  }
}

}  // namespace
}  // namespace fulcrum::cp
