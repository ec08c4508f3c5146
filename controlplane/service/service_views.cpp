// The service's read verbs: what lbctl shows and the metrics endpoint exports.
#include <unistd.h>

#include "controlplane/service/service.h"
#include "dataplane/abi/dump.h"

namespace fulcrum::cp {
namespace {

const char* mode_name(config::ForwardMode m) { return m == config::ForwardMode::FullNat ? "fullnat" : "nat"; }

}  // namespace

Json Service::backend_json(const VipRt& v, const BackendRt& b) const {
  // The latest check's result; the reason of the last transition until the first check.
  const TargetStatus* checked = health_->status(b.target);
  const std::string& last = checked != nullptr && !checked->last_result.empty() ? checked->last_result : b.health_reason;
  Json out{{"vip", v.cfg.name},
              {"backend", b.cfg.endpoint()},
              {"name", b.cfg.name},
              {"id", b.id},
              {"state", b.state_name()},
              {"health", b.health == Health::Up ? "up" : "down"},
              {"health_reason", last},
              {"drained", b.drained},
              {"weight", b.weight()},
              {"configured_weight", b.cfg.weight},
              {"active_connections", link_.active_connections(b.id)},
              {"new_connections_per_s", b.new_per_s},
              {"health_check", b.cfg.health.type == config::CheckType::Http ? "http" : "tcp"},
              {"detection_ms", b.cfg.health.detection_ms()},
              {"health_transitions", b.transitions}};
  add_scheduling_json(v, b, out);
  return out;
}

Json Service::status() {
  std::lock_guard lock(mu_);
  const abi::StatusRegion* s = link_.status();
  Json dp{{"alive", link_.dataplane_alive()},
          {"heartbeat_age_ms", link_.heartbeat_age_ms()},
          {"generation_in_use", link_.generation_in_use()}};
  if (s != nullptr) {
    dp["pid"] = s->header.pid.load();
    dp["start_count"] = s->header.start_count.load();
    dp["lcores"] = s->header.worker_count.load();
    dp["conntrack_capacity"] = s->header.conntrack_capacity.load();
  }
  Json vips = Json::array();
  for (const VipRt& v : vips_) {
    uint64_t up = 0, taking = 0, active = 0;
    for (const BackendRt& b : v.backends) {
      up += b.health == Health::Up;
      taking += b.table_state() == abi::BackendState::Active && b.weight() > 0;
      active += link_.active_connections(b.id);
    }
    vips.push_back({{"name", v.cfg.name},
                    {"vip", v.cfg.endpoint()},
                    {"mode", mode_name(v.cfg.mode)},
                    {"backends", v.backends.size()},
                    {"backends_up", up},
                    {"backends_taking_new", taking},
                    {"active_connections", active}});
  }
  return Json{{"dataplane", dp},
              {"tables", {{"generation", link_.generation()}, {"age_ms", link_.table_age_ms()}}},
              {"controlplane", {{"pid", getpid()}, {"uptime_s", (monotonic_ms() - started_ms_) / 1000}, {"config", config_.path}}},
              {"vips", vips}};
}

Json Service::vip_list() {
  std::lock_guard lock(mu_);
  Json out = Json::array();
  for (const VipRt& v : vips_) {
    Json snat = Json::array();
    for (uint32_t a : v.cfg.snat_be) snat.push_back(abi::format_addr(a));
    out.push_back({{"name", v.cfg.name},
                   {"vip", v.cfg.endpoint()},
                   {"id", v.id},
                   {"protocol", "tcp"},
                   {"mode", mode_name(v.cfg.mode)},
                   {"snat", snat},
                   {"maglev_size", v.cfg.maglev_size},
                   {"on_backend_down", v.cfg.on_backend_down == config::DownPolicy::Reset ? "reset" : "keep"},
                   {"scheduler", config::scheduler_name(v.cfg.scheduling.scheduler)},
                   {"connect_retries", v.cfg.scheduling.connect_retries},
                   {"backends", v.backends.size()},
                   {"new_connections", link_.vip_new_connections(v.id)}});
  }
  return out;
}

Expected<Json> Service::backend_list(const std::optional<std::string>& vip) {
  std::lock_guard lock(mu_);
  const VipRt* only = nullptr;
  if (vip) {
    only = find_vip(*vip);
    if (only == nullptr) return not_found("no VIP named or at \"" + *vip + "\" (see: lbctl vip list)");
  }
  Json out = Json::array();
  for (const VipRt& v : vips_) {
    if (only != nullptr && &v != only) continue;
    for (const BackendRt& b : v.backends) out.push_back(backend_json(v, b));
  }
  return out;
}

Json Service::stats() {
  std::lock_guard lock(mu_);
  DataplaneCounters c = link_.counters();
  Json counters = Json::object(), drops = Json::object();
  for (size_t i = 0; i < abi::kWorkerCounterCount; ++i) counters[std::string(abi::kWorkerCounterInfo[i].name)] = c.counters[i];
  for (size_t i = 0; i < abi::kDropReasonCount; ++i) drops[std::string(abi::kDropReasonInfo[i].name)] = c.drops[i];
  Json vips = Json::array();
  for (const VipRt& v : vips_) vips.push_back({{"name", v.cfg.name}, {"new_connections", link_.vip_new_connections(v.id)}});
  const abi::StatusRegion* s = link_.status();
  return Json{{"dataplane_alive", link_.dataplane_alive()},
              {"counters", counters},
              {"drops", drops},
              {"conntrack_entries", c.conntrack_entries},
              {"conntrack_capacity", s != nullptr ? s->header.conntrack_capacity.load() : 0},
              {"vips", vips}};
}

Service::MetricsSnapshot Service::metrics() {
  std::lock_guard lock(mu_);
  MetricsSnapshot m;
  m.dp = link_.counters();
  m.generation = link_.generation();
  m.table_age_s = double(link_.table_age_ms()) / 1000.0;
  m.heartbeat_age_s = double(link_.heartbeat_age_ms()) / 1000.0;
  m.dataplane_alive = link_.dataplane_alive();
  for (const VipRt& v : vips_) {
    m.vip_new_connections.emplace_back(v.cfg.name, link_.vip_new_connections(v.id));
    for (const BackendRt& b : v.backends) {
      m.backends.push_back({v.cfg.name, b.cfg.endpoint(), b.health == Health::Up, link_.active_connections(b.id), b.transitions});
    }
  }
  add_scheduling_metrics(m);
  return m;
}

}  // namespace fulcrum::cp
