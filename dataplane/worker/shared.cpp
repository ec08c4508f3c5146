#include "dataplane/worker/shared.h"

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_random.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

namespace fulcrum::dp {
namespace {

// A name unique in this process (rings and memzones are named; tests build several).
std::string unique_name(const char* what) {
  static std::atomic<uint32_t> counter{0};
  return std::string("fulcrum_") + what + "_" + std::to_string(counter.fetch_add(1));
}

}  // namespace

std::unique_ptr<Shared> Shared::create(const SharedOptions& options, std::string* error) {
  std::unique_ptr<Shared> s(new Shared());
  s->options_ = options;
  if (options.workers == 0 || options.workers > FlowTable::kMaxPartitions) {
    *error = "workers must be 1.." + std::to_string(FlowTable::kMaxPartitions);
    return nullptr;
  }
  FlowTable::Sizes sizes = FlowTable::sizes_for(options.conntrack_entries, options.workers);
  s->entry_mem_ = rte_zmalloc("fulcrum_conn_entries", sizes.entry_bytes(), 64);
  s->bucket_mem_ = rte_zmalloc("fulcrum_conn_index", sizes.bucket_bytes(), 64);
  if (s->entry_mem_ == nullptr || s->bucket_mem_ == nullptr) {
    *error = "cannot allocate the connection table (" +
             std::to_string((sizes.entry_bytes() + sizes.bucket_bytes()) >> 20) +
             " MiB for " + std::to_string(sizes.entries) +
             " entries): give EAL more memory (-m, or hugepages) or lower dataplane.conntrack_entries";
    return nullptr;
  }
  FlowTable6::Sizes sizes6 = FlowTable6::sizes_for(options.conntrack_entries6, options.workers);
  s->entry6_mem_ = rte_zmalloc("fulcrum_conn6_entries", sizes6.entry_bytes(), 64);
  s->bucket6_mem_ = rte_zmalloc("fulcrum_conn6_index", sizes6.bucket_bytes(), 64);
  if (s->entry6_mem_ == nullptr || s->bucket6_mem_ == nullptr) {
    *error = "cannot allocate the IPv6 connection table (" +
             std::to_string((sizes6.entry_bytes() + sizes6.bucket_bytes()) >> 20) + " MiB for " +
             std::to_string(sizes6.entries) +
             " entries): give EAL more memory (-m, or hugepages) or lower dataplane.conntrack_entries6";
    return nullptr;
  }
  if (options.flood.synproxy) {
    s->synproxy_mem_ = rte_zmalloc("fulcrum_synproxy_seq", size_t{sizes.entries} * sizeof(uint32_t), 64);
    if (s->synproxy_mem_ == nullptr) {
      *error = "cannot allocate the SYN proxy's sequence array (" + std::to_string(sizes.entries * 4ull >> 20) +
               " MiB): give EAL more memory or set dataplane.synproxy = false";
      return nullptr;
    }
    s->synproxy_seq = static_cast<std::atomic<uint32_t>*>(s->synproxy_mem_);
  }
  uint64_t seed = options.flow_seed != 0 ? options.flow_seed : rte_rand();
  // The cookie key must not be derivable from the table's: a second, independent secret.
  s->cookie_key = options.flow_seed != 0 ? abi::HashKey{seed * 0x9E3779B97F4A7C15ull, ~seed} : abi::HashKey{rte_rand(), rte_rand()};
  s->flows_ = std::make_unique<FlowTable>(static_cast<Conn*>(s->entry_mem_),
                                          static_cast<FlowBucket*>(s->bucket_mem_), sizes,
                                          options.workers, seed);
  s->flows6_ = std::make_unique<FlowTable6>(static_cast<Conn6*>(s->entry6_mem_),
                                            static_cast<FlowBucket*>(s->bucket6_mem_), sizes6, options.workers,
                                            seed * 0xD6E8FEB86659FD93ull + 1);

  s->limited_open = std::make_unique<std::atomic<int32_t>[]>(abi::kMaxBackends);
  s->syn_clock = std::make_unique<std::atomic<uint64_t>[]>(size_t{options.workers} * kSynClockSlots);

  size_t qsbr_size = rte_rcu_qsbr_get_memsize(options.workers);
  s->qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("fulcrum_qsbr", qsbr_size, RTE_CACHE_LINE_SIZE));
  if (s->qsbr == nullptr || rte_rcu_qsbr_init(s->qsbr, options.workers) != 0) {
    *error = "cannot set up RCU state for the connection table";
    return nullptr;
  }
  for (uint32_t w = 0; w < options.workers; ++w) {
    s->handoff[w] = rte_ring_create(unique_name("handoff").c_str(), 1024, SOCKET_ID_ANY, RING_F_SC_DEQ);
    if (s->handoff[w] == nullptr) {
      *error = std::string("cannot create a handoff ring: ") + rte_strerror(rte_errno);
      return nullptr;
    }
  }
  s->to_main = rte_ring_create(unique_name("to_main").c_str(), 2048, SOCKET_ID_ANY, RING_F_SC_DEQ);
  s->to_main_prio = rte_ring_create(unique_name("to_main_prio").c_str(), 1024, SOCKET_ID_ANY, RING_F_SC_DEQ);
  s->from_main = rte_ring_create(unique_name("from_main").c_str(), 2048, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  s->to_kernel = rte_ring_create(unique_name("to_kernel").c_str(), 1024, SOCKET_ID_ANY, RING_F_SC_DEQ);  // issue 11
  if (s->to_main == nullptr || s->to_main_prio == nullptr || s->from_main == nullptr || s->to_kernel == nullptr) {
    *error = std::string("cannot create the main-lcore rings: ") + rte_strerror(rte_errno);
    return nullptr;
  }
  return s;
}

Shared::~Shared() {
  for (rte_ring* r : handoff) rte_ring_free(r);
  rte_ring_free(to_main);
  rte_ring_free(to_main_prio);
  rte_ring_free(from_main);
  rte_ring_free(to_kernel);
  rte_free(synproxy_mem_);
  rte_free(qsbr);
  flows_.reset();
  rte_free(entry_mem_);
  rte_free(bucket_mem_);
  flows6_.reset();
  rte_free(entry6_mem_);
  rte_free(bucket6_mem_);
}

uint8_t Shared::add_port(const PortInfo& port) {
  auto index = static_cast<uint8_t>(ports.size());
  ports.push_back(port);
  if (port.dpdk_port >= port_by_dpdk_.size()) port_by_dpdk_.resize(port.dpdk_port + 1, 0xFF);
  port_by_dpdk_[port.dpdk_port] = index;
  routes.add(port.addr_be, port.prefix_len, index, 0);
  if (port.has_addr6) routes6.add(port.addr6, port.prefix6_len, index, abi::Ip6{});
  return index;
}

bool Shared::is_port_addr6(const abi::Ip6& addr) const {
  for (const PortInfo& p : ports) {
    if (p.has_addr6 && p.addr6 == addr && !p.kernel_owns_address) return true;
  }
  return false;
}

bool Shared::is_any_port_addr6(const abi::Ip6& addr) const {
  for (const PortInfo& p : ports) {
    if (p.has_addr6 && p.addr6 == addr) return true;
  }
  return false;
}

bool Shared::is_port_addr(uint32_t addr_be) const {
  for (const PortInfo& p : ports) {
    if (p.addr_be == addr_be && !p.kernel_owns_address) return true;
  }
  return false;
}

bool Shared::is_any_port_addr(uint32_t addr_be) const {
  for (const PortInfo& p : ports) {
    if (p.addr_be == addr_be) return true;
  }
  return false;
}

}  // namespace fulcrum::dp
