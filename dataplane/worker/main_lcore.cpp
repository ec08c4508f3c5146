#include "dataplane/worker/main_lcore.h"

#include <rte_arp.h>
#include <rte_lcore.h>
#include <rte_ether.h>
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
  // It reads the tables (VIP and SNAT addresses for ARP), so it takes part in the publish
  // protocol like a worker: online, reporting the generation it has seen.
  const abi::TablesRegion* tables = shared_.tables.load(std::memory_order_acquire);
  if (tables != nullptr) abi::worker_online(*tables, status_);
  else status_.online.store(1, std::memory_order_seq_cst);
}

MainLcore::~MainLcore() {
  abi::worker_offline(status_);
  for (uint32_t k = 0; k < held_count_; ++k) rte_pktmbuf_free(held_[k].m);
}

void MainLcore::add_static(uint32_t addr_be, const MacBytes& mac, uint8_t port) {
  shared_.neighbours.set(addr_be, NeighState::Static, mac, port, 0);
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

MainLcore::Resolving* MainLcore::resolving(uint32_t addr_be, bool create) {
  Resolving* free_slot = nullptr;
  for (Resolving& r : resolving_) {
    if (r.addr_be == addr_be) return &r;
    if (r.addr_be == 0 && free_slot == nullptr) free_slot = &r;
  }
  if (!create || free_slot == nullptr) return nullptr;
  *free_slot = Resolving{addr_be, 0, 0, 0};
  return free_slot;
}

void MainLcore::process(rte_mbuf** pkts, uint16_t n, uint64_t now_ms, MainOutput& out) {
  const abi::TablesRegion* tables = shared_.tables.load(std::memory_order_acquire);
  view_ = tables != nullptr ? abi::begin_burst(*tables, status_) : abi::TableView{};
  for (uint16_t i = 0; i < n; ++i) {
    const auto* eth = rte_pktmbuf_mtod(pkts[i], const rte_ether_hdr*);
    bool is_arp = pkts[i]->data_len >= 14 &&
                  (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP) ||
                   (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN) && pkts[i]->data_len >= 18 &&
                    reinterpret_cast<const rte_vlan_hdr*>(eth + 1)->eth_proto == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)));
    if (is_arp) handle_arp(pkts[i], now_ms, out);
    else handle_held(pkts[i], now_ms, out);
  }
}

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
  MacBytes sha;
  std::memcpy(sha.data(), arp->arp_data.arp_sha.addr_bytes, 6);
  const PortInfo& info = shared_.ports[port];
  uint32_t mask = info.prefix_len == 0 ? 0 : rte_cpu_to_be_32(~uint32_t{0} << (32 - info.prefix_len));
  bool on_link = sip != 0 && (sip & mask) == (info.addr_be & mask) && !is_bad_source(sip);

  // Learn: always refresh a neighbour we know or are asking for; create one when it asks
  // for us (it is about to talk to us). Static entries are never overwritten.
  NeighView known;
  bool exists = shared_.neighbours.lookup(sip, &known);
  bool for_us = ours(tip, port);
  if (on_link && !(exists && known.state == NeighState::Static) && (exists || for_us)) {
    shared_.neighbours.set(sip, NeighState::Reachable, sha, port, now_ms);
    if (Resolving* r = resolving(sip, false)) *r = Resolving{};
    release_held(sip, out);
  }
  if (op == RTE_ARP_OP_REPLY) {
    emit(out, m, Verdict::Kind::Consumed, 0);  // learned above (or unsolicited and ignored)
    return;
  }
  if (!for_us) {
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::ArpNotForUs);
    return;
  }
  // Reply in place.
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
  Resolving* r = resolving(hop, true);
  if (held_count_ == kMaxHeld || for_hop >= kMaxHeldPerHop || r == nullptr) {
    emit(out, m, Verdict::Kind::Drop, 0, DropReason::NeighbourQueueFull);
    return;
  }
  held_[held_count_++] = Held{m, hop, port};
  if (r->tries == 0) {
    r->port = port;
    shared_.neighbours.set(hop, NeighState::Incomplete, MacBytes{}, port, now_ms);
    if (request(hop, port, out)) {
      r->tries = 1;
      r->last_request_ms = now_ms;
    }
  }
}

void MainLcore::release_held(uint32_t addr_be, MainOutput& out) {
  NeighView nv;
  if (!shared_.neighbours.lookup(addr_be, &nv)) return;
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

void MainLcore::tick(uint64_t now_ms, MainOutput& out) {
  for (Resolving& r : resolving_) {
    if (r.addr_be == 0 || now_ms - r.last_request_ms < kRetryMs) continue;
    if (r.tries >= kTries) {
      shared_.neighbours.set_state(r.addr_be, NeighState::Failed, now_ms);
      fail_held(r.addr_be);
      r = Resolving{};
      continue;
    }
    if (request(r.addr_be, r.port, out)) {
      ++r.tries;
      r.last_request_ms = now_ms;
    }
  }
  if (now_ms - last_aging_ms_ < kRetryMs) return;
  last_aging_ms_ = now_ms;
  // Age: a Reachable entry not confirmed for 30 s goes Stale and is asked for again
  // (still used meanwhile); a Failed one is asked for again every 5 s.
  shared_.neighbours.for_each([&](uint32_t addr, const NeighView& v, uint64_t updated) {
    bool reask = (v.state == NeighState::Reachable && now_ms - updated >= kReachableMs) ||
                 (v.state == NeighState::Failed && now_ms - updated >= kFailedRetryMs);
    if (!reask) return;
    Resolving* r = resolving(addr, true);
    if (r == nullptr || r->tries != 0) return;
    if (v.state == NeighState::Reachable) shared_.neighbours.set_state(addr, NeighState::Stale, now_ms);
    else shared_.neighbours.set_state(addr, NeighState::Failed, now_ms);  // restart its retry clock
    r->port = v.port;
    if (request(addr, v.port, out)) {
      r->tries = 1;
      r->last_request_ms = now_ms;
    }
  });
}

uint32_t MainLcore::poll(uint64_t now_ms) {
  MainOutput out;
  rte_mbuf* pkts[kBurst];
  unsigned n = rte_ring_sc_dequeue_burst(shared_.to_main, reinterpret_cast<void**>(pkts), kBurst, nullptr);
  process(pkts, static_cast<uint16_t>(n), now_ms, out);
  if (n == 0) {
    const abi::TablesRegion* tables = shared_.tables.load(std::memory_order_acquire);
    view_ = tables != nullptr ? abi::begin_burst(*tables, status_) : abi::TableView{};
  }
  uint32_t learned = kernel_ == nullptr ? 0 : kernel_->poll([&](const KernelNeighbours::Entry& e) {
    learn_from_kernel(e, now_ms, out);  // issue 11
  });
  tick(now_ms, out);
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
  return n + out.count + learned;
}

}  // namespace fulcrum::dp
