// Turning a model of VIPs and backends into one table generation in shared memory.
// The control plane's publisher uses it, and so do tests that play the control plane.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "controlplane/maglev/maglev.h"
#include "dataplane/abi/flow_hash.h"
#include "dataplane/abi/publish.h"
#include "dataplane/abi/tables.h"

namespace fulcrum::cp {

struct BackendSpec {
  uint32_t addr_be = 0;            // family Ipv4
  uint16_t port_be = 0;
  uint16_t id = 0;                 // stable backend id (< abi::kMaxBackends), unique per table
  uint16_t weight = 1;
  abi::BackendState state = abi::BackendState::Active;
  uint32_t max_connections = 0;    // 0: no limit
  uint32_t max_new_conn_rate = 0;  // per second, 0: no limit
  uint32_t new_conn_burst = 0;
  bool slow_start = false;         // ramping: up_since_ms is when it joined or recovered
  uint32_t up_since_ms = 0;        // CLOCK_MONOTONIC ms (low 32 bits)
  abi::Family family = abi::Family::Ipv4;  // issue 15; a VIP's backends are all of one family
  abi::Ip6 addr6{};                // family Ipv6 (addr_be then 0)
};

struct VipSpec {
  uint32_t addr_be = 0;            // family Ipv4
  uint16_t port_be = 0;
  abi::ForwardMode mode = abi::ForwardMode::Nat;
  uint16_t vip_id = 0;             // stable VIP id (< abi::kMaxVips)
  abi::DownPolicy down_policy = abi::DownPolicy::Keep;
  uint32_t new_conn_rate = 0;      // SYNs per second, 0: no limit
  uint32_t new_conn_burst = 0;
  abi::Synproxy synproxy = abi::Synproxy::Off;
  abi::Scheduler scheduler = abi::Scheduler::Maglev;
  uint16_t balance_factor = 125;   // maglev_bounded, percent of the mean load
  abi::OnFull on_full = abi::OnFull::Drop;
  uint8_t connect_retries = 2;     // 0 .. abi::kMaxConnectRetries
  uint32_t slow_start_ms = 0;
  std::vector<uint32_t> snat_addrs_be;   // fullnat with IPv4 backends (also NAT64)
  std::vector<abi::Ip6> snat_addrs6;     // fullnat with IPv6 backends
  uint32_t maglev_size = 65537;
  abi::HashKey hash_key;
  std::vector<BackendSpec> backends;
  // The VIP's Maglev table built beforehand (by the control plane's cache, for exactly
  // these backends in this order, this key and size): copied instead of rebuilt. Null:
  // fill_slot() builds it.
  std::shared_ptr<const std::vector<uint16_t>> prebuilt_maglev;
  abi::Family family = abi::Family::Ipv4;  // issue 15: Ipv6 with IPv4 backends is NAT64 (fullnat)
  abi::Ip6 addr6{};                // family Ipv6 (addr_be then 0)
};

// A backend id that is in no VIP any more but still has connections in the data plane:
// published as Removed with the policy of the VIP it was last in, so that `reset` applies
// to a removed backend's flows as to a down one's.
struct RetiredBackendSpec {
  uint16_t id = 0;
  abi::DownPolicy down_policy = abi::DownPolicy::Keep;
};

struct TableSpec {
  std::vector<VipSpec> vips;
  std::vector<RetiredBackendSpec> retired;
};

// Only active backends with a weight take new flows: draining, down and weight-0 ones get
// no Maglev slots but stay listed (their existing flows look up their state by id).
bool takes_new_flows(const BackendSpec& b);

// A backend as Maglev hashes it (its family's address and port; weight 0 unless it
// takes new flows). The builder and the control plane's Maglev cache must agree.
MaglevBackend maglev_input(const BackendSpec& b);

// Fills `slot` from `spec`, overwriting what an older generation left in it. Returns ""
// or why the spec does not fit (capacities, bad Maglev size, duplicate ids).
std::string fill_slot(const TableSpec& spec, abi::TableSlot& slot);

// begin() + fill_slot() + commit(), or abandon() if the spec does not fit.
struct PublishOutcome {
  std::string error;       // "" on success
  std::string warning;     // a stalled worker the writer stopped waiting for
  uint64_t generation = 0;
};
PublishOutcome publish_tables(abi::TablesWriter& writer, const TableSpec& spec);

}  // namespace fulcrum::cp
