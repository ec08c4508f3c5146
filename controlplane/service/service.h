// The control plane's one service API. The TOML loader (start-up and reload), lbctl's
// socket, the health checker and the metrics endpoint all go through it; each is a thin
// front end.
//
// Publishing: every change (config, health, operator action) marks the model changed; the
// loop calls pump(), which hands the latest model to the Publisher thread when it is idle
// and the previous publish is at least kMinPublishGapMs old. A burst of changes (a rack of
// backends failing) therefore costs a few publishes, not one each, and only the VIPs whose
// tables changed are rebuilt (MaglevCache). Verbs that change something answer once their
// change is published: they return a Deferred, and the front end collects the answer with
// take_answer() when it is ready.
//
// Threads: the event loop calls everything; the metrics endpoint's thread calls only
// metrics(), under the same mutex. The health checker is touched only by the loop thread.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config/loader/lb_config.h"
#include "controlplane/announce/announce_policy.h"
#include "controlplane/announce/announce_worker.h"
#include "controlplane/announce/node_state.h"
#include "controlplane/health/health_checker.h"
#include "controlplane/service/api_error.h"
#include "controlplane/service/backend_figures.h"
#include "controlplane/service/dataplane_link.h"
#include "controlplane/service/model.h"
#include "controlplane/service/operator_state.h"
#include "controlplane/service/publisher.h"
#include "controlplane/steering/steering_publisher.h"

namespace fulcrum::cp {

using Json = nlohmann::json;

// An answer that comes later: collect it with Service::take_answer(id).
struct Deferred {
  uint64_t id;
};
using Reply = std::variant<Expected<Json>, Deferred>;

// What `lbctl conn list` asks for.
struct ConnQuery {
  std::optional<std::string> vip, backend;
  uint32_t limit = 100;
};

class Service {
 public:
  static constexpr uint64_t kMinPublishGapMs = 200;   // at most one publish per tick

  // Loads operator state, opens the tables region, assigns stable ids (reusing those of a
  // generation already published, so a restarted control plane changes nothing), starts
  // health checks and publishes the first generation (waiting for it).
  static Expected<std::unique_ptr<Service>> create(config::LbConfig config, toml::table raw);
  ~Service();

  // ---- lbctl verbs (loop thread). Results are JSON documents (see docs/lbctl.md).
  Json status();
  Json vip_list();
  Expected<Json> backend_list(const std::optional<std::string>& vip);
  Json stats();
  // Operator actions on every backend matching `backend` (name, "address:port" or
  // address) in `vip`, or in every VIP when none is given. An action that changes nothing
  // answers at once ("changed": false) and publishes nothing.
  Reply set_drain(const std::string& backend, const std::optional<std::string>& vip, bool drain);
  // 0..1000; nullopt returns to the configured weight.
  Reply set_weight(const std::string& backend, const std::optional<std::string>& vip, std::optional<uint16_t> weight);
  Reply set_maintenance(const std::string& backend, const std::optional<std::string>& vip, bool on);
  // Up or Down whatever the checks say; nullopt: the checks decide again.
  Reply force_health(const std::string& backend, const std::optional<std::string>& vip, std::optional<Health> health);
  Json state_list();
  // Removes operator overrides: of the matching backends, or all when `backend` is empty.
  Reply state_clear(const std::optional<std::string>& backend, const std::optional<std::string>& vip);
  // Re-reads the config file: parse, validate, diff, publish, then commit. A file that does
  // not validate, changes what needs a restart, or cannot be published changes nothing.
  // dry_run: the same report (changes, per-VIP share of Maglev slots that would move),
  // nothing published.
  Reply reload(bool dry_run);
  // A dry run of another file.
  Reply config_diff(const std::string& path);
  Reply conn_list(const ConnQuery& query);
  // ---- issue 12 (service_node.cpp): this node in a site of several.
  // Drained: every VIP withdrawn from the routers (persisted); answered once the routing
  // daemon took the withdrawal (or the announcement, for undrain).
  Reply node_drain(bool drain);
  // The control plane is exiting: withdraws every VIP if withdraw_on_exit (waits for the
  // routing daemon up to a few seconds). Loop thread.
  void shutdown();

  // The answer of a Deferred once ready (then forgotten), else nullopt.
  std::optional<Expected<Json>> take_answer(uint64_t id);
  void forget(uint64_t id);
  // Deferred answers that wait on the data plane (no fd to wake the loop): poll often.
  bool polling() const;

  // ---- The event loop
  int health_fd() const { return health_->fd(); }
  uint64_t health_deadline_ms() const { return health_->next_deadline_ms(); }
  void run_health() { health_->run(); }   // may call on_health()
  int publisher_fd() const { return publisher_->event_fd(); }
  void on_publisher_event();
  // Submits a publish if one is due and the publisher is idle; returns when it should be
  // called again at the latest (monotonic ms), UINT64_MAX if nothing is waiting.
  uint64_t pump();
  // Every ~200 ms: notices a data-plane (re)start and republishes; samples rates.
  void tick();

  // ---- Metrics (any thread)
  struct BackendMetrics {
    std::string vip, backend, name;
    bool up, drained, maintenance;
    uint16_t weight;
    uint64_t active, opened, transitions;
    Traffic traffic;
  };
  struct VipMetrics {
    std::string name;
    uint64_t new_connections = 0, drops = 0, active = 0;
    Traffic traffic;
    bool announced = false;      // issue 12: BIRD announces its address for this node
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
    std::vector<VipMetrics> vips;
    std::vector<BackendMetrics> backends;
    std::vector<BackendScheduling> scheduling;
    uint64_t generation = 0;
    double table_age_s = 0;
    double heartbeat_age_s = 0;
    bool dataplane_alive = false;
    uint64_t conntrack_capacity = 0;
    uint64_t publishes = 0, publish_failures = 0;
    double last_publish_ms = 0;
    bool last_reload_ok = true;
    double last_reload_unix_s = 0;
    bool config_in_sync = true;
    bool xdp_steering = false;   // issue 11: some port has host_sharing = "xdp"
    XdpStats xdp;                // its XDP program's per-action counters
    // issue 12: the node in a BGP site
    bool node_drained = false;
    bool bgp = false;            // [controlplane.bgp] configured (the rest is meaningful then)
    bool bgp_in_sync = false;    // BIRD took the latest plan
    bool bgp_daemon_up = false;  // BIRD answered the latest query
  };
  MetricsSnapshot metrics();

  const config::LbConfig& config() const { return config_; }

 private:
  struct PendingAnswer {
    enum class Kind { Publish, Job, Conns, Announce } kind = Kind::Publish;  // Announce: the plan `seq` taken by BIRD
    uint64_t seq = 0;          // Publish: the change it waits for; Conns: the data plane's request
    Json result;               // Publish: the answer, "generation" added once published
    std::optional<Expected<Json>> ready;
    uint64_t deadline_ms = 0;  // Conns: give up then
  };
  // A reload (or dry run) between validation and its publish.
  struct ReloadJob {
    uint64_t answer = 0;       // the PendingAnswer waiting for it; 0: none (SIGHUP)
    bool dry_run = false;
    bool is_reload = true;     // false: `config diff` of another file
    std::string path;
    config::LbConfig next;
    toml::table raw;
    std::vector<VipRt> vips;   // the candidate model
    std::vector<std::string> changes;
    std::vector<std::string> state_notes;   // operator state dropped or moved by the reload
    TableSpec spec;            // as submitted
    bool submitted = false;
  };
  struct Match {
    VipRt* vip;
    BackendRt* backend;
  };

  Service(config::LbConfig config, toml::table raw);

  // ---- model (service.cpp)
  void on_health(const HealthEvent& e);
  // Builds the VIP runtime list for `config`, keeping what `previous` knew of the same VIPs
  // and backends (ids, health), with the overrides of `state`.
  std::vector<VipRt> build_model(const config::LbConfig& config, const std::vector<VipRt>& previous,
                                 const OperatorState& state);
  void sync_health_targets(const std::vector<VipRt>& previous);
  uint64_t target_for(const BackendRt& b);
  // table_spec() plus the retired ids (removed backends whose connections are still open).
  TableSpec spec_to_publish(const std::vector<VipRt>& vips) const;
  void apply_overrides(std::vector<VipRt>& vips, const OperatorState& state) const;
  VipRt* find_vip(const std::string& name_or_endpoint);
  Expected<std::vector<Match>> resolve(const std::string& backend, const std::optional<std::string>& vip);
  void take_baselines(const std::vector<VipRt>& before, const std::vector<VipRt>& after);

  // ---- publishing (service_publish.cpp)
  void request_publish(const std::string& why);
  uint64_t defer(PendingAnswer p);
  void settle_publishes(uint64_t seq, const Expected<uint64_t>& outcome);
  void finish_reload(const Publisher::Result& r);
  void commit_reload(ReloadJob& job);

  // ---- operator verbs (service_operator.cpp)
  // Sets each matching backend's overrides with `change`, persists, applies, publishes.
  Reply change_backends(const std::string& backend, const std::optional<std::string>& vip, const char* what,
                        const std::function<void(Overrides&, const BackendRt&)>& change);
  // `sharing`: how many checked backends use each check target (check_sharing()).
  Json backend_json(const VipRt& v, const BackendRt& b, const std::map<uint64_t, size_t>& sharing) const;
  std::map<uint64_t, size_t> check_sharing() const;

  // ---- reload (service_reload.cpp)
  Reply prepare_reload(const std::string& path, bool dry_run, bool is_reload);
  Json plan_json(const ReloadJob& job, const TableSpec& planned) const;

  // ---- counters with per-id baselines (service_views.cpp)
  uint64_t vip_new_connections(const VipRt& v) const;
  uint64_t vip_drops(const VipRt& v) const;
  Traffic backend_traffic(const BackendRt& b) const;
  Traffic vip_traffic(const VipRt& v) const;
  Json config_file_json();

  // ---- Scheduling (service_scheduling.cpp): passive health, slow start, the figures.
  // Samples every backend's attempt counters; ejects those over their VIP's
  // passive.consecutive_failures (within max_ejected_percent) and publishes.
  void run_passive_health(uint64_t now_ms);
  static void start_ramp(uint32_t slow_start_s, BackendRt& b, uint64_t now_ms);
  bool finish_ramps(uint64_t now_ms);  // true: some ramp is over (republish)
  void add_scheduling_json(const VipRt& v, const BackendRt& b, Json& out) const;
  void add_scheduling_metrics(MetricsSnapshot& m) const;

  // ---- issue 12: announcing over BGP, node drain, fingerprints (service_node.cpp)
  std::string start_node();                 // at create(): node state, the announcer
  NodeFacts node_facts() const;
  std::vector<VipFacts> vip_facts() const;  // parallel to vips_
  void update_announcements();              // decide; hand a changed plan to the announcer
  void settle_announce(PendingAnswer& p);   // a node drain's answer, once the daemon took it
  Json node_json();                          // `status`'s "node"
  // `vip list`'s announcement and fingerprint fields, for each VIP (parallel to vips_).
  std::vector<Json> vip_node_json();
  void node_metrics(MetricsSnapshot& m);      // the node's and each VIP's announcement (m.vips filled)
  NodeState node_;
  std::unique_ptr<AnnounceWorker> announcer_;  // none without [controlplane.bgp]
  std::vector<AnnouncedRoute> planned_routes_;
  uint64_t announce_seq_ = 0;                // the latest plan handed to the announcer
  bool stopping_ = false;
  std::map<uint16_t, std::pair<uint64_t, uint64_t>> fingerprints_;  // VIP id -> (generation, fingerprint)

  mutable std::mutex mu_;
  config::LbConfig config_;
  toml::table raw_;
  std::vector<VipRt> vips_;
  OperatorState operator_state_;
  DataplaneLink link_;
  SteeringPublisher steering_;  // issue 11: XDP steering maps, synced before each commit
  std::unique_ptr<HealthChecker> health_;
  std::unique_ptr<Publisher> publisher_;
  uint64_t next_target_ = 1;
  std::map<std::string, uint64_t> targets_;   // check identity -> shared target id
  uint64_t started_ms_ = 0;
  uint64_t last_rate_ms_ = 0;

  // Publishing state (loop thread, under mu_).
  enum class InFlight { None, Changes, Reload, Plan };
  InFlight in_flight_ = InFlight::None;
  uint64_t change_seq_ = 0;        // bumped by every change that needs a publish
  uint64_t submitted_seq_ = 0;     // the change_seq_ the latest submitted spec holds
  uint64_t last_submit_ms_ = 0;
  std::vector<std::string> pending_why_;
  std::unique_ptr<ReloadJob> reload_;       // queued or in flight
  std::map<uint64_t, PendingAnswer> pending_;
  uint64_t next_answer_id_ = 1;

  // What status and metrics report.
  uint64_t publishes_ = 0, publish_failures_ = 0;
  struct LastPublish {
    uint64_t generation = 0, at_unix_ms = 0;
    double total_ms = 0, build_ms = 0;
    size_t rebuilt = 0, reused = 0;
    std::string why, error, warning;
  } last_publish_;
  struct LastReload {
    uint64_t at_unix_ms = 0;
    bool ok = true;
    std::string result;   // "3 changes", or the error
  } last_reload_;
  struct FileIdentity {
    uint64_t size = 0, mtime_ns = 0, hash = 0;   // of the file as loaded
    bool read = false;
    uint64_t seen_size = 0, seen_mtime_ns = 0;    // the latest look at it, and its verdict
    std::string seen_state;
  } loaded_file_;

  // Counter baselines of ids given to a new VIP or backend while a data plane runs:
  // the status region's counters are indexed by id and never reset, so a reused id would
  // otherwise inherit its previous owner's counts.
  struct VipBase {
    uint64_t new_connections = 0, drops = 0;
  };
  std::map<uint16_t, VipBase> vip_base_;
  std::map<uint16_t, Traffic> backend_base_;
  uint64_t base_start_count_ = 0;
};

uint64_t monotonic_ms();
uint64_t unix_ms();

}  // namespace fulcrum::cp
