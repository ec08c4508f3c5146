// Choosing the backend of a new connection (docs/scheduling.md). Pure logic over the
// published tables and the load figures the main lcore publishes: no DPDK, so that every
// scheduler's choice is unit-tested against an independent oracle.
//
// Every scheduler starts from the flow's *candidate walk*: the flow's own order of
// preference over its VIP's Maglev table. The first candidate is the Maglev slot of the
// flow hash (what plain Maglev picks); the next ones are the slots of further hashes of the
// flow (the hash and the probe number through splitmix64's finaliser), so each backend
// comes up in proportion to its share of the table. (A probe in steps of a fixed stride,
// double hashing, would follow Maglev's own permutations, which are strides too, and could
// go round a backend for dozens of probes.) The walk depends only on the table and the
// flow, so it is the same on every node, and a backend's removal changes it only where
// that backend was.
//
//  * maglev          the first candidate that may take the flow.
//  * maglev_bounded  the first candidate whose load stays within balance_factor % of the
//                    mean load per weight (consistent hashing with bounded loads: HAProxy's
//                    hash-balance-factor, Mirrokni et al.).
//  * round_robin     the worker's cursor over the VIP's backends; weights ignored.
//  * weighted_round_robin  smooth WRR (nginx's), per worker.
//  * least_conn      the first two candidates: the one with fewer open connections per unit
//                    of weight wins (two random choices: counts a millisecond stale cannot
//                    herd every worker onto one backend, as a full argmin would).
//  * fastest         the same two, scored by SYN->SYN-ACK time (EWMA) x (open + 1) / weight.
//
// A candidate at its limits (max_connections, max_new_conn_rate: the caller's `admit`)
// passes the flow to the next candidate (IPVS's ovf); after the walk, one pass over the
// VIP's backends makes sure nothing that could take the flow was missed. Backends already
// tried by this connection attempt (connect_retries) are never chosen again. Slow start:
// a ramping backend has weight x ramp; where the choice does not weigh (maglev,
// maglev_bounded's walk, round_robin) it passes a share (1 - ramp) of its flows on.
#pragma once

#include <cstdint>

#include "dataplane/abi/flow_hash.h"
#include "dataplane/abi/status.h"
#include "dataplane/abi/tables.h"

namespace fulcrum::dp::sched {

// One VIP's backends and lookup table, bounds-checked against the slot.
struct VipView {
  const abi::Vip* vip = nullptr;
  const abi::Backend* backends = nullptr;  // the VIP's, backends[0, count)
  uint32_t count = 0;
  const uint16_t* maglev = nullptr;        // its Maglev table: indexes into backends
  uint32_t maglev_size = 0;
};

// False when the VIP's ranges do not fit the slot (never for a correct writer; a worker that
// stalled past the writer's timeout may read a torn slot and must not index outside it).
inline bool view_of(const abi::TableSlot& slot, const abi::Vip& vip, VipView* out) {
  if (vip.maglev_size == 0 || vip.maglev_size > abi::kMaglevPoolEntries ||
      vip.maglev_offset > abi::kMaglevPoolEntries - vip.maglev_size || vip.backend_count > abi::kMaxBackends ||
      vip.backend_first > abi::kMaxBackends - vip.backend_count) {
    return false;
  }
  *out = VipView{&vip, slot.backends + vip.backend_first, vip.backend_count, slot.maglev + vip.maglev_offset, vip.maglev_size};
  return true;
}

// The load figures (StatusRegion::backend_live by backend id, vip_live by VIP id).
struct Loads {
  const abi::BackendLive* backend = nullptr;
  const abi::VipLive* vip = nullptr;
};

// Backends this connection attempt has tried (its current one included).
struct Tried {
  static constexpr uint32_t kMax = abi::kMaxConnectRetries + 1;
  uint16_t ids[kMax] = {};
  uint8_t n = 0;
  bool has(uint16_t id) const {
    for (uint8_t k = 0; k < n; ++k) {
      if (ids[k] == id) return true;
    }
    return false;
  }
  void add(uint16_t id) {
    if (n < kMax && !has(id)) ids[n++] = id;
  }
};

// A worker's own scheduling state (round robin cursors, smooth WRR's current weights).
struct WorkerState {
  uint32_t rr_cursor[abi::kMaxVips] = {};
  int64_t wrr_current[abi::kMaxBackends] = {};
};

enum class Outcome : uint8_t {
  Chosen,
  NoBackend,  // no backend takes new flows (down, draining, weight 0)
  AllFull,    // every backend that could was at its limits
  AllTried,   // every backend that could has been tried by this attempt
};
struct Result {
  int index = -1;   // into VipView::backends when Chosen
  Outcome outcome = Outcome::NoBackend;
};

// A share x of a ramping backend's flows, by a hash of the flow and the backend: the same
// flows on every node, independent from one backend to the next.
inline uint32_t ramp_draw(uint64_t h, uint16_t id) {
  return static_cast<uint32_t>(((h ^ (uint64_t{id} * 0x9E3779B97F4A7C15ull)) * 0xD6E8FEB86659FD93ull) >> 32) % 1000;
}

// The flow's candidate walk (see the top of this file): distinct backend indexes.
class Walk {
 public:
  static constexpr uint32_t kMaxProbes = 64;
  static constexpr uint32_t kMaxDistinct = 16;

  Walk(const VipView& v, uint64_t h) : v_(v), h_(h) {}
  // The table slot of probe k: plain Maglev's first.
  static uint32_t slot(uint64_t h, uint32_t k, uint32_t size) {
    if (k == 0) return abi::maglev_slot(h, size);
    uint64_t x = h + k * 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return abi::maglev_slot(x ^ (x >> 31), size);
  }
  // The next backend not yet seen, or -1 when the probe budget is spent (or every backend
  // of the VIP was seen).
  int next() {
    while (probes_ < kMaxProbes && seen_n_ < kMaxDistinct && seen_n_ < v_.count) {
      uint16_t b = v_.maglev[slot(h_, probes_, v_.maglev_size)];
      ++probes_;
      if (b >= v_.count) continue;  // kNoBackend: no backend takes new flows
      bool seen = false;
      for (uint32_t k = 0; k < seen_n_; ++k) seen |= seen_[k] == b;
      if (seen) continue;
      seen_[seen_n_++] = b;
      return b;
    }
    return -1;
  }
  // The Maglev slot has no backend: the VIP has none that takes new flows.
  static bool empty(const VipView& v, uint64_t h) { return v.maglev[abi::maglev_slot(h, v.maglev_size)] >= v.count; }

 private:
  const VipView& v_;
  uint64_t h_;
  uint32_t probes_ = 0;
  uint32_t seen_n_ = 0;
  uint16_t seen_[kMaxDistinct];
};

// The scheduler proper. `admit(const abi::Backend&)` is asked once per backend at most, in
// order of preference; true: it takes the connection (the caller reserved its limits),
// false: it is at a limit (the caller counted the overflow).
class Chooser {
 public:
  Chooser(const VipView& v, uint64_t h, const Loads& loads, const Tried& tried, WorkerState& ws)
      : v_(v), h_(h), loads_(loads), tried_(tried), ws_(ws) {
    ramping_ = v.vip->slow_start_ms != 0 && loads.backend != nullptr;
  }

  template <class Admit>
  Result choose(Admit&& admit) {
    if (v_.count == 0 || Walk::empty(v_, h_)) return Result{};
    switch (static_cast<abi::Scheduler>(v_.vip->scheduler)) {
      case abi::Scheduler::MaglevBounded: return walk(admit, /*bounded=*/true);
      case abi::Scheduler::RoundRobin: return round_robin(admit);
      case abi::Scheduler::WeightedRoundRobin: return weighted_round_robin(admit);
      case abi::Scheduler::LeastConn: return two_choices(admit, /*by_time=*/false);
      case abi::Scheduler::Fastest: return two_choices(admit, /*by_time=*/true);
      case abi::Scheduler::Maglev:
      default: return walk(admit, /*bounded=*/false);
    }
  }

  // The figures a choice uses, for tests and the bench.
  int64_t open(const abi::Backend& b) const {
    if (loads_.backend == nullptr) return 0;
    int32_t a = loads_.backend[b.id].active.load(std::memory_order_relaxed);
    return a > 0 ? a : 0;
  }
  // weight x ramp (permille): the backend's share of the VIP's weight now.
  uint64_t weight_permille(const abi::Backend& b) const { return uint64_t{b.weight} * ramp(b); }
  uint32_t ramp(const abi::Backend& b) const {
    if (!ramping_) return 1000;
    uint16_t r = loads_.backend[b.id].ramp_permille.load(std::memory_order_relaxed);
    return r == 0 || r > 1000 ? 1000 : r;
  }

 private:
  static constexpr uint32_t kMaxRefused = 16;
  static constexpr uint64_t kTimeFloorUs = 50;  // an unmeasured (or decayed) backend's time

  // May take new flows at all, and not tried by this attempt.
  bool eligible(const abi::Backend& b) const {
    if (b.id >= abi::kMaxBackends || b.weight == 0 || b.state != static_cast<uint8_t>(abi::BackendState::Active)) return false;
    if (tried_.has(b.id)) {
      any_tried_ = true;
      return false;
    }
    return true;
  }
  // Slow start where the choice does not weigh: a ramping backend passes some flows on.
  bool passes_on(const abi::Backend& b) const { return ramping_ && ramp_draw(h_, b.id) >= ramp(b); }
  bool refused(uint16_t index) const {
    for (uint32_t k = 0; k < refused_n_; ++k) {
      if (refused_[k] == index) return true;
    }
    return false;
  }
  template <class Admit>
  bool try_admit(uint16_t index, Admit& admit) {
    if (refused(index)) return false;
    if (admit(v_.backends[index])) return true;
    any_full_ = true;
    if (refused_n_ < kMaxRefused) refused_[refused_n_++] = index;
    return false;
  }

  // maglev_bounded: the load bound with the new connection counted, HAProxy's
  // ceil(factor x (total + 1) x w / W); load < ceil(x) is load < x for integers.
  bool within_bound(const abi::Backend& b) const {
    if (loads_.vip == nullptr) return true;
    const abi::VipLive& vl = loads_.vip[v_.vip->vip_id % abi::kMaxVips];
    const uint64_t w_total = vl.weight_permille.load(std::memory_order_relaxed);
    if (w_total == 0) return true;  // not measured yet
    const int64_t total = vl.active.load(std::memory_order_relaxed);
    using u128 = unsigned __int128;
    const u128 lhs = u128(uint64_t(open(b))) * 100u * w_total;
    const u128 rhs = u128(uint64_t(total > 0 ? total : 0) + 1) * v_.vip->balance_factor * weight_permille(b);
    return lhs < rhs;
  }

  // maglev and maglev_bounded: the walk's candidates in order, first those that slow start
  // and the load bound let through, then (stale loads, every candidate ramping) any.
  template <class Admit>
  Result walk(Admit& admit, bool bounded) {
    Walk w(v_, h_);
    int candidates[Walk::kMaxDistinct];
    uint32_t n = 0;
    for (int i; (i = w.next()) >= 0;) {
      const abi::Backend& b = v_.backends[i];
      if (!eligible(b)) continue;
      candidates[n++] = i;
      if (passes_on(b) || (bounded && !within_bound(b))) continue;
      if (try_admit(static_cast<uint16_t>(i), admit)) return chosen(i);
    }
    for (uint32_t k = 0; k < n; ++k) {
      if (try_admit(static_cast<uint16_t>(candidates[k]), admit)) return chosen(candidates[k]);
    }
    return last_resort(admit, h_ % v_.count);
  }

  // The worker's cursor over the VIP's backends; a ramping backend's passed-on flows go to
  // the next one, and it is asked again only if nobody else can take the flow.
  template <class Admit>
  Result round_robin(Admit& admit) {
    uint32_t& cursor = ws_.rr_cursor[v_.vip->vip_id % abi::kMaxVips];
    for (int pass = 0; pass < 2; ++pass) {
      for (uint32_t k = 0; k < v_.count; ++k) {
        uint32_t i = (cursor + k) % v_.count;
        const abi::Backend& b = v_.backends[i];
        if (!eligible(b) || passes_on(b) != (pass == 1)) continue;
        if (try_admit(static_cast<uint16_t>(i), admit)) {
          cursor = i + 1;
          return chosen(static_cast<int>(i));
        }
      }
    }
    return nothing();
  }

  // nginx's smooth weighted round robin: every backend's current weight grows by its
  // weight, the largest wins and gives back the total. A backend at its limits is left out
  // and the round is run again without it.
  template <class Admit>
  Result weighted_round_robin(Admit& admit) {
    for (uint32_t round = 0; round < kMaxRefused; ++round) {
      int best = -1;
      int64_t total = 0;
      for (uint32_t i = 0; i < v_.count; ++i) {
        const abi::Backend& b = v_.backends[i];
        if (!eligible(b) || refused(static_cast<uint16_t>(i))) continue;
        const auto w = static_cast<int64_t>(weight_permille(b));
        int64_t& cur = ws_.wrr_current[b.id];
        cur += w;
        total += w;
        if (best < 0 || cur > ws_.wrr_current[v_.backends[best].id]) best = static_cast<int>(i);
      }
      if (best < 0) break;
      ws_.wrr_current[v_.backends[best].id] -= total;
      if (try_admit(static_cast<uint16_t>(best), admit)) return chosen(best);
    }
    return last_resort(admit, 0);
  }

  // Whether candidate a is the better of the two (ties: a, the Maglev one).
  bool better(const abi::Backend& a, const abi::Backend& b, bool by_time) const {
    using u128 = unsigned __int128;
    u128 sa = u128(uint64_t(open(a)) + 1) * weight_permille(b);
    u128 sb = u128(uint64_t(open(b)) + 1) * weight_permille(a);
    if (by_time) {
      sa *= time_us(a);
      sb *= time_us(b);
    }
    return sa <= sb;
  }
  uint64_t time_us(const abi::Backend& b) const {
    if (loads_.backend == nullptr) return kTimeFloorUs;
    return kTimeFloorUs + loads_.backend[b.id].connect_ewma_us.load(std::memory_order_relaxed);
  }

  template <class Admit>
  Result two_choices(Admit& admit, bool by_time) {
    Walk w(v_, h_);
    int first = -1, second = -1;
    for (int i; second < 0 && (i = w.next()) >= 0;) {
      if (!eligible(v_.backends[i])) continue;
      (first < 0 ? first : second) = i;
    }
    if (first >= 0 && second >= 0 && !better(v_.backends[first], v_.backends[second], by_time)) std::swap(first, second);
    if (first >= 0 && try_admit(static_cast<uint16_t>(first), admit)) return chosen(first);
    if (second >= 0 && try_admit(static_cast<uint16_t>(second), admit)) return chosen(second);
    // Both at their limits: the rest of the walk, in order.
    for (int i; (i = w.next()) >= 0;) {
      if (eligible(v_.backends[i]) && try_admit(static_cast<uint16_t>(i), admit)) return chosen(i);
    }
    return last_resort(admit, h_ % v_.count);
  }

  // After the walk: any backend that may take the flow, in the VIP's order from `start`
  // (slow start and the load bound no longer apply: a flow never fails for them).
  template <class Admit>
  Result last_resort(Admit& admit, uint64_t start) {
    for (uint32_t k = 0; k < v_.count; ++k) {
      uint32_t i = static_cast<uint32_t>((start + k) % v_.count);
      if (!eligible(v_.backends[i]) || refused(static_cast<uint16_t>(i))) continue;
      if (try_admit(static_cast<uint16_t>(i), admit)) return chosen(static_cast<int>(i));
    }
    return nothing();
  }
  Result nothing() const {
    Result r;
    r.outcome = any_full_ ? Outcome::AllFull : any_tried_ ? Outcome::AllTried : Outcome::NoBackend;
    return r;
  }
  static Result chosen(int i) { return Result{i, Outcome::Chosen}; }

  const VipView& v_;
  uint64_t h_;
  const Loads& loads_;
  const Tried& tried_;
  WorkerState& ws_;
  bool ramping_ = false;
  mutable bool any_tried_ = false;
  bool any_full_ = false;
  uint16_t refused_[kMaxRefused];
  uint32_t refused_n_ = 0;
};

}  // namespace fulcrum::dp::sched
