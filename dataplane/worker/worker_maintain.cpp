// A worker's housekeeping between bursts, and carrying out verdicts.
//
// Expiry is incremental: each loop visits a slice of this worker's partition, paced so
// the whole partition is visited about once a second, and never more than 512 entries at
// a time, so the loop never stalls. Removed entries wait in batches for a grace period
// (rte_rcu_qsbr: every worker has passed a quiescent point since) before reuse.
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <algorithm>

#include "dataplane/worker/worker_internal.h"

namespace fulcrum::dp {

using abi::DropReason;
using abi::WorkerCounter;

namespace {
constexpr uint32_t kSweepPeriodMs = 1000;
constexpr uint32_t kMaxSweepPerCall = 512;
constexpr uint32_t kEvictScan = 64;             // records looked at beyond 4 per eviction wanted
constexpr uint32_t kAgeEvictPerCall = 256;
constexpr uint32_t kMinEvictAgeMs = 100;        // a handshake active this recently is never evicted
constexpr uint32_t kSnatHolderMinIdleMs = 1000;  // a handshake younger than this is left alone
constexpr uint32_t kSnatHolderScan = 256;

// A live entry whose handshake is not complete.
bool live_embryonic(const Conn& c) {
  const uint8_t st = c.state.load(std::memory_order_relaxed);
  return (c.flags & conn_flag::kInUse) && !(st & conn_state::kDead) && is_embryonic(st);
}

// An embryonic entry idle for at least `min_idle_ms`.
bool evictable(const Conn& c, uint32_t now_ms, uint32_t min_idle_ms) {
  if (!live_embryonic(c)) return false;
  uint32_t idle = now_ms - c.last_seen.load(std::memory_order_relaxed);
  return static_cast<int32_t>(idle) >= 0 && idle >= min_idle_ms;
}
}  // namespace

void Worker::defer_free(uint32_t index) {
  Batch& b = batches_[open_];
  b.entries[b.count++] = index;
  if (index & kV6Entry) ++retiring6_;   // each table's high-water mark counts its own
  else ++retiring_;
  if (b.count == kBatchSize) close_batch();
}

void Worker::retire(uint32_t index) {
  if (index & kV6Entry) {  // an IPv6 entry from created_ (worker_ipv6.cpp)
    retire6(index & ~kV6Entry);
    return;
  }
  Conn& c = flows_.entry(index);
  // Dead first: from here no packet changes its phase, so whether it was still open (and
  // holds a connection slot of its backend) is known for sure.
  const uint8_t before = c.state.fetch_or(conn_state::kDead, std::memory_order_acq_rel);
  flows_.unpublish(index);
  if (c.backend_id < abi::kMaxBackends) {
    status_.backend_closed[c.backend_id].add(1);
    if (!(before & conn_state::kDead) && phase_of(before) != TcpPhase::Closed) connection_ended(c);
  }
  defer_free(index);
}

void Worker::close_batch() {
  Batch& b = batches_[open_];
  if (b.count == 0) return;
  // Ring full: wait for the oldest batch's grace period. Never inside a burst (the worker
  // would report a quiescent state while holding entries): process_burst() starts with
  // kBurstReserve free batches, more than a burst can fill.
  if (batch_closed_ + 1 == kBatches) reclaim(!in_burst_);
  b.token = rte_rcu_qsbr_start(shared_.qsbr);
  ++batch_closed_;
  open_ = (open_ + 1) % kBatches;
  batches_[open_].count = 0;
}

void Worker::release_snat(const Conn& c) {
  snat_.release(SnatPorts::Key{c.snat_addr(), c.backend_addr(), c.backend_port()}, c.snat_port());
}

void Worker::reclaim(bool wait) {
  // This worker holds no entry here; saying so first lets a waiting check finish. Inside a
  // burst it holds some: there it only collects batches that are already free.
  if (!in_burst_) rte_rcu_qsbr_quiescent(shared_.qsbr, index_);
  while (batch_closed_ > 0) {
    Batch& b = batches_[batch_head_];
    if (rte_rcu_qsbr_check(shared_.qsbr, b.token, wait && !in_burst_) != 1) return;
    uint32_t v6 = 0;
    for (uint32_t k = 0; k < b.count; ++k) {
      if (b.entries[k] & kV6Entry) {
        const uint32_t e6 = b.entries[k] & ~kV6Entry;
        const Conn6& c6 = shared_.flows6().entry(e6);
        if (c6.flags & conn_flag::kFullNat) release_snat6(c6);
        shared_.flows6().free(e6);
        ++v6;
        continue;
      }
      Conn& c = flows_.entry(b.entries[k]);
      if (c.flags & conn_flag::kFullNat) release_snat(c);
      flows_.free(b.entries[k]);
    }
    retiring_ -= b.count - v6;
    retiring6_ -= v6;
    b.count = 0;
    batch_head_ = (batch_head_ + 1) % kBatches;
    --batch_closed_;
  }
}

// The oldest handshakes first (AdmissionQueue): records of connections that completed,
// closed or gave their index to another flow are dropped on the way; a handshake active
// within kMinEvictAgeMs (a retransmission, the backend's SYN-ACK) goes to the back.
uint32_t Worker::evict_embryonic(uint32_t want, uint32_t now_ms) {
  uint32_t evicted = 0;
  const uint32_t scan = 4 * want + kEvictScan;
  for (uint32_t n = 0; n < scan && evicted < want && !admitted_.empty(); ++n) {
    const AdmissionQueue::Record r = admitted_.front();
    admitted_.pop();
    const Conn& c = flows_.entry(r.index);
    if (!live_embryonic(c) || AdmissionQueue::tag_of(c.fwd) != r.tag) continue;
    if (!evictable(c, now_ms, kMinEvictAgeMs)) {
      admitted_.push(r.index, r.tag);
      continue;
    }
    retire(r.index);
    ++evicted;
  }
  return evicted;
}

// No SNAT port left towards a backend: the embryonic entries holding its ports (half-open
// handshakes, a slow SYN flood's) give them back after a grace period, oldest first in
// the sense that none younger than kSnatHolderMinIdleMs is touched.
uint32_t Worker::evict_snat_holders(const NewFlow& nf, uint32_t now_ms) {
  uint32_t begin = flows_.partition_begin(index_), end = flows_.partition_end(index_);
  uint32_t evicted = 0;
  for (uint32_t n = 0; n < kSnatHolderScan && evicted < 8; ++n) {
    uint32_t idx = evict_cursor_;
    evict_cursor_ = evict_cursor_ + 1 == end ? begin : evict_cursor_ + 1;
    const Conn& c = flows_.entry(idx);
    if (!(c.flags & conn_flag::kFullNat) || c.backend_addr() != nf.be->addr_be || c.backend_port() != nf.be->port_be) continue;
    if (!evictable(c, now_ms, kSnatHolderMinIdleMs)) continue;
    retire(idx);
    ++evicted;
  }
  count(WorkerCounter::ConntrackEvicted, evicted);
  return evicted;
}

// Above the high-water mark the oldest handshakes go, a slice per loop, until the live
// entries (not counting those already waiting for their grace period) are back at the mark:
// the headroom above it is what new connections take while evicted entries wait.
void Worker::evict_above_high_water(uint32_t now_ms) {
  const uint32_t size = flows_.partition_end(index_) - flows_.partition_begin(index_);
  const uint32_t high = static_cast<uint32_t>(uint64_t{size} * shared_.flood().high_water_pct / 100);
  const uint32_t live = flows_.in_use(index_) - retiring_;
  if (live <= high) return;
  count(WorkerCounter::EmbryonicAged, evict_embryonic(std::min(live - high, kAgeEvictPerCall), now_ms));
}

void Worker::sweep(uint32_t now_ms) {
  uint32_t begin = flows_.partition_begin(index_), end = flows_.partition_end(index_);
  uint64_t elapsed = now_ms - last_sweep_ms_;
  last_sweep_ms_ = now_ms;
  if (elapsed > kSweepPeriodMs) elapsed = kSweepPeriodMs;
  // Owed work accumulates with time and is paid at most kMaxSweepPerCall at a time; it
  // never exceeds one whole pass, however long the loop was away.
  const uint64_t whole_pass = uint64_t{end - begin} * 1000;
  sweep_owed_milli_ += whole_pass * elapsed / kSweepPeriodMs;
  if (sweep_owed_milli_ > whole_pass) sweep_owed_milli_ = whole_pass;
  uint32_t budget = static_cast<uint32_t>(sweep_owed_milli_ / 1000);
  if (budget > kMaxSweepPerCall) budget = kMaxSweepPerCall;
  sweep_owed_milli_ -= uint64_t{budget} * 1000;

  const TimeoutsMs& t = shared_.timeouts();
  uint32_t expired = 0;
  for (uint32_t n = 0; n < budget; ++n) {
    uint32_t idx = sweep_cursor_;
    sweep_cursor_ = sweep_cursor_ + 1 == end ? begin : sweep_cursor_ + 1;
    Conn& c = flows_.entry(idx);
    if (!(c.flags & conn_flag::kInUse)) continue;
    uint8_t st = c.state.load(std::memory_order_relaxed);
    if (st & conn_state::kDead) continue;
    // Unsigned difference: correct across the 49-day wrap of the millisecond clock.
    uint32_t idle = now_ms - c.last_seen.load(std::memory_order_relaxed);
    if (static_cast<int32_t>(idle) >= 0 && idle >= t.for_state(st)) {
      // A connection attempt its backend never answered (passive health counts it).
      if (is_unanswered(st) && !(st & conn_state::kMidstream) && !(c.flags & conn_flag::kSynproxy)) {
        stat(c.backend_id, abi::backend_stat::kUnanswered);
      }
      retire(idx);
      ++expired;
    }
  }
  count(WorkerCounter::ConntrackExpired, expired);
}

void Worker::maintain(uint32_t now_ms, uint16_t tx_queue) {
  guard_.tick(now_ms);
  sweep(now_ms);
  sweep6(now_ms);
  evict_above_high_water(now_ms);
  evict_above_high_water6(now_ms);
  if (parked_count_ != 0) {
    BurstOutput out;
    release_parked(now_ms, out);
    if (out.count != 0) dispatch(out, tx_queue);
  }
  close_batch();
  reclaim(false);
  status_.conntrack_entries.store(flows_.in_use(index_) + shared_.flows6().in_use(index_), std::memory_order_relaxed);
}

void Worker::dispatch(BurstOutput& out, uint16_t tx_queue) {
  rte_mbuf* tx[kMaxPorts][kBurst];
  uint16_t ntx[kMaxPorts] = {};
  auto drop_now = [&](rte_mbuf* m, DropReason why) {
    rte_pktmbuf_free(m);
    status_.drops[static_cast<size_t>(why)].add(1);
  };
  for (uint16_t i = 0; i < out.count; ++i) {
    rte_mbuf* m = out.mbufs[i];
    const Verdict& v = out.verdicts[i];
    switch (v.kind) {
      case Verdict::Kind::Tx:
        tx[v.target][ntx[v.target]++] = m;
        break;
      case Verdict::Kind::Drop:
      case Verdict::Kind::Consumed:
        rte_pktmbuf_free(m);
        break;
      case Verdict::Kind::Kept:
        break;
      case Verdict::Kind::Hold:
        m->port = v.target;  // egress port index for the main lcore (next hop in hash.usr)
        [[fallthrough]];
      case Verdict::Kind::ToMainPrio:
        if (rte_ring_mp_enqueue(shared_.to_main_prio, m) != 0) drop_now(m, DropReason::MainRingFull);
        break;
      case Verdict::Kind::ToMain:
        if (rte_ring_mp_enqueue(shared_.to_main, m) != 0) drop_now(m, DropReason::MainRingFull);
        break;
      case Verdict::Kind::Punt:  // issue 11: the main lcore writes it to the kernel interface
        if (rte_ring_mp_enqueue(shared_.to_kernel, m) != 0) drop_now(m, DropReason::KernelPathFull);
        else count(WorkerCounter::PuntedToKernel);  // counted once, when it is on its way
        break;
      case Verdict::Kind::Handoff:
        if (rte_ring_mp_enqueue(shared_.handoff[v.target], m) != 0) drop_now(m, DropReason::HandoffRingFull);
        break;
    }
  }
  for (uint32_t p = 0; p < shared_.ports.size() && p < kMaxPorts; ++p) {
    if (ntx[p] == 0) continue;
    uint64_t bytes = 0;
    for (uint16_t k = 0; k < ntx[p]; ++k) bytes += tx[p][k]->pkt_len;
    uint16_t sent = rte_eth_tx_burst(shared_.ports[p].dpdk_port, tx_queue, tx[p], ntx[p]);
    for (uint16_t k = sent; k < ntx[p]; ++k) {
      bytes -= tx[p][k]->pkt_len;
      drop_now(tx[p][k], DropReason::TxFull);
    }
    count(WorkerCounter::TxPackets, sent);
    count(WorkerCounter::TxBytes, bytes);
  }
}

}  // namespace fulcrum::dp
