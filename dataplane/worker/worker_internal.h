// The burst function's per-packet scratch, shared by its source files (not an interface).
#pragma once

#include "dataplane/worker/worker.h"

namespace fulcrum::dp {

// One TCP packet between the passes of process_burst().
struct Worker::Pending {
  rte_mbuf* m;
  uint16_t i;
  uint8_t port;         // ingress port index
  ParsedFrame f;
  FlowKey key;
  FlowHash h;
  uint64_t candidate;   // home-bucket slot whose signature matched (0: none)
  // Another attempt at a connection (connect_retries): its number and the backends tried.
  uint8_t attempt;
  sched::Tried tried;
  bool payload() const { return f.l4_len > f.tcp_header_len; }
};

// One IPv6 TCP packet between the passes of process_burst() (issue 15): the same pipeline
// as IPv4's (hash and prefetch the bucket, then the entry, then look up), so the IPv6 path
// does not stall on two cache misses per packet in turn.
struct Worker::Pending6 {
  rte_mbuf* m;
  uint16_t i;
  uint8_t port;
  ParsedFrame f;
  FlowKey6 key;
  FlowHash h;
  uint64_t candidate;
};

// One new flow between prepare_new_flow() and commit_new_flow().
struct Worker::NewFlow {
  Pending* p;
  const abi::Vip* vip;
  const abi::Backend* be;
  uint32_t entry;       // allocated in prepare, filled and published in commit
  FlowKey rev;
  FlowHash rev_hash;
  bool fullnat;
  bool syn;
  uint16_t synproxy_mss;  // a cookie-validated ACK: the connection is proxied (MSS for the backend)
  bool limited;           // holds one of its backend's max_connections (give it back on failure)
};

// An ICMP error about a tracked flow quotes a packet this node sent, already translated;
// what the other side must see instead (worker_icmp.cpp, worker_icmp6.cpp): the quoted
// packet as that side sent it, and the outer addresses. `dir` is the direction the error
// travels in (FromBackend: from the backend side, about a packet sent to the backend).
template <class Addr>
struct QuotedSides {
  Addr q_src, q_dst, outer_src, outer_dst;
  uint16_t q_sport, q_dport;
};
template <class C, class Addr>
QuotedSides<Addr> quoted_sides(const C& c, Dir dir, const Addr& outer_src_now) {
  if (dir == Dir::FromBackend) {
    return {c.client_addr(), c.vip_addr(), c.vip_addr(), c.client_addr(), c.client_port(), c.vip_port()};
  }
  // From the client side, about a reply: the backend sent it as backend -> client (nat) or
  // backend -> SNAT address (fullnat); the error reaches it from the SNAT address.
  const Addr outer_src = (c.flags & conn_flag::kFullNat) ? c.snat_addr() : outer_src_now;
  return {c.backend_addr(), c.snat_addr(), outer_src, c.backend_addr(), c.backend_port(), c.snat_port()};
}

// A connection stops being open: it counts no more against its backend.
template <class C>
void Worker::connection_ended(const C& c) {
  stat(c.backend_id, abi::backend_stat::kFinished);
  if (c.flags & conn_flag::kLimited) shared_.limited_open[c.backend_id].fetch_sub(1, std::memory_order_relaxed);
}

// After a successful change of an entry's state from `from` to `to` (by any worker): a
// connection that closed, or that a spoofed-RST proof reopened.
template <class C>
void Worker::note_transition(const C& c, uint8_t from, uint8_t to) {
  if ((from & conn_state::kDead) || c.backend_id >= abi::kMaxBackends) return;
  const bool was_open = phase_of(from) != TcpPhase::Closed, is_open = phase_of(to) != TcpPhase::Closed;
  if (was_open == is_open) return;
  if (was_open) {
    connection_ended(c);
    return;
  }
  stat(c.backend_id, abi::backend_stat::kRevived);
  if (c.flags & conn_flag::kLimited) shared_.limited_open[c.backend_id].fetch_add(1, std::memory_order_relaxed);
}

template <class C>
void Worker::touch(C& c, Dir dir, uint8_t tcp_flags, bool payload, uint32_t now_ms) {
  uint8_t cur = c.state.load(std::memory_order_relaxed);
  for (;;) {
    uint8_t next = tcp_next(cur, dir, tcp_flags, payload);
    if (next == cur) break;
    if (c.state.compare_exchange_weak(cur, next, std::memory_order_relaxed)) {
      if (phase_of(cur) == TcpPhase::Closed) count(abi::WorkerCounter::RstRevived);
      note_transition(c, cur, next);
      break;
    }
  }
  // Written only when it changes (once a millisecond at most): the entry's cache line is
  // shared with whichever worker handles the other direction.
  if (c.last_seen.load(std::memory_order_relaxed) != now_ms) c.last_seen.store(now_ms, std::memory_order_relaxed);
}

}  // namespace fulcrum::dp
