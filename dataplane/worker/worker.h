// One worker lcore's packet processing: the run-to-completion burst function and the
// housekeeping its loop does between bursts.
//
// process_burst() turns n received mbufs into n (mbuf, verdict) pairs, rewriting packets in
// place; it neither transmits nor frees, so golden-fixture tests drive exactly the code the
// data plane runs and inspect what it decided. dispatch() then carries the verdicts out.
#pragma once

#include <cstdint>
#include <vector>

#include "dataplane/abi/counters.h"
#include "dataplane/abi/publish.h"
#include "dataplane/core/admission_queue.h"
#include "dataplane/core/packet_parse.h"
#include "dataplane/core/retry_memory.h"
#include "dataplane/core/scheduler.h"
#include "dataplane/core/snat_ports.h"
#include "dataplane/worker/flood_guard.h"
#include "dataplane/worker/shared.h"
#include "dataplane/worker/token_bucket.h"

struct rte_mbuf;

namespace fulcrum::dp {

inline constexpr uint16_t kBurst = 32;

struct Verdict {
  enum class Kind : uint8_t {
    Tx,        // send on port `target`
    Drop,      // free; counted under `reason`
    ToMain,    // ARP request for one of our addresses: the main lcore answers and learns
    Hold,      // next hop `mbuf->hash.usr` on port `target` unresolved: main lcore holds it
    Handoff,   // first packet of a flow owned by worker `target`
    Consumed,  // used up without being a drop (an ARP reply we learned from)
    ToMainPrio,  // ARP from a neighbour being resolved: the main lcore's priority ring
    Kept,      // the worker keeps the mbuf (parked until the SYN proxy's backend answers)
    Punt,      // not the data plane's: to the kernel interface of the RX port (issue 11)
  };
  Kind kind = Kind::Drop;
  uint8_t target = 0;
  abi::DropReason reason = abi::DropReason::FrameTooShort;
};

struct BurstOutput {
  uint16_t count = 0;
  rte_mbuf* mbufs[kBurst];
  Verdict verdicts[kBurst];
};

class alignas(64) Worker {
 public:
  Worker(Shared& shared, uint32_t index, abi::WorkerStatus& status);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Joins the table protocol and the flow table's RCU; call on the worker's own thread
  // before the first burst.
  void start();
  void stop();

  // Decides the fate of up to kBurst packets; out.verdicts[i] is for pkts[i]. `from_nic`:
  // the packets were received from a port (counted in rx_packets), not handed over by
  // another worker (counted when they were received there).
  void process_burst(rte_mbuf** pkts, uint16_t n, uint32_t now_ms, BurstOutput& out, bool from_nic = true);
  // Transmits, frees and enqueues as decided (queue `tx_queue` of each port).
  void dispatch(BurstOutput& out, uint16_t tx_queue);
  // Between bursts: report quiescence, reclaim freed entries, expire idle connections,
  // evict embryonic ones above the high-water mark, release parked packets.
  void maintain(uint32_t now_ms, uint16_t tx_queue);
  // Keeps the table generation this worker reports current while no packets arrive.
  void idle_tick();
  // SYN proxy: client packets parked until their backend answered that may go now (or
  // are dropped after waiting too long); maintain() calls it and dispatches `out`.
  void release_parked(uint32_t now_ms, BurstOutput& out);
  uint32_t parked() const { return parked_count_; }

  uint32_t index() const { return index_; }
  const FloodGuard& flood_guard() const { return guard_; }

 private:
  struct Pending;   // one TCP packet between the passes of process_burst
  struct NewFlow;   // one new flow between preparing and committing it
  struct Pending6;  // one IPv6 TCP packet between the passes (issue 15)

  void refresh_view();
  void set_verdict(BurstOutput& out, uint16_t i, Verdict::Kind kind, uint8_t target = 0);
  void drop(BurstOutput& out, uint16_t i, abi::DropReason reason);
  // A new-flow packet of `vip` dropped: counted by reason and against the VIP (vip_drops).
  void vip_drop(Pending& p, const abi::Vip& vip, abi::DropReason reason, BurstOutput& out);
  bool is_own_address(uint32_t addr_be) const;
  // issue 11 (worker_punt.cpp): on a port with a kernel interface, what the data plane does
  // not want goes to the kernel instead of being dropped. True if out.verdicts[i] is Punt.
  bool punt_instead(BurstOutput& out, uint16_t i, abi::DropReason reason);
  bool punt_arp(BurstOutput& out, uint16_t i, uint8_t port, const uint8_t* data, const ParsedFrame& f);

  void handle_arp(rte_mbuf* m, const ParsedFrame& f, uint8_t port, BurstOutput& out, uint16_t i);
  // false: the packet starts a new flow, for prepare_new_flow().
  bool handle_tcp(Pending& p, BurstOutput& out, uint32_t now_ms);
  // New flows are handled in two passes over the burst, so that the memory they touch
  // (the reverse key's index bucket, the entry to fill) is fetched for all of them at once.
  bool prepare_new_flow(Pending& p, BurstOutput& out, NewFlow& nf, uint32_t now_ms);
  bool forward_without_entry(Pending& p, BurstOutput& out, uint32_t now_ms);
  bool arrived_from_its_route(const Pending& p) const;
  bool choose_snat(Pending& p, const abi::Vip& vip, const abi::Backend& be, NewFlow& nf);
  void commit_new_flow(NewFlow& nf, const NewFlow* earlier, uint16_t n_earlier, BurstOutput& out, uint32_t now_ms);
  void forward_existing(Pending& p, Conn& c, BurstOutput& out, uint32_t now_ms);
  void handle_icmp(rte_mbuf* m, const ParsedFrame& f, BurstOutput& out, uint16_t i, uint32_t now_ms);
  void forward(rte_mbuf* m, const ParsedFrame& f, BurstOutput& out, uint16_t i, uint32_t backend_addr,
               uint16_t backend_port, bool fullnat, uint32_t snat_addr, uint16_t snat_port);
  void reply(rte_mbuf* m, const ParsedFrame& f, BurstOutput& out, uint16_t i, const Conn& c);
  void reset_client(rte_mbuf* m, const ParsedFrame& f, BurstOutput& out, uint16_t i,
                    abi::WorkerCounter counted = abi::WorkerCounter::ResetsSent);
  // `originated`: a packet this node makes up (echo reply, reset, SYN cookie) rather than
  // one it forwards; such a packet is never held for an unresolved next hop (the
  // destination may be a spoofed address) but dropped as unresolved_reply.
  // True when the packet leaves (Tx) or waits for its next hop (Hold); false when dropped.
  // Callers count a packet's success only then, so that every packet is counted once.
  bool route_out(rte_mbuf* m, uint32_t dst_be, BurstOutput& out, uint16_t i, bool originated = false);
  bool translate_icmp_error(rte_mbuf* m, const ParsedFrame& f, uint32_t now_ms);

  // SYN proxy (worker_synproxy.cpp).
  bool synproxy_active(const abi::Vip& vip) const;
  void synproxy_answer_syn(Pending& p, const abi::Vip& vip, BurstOutput& out, uint32_t now_ms);
  // A cookie-validated ACK: 0 if it is not one, else the MSS the cookie carries.
  uint16_t synproxy_check_ack(const Pending& p, uint32_t now_ms) const;
  void synproxy_open_backend(NewFlow& nf, Conn& c, BurstOutput& out);
  // Backend packets of a proxied connection still waiting for its SYN-ACK; true if handled.
  bool synproxy_backend_handshake(Pending& p, Conn& c, uint32_t index, BurstOutput& out, uint32_t now_ms);
  // Client packets of a proxied connection before the backend answered: parked or dropped.
  void synproxy_park(Pending& p, uint32_t index, BurstOutput& out, uint32_t now_ms);
  void shift_seq(rte_mbuf* m, const ParsedFrame& f, int64_t delta, bool ack_field);

  // Any table's entry (Conn, Conn6): defined in worker_internal.h.
  template <class C>
  void touch(C& c, Dir dir, uint8_t tcp_flags, bool payload, uint32_t now_ms);
  void retire(uint32_t index);             // unpublish, count closed, free after grace
  void defer_free(uint32_t index);         // free (and release its SNAT port) after grace
  // Retires up to `want` of the oldest handshakes (admitted_), none idle for less than
  // kMinEvictAgeMs; returns how many.
  uint32_t evict_embryonic(uint32_t want, uint32_t now_ms);
  uint32_t evict_snat_holders(const NewFlow& nf, uint32_t now_ms);
  void evict_above_high_water(uint32_t now_ms);
  void release_snat(const Conn& c);
  void sweep(uint32_t now_ms);
  void reclaim(bool wait);
  void close_batch();

  void count(abi::WorkerCounter c, uint64_t n = 1) { status_.counters[static_cast<size_t>(c)].add(n); }

  // Scheduling (worker_schedule.cpp): the VIP's scheduler and the backends' limits.
  sched::Result choose_backend(const Pending& p, const abi::Vip& vip, bool* limited);
  bool admit(const abi::Backend& b, bool* limited);
  void refuse_new_flow(Pending& p, const abi::Vip& vip, sched::Outcome why, BurstOutput& out);
  template <class C>
  void connection_ended(const C& c);
  template <class C>
  void note_transition(const C& c, uint8_t from, uint8_t to);
  void stat(uint16_t backend_id, uint32_t which, uint64_t n = 1) {
    if (backend_id < abi::kMaxBackends) backend_stats_[backend_id].c[which].add(n);
  }
  // IPv6 (issue 15; worker_ipv6.cpp, worker_nat64.cpp, worker_icmp6.cpp). IPv6 table
  // entries carry kV6Entry in the grace-period batches and created_, so one ring of batches
  // serves both tables.
  static constexpr uint32_t kV6Entry = 0x8000'0000u;
  // Pass 1: hop limit, key, hash, bucket prefetch; false: dropped (expiring).
  bool start_tcp6(rte_mbuf* m, const ParsedFrame& f, uint8_t port, BurstOutput& out, uint16_t i, Pending6& q);
  void handle_tcp6(Pending6& q, BurstOutput& out, uint32_t now_ms);
  void new_flow6(rte_mbuf* m, const ParsedFrame& f, const FlowKey6& key, const FlowHash& h, BurstOutput& out,
                 uint16_t i, uint32_t now_ms);
  bool stateless_reply6(rte_mbuf* m, const ParsedFrame& f, const FlowKey6& key, BurstOutput& out, uint16_t i);
  bool choose_snat6(const abi::Vip& vip, uint32_t vip_index, const abi::Backend& be, const FlowHash& h, FlowKey6& rev);
  void forward6(rte_mbuf* m, const ParsedFrame& f, const Conn6& c, BurstOutput& out, uint16_t i);
  void reply6(rte_mbuf* m, const ParsedFrame& f, const Conn6& c, BurstOutput& out, uint16_t i);
  // An IPv4 packet to a SNAT address that may be a NAT64 flow's reply; false: no such flow.
  bool nat64_reply(rte_mbuf* m, const ParsedFrame& f, const FlowKey& key, BurstOutput& out, uint16_t i, uint32_t now_ms);
  // ICMP errors of NAT64 flows, translated to the other family and sent; false: not one.
  bool nat64_icmp4_error(rte_mbuf* m, const ParsedFrame& f, BurstOutput& out, uint16_t i);
  bool nat64_icmp6_error(rte_mbuf* m, const ParsedFrame& f, BurstOutput& out, uint16_t i);
  bool route_out6(rte_mbuf* m, const Addr6& dst, BurstOutput& out, uint16_t i, bool originated = false);
  bool is_own_address6(const Addr6& addr) const;
  void handle_icmp6(rte_mbuf* m, const ParsedFrame& f, uint8_t port, BurstOutput& out, uint16_t i, uint32_t now_ms);
  void handle_ndp(rte_mbuf* m, const ParsedFrame& f, uint8_t port, BurstOutput& out, uint16_t i);
  bool translate_icmp6_error(rte_mbuf* m, const ParsedFrame& f);
  void reset_client6(rte_mbuf* m, const ParsedFrame& f, BurstOutput& out, uint16_t i,
                     abi::WorkerCounter counted = abi::WorkerCounter::ResetsSent);
  void retire6(uint32_t index);
  void release_snat6(const Conn6& c);
  void sweep6(uint32_t now_ms);
  // Table pressure on the IPv6 table: its oldest handshakes go, as for IPv4.
  uint32_t evict_embryonic6(uint32_t want, uint32_t now_ms);
  void evict_above_high_water6(uint32_t now_ms);

  // Retry on failure (worker_retry.cpp): a client's SYN on an existing entry may start a
  // new connection or another attempt at this one; a backend's answer to a SYN is counted
  // (SYN-ACK: its connect time) or, a RST, kept from the client while retries are left.
  enum class SynRestart : uint8_t { None, NewConnection, RetryRefused, RetryUnanswered, RetryBackendGone };
  SynRestart syn_restart(const Conn& c, uint8_t state, uint32_t now_ms) const;
  void begin_retry(Pending& p, const Conn& c, SynRestart why, uint32_t now_ms);
  bool backend_answers_attempt(Pending& p, Conn& c, uint32_t index, BurstOutput& out, uint32_t now_ms);
  void note_syn_ack(const Conn& c, uint32_t index);
  uint8_t connect_retries_of(const Conn& c) const;
  void start_syn_clock(uint32_t entry) {
    shared_.syn_clock[shared_.syn_clock_slot(entry)].store(
        (uint64_t{entry + 1} << 32) | static_cast<uint32_t>(burst_tsc_ >> Shared::kSynClockShift), std::memory_order_relaxed);
  }

  Shared& shared_;
  FlowTable& flows_;
  const uint32_t index_;
  abi::WorkerStatus& status_;
  SnatPorts snat_;
  FloodGuard guard_;
  // Resets for backend packets to a SNAT address without a connection (forward_without_entry).
  static constexpr uint32_t kStrayResetRate = 20'000;  // per second, per worker
  TokenBucket stray_resets_;

  // The table generation used by the current burst.
  const abi::TablesRegion* tables_ = nullptr;
  abi::TableView view_;
  // Where recently used destinations go (port and next-hop MAC), valid while the neighbour
  // table's version is unchanged: most packets of a burst go to a few backends or
  // gateways, and this saves a route scan and a neighbour probe per packet.
  struct NextHop {
    uint32_t dst_be = 0;
    uint32_t version = ~0u;
    uint8_t port = 0;
    MacBytes mac{};
  };
  static constexpr uint32_t kNextHopCache = 64;
  NextHop next_hops_[kNextHopCache];
  uint32_t neigh_version_ = 0;   // the neighbour table's version at the start of the burst
  // issue 15: the same cache for IPv6 destinations (route_out6), against neighbours6.
  struct NextHop6 {
    Addr6 dst{};
    uint32_t version = ~0u;
    uint8_t port = 0;
    MacBytes mac{};
  };
  NextHop6 next_hops6_[kNextHopCache];
  uint32_t neigh6_version_ = 0;
  uint8_t in_port_ = 0;          // port index of the packet being handled
  // The TSC of the current burst (burst_tsc_ below), for the SYN token buckets: one rdtsc
  // per burst, not per SYN (issue 14: an rdtsc per SYN was a tenth of the new-flow path).
  uint64_t burst_tsc() const { return burst_tsc_; }
  // Entries created in the current burst: withdrawn if the burst turns out to have raced
  // with a table rewrite.
  uint32_t created_[kBurst];
  uint32_t created_count_ = 0;

  // Flow entries waiting for a grace period before reuse: batches, each closed with an
  // RCU token. Fixed arrays: nothing is allocated once the worker runs. Inside a burst the
  // worker holds table references and must not report quiescence, so it never waits for a
  // grace period there: process_burst() starts only with kBurstReserve free batches, more
  // than one burst can fill (at most 32 packets x (8 evictions + 2) retirements).
  static constexpr uint32_t kBatchSize = 256;
  static constexpr uint32_t kBatches = 64;
  static constexpr uint32_t kBurstReserve = 3;
  struct Batch {
    uint64_t token = 0;
    uint32_t count = 0;
    uint32_t entries[kBatchSize];
  };
  std::vector<Batch> batches_;  // ring of kBatches
  uint32_t batch_head_ = 0;   // oldest closed batch
  uint32_t batch_closed_ = 0; // closed batches waiting
  uint32_t open_ = 0;         // index of the batch being filled
  bool in_burst_ = false;

  // SYN proxy: client packets that arrived before the backend's SYN-ACK, released (or
  // dropped after kParkMs) by maintain().
  struct Parked {
    rte_mbuf* m = nullptr;
    uint32_t entry = 0;
    uint32_t since_ms = 0;
    ParsedFrame f;
  };
  static constexpr uint32_t kParkSlots = 64;
  static constexpr uint32_t kParkMs = 1000;
  Parked parked_[kParkSlots];
  uint32_t parked_count_ = 0;

  // Scheduling: this worker's round robin state, backend token buckets (by backend id),
  // the tries of retrying connections, and its row of the per-backend counters.
  std::unique_ptr<sched::WorkerState> sched_;
  std::unique_ptr<TokenBucket[]> backend_buckets_;
  std::unique_ptr<RetryMemory> retry_memory_;
  std::unique_ptr<abi::BackendStats[]> own_backend_stats_;  // when there is no status region (tests)
  abi::BackendStats* backend_stats_ = nullptr;
  uint64_t burst_tsc_ = 0;      // TSC at the start of the current burst
  uint64_t tsc_hz_ = 1;

  uint32_t sweep_cursor_;
  uint32_t sweep6_cursor_;          // issue 15: the IPv6 table's sweep
  uint32_t last_sweep6_ms_ = 0;
  uint64_t sweep6_owed_milli_ = 0;
  uint32_t evict_cursor_;          // the SNAT-holder scan's
  uint32_t last_sweep_ms_ = 0;
  uint64_t sweep_owed_milli_ = 0;  // entries owed to the sweep, x1000
  // Handshakes in admission order: pressure evicts the oldest first.
  AdmissionQueue admitted_;
  AdmissionQueue admitted6_;       // issue 15: the IPv6 table's
  uint32_t retiring6_ = 0;         // IPv6 entries waiting for their grace period
  // Entries retired and waiting for their grace period: still allocated, no longer live.
  uint32_t retiring_ = 0;
  bool punt_ports_ = false;        // issue 11: some port has a kernel interface
};

}  // namespace fulcrum::dp
