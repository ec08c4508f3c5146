// The control plane's picture of the world: the configured VIPs and backends, with what
// happened to them at run time (health, operator overrides) and their stable ids.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/loader/lb_config.h"
#include "controlplane/health/health_checker.h"
#include "controlplane/service/passive_health.h"
#include "controlplane/tables/table_builder.h"

namespace fulcrum::cp {

struct BackendRt {
  config::BackendConfig cfg;
  uint16_t id = 0;                      // stable backend id: counters and connection entries
  uint64_t target = 0;                  // health-check target (shared by identical checks); 0: none (maintenance)
  Health health = Health::Up;           // what the checks say; assumed up until they say otherwise
  std::string health_reason = "not checked yet";
  uint64_t health_changed_ms = 0;       // monotonic ms of the latest transition (0: none)
  uint64_t health_changed_unix_ms = 0;  // the same, wall clock (for "down since")
  uint64_t transitions = 0;
  // Operator overrides (persisted in the operator state).
  std::optional<bool> drain_override;   // drained (true) or undrained (false), over cfg.state
  std::optional<uint16_t> weight_override;
  bool maintenance = false;             // no checks, no traffic
  std::optional<Health> forced_health;  // over what the checks say
  // Rate of new connections, from the opened counter sampled once a second.
  uint64_t opened_sample = 0;
  uint64_t sample_ms = 0;
  double new_per_s = 0;
  // Passive health (passive_health.h) and slow start: when it last joined or came back
  // (monotonic ms); `ramping` while the VIP's slow_start_s has not passed since.
  PassiveState passive;
  uint64_t up_since_ms = 0;
  bool ramping = false;

  uint16_t weight() const { return weight_override.value_or(cfg.weight); }
  bool configured_draining() const { return cfg.state == config::InitialState::Draining; }
  bool draining() const { return drain_override.value_or(configured_draining()); }
  Health effective_health() const { return forced_health.value_or(health); }
  // Ejected by passive health, unless an operator forced its health.
  bool ejected() const { return passive.ejected && !forced_health; }
  abi::BackendState table_state() const {
    if (maintenance || effective_health() == Health::Down || ejected()) return abi::BackendState::Down;
    return draining() ? abi::BackendState::Draining : abi::BackendState::Active;
  }
  const char* state_name() const;       // "active", "draining", "down", "maintenance"
};

struct VipRt {
  config::VipConfig cfg;
  uint16_t id = 0;                      // stable VIP id
  abi::HashKey key;                     // from the VIP's or the cluster's hash seed
  std::vector<BackendRt> backends;
};

// The 128-bit SipHash key of a seed string: the same seed gives the same key on every node.
abi::HashKey key_from_seed(const std::string& seed);

TableSpec table_spec(const std::vector<VipRt>& vips);
// The same tables (prebuilt Maglev tables aside: they follow from the rest).
bool same_tables(const TableSpec& a, const TableSpec& b);

}  // namespace fulcrum::cp
