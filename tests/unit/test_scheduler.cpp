// The schedulers' choices (dataplane/core/scheduler.h) without a data plane: each
// scheduler against what it promises, bounded-load Maglev against an independent oracle
// and for balance and disruption (like Maglev's own properties in test_maglev.cpp), and
// the connection attempts' memory of tried backends.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "controlplane/maglev/maglev.h"
#include "dataplane/core/retry_memory.h"
#include "dataplane/core/scheduler.h"

namespace fulcrum::dp::sched {
namespace {

constexpr abi::HashKey kKey{0x0123456789abcdefull, 0xfedcba9876543210ull};

// One VIP with its backends, Maglev table and load figures, as the data plane sees them.
class Vip {
 public:
  explicit Vip(std::vector<uint16_t> weights, abi::Scheduler s = abi::Scheduler::Maglev, uint32_t maglev_size = 4099)
      : live_(std::make_unique<abi::BackendLive[]>(abi::kMaxBackends)), vip_live_(std::make_unique<abi::VipLive[]>(abi::kMaxVips)),
        ws_(std::make_unique<WorkerState>()) {
    vip_.vip_id = 7;
    vip_.scheduler = static_cast<uint8_t>(s);
    vip_.balance_factor = 125;
    vip_.maglev_size = maglev_size;
    for (size_t i = 0; i < weights.size(); ++i) {
      abi::Backend b{};
      b.addr_be = htonl(0x0A000000u + static_cast<uint32_t>(i) + 1);
      b.port_be = htons(80);
      b.id = static_cast<uint16_t>(100 + i);
      b.weight = weights[i];
      b.state = static_cast<uint8_t>(abi::BackendState::Active);
      backends_.push_back(b);
    }
    rebuild();
  }
  // After changing states or weights: the control plane's new Maglev table.
  void rebuild() {
    std::vector<cp::MaglevBackend> in;
    for (const abi::Backend& b : backends_) {
      bool takes = b.state == static_cast<uint8_t>(abi::BackendState::Active) && b.weight > 0;
      in.push_back({b.addr_be, b.port_be, takes ? b.weight : 0u});
    }
    table_.assign(vip_.maglev_size, 0);
    ASSERT_EQ(cp::build_maglev(in, kKey, table_), "");
    vip_.backend_count = static_cast<uint32_t>(backends_.size());
  }
  VipView view() { return VipView{&vip_, backends_.data(), static_cast<uint32_t>(backends_.size()), table_.data(), vip_.maglev_size}; }

  // The scheduler's choice for flow hash h: an index, or -1. `full`: backends at a limit.
  Result choose(uint64_t h, const Tried& tried = {}, const std::vector<int>& full = {}) {
    VipView v = view();
    Loads loads{live_.get(), vip_live_.get()};
    Chooser c(v, h, loads, tried, *ws_);
    asked_.clear();
    return c.choose([&](const abi::Backend& b) {
      int i = static_cast<int>(&b - backends_.data());
      asked_.push_back(i);
      return std::find(full.begin(), full.end(), i) == full.end();
    });
  }
  int pick(uint64_t h) { return choose(h).index; }
  int maglev(uint64_t h) const { return table_[abi::maglev_slot(h, vip_.maglev_size)]; }

  // Load figures as the main lcore publishes them.
  void set_open(int i, int32_t n) { live_[backends_[i].id].active.store(n); }
  int32_t open(int i) const { return live_[backends_[i].id].active.load(); }
  void set_time(int i, uint32_t us) { live_[backends_[i].id].connect_ewma_us.store(us); }
  void set_ramp(int i, uint16_t permille) { live_[backends_[i].id].ramp_permille.store(permille); }
  void publish_totals() {
    int64_t total = 0;
    uint64_t w = 0;
    for (const abi::Backend& b : backends_) {
      if (b.state != static_cast<uint8_t>(abi::BackendState::Active) || b.weight == 0) continue;
      total += live_[b.id].active.load();
      uint16_t r = live_[b.id].ramp_permille.load();
      w += uint64_t{b.weight} * (r == 0 ? 1000 : r);
    }
    vip_live_[vip_.vip_id].active.store(total);
    vip_live_[vip_.vip_id].weight_permille.store(w);
  }

  abi::Vip vip_{};
  std::vector<abi::Backend> backends_;
  std::vector<uint16_t> table_;
  std::vector<int> asked_;
  std::unique_ptr<abi::BackendLive[]> live_;
  std::unique_ptr<abi::VipLive[]> vip_live_;
  std::unique_ptr<WorkerState> ws_;
};

std::vector<uint64_t> hashes(size_t n, uint32_t seed = 1) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> out(n);
  for (auto& h : out) h = rng();
  return out;
}

// ---------------------------------------------------------------- the candidate walk

TEST(Walk, DistinctCandidatesStartingWithTheMaglevChoiceCoveringTheVip) {
  Vip v({1, 1, 1, 1, 1, 1, 1, 1});
  int complete = 0;
  const int n = 2000;
  for (uint64_t h : hashes(n)) {
    VipView view = v.view();
    Walk w(view, h);
    std::vector<int> seen;
    for (int i; (i = w.next()) >= 0;) seen.push_back(i);
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen[0], v.maglev(h)) << "the first candidate is plain Maglev's choice";
    std::vector<int> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end()) << "candidates are distinct";
    EXPECT_GE(seen.size(), 6u);
    complete += seen.size() == 8;
  }
  // 64 probes almost always find all 8 (what they miss, the last resort's pass covers).
  EXPECT_GE(complete, n * 99 / 100);
}

// The second candidate is spread evenly: no backend is everyone's fallback.
TEST(Walk, SecondCandidatesAreEven) {
  Vip v({1, 1, 1, 1, 1});
  std::map<std::pair<int, int>, int> pairs;
  const int n = 50000;
  for (uint64_t h : hashes(n, 2)) {
    VipView view = v.view();
    Walk w(view, h);
    int a = w.next(), b = w.next();
    ++pairs[{a, b}];
  }
  // 20 ordered pairs, each about n/20.
  EXPECT_EQ(pairs.size(), 20u);
  for (const auto& [pair, count] : pairs) EXPECT_NEAR(count, n / 20, n / 20 * 0.15) << pair.first << "," << pair.second;
}

// ---------------------------------------------------------------- maglev

TEST(Maglev, ChoosesPlainMaglevAndPassesAFullBackendToTheNextCandidate) {
  Vip v({1, 1, 1, 1});
  for (uint64_t h : hashes(1000, 3)) {
    EXPECT_EQ(v.pick(h), v.maglev(h));
    VipView view = v.view();
    Walk w(view, h);
    int first = w.next(), second = w.next(), third = w.next();
    Result r = v.choose(h, {}, {first});
    EXPECT_EQ(r.index, second) << "IPVS ovf: the next candidate of the flow's walk";
    EXPECT_EQ(v.asked_, (std::vector<int>{first, second})) << "each backend asked once, in order";
    EXPECT_EQ(v.choose(h, {}, {first, second}).index, third);
  }
}

TEST(Maglev, TriedBackendsAreNeverChosenAgainAndOutcomesSayWhyNothingWasChosen) {
  Vip v({1, 1, 1});
  for (uint64_t h : hashes(300, 4)) {
    Tried t;
    t.add(v.backends_[v.maglev(h)].id);
    Result r = v.choose(h, t);
    ASSERT_EQ(r.outcome, Outcome::Chosen);
    EXPECT_NE(r.index, v.maglev(h));
    t.add(v.backends_[r.index].id);
    Result third = v.choose(h, t);
    ASSERT_EQ(third.outcome, Outcome::Chosen);
    t.add(v.backends_[third.index].id);
    EXPECT_EQ(v.choose(h, t).outcome, Outcome::AllTried) << "three backends, three tried";
    Tried two;
    two.add(v.backends_[0].id);
    EXPECT_EQ(v.choose(h, two, {1, 2}).outcome, Outcome::AllFull) << "untried ones full: full wins over tried";
  }
  for (auto& b : v.backends_) b.state = static_cast<uint8_t>(abi::BackendState::Down);
  v.rebuild();
  EXPECT_EQ(v.choose(42).outcome, Outcome::NoBackend);
}

TEST(Maglev, DrainedAndWeightZeroBackendsAreNeverChosenEvenAsLastResort) {
  Vip v({1, 0, 1});
  v.backends_[2].state = static_cast<uint8_t>(abi::BackendState::Draining);
  v.rebuild();
  for (uint64_t h : hashes(500, 5)) {
    EXPECT_EQ(v.pick(h), 0);
    EXPECT_EQ(v.choose(h, {}, {0}).outcome, Outcome::AllFull);
  }
}

// ---------------------------------------------------------------- maglev_bounded

// The oracle: bounded-load consistent hashing written from its definition over the same
// walk: the first backend (in the flow's probe order over the table: the Maglev slot, then
// the slots of splitmix64(h + k x golden ratio)) whose load is below ceil(c x (m + 1) x w / W),
// m the connections in the system.
uint64_t splitmix_final(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int oracle_bounded(const std::vector<uint16_t>& table, const std::vector<uint32_t>& weights, const std::vector<int64_t>& load,
                   uint64_t h, double c) {
  const auto m = static_cast<uint32_t>(table.size());
  int64_t total = 0;
  double w_total = 0;
  for (size_t i = 0; i < load.size(); ++i) {
    total += load[i];
    w_total += weights[i];
  }
  std::vector<bool> seen(weights.size(), false);
  for (uint64_t probe = 0; probe < 64; ++probe) {
    uint64_t x = probe == 0 ? h : splitmix_final(h + probe * 0x9E3779B97F4A7C15ull);
    int b = table[abi::maglev_slot(x, m)];
    if (seen[b]) continue;
    seen[b] = true;
    double cap = std::ceil(c * double(total + 1) * weights[b] / w_total - 1e-9);
    if (double(load[b]) < cap) return b;
  }
  return -2;  // not expected with these parameters
}

struct Assignment {
  std::vector<int> of_flow;
  std::vector<int64_t> load;
};

// Flows arrive one by one and stay (the worst case for balance: loads only grow).
Assignment assign(Vip& v, const std::vector<uint64_t>& flows) {
  Assignment a{{}, std::vector<int64_t>(v.backends_.size(), 0)};
  for (size_t i = 0; i < v.backends_.size(); ++i) v.set_open(static_cast<int>(i), 0);
  v.publish_totals();
  for (uint64_t h : flows) {
    int b = v.pick(h);
    a.of_flow.push_back(b);
    if (b < 0) continue;
    ++a.load[b];
    v.set_open(b, static_cast<int32_t>(a.load[b]));
    v.publish_totals();
  }
  return a;
}

TEST(MaglevBounded, SameChoicesAsAnIndependentOracle) {
  for (std::vector<uint16_t> weights : {std::vector<uint16_t>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, std::vector<uint16_t>{1, 2, 3, 4}}) {
    Vip v(weights, abi::Scheduler::MaglevBounded);
    std::vector<uint32_t> w(weights.begin(), weights.end());
    std::vector<int64_t> load(weights.size(), 0);
    for (uint64_t h : hashes(20000, 6)) {
      int want = oracle_bounded(v.table_, w, load, h, 1.25);
      int got = v.pick(h);
      ASSERT_EQ(got, want) << "flow " << h;
      ++load[got];
      v.set_open(got, static_cast<int32_t>(load[got]));
      v.publish_totals();
    }
  }
}

// Few connections per backend is where hashing is uneven (a mean of 50 per backend: plain
// Maglev's busiest backend has ~1.4x the mean) and where the bound earns its keep.
TEST(MaglevBounded, NoBackendAboveTheBoundAndWeightsRespected) {
  const size_t n = 500;
  for (uint16_t factor : {110, 125, 150}) {
    int64_t worst = 0, worst_plain = 0;
    int plain_above = 0;
    const double bound = std::ceil(factor / 100.0 * double(n) / 10);
    for (uint32_t seed = 0; seed < 20; ++seed) {
      Vip v({1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, abi::Scheduler::MaglevBounded);
      v.vip_.balance_factor = factor;
      Assignment a = assign(v, hashes(n, 100 + seed));
      int64_t max = *std::max_element(a.load.begin(), a.load.end());
      EXPECT_LE(double(max), bound) << "factor " << factor << ", seed " << seed;
      Vip plain({1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
      Assignment p = assign(plain, hashes(n, 100 + seed));
      int64_t max_plain = *std::max_element(p.load.begin(), p.load.end());
      worst = std::max(worst, max);
      worst_plain = std::max(worst_plain, max_plain);
      plain_above += double(max_plain) > bound;
    }
    std::printf("[          ] factor %u%%: busiest backend %lld (bound %.0f, mean %zu); plain Maglev %lld, above the bound "
                "in %d of 20 runs\n",
                factor, static_cast<long long>(worst), bound, n / 10, static_cast<long long>(worst_plain), plain_above);
    if (factor == 110) {
      EXPECT_GT(plain_above, 10) << "the case is one where the bound matters";
    }
  }
  Vip w({1, 2, 3, 4}, abi::Scheduler::MaglevBounded);
  Assignment a = assign(w, hashes(n, 8));
  for (int i = 0; i < 4; ++i) EXPECT_LE(double(a.load[i]), std::ceil(1.25 * double(n) * (i + 1) / 10.0)) << "backend " << i;
}

// Removing one of 10 backends: the flows it did not hold mostly stay where they were.
// Plain Maglev moves almost none of them; the bound moves some more (the removed backend's
// flows fill the others up to the bound and push flows on), and the figures say how many.
TEST(MaglevBounded, RemovingABackendMovesFewOtherFlows) {
  const size_t n = 500;
  for (uint16_t factor : {110, 125, 150}) {
    size_t others = 0, moved = 0, moved_plain = 0;
    for (uint32_t seed = 0; seed < 20; ++seed) {
      std::vector<uint64_t> flows = hashes(n, 200 + seed);
      auto run = [&](abi::Scheduler s, bool without) {
        Vip v({1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, s);
        v.vip_.balance_factor = factor;
        if (without) {
          v.backends_[3].state = static_cast<uint8_t>(abi::BackendState::Down);
          v.rebuild();
        }
        return assign(v, flows);
      };
      Assignment a = run(abi::Scheduler::MaglevBounded, false), b = run(abi::Scheduler::MaglevBounded, true);
      Assignment pa = run(abi::Scheduler::Maglev, false), pb = run(abi::Scheduler::Maglev, true);
      for (size_t i = 0; i < n; ++i) {
        if (a.of_flow[i] == 3) continue;
        ++others;
        moved += a.of_flow[i] != b.of_flow[i];
        moved_plain += pa.of_flow[i] != 3 && pa.of_flow[i] != pb.of_flow[i];
      }
      EXPECT_LE(double(*std::max_element(b.load.begin(), b.load.end())), std::ceil(factor / 100.0 * n / 9));
    }
    const double fraction = double(moved) / double(others);
    std::printf("[          ] factor %u%%: removing 1 of 10 backends moved %.1f %% of the other flows (plain Maglev: %.1f %%)\n",
                factor, 100 * fraction, 100.0 * double(moved_plain) / double(others));
    EXPECT_LT(fraction, 0.30) << "factor " << factor;
  }
}

// ---------------------------------------------------------------- round robin

TEST(RoundRobin, CyclesThroughTheBackendsSkippingThoseThatCannotTakeFlows) {
  Vip v({1, 5, 1, 1}, abi::Scheduler::RoundRobin);
  v.backends_[2].state = static_cast<uint8_t>(abi::BackendState::Down);
  v.rebuild();
  std::vector<int> seq;
  for (uint64_t h : hashes(9, 10)) seq.push_back(v.pick(h));
  EXPECT_EQ(seq, (std::vector<int>{0, 1, 3, 0, 1, 3, 0, 1, 3})) << "weights ignored, the down backend skipped";
  EXPECT_EQ(v.choose(1, {}, {0}).index, 1) << "a full backend passes to the next";
  EXPECT_EQ(v.choose(1, {}, {3}).index, 0) << "after 1: the down 2 and the full 3 are passed";
  EXPECT_EQ(v.choose(1, {}, {0, 1, 3}).outcome, Outcome::AllFull);
}

TEST(WeightedRoundRobin, SmoothSequenceAndExactProportions) {
  Vip v({5, 1, 1}, abi::Scheduler::WeightedRoundRobin);
  std::vector<int> seq;
  for (uint64_t h : hashes(7, 11)) seq.push_back(v.pick(h));
  // nginx's example for weights {5, 1, 1}: a a b a c a a.
  EXPECT_EQ(seq, (std::vector<int>{0, 0, 1, 0, 2, 0, 0}));
  Vip w({1, 2, 3}, abi::Scheduler::WeightedRoundRobin);
  int got[3] = {};
  for (uint64_t h : hashes(600, 12)) ++got[w.pick(h)];
  EXPECT_EQ(got[0], 100);
  EXPECT_EQ(got[1], 200);
  EXPECT_EQ(got[2], 300);
  // A full backend is left out of the round; the others share its turn.
  EXPECT_EQ(w.choose(1, {}, {2}).outcome, Outcome::Chosen);
  EXPECT_NE(w.choose(1, {}, {2}).index, 2);
}

// ---------------------------------------------------------------- least_conn

TEST(LeastConn, TheLessLoadedOfTwoCandidatesPerUnitOfWeightWins) {
  Vip v({1, 1, 1, 1}, abi::Scheduler::LeastConn);
  for (uint64_t h : hashes(2000, 13)) {
    VipView view = v.view();
    Walk w(view, h);
    int a = w.next(), b = w.next();
    for (int i = 0; i < 4; ++i) v.set_open(i, 10);
    v.set_open(a, 20);
    EXPECT_EQ(v.pick(h), b);
    v.set_open(a, 5);
    EXPECT_EQ(v.pick(h), a);
    v.set_open(a, 10);
    EXPECT_EQ(v.pick(h), a) << "a tie goes to the Maglev candidate";
  }
  // Weighted: (open + 1) / weight.
  Vip w({1, 3}, abi::Scheduler::LeastConn);
  w.set_open(0, 10);
  w.set_open(1, 29);
  EXPECT_EQ(w.pick(77), 1) << "30/3 = 10 < 11/1";
  w.set_open(1, 33);
  EXPECT_EQ(w.pick(77), 0) << "34/3 > 11/1";
}

// The acceptance case in miniature: one backend holding 200 connections gets none of the
// next 1,000, the others share them.
TEST(LeastConn, ABackendHoldingManyConnectionsGetsNoNewOnes) {
  Vip v({1, 1, 1}, abi::Scheduler::LeastConn);
  v.set_open(0, 200);
  int got[3] = {};
  for (uint64_t h : hashes(1000, 14)) {
    int b = v.pick(h);
    ++got[b];
    if (b != 0) v.set_open(b, v.open(b) + 1);
    if (b != 0 && v.open(b) > 3) v.set_open(b, 0);  // short connections that end
  }
  EXPECT_EQ(got[0], 0);
  EXPECT_GT(got[1], 300);
  EXPECT_GT(got[2], 300);
}

// ---------------------------------------------------------------- fastest

TEST(Fastest, ASlowBackendLosesAndLoadStillCounts) {
  Vip v({1, 1, 1}, abi::Scheduler::Fastest);
  v.set_time(0, 20000);  // 20 ms
  v.set_time(1, 100);
  v.set_time(2, 120);
  int got[3] = {};
  for (uint64_t h : hashes(1000, 15)) ++got[v.pick(h)];
  EXPECT_EQ(got[0], 0);
  // Equal times: the load decides, as least_conn.
  Vip e({1, 1}, abi::Scheduler::Fastest);
  e.set_time(0, 100);
  e.set_time(1, 100);
  e.set_open(0, 5);
  e.set_open(1, 1);
  EXPECT_EQ(e.pick(1), 1);
  // Slower but less loaded: (1 + 1) x (200 + 50) < (5 + 1) x (100 + 50).
  e.set_time(1, 200);
  EXPECT_EQ(e.pick(1), 1);
}

// ---------------------------------------------------------------- slow start

TEST(SlowStart, ARampingBackendGetsItsShareOfFlows) {
  Vip v({1, 1, 1, 1});
  v.vip_.slow_start_ms = 10000;
  const size_t n = 40000;
  std::vector<uint64_t> flows = hashes(n, 16);
  int full = 0;
  for (uint64_t h : flows) full += v.pick(h) == 2;
  v.set_ramp(2, 250);
  int ramped = 0, same_again = 0;
  for (uint64_t h : flows) {
    int b = v.pick(h);
    ramped += b == 2;
    same_again += b == v.pick(h);
  }
  EXPECT_NEAR(double(ramped) / full, 0.25, 0.03) << ramped << " of its " << full << " flows";
  EXPECT_EQ(same_again, static_cast<int>(n)) << "which flows it passes on depends only on the flow: the same on every node";
  // Weighing schedulers use weight x ramp.
  Vip w({1, 1}, abi::Scheduler::WeightedRoundRobin);
  w.vip_.slow_start_ms = 10000;
  w.set_ramp(1, 500);
  int got[2] = {};
  for (uint64_t h : hashes(300, 17)) ++got[w.pick(h)];
  EXPECT_EQ(got[0], 200);
  EXPECT_EQ(got[1], 100);
  // A lone ramping backend still takes every flow.
  Vip lone({1});
  lone.vip_.slow_start_ms = 10000;
  lone.set_ramp(0, 100);
  for (uint64_t h : hashes(100, 18)) EXPECT_EQ(lone.pick(h), 0);
}

// ---------------------------------------------------------------- tried backends

TEST(RetryMemory, RemembersTheTriesOfARetryingFlowForAWhile) {
  auto mem = std::make_unique<RetryMemory>();
  Tried t;
  t.add(5);
  t.add(9);
  mem->remember(0xABCD, 77, 1000, t, 9);
  Tried got;
  mem->recall(0xABCD, 77, 2000, got);
  EXPECT_EQ(got.n, 1);
  EXPECT_TRUE(got.has(5)) << "the current backend (9) is in the entry, not here";
  Tried other;
  mem->recall(0xABCE, 77, 2000, other);
  EXPECT_EQ(other.n, 0) << "another flow";
  Tried late;
  mem->recall(0xABCD, 77, 1000 + RetryMemory::kKeepMs + 1, late);
  EXPECT_EQ(late.n, 0) << "an attempt that is over";
}

}  // namespace
}  // namespace fulcrum::dp::sched
