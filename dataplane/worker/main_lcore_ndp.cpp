// IPv6 neighbour discovery on the main lcore (issue 15; RFC 4861): the IPv6 counterpart of
// ARP in main_lcore.cpp and main_lcore_neighbours.cpp. Workers have already checked each
// NS/NA (worker_icmp6.cpp) and send only solicitations for our addresses and
// advertisements about neighbours we have; IPv6 packets waiting for a next hop come here
// too (a Hold verdict; the next hop is found again from the packet's destination).
//
// What it does: answers solicitations for the ports' IPv6 addresses and the tables' IPv6
// VIP and SNAT addresses (solicited, override), learning the solicitor from its
// source link-layer option as ARP learns a host that asks for us; resolves next hops with
// multicast solicitations to the solicited-node group (three tries a second apart), holding
// their packets meanwhile in a bounded queue; and keeps the table with the IPv4 rules:
// pinned next hops (config, the tables' on-link IPv6 backends) are resolved up front,
// re-probed when stale and never forgotten; a live neighbour's MAC is replaced only when it
// stays silent for a whole resolution while another MAC answered at least twice;
// everything else is forgotten when it fails or stops being confirmed. Not done: router
// advertisements (routes and gateways come from the config), redirects, and
// answering for a link-local address (the data plane has none).
#include <rte_ether.h>
#include <rte_mbuf.h>

#include <algorithm>

#include "dataplane/core/checksum.h"
#include "dataplane/core/packet_parse.h"
#include "dataplane/worker/main_lcore.h"
#include "dataplane/worker/rewrite.h"
#include "dataplane/worker/rewrite6.h"

namespace fulcrum::dp {

using abi::DropReason;
using abi::WorkerCounter;

namespace {

constexpr uint8_t kNs = 135, kNa = 136;
constexpr uint8_t kOptSourceLl = 1, kOptTargetLl = 2;

// The link-layer address option of `type` in an NS/NA (options start 24 bytes in).
bool find_ll_option(const uint8_t* icmp, uint32_t len, uint8_t type, MacBytes* mac) {
  for (uint32_t off = 24; off + 8 <= len && icmp[off + 1] != 0; off += icmp[off + 1] * 8u) {
    if (icmp[off] == type && icmp[off + 1] == 1) {
      std::memcpy(mac->data(), icmp + off + 2, 6);
      return true;
    }
  }
  return false;
}

// Writes Ethernet + IPv6 + an NS or NA of 32 bytes (with one link-layer option) at `frame`.
void write_ndp(uint8_t* frame, const uint8_t* dst_mac, const MacBytes& src_mac, const abi::Ip6& src,
               const abi::Ip6& dst, uint8_t type, uint8_t na_flags, const abi::Ip6& target) {
  std::memcpy(frame, dst_mac, 6);
  std::memcpy(frame + 6, src_mac.data(), 6);
  frame[12] = 0x86;
  frame[13] = 0xDD;
  uint8_t* ip6 = frame + 14;
  std::memset(ip6, 0, 40 + 32);
  ip6[0] = 0x60;
  ip6[5] = 32;
  ip6[ip6_off::kNextHeader] = 58;
  ip6[ip6_off::kHopLimit] = 255;
  std::memcpy(ip6 + ip6_off::kSrc, src.b, 16);
  std::memcpy(ip6 + ip6_off::kDst, dst.b, 16);
  uint8_t* icmp = ip6 + 40;
  icmp[0] = type;
  icmp[4] = na_flags;
  std::memcpy(icmp + 8, target.b, 16);
  icmp[24] = type == kNs ? kOptSourceLl : kOptTargetLl;
  icmp[25] = 1;
  std::memcpy(icmp + 26, src_mac.data(), 6);
  const uint16_t sum = csum_finish(csum_partial(icmp, 32, pseudo_sum6(ip6, 32, 58)));
  std::memcpy(icmp + 2, &sum, 2);
}

}  // namespace

void MainLcore::add_static6(const abi::Ip6& addr, const MacBytes& mac, uint8_t port) {
  shared_.neighbours6.set(addr, NeighState::Static, mac, port, 0);
  config_pins6_.push_back(addr);
  if (NeighMeta* meta = shared_.neighbours6.meta(addr)) meta->pinned = true;
}

void MainLcore::pin6(const abi::Ip6& addr) {
  if (!(addr == abi::Ip6{})) config_pins6_.push_back(addr);
}

bool MainLcore::is_ipv6_frame(const rte_mbuf* m) const {
  const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
  if (m->data_len < 14) return false;
  if (d[12] == 0x81 && d[13] == 0x00) return m->data_len >= 18 && d[16] == 0x86 && d[17] == 0xDD;
  return d[12] == 0x86 && d[13] == 0xDD;
}

bool MainLcore::ours6(const abi::Ip6& addr, uint8_t port) const {
  const PortInfo& p = shared_.ports[port];
  if (p.has_addr6 && p.addr6 == addr && !p.kernel_owns_address) return true;
  return view_.slot != nullptr && abi::local_addr6_kind(*view_.slot, addr) != 0;
}

bool MainLcore::on_link6(const abi::Ip6& addr, uint8_t port) const {
  RouteResult6 r;
  return !(addr == abi::Ip6{}) && !is_bad_source6(addr.b) && shared_.routes6.lookup(addr, &r) && r.port == port &&
         r.next_hop == addr && !shared_.is_any_port_addr6(addr);
}

MainLcore::Resolving6* MainLcore::resolving6(const abi::Ip6& addr) {
  for (Resolving6& r : resolving6_) {
    if (r.used && r.addr == addr) return &r;
  }
  return nullptr;
}

void MainLcore::handle_ipv6(rte_mbuf* m, uint64_t now_ms, MainOutput& out) {
  const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
  const ParsedFrame f = parse_frame(data, m->data_len, m->pkt_len, false);
  const uint8_t port = shared_.port_index(m->port);
  const bool ndp = f.kind == FrameKind::Icmp6 && f.l4_len >= 24 && (data[f.l4] == kNs || data[f.l4] == kNa);
  // A held packet has been rewritten already; m->port is then its egress port index.
  if (!ndp) {
    if (f.kind == FrameKind::Drop) emit(out, m, Verdict::Kind::Drop, 0, f.drop);
    else handle_held6(m, f.l3, now_ms, out);
    return;
  }
  if (port == 0xFF || port >= shared_.ports.size()) {
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::NdpMalformed);
    return;
  }
  if (data[f.l4] == kNs) answer_solicitation(m, f.l3, f.l4, port, now_ms, out);
  else take_advertisement(m, f.l3, f.l4, f.l4_len, port, now_ms, out);
}

void MainLcore::answer_solicitation(rte_mbuf* m, uint32_t l3, uint32_t l4, uint8_t port, uint64_t now_ms,
                                    MainOutput& out) {
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  const abi::Ip6 src = ip6_at(data + l3 + ip6_off::kSrc), target = ip6_at(data + l4 + 8);
  if (!ours6(target, port) || src == abi::Ip6{}) {
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::NdpNotForUs);
    return;
  }
  const uint32_t len = rte_be_to_cpu_16(*reinterpret_cast<const uint16_t*>(data + l3 + ip6_off::kPayloadLen)) -
                       (l4 - l3 - 40);
  MacBytes sll{};
  const bool has_sll = find_ll_option(data + l4, len, kOptSourceLl, &sll);
  MacBytes reply_to;
  std::memcpy(reply_to.data(), data + 6, 6);
  // A host that asks for us is about to talk to us: learn it (as ARP does), or confirm it.
  NeighView known;
  if (has_sll && on_link6(src, port)) {
    const bool exists = shared_.neighbours6.lookup(src, &known);
    if (!exists || (known.state != NeighState::Static && (!known.usable() || (known.mac == sll && known.port == port)))) {
      if (shared_.neighbours6.set(src, NeighState::Reachable, sll, port, now_ms)) {
        shared_.neighbours6.meta(src)->confirmed_ms = now_ms;
        if (Resolving6* r = resolving6(src)) *r = Resolving6{};
        release_held6(src, out);
      }
    }
    reply_to = sll;
  }
  // The answer in place: solicited, override (the address is ours alone), our MAC.
  const PortInfo& info = shared_.ports[port];
  if (!resize_frame(m, l3 + 40 + 32)) {
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::NdpMalformed);
    return;
  }
  data = rte_pktmbuf_mtod(m, uint8_t*);
  const bool tagged = l3 == 18;
  if (tagged) {
    // Keep the tag: write from the Ethernet header's start, then slide the tag back in.
    uint8_t tag[4];
    std::memcpy(tag, data + 12, 4);
    write_ndp(data + 4, reply_to.data(), info.mac, target, src, kNa, 0x60, target);
    std::memmove(data, data + 4, 12);
    std::memcpy(data + 12, tag, 4);
  } else {
    write_ndp(data, reply_to.data(), info.mac, target, src, kNa, 0x60, target);
  }
  count(WorkerCounter::NdpAdvertisements);
  emit(out, m, Verdict::Kind::Tx, port);
}

void MainLcore::take_advertisement(rte_mbuf* m, uint32_t l3, uint32_t l4, uint32_t l4_len, uint8_t port,
                                   uint64_t now_ms, MainOutput& out) {
  (void)l3;
  const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
  const abi::Ip6 target = ip6_at(data + l4 + 8);
  MacBytes tll{};
  NeighView known;
  if (!find_ll_option(data + l4, l4_len, kOptTargetLl, &tll) || !on_link6(target, port) ||
      !shared_.neighbours6.lookup(target, &known) || known.state == NeighState::Static) {
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::NdpNotForUs);
    return;
  }
  Resolving6* r = resolving6(target);
  if (!known.usable() || (known.mac == tll && known.port == port)) {
    shared_.neighbours6.set(target, NeighState::Reachable, tll, port, now_ms);
    shared_.neighbours6.meta(target)->confirmed_ms = now_ms;
    if (r != nullptr) *r = Resolving6{};
    release_held6(target, out);
    count(WorkerCounter::NdpLearned);
    emit(out, m, Verdict::Kind::Consumed, 0);
    return;
  }
  // Another MAC for a live neighbour: keep ours, ask, remember the claim (see the top).
  const NeighMeta* meta = shared_.neighbours6.meta(target);
  if (r == nullptr && meta != nullptr && now_ms - meta->confirmed_ms >= kRetryMs && resolve6(target, port, now_ms, out)) {
    r = resolving6(target);
  }
  if (r != nullptr) {
    if (r->has_candidate && r->candidate == tll && r->candidate_port == port) {
      if (r->candidate_heard < 255) ++r->candidate_heard;
    } else {
      r->has_candidate = true;
      r->candidate = tll;
      r->candidate_port = port;
      r->candidate_heard = 1;
    }
  }
  emit(out, m, Verdict::Kind::Drop, 0, DropReason::NdpNotForUs);
}

void MainLcore::handle_held6(rte_mbuf* m, uint32_t l3, uint64_t now_ms, MainOutput& out) {
  const abi::Ip6 dst = ip6_at(rte_pktmbuf_mtod(m, const uint8_t*) + l3 + ip6_off::kDst);
  RouteResult6 r;
  if (!shared_.routes6.lookup(dst, &r)) {
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::NoRoute);
    return;
  }
  NeighView nv;
  if (shared_.neighbours6.lookup(r.next_hop, &nv) && nv.usable()) {  // resolved while it travelled
    uint8_t* eth = rte_pktmbuf_mtod(m, uint8_t*);
    std::memcpy(eth, nv.mac.data(), 6);
    std::memcpy(eth + 6, shared_.ports[r.port].mac.data(), 6);
    emit(out, m, Verdict::Kind::Tx, r.port);
    return;
  }
  uint32_t for_hop = 0;
  for (uint32_t k = 0; k < held6_count_; ++k) for_hop += held6_[k].next_hop == r.next_hop;
  if (held6_count_ == kMaxHeld6 || for_hop >= kMaxHeldPerHop) {
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::NeighbourQueueFull);
    return;
  }
  const bool exists = shared_.neighbours6.lookup(r.next_hop, &nv);
  if (!exists && !shared_.neighbours6.set(r.next_hop, NeighState::Incomplete, MacBytes{}, r.port, now_ms)) {
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::NeighbourQueueFull);
    return;
  }
  if (!resolve6(r.next_hop, r.port, now_ms, out)) {
    if (!exists) shared_.neighbours6.remove(r.next_hop);
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::NeighbourQueueFull);
    return;
  }
  held6_[held6_count_++] = Held6{m, r.next_hop, r.port};
}

bool MainLcore::resolve6(const abi::Ip6& addr, uint8_t port, uint64_t now_ms, MainOutput& out) {
  if (resolving6(addr) != nullptr) return true;
  for (Resolving6& r : resolving6_) {
    if (r.used) continue;
    r = Resolving6{};
    r.used = true;
    r.addr = addr;
    r.port = port;
    r.last_request_ms = now_ms;
    if (solicit(addr, port, out)) r.tries = 1;
    return true;
  }
  return false;
}

// A multicast solicitation to the target's solicited-node group (ff02::1:ffXX:XXXX),
// from the port's address, with our link-layer address.
bool MainLcore::solicit(const abi::Ip6& addr, uint8_t port, MainOutput& out) {
  // A port whose address the kernel keeps: the kernel's neighbour discovery resolves it
  // (see kernel_neighbours.h: the answers are addressed to the host).
  if (kernel_ != nullptr && kernel_->handles(port)) return kernel_->solicit6(addr.b, port);
  const PortInfo& info = shared_.ports[port];
  if (!info.has_addr6) return false;
  rte_mbuf* m = pool_ != nullptr ? rte_pktmbuf_alloc(pool_) : nullptr;
  if (m == nullptr) return false;
  auto* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 14 + 40 + 32));
  if (frame == nullptr) {
    rte_pktmbuf_free(m);
    return false;
  }
  abi::Ip6 group{};
  group.b[0] = 0xff;
  group.b[1] = 0x02;
  group.b[11] = 0x01;
  group.b[12] = 0xff;
  std::memcpy(group.b + 13, addr.b + 13, 3);
  const uint8_t group_mac[6] = {0x33, 0x33, 0xff, addr.b[13], addr.b[14], addr.b[15]};
  write_ndp(frame, group_mac, info.mac, info.addr6, group, kNs, 0, addr);
  m->port = info.dpdk_port;
  count(WorkerCounter::NdpSolicitations);
  emit(out, m, Verdict::Kind::Tx, port);
  return true;
}

void MainLcore::release_held6(const abi::Ip6& addr, MainOutput& out) {
  NeighView nv;
  if (!shared_.neighbours6.lookup(addr, &nv) || !nv.usable()) return;
  uint32_t kept = 0;
  for (uint32_t k = 0; k < held6_count_; ++k) {
    Held6& h = held6_[k];
    if (!(h.next_hop == addr)) {
      held6_[kept++] = h;
      continue;
    }
    uint8_t* eth = rte_pktmbuf_mtod(h.m, uint8_t*);
    std::memcpy(eth, nv.mac.data(), 6);
    std::memcpy(eth + 6, shared_.ports[h.port].mac.data(), 6);
    emit(out, h.m, Verdict::Kind::Tx, h.port);
  }
  held6_count_ = kept;
}

void MainLcore::fail_held6(const abi::Ip6& addr) {
  uint32_t kept = 0;
  for (uint32_t k = 0; k < held6_count_; ++k) {
    if (held6_[k].next_hop == addr) {
      rte_pktmbuf_free(held6_[k].m);
      count_drop(DropReason::NeighbourFailed);
    } else {
      held6_[kept++] = held6_[k];
    }
  }
  held6_count_ = kept;
}

void MainLcore::tick6(uint64_t now_ms, MainOutput& out) {
  for (Resolving6& r : resolving6_) {
    if (!r.used || now_ms - r.last_request_ms < kRetryMs) continue;
    if (r.tries < kTries) {
      if (solicit(r.addr, r.port, out)) ++r.tries;
      r.last_request_ms = now_ms;
      continue;
    }
    const Resolving6 done = r;
    r = Resolving6{};
    NeighMeta* meta = shared_.neighbours6.meta(done.addr);
    if (meta == nullptr) {
      fail_held6(done.addr);
      continue;
    }
    NeighView v;
    if (done.has_candidate && done.candidate_heard >= 2) {
      shared_.neighbours6.set(done.addr, NeighState::Reachable, done.candidate, done.candidate_port, now_ms);
      meta->confirmed_ms = now_ms;
      release_held6(done.addr, out);
    } else if (!(shared_.neighbours6.lookup(done.addr, &v) && v.state == NeighState::Stale && meta->pinned &&
                 now_ms - meta->confirmed_ms < kStaleUsableMs)) {
      shared_.neighbours6.set_state(done.addr, NeighState::Failed, now_ms);
      fail_held6(done.addr);
    }
  }
  if (view_.slot != nullptr && view_.generation != pins6_generation_) {
    // Pins: the config's next hops and the tables' on-link IPv6 backends, resolved now.
    pins6_generation_ = view_.generation;
    std::vector<abi::Ip6> pins = config_pins6_;
    const abi::TableSlot& slot = *view_.slot;
    for (uint32_t v = 0; v < std::min(slot.hdr.vip_count, abi::kMaxVips); ++v) {
      const abi::Vip& vip = slot.vips[v];
      if (vip.backend_family != static_cast<uint8_t>(abi::Family::Ipv6)) continue;
      for (uint32_t b = 0; b < vip.backend_count && vip.backend_first + b < abi::kMaxBackends; ++b) {
        pins.push_back(slot.backend_addr6[vip.backend_first + b]);
      }
    }
    shared_.neighbours6.for_each([](const abi::Ip6&, const NeighView&, NeighMeta& meta) { meta.pinned = false; });
    for (const abi::Ip6& a : pins) {
      RouteResult6 r;
      if (!shared_.routes6.lookup(a, &r)) continue;
      NeighView nv;
      if (!shared_.neighbours6.lookup(r.next_hop, &nv) &&
          !shared_.neighbours6.set(r.next_hop, NeighState::Incomplete, MacBytes{}, r.port, now_ms)) {
        continue;
      }
      shared_.neighbours6.meta(r.next_hop)->pinned = true;
      if (!nv.usable() && nv.state != NeighState::Static) resolve6(r.next_hop, r.port, now_ms, out);
    }
  }
  if (now_ms - last_aging6_ms_ >= kRetryMs) {
    last_aging6_ms_ = now_ms;
    age6(now_ms, out);
  }
}

// Once a second, with the IPv4 timings (main_lcore.h).
void MainLcore::age6(uint64_t now_ms, MainOutput& out) {
  struct Action {
    abi::Ip6 addr;
    uint8_t port;
    enum : uint8_t { Stale, Reprobe, Forget } what;
  };
  std::vector<Action> actions;
  shared_.neighbours6.for_each([&](const abi::Ip6& addr, const NeighView& v, const NeighMeta& meta) {
    const uint64_t unconfirmed = now_ms - meta.confirmed_ms;
    const bool busy = resolving6(addr) != nullptr;
    switch (v.state) {
      case NeighState::Static:
        return;
      case NeighState::Reachable:
        if (unconfirmed >= kReachableMs) actions.push_back({addr, v.port, Action::Stale});
        return;
      case NeighState::Stale:
        if (meta.pinned && !busy) actions.push_back({addr, v.port, Action::Reprobe});
        else if (!meta.pinned && unconfirmed >= kUnpinnedForgetMs) actions.push_back({addr, v.port, Action::Forget});
        return;
      case NeighState::Failed:
        if (meta.pinned && !busy && now_ms - meta.updated_ms >= kFailedRetryMs) actions.push_back({addr, v.port, Action::Reprobe});
        else if (!meta.pinned && now_ms - meta.updated_ms >= kFailedForgetMs) actions.push_back({addr, v.port, Action::Forget});
        return;
      case NeighState::Incomplete:
        if (!busy && !meta.pinned && now_ms - meta.updated_ms >= kFailedForgetMs) actions.push_back({addr, v.port, Action::Forget});
        else if (!busy && meta.pinned) actions.push_back({addr, v.port, Action::Reprobe});
        return;
    }
  });
  for (const Action& a : actions) {
    switch (a.what) {
      case Action::Stale:
        shared_.neighbours6.set_state(a.addr, NeighState::Stale, now_ms);
        break;
      case Action::Reprobe:
        resolve6(a.addr, a.port, now_ms, out);
        break;
      case Action::Forget:
        fail_held6(a.addr);
        if (shared_.neighbours6.remove(a.addr)) count(WorkerCounter::NeighboursExpired);
        break;
    }
  }
}

}  // namespace fulcrum::dp
