// New flows: choosing a backend and creating the connection entry.
//
// Done in two passes over the burst. prepare_new_flow() decides everything that needs no
// entry (VIP, flood defences, handoff to the owning worker, backend, the SNAT port), builds
// the reply key, and prefetches the memory the commit will write: the reply key's index
// bucket and the entry itself. commit_new_flow() then publishes each flow with that memory
// already on its way, instead of stalling on two cache misses per SYN in turn.
//
// A connection's first packet (a SYN, or an ACK the SYN proxy validated) gets the VIP's
// scheduler (worker_schedule.cpp); anything else without an entry gets plain Maglev.
//
// Without an entry a packet can still be forwarded (docs/dataplane.md, "Table pressure"):
// a nat flow by Maglev towards the backend, and a nat backend's packet back to its client,
// because the config allows each backend address:port in one nat VIP only.
#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "dataplane/abi/flow_hash.h"
#include "dataplane/worker/rewrite.h"
#include "dataplane/worker/worker_internal.h"

namespace fulcrum::dp {

using abi::DropReason;
using abi::WorkerCounter;

namespace {

// The VIP's backend for a new flow: Maglev table slot of the keyed flow hash. Every index
// read from the slot is bounds-checked, so even a torn slot (a worker that stalled past the
// writer's timeout) cannot make us read outside the region.
const abi::Backend* pick_backend(const abi::TableSlot& slot, const abi::Vip& vip, const FlowKey& key) {
  if (vip.maglev_size == 0 || vip.maglev_size > abi::kMaglevPoolEntries ||
      vip.maglev_offset > abi::kMaglevPoolEntries - vip.maglev_size || vip.backend_count > abi::kMaxBackends ||
      vip.backend_first > abi::kMaxBackends - vip.backend_count) {
    return nullptr;
  }
  uint64_t h = abi::flow_hash(abi::HashKey{vip.hash_key[0], vip.hash_key[1]}, key.src_addr, key.src_port,
                              key.dst_addr, key.dst_port, abi::kProtoTcp);
  uint16_t b = slot.maglev[vip.maglev_offset + abi::maglev_slot(h, vip.maglev_size)];
  if (b >= vip.backend_count) return nullptr;
  const abi::Backend& be = slot.backends[vip.backend_first + b];
  return be.id < abi::kMaxBackends ? &be : nullptr;
}

constexpr uint32_t kEvictPerNewFlow = 8;
// Retirements one burst can cause: per packet, the evictions of a new flow plus a retired
// old tuple and a failed publish (or a tables_changed withdrawal). The worker keeps this
// much room in its grace-period batches before every burst.
static_assert(3 * 256 >= kBurst * (kEvictPerNewFlow + 2), "Worker::kBurstReserve batches must hold a burst's retirements");

}  // namespace

void Worker::vip_drop(Pending& p, const abi::Vip& vip, DropReason reason, BurstOutput& out) {
  drop(out, p.i, reason);
  status_.vip_drops[vip.vip_id % abi::kMaxVips].add(1);
}


bool Worker::prepare_new_flow(Pending& p, BurstOutput& out, NewFlow& nf, uint32_t now_ms) {
  const abi::TableSlot* slot = view_.slot;
  if (slot == nullptr) {
    drop(out, p.i, DropReason::NoTables);
    return false;
  }
  int vi = abi::find_vip(*slot, p.key.dst_addr, p.key.dst_port, abi::kProtoTcp);
  if (vi < 0) {
    forward_without_entry(p, out, now_ms);
    return false;
  }
  // A source that is one of our own addresses can only be spoofed; as a client it would
  // take reply keys (and SNAT ports) from real flows.
  if (is_own_address(p.key.src_addr)) {
    drop(out, p.i, DropReason::IpBadSource);
    return false;
  }
  const abi::Vip& vip = slot->vips[vi];
  const uint8_t flags = p.f.tcp_flags;
  const bool syn = (flags & (tcp_bit::SYN | tcp_bit::ACK)) == tcp_bit::SYN;
  if (syn && !guard_.admit_syn(vip, burst_tsc())) {
    drop(out, p.i, DropReason::NewConnRateLimited);
    return false;
  }
  guard_.note_new_flow(now_ms);
  const bool fullnat = vip.mode == static_cast<uint8_t>(abi::ForwardMode::FullNat);
  uint16_t proxy_mss = 0;
  if (vip.synproxy != static_cast<uint8_t>(abi::Synproxy::Off) && shared_.synproxy_seq != nullptr) {
    if (syn && synproxy_active(vip)) {
      synproxy_answer_syn(p, vip, out, now_ms);  // no state at all until the client's ACK
      return false;
    }
    if (!syn && !(flags & (tcp_bit::RST | tcp_bit::SYN))) {
      proxy_mss = synproxy_check_ack(p, now_ms);
      if (proxy_mss == 0 && synproxy_active(vip)) {
        drop(out, p.i, DropReason::SynproxyBadCookie);
        return false;
      }
    }
  }
  if (flags & tcp_bit::RST) {
    // A reset for a flow we have no entry for (e.g. after a restart): in nat mode Maglev
    // still knows where it goes; it creates no state.
    const abi::Backend* be = pick_backend(*slot, vip, p.key);
    if (be == nullptr) vip_drop(p, vip, DropReason::NoBackend, out);
    else if (fullnat) drop(out, p.i, DropReason::NotForUs);
    else forward(p.m, p.f, out, p.i, be->addr_be, be->port_be, false, 0, 0);
    return false;
  }
  uint32_t owner = flows_.owner_of(p.h);
  if (owner != index_) {
    count(WorkerCounter::HandedOff);
    set_verdict(out, p.i, Verdict::Kind::Handoff, static_cast<uint8_t>(owner));
    return false;
  }
  if (!fullnat && proxy_mss == 0 && guard_.tripped()) {
    // The breaker: above the worker's new-flow rate, nat flows get no entry; both
    // directions still find their way (see the top of this file).
    const abi::Backend* be = pick_backend(*slot, vip, p.key);
    if (be == nullptr) {
      vip_drop(p, vip, DropReason::NoBackend, out);
    } else {
      count(WorkerCounter::BreakerStateless);
      forward(p.m, p.f, out, p.i, be->addr_be, be->port_be, false, 0, 0);
    }
    return false;
  }
  uint32_t e = flows_.alloc(index_);
  if (e == FlowRef::kNone) {
    // Room for the next new flow, after a grace period: the oldest handshakes go.
    count(WorkerCounter::ConntrackEvicted, evict_embryonic(kEvictPerNewFlow, now_ms));
    const abi::Backend* be = fullnat ? nullptr : pick_backend(*slot, vip, p.key);
    if (fullnat) {
      vip_drop(p, vip, DropReason::ConntrackFull, out);
    } else if (be == nullptr) {
      vip_drop(p, vip, DropReason::NoBackend, out);
    } else {
      count(WorkerCounter::StatelessForwards);
      forward(p.m, p.f, out, p.i, be->addr_be, be->port_be, false, 0, 0);
    }
    return false;
  }
  // The backend: the VIP's scheduler for a connection's first packet, Maglev otherwise.
  const abi::Backend* be = nullptr;
  bool limited = false;
  if (syn || proxy_mss != 0) {
    sched::Result r = choose_backend(p, vip, &limited);
    if (r.outcome == sched::Outcome::Chosen) be = &slot->backends[vip.backend_first + r.index];
    else {
      flows_.free(e);  // never visible: no grace period needed
      refuse_new_flow(p, vip, r.outcome, out);
      return false;
    }
  } else {
    be = pick_backend(*slot, vip, p.key);
    if (be == nullptr) {
      flows_.free(e);
      vip_drop(p, vip, DropReason::NoBackend, out);
      return false;
    }
  }
  nf = NewFlow{&p, &vip, be, e, FlowKey{be->addr_be, p.key.src_addr, be->port_be, p.key.src_port}, {}, fullnat,
               syn, proxy_mss, limited};
  if (fullnat && !choose_snat(p, vip, *be, nf)) {
    flows_.free(e);  // never visible: no grace period needed
    if (limited) shared_.limited_open[be->id].fetch_sub(1, std::memory_order_relaxed);
    evict_snat_holders(nf, now_ms);
    vip_drop(p, vip, DropReason::SnatExhausted, out);
    return false;
  }
  nf.rev_hash = flows_.hash(nf.rev);
  flows_.prefetch(nf.rev_hash);
  rte_prefetch0_write(&flows_.entry(e));
  return true;
}

// A source port on one of the VIP's SNAT addresses, towards this backend.
bool Worker::choose_snat(Pending& p, const abi::Vip& vip, const abi::Backend& be, NewFlow& nf) {
  uint32_t naddrs = vip.snat_count <= abi::kMaxSnatAddrs ? vip.snat_count : 0;
  for (uint32_t k = 0; k < naddrs; ++k) {
    uint32_t snat = vip.snat_addrs_be[(p.h.sig + k) % naddrs];
    uint16_t sport = snat_.alloc(SnatPorts::Key{snat, be.addr_be, be.port_be}, p.h.sig);
    if (sport != 0) {
      nf.rev.dst_addr = snat;
      nf.rev.dst_port = sport;
      return true;
    }
  }
  return false;
}

// Reverse-path check: the packet came in on the port its source is routed through.
bool Worker::arrived_from_its_route(const Pending& p) const {
  RouteResult r;
  return shared_.routes.lookup(p.key.src_addr, &r) && r.port == p.port;
}

// A TCP packet that matches no entry and is not to a VIP. A nat backend answering a client
// we have no entry for (the table was full, the breaker tripped, or the data plane
// restarted) is translated back from its VIP; anything else is not ours.
bool Worker::forward_without_entry(Pending& p, BurstOutput& out, uint32_t now_ms) {
  const abi::TableSlot& slot = *view_.slot;
  const uint8_t dst_kind = abi::local_addr_kind(slot, p.key.dst_addr);
  if (dst_kind & abi::local_addr::kSnat) {
    // issue 15: a NAT64 flow's reply lives in the IPv6 table (worker_nat64.cpp).
    if (nat64_reply(p.m, p.f, p.key, out, p.i, now_ms)) return true;
    // A backend still holding a connection we no longer have (a handshake evicted under a
    // SYN flood retransmits its SYN-ACK): answer as a closed port would, so the backend
    // forgets the tuple before this SNAT port goes to another client. Otherwise the new
    // client's SYN meets the old half-open connection, the backend answers it with a bare
    // ACK, and that handshake fails. Only towards where backends are (never a reflector
    // for the client side), and rate-limited.
    if (!(p.f.tcp_flags & tcp_bit::RST) && arrived_from_its_route(p) &&
        stray_resets_.take(kStrayResetRate, kStrayResetRate / 10, 1, burst_tsc())) {
      reset_client(p.m, p.f, out, p.i, WorkerCounter::SnatStrayResets);
      return false;
    }
    drop(out, p.i, DropReason::SnatNoEntry);
    return false;
  }
  int b = dst_kind == 0 && !shared_.is_any_port_addr(p.key.dst_addr) ? abi::find_nat_backend(slot, p.key.src_addr, p.key.src_port) : -1;
  const abi::Backend* be = b >= 0 ? &slot.backends[b] : nullptr;
  const abi::Vip* vip = be != nullptr && be->vip < std::min(slot.hdr.vip_count, abi::kMaxVips) ? &slot.vips[be->vip] : nullptr;
  if (vip == nullptr || vip->mode != static_cast<uint8_t>(abi::ForwardMode::Nat)) {
    drop(out, p.i, DropReason::NotForUs);
    return false;
  }
  // A late SYN-ACK from a backend a retried attempt has left (worker_retry.cpp): the
  // attempt lives on with another backend; the client must not see two handshakes.
  if ((p.f.tcp_flags & (tcp_bit::SYN | tcp_bit::ACK)) == (tcp_bit::SYN | tcp_bit::ACK)) {
    const FlowKey fwd{p.key.dst_addr, vip->addr_be, p.key.dst_port, vip->port_be};
    const FlowRef ref = flows_.lookup(fwd, flows_.hash(fwd));
    if (ref.found() && flows_.entry(ref.index).backend_id != be->id) {
      drop(out, p.i, DropReason::StaleSynAck);
      return false;
    }
  }
  // Only from where that backend is: a client-side host must not get its packets sent on
  // with the VIP as their source.
  if (!arrived_from_its_route(p)) {
    drop(out, p.i, DropReason::IpBadSource);
    return false;
  }
  uint8_t* data = rte_pktmbuf_mtod(p.m, uint8_t*);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + p.f.l3);
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(data + p.f.l4);
  nat_rewrite(ip, tcp, vip->addr_be, vip->port_be, ip->dst_addr, tcp->dst_port);
  if (p.m->pkt_len > p.f.l3 + uint32_t{p.f.ip_total}) {
    rte_pktmbuf_trim(p.m, static_cast<uint16_t>(p.m->pkt_len - p.f.l3 - p.f.ip_total));
  }
  if (route_out(p.m, p.key.dst_addr, out, p.i)) count(WorkerCounter::StatelessReplies);
  return true;
}

void Worker::commit_new_flow(NewFlow& nf, const NewFlow* earlier, uint16_t n_earlier, BurstOutput& out, uint32_t now_ms) {
  Pending& p = *nf.p;
  // Two packets of one new flow in one burst (a retransmitted SYN): the first created the
  // entry, the second must use it.
  for (uint16_t k = 0; k < n_earlier; ++k) {
    if (earlier[k].p->h.sig != p.h.sig || !(earlier[k].p->key == p.key)) continue;
    if (nf.fullnat) snat_.release(SnatPorts::Key{nf.rev.dst_addr, nf.be->addr_be, nf.be->port_be}, nf.rev.dst_port);
    if (nf.limited) shared_.limited_open[nf.be->id].fetch_sub(1, std::memory_order_relaxed);
    flows_.free(nf.entry);  // never visible
    FlowRef ref = flows_.lookup(p.key, p.h);
    if (!ref.found()) drop(out, p.i, DropReason::ConntrackFull);  // the first one could not be published
    else if (flows_.entry(ref.index).flags & conn_flag::kSynproxy) synproxy_park(p, ref.index, out, now_ms);
    else forward_existing(p, flows_.entry(ref.index), out, now_ms);
    return;
  }
  Conn& c = flows_.entry(nf.entry);
  c.fwd = p.key;
  c.rev = nf.rev;
  c.backend_id = nf.be->id;
  if (nf.fullnat) c.flags |= conn_flag::kFullNat;
  if (nf.limited) c.flags |= conn_flag::kLimited;
  c.flags |= static_cast<uint8_t>(p.attempt << conn_flag::kAttemptShift);
  if (nf.synproxy_mss != 0) {
    c.flags |= conn_flag::kSynproxy;
    // Until the backend's SYN-ACK: the ISN the cookie gave the client.
    uint32_t ack;
    std::memcpy(&ack, rte_pktmbuf_mtod_offset(p.m, const uint8_t*, p.f.l4 + 8), 4);
    shared_.synproxy_seq[nf.entry].store(rte_be_to_cpu_32(ack) - 1, std::memory_order_relaxed);
  }
  PublishResult r = flows_.publish(nf.entry, p.h, nf.rev_hash, initial_state(nf.syn || nf.synproxy_mss != 0), now_ms);
  if (r != PublishResult::Ok) {
    defer_free(nf.entry);  // a reader may have glimpsed the forward key
    if (nf.limited) shared_.limited_open[nf.be->id].fetch_sub(1, std::memory_order_relaxed);
    if (r == PublishResult::ReverseConflict) {
      drop(out, p.i, DropReason::NatConflict);
      status_.vip_drops[nf.vip->vip_id % abi::kMaxVips].add(1);
    } else if (nf.fullnat) {
      drop(out, p.i, DropReason::ConntrackFull);
      status_.vip_drops[nf.vip->vip_id % abi::kMaxVips].add(1);
    } else if (nf.synproxy_mss != 0) {
      drop(out, p.i, DropReason::ConntrackFull);  // the client retransmits; its cookie stays good
    } else if (const abi::Backend* be = pick_backend(*view_.slot, *nf.vip, p.key); be == nullptr) {
      vip_drop(p, *nf.vip, DropReason::NoBackend, out);
    } else {
      // Without an entry the flow's next packets go by Maglev: so must this one.
      count(WorkerCounter::StatelessForwards);
      forward(p.m, p.f, out, p.i, be->addr_be, be->port_be, false, 0, 0);
    }
    return;
  }
  created_[created_count_++] = nf.entry;
  if (nf.syn || nf.synproxy_mss != 0) admitted_.push(nf.entry, AdmissionQueue::tag_of(p.key));  // a handshake: evictable
  if (nf.syn && nf.synproxy_mss == 0) start_syn_clock(nf.entry);
  if (p.attempt != 0) retry_memory_->remember(p.h.sig, p.h.owner_bits, now_ms, p.tried, nf.be->id);
  count(WorkerCounter::NewConnections);
  if (!nf.syn && nf.synproxy_mss == 0) count(WorkerCounter::MidstreamPickups);
  status_.vip_new_connections[nf.vip->vip_id % abi::kMaxVips].add(1);
  status_.backend_opened[nf.be->id].add(1);
  status_.backend_traffic[nf.be->id].add(p.m->pkt_len);  // per-VIP/backend stats
  if (nf.synproxy_mss != 0) {
    synproxy_open_backend(nf, c, out);
    return;
  }
  forward(p.m, p.f, out, p.i, nf.be->addr_be, nf.be->port_be, nf.fullnat, c.rev.dst_addr, c.rev.dst_port);
}

}  // namespace fulcrum::dp
