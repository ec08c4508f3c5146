// The SYN proxy (docs/dataplane.md, "SYN proxy"), DPVS's synproxy with SipHash cookies.
//
//  1. A client's SYN to a proxied VIP is answered here with a SYN-ACK whose sequence
//     number is a cookie (core/syn_cookie.h); nothing is stored, so a SYN flood costs one
//     SipHash and one transmit per SYN, and never reaches a backend.
//  2. The client's ACK carries the cookie back (ACK number - 1). A valid one creates the
//     connection entry, which remembers the cookie, and the ACK becomes the SYN to the
//     backend chosen by Maglev, with the MSS the cookie encodes.
//  3. The backend's SYN-ACK gives its ISN: the entry now keeps the difference (delta) and
//     the SYN-ACK becomes the ACK that completes the backend's handshake.
//  4. From then on every packet is translated: the backend's sequence numbers lose the
//     delta on their way to the client, the client's acknowledgements gain it.
//
// The SYN-ACK offers only an MSS: no window scaling, SACK or timestamps (a cookie cannot
// hold them). Client data that arrives before the backend answered waits in a small
// parking lot of this worker (kParkSlots, at most kParkMs), so the first request is not
// lost to a retransmission timeout.
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "dataplane/core/checksum.h"
#include "dataplane/core/syn_cookie.h"
#include "dataplane/worker/rewrite.h"
#include "dataplane/worker/worker_internal.h"

namespace fulcrum::dp {

using abi::DropReason;
using abi::WorkerCounter;

namespace {

constexpr uint16_t kProxyWindow = 65535;   // no window scaling is negotiated

// The MSS option of a SYN, or 536 (RFC 1122's default) without one.
uint16_t client_mss(const uint8_t* tcp, uint32_t header_len) {
  for (uint32_t o = 20; o < header_len;) {
    uint8_t kind = tcp[o];
    if (kind == 0) break;
    if (kind == 1) {
      ++o;
      continue;
    }
    if (o + 1 >= header_len || tcp[o + 1] < 2 || o + tcp[o + 1] > header_len) break;
    if (kind == 2 && tcp[o + 1] == 4) return static_cast<uint16_t>(tcp[o + 2] << 8 | tcp[o + 3]);
    o += tcp[o + 1];
  }
  return 536;
}

}  // namespace

bool Worker::synproxy_active(const abi::Vip& vip) const {
  return vip.synproxy == static_cast<uint8_t>(abi::Synproxy::On) ||
         (vip.synproxy == static_cast<uint8_t>(abi::Synproxy::Auto) && guard_.tripped());
}

void Worker::synproxy_answer_syn(Pending& p, const abi::Vip& vip, BurstOutput& out, uint32_t now_ms) {
  uint8_t* frame = rte_pktmbuf_mtod(p.m, uint8_t*);
  const uint8_t* tcp = frame + p.f.l4;
  uint32_t client_isn;
  std::memcpy(&client_isn, tcp + 4, 4);
  client_isn = rte_be_to_cpu_32(client_isn);
  const uint32_t mss_index = cookie_mss_index(client_mss(tcp, p.f.tcp_header_len));
  const uint32_t cookie = make_syn_cookie(shared_.cookie_key, p.key, client_isn, now_ms, mss_index);
  if (!resize_frame(p.m, p.f.l3 + 44u)) {
    drop(out, p.i, DropReason::TcpTruncated);
    return;
  }
  frame = rte_pktmbuf_mtod(p.m, uint8_t*);
  write_tcp_packet(frame, p.f.l3, vip.addr_be, p.key.src_addr, vip.port_be, p.key.src_port, cookie, client_isn + 1,
                   tcp_bit::SYN | tcp_bit::ACK, kProxyWindow, kCookieMss[mss_index]);
  if (route_out(p.m, p.key.src_addr, out, p.i, /*originated=*/true)) count(WorkerCounter::SynproxySynAcks);
}

uint16_t Worker::synproxy_check_ack(const Pending& p, uint32_t now_ms) const {
  if (!(p.f.tcp_flags & tcp_bit::ACK)) return 0;
  const uint8_t* tcp = rte_pktmbuf_mtod_offset(p.m, const uint8_t*, p.f.l4);
  uint32_t seq, ack;
  std::memcpy(&seq, tcp + 4, 4);
  std::memcpy(&ack, tcp + 8, 4);
  return check_syn_cookie(shared_.cookie_key, p.key, rte_be_to_cpu_32(seq) - 1, rte_be_to_cpu_32(ack) - 1, now_ms);
}

void Worker::synproxy_open_backend(NewFlow& nf, Conn& c, BurstOutput& out) {
  Pending& p = *nf.p;
  const uint8_t* tcp = rte_pktmbuf_mtod_offset(p.m, const uint8_t*, p.f.l4);
  uint32_t seq;
  uint16_t window;
  std::memcpy(&seq, tcp + 4, 4);
  std::memcpy(&window, tcp + 14, 2);
  rte_mbuf* m = p.m;
  if (p.payload()) {
    // The client's first data came with its ACK: it waits for the backend's answer, and the
    // SYN goes in a buffer of its own.
    rte_mbuf* syn = shared_.pool != nullptr && parked_count_ < kParkSlots ? rte_pktmbuf_alloc(shared_.pool) : nullptr;
    if (syn == nullptr || rte_pktmbuf_append(syn, static_cast<uint16_t>(p.f.l3 + 44)) == nullptr) {
      if (syn != nullptr) rte_pktmbuf_free(syn);
      retire(nf.entry);  // the client retransmits; its cookie still checks
      drop(out, p.i, DropReason::SynproxyNotParked);
      return;
    }
    std::memcpy(rte_pktmbuf_mtod(syn, uint8_t*), rte_pktmbuf_mtod(p.m, const uint8_t*), p.f.l3);
    syn->port = p.m->port;
    parked_[parked_count_++] = Parked{p.m, nf.entry, c.last_seen.load(std::memory_order_relaxed), p.f};
    out.mbufs[p.i] = syn;
    m = syn;
  } else if (!resize_frame(m, p.f.l3 + 44u)) {
    retire(nf.entry);
    drop(out, p.i, DropReason::TcpTruncated);
    return;
  }
  const bool fullnat = (c.flags & conn_flag::kFullNat) != 0;
  write_tcp_packet(rte_pktmbuf_mtod(m, uint8_t*), p.f.l3, fullnat ? c.snat_addr() : c.client_addr(), c.backend_addr(),
                   fullnat ? c.snat_port() : c.client_port(), c.backend_port(), rte_be_to_cpu_32(seq) - 1, 0, tcp_bit::SYN,
                   rte_be_to_cpu_16(window), nf.synproxy_mss);
  if (route_out(m, c.backend_addr(), out, p.i)) count(WorkerCounter::SynproxyEstablished);
}

bool Worker::synproxy_backend_handshake(Pending& p, Conn& c, uint32_t index, BurstOutput& out, uint32_t now_ms) {
  const uint8_t flags = p.f.tcp_flags;
  const uint8_t state = c.state.load(std::memory_order_acquire);
  const bool synack = (flags & (tcp_bit::SYN | tcp_bit::ACK | tcp_bit::RST)) == (tcp_bit::SYN | tcp_bit::ACK);
  if (state & conn_state::kSynAckSeen) {
    if (!synack) return false;  // established: the usual translation
  } else if (flags & tcp_bit::RST) {
    // The backend refused the connection the client believes open: reset the client, in
    // the sequence space the cookie gave it.
    touch(c, Dir::FromBackend, flags, false, now_ms);
    uint32_t cookie = shared_.synproxy_seq[index].load(std::memory_order_relaxed);
    if (!resize_frame(p.m, p.f.l3 + 40u)) {
      drop(out, p.i, DropReason::TcpTruncated);
      return true;
    }
    write_tcp_packet(rte_pktmbuf_mtod(p.m, uint8_t*), p.f.l3, c.vip_addr(), c.client_addr(), c.vip_port(), c.client_port(),
                     cookie + 1, 0, tcp_bit::RST, 0, 0);
    if (route_out(p.m, c.client_addr(), out, p.i)) count(WorkerCounter::Forwarded);
    return true;
  } else if (!synack) {
    drop(out, p.i, DropReason::NotForUs);  // nothing but a SYN-ACK or a RST answers our SYN
    return true;
  }
  // The SYN-ACK (or its retransmission): learn the delta once, then complete the backend's
  // handshake with the ACK the client already sent us.
  const uint8_t* tcp = rte_pktmbuf_mtod_offset(p.m, const uint8_t*, p.f.l4);
  uint32_t seq, ack;
  std::memcpy(&seq, tcp + 4, 4);
  std::memcpy(&ack, tcp + 8, 4);
  seq = rte_be_to_cpu_32(seq);
  ack = rte_be_to_cpu_32(ack);
  if (!(state & conn_state::kSynAckSeen)) {
    uint32_t cookie = shared_.synproxy_seq[index].load(std::memory_order_relaxed);
    shared_.synproxy_seq[index].store(seq - cookie, std::memory_order_relaxed);
    uint8_t cur = state;
    // The delta is stored before the state says it is there (release; readers acquire).
    while (!c.state.compare_exchange_weak(cur, with_phase(static_cast<uint8_t>(cur | conn_state::kSynAckSeen), TcpPhase::Established),
                                          std::memory_order_release, std::memory_order_relaxed)) {
      if (cur & conn_state::kDead) break;
    }
    note_transition(c, cur, with_phase(static_cast<uint8_t>(cur | conn_state::kSynAckSeen), TcpPhase::Established));
    stat(c.backend_id, abi::backend_stat::kSynAcks);  // an answered attempt, for passive health
  }
  if (c.last_seen.load(std::memory_order_relaxed) != now_ms) c.last_seen.store(now_ms, std::memory_order_relaxed);
  const uint32_t our_addr = p.key.dst_addr;   // the client (nat) or our SNAT address (fullnat)
  const uint16_t our_port = p.key.dst_port;
  if (!resize_frame(p.m, p.f.l3 + 40u)) {
    drop(out, p.i, DropReason::TcpTruncated);
    return true;
  }
  write_tcp_packet(rte_pktmbuf_mtod(p.m, uint8_t*), p.f.l3, our_addr, c.backend_addr(), our_port, c.backend_port(), ack,
                   seq + 1, tcp_bit::ACK, kProxyWindow, 0);
  if (route_out(p.m, c.backend_addr(), out, p.i)) count(WorkerCounter::Forwarded);
  return true;
}

void Worker::synproxy_park(Pending& p, uint32_t index, BurstOutput& out, uint32_t now_ms) {
  if (parked_count_ == kParkSlots) {
    drop(out, p.i, DropReason::SynproxyNotParked);
    return;
  }
  parked_[parked_count_++] = Parked{p.m, index, now_ms, p.f};
  set_verdict(out, p.i, Verdict::Kind::Kept);
}

// Between bursts: parked client packets whose backend has answered go on; those that waited
// too long, or whose connection is gone, are dropped.
void Worker::release_parked(uint32_t now_ms, BurstOutput& out) {
  out.count = 0;
  if (parked_count_ == 0) return;
  refresh_view();
  uint32_t kept = 0;
  for (uint32_t k = 0; k < parked_count_; ++k) {
    Parked& pk = parked_[k];
    Conn& c = flows_.entry(pk.entry);
    const uint8_t* data = rte_pktmbuf_mtod(pk.m, const uint8_t*);
    FlowKey key;
    std::memcpy(&key, data + pk.f.l3 + 12, 8);
    std::memcpy(reinterpret_cast<char*>(&key) + 8, data + pk.f.l4, 4);
    const uint8_t state = c.state.load(std::memory_order_acquire);
    const bool same = (state & conn_state::kDead) == 0 && c.fwd == key && (c.flags & conn_flag::kSynproxy);
    if (same && (state & conn_state::kSynAckSeen) && out.count < kBurst) {
      Pending p{pk.m, out.count, shared_.port_index(pk.m->port), pk.f, key, FlowHash{}, 0, 0, {}};
      out.mbufs[out.count] = pk.m;
      ++out.count;
      forward_existing(p, c, out, now_ms);
    } else if (!same || now_ms - pk.since_ms > kParkMs) {
      rte_pktmbuf_free(pk.m);
      status_.drops[static_cast<size_t>(DropReason::SynproxyNotParked)].add(1);
    } else {
      parked_[kept++] = pk;
    }
  }
  parked_count_ = kept;
}

// Adds `delta` to the sequence number (ack_field false) or the acknowledgement number
// (true) of a TCP packet, with its checksum.
void Worker::shift_seq(rte_mbuf* m, const ParsedFrame& f, int64_t delta, bool ack_field) {
  auto* tcp = rte_pktmbuf_mtod_offset(m, rte_tcp_hdr*, f.l4);
  uint8_t* field = reinterpret_cast<uint8_t*>(tcp) + (ack_field ? 8 : 4);
  rte_be32_t old, now;
  std::memcpy(&old, field, 4);
  now = rte_cpu_to_be_32(rte_be_to_cpu_32(old) + static_cast<uint32_t>(delta));
  CsumDelta d;
  d.replace32(old, now);
  std::memcpy(field, &now, 4);
  tcp->cksum = d.apply(tcp->cksum);
}

}  // namespace fulcrum::dp
