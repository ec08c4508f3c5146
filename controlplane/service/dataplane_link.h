// The control plane's side of the shared-memory contract: it owns the tables region and
// publishes into it, and it watches the data plane's status region (liveness, restarts,
// counters) without ever writing to it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "controlplane/tables/table_builder.h"
#include "dataplane/abi/region.h"

namespace fulcrum::cp {

// Counters summed over the data plane's lcores at one moment.
struct DataplaneCounters {
  uint64_t counters[abi::kWorkerCounterCount] = {};
  uint64_t drops[abi::kDropReasonCount] = {};
  uint64_t conntrack_entries = 0;
};

class DataplaneLink {
 public:
  DataplaneLink(std::string tables_name, std::string status_name, std::chrono::milliseconds publish_timeout);

  // Opens (or creates) the tables region. A region left by an earlier control plane is
  // kept: the data plane may be reading it. "" or the reason.
  std::string open_tables();
  // The slot a data plane would use now (nullptr if nothing was ever published).
  const abi::TableSlot* active_slot() const;
  PublishOutcome publish(const TableSpec& spec);
  uint64_t generation() const;
  uint64_t table_age_ms() const;   // since the last publish (by any control plane)

  // Re-opens the status region if it appeared or was replaced. Returns true when a data
  // plane (re)started since the last call: the caller republishes.
  bool refresh_status();
  bool dataplane_alive() const;
  const abi::StatusRegion* status() const { return status_.valid() ? &abi::status_of(status_) : nullptr; }
  uint64_t heartbeat_age_ms() const;      // ~0 when alive; large when dead; 0 if never seen

  DataplaneCounters counters() const;
  // Connections of a stable backend id now open (opened - closed over all lcores).
  uint64_t active_connections(uint16_t backend_id) const;
  uint64_t opened_connections(uint16_t backend_id) const;
  uint64_t vip_new_connections(uint16_t vip_id) const;
  // The lowest generation an online lcore is on (what is really in use), 0 if none.
  uint64_t generation_in_use() const;

 private:
  std::string tables_name_, status_name_;
  abi::PublishOptions options_;
  abi::Mapping tables_, status_;
  std::unique_ptr<abi::TablesWriter> writer_;
  uint64_t last_start_count_ = 0;
};

}  // namespace fulcrum::cp
