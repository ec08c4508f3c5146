// New flows: choosing a backend with Maglev and creating the connection entry.
//
// Done in two passes over the burst's new flows. prepare_new_flow() decides everything
// that needs no entry (VIP, backend, handoff to the owning worker, the SNAT port), builds
// the reply key, and prefetches the memory the commit will write: the reply key's index
// bucket and the entry itself. commit_new_flow() then publishes each flow with that memory
// already on its way, instead of stalling on two cache misses per SYN in turn.
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "dataplane/abi/flow_hash.h"
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

}  // namespace

bool Worker::prepare_new_flow(Pending& p, BurstOutput& out, NewFlow& nf) {
  const abi::TableSlot* slot = view_.slot;
  if (slot == nullptr) {
    drop(out, p.i, DropReason::NoTables);
    return false;
  }
  int vi = abi::find_vip(*slot, p.key.dst_addr, p.key.dst_port, abi::kProtoTcp);
  if (vi < 0) {
    drop(out, p.i, DropReason::NotForUs);
    return false;
  }
  const abi::Vip& vip = slot->vips[vi];
  const bool fullnat = vip.mode == static_cast<uint8_t>(abi::ForwardMode::FullNat);
  const abi::Backend* be = pick_backend(*slot, vip, p.key);
  if (be == nullptr) {
    drop(out, p.i, DropReason::NoBackend);
    status_.vip_drops[vip.vip_id % abi::kMaxVips].add(1);
    return false;
  }
  const uint8_t flags = p.f.tcp_flags;
  if (flags & tcp_bit::RST) {
    // A reset for a flow we have no entry for (e.g. after a restart): in nat mode Maglev
    // still knows where it goes; it creates no state.
    if (fullnat) drop(out, p.i, DropReason::NotForUs);
    else forward(p.m, p.f, out, p.i, be->addr_be, be->port_be, false, 0, 0);
    return false;
  }
  uint32_t owner = flows_.owner_of(p.h);
  if (owner != index_) {
    count(WorkerCounter::HandedOff);
    set_verdict(out, p.i, Verdict::Kind::Handoff, static_cast<uint8_t>(owner));
    return false;
  }
  uint32_t e = flows_.alloc(index_);
  if (e == FlowRef::kNone) {
    evict_embryonic(8);  // room for the next new flow, after a grace period
    if (fullnat) {
      drop(out, p.i, DropReason::ConntrackFull);
      status_.vip_drops[vip.vip_id % abi::kMaxVips].add(1);
    } else {
      count(WorkerCounter::StatelessForwards);
      forward(p.m, p.f, out, p.i, be->addr_be, be->port_be, false, 0, 0);
    }
    return false;
  }
  nf = NewFlow{&p, &vip, be, e, FlowKey{be->addr_be, p.key.src_addr, be->port_be, p.key.src_port}, {}, fullnat,
               (flags & (tcp_bit::SYN | tcp_bit::ACK)) == tcp_bit::SYN};
  if (fullnat) {
    uint16_t sport = 0;
    uint32_t naddrs = vip.snat_count <= abi::kMaxSnatAddrs ? vip.snat_count : 0;
    for (uint32_t k = 0; k < naddrs && sport == 0; ++k) {
      nf.rev.dst_addr = vip.snat_addrs_be[(p.h.sig + k) % naddrs];
      sport = snat_.alloc(nf.rev.dst_addr, p.h.sig);
    }
    if (sport == 0) {
      flows_.free(e);  // never visible: no grace period needed
      drop(out, p.i, DropReason::SnatExhausted);
      status_.vip_drops[vip.vip_id % abi::kMaxVips].add(1);
      return false;
    }
    nf.rev.dst_port = sport;
  }
  nf.rev_hash = flows_.hash(nf.rev);
  flows_.prefetch(nf.rev_hash);
  rte_prefetch0_write(&flows_.entry(e));
  return true;
}

void Worker::commit_new_flow(NewFlow& nf, const NewFlow* earlier, uint16_t n_earlier, BurstOutput& out, uint32_t now_ms) {
  Pending& p = *nf.p;
  // Two packets of one new flow in one burst (a retransmitted SYN): the first created the
  // entry, the second must use it.
  for (uint16_t k = 0; k < n_earlier; ++k) {
    if (earlier[k].p->h.sig != p.h.sig || !(earlier[k].p->key == p.key)) continue;
    if (nf.fullnat) snat_.release(nf.rev.dst_addr, nf.rev.dst_port);
    flows_.free(nf.entry);  // never visible
    FlowRef ref = flows_.lookup(p.key, p.h);
    if (ref.found()) forward_existing(p, flows_.entry(ref.index), out, now_ms);
    else drop(out, p.i, DropReason::ConntrackFull);  // the first one could not be published
    return;
  }
  Conn& c = flows_.entry(nf.entry);
  c.fwd = p.key;
  c.rev = nf.rev;
  c.backend_id = nf.be->id;
  if (nf.fullnat) c.flags |= conn_flag::kFullNat;
  PublishResult r = flows_.publish(nf.entry, p.h, nf.rev_hash, initial_state(nf.syn), now_ms);
  if (r != PublishResult::Ok) {
    defer_free(nf.entry);  // a reader may have glimpsed the forward key
    if (r == PublishResult::ReverseConflict) {
      drop(out, p.i, DropReason::NatConflict);
      status_.vip_drops[nf.vip->vip_id % abi::kMaxVips].add(1);
    } else if (nf.fullnat) {
      drop(out, p.i, DropReason::ConntrackFull);
      status_.vip_drops[nf.vip->vip_id % abi::kMaxVips].add(1);
    } else {
      count(WorkerCounter::StatelessForwards);
      forward(p.m, p.f, out, p.i, nf.be->addr_be, nf.be->port_be, false, 0, 0);
    }
    return;
  }
  created_[created_count_++] = nf.entry;
  count(WorkerCounter::NewConnections);
  if (!nf.syn) count(WorkerCounter::MidstreamPickups);
  status_.vip_new_connections[nf.vip->vip_id % abi::kMaxVips].add(1);
  status_.backend_opened[nf.be->id].add(1);
  status_.backend_traffic[nf.be->id].add(p.m->pkt_len);  // per-VIP/backend stats
  forward(p.m, p.f, out, p.i, nf.be->addr_be, nf.be->port_be, nf.fullnat, c.rev.dst_addr, c.rev.dst_port);
}

}  // namespace fulcrum::dp
