// What all lcores of one data plane share, built once at start (by main.cpp, or by a
// test), then read-mostly: only the flow table (entries and index, see flow_table.h), the
// neighbour table (main lcore) and the tables pointer change while workers run.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/abi/status.h"
#include "dataplane/abi/tables.h"
#include "dataplane/core/flow_table.h"
#include "dataplane/core/neighbours.h"
#include "dataplane/core/routes.h"

struct rte_rcu_qsbr;
struct rte_ring;

namespace fulcrum::dp {

inline constexpr uint32_t kMaxPorts = 8;
inline constexpr uint16_t kNoPort = 0xFFFF;

struct PortInfo {
  std::string name;
  uint16_t dpdk_port = 0;
  MacBytes mac{};
  uint32_t addr_be = 0;
  uint8_t prefix_len = 0;
  bool rx_ip_checksum = false;   // the NIC verifies IPv4 header checksums
  // issue 11, host sharing: the kernel keeps addr_be (no ARP or ping answered for it, next
  // hops from the kernel's neighbour table); exception_port is the DPDK port of its kernel
  // interface (net_tap / virtio_user), kNoPort when there is none.
  bool kernel_owns_address = false;
  uint16_t exception_port = 0xFFFF;
};

struct TimeoutsMs {
  uint32_t by_phase[4];          // indexed by TcpPhase
};

struct SharedOptions {
  uint32_t workers = 1;
  uint32_t conntrack_entries = 1u << 20;
  TimeoutsMs timeouts{{60'000, 900'000, 120'000, 10'000}};
  uint32_t flow_seed = 0;        // 0: random
};

class Shared {
 public:
  // Allocates the flow table (rte_zmalloc: hugepages when EAL has them), the RCU state and
  // the rings. Needs EAL. nullptr and *error on failure.
  static std::unique_ptr<Shared> create(const SharedOptions& options, std::string* error);
  ~Shared();
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;

  // Adds a port; its connected subnet becomes a route. Returns the port's index.
  uint8_t add_port(const PortInfo& port);
  uint8_t port_index(uint16_t dpdk_port) const {
    return dpdk_port < port_by_dpdk_.size() ? port_by_dpdk_[dpdk_port] : 0xFF;
  }
  // True if addr_be is one of the ports' own addresses.
  bool is_port_addr(uint32_t addr_be) const;

  uint32_t workers() const { return options_.workers; }
  const TimeoutsMs& timeouts() const { return options_.timeouts; }

  FlowTable& flows() { return *flows_; }
  NeighbourTable neighbours;
  RouteTable routes;
  std::vector<PortInfo> ports;

  // The control plane's tables, once mapped (the main lcore attaches and re-attaches).
  std::atomic<const abi::TablesRegion*> tables{nullptr};
  abi::StatusRegion* status = nullptr;

  rte_rcu_qsbr* qsbr = nullptr;          // workers' quiescent states, for flow-entry reuse
  rte_ring* handoff[FlowTable::kMaxPartitions] = {};   // to each worker: its flows' first packets
  rte_ring* to_main = nullptr;          // ARP and packets waiting for a next hop
  // The main lcore's outgoing packets (ARP), sent by worker 0 on its own TX queue: virtual
  // NICs such as net_af_packet offer no more TX queues than RX queues. mbuf->port holds
  // the egress port index.
  rte_ring* from_main = nullptr;
  // issue 11: frames for the kernel (Punt verdicts), written to each port's kernel
  // interface by the main lcore (dataplane/app/exception_path.h). mbuf->port: RX port.
  rte_ring* to_kernel = nullptr;

 private:
  Shared() = default;
  SharedOptions options_;
  void* entry_mem_ = nullptr;
  void* bucket_mem_ = nullptr;
  std::unique_ptr<FlowTable> flows_;
  std::vector<uint8_t> port_by_dpdk_ = std::vector<uint8_t>(64, 0xFF);
};

}  // namespace fulcrum::dp
