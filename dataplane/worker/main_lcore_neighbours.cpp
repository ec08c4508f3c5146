// The main lcore's neighbour policy: retries, aging, pins, forgetting. See main_lcore.h for
// the rules; the table itself (core/neighbours.h) only stores and evicts.
//
// Why forget at all: a neighbour table that never forgets is a resource anyone on a
// connected subnet can exhaust (spoofed sources make us ask for addresses nobody owns,
// each asked again forever), after which a newly added backend can never be resolved.
// What the configuration needs is pinned and kept; everything else must earn its place by
// answering, and loses it when it stops.
#include <rte_mbuf.h>

#include <algorithm>

#include "dataplane/worker/main_lcore.h"

namespace fulcrum::dp {

using abi::DropReason;
using abi::WorkerCounter;

void MainLcore::forget(uint32_t addr_be) {
  fail_held(addr_be);
  if (Resolving* r = resolving(addr_be)) *r = Resolving{};
  if (shared_.neighbours.remove(addr_be)) count(WorkerCounter::NeighboursExpired);
}

// A resolution ran out of tries. A pinned neighbour confirmed recently enough stays usable
// (re-probes may be lost in a flood; its traffic keeps flowing); anything else fails.
void MainLcore::finish_resolution(Resolving& r, uint64_t now_ms) {
  const Resolving done = r;
  const uint32_t addr = r.addr_be;
  r = Resolving{};
  NeighView v;
  NeighMeta* meta = shared_.neighbours.meta(addr);
  if (done.has_candidate && done.candidate_heard >= 2 && meta != nullptr) {
    // The MAC we had never answered; another did, for all that time: the address moved.
    shared_.neighbours.set(addr, NeighState::Reachable, done.candidate, done.candidate_port, now_ms);
    meta->confirmed_ms = now_ms;
    return;
  }
  if (meta != nullptr && shared_.neighbours.lookup(addr, &v) && v.state == NeighState::Stale && meta->pinned &&
      now_ms - meta->confirmed_ms < kStaleUsableMs) {
    return;
  }
  // Failed: pinned ones are asked again every kFailedRetryMs, the rest forgotten after
  // kFailedForgetMs (a short negative cache against asking again at once).
  if (meta != nullptr) shared_.neighbours.set_state(addr, NeighState::Failed, now_ms);
  fail_held(addr);
}

void MainLcore::tick(uint64_t now_ms, MainOutput& out) {
  refresh_view();
  for (Resolving& r : resolving_) {
    if (r.addr_be == 0 || now_ms - r.last_request_ms < kRetryMs) continue;
    if (r.tries >= kTries) {
      finish_resolution(r, now_ms);
      continue;
    }
    if (request(r.addr_be, r.port, out)) ++r.tries;
    r.last_request_ms = now_ms;
  }
  if (view_.slot != nullptr && view_.generation != pins_generation_) update_pins(now_ms, out);
  tick6(now_ms, out);  // issue 15: main_lcore_ndp.cpp
  if (now_ms - last_aging_ms_ < kRetryMs) return;
  last_aging_ms_ = now_ms;
  age(now_ms, out);
}

// Once a second. Actions are collected first: the walk must not change the table.
void MainLcore::age(uint64_t now_ms, MainOutput& out) {
  struct Action {
    uint32_t addr;
    uint8_t port;
    enum : uint8_t { Stale, Reprobe, Forget } what;
  };
  std::vector<Action> actions;
  shared_.neighbours.for_each([&](uint32_t addr, const NeighView& v, const NeighMeta& meta) {
    const uint64_t unconfirmed = now_ms - meta.confirmed_ms;
    const bool busy = resolving(addr) != nullptr;
    switch (v.state) {
      case NeighState::Static:
        return;
      case NeighState::Reachable:
        if (unconfirmed >= kReachableMs) actions.push_back({addr, v.port, meta.pinned ? Action::Reprobe : Action::Stale});
        return;
      case NeighState::Stale:
        if (meta.pinned) {
          // Re-asked every kReachableMs while unconfirmed; failed only by finish_resolution.
          if (!busy && now_ms - meta.updated_ms >= kReachableMs) actions.push_back({addr, v.port, Action::Reprobe});
        } else if (unconfirmed >= kUnpinnedForgetMs) {
          actions.push_back({addr, v.port, Action::Forget});
        }
        return;
      case NeighState::Failed:
        if (!meta.pinned && now_ms - meta.updated_ms >= kFailedForgetMs) actions.push_back({addr, v.port, Action::Forget});
        else if (meta.pinned && !busy && now_ms - meta.updated_ms >= kFailedRetryMs) actions.push_back({addr, v.port, Action::Reprobe});
        return;
      case NeighState::Incomplete:
        // Being resolved, or left over from a resolution that could not start: then
        // pinned ones are retried, the rest forgotten.
        if (!busy) actions.push_back({addr, v.port, meta.pinned ? Action::Reprobe : Action::Forget});
        return;
    }
  });
  for (const Action& a : actions) {
    switch (a.what) {
      case Action::Forget:
        forget(a.addr);
        break;
      case Action::Stale:
        shared_.neighbours.set_state(a.addr, NeighState::Stale, now_ms);
        break;
      case Action::Reprobe: {
        NeighView v;
        if (!shared_.neighbours.lookup(a.addr, &v)) break;
        // Stale stays usable meanwhile; Failed and Incomplete just restart their clock.
        NeighState next = v.state == NeighState::Reachable ? NeighState::Stale : v.state;
        shared_.neighbours.set_state(a.addr, next, now_ms);
        resolve(a.addr, a.port, Need::Background, now_ms, out);
        break;
      }
    }
  }
}

// The tables changed: pin the next hops of their backends (and the configuration's), unpin
// those no longer needed, and start resolving pinned ones we do not know yet, so that a
// backend added by a reload is reachable before its first packet.
void MainLcore::update_pins(uint64_t now_ms, MainOutput& out) {
  pins_generation_ = view_.generation;
  std::vector<uint32_t> pins = config_pins_;
  const abi::TableSlot& slot = *view_.slot;
  const uint32_t nv = std::min(slot.hdr.vip_count, abi::kMaxVips);
  for (uint32_t v = 0; v < nv; ++v) {
    const abi::Vip& vip = slot.vips[v];
    if (vip.backend_first > abi::kMaxBackends || vip.backend_count > abi::kMaxBackends - vip.backend_first) continue;
    for (uint32_t b = 0; b < vip.backend_count; ++b) {
      RouteResult r;
      if (shared_.routes.lookup(slot.backends[vip.backend_first + b].addr_be, &r)) pins.push_back(r.next_hop_be);
    }
  }
  std::sort(pins.begin(), pins.end());
  pins.erase(std::unique(pins.begin(), pins.end()), pins.end());
  for (uint32_t old : table_pins_) {
    if (!std::binary_search(pins.begin(), pins.end(), old)) {
      if (NeighMeta* meta = shared_.neighbours.meta(old)) meta->pinned = false;
    }
  }
  table_pins_ = pins;
  for (uint32_t addr : pins) {
    RouteResult r;
    if (!shared_.routes.lookup(addr, &r)) continue;
    NeighView v;
    if (!shared_.neighbours.lookup(addr, &v)) {
      if (!shared_.neighbours.set(addr, NeighState::Incomplete, MacBytes{}, r.port, now_ms)) continue;
      shared_.neighbours.meta(addr)->pinned = true;
      resolve(addr, r.port, Need::Pinned, now_ms, out);
    } else if (NeighMeta* meta = shared_.neighbours.meta(addr)) {
      meta->pinned = true;
    }
  }
}

}  // namespace fulcrum::dp
