// The service's read verbs: what lbctl shows and the metrics endpoint exports.
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

#include "config/loader/parse_file.h"
#include "controlplane/service/service.h"
#include "dataplane/abi/dump.h"

namespace fulcrum::cp {
namespace {

const char* mode_name(config::ForwardMode m) { return m == config::ForwardMode::FullNat ? "fullnat" : "nat"; }

// "2024-05-01T12:00:00.000Z", or null for 0.
Json iso_time(uint64_t unix_ms) {
  if (unix_ms == 0) return nullptr;
  time_t secs = static_cast<time_t>(unix_ms / 1000);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour,
                t.tm_min, t.tm_sec, static_cast<unsigned>(unix_ms % 1000));
  return buf;
}

Json ago(uint64_t then_ms) {
  if (then_ms == 0) return nullptr;
  uint64_t now = monotonic_ms();
  return now > then_ms ? now - then_ms : 0;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

}  // namespace

uint64_t Service::vip_new_connections(const VipRt& v) const {
  uint64_t n = link_.vip_new_connections(v.id);
  auto it = vip_base_.find(v.id);
  return it == vip_base_.end() || n < it->second.new_connections ? n : n - it->second.new_connections;
}

uint64_t Service::vip_drops(const VipRt& v) const {
  uint64_t n = link_.vip_drops(v.id);
  auto it = vip_base_.find(v.id);
  return it == vip_base_.end() || n < it->second.drops ? n : n - it->second.drops;
}

Traffic Service::backend_traffic(const BackendRt& b) const {
  Traffic t = link_.backend_traffic(b.id);
  auto it = backend_base_.find(b.id);
  if (it != backend_base_.end() && t.packets >= it->second.packets && t.bytes >= it->second.bytes) {
    t.packets -= it->second.packets;
    t.bytes -= it->second.bytes;
  }
  return t;
}

Traffic Service::vip_traffic(const VipRt& v) const {
  Traffic sum;
  for (const BackendRt& b : v.backends) {
    Traffic t = backend_traffic(b);
    sum.packets += t.packets;
    sum.bytes += t.bytes;
  }
  return sum;
}

std::map<uint64_t, size_t> Service::check_sharing() const {
  std::map<uint64_t, size_t> n;
  for (const VipRt& v : vips_) {
    for (const BackendRt& b : v.backends) n[b.target] += b.maintenance ? 0 : 1;
  }
  return n;
}

Json Service::backend_json(const VipRt& v, const BackendRt& b, const std::map<uint64_t, size_t>& shares) const {
  // The latest check's result; the reason of the last transition until the first check.
  const TargetStatus* checked = b.maintenance ? nullptr : health_->status(b.target);
  const std::string& last = checked != nullptr && !checked->last_result.empty() ? checked->last_result : b.health_reason;
  auto it = shares.find(b.target);
  size_t sharing = b.maintenance || it == shares.end() ? 0 : it->second;
  Traffic t = backend_traffic(b);
  bool down = b.effective_health() == Health::Down;
  Json out{{"vip", v.cfg.name},
              {"vip_address", v.cfg.endpoint()},
              {"backend", b.cfg.endpoint()},
              {"name", b.cfg.name},
              {"id", b.id},
              {"state", b.state_name()},
              {"health", down ? "down" : "up"},
              {"health_checked", b.health == Health::Up ? "up" : "down"},
              {"health_forced", b.forced_health ? Json(*b.forced_health == Health::Up ? "up" : "down") : Json(nullptr)},
              {"health_reason", b.maintenance ? std::string("in maintenance: not checked") : last},
              {"drained", b.draining()},
              {"configured_state", b.configured_draining() ? "draining" : "active"},
              {"maintenance", b.maintenance},
              {"weight", b.weight()},
              {"configured_weight", b.cfg.weight},
              {"active_connections", link_.active_connections(b.id)},
              {"new_connections_per_s", b.new_per_s},
              {"packets", t.packets},
              {"bytes", t.bytes},
              {"health_check", b.cfg.health.type == config::CheckType::Http ? "http" : "tcp"},
              {"detection_ms", b.cfg.health.detection_ms()},
              {"shared_check", sharing},
              {"health_transitions", b.transitions},
              {"consecutive_failures", checked != nullptr ? checked->failures_in_a_row : 0},
              {"consecutive_successes", checked != nullptr ? checked->successes_in_a_row : 0},
              {"last_error", checked != nullptr && !checked->last_error.empty() ? Json(checked->last_error) : Json(nullptr)},
              {"last_error_ago_ms", checked != nullptr ? ago(checked->last_error_ms) : Json(nullptr)},
              {"last_check_ago_ms", checked != nullptr ? ago(checked->last_check_ms) : Json(nullptr)},
              {"last_change_ago_ms", ago(b.health_changed_ms)},
              {"down_since", down ? iso_time(b.health_changed_unix_ms) : Json(nullptr)}};
  add_scheduling_json(v, b, out);
  return out;
}

Json Service::config_file_json() {
  // Drift: is the file on disk still what was loaded? Cheap when it was not touched (a
  // stat); a touched file is read and hashed.
  Json out{{"path", config_.path}};
  struct stat st {};
  if (stat(config_.path.c_str(), &st) != 0) {
    out["state"] = "missing";
    return out;
  }
  uint64_t mtime = uint64_t(st.st_mtim.tv_sec) * 1'000'000'000ull + uint64_t(st.st_mtim.tv_nsec);
  if (loaded_file_.read && loaded_file_.size == uint64_t(st.st_size) && loaded_file_.mtime_ns == mtime) {
    out["state"] = "in sync";
    return out;
  }
  if (loaded_file_.read && loaded_file_.seen_size == uint64_t(st.st_size) && loaded_file_.seen_mtime_ns == mtime) {
    out["state"] = loaded_file_.seen_state;
    return out;
  }
  std::string text;
  if (std::string why = config::read_config_file(config_.path, &text); !why.empty()) {
    out["state"] = "unreadable: " + why;
    return out;
  }
  uint64_t h = fnv1a(text);
  if (!loaded_file_.read) loaded_file_ = {uint64_t(st.st_size), mtime, h, true, 0, 0, ""};
  if (h == loaded_file_.hash) {
    loaded_file_.size = uint64_t(st.st_size);
    loaded_file_.mtime_ns = mtime;
    out["state"] = "in sync";
  } else {
    out["state"] = "changed on disk since it was loaded (see: lbctl config diff " + config_.path + ")";
  }
  loaded_file_.seen_size = uint64_t(st.st_size);
  loaded_file_.seen_mtime_ns = mtime;
  loaded_file_.seen_state = out["state"];
  return out;
}

Json Service::status() {
  std::lock_guard lock(mu_);
  const abi::StatusRegion* s = link_.status();
  std::optional<uint64_t> beat = link_.heartbeat_age_ms();
  Json dp{{"alive", link_.dataplane_alive()},
          {"heartbeat_age_ms", beat ? Json(*beat) : Json(nullptr)},
          {"generation_in_use", link_.generation_in_use()}};
  if (s != nullptr) {
    dp["pid"] = s->header.pid.load();
    dp["start_count"] = s->header.start_count.load();
    dp["lcores"] = s->header.worker_count.load();
    dp["conntrack_capacity"] = s->header.conntrack_capacity.load();
    Json lcores = Json::array();
    for (const LcoreInfo& l : link_.lcores()) {
      lcores.push_back({{"index", l.index}, {"lcore", l.lcore}, {"role", l.main ? "main" : "worker"}, {"online", l.online},
                        {"generation", l.generation}, {"loop_age_ms", l.loop_age_ms}});
    }
    dp["lcore_generations"] = lcores;
  }
  Json vips = Json::array();
  for (const VipRt& v : vips_) {
    uint64_t up = 0, taking = 0, active = 0;
    for (const BackendRt& b : v.backends) {
      up += b.effective_health() == Health::Up && !b.maintenance;
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
  Json publishing{{"publishes", publishes_},
                  {"failures", publish_failures_},
                  {"changes_waiting", change_seq_ != submitted_seq_ || in_flight_ != InFlight::None},
                  {"last", {{"generation", last_publish_.generation},
                            {"at", iso_time(last_publish_.at_unix_ms)},
                            {"took_ms", last_publish_.total_ms},
                            {"maglev_build_ms", last_publish_.build_ms},
                            {"tables_rebuilt", last_publish_.rebuilt},
                            {"tables_reused", last_publish_.reused},
                            {"why", last_publish_.why},
                            {"error", last_publish_.error.empty() ? Json(nullptr) : Json(last_publish_.error)},
                            {"warning", last_publish_.warning.empty() ? Json(nullptr) : Json(last_publish_.warning)}}}};
  Json reload{{"at", iso_time(last_reload_.at_unix_ms)},
              {"ok", last_reload_.at_unix_ms == 0 ? Json(nullptr) : Json(last_reload_.ok)},
              {"result", last_reload_.at_unix_ms == 0 ? Json(nullptr) : Json(last_reload_.result)}};
  return Json{{"dataplane", dp},
              {"tables", {{"generation", link_.generation()}, {"age_ms", link_.table_age_ms()}}},
              {"publishing", publishing},
              {"last_reload", reload},
              {"config_file", config_file_json()},
              {"controlplane",
               {{"pid", getpid()}, {"uptime_s", (monotonic_ms() - started_ms_) / 1000}, {"config", config_.path},
                {"version", FULCRUM_VERSION}, {"publish_timeout_ms", config_.controlplane.publish_timeout_ms}}},
              {"node", node_json()},  // issue 12: drained, BGP
              {"vips", vips}};
}

Json Service::vip_list() {
  std::lock_guard lock(mu_);
  Json out = Json::array();
  std::vector<Json> node = vip_node_json();  // issue 12: announced, why not, fingerprint
  for (const VipRt& v : vips_) {
    Json snat = Json::array();
    for (const config::IpAddr& a : v.cfg.snat) snat.push_back(a.str());
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
                   {"new_connections", vip_new_connections(v)}});
    out.back().update(node[out.size() - 1]);
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
  std::map<uint64_t, size_t> sharing = check_sharing();
  for (const VipRt& v : vips_) {
    if (only != nullptr && &v != only) continue;
    for (const BackendRt& b : v.backends) out.push_back(backend_json(v, b, sharing));
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
  for (const VipRt& v : vips_) {
    uint64_t active = 0;
    for (const BackendRt& b : v.backends) active += link_.active_connections(b.id);
    Traffic t = vip_traffic(v);
    vips.push_back({{"name", v.cfg.name},
                    {"vip", v.cfg.endpoint()},
                    {"packets", t.packets},
                    {"bytes", t.bytes},
                    {"drops", vip_drops(v)},
                    {"active_connections", active},
                    {"new_connections", vip_new_connections(v)}});
  }
  const abi::StatusRegion* s = link_.status();
  return Json{{"dataplane_alive", link_.dataplane_alive()},
              {"counters", counters},
              {"drops", drops},
              {"conntrack_entries", c.conntrack_entries},
              {"conntrack_capacity", s != nullptr ? s->header.conntrack_capacity.load() : 0},
              {"vips", vips}};
}

Reply Service::conn_list(const ConnQuery& q) {
  std::lock_guard lock(mu_);
  if (q.limit == 0 || q.limit > abi::kConnSampleMax) {
    return invalid("limit must be 1 .. " + std::to_string(abi::kConnSampleMax));
  }
  ConnFilter f;
  f.limit = q.limit;
  if (q.vip) {
    const VipRt* v = find_vip(*q.vip);
    if (v == nullptr) return not_found("no VIP named or at \"" + *q.vip + "\" (see: lbctl vip list)");
    f.vip_ipv6 = v->cfg.addr.is_v6();
    f.vip_addr6 = v->cfg.addr.v6;
    f.vip_addr_be = v->cfg.addr.v4_be;
    f.vip_port_be = htons(v->cfg.port);
  }
  if (q.backend) {
    Expected<std::vector<Match>> m = resolve(*q.backend, q.vip);
    if (!m) return m.error();
    if (m.value().size() > 1) {
      return invalid("backend \"" + *q.backend + "\" matches " + std::to_string(m.value().size()) +
                     " backends; name one (address:port, and --vip)");
    }
    f.backend_id = m.value()[0].backend->id;
  }
  uint64_t seq = 0;
  if (std::string err = link_.ask_connections(f, &seq); !err.empty()) return unavailable(err);
  PendingAnswer p;
  p.kind = PendingAnswer::Kind::Conns;
  p.seq = seq;
  p.deadline_ms = monotonic_ms() + 5000;
  p.result = Json{{"limit", q.limit}};
  return Deferred{defer(std::move(p))};
}

Service::MetricsSnapshot Service::metrics() {
  std::lock_guard lock(mu_);
  MetricsSnapshot m;
  m.dp = link_.counters();
  m.generation = link_.generation();
  m.table_age_s = double(link_.table_age_ms()) / 1000.0;
  std::optional<uint64_t> beat = link_.heartbeat_age_ms();
  m.heartbeat_age_s = beat ? double(*beat) / 1000.0 : -1;
  m.dataplane_alive = link_.dataplane_alive();
  m.conntrack_capacity = link_.status() != nullptr ? link_.status()->header.conntrack_capacity.load() : 0;
  m.publishes = publishes_;
  m.publish_failures = publish_failures_;
  m.last_publish_ms = last_publish_.total_ms;
  m.last_reload_ok = last_reload_.ok;
  m.last_reload_unix_s = double(last_reload_.at_unix_ms) / 1000.0;
  m.config_in_sync = config_file_json()["state"] == "in sync";
  m.xdp_steering = steering_.enabled();  // issue 11
  m.xdp = steering_.stats();
  for (const VipRt& v : vips_) {
    VipMetrics vm;
    vm.name = v.cfg.name;
    vm.new_connections = vip_new_connections(v);
    vm.drops = vip_drops(v);
    vm.traffic = vip_traffic(v);
    for (const BackendRt& b : v.backends) {
      uint64_t active = link_.active_connections(b.id);
      vm.active += active;
      m.backends.push_back({v.cfg.name, b.cfg.endpoint(), b.cfg.name, b.effective_health() == Health::Up && !b.maintenance,
                            b.draining(), b.maintenance, b.weight(), active, link_.opened_connections(b.id), b.transitions,
                            backend_traffic(b)});
    }
    m.vips.push_back(vm);
  }
  add_scheduling_metrics(m);
  node_metrics(m);  // issue 12
  return m;
}

}  // namespace fulcrum::cp
