#include "dataplane/worker/conn_sample.h"

#include <sys/mman.h>

#include <algorithm>
#include <type_traits>

namespace fulcrum::dp {

ConnSampler::ConnSampler(const FlowTable& flows, const FlowTable6& flows6, const std::string& name, std::string* error)
    : flows_(flows), flows6_(flows6), name_(name) {
  if (!abi::create_conn_sample(name, &map_, error)) map_ = abi::Mapping();
}

ConnSampler::~ConnSampler() {
  if (map_.valid()) shm_unlink(name_.c_str());
}

namespace {

template <class C>
bool live(const C& c) {
  const uint8_t state = c.state.load(std::memory_order_acquire);
  return (__atomic_load_n(&c.flags, __ATOMIC_RELAXED) & conn_flag::kInUse) != 0 && (state & conn_state::kDead) == 0;
}

}  // namespace

// One entry of either table against the filter; copied when it matches. The two tables
// differ only in how the VIP is compared and where the addresses go.
template <class C>
void ConnSampler::visit(const C& c, uint32_t worker, uint32_t now_ms, abi::ConnSampleRegion& r) {
  constexpr bool kIpv6 = std::is_same_v<C, Conn6>;
  if (!live(c)) return;
  ++in_use_;
  bool vip_ok;
  if constexpr (kIpv6) vip_ok = filter_.vip_ipv6 ? c.fwd.dst_addr == filter_.vip_addr6 : filter_.vip_addr_be == 0;
  else vip_ok = !filter_.vip_ipv6 && (filter_.vip_addr_be == 0 || c.fwd.dst_addr == filter_.vip_addr_be);
  if (!vip_ok || (filter_.vip_port_be != 0 && c.fwd.dst_port != filter_.vip_port_be) ||
      (filter_.backend_id != abi::kAnyBackend && c.backend_id != filter_.backend_id)) {
    return;
  }
  ++matched_;
  if (count_ >= filter_.limit) return;
  abi::ConnSampleEntry e{};
  abi::ConnSampleAddrs6 a6{};
  if constexpr (kIpv6) {
    a6 = abi::ConnSampleAddrs6{c.fwd.src_addr, c.fwd.dst_addr, c.rev.src_addr, c.rev.dst_addr};
  } else {
    e.client_addr_be = c.fwd.src_addr;
    e.vip_addr_be = c.fwd.dst_addr;
    e.backend_addr_be = c.rev.src_addr;
    e.snat_addr_be = c.rev.dst_addr;
  }
  e.client_port_be = c.fwd.src_port;
  e.vip_port_be = c.fwd.dst_port;
  e.backend_port_be = c.rev.src_port;
  e.snat_port_be = c.rev.dst_port;
  e.backend_id = c.backend_id;
  e.flags = (kIpv6 ? abi::conn_sample_flag::kIpv6 : 0) |
            ((c.flags & conn_flag::kFullNat) ? abi::conn_sample_flag::kFullNat : 0);
  e.idle_ms = now_ms - c.last_seen.load(std::memory_order_relaxed);
  e.worker = static_cast<uint16_t>(worker);
  e.state = c.state.load(std::memory_order_acquire);
  if ((e.state & conn_state::kDead) != 0) return;  // closed while copied
  r.addrs6[count_] = a6;
  r.entries[count_++] = e;
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
    filter_.vip_ipv6 = r.request.vip_ipv6;
    filter_.vip_addr6 = r.request.vip_addr6;
    filter_.limit = std::min(r.request.limit, abi::kConnSampleMax);
    cursor_ = count_ = 0;
    matched_ = in_use_ = 0;
    started_ns_ = abi::monotonic_ns();
  }
  // One cursor over both tables: the IPv4 entries, then the IPv6 ones.
  const uint32_t cap4 = flows_.capacity(), total = cap4 + flows6_.capacity();
  const uint32_t end = std::min(total, cursor_ + kChunk);
  for (; cursor_ < end; ++cursor_) {
    if (cursor_ < cap4) visit(flows_.entry(cursor_), flows_.partition_of(cursor_), now_ms, r);
    else visit(flows6_.entry(cursor_ - cap4), flows6_.partition_of(cursor_ - cap4), now_ms, r);
  }
  if (cursor_ < total) return true;
  r.response.count = count_;
  r.response.matched = matched_;
  r.response.scanned = total;
  r.response.in_use = in_use_;
  r.response.took_us = (abi::monotonic_ns() - started_ns_) / 1000;
  r.response.seq.store(serving_, std::memory_order_release);
  serving_ = 0;
  return false;
}

}  // namespace fulcrum::dp
