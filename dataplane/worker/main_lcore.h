// The main lcore's share of the packet work: ARP and next-hop resolution.
//
// Workers send it every ARP frame and every packet whose next hop has no MAC yet. It is
// the only writer of the neighbour table; it answers ARP for the ports' addresses and for
// the VIP and SNAT addresses the tables publish, learns neighbours, asks for unknown next
// hops, holds their packets meanwhile (a bounded queue), and ages entries. None of this
// is on the per-packet path of established flows.
#pragma once

#include <cstdint>

#include "dataplane/core/kernel_neighbours.h"
#include "dataplane/worker/worker.h"

struct rte_mempool;

namespace fulcrum::dp {

struct MainOutput {
  static constexpr uint16_t kCapacity = 512;
  uint16_t count = 0;
  rte_mbuf* mbufs[kCapacity];
  Verdict verdicts[kCapacity];
};

class MainLcore {
 public:
  static constexpr uint32_t kMaxHeld = 256;          // packets waiting for a next hop, in all
  static constexpr uint32_t kMaxHeldPerHop = 16;
  static constexpr uint32_t kMaxResolving = 64;      // next hops being asked for at once
  static constexpr uint32_t kRetryMs = 1000;         // ARP request every second ...
  static constexpr uint32_t kTries = 3;              // ... three times, then Failed
  static constexpr uint32_t kReachableMs = 30'000;   // then Stale: still used, re-asked
  static constexpr uint32_t kFailedRetryMs = 5'000;  // a Failed neighbour is asked again this often

  MainLcore(Shared& shared, abi::WorkerStatus& status, rte_mempool* pool);
  ~MainLcore();

  // Static neighbours from the config: never aged, never replaced by ARP.
  void add_static(uint32_t addr_be, const MacBytes& mac, uint8_t port);

  // Handles ARP frames and held packets (from workers' ToMain/Hold verdicts).
  void process(rte_mbuf** pkts, uint16_t n, uint64_t now_ms, MainOutput& out);
  // Timers: ARP retries, failures, aging. May emit ARP requests.
  void tick(uint64_t now_ms, MainOutput& out);
  // Production: dequeue what workers sent, process, tick, and pass what is to be sent to
  // worker 0 (Shared::from_main). Returns how many packets it handled or sent.
  uint32_t poll(uint64_t now_ms);

  uint32_t held() const { return held_count_; }
  // issue 11: next hops of ports whose address the kernel keeps come from the kernel's
  // neighbour table (main_lcore_kernel.cpp). Not owned; nullptr: none.
  void use_kernel_neighbours(KernelNeighbours* k) { kernel_ = k; }

 private:
  struct Held {
    rte_mbuf* m = nullptr;
    uint32_t next_hop_be = 0;
    uint8_t port = 0;
  };
  struct Resolving {
    uint32_t addr_be = 0;     // 0: free
    uint8_t port = 0;
    uint8_t tries = 0;
    uint64_t last_request_ms = 0;
  };

  void handle_arp(rte_mbuf* m, uint64_t now_ms, MainOutput& out);
  void handle_held(rte_mbuf* m, uint64_t now_ms, MainOutput& out);
  void release_held(uint32_t addr_be, MainOutput& out);
  void fail_held(uint32_t addr_be);
  bool request(uint32_t addr_be, uint8_t port, MainOutput& out);
  Resolving* resolving(uint32_t addr_be, bool create);
  bool ours(uint32_t addr_be, uint8_t port) const;
  void emit(MainOutput& out, rte_mbuf* m, Verdict::Kind kind, uint8_t port, abi::DropReason why = {});
  void learn_from_kernel(const KernelNeighbours::Entry& e, uint64_t now_ms, MainOutput& out);
  void count(abi::WorkerCounter c, uint64_t n = 1) { status_.counters[static_cast<size_t>(c)].add(n); }
  void count_drop(abi::DropReason r) { status_.drops[static_cast<size_t>(r)].add(1); }

  Shared& shared_;
  abi::WorkerStatus& status_;
  rte_mempool* pool_;
  abi::TableView view_;
  Held held_[kMaxHeld];
  uint32_t held_count_ = 0;
  Resolving resolving_[kMaxResolving];
  uint64_t last_aging_ms_ = 0;
  KernelNeighbours* kernel_ = nullptr;  // issue 11
};

}  // namespace fulcrum::dp
