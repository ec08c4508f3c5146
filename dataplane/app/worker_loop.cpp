#include "dataplane/app/worker_loop.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <algorithm>

namespace fulcrum::dp {
namespace {

constexpr uint64_t kIdleAfterUs = 200;  // busy-poll this long after the last packet
constexpr uint32_t kFirstSleepUs = 50;

// Worker 0 also sends what the main lcore produced (ARP): its own queue, no sharing.
// Returns true when the ring may hold more (a full burst was taken).
bool send_from_main(Shared& shared, Worker& worker, uint16_t queue) {
  rte_mbuf* pkts[kBurst];
  unsigned n = rte_ring_sc_dequeue_burst(shared.from_main, reinterpret_cast<void**>(pkts), kBurst, nullptr);
  if (n == 0) return false;
  BurstOutput out;
  out.count = static_cast<uint16_t>(n);
  for (unsigned i = 0; i < n; ++i) {
    out.mbufs[i] = pkts[i];
    out.verdicts[i] = Verdict{Verdict::Kind::Tx, static_cast<uint8_t>(pkts[i]->port), {}};
  }
  worker.dispatch(out, queue);
  return n == kBurst;
}

}  // namespace

int run_worker(void* arg) {
  auto& a = *static_cast<WorkerLoopArgs*>(arg);
  Shared& shared = *a.shared;
  Worker& worker = *a.worker;
  const uint64_t tsc_per_ms = rte_get_tsc_hz() / 1000;
  const bool first = worker.index() == 0;
  abi::WorkerStatus& status = shared.status->workers[worker.index()];
  BurstOutput out;
  rte_mbuf* pkts[kBurst];
  uint32_t last_ms = 0;
  uint64_t last_packet_tsc = rte_rdtsc();
  const uint64_t idle_after_tsc = rte_get_tsc_hz() / 1'000'000 * kIdleAfterUs;
  uint32_t sleep_us = 0;

  worker.start();
  while (!a.stop->load(std::memory_order_relaxed)) {
    const uint64_t tsc = rte_rdtsc();
    const auto now_ms = static_cast<uint32_t>(tsc / tsc_per_ms);
    uint32_t got = 0;
    for (const PortInfo& port : shared.ports) {
      uint16_t n = rte_eth_rx_burst(port.dpdk_port, a.queue, pkts, kBurst);
      if (n == 0) continue;
      worker.process_burst(pkts, n, now_ms, out);
      worker.dispatch(out, a.queue);
      got += n;
    }
    // The handoff ring is drained up to as many bursts as there are workers: every other
    // worker may have handed over a burst's worth of first packets since the last round.
    for (uint32_t round = 0; round < shared.workers(); ++round) {
      unsigned n = rte_ring_sc_dequeue_burst(shared.handoff[worker.index()], reinterpret_cast<void**>(pkts), kBurst, nullptr);
      if (n == 0) break;
      worker.process_burst(pkts, static_cast<uint16_t>(n), now_ms, out, /*from_nic=*/false);
      worker.dispatch(out, a.queue);
      got += n;
    }
    if (first) {
      for (uint32_t round = 0; round < 8 && send_from_main(shared, worker, a.queue); ++round) {
      }
    }
    if (got == 0) worker.idle_tick();
    worker.maintain(now_ms, a.queue);
    if (got != 0) status.busy_cycles.add(rte_rdtsc() - tsc);
    if (now_ms != last_ms) {  // liveness for stall detection, once a millisecond (vDSO clock)
      last_ms = now_ms;
      status.loop_monotonic_ns.store(abi::monotonic_ns(), std::memory_order_relaxed);
    }

    // Adaptive polling: after 200 us without a packet the worker starts sleeping between
    // polls, 50 us first, doubling up to idle_sleep_us; the first packet ends it. While it
    // sleeps it leaves both the table protocol and the flow table's RCU, so nobody waits.
    if (got != 0) {
      last_packet_tsc = tsc;
      sleep_us = 0;
    } else if (a.idle_sleep_us > 0 && tsc - last_packet_tsc > idle_after_tsc) {
      sleep_us = sleep_us == 0 ? std::min<uint32_t>(kFirstSleepUs, a.idle_sleep_us) : std::min(sleep_us * 2, a.idle_sleep_us);
      abi::worker_offline(status);
      rte_rcu_qsbr_thread_offline(shared.qsbr, worker.index());
      rte_delay_us_sleep(sleep_us);
      rte_rcu_qsbr_thread_online(shared.qsbr, worker.index());
      const abi::TablesRegion* tables = shared.tables.load(std::memory_order_acquire);
      if (tables != nullptr) abi::worker_online(*tables, status);
      else status.online.store(1, std::memory_order_seq_cst);
    }
  }
  worker.stop();
  return 0;
}

}  // namespace fulcrum::dp
