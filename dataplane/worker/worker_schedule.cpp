// The worker's side of scheduling (docs/scheduling.md): running the VIP's scheduler
// (dataplane/core/scheduler.h) for a new connection with this worker's state, the
// backends' limits, and the bookkeeping of open connections.
//
// Limits, and why they look like this:
//  * max_connections is exact: a connection reserves a slot of its backend (one shared
//    atomic per limited backend, touched only by new and closing connections of backends
//    that have a limit) before it is made and gives it back when it closes, whichever
//    worker sees the close. A limit set on a backend that already has connections also
//    counts those, from the main lcore's figure (at most a few milliseconds old).
//  * max_new_conn_rate is the data plane's one token bucket (token_bucket.h), each worker
//    metering its share.
//  * A backend at a limit passes the connection to the next candidate of the flow's walk;
//    with every backend at its limits the VIP's on_full applies (drop, or reset).
//
// Only a connection's first packet is scheduled (a SYN, or the ACK a SYN proxy validated).
// Whatever has no entry and must find its backend again without one (a packet picked up
// mid-stream, a nat flow forwarded without state under the breaker or a full table) goes
// by plain Maglev, the one choice every node and every restart agrees on.
#include <rte_cycles.h>

#include "dataplane/abi/flow_hash.h"
#include "dataplane/worker/worker_internal.h"

namespace fulcrum::dp {

using abi::WorkerCounter;
namespace stat_id = abi::backend_stat;

sched::Result Worker::choose_backend(const Pending& p, const abi::Vip& vip, bool* limited) {
  *limited = false;
  sched::VipView v;
  if (view_.slot == nullptr || !sched::view_of(*view_.slot, vip, &v)) return {};
  const uint64_t h = abi::flow_hash(abi::HashKey{vip.hash_key[0], vip.hash_key[1]}, p.key.src_addr, p.key.src_port,
                                    p.key.dst_addr, p.key.dst_port, abi::kProtoTcp);
  sched::Loads loads;
  if (shared_.status != nullptr) loads = sched::Loads{shared_.status->backend_live, shared_.status->vip_live};
  sched::Chooser chooser(v, h, loads, p.tried, *sched_);
  return chooser.choose([&](const abi::Backend& b) { return admit(b, limited); });
}

bool Worker::admit(const abi::Backend& b, bool* limited) {
  *limited = false;
  if (b.max_connections != 0) {
    const auto max = static_cast<int32_t>(std::min<uint32_t>(b.max_connections, INT32_MAX));
    std::atomic<int32_t>& open = shared_.limited_open[b.id];
    const int32_t mine = open.fetch_add(1, std::memory_order_relaxed) + 1;
    const int32_t all = shared_.status != nullptr ? shared_.status->backend_live[b.id].active.load(std::memory_order_relaxed) : 0;
    if (mine > max || all >= max) {
      open.fetch_sub(1, std::memory_order_relaxed);
      stat(b.id, stat_id::kOverMaxConnections);
      count(WorkerCounter::LimitOverflows);
      return false;
    }
    *limited = true;
  }
  if (b.max_new_conn_rate != 0 &&
      !backend_buckets_[b.id].take(b.max_new_conn_rate, b.new_conn_burst, shared_.workers(), burst_tsc_)) {
    if (*limited) shared_.limited_open[b.id].fetch_sub(1, std::memory_order_relaxed);
    *limited = false;
    stat(b.id, stat_id::kOverRate);
    count(WorkerCounter::LimitOverflows);
    return false;
  }
  return true;
}

// No backend for a new connection: the reason decides what the client gets.
void Worker::refuse_new_flow(Pending& p, const abi::Vip& vip, sched::Outcome why, BurstOutput& out) {
  switch (why) {
    case sched::Outcome::AllFull:
      if (vip.on_full == static_cast<uint8_t>(abi::OnFull::Reset)) reset_client(p.m, p.f, out, p.i, WorkerCounter::FullResets);
      else vip_drop(p, vip, abi::DropReason::BackendsFull, out);
      return;
    case sched::Outcome::AllTried:
      // Every backend refused or ignored this attempt: the client learns it now rather
      // than after its last retransmission.
      reset_client(p.m, p.f, out, p.i, WorkerCounter::RetryResets);
      return;
    case sched::Outcome::NoBackend:
    case sched::Outcome::Chosen:
      vip_drop(p, vip, abi::DropReason::NoBackend, out);
      return;
  }
}

}  // namespace fulcrum::dp
