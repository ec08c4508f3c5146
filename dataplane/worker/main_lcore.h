// The main lcore's share of the packet work: ARP and next-hop resolution.
//
// Workers filter ARP (worker.cpp, handle_arp) and send it the little that matters: requests
// for our addresses on one ring, ARP from neighbours we know (answers to our requests,
// possible MAC changes) and packets waiting for a next hop on a priority ring that it drains
// first, so a flood of requests cannot crowd out resolution. It is the only writer of the
// neighbour table: it answers ARP for the ports' addresses and for the VIP and SNAT
// addresses the tables publish, asks for unknown next hops, holds their packets meanwhile
// (a bounded queue), and runs the neighbour policy (main_lcore_neighbours.cpp):
//
//  * Pinned next hops (gateways, routes' next hops, the tables' on-link backends) are
//    resolved as soon as they are known, re-asked when they go stale, kept usable while
//    re-probes go unanswered for kStaleUsableMs, and never forgotten.
//  * Everything else (on-link clients, and whatever a spoofed source made us ask for) is
//    forgotten: a failed address after kFailedForgetMs, an unconfirmed one after
//    kUnpinnedForgetMs; when the table is full the least recently updated one goes.
//  * A live neighbour's MAC is confirmed only by that MAC. ARP announcing another one is
//    refused (counted arp_unsolicited) and the neighbour re-asked; the new MAC is taken
//    only if it answered at least twice while the one we have stayed silent for all the
//    tries (it really moved). Claims travel on the ordinary ring, confirmations on the
//    priority one, so a flood of claims cannot drown the owner's answers. A neighbour we
//    are not using (being resolved, or failed) takes the first answer.
//  * Resolution slots go to pinned next hops first, then to held traffic, then to
//    background re-probes, so that spoofed sources cannot keep a new backend unresolved.
//
// None of this is on the per-packet path of established flows.
#pragma once

#include <cstdint>
#include <vector>

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
  static constexpr uint32_t kMaxBackground = 32;     // of which re-probes of known neighbours
  static constexpr uint32_t kRetryMs = 1000;         // ARP request every second ...
  static constexpr uint32_t kTries = 3;              // ... three times, then Failed
  static constexpr uint32_t kReachableMs = 30'000;   // unconfirmed this long: Stale
  static constexpr uint32_t kStaleUsableMs = 120'000;  // a pinned neighbour stays usable this long unconfirmed
  static constexpr uint32_t kFailedRetryMs = 5'000;  // a Failed pinned neighbour is asked again this often
  static constexpr uint32_t kFailedForgetMs = 5'000;   // a Failed unpinned one is forgotten after this
  static constexpr uint32_t kUnpinnedForgetMs = 90'000;  // an unpinned one unconfirmed this long is forgotten
  static constexpr uint32_t kPollBudget = 1024;      // frames per ring per poll()

  MainLcore(Shared& shared, abi::WorkerStatus& status, rte_mempool* pool);
  ~MainLcore();

  // Static neighbours from the config: never aged, never replaced by ARP.
  void add_static(uint32_t addr_be, const MacBytes& mac, uint8_t port);
  // Next hops the configuration needs (gateways, routes' next hops): pinned for good.
  void pin(uint32_t addr_be);
  // issue 15, the same for IPv6 (main_lcore_ndp.cpp).
  void add_static6(const abi::Ip6& addr, const MacBytes& mac, uint8_t port);
  void pin6(const abi::Ip6& addr);

  // Handles ARP frames and held packets (from workers' ToMain/ToMainPrio/Hold verdicts).
  void process(rte_mbuf** pkts, uint16_t n, uint64_t now_ms, MainOutput& out);
  // Timers: ARP retries, failures, aging, pins from a new table generation. May emit ARP
  // requests.
  void tick(uint64_t now_ms, MainOutput& out);
  // Production: dequeue what workers sent (priority ring first), process, tick, and pass
  // what is to be sent to worker 0 (Shared::from_main). Returns how many packets it
  // handled or sent.
  uint32_t poll(uint64_t now_ms);

  uint32_t held() const { return held_count_ + held6_count_; }
  // issue 11: next hops of ports whose address the kernel keeps come from the kernel's
  // neighbour table (main_lcore_kernel.cpp). Not owned; nullptr: none.
  void use_kernel_neighbours(KernelNeighbours* k) { kernel_ = k; }

 private:
  struct Held {
    rte_mbuf* m = nullptr;
    uint32_t next_hop_be = 0;
    uint8_t port = 0;
  };
  // Who needs an answer, lowest first: a re-probe of a neighbour in use (background),
  // packets waiting for an unpinned next hop, a pinned next hop (gateway, backend). A
  // resolution may take the slot of a lower one when none is free.
  enum class Need : uint8_t { Background = 0, Held = 1, Pinned = 2 };
  struct Resolving {
    uint32_t addr_be = 0;     // 0: free
    uint8_t port = 0;
    uint8_t tries = 0;
    Need need = Need::Background;
    uint64_t last_request_ms = 0;
    // A neighbour with a MAC we use is only confirmed by that MAC. Another one heard while
    // we ask is a candidate, taken only if the one we have stays silent for every try.
    bool has_candidate = false;
    uint8_t candidate_port = 0;
    uint8_t candidate_heard = 0;   // times this candidate was heard; a switch needs 2
    MacBytes candidate{};
  };

  void refresh_view();
  void handle_arp(rte_mbuf* m, uint64_t now_ms, MainOutput& out);
  // What the ARP frame from `sip` says about it; returns the drop reason if it is refused
  // (DropReason::kCount when it was taken in).
  abi::DropReason learn(uint32_t sip, const MacBytes& sha, uint8_t port, bool asks_us, uint64_t now_ms, MainOutput& out);
  void handle_held(rte_mbuf* m, uint64_t now_ms, MainOutput& out);
  void release_held(uint32_t addr_be, MainOutput& out);
  void fail_held(uint32_t addr_be);
  // Starts resolving addr_be (or raises the need of a resolution under way). False if no
  // slot is free for that need.
  bool resolve(uint32_t addr_be, uint8_t port, Need need, uint64_t now_ms, MainOutput& out);
  bool request(uint32_t addr_be, uint8_t port, MainOutput& out);
  Resolving* resolving(uint32_t addr_be);
  Resolving* free_resolving(Need need);
  Need need_of(uint32_t addr_be, Need at_least);
  bool ours(uint32_t addr_be, uint8_t port) const;
  bool on_link(uint32_t addr_be, uint8_t port) const;
  // main_lcore_neighbours.cpp: the policy.
  void finish_resolution(Resolving& r, uint64_t now_ms);
  void age(uint64_t now_ms, MainOutput& out);
  void update_pins(uint64_t now_ms, MainOutput& out);
  void forget(uint32_t addr_be);
  void emit(MainOutput& out, rte_mbuf* m, Verdict::Kind kind, uint8_t port, abi::DropReason why = {});
  void learn_from_kernel(const KernelNeighbours::Entry& e, uint64_t now_ms, MainOutput& out);
  void flush(MainOutput& out);
  void count(abi::WorkerCounter c, uint64_t n = 1) { status_.counters[static_cast<size_t>(c)].add(n); }
  void count_drop(abi::DropReason r) { status_.drops[static_cast<size_t>(r)].add(1); }

  // issue 15, neighbour discovery (main_lcore_ndp.cpp): the IPv6 counterpart of the ARP
  // machinery above, with the same bounds and retry timings and a smaller policy: pinned
  // next hops (config and the tables' on-link IPv6 backends) are resolved up front and
  // re-probed when stale; a live neighbour's MAC changes only when the MAC we have stays
  // silent through a whole resolution while another answered at least twice; unpinned
  // entries are forgotten like IPv4 ones.
  static constexpr uint32_t kMaxHeld6 = 128;
  static constexpr uint32_t kMaxResolving6 = 32;
  struct Held6 {
    rte_mbuf* m = nullptr;
    abi::Ip6 next_hop{};
    uint8_t port = 0;
  };
  struct Resolving6 {
    bool used = false;
    abi::Ip6 addr{};
    uint8_t port = 0;
    uint8_t tries = 0;
    uint64_t last_request_ms = 0;
    bool has_candidate = false;
    uint8_t candidate_port = 0;
    uint8_t candidate_heard = 0;
    MacBytes candidate{};
  };
  bool is_ipv6_frame(const rte_mbuf* m) const;
  void handle_ipv6(rte_mbuf* m, uint64_t now_ms, MainOutput& out);
  void answer_solicitation(rte_mbuf* m, uint32_t l3, uint32_t l4, uint8_t port, uint64_t now_ms, MainOutput& out);
  void take_advertisement(rte_mbuf* m, uint32_t l3, uint32_t l4, uint32_t l4_len, uint8_t port, uint64_t now_ms,
                          MainOutput& out);
  void handle_held6(rte_mbuf* m, uint32_t l3, uint64_t now_ms, MainOutput& out);
  bool resolve6(const abi::Ip6& addr, uint8_t port, uint64_t now_ms, MainOutput& out);
  bool solicit(const abi::Ip6& addr, uint8_t port, MainOutput& out);
  Resolving6* resolving6(const abi::Ip6& addr);
  void release_held6(const abi::Ip6& addr, MainOutput& out);
  void fail_held6(const abi::Ip6& addr);
  bool ours6(const abi::Ip6& addr, uint8_t port) const;
  bool on_link6(const abi::Ip6& addr, uint8_t port) const;
  void tick6(uint64_t now_ms, MainOutput& out);
  void age6(uint64_t now_ms, MainOutput& out);
  Held6 held6_[kMaxHeld6];
  uint32_t held6_count_ = 0;
  Resolving6 resolving6_[kMaxResolving6];
  std::vector<abi::Ip6> config_pins6_;
  uint64_t pins6_generation_ = ~0ull;
  uint64_t last_aging6_ms_ = 0;

  Shared& shared_;
  abi::WorkerStatus& status_;
  rte_mempool* pool_;
  abi::TableView view_;
  Held held_[kMaxHeld];
  uint32_t held_count_ = 0;
  Resolving resolving_[kMaxResolving];
  uint64_t last_aging_ms_ = 0;
  KernelNeighbours* kernel_ = nullptr;  // issue 11
  std::vector<uint32_t> config_pins_;     // from add_static/pin: pinned whatever the tables say
  std::vector<uint32_t> table_pins_;      // the tables' on-link backends, sorted
  uint64_t pins_generation_ = ~0ull;
};

}  // namespace fulcrum::dp
