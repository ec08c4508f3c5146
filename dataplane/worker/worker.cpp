// The burst function: parse, look up, translate. See worker.h and docs/dataplane.md.
#include "dataplane/worker/worker.h"

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#include "dataplane/worker/rewrite.h"
#include "dataplane/worker/worker_internal.h"

namespace fulcrum::dp {

using abi::DropReason;
using abi::WorkerCounter;

namespace {

constexpr uint16_t kPrefetchAhead = 4;
constexpr uint8_t kBroadcastMac[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

}  // namespace

Worker::Worker(Shared& shared, uint32_t index, abi::WorkerStatus& status)
    : shared_(shared), flows_(shared.flows()), index_(index), status_(status),
      snat_(index, shared.workers(), abi::kMaxSnatPools), guard_(shared.workers(), shared.flood().breaker_rate, status),
      batches_(kBatches), sched_(std::make_unique<sched::WorkerState>()),
      backend_buckets_(std::make_unique<TokenBucket[]>(abi::kMaxBackends)), retry_memory_(std::make_unique<RetryMemory>()),
      tsc_hz_(rte_get_tsc_hz()), admitted_(flows_.partition_end(index) - flows_.partition_begin(index)),
      admitted6_(shared.flows6().partition_end(index) - shared.flows6().partition_begin(index)) {
  if (shared.status != nullptr) {
    backend_stats_ = shared.status->backend_stats[index_];
  } else {
    own_backend_stats_ = std::make_unique<abi::BackendStats[]>(abi::kMaxBackends);
    backend_stats_ = own_backend_stats_.get();
  }
  sweep_cursor_ = flows_.partition_begin(index_);
  sweep6_cursor_ = shared_.flows6().partition_begin(index_);
  evict_cursor_ = sweep_cursor_;
  for (const PortInfo& p : shared_.ports) punt_ports_ |= p.exception_port != kNoPort;  // issue 11
}

Worker::~Worker() {
  for (uint32_t k = 0; k < parked_count_; ++k) rte_pktmbuf_free(parked_[k].m);
}

void Worker::start() {
  status_.lcore_id = rte_lcore_id();
  status_.role = static_cast<uint32_t>(abi::WorkerRole::Worker);
  rte_rcu_qsbr_thread_register(shared_.qsbr, index_);
  rte_rcu_qsbr_thread_online(shared_.qsbr, index_);
  const abi::TablesRegion* tables = shared_.tables.load(std::memory_order_acquire);
  if (tables != nullptr) abi::worker_online(*tables, status_);
  else status_.online.store(1, std::memory_order_seq_cst);
}

void Worker::stop() {
  abi::worker_offline(status_);
  rte_rcu_qsbr_thread_offline(shared_.qsbr, index_);
  rte_rcu_qsbr_thread_unregister(shared_.qsbr, index_);
}

void Worker::refresh_view() {
  tables_ = shared_.tables.load(std::memory_order_acquire);
  view_ = tables_ != nullptr ? abi::begin_burst(*tables_, status_) : abi::TableView{};
}

void Worker::idle_tick() { refresh_view(); }

void Worker::set_verdict(BurstOutput& out, uint16_t i, Verdict::Kind kind, uint8_t target) {
  out.verdicts[i].kind = kind;
  out.verdicts[i].target = target;
}

void Worker::drop(BurstOutput& out, uint16_t i, DropReason reason) {
  if (punt_ports_ && punt_instead(out, i, reason)) return;  // issue 11: exception path
  out.verdicts[i].kind = Verdict::Kind::Drop;
  out.verdicts[i].reason = reason;
  status_.drops[static_cast<size_t>(reason)].add(1);
}

bool Worker::is_own_address(uint32_t addr_be) const {
  return shared_.is_port_addr(addr_be) || (view_.slot != nullptr && abi::local_addr_kind(*view_.slot, addr_be) != 0);
}

void Worker::process_burst(rte_mbuf** pkts, uint16_t n, uint32_t now_ms, BurstOutput& out, bool from_nic) {
  // The last point before the burst takes table references: make sure no retirement in it
  // will have to wait for a grace period (see kBurstReserve).
  if (batch_closed_ + kBurstReserve >= kBatches) reclaim(true);
  in_burst_ = true;
  burst_tsc_ = rte_rdtsc();
  refresh_view();
  neigh_version_ = shared_.neighbours.version();
  neigh6_version_ = shared_.neighbours6.version();
  created_count_ = 0;
  out.count = n;
  Pending tcp[kBurst];
  uint16_t ntcp = 0;
  Pending6 tcp6[kBurst];
  uint16_t ntcp6 = 0;
  uint64_t bytes = 0;

  // Pass 1: parse every frame, settle the non-TCP ones, hash the TCP ones and prefetch
  // their index buckets.
  for (uint16_t i = 0; i < n && i < kPrefetchAhead; ++i) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
  for (uint16_t i = 0; i < n; ++i) {
    if (i + kPrefetchAhead < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetchAhead], void*));
    rte_mbuf* m = pkts[i];
    out.mbufs[i] = m;
    bytes += m->pkt_len;
    uint8_t port = shared_.port_index(m->port);
    const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
    if (m->data_len < 14) {
      drop(out, i, DropReason::FrameTooShort);
      continue;
    }
    const bool unicast = port != 0xFF && std::memcmp(data, shared_.ports[port].mac.data(), 6) == 0;
    const bool broadcast = port != 0xFF && std::memcmp(data, kBroadcastMac, 6) == 0;
    // issue 15: IPv6 multicast (33:33:...) carries neighbour solicitations to solicited-node
    // groups; only those pass (checked after parsing).
    const bool multicast6 = port != 0xFF && data[0] == 0x33 && data[1] == 0x33;
    if (!unicast && !broadcast && !multicast6) {
      drop(out, i, DropReason::L2NotForUs);
      continue;
    }
    bool csum_ok = shared_.ports[port].rx_ip_checksum &&
                   (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
    ParsedFrame f = parse_frame(data, m->data_len, m->pkt_len, csum_ok);
    if (broadcast && f.kind != FrameKind::Arp && f.kind != FrameKind::Drop) {
      // RFC 1812 5.3.4: IP in a link-layer broadcast is not forwarded. With several
      // balancers on one segment, each would forward its own copy.
      drop(out, i, DropReason::L2NotForUs);
      continue;
    }
    if (multicast6 && !(f.kind == FrameKind::Icmp6 && f.l4 < m->data_len && data[f.l4] == 135)) {
      drop(out, i, DropReason::L2NotForUs);
      continue;
    }
    if (f.has_options) count(WorkerCounter::IpOptions);
    if (f.ipv6_ext) count(WorkerCounter::Ipv6ExtHeaders);
    in_port_ = port;
    switch (f.kind) {
      case FrameKind::Drop:
        drop(out, i, f.drop);
        break;
      case FrameKind::Arp:
        if (punt_ports_ && punt_arp(out, i, port, data, f)) break;  // issue 11: the host's ARP
        handle_arp(m, f, port, out, i);
        break;
      case FrameKind::OtherIp:
        drop(out, i, DropReason::IpUnsupportedProtocol);
        break;
      case FrameKind::Icmp:
        handle_icmp(m, f, out, i, now_ms);
        break;
      // IPv6 (issue 15): worker_ipv6.cpp, worker_icmp6.cpp. On ports without an IPv6
      // address (and with host sharing, for the host's own IPv6) these end as drops, which
      // punt_instead() turns into punts where the port has a kernel interface.
      case FrameKind::Tcp6:
        if (start_tcp6(m, f, port, out, i, tcp6[ntcp6])) ++ntcp6;
        break;
      case FrameKind::Icmp6:
        handle_icmp6(m, f, port, out, i, now_ms);
        break;
      case FrameKind::OtherIp6:
        drop(out, i, DropReason::IpUnsupportedProtocol);
        break;
      case FrameKind::Tcp: {
        // Every TCP packet we accept is forwarded: one that would expire at this hop must
        // not create state first.
        if (data[f.l3 + 8] <= 1) {
          drop(out, i, DropReason::IpTtlExceeded);
          break;
        }
        Pending& p = tcp[ntcp++];
        p.attempt = 0;
        p.m = m;
        p.i = i;
        p.port = port;
        p.f = f;
        // Addresses and ports are adjacent in the headers: two loads, and the key is
        // stored as the same two words (see FlowTable::hash_words).
        uint64_t addrs;
        uint32_t ports;
        std::memcpy(&addrs, data + f.l3 + 12, 8);
        std::memcpy(&ports, data + f.l4, 4);
        std::memcpy(&p.key, &addrs, 8);
        std::memcpy(reinterpret_cast<char*>(&p.key) + 8, &ports, 4);
        p.h = flows_.hash_words(addrs, ports);
        flows_.prefetch(p.h);
        break;
      }
    }
  }
  if (from_nic) {
    count(WorkerCounter::RxPackets, n);
    count(WorkerCounter::RxBytes, bytes);
  }

  // Pass 2: the buckets are (being) fetched; prefetch the entry their signature points to.
  for (uint16_t k = 0; k < ntcp; ++k) {
    tcp[k].candidate = flows_.candidate(tcp[k].h);
    if (tcp[k].candidate != 0) flows_.prefetch_entry(FlowTable::entry_of(tcp[k].candidate));
  }
  FlowTable6& flows6 = shared_.flows6();
  for (uint16_t k = 0; k < ntcp6; ++k) {
    tcp6[k].candidate = flows6.candidate(tcp6[k].h);
    if (tcp6[k].candidate != 0) flows6.prefetch_entry(FlowTable6::entry_of(tcp6[k].candidate));
  }
  // Pass 3: look up and translate; new flows are prepared (backend chosen, memory
  // prefetched) here and committed in pass 4.
  NewFlow fresh[kBurst];
  uint16_t nfresh = 0;
  for (uint16_t k = 0; k < ntcp; ++k) {
    in_port_ = tcp[k].port;
    if (!handle_tcp(tcp[k], out, now_ms) && prepare_new_flow(tcp[k], out, fresh[nfresh], now_ms)) ++nfresh;
  }
  // A new flow can repeat an earlier one of the burst (a retransmitted SYN) only if that one
  // set its signature's bit here: the others skip commit_new_flow()'s search of the earlier
  // ones (issue 14: that search was half of the commit's instructions).
  uint64_t sig_bits[4] = {0, 0, 0, 0};
  for (uint16_t k = 0; k < nfresh; ++k) {
    const uint32_t sig = fresh[k].p->h.sig;
    uint64_t& word = sig_bits[(sig >> 6) & 3];
    const uint64_t bit = uint64_t{1} << (sig & 63);
    commit_new_flow(fresh[k], fresh, (word & bit) ? k : 0, out, now_ms);
    word |= bit;
  }
  // IPv6 (issue 15, worker_ipv6.cpp): looked up and translated, new flows created at once.
  for (uint16_t k = 0; k < ntcp6; ++k) {
    in_port_ = tcp6[k].port;
    handle_tcp6(tcp6[k], out, now_ms);
  }

  if (!abi::burst_still_valid(view_)) {
    // The slot this burst read was rewritten under it (this worker stalled past the
    // writer's timeout): nothing decided from it may leave.
    for (uint16_t i = 0; i < n; ++i) {
      Verdict::Kind k = out.verdicts[i].kind;
      if (k == Verdict::Kind::Tx || k == Verdict::Kind::Hold) drop(out, i, DropReason::TablesChanged);
    }
    for (uint32_t c = 0; c < created_count_; ++c) retire(created_[c]);
  }
  in_burst_ = false;
}

// ARP is filtered here, so that a flood of it cannot reach the main lcore: requests for
// one of our addresses go to its ring; ARP from a neighbour we know (an answer to our
// request, or one that may announce a new MAC) to its priority ring; the rest is dropped.
void Worker::handle_arp(rte_mbuf* m, const ParsedFrame& f, uint8_t port, BurstOutput& out, uint16_t i) {
  if (m->data_len < f.l3 + sizeof(rte_arp_hdr)) {
    drop(out, i, DropReason::ArpMalformed);
    return;
  }
  const auto* arp = reinterpret_cast<const rte_arp_hdr*>(rte_pktmbuf_mtod(m, const uint8_t*) + f.l3);
  const uint16_t op = rte_be_to_cpu_16(arp->arp_opcode);
  if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) || arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
      arp->arp_hlen != 6 || arp->arp_plen != 4 || (op != RTE_ARP_OP_REQUEST && op != RTE_ARP_OP_REPLY)) {
    drop(out, i, DropReason::ArpMalformed);
    return;
  }
  const uint32_t sip = arp->arp_data.arp_sip, tip = arp->arp_data.arp_tip;
  if (sip != 0 && is_own_address(sip)) {
    drop(out, i, DropReason::ArpBadSource);
    return;
  }
  NeighView nv;
  const bool known = sip != 0 && shared_.neighbours.lookup(sip, &nv);
  const bool for_us = tip == shared_.ports[port].addr_be ||
                      (view_.slot != nullptr && abi::local_addr_kind(*view_.slot, tip) != 0);
  // The priority ring carries what resolution needs: answers for a neighbour being resolved,
  // and a live neighbour speaking with the MAC we have (confirmation). A live neighbour's
  // address with another MAC is a claim of change, or a spoof: it takes the ordinary ring,
  // so that a flood of such claims can never crowd out the real owner's answers.
  const bool relevant = known && nv.state != NeighState::Static && (op == RTE_ARP_OP_REPLY || for_us || sip == tip);
  const bool confirms = relevant && (!nv.usable() || std::memcmp(nv.mac.data(), arp->arp_data.arp_sha.addr_bytes, 6) == 0);
  if (confirms) {
    set_verdict(out, i, Verdict::Kind::ToMainPrio);
  } else if (relevant || (op == RTE_ARP_OP_REQUEST && for_us)) {
    set_verdict(out, i, Verdict::Kind::ToMain);
  } else {
    drop(out, i, op == RTE_ARP_OP_REPLY ? DropReason::ArpUnsolicited : DropReason::ArpNotForUs);
  }
}

bool Worker::handle_tcp(Pending& p, BurstOutput& out, uint32_t now_ms) {
  FlowRef ref = flows_.lookup_from(p.key, p.h, p.candidate);
  if (!ref.found()) return false;
  Conn& c = flows_.entry(ref.index);
  const uint8_t flags = p.f.tcp_flags;
  if (ref.dir == Dir::FromBackend) {
    status_.backend_traffic[c.backend_id % abi::kMaxBackends].add(p.m->pkt_len);  // per-VIP/backend stats
    if ((c.flags & conn_flag::kSynproxy) && synproxy_backend_handshake(p, c, ref.index, out, now_ms)) return true;
    if (backend_answers_attempt(p, c, ref.index, out, now_ms)) return true;  // a refusal kept from the client
    touch(c, Dir::FromBackend, flags, p.payload(), now_ms);
    reply(p.m, p.f, out, p.i, c);
    return true;
  }
  const uint8_t state = c.state.load(std::memory_order_relaxed);
  // A client SYN on a closed tuple is a new connection; on an attempt its backend refused,
  // never answered, or left, it is another attempt on another backend (worker_retry.cpp).
  const SynRestart restart = (flags & (tcp_bit::SYN | tcp_bit::ACK)) == tcp_bit::SYN ? syn_restart(c, state, now_ms) : SynRestart::None;
  if (restart != SynRestart::None) {
    uint32_t owner = flows_.partition_of(ref.index);
    if (owner != index_) {
      count(WorkerCounter::HandedOff);
      set_verdict(out, p.i, Verdict::Kind::Handoff, static_cast<uint8_t>(owner));
      return true;
    }
    if (restart != SynRestart::NewConnection) begin_retry(p, c, restart, now_ms);
    retire(ref.index);  // the client reuses the tuple: a new entry, a new choice
    return false;
  }
  if ((c.flags & conn_flag::kSynproxy) && !(state & conn_state::kSynAckSeen)) {
    synproxy_park(p, ref.index, out, now_ms);
    return true;
  }
  forward_existing(p, c, out, now_ms);
  return true;
}

void Worker::forward_existing(Pending& p, Conn& c, BurstOutput& out, uint32_t now_ms) {
  status_.backend_traffic[c.backend_id % abi::kMaxBackends].add(p.m->pkt_len);  // per-VIP/backend stats
  touch(c, Dir::FromClient, p.f.tcp_flags, p.payload(), now_ms);
  if (view_.slot != nullptr && c.backend_id < abi::kMaxBackends && abi::resets_flows(view_.slot->backend_flags[c.backend_id])) {
    uint8_t cur = c.state.load(std::memory_order_relaxed);
    while (!c.state.compare_exchange_weak(cur, with_phase(cur, TcpPhase::Closed), std::memory_order_relaxed)) {
    }
    note_transition(c, cur, with_phase(cur, TcpPhase::Closed));
    // Never answer a RST with a RST (RFC 793): the client is closing anyway.
    if (p.f.tcp_flags & tcp_bit::RST) drop(out, p.i, DropReason::BackendDownReset);
    else reset_client(p.m, p.f, out, p.i);
    return;
  }
  if ((c.flags & conn_flag::kSynproxy) && (p.f.tcp_flags & tcp_bit::ACK)) {
    shift_seq(p.m, p.f, shared_.synproxy_seq[&c - &flows_.entry(0)].load(std::memory_order_acquire), true);
  }
  forward(p.m, p.f, out, p.i, c.backend_addr(), c.backend_port(), (c.flags & conn_flag::kFullNat) != 0,
          c.snat_addr(), c.snat_port());
}

void Worker::forward(rte_mbuf* m, const ParsedFrame& f, BurstOutput& out, uint16_t i, uint32_t backend_addr,
                     uint16_t backend_port, bool fullnat, uint32_t snat_addr, uint16_t snat_port) {
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + f.l3);
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(data + f.l4);
  nat_rewrite(ip, tcp, fullnat ? snat_addr : ip->src_addr, fullnat ? snat_port : tcp->src_port, backend_addr,
              backend_port);
  if (m->pkt_len > f.l3 + uint32_t{f.ip_total}) rte_pktmbuf_trim(m, static_cast<uint16_t>(m->pkt_len - f.l3 - f.ip_total));
  if (route_out(m, backend_addr, out, i)) count(WorkerCounter::Forwarded);
}

void Worker::reply(rte_mbuf* m, const ParsedFrame& f, BurstOutput& out, uint16_t i, const Conn& c) {
  if (c.flags & conn_flag::kSynproxy) {
    // The client knows the sequence numbers the cookie began, not the backend's.
    uint32_t delta = shared_.synproxy_seq[&c - &flows_.entry(0)].load(std::memory_order_acquire);
    shift_seq(m, f, -static_cast<int64_t>(delta), false);
  }
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + f.l3);
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(data + f.l4);
  // The backend answers from its own address to the client (nat) or to our SNAT address
  // (fullnat); the client must see the VIP answering it.
  nat_rewrite(ip, tcp, c.vip_addr(), c.vip_port(), c.client_addr(), c.client_port());
  if (m->pkt_len > f.l3 + uint32_t{f.ip_total}) rte_pktmbuf_trim(m, static_cast<uint16_t>(m->pkt_len - f.l3 - f.ip_total));
  if (route_out(m, c.client_addr(), out, i)) count(WorkerCounter::Forwarded);
}

bool Worker::route_out(rte_mbuf* m, uint32_t dst_be, BurstOutput& out, uint16_t i, bool originated) {
  NextHop& cached = next_hops_[(dst_be * 2654435761u) >> 26];
  static_assert(kNextHopCache == 64, "the index above takes the top 6 bits");
  NextHop hop = cached;
  if (hop.dst_be != dst_be || hop.version != neigh_version_) {
    RouteResult r;
    if (!shared_.routes.lookup(dst_be, &r)) {
      drop(out, i, DropReason::NoRoute);
      return false;
    }
    NeighView nv;
    uint32_t version = 1;
    bool known = shared_.neighbours.lookup(r.next_hop_be, &nv, &version);
    if (!known || !nv.usable()) {
      if (originated) {
        drop(out, i, DropReason::UnresolvedReply);
        return false;
      }
      if (known && nv.state == NeighState::Failed) {
        drop(out, i, DropReason::NeighbourFailed);
        return false;
      }
      m->hash.usr = r.next_hop_be;  // for the main lcore, which resolves and sends it
      count(WorkerCounter::NeighbourHeld);
      set_verdict(out, i, Verdict::Kind::Hold, r.port);
      return true;
    }
    hop = NextHop{dst_be, version, r.port, nv.mac};
    if (version == neigh_version_) cached = hop;  // only what is valid for this burst's version
  }
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  std::memcpy(eth->dst_addr.addr_bytes, hop.mac.data(), 6);
  std::memcpy(eth->src_addr.addr_bytes, shared_.ports[hop.port].mac.data(), 6);
  set_verdict(out, i, Verdict::Kind::Tx, hop.port);
  return true;
}

}  // namespace fulcrum::dp
