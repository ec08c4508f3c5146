#include "dataplane/worker/conn_sample.h"

#include <sys/mman.h>

#include <algorithm>

namespace fulcrum::dp {

ConnSampler::ConnSampler(const FlowTable& flows, const std::string& name, std::string* error)
    : flows_(flows), name_(name) {
  if (!abi::create_conn_sample(name, &map_, error)) map_ = abi::Mapping();
}

ConnSampler::~ConnSampler() {
  if (map_.valid()) shm_unlink(name_.c_str());
}

bool ConnSampler::poll(uint32_t now_ms) {
  if (!map_.valid()) return false;
  abi::ConnSampleRegion& r = abi::conn_sample_of(map_);
  if (serving_ == 0) {
    uint64_t want = r.request.seq.load(std::memory_order_acquire);
    if (want == 0 || want == r.response.seq.load(std::memory_order_relaxed)) return false;
    serving_ = want;
    filter_.vip_addr_be = r.request.vip_addr_be;
    filter_.vip_port_be = r.request.vip_port_be;
    filter_.backend_id = r.request.backend_id;
    filter_.limit = std::min(r.request.limit, abi::kConnSampleMax);
    cursor_ = count_ = 0;
    matched_ = in_use_ = 0;
    started_ns_ = abi::monotonic_ns();
  }
  const uint32_t end = std::min(flows_.capacity(), cursor_ + kChunk);
  for (; cursor_ < end; ++cursor_) {
    const Conn& c = flows_.entry(cursor_);
    uint8_t state = c.state.load(std::memory_order_acquire);
    if ((__atomic_load_n(&c.flags, __ATOMIC_RELAXED) & conn_flag::kInUse) == 0 || (state & conn_state::kDead) != 0) continue;
    ++in_use_;
    if ((filter_.vip_addr_be != 0 && c.fwd.dst_addr != filter_.vip_addr_be) ||
        (filter_.vip_port_be != 0 && c.fwd.dst_port != filter_.vip_port_be) ||
        (filter_.backend_id != abi::kAnyBackend && c.backend_id != filter_.backend_id)) {
      continue;
    }
    ++matched_;
    if (count_ >= filter_.limit) continue;
    abi::ConnSampleEntry e{};
    e.client_addr_be = c.fwd.src_addr;
    e.client_port_be = c.fwd.src_port;
    e.vip_addr_be = c.fwd.dst_addr;
    e.vip_port_be = c.fwd.dst_port;
    e.backend_addr_be = c.rev.src_addr;
    e.backend_port_be = c.rev.src_port;
    e.snat_addr_be = c.rev.dst_addr;
    e.snat_port_be = c.rev.dst_port;
    e.backend_id = c.backend_id;
    e.flags = (c.flags & conn_flag::kFullNat) ? 1 : 0;
    e.idle_ms = now_ms - c.last_seen.load(std::memory_order_relaxed);
    e.worker = static_cast<uint16_t>(flows_.partition_of(cursor_));
    e.state = c.state.load(std::memory_order_acquire);
    if ((e.state & conn_state::kDead) != 0) continue;  // closed while copied
    r.entries[count_++] = e;
  }
  if (cursor_ < flows_.capacity()) return true;
  r.response.count = count_;
  r.response.matched = matched_;
  r.response.scanned = flows_.capacity();
  r.response.in_use = in_use_;
  r.response.took_us = (abi::monotonic_ns() - started_ns_) / 1000;
  r.response.seq.store(serving_, std::memory_order_release);
  serving_ = 0;
  return false;
}

}  // namespace fulcrum::dp
