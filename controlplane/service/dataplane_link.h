// The control plane's view of the shared-memory contract: it owns the tables region (the
// Publisher writes it), watches the data plane's status region (liveness, restarts,
// counters) without ever writing to it, and asks the data plane for connection samples.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/abi/region.h"

namespace fulcrum::cp {

// Counters summed over the data plane's lcores at one moment.
struct DataplaneCounters {
  uint64_t counters[abi::kWorkerCounterCount] = {};
  uint64_t drops[abi::kDropReasonCount] = {};
  uint64_t conntrack_entries = 0;
};

// One backend's or VIP's traffic since the data plane started.
struct Traffic {
  uint64_t packets = 0, bytes = 0;
};

struct LcoreInfo {
  uint32_t index = 0, lcore = 0;
  bool main = false, online = false;
  uint64_t generation = 0;      // the generation it last loaded
  uint64_t loop_age_ms = 0;     // since its loop last came round (0: unknown)
};

// What `lbctl conn list` asks for.
struct ConnFilter {
  uint32_t vip_addr_be = 0;     // 0: any
  bool vip_ipv6 = false;        // issue 15: the VIP is vip_addr6
  abi::Ip6 vip_addr6{};
  uint16_t vip_port_be = 0;     // 0: any
  uint16_t backend_id = abi::kAnyBackend;
  uint32_t limit = 100;
};

class DataplaneLink {
 public:
  DataplaneLink(std::string tables_name, std::string status_name);

  // Opens (or creates) the tables region. A region left by an earlier control plane is
  // kept: the data plane may be reading it. "" or the reason.
  std::string open_tables();
  abi::TablesRegion& tables() const { return abi::tables_of(tables_); }
  // The slot a data plane would use now (nullptr if nothing was ever published).
  const abi::TableSlot* active_slot() const;
  uint64_t generation() const;
  uint64_t table_age_ms() const;   // since the last publish (by any control plane)

  // Re-opens the status region if it appeared or was replaced. Returns true when a data
  // plane (re)started since the last call: the caller republishes.
  bool refresh_status();
  bool dataplane_alive() const;
  const abi::StatusRegion* status() const { return status_.valid() ? &abi::status_of(status_) : nullptr; }
  uint64_t start_count() const { return status() != nullptr ? status()->header.start_count.load() : 0; }
  // ms since the last heartbeat; nullopt when no data plane ever ran (no status region).
  std::optional<uint64_t> heartbeat_age_ms() const;

  DataplaneCounters counters() const;
  // Connections of a stable backend id now open (opened - closed over all lcores).
  uint64_t active_connections(uint16_t backend_id) const;
  uint64_t opened_connections(uint16_t backend_id) const;
  Traffic backend_traffic(uint16_t backend_id) const;
  uint64_t vip_new_connections(uint16_t vip_id) const;
  uint64_t vip_drops(uint16_t vip_id) const;
  // The lowest generation an online lcore is on (what is really in use), 0 if none.
  uint64_t generation_in_use() const;
  std::vector<LcoreInfo> lcores() const;

  // Connection sampling: ask(), then poll answer() until it has one (or give up).
  // "" or why not (no data plane, an older data plane without sampling).
  std::string ask_connections(const ConnFilter& filter, uint64_t* seq);
  // The answer to request `seq` once the data plane gave it.
  const abi::ConnSampleRegion* answered(uint64_t seq) const;

 private:
  std::string tables_name_, status_name_;
  abi::Mapping tables_, status_, conns_;
  uint64_t last_start_count_ = 0;
};

}  // namespace fulcrum::cp
