// The control plane's one service API. The TOML loader (start-up and reload), lbctl's
// socket, the health checker and the metrics endpoint all go through it; each is a thin
// front end. Every change (config, health, operator action) ends in one new table
// generation.
//
// Threads: the event loop calls everything; the metrics endpoint (prometheus-cpp's
// threads) calls only metrics(), under the same mutex. The health checker is touched only
// by the loop thread (the lbctl verbs read its latest results, so they run there too).
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/loader/lb_config.h"
#include "controlplane/health/health_checker.h"
#include "controlplane/service/api_error.h"
#include "controlplane/service/backend_figures.h"
#include "controlplane/service/dataplane_link.h"
#include "controlplane/service/model.h"
#include "controlplane/service/operator_state.h"

namespace fulcrum::cp {

using Json = nlohmann::json;

class Service {
 public:
  // Loads operator state, opens the tables region, assigns stable ids (reusing those of a
  // generation already published, so a restarted control plane changes nothing), starts
  // health checks and publishes the first generation.
  static Expected<std::unique_ptr<Service>> create(config::LbConfig config, toml::table raw);
  ~Service();

  // ---- lbctl verbs (loop thread). Results are JSON documents (see docs/lbctl.md).
  Json status();
  Json vip_list();
  Expected<Json> backend_list(const std::optional<std::string>& vip);
  Json stats();
  // Drains (or undrains) every backend matching `backend` (name, "address:port" or
  // address) in `vip`, or in every VIP when none is given.
  Expected<Json> set_drain(const std::string& backend, const std::optional<std::string>& vip, bool drain);
  // Overrides the weight (0..1000); nullopt returns to the configured weight.
  Expected<Json> set_weight(const std::string& backend, const std::optional<std::string>& vip,
                            std::optional<uint16_t> weight);
  // Re-reads the config file: parse, validate, diff, apply as one generation. A file that
  // does not validate, or changes what needs a restart, changes nothing.
  Expected<Json> reload();

  // ---- The event loop
  int health_fd() const { return health_->fd(); }
  uint64_t health_deadline_ms() const { return health_->next_deadline_ms(); }
  void run_health() { health_->run(); }   // may call on_health()
  // Every ~200 ms: notices a data-plane (re)start and republishes; samples rates.
  void tick();

  // ---- Metrics (any thread)
  struct BackendMetrics {
    std::string vip, backend;
    bool up;
    uint64_t active, transitions;
  };
  // Scheduling figures of one backend (service_scheduling.cpp).
  struct BackendScheduling {
    std::string vip, backend;
    BackendFigures figures;
    bool ejected = false;
    uint64_t ejections = 0;
  };
  struct MetricsSnapshot {
    DataplaneCounters dp;
    std::vector<std::pair<std::string, uint64_t>> vip_new_connections;
    std::vector<BackendMetrics> backends;
    std::vector<BackendScheduling> scheduling;
    uint64_t generation = 0;
    double table_age_s = 0;
    double heartbeat_age_s = 0;
    bool dataplane_alive = false;
  };
  MetricsSnapshot metrics();

  const config::LbConfig& config() const { return config_; }

 private:
  Service(config::LbConfig config, toml::table raw);
  void on_health(const HealthEvent& e);
  // Builds the VIP runtime list for `config`, keeping what `previous` knew of the same VIPs
  // and backends (ids, health, operator state).
  std::vector<VipRt> build_model(const config::LbConfig& config, const std::vector<VipRt>& previous);
  void sync_health_targets(const std::vector<VipRt>& previous);
  Expected<uint64_t> publish_locked(const char* why);
  Json backend_json(const VipRt& v, const BackendRt& b) const;
  struct Match {
    VipRt* vip;
    BackendRt* backend;
  };
  Expected<std::vector<Match>> resolve(const std::string& backend, const std::optional<std::string>& vip);
  // An operator action on the matching backends: record() each in the operator state, save
  // it, then apply() each and publish one generation.
  Expected<Json> change_backends(const std::string& backend, const std::optional<std::string>& vip, const char* what,
                                 const std::function<void(const BackendKey&)>& record,
                                 const std::function<void(BackendRt&)>& apply);
  VipRt* find_vip(const std::string& name_or_endpoint);

  // ---- Scheduling (service_scheduling.cpp): passive health, slow start, the figures.
  // Samples every backend's attempt counters; ejects those over their VIP's
  // passive.consecutive_failures (within max_ejected_percent) and publishes.
  void run_passive_health(uint64_t now_ms);
  // A backend that joined or recovered: readmitted (passive health) and ramping.
  void came_up(const VipRt& v, BackendRt& b, uint64_t now_ms);
  static void start_ramp(uint32_t slow_start_s, BackendRt& b, uint64_t now_ms);
  bool finish_ramps(uint64_t now_ms);  // true: some ramp is over (republish)
  void add_scheduling_json(const VipRt& v, const BackendRt& b, Json& out) const;
  void add_scheduling_metrics(MetricsSnapshot& m) const;

  mutable std::mutex mu_;
  config::LbConfig config_;
  toml::table raw_;
  std::vector<VipRt> vips_;
  OperatorState operator_state_;
  DataplaneLink link_;
  std::unique_ptr<HealthChecker> health_;
  uint64_t next_target_ = 1;
  uint64_t started_ms_ = 0;
  uint64_t last_rate_ms_ = 0;
};

uint64_t monotonic_ms();

}  // namespace fulcrum::cp
