// The main lcore: ARP in and out, held packets, the poll loop. The neighbour policy (what
// to keep, re-ask or forget) is in main_lcore_neighbours.cpp. See main_lcore.h.
#include "dataplane/worker/main_lcore.h"

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dataplane/core/packet_parse.h"

namespace fulcrum::dp {

using abi::DropReason;
using abi::WorkerCounter;

MainLcore::MainLcore(Shared& shared, abi::WorkerStatus& status, rte_mempool* pool)
    : shared_(shared), status_(status), pool_(pool) {
  status_.role = static_cast<uint32_t>(abi::WorkerRole::Main);
  status_.lcore_id = rte_lcore_id();
  // It reads the tables (VIP and SNAT addresses for ARP, backends to pin), so it takes part
  // in the publish protocol like a worker: online, reporting the generation it has seen.
  const abi::TablesRegion* tables = shared_.tables.load(std::memory_order_acquire);
  if (tables != nullptr) abi::worker_online(*tables, status_);
  else status_.online.store(1, std::memory_order_seq_cst);
}

MainLcore::~MainLcore() {
  abi::worker_offline(status_);
  for (uint32_t k = 0; k < held_count_; ++k) rte_pktmbuf_free(held_[k].m);
  for (uint32_t k = 0; k < held6_count_; ++k) rte_pktmbuf_free(held6_[k].m);
}

void MainLcore::add_static(uint32_t addr_be, const MacBytes& mac, uint8_t port) {
  shared_.neighbours.set(addr_be, NeighState::Static, mac, port, 0);
  config_pins_.push_back(addr_be);
  if (NeighMeta* meta = shared_.neighbours.meta(addr_be)) meta->pinned = true;
}

void MainLcore::pin(uint32_t addr_be) {
  if (addr_be != 0) config_pins_.push_back(addr_be);
}

void MainLcore::emit(MainOutput& out, rte_mbuf* m, Verdict::Kind kind, uint8_t port, DropReason why) {
  if (kind == Verdict::Kind::Drop) count_drop(why);
  if (out.count == MainOutput::kCapacity) {  // cannot happen with the bounds above; never leak
    rte_pktmbuf_free(m);
    return;
  }
  out.mbufs[out.count] = m;
  out.verdicts[out.count] = Verdict{kind, port, why};
  ++out.count;
}

bool MainLcore::ours(uint32_t addr_be, uint8_t port) const {
  if (port < shared_.ports.size() && shared_.ports[port].addr_be == addr_be && !shared_.ports[port].kernel_owns_address) return true;
  return view_.slot != nullptr && abi::local_addr_kind(*view_.slot, addr_be) != 0;
}

bool MainLcore::on_link(uint32_t addr_be, uint8_t port) const {
  const PortInfo& info = shared_.ports[port];
  uint32_t mask = info.prefix_len == 0 ? 0 : rte_cpu_to_be_32(~uint32_t{0} << (32 - info.prefix_len));
  return addr_be != 0 && (addr_be & mask) == (info.addr_be & mask) && !is_bad_source(addr_be) &&
         !shared_.is_port_addr(addr_be);
}

MainLcore::Resolving* MainLcore::resolving(uint32_t addr_be) {
  for (Resolving& r : resolving_) {
    if (r.addr_be == addr_be) return &r;
  }
  return nullptr;
}

MainLcore::Need MainLcore::need_of(uint32_t addr_be, Need at_least) {
  NeighMeta* meta = shared_.neighbours.meta(addr_be);
  return meta != nullptr && meta->pinned ? Need::Pinned : at_least;
}

// A free slot, else the oldest slot of a lower need (whose held packets, if any, are
// dropped: they were waiting for a next hop that matters less). Background work may use
// at most kMaxBackground slots.
MainLcore::Resolving* MainLcore::free_resolving(Need need) {
  Resolving* free_slot = nullptr;
  Resolving* victim = nullptr;
  uint32_t in_background = 0;
  for (Resolving& r : resolving_) {
    if (r.addr_be == 0) {
      if (free_slot == nullptr) free_slot = &r;
      continue;
    }
    in_background += r.need == Need::Background;
    if (r.need < need && (victim == nullptr || r.need < victim->need ||
                          (r.need == victim->need && r.last_request_ms < victim->last_request_ms))) {
      victim = &r;
    }
  }
  if (need == Need::Background) return in_background < kMaxBackground ? free_slot : nullptr;
  if (free_slot != nullptr) return free_slot;
  if (victim == nullptr) return nullptr;
  const uint32_t addr = victim->addr_be;
  *victim = Resolving{};
  fail_held(addr);  // a background slot holds none; asked again at a later aging pass
  return victim;
}

bool MainLcore::resolve(uint32_t addr_be, uint8_t port, Need need, uint64_t now_ms, MainOutput& out) {
  need = need_of(addr_be, need);
  if (Resolving* r = resolving(addr_be)) {
    if (r->need < need) r->need = need;  // now someone waits for it
    return true;
  }
  Resolving* r = free_resolving(need);
  if (r == nullptr) return false;
  *r = Resolving{addr_be, port, 0, need, now_ms};
  if (request(addr_be, port, out)) r->tries = 1;
  return true;
}

void MainLcore::refresh_view() {
  const abi::TablesRegion* tables = shared_.tables.load(std::memory_order_acquire);
  view_ = tables != nullptr ? abi::begin_burst(*tables, status_) : abi::TableView{};
}

void MainLcore::process(rte_mbuf** pkts, uint16_t n, uint64_t now_ms, MainOutput& out) {
  refresh_view();
  for (uint16_t i = 0; i < n; ++i) {
    const auto* eth = rte_pktmbuf_mtod(pkts[i], const rte_ether_hdr*);
    bool is_arp = pkts[i]->data_len >= 14 &&
                  (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP) ||
                   (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN) && pkts[i]->data_len >= 18 &&
                    reinterpret_cast<const rte_vlan_hdr*>(eth + 1)->eth_proto == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)));
    if (is_arp) handle_arp(pkts[i], now_ms, out);
    else if (is_ipv6_frame(pkts[i])) handle_ipv6(pkts[i], now_ms, out);  // issue 15: main_lcore_ndp.cpp
    else handle_held(pkts[i], now_ms, out);
  }
}

// Every ARP frame ends in exactly one counter: arp_replies (we answered it), arp_learned
// (it taught or confirmed a neighbour), or a drop reason.
void MainLcore::handle_arp(rte_mbuf* m, uint64_t now_ms, MainOutput& out) {
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  uint16_t l3 = eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN) ? 18 : 14;
  uint8_t port = shared_.port_index(m->port);
  if (port == 0xFF || m->data_len < l3 + sizeof(rte_arp_hdr)) {
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::ArpMalformed);
    return;
  }
  auto* arp = reinterpret_cast<rte_arp_hdr*>(rte_pktmbuf_mtod(m, uint8_t*) + l3);
  uint16_t op = rte_be_to_cpu_16(arp->arp_opcode);
  if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) || arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
      arp->arp_hlen != 6 || arp->arp_plen != 4 || (op != RTE_ARP_OP_REQUEST && op != RTE_ARP_OP_REPLY)) {
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::ArpMalformed);
    return;
  }
  const uint32_t sip = arp->arp_data.arp_sip, tip = arp->arp_data.arp_tip;
  if (sip != 0 && (shared_.is_port_addr(sip) || (view_.slot != nullptr && abi::local_addr_kind(*view_.slot, sip) != 0))) {
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::ArpBadSource);
    return;
  }
  MacBytes sha;
  std::memcpy(sha.data(), arp->arp_data.arp_sha.addr_bytes, 6);
  const bool asks_us = op == RTE_ARP_OP_REQUEST && ours(tip, port);
  const DropReason refused = learn(sip, sha, port, asks_us, now_ms, out);
  if (!asks_us) {
    if (refused != DropReason::kCount) emit(out, m, Verdict::Kind::Drop, 0, refused);
    else {
      count(WorkerCounter::ArpLearned);
      emit(out, m, Verdict::Kind::Consumed, 0);
    }
    return;
  }
  // Answer in place (an ARP probe, sender 0.0.0.0, is answered too: RFC 5227).
  const PortInfo& info = shared_.ports[port];
  arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
  arp->arp_data.arp_tha = arp->arp_data.arp_sha;
  arp->arp_data.arp_tip = sip;
  std::memcpy(arp->arp_data.arp_sha.addr_bytes, info.mac.data(), 6);
  arp->arp_data.arp_sip = tip;
  eth->dst_addr = eth->src_addr;
  std::memcpy(eth->src_addr.addr_bytes, info.mac.data(), 6);
  count(WorkerCounter::ArpReplies);
  emit(out, m, Verdict::Kind::Tx, port);
}

DropReason MainLcore::learn(uint32_t sip, const MacBytes& sha, uint8_t port, bool asks_us, uint64_t now_ms,
                            MainOutput& out) {
  const DropReason not_taken = asks_us ? DropReason::ArpNotForUs : DropReason::ArpUnsolicited;
  if (!on_link(sip, port)) return asks_us ? DropReason::kCount : not_taken;  // answered, not learned
  NeighView known;
  if (!shared_.neighbours.lookup(sip, &known)) {
    // A host that asks for us is about to talk to us: learn it. Nothing else creates an
    // entry (a reply nobody asked for, or a request for another host).
    if (!asks_us) return not_taken;
    if (shared_.neighbours.set(sip, NeighState::Reachable, sha, port, now_ms)) {
      shared_.neighbours.meta(sip)->confirmed_ms = now_ms;
    }
    return DropReason::kCount;
  }
  if (known.state == NeighState::Static) return asks_us ? DropReason::kCount : not_taken;
  Resolving* r = resolving(sip);
  if (!known.usable() || (known.mac == sha && known.port == port)) {
    // Being resolved or failed (we use no MAC for it: the first answer wins), or the MAC
    // we have, confirmed.
    shared_.neighbours.set(sip, NeighState::Reachable, sha, port, now_ms);
    shared_.neighbours.meta(sip)->confirmed_ms = now_ms;
    if (r != nullptr) *r = Resolving{};
    release_held(sip, out);
    return DropReason::kCount;
  }
  // Another MAC for a live neighbour: a spoof, or a real move. Keep the MAC we have and ask
  // (at most once a second: a flood of claims must not become a flood of requests);
  // remember the claim, which wins only if the MAC we have does not answer.
  const NeighMeta* meta = shared_.neighbours.meta(sip);
  if (r == nullptr && meta != nullptr && now_ms - meta->confirmed_ms >= kRetryMs &&
      resolve(sip, known.port, Need::Held, now_ms, out)) {
    r = resolving(sip);
  }
  if (r != nullptr) {
    // One MAC heard again and again is a candidate; a spray of random ones never is.
    if (r->has_candidate && r->candidate == sha && r->candidate_port == port) {
      if (r->candidate_heard < 255) ++r->candidate_heard;
    } else {
      r->has_candidate = true;
      r->candidate = sha;
      r->candidate_port = port;
      r->candidate_heard = 1;
    }
  }
  return asks_us ? DropReason::kCount : DropReason::ArpUnsolicited;
}

void MainLcore::handle_held(rte_mbuf* m, uint64_t now_ms, MainOutput& out) {
  uint32_t hop = m->hash.usr;
  uint8_t port = static_cast<uint8_t>(m->port);
  if (port >= shared_.ports.size()) {
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::NoRoute);
    return;
  }
  NeighView nv;
  if (shared_.neighbours.lookup(hop, &nv) && nv.usable()) {  // resolved while it travelled
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    std::memcpy(eth->dst_addr.addr_bytes, nv.mac.data(), 6);
    std::memcpy(eth->src_addr.addr_bytes, shared_.ports[port].mac.data(), 6);
    emit(out, m, Verdict::Kind::Tx, port);
    return;
  }
  uint32_t for_hop = 0;
  for (uint32_t k = 0; k < held_count_; ++k) for_hop += held_[k].next_hop_be == hop;
  if (held_count_ == kMaxHeld || for_hop >= kMaxHeldPerHop) {
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::NeighbourQueueFull);
    return;
  }
  // An entry (Incomplete) first, so the ARP answer finds it; then a resolution slot. A
  // packet is held only when both exist, so it can never be stranded.
  bool exists = shared_.neighbours.lookup(hop, &nv);
  if (!exists && !shared_.neighbours.set(hop, NeighState::Incomplete, MacBytes{}, port, now_ms)) {
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::NeighbourQueueFull);
    return;
  }
  if (!resolve(hop, port, Need::Held, now_ms, out)) {
    if (!exists) forget(hop);
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::NeighbourQueueFull);
    return;
  }
  held_[held_count_++] = Held{m, hop, port};
}

void MainLcore::release_held(uint32_t addr_be, MainOutput& out) {
  NeighView nv;
  if (!shared_.neighbours.lookup(addr_be, &nv) || !nv.usable()) return;
  uint32_t kept = 0;
  for (uint32_t k = 0; k < held_count_; ++k) {
    Held& h = held_[k];
    if (h.next_hop_be != addr_be) {
      held_[kept++] = h;
      continue;
    }
    auto* eth = rte_pktmbuf_mtod(h.m, rte_ether_hdr*);
    std::memcpy(eth->dst_addr.addr_bytes, nv.mac.data(), 6);
    std::memcpy(eth->src_addr.addr_bytes, shared_.ports[h.port].mac.data(), 6);
    emit(out, h.m, Verdict::Kind::Tx, h.port);
  }
  held_count_ = kept;
}

void MainLcore::fail_held(uint32_t addr_be) {
  uint32_t kept = 0;
  for (uint32_t k = 0; k < held_count_; ++k) {
    if (held_[k].next_hop_be == addr_be) {
      rte_pktmbuf_free(held_[k].m);
      count_drop(DropReason::NeighbourFailed);
    } else {
      held_[kept++] = held_[k];
    }
  }
  held_count_ = kept;
}

bool MainLcore::request(uint32_t addr_be, uint8_t port, MainOutput& out) {
  if (kernel_ != nullptr && kernel_->handles(port)) return kernel_->solicit(addr_be, port);  // issue 11
  rte_mbuf* m = pool_ != nullptr ? rte_pktmbuf_alloc(pool_) : nullptr;
  if (m == nullptr) return false;
  const PortInfo& info = shared_.ports[port];
  auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)));
  if (eth == nullptr) {
    rte_pktmbuf_free(m);
    return false;
  }
  std::memset(eth->dst_addr.addr_bytes, 0xFF, 6);
  std::memcpy(eth->src_addr.addr_bytes, info.mac.data(), 6);
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
  arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = 6;
  arp->arp_plen = 4;
  arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
  std::memcpy(arp->arp_data.arp_sha.addr_bytes, info.mac.data(), 6);
  arp->arp_data.arp_sip = info.addr_be;
  std::memset(arp->arp_data.arp_tha.addr_bytes, 0, 6);
  arp->arp_data.arp_tip = addr_be;
  m->port = info.dpdk_port;
  count(WorkerCounter::ArpRequests);
  emit(out, m, Verdict::Kind::Tx, port);
  return true;
}

void MainLcore::flush(MainOutput& out) {
  for (uint16_t i = 0; i < out.count; ++i) {
    rte_mbuf* m = out.mbufs[i];
    if (out.verdicts[i].kind != Verdict::Kind::Tx) {
      rte_pktmbuf_free(m);
      continue;
    }
    m->port = out.verdicts[i].target;
    if (rte_ring_sp_enqueue(shared_.from_main, m) != 0) {
      rte_pktmbuf_free(m);
      count_drop(DropReason::MainRingFull);
    }
  }
  out.count = 0;
}

uint32_t MainLcore::poll(uint64_t now_ms) {
  MainOutput out;
  rte_mbuf* pkts[kBurst];
  uint32_t handled = 0, sent = 0;
  // The priority ring first, each up to its budget: resolution and held traffic are never
  // queued behind a flood of requests.
  for (rte_ring* ring : {shared_.to_main_prio, shared_.to_main}) {
    for (uint32_t taken = 0; taken < kPollBudget;) {
      unsigned n = rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(pkts), kBurst, nullptr);
      if (n == 0) break;
      process(pkts, static_cast<uint16_t>(n), now_ms, out);
      taken += n;
      handled += n;
      sent += out.count;
      flush(out);
    }
  }
  uint32_t learned = kernel_ == nullptr ? 0 : kernel_->poll([&](const KernelNeighbours::Entry& e) {
    learn_from_kernel(e, now_ms, out);  // issue 11
  });
  tick(now_ms, out);
  sent += out.count;
  flush(out);
  return handled + sent + learned;
}

}  // namespace fulcrum::dp
