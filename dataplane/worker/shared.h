// What all lcores of one data plane share, built once at start (by main.cpp, or by a
// test), then read-mostly: only the flow table (entries and index, see flow_table.h), the
// neighbour table (main lcore) and the tables pointer change while workers run.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/abi/flow_hash.h"
#include "dataplane/abi/status.h"
#include "dataplane/abi/tables.h"
#include "dataplane/core/flow_table.h"
#include "dataplane/core/neighbours.h"
#include "dataplane/core/routes.h"
#include "dataplane/core/routes6.h"

struct rte_mempool;
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
  // issue 15: the port's IPv6 address and on-link prefix (has_addr6 false: no IPv6 on it).
  // kernel_owns_address covers it too: on a host-sharing port the kernel answers its NDP.
  bool has_addr6 = false;
  abi::Ip6 addr6{};
  uint8_t prefix6_len = 0;
};

struct TimeoutsMs {
  uint32_t by_phase[4];          // indexed by TcpPhase
  uint32_t syn_unanswered;       // SynSeen that the backend has not answered at all

  uint32_t for_state(uint8_t state) const {
    return is_unanswered(state) ? syn_unanswered : by_phase[static_cast<uint8_t>(phase_of(state))];
  }
};

// Flood defence settings of [dataplane] (docs/dataplane.md, "Under attack").
struct FloodOptions {
  uint32_t breaker_rate = 125'000;   // new flows per second per worker; 0: no breaker
  uint32_t high_water_pct = 90;      // of a worker's entries: evict embryonic ones by age above it
  bool synproxy = false;             // reserve the sequence-translation array
};

struct SharedOptions {
  uint32_t workers = 1;
  uint32_t conntrack_entries = 1u << 20;
  uint32_t conntrack_entries6 = 1u << 16;   // issue 15: the IPv6 table (112 bytes per connection)
  TimeoutsMs timeouts{{60'000, 900'000, 120'000, 10'000}, 5'000};
  FloodOptions flood;
  uint64_t flow_seed = 0;        // keys the flow table's hash and the SYN cookies; 0: random
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
  // Any port's address, the kernel's shared ones included (issue 12: the host's own TCP, e.g.
  // health checks leaving through a tap, is never a nat backend's reply to a client).
  bool is_any_port_addr(uint32_t addr_be) const;
  // The same for IPv6 addresses (issue 15).
  bool is_port_addr6(const abi::Ip6& addr) const;
  bool is_any_port_addr6(const abi::Ip6& addr) const;

  uint32_t workers() const { return options_.workers; }
  const TimeoutsMs& timeouts() const { return options_.timeouts; }
  const FloodOptions& flood() const { return options_.flood; }

  FlowTable& flows() { return *flows_; }
  FlowTable6& flows6() { return *flows6_; }   // issue 15: IPv6 and NAT64 connections
  NeighbourTable neighbours;
  RouteTable routes;
  NeighbourTable6 neighbours6;   // issue 15: NDP, written by the main lcore like `neighbours`
  RouteTable6 routes6;
  std::vector<PortInfo> ports;

  // The control plane's tables, once mapped (the main lcore attaches and re-attaches).
  std::atomic<const abi::TablesRegion*> tables{nullptr};
  abi::StatusRegion* status = nullptr;

  rte_rcu_qsbr* qsbr = nullptr;          // workers' quiescent states, for flow-entry reuse
  rte_ring* handoff[FlowTable::kMaxPartitions] = {};   // to each worker: its flows' first packets
  // To the main lcore, two rings so that a flood of ARP requests cannot crowd out what
  // resolution needs: `to_main_prio` takes ARP from neighbours being resolved and packets
  // waiting for a next hop, `to_main` the ARP requests for our addresses.
  rte_ring* to_main = nullptr;
  rte_ring* to_main_prio = nullptr;
  // Packet buffers for what workers originate besides rewriting a received packet (the
  // SYN proxy's SYN towards a backend when the client's ACK carried data). Set by main.
  rte_mempool* pool = nullptr;
  // SYN proxy: per connection entry, the ISN given to the client (before the backend's
  // SYN-ACK) and then the sequence delta; null unless FloodOptions::synproxy.
  std::atomic<uint32_t>* synproxy_seq = nullptr;
  abi::HashKey cookie_key;              // SYN cookies (random per start; any worker checks any)
  // Scheduling (worker_schedule.cpp). By backend id: the open connections of backends with
  // max_connections that hold one of its slots (exact: reserved before a connection is made,
  // given back when it closes). And the SYN clock, kSynClockSlots per worker: when the SYN
  // of a recent entry left, (entry + 1) << 32 | TSC >> kSynClockShift; its SYN-ACK reads it
  // to measure the backend's connect time. A slot taken over by a later entry before the
  // SYN-ACK came loses that sample: a measurement, not per-connection state.
  static constexpr uint32_t kSynClockSlots = 4096;
  static constexpr uint32_t kSynClockShift = 6;
  std::unique_ptr<std::atomic<int32_t>[]> limited_open;
  std::unique_ptr<std::atomic<uint64_t>[]> syn_clock;
  uint32_t syn_clock_slot(uint32_t entry) const {
    return flows_->partition_of(entry) * kSynClockSlots + (entry & (kSynClockSlots - 1));
  }
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
  void* synproxy_mem_ = nullptr;
  std::unique_ptr<FlowTable> flows_;
  void* entry6_mem_ = nullptr;
  void* bucket6_mem_ = nullptr;
  std::unique_ptr<FlowTable6> flows6_;
  std::vector<uint8_t> port_by_dpdk_ = std::vector<uint8_t>(64, 0xFF);
};

}  // namespace fulcrum::dp
