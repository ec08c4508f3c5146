// IPv6 TCP on the workers (issue 15): IPv6 VIPs to IPv6 backends in nat and fullnat, and
// IPv6 VIPs to IPv4 backends (NAT64, worker_nat64.cpp does the IPv4 side).
//
// The same steps as the IPv4 path (worker.cpp, worker_new_flow.cpp) on the IPv6 table
// (FlowTable6), with the same prefetch passes over the burst (bucket, then entry): look up,
// translate existing flows, give new ones a backend by the VIP's scheduler (the same
// sched::Chooser, fed the IPv6 flow hash) and an entry in the owning worker's partition. What the IPv4 path has and this one does not, yet
// (docs/dataplane.md "IPv6"): the two-pass commit of new flows, the SYN proxy (refused for
// IPv6 VIPs by the config), connect retries and the new-flow breaker's stateless mode.
// Under table pressure the oldest IPv6 handshakes are evicted as IPv4's are; a new flow that
// finds the table full is dropped and counted (conntrack_full) while the evicted entries
// wait for their grace period. A nat backend's reply without an entry is translated back
// statelessly, as for IPv4.
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "dataplane/abi/flow_hash.h"
#include "dataplane/worker/rewrite6.h"
#include "dataplane/worker/worker_internal.h"

namespace fulcrum::dp {

using abi::DropReason;
using abi::WorkerCounter;

namespace {

// A backend's IPv6 address, or its IPv4 one as IPv4-mapped (NAT64).
Addr6 backend_addr_of(const abi::TableSlot& slot, const abi::Vip& vip, uint32_t pos) {
  return vip.backend_family == static_cast<uint8_t>(abi::Family::Ipv6) ? slot.backend_addr6[pos]
                                                                       : v4_mapped(slot.backends[pos].addr_be);
}

// The SNAT pools are keyed by 32-bit words: an IPv6 address folds into one. Two pairs that
// fold alike share a pool, which only narrows it; uniqueness of reply keys is the flow
// table's (publish refuses a reverse key in use).
uint32_t fold32(const Addr6& a) {
  const uint64_t f = abi::ip6_fold(a);
  return static_cast<uint32_t>(f ^ (f >> 32));
}

uint64_t flow_hash_of(const abi::Vip& vip, const FlowKey6& key) {
  return abi::flow_hash6(abi::HashKey{vip.hash_key[0], vip.hash_key[1]}, key.src_addr.b, key.src_port, key.dst_addr.b,
                         key.dst_port, abi::kProtoTcp);
}

// Plain Maglev for a flow without a scheduler's choice (picked up mid-stream).
int pick_backend6(const abi::TableSlot& slot, const abi::Vip& vip, const FlowKey6& key) {
  if (vip.maglev_size == 0 || vip.maglev_size > abi::kMaglevPoolEntries ||
      vip.maglev_offset > abi::kMaglevPoolEntries - vip.maglev_size || vip.backend_count > abi::kMaxBackends ||
      vip.backend_first > abi::kMaxBackends - vip.backend_count) {
    return -1;
  }
  uint16_t b = slot.maglev[vip.maglev_offset + abi::maglev_slot(flow_hash_of(vip, key), vip.maglev_size)];
  if (b >= vip.backend_count || slot.backends[vip.backend_first + b].id >= abi::kMaxBackends) return -1;
  return static_cast<int>(vip.backend_first + b);
}

}  // namespace

bool Worker::is_own_address6(const Addr6& addr) const {
  return shared_.is_port_addr6(addr) || (view_.slot != nullptr && abi::local_addr6_kind(*view_.slot, addr) != 0);
}

bool Worker::start_tcp6(rte_mbuf* m, const ParsedFrame& f, uint8_t port, BurstOutput& out, uint16_t i, Pending6& q) {
  const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint8_t* ip6 = data + f.l3;
  // Every TCP packet accepted is forwarded: one that would expire here creates no state.
  if (ip6[ip6_off::kHopLimit] <= 1) {
    drop(out, i, DropReason::IpTtlExceeded);
    return false;
  }
  q.m = m;
  q.i = i;
  q.port = port;
  q.f = f;
  std::memcpy(q.key.src_addr.b, ip6 + ip6_off::kSrc, 16);
  std::memcpy(q.key.dst_addr.b, ip6 + ip6_off::kDst, 16);
  std::memcpy(&q.key.src_port, data + f.l4, 2);
  std::memcpy(&q.key.dst_port, data + f.l4 + 2, 2);
  q.h = shared_.flows6().hash(q.key);
  shared_.flows6().prefetch(q.h);
  return true;
}

void Worker::handle_tcp6(Pending6& q, BurstOutput& out, uint32_t now_ms) {
  rte_mbuf* m = q.m;
  const ParsedFrame& f = q.f;
  const uint16_t i = q.i;
  const FlowKey6& key = q.key;
  const FlowHash& h = q.h;
  FlowTable6& flows6 = shared_.flows6();
  const FlowRef ref = flows6.lookup_from(key, h, q.candidate);
  const bool payload = f.l4_len > f.tcp_header_len;
  if (ref.found()) {
    Conn6& c = flows6.entry(ref.index);
    if (ref.dir == Dir::FromBackend) {
      status_.backend_traffic[c.backend_id % abi::kMaxBackends].add(m->pkt_len);
      touch(c, Dir::FromBackend, f.tcp_flags, payload, now_ms);
      reply6(m, f, c, out, i);
      return;
    }
    const uint8_t state = c.state.load(std::memory_order_relaxed);
    const bool syn = (f.tcp_flags & (tcp_bit::SYN | tcp_bit::ACK)) == tcp_bit::SYN;
    if (!(syn && phase_of(state) == TcpPhase::Closed)) {
      status_.backend_traffic[c.backend_id % abi::kMaxBackends].add(m->pkt_len);
      touch(c, Dir::FromClient, f.tcp_flags, payload, now_ms);
      if (view_.slot != nullptr && c.backend_id < abi::kMaxBackends &&
          abi::resets_flows(view_.slot->backend_flags[c.backend_id])) {
        uint8_t cur = c.state.load(std::memory_order_relaxed);
        while (!c.state.compare_exchange_weak(cur, with_phase(cur, TcpPhase::Closed), std::memory_order_relaxed)) {
        }
        note_transition(c, cur, with_phase(cur, TcpPhase::Closed));
        if (f.tcp_flags & tcp_bit::RST) drop(out, i, DropReason::BackendDownReset);
        else reset_client6(m, f, out, i);
        return;
      }
      forward6(m, f, c, out, i);
      return;
    }
    // A client reusing a closed tuple: a new connection, a new choice, by the owner.
    const uint32_t owner = flows6.partition_of(ref.index);
    if (owner != index_) {
      count(WorkerCounter::HandedOff);
      set_verdict(out, i, Verdict::Kind::Handoff, static_cast<uint8_t>(owner));
      return;
    }
    retire6(ref.index);
  }
  new_flow6(m, f, key, h, out, i, now_ms);
}

// A nat backend's packet to a client we have no entry for (the data plane restarted, or
// the entry expired): translated back from its VIP, as IPv4 does (worker_new_flow.cpp,
// forward_without_entry), because the config allows each backend address:port in one nat
// VIP only; and only when it came in on the port its source is routed through, so that no
// client-side host can get packets sent on with the VIP as their source.
bool Worker::stateless_reply6(rte_mbuf* m, const ParsedFrame& f, const FlowKey6& key, BurstOutput& out, uint16_t i) {
  const abi::TableSlot& slot = *view_.slot;
  const int b = abi::find_nat_backend6(slot, key.src_addr, key.src_port);
  if (b < 0) return false;
  const abi::Backend& be = slot.backends[b];
  if (be.vip >= std::min(slot.hdr.vip_count, abi::kMaxVips)) return false;
  const abi::Vip& vip = slot.vips[be.vip];
  if (vip.mode != static_cast<uint8_t>(abi::ForwardMode::Nat) || vip.family != static_cast<uint8_t>(abi::Family::Ipv6)) return false;
  RouteResult6 r;
  if (!shared_.routes6.lookup(key.src_addr, &r) || r.port != in_port_) {
    drop(out, i, DropReason::IpBadSource);
    return true;
  }
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  nat_rewrite6(data + f.l3, reinterpret_cast<rte_tcp_hdr*>(data + f.l4), slot.vip6[be.vip].addr, vip.port_be,
               key.dst_addr, key.dst_port);
  if (m->pkt_len > f.l3 + uint32_t{f.ip_total}) rte_pktmbuf_trim(m, static_cast<uint16_t>(m->pkt_len - f.l3 - f.ip_total));
  if (route_out6(m, key.dst_addr, out, i)) count(WorkerCounter::StatelessReplies);
  return true;
}

void Worker::new_flow6(rte_mbuf* m, const ParsedFrame& f, const FlowKey6& key, const FlowHash& h, BurstOutput& out,
                       uint16_t i, uint32_t now_ms) {
  const abi::TableSlot* slot = view_.slot;
  if (slot == nullptr) {
    drop(out, i, DropReason::NoTables);
    return;
  }
  const int vi = abi::find_vip6(*slot, key.dst_addr, key.dst_port, abi::kProtoTcp);
  if (vi < 0) {
    const uint8_t kind = abi::local_addr6_kind(*slot, key.dst_addr);
    if (kind & abi::local_addr::kSnat) drop(out, i, DropReason::SnatNoEntry);
    else if (kind != 0 || shared_.is_any_port_addr6(key.dst_addr) || !stateless_reply6(m, f, key, out, i)) drop(out, i, DropReason::NotForUs);
    return;
  }
  if (is_own_address6(key.src_addr)) {
    drop(out, i, DropReason::IpBadSource);
    return;
  }
  const abi::Vip& vip = slot->vips[vi];
  const uint8_t flags = f.tcp_flags;
  const bool syn = (flags & (tcp_bit::SYN | tcp_bit::ACK)) == tcp_bit::SYN;
  if (flags & tcp_bit::RST) {
    drop(out, i, DropReason::NotForUs);  // a reset for a flow we do not have: nothing to reset
    return;
  }
  if (syn && !guard_.admit_syn(vip, burst_tsc())) {
    drop(out, i, DropReason::NewConnRateLimited);
    return;
  }
  guard_.note_new_flow(now_ms);
  FlowTable6& flows6 = shared_.flows6();
  const uint32_t owner = flows6.owner_of(h);
  if (owner != index_) {
    count(WorkerCounter::HandedOff);
    set_verdict(out, i, Verdict::Kind::Handoff, static_cast<uint8_t>(owner));
    return;
  }
  const uint32_t e = flows6.alloc(index_);
  if (e == FlowRef::kNone) {
    // Room for the next new flow, after a grace period: the oldest handshakes go.
    count(WorkerCounter::ConntrackEvicted, evict_embryonic6(8, now_ms));
    drop(out, i, DropReason::ConntrackFull);
    status_.vip_drops[vip.vip_id % abi::kMaxVips].add(1);
    return;
  }
  int pos = -1;
  bool limited = false;
  if (syn) {
    sched::VipView v;
    if (sched::view_of(*slot, vip, &v)) {
      sched::Loads loads;
      if (shared_.status != nullptr) loads = sched::Loads{shared_.status->backend_live, shared_.status->vip_live};
      sched::Tried tried{};
      sched::Chooser chooser(v, flow_hash_of(vip, key), loads, tried, *sched_);
      const sched::Result r = chooser.choose([&](const abi::Backend& b) { return admit(b, &limited); });
      if (r.outcome == sched::Outcome::Chosen) {
        pos = static_cast<int>(vip.backend_first + r.index);
      } else {
        flows6.free(e);  // never visible
        if (r.outcome == sched::Outcome::AllFull && vip.on_full == static_cast<uint8_t>(abi::OnFull::Reset)) {
          reset_client6(m, f, out, i, WorkerCounter::FullResets);
        } else {
          drop(out, i, r.outcome == sched::Outcome::AllFull ? DropReason::BackendsFull : DropReason::NoBackend);
          status_.vip_drops[vip.vip_id % abi::kMaxVips].add(1);
        }
        return;
      }
    }
  } else {
    pos = pick_backend6(*slot, vip, key);
  }
  if (pos < 0) {
    flows6.free(e);
    drop(out, i, DropReason::NoBackend);
    status_.vip_drops[vip.vip_id % abi::kMaxVips].add(1);
    return;
  }
  const abi::Backend& be = slot->backends[pos];
  const bool fullnat = vip.mode == static_cast<uint8_t>(abi::ForwardMode::FullNat);
  const bool nat64 = vip.backend_family == static_cast<uint8_t>(abi::Family::Ipv4);
  FlowKey6 rev{backend_addr_of(*slot, vip, static_cast<uint32_t>(pos)), key.src_addr, be.port_be, key.src_port};
  if ((fullnat || nat64) && !choose_snat6(vip, static_cast<uint32_t>(vi), be, h, rev)) {
    flows6.free(e);
    if (limited) shared_.limited_open[be.id].fetch_sub(1, std::memory_order_relaxed);
    drop(out, i, DropReason::SnatExhausted);
    status_.vip_drops[vip.vip_id % abi::kMaxVips].add(1);
    return;
  }
  Conn6& c = flows6.entry(e);
  c.fwd = key;
  c.rev = rev;
  c.backend_id = be.id;
  if (fullnat || nat64) c.flags |= conn_flag::kFullNat;
  if (nat64) c.flags |= conn_flag::kNat64;
  if (limited) c.flags |= conn_flag::kLimited;
  const PublishResult r = flows6.publish(e, h, flows6.hash(rev), initial_state(syn), now_ms);
  if (r != PublishResult::Ok) {
    defer_free(e | kV6Entry);  // a reader may have glimpsed the forward key: free after a grace period
    if (limited) shared_.limited_open[be.id].fetch_sub(1, std::memory_order_relaxed);
    drop(out, i, r == PublishResult::ReverseConflict ? DropReason::NatConflict : DropReason::ConntrackFull);
    status_.vip_drops[vip.vip_id % abi::kMaxVips].add(1);
    return;
  }
  created_[created_count_++] = e | kV6Entry;
  if (syn) admitted6_.push(e, AdmissionQueue::tag_of(key));  // a handshake: evictable
  count(WorkerCounter::NewConnections);
  if (!syn) count(WorkerCounter::MidstreamPickups);
  status_.vip_new_connections[vip.vip_id % abi::kMaxVips].add(1);
  status_.backend_opened[be.id].add(1);
  status_.backend_traffic[be.id].add(m->pkt_len);
  forward6(m, f, c, out, i);
}

// A source port on one of the VIP's SNAT addresses (IPv6, or IPv4 for NAT64) towards this
// backend. NAT64 shares the IPv4 pools with IPv4 fullnat VIPs: one SNAT address:port is
// never given to two flows, whichever table holds them.
bool Worker::choose_snat6(const abi::Vip& vip, uint32_t vip_index, const abi::Backend& be, const FlowHash& h,
                          FlowKey6& rev) {
  const uint32_t naddrs = vip.snat_count <= abi::kMaxSnatAddrs ? vip.snat_count : 0;
  const bool nat64 = vip.backend_family == static_cast<uint8_t>(abi::Family::Ipv4);
  for (uint32_t k = 0; k < naddrs; ++k) {
    const uint32_t which = (h.sig + k) % naddrs;
    if (nat64) {
      const uint32_t snat = vip.snat_addrs_be[which];
      const uint16_t sport = snat_.alloc(SnatPorts::Key{snat, be.addr_be, be.port_be}, h.sig);
      if (sport != 0) {
        rev.dst_addr = v4_mapped(snat);
        rev.dst_port = sport;
        return true;
      }
    } else {
      const Addr6& snat = view_.slot->vip6[vip_index].snat[which];
      const uint16_t sport = snat_.alloc(SnatPorts::Key{fold32(snat), fold32(rev.src_addr), be.port_be}, h.sig);
      if (sport != 0) {
        rev.dst_addr = snat;
        rev.dst_port = sport;
        return true;
      }
    }
  }
  return false;
}

void Worker::release_snat6(const Conn6& c) {
  if (c.flags & conn_flag::kNat64) {
    snat_.release(SnatPorts::Key{v4_of_mapped(c.snat_addr()), v4_of_mapped(c.backend_addr()), c.backend_port()},
                  c.snat_port());
  } else {
    snat_.release(SnatPorts::Key{fold32(c.snat_addr()), fold32(c.backend_addr()), c.backend_port()}, c.snat_port());
  }
}

// Client -> backend: nat keeps the client's address, fullnat puts the SNAT address:port in
// its place, NAT64 turns the packet into IPv4.
void Worker::forward6(rte_mbuf* m, const ParsedFrame& f, const Conn6& c, BurstOutput& out, uint16_t i) {
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  if (m->pkt_len > f.l3 + uint32_t{f.ip_total}) rte_pktmbuf_trim(m, static_cast<uint16_t>(m->pkt_len - f.l3 - f.ip_total));
  if (c.flags & conn_flag::kNat64) {
    const uint32_t backend = v4_of_mapped(c.backend_addr());
    translate_6to4(m, f.l3, f.l4, f.l4_len, v4_of_mapped(c.snat_addr()), c.snat_port(), backend, c.backend_port());
    count(WorkerCounter::Nat64Translated);
    if (route_out(m, backend, out, i)) count(WorkerCounter::Forwarded);
    return;
  }
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(data + f.l4);
  const bool fullnat = (c.flags & conn_flag::kFullNat) != 0;
  const Addr6 src = fullnat ? c.snat_addr() : c.client_addr();
  nat_rewrite6(data + f.l3, tcp, src, fullnat ? c.snat_port() : c.client_port(), c.backend_addr(), c.backend_port());
  if (route_out6(m, c.backend_addr(), out, i)) count(WorkerCounter::Forwarded);
}

// Backend -> client, from an IPv6 backend: the client sees the VIP answering.
void Worker::reply6(rte_mbuf* m, const ParsedFrame& f, const Conn6& c, BurstOutput& out, uint16_t i) {
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(data + f.l4);
  nat_rewrite6(data + f.l3, tcp, c.vip_addr(), c.vip_port(), c.client_addr(), c.client_port());
  if (m->pkt_len > f.l3 + uint32_t{f.ip_total}) rte_pktmbuf_trim(m, static_cast<uint16_t>(m->pkt_len - f.l3 - f.ip_total));
  if (route_out6(m, c.client_addr(), out, i)) count(WorkerCounter::Forwarded);
}

// Like route_out(): a per-worker cache of recent destinations (port and next-hop MAC),
// valid while the IPv6 neighbour table's version is unchanged, before the route scan and
// the neighbour probe.
bool Worker::route_out6(rte_mbuf* m, const Addr6& dst, BurstOutput& out, uint16_t i, bool originated) {
  NextHop6& cached = next_hops6_[(abi::ip6_fold(dst) * 0x9E3779B97F4A7C15ull) >> 58];
  static_assert(kNextHopCache == 64, "the index above takes the top 6 bits");
  if (!(cached.dst == dst) || cached.version != neigh6_version_) {
    RouteResult6 r;
    if (!shared_.routes6.lookup(dst, &r)) {
      drop(out, i, DropReason::NoRoute);
      return false;
    }
    NeighView nv;
    uint32_t version = 1;
    const bool known = shared_.neighbours6.lookup(r.next_hop, &nv, &version);
    if (!known || !nv.usable()) {
      if (originated) {
        drop(out, i, DropReason::UnresolvedReply);
        return false;
      }
      if (known && nv.state == NeighState::Failed) {
        drop(out, i, DropReason::NeighbourFailed);
        return false;
      }
      m->hash.usr = 0;  // IPv6: the main lcore routes the packet's destination again
      count(WorkerCounter::NeighbourHeld);
      set_verdict(out, i, Verdict::Kind::Hold, r.port);
      return true;
    }
    if (version != neigh6_version_) {  // valid for this burst's version only: not cached
      auto* eth = rte_pktmbuf_mtod(m, uint8_t*);
      std::memcpy(eth, nv.mac.data(), 6);
      std::memcpy(eth + 6, shared_.ports[r.port].mac.data(), 6);
      set_verdict(out, i, Verdict::Kind::Tx, r.port);
      return true;
    }
    cached = NextHop6{dst, version, r.port, nv.mac};
  }
  auto* eth = rte_pktmbuf_mtod(m, uint8_t*);
  std::memcpy(eth, cached.mac.data(), 6);
  std::memcpy(eth + 6, shared_.ports[cached.port].mac.data(), 6);
  set_verdict(out, i, Verdict::Kind::Tx, cached.port);
  return true;
}

void Worker::retire6(uint32_t index) {
  Conn6& c = shared_.flows6().entry(index);
  const uint8_t before = c.state.fetch_or(conn_state::kDead, std::memory_order_acq_rel);
  shared_.flows6().unpublish(index);
  if (c.backend_id < abi::kMaxBackends) {
    status_.backend_closed[c.backend_id].add(1);
    if (!(before & conn_state::kDead) && phase_of(before) != TcpPhase::Closed) connection_ended(c);
  }
  defer_free(index | kV6Entry);
}

// The oldest IPv6 handshakes first, none active within 100 ms (see evict_embryonic()).
uint32_t Worker::evict_embryonic6(uint32_t want, uint32_t now_ms) {
  FlowTable6& flows6 = shared_.flows6();
  uint32_t evicted = 0;
  for (uint32_t n = 0; n < 4 * want + 64 && evicted < want && !admitted6_.empty(); ++n) {
    const AdmissionQueue::Record r = admitted6_.front();
    admitted6_.pop();
    const Conn6& c = flows6.entry(r.index);
    const uint8_t st = c.state.load(std::memory_order_relaxed);
    if (!(c.flags & conn_flag::kInUse) || (st & conn_state::kDead) || !is_embryonic(st) ||
        AdmissionQueue::tag_of(c.fwd) != r.tag) {
      continue;
    }
    const uint32_t idle = now_ms - c.last_seen.load(std::memory_order_relaxed);
    if (static_cast<int32_t>(idle) < 0 || idle < 100) {
      admitted6_.push(r.index, r.tag);
      continue;
    }
    retire6(r.index);
    ++evicted;
  }
  return evicted;
}

// Above the high-water mark the oldest IPv6 handshakes go, a slice per loop (as IPv4).
void Worker::evict_above_high_water6(uint32_t now_ms) {
  FlowTable6& flows6 = shared_.flows6();
  const uint32_t size = flows6.partition_end(index_) - flows6.partition_begin(index_);
  const uint32_t high = static_cast<uint32_t>(uint64_t{size} * shared_.flood().high_water_pct / 100);
  const uint32_t live = flows6.in_use(index_) - retiring6_;
  if (live <= high) return;
  count(WorkerCounter::EmbryonicAged, evict_embryonic6(std::min(live - high, 256u), now_ms));
}

// The IPv6 partition's expiry, paced like sweep(): about once a second, 512 at most a call.
void Worker::sweep6(uint32_t now_ms) {
  FlowTable6& flows6 = shared_.flows6();
  const uint32_t begin = flows6.partition_begin(index_), end = flows6.partition_end(index_);
  if (end == begin) return;
  uint64_t elapsed = now_ms - last_sweep6_ms_;
  last_sweep6_ms_ = now_ms;
  if (elapsed > 1000) elapsed = 1000;
  const uint64_t whole_pass = uint64_t{end - begin} * 1000;
  sweep6_owed_milli_ = std::min(sweep6_owed_milli_ + whole_pass * elapsed / 1000, whole_pass);
  const uint32_t budget = static_cast<uint32_t>(std::min<uint64_t>(sweep6_owed_milli_ / 1000, 512));
  sweep6_owed_milli_ -= uint64_t{budget} * 1000;
  const TimeoutsMs& t = shared_.timeouts();
  uint32_t expired = 0;
  for (uint32_t n = 0; n < budget; ++n) {
    const uint32_t idx = sweep6_cursor_;
    sweep6_cursor_ = sweep6_cursor_ + 1 == end ? begin : sweep6_cursor_ + 1;
    Conn6& c = flows6.entry(idx);
    if (!(c.flags & conn_flag::kInUse)) continue;
    const uint8_t st = c.state.load(std::memory_order_relaxed);
    if (st & conn_state::kDead) continue;
    const uint32_t idle = now_ms - c.last_seen.load(std::memory_order_relaxed);
    if (static_cast<int32_t>(idle) >= 0 && idle >= t.for_state(st)) {
      if (is_unanswered(st) && !(st & conn_state::kMidstream)) stat(c.backend_id, abi::backend_stat::kUnanswered);
      retire6(idx);
      ++expired;
    }
  }
  count(WorkerCounter::ConntrackExpired, expired);
}

}  // namespace fulcrum::dp
