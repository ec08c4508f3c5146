// Reload: parse -> validate -> diff -> publish -> commit, or change nothing. A dry run
// (`lbctl reload --dry-run`, `lbctl config diff FILE`) stops before publishing and reports
// what would change, with the share of each VIP's Maglev slots that would move.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "config/loader/parse_file.h"
#include "controlplane/service/log.h"
#include "controlplane/service/service.h"
#include "controlplane/service/state_migration.h"
#include "dataplane/abi/dump.h"

namespace fulcrum::cp {
namespace {

// What a reload would change that only a restart of the control plane applies.
std::vector<std::string> controlplane_restart_keys(const config::ControlplaneConfig& a, const config::ControlplaneConfig& b) {
  std::vector<std::string> keys;
  if (a.socket != b.socket) keys.push_back("controlplane.socket");
  if (a.socket_mode != b.socket_mode) keys.push_back("controlplane.socket_mode");
  if (a.socket_owner != b.socket_owner) keys.push_back("controlplane.socket_owner");
  if (a.socket_group != b.socket_group) keys.push_back("controlplane.socket_group");
  if (a.metrics != b.metrics) keys.push_back("controlplane.metrics");
  if (a.state_dir != b.state_dir) keys.push_back("controlplane.state_dir");
  config::bgp_restart_keys(a.bgp, b.bgp, &keys);  // issue 12
  return keys;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string check_words(const config::HealthCheck& a, const config::HealthCheck& b) {
  std::vector<std::string> keys;
  if (a.type != b.type) keys.push_back("type");
  if (a.http_method != b.http_method) keys.push_back("method");
  if (a.http_path != b.http_path) keys.push_back("path");
  if (a.http_host != b.http_host) keys.push_back("host");
  if (a.expect_status != b.expect_status) keys.push_back("expect_status");
  if (a.interval_ms != b.interval_ms) keys.push_back("interval_ms");
  if (a.timeout_ms != b.timeout_ms) keys.push_back("timeout_ms");
  if (a.rise != b.rise) keys.push_back("rise");
  if (a.fall != b.fall) keys.push_back("fall");
  if (a.port != b.port) keys.push_back("port");
  if (a.source != b.source) keys.push_back("source");
  if (a.expect_body != b.expect_body) keys.push_back("expect_body");
  if (a.start_down != b.start_down) keys.push_back("start_down");
  return join(keys, ", ");
}

// Equal once both backend lists are sorted by address and port.
bool same_but_for_order(config::VipConfig a, config::VipConfig b) {
  auto by_endpoint = [](const config::BackendConfig& x, const config::BackendConfig& y) {
    return std::pair(x.addr, x.port) < std::pair(y.addr, y.port);
  };
  std::sort(a.backends.begin(), a.backends.end(), by_endpoint);
  std::sort(b.backends.begin(), b.backends.end(), by_endpoint);
  return a == b;
}

// Human-readable differences between two VIP lists, for the reload's answer and the log.
std::vector<std::string> describe_changes(const std::vector<config::VipConfig>& before, const std::vector<config::VipConfig>& after) {
  std::vector<std::string> out;
  auto find = [](const std::vector<config::VipConfig>& list, const config::VipConfig& v) -> const config::VipConfig* {
    for (const auto& x : list) {
      if (x.addr == v.addr && x.port == v.port) return &x;
    }
    return nullptr;
  };
  for (const auto& v : before) {
    if (find(after, v) == nullptr) out.push_back("vip " + v.name + " (" + v.endpoint() + ") removed");
  }
  for (const auto& v : after) {
    const config::VipConfig* old = find(before, v);
    if (old == nullptr) {
      out.push_back("vip " + v.name + " (" + v.endpoint() + ") added with " + std::to_string(v.backends.size()) + " backends");
      continue;
    }
    if (*old == v) continue;
    std::string p = "vip " + v.name + ": ";
    if (old->name != v.name) out.push_back(p + "renamed from " + old->name);
    if (old->mode != v.mode || old->snat != v.snat) out.push_back(p + "forwarding mode or SNAT pool changed");
    if (old->maglev_size != v.maglev_size || old->hash_seed != v.hash_seed) out.push_back(p + "Maglev table size or seed changed");
    const size_t vip_changes_from = out.size();
    if (old->on_backend_down != v.on_backend_down) out.push_back(p + "on_backend_down changed");
    if (old->max_new_conn_rate != v.max_new_conn_rate || old->new_conn_burst != v.new_conn_burst) {
      out.push_back(p + "max_new_conn_rate " + std::to_string(old->max_new_conn_rate) + " -> " +
                    std::to_string(v.max_new_conn_rate) + ", new_conn_burst " + std::to_string(old->new_conn_burst) +
                    " -> " + std::to_string(v.new_conn_burst));
    }
    if (old->synproxy != v.synproxy) out.push_back(p + "synproxy changed");
    if (!(old->scheduling == v.scheduling)) {
      out.push_back(p + "scheduling changed (scheduler " + config::scheduler_name(v.scheduling.scheduler) +
                    ", connect_retries " + std::to_string(v.scheduling.connect_retries) + ", slow_start_s " +
                    std::to_string(v.scheduling.slow_start_s) + ")");
    }
    if (old->min_healthy_backends != v.min_healthy_backends) out.push_back(p + "min_healthy_backends changed");
    if (!(old->health == v.health)) out.push_back(p + "health check changed (" + check_words(old->health, v.health) + ")");
    for (const auto& b : old->backends) {
      bool kept = false;
      for (const auto& nb : v.backends) kept |= nb.addr == b.addr && nb.port == b.port;
      if (!kept) out.push_back(p + "backend " + b.endpoint() + " removed");
    }
    for (const auto& b : v.backends) {
      const config::BackendConfig* ob = nullptr;
      for (const auto& x : old->backends) {
        if (x.addr == b.addr && x.port == b.port) ob = &x;
      }
      if (ob == nullptr) {
        out.push_back(p + "backend " + b.endpoint() + " added");
        continue;
      }
      std::string e = p + "backend " + b.endpoint() + " ";
      if (ob->weight != b.weight) out.push_back(e + "weight " + std::to_string(ob->weight) + " -> " + std::to_string(b.weight));
      if (ob->state != b.state) {
        out.push_back(e + "state " + (ob->state == config::InitialState::Draining ? "draining" : "active") + " -> " +
                      (b.state == config::InitialState::Draining ? "draining" : "active"));
      }
      if (ob->name != b.name) out.push_back(e + "name \"" + ob->name + "\" -> \"" + b.name + "\"");
      if (!(ob->limits == b.limits)) {
        out.push_back(e + "limits: max_connections " + std::to_string(b.limits.max_connections) + ", max_new_conn_rate " +
                      std::to_string(b.limits.max_new_conn_rate) + ", new_conn_burst " +
                      std::to_string(b.limits.new_conn_burst));
      }
      if (!(ob->health == b.health) && old->health == v.health) {
        out.push_back(e + "health check changed (" + check_words(ob->health, b.health) + ")");
      }
    }
    // A key without a sentence of its own above still changes the VIP: never let a real
    // difference pass as "no changes" (that skips the publish). Backends listed in another
    // order are no difference (the tables order them by identity).
    if (out.size() == vip_changes_from && !same_but_for_order(*old, v)) out.push_back(p + "changed");
  }
  return out;
}

}  // namespace

Reply Service::reload(bool dry_run) { return prepare_reload(config_.path, dry_run, true); }

Reply Service::config_diff(const std::string& path) { return prepare_reload(path, true, false); }

Reply Service::prepare_reload(const std::string& path, bool dry_run, bool is_reload) {
  config::Errors errors(path);
  std::optional<toml::table> raw = config::parse_file(path, errors);
  std::optional<config::LbConfig> next = raw ? config::parse_config(*raw, path, errors) : std::nullopt;
  std::lock_guard lock(mu_);
  auto refuse = [&](std::string why) -> Reply {
    if (is_reload && !dry_run) {
      last_reload_ = {unix_ms(), false, why};
      log("error", "reload refused: %s", why.c_str());
    }
    return refused(std::move(why));
  };
  if (!next) return refuse("the configuration does not validate; nothing changed:\n" + errors.str());
  if (reload_) return unavailable("another reload or dry run is in progress; try again in a moment");
  std::vector<std::string> restart = config::dataplane_changes(raw_, *raw);
  if (!restart.empty()) {
    return refuse(join(restart, ", ") + " changed: [dataplane] keys take effect only when lb-dataplane restarts; "
                  "restart it with the new file, or revert them. Nothing changed.");
  }
  restart = controlplane_restart_keys(config_.controlplane, next->controlplane);
  if (!restart.empty()) {
    return refuse(join(restart, ", ") + " changed: these take effect only when lb-controlplane restarts; "
                  "restart it, or revert them. Nothing changed.");
  }
  auto job = std::make_unique<ReloadJob>();
  job->dry_run = dry_run;
  job->is_reload = is_reload;
  job->path = path;
  job->changes = describe_changes(config_.vips, next->vips);
  if (next->controlplane.hash_seed != config_.controlplane.hash_seed) {
    job->changes.push_back("cluster hash seed changed: every VIP's Maglev table changes");
  }
  if (next->controlplane.publish_timeout_ms != config_.controlplane.publish_timeout_ms) {
    job->changes.push_back("publish_timeout_ms " + std::to_string(config_.controlplane.publish_timeout_ms) + " -> " +
                           std::to_string(next->controlplane.publish_timeout_ms));
  }
  if (config_.controlplane.bgp && next->controlplane.bgp) {  // issue 12: the rest of [controlplane.bgp] needs a restart
    const config::BgpConfig &was = *config_.controlplane.bgp, &now = *next->controlplane.bgp;
    if (was.min_healthy_backends != now.min_healthy_backends) {
      job->changes.push_back("bgp.min_healthy_backends " + std::to_string(was.min_healthy_backends) + " -> " +
                             std::to_string(now.min_healthy_backends));
    }
    if (was.withdraw_on_exit != now.withdraw_on_exit) {
      job->changes.push_back(std::string("bgp.withdraw_on_exit ") + (now.withdraw_on_exit ? "on" : "off"));
    }
  }
  OperatorState state = migrate_state(operator_state_, config_, *next, &job->state_notes);
  bool order_only = job->changes.empty() && job->state_notes.empty();
  if (order_only && !dry_run) {
    // Nothing to publish: the same values (comments and formatting aside).
    raw_ = std::move(*raw);
    loaded_file_ = {};
    config_file_json();
    last_reload_ = {unix_ms(), true, "no changes"};
    log("info", "reload: no changes");
    return Json{{"generation", link_.generation()}, {"changes", Json::array()}, {"operator_state", Json::array()}};
  }
  job->vips = build_model(*next, vips_, state);
  job->spec = spec_to_publish(job->vips);
  job->next = std::move(*next);
  job->raw = std::move(*raw);
  PendingAnswer p;
  p.kind = PendingAnswer::Kind::Job;
  job->answer = defer(std::move(p));
  Deferred d{job->answer};
  reload_ = std::move(job);
  return d;
}

namespace {

// issue 15: a VipSpec's address of either family, and its "address:port" text.
config::IpAddr spec_addr(const VipSpec& v) {
  return v.family == abi::Family::Ipv6 ? config::IpAddr::from_v6(v.addr6) : config::IpAddr::from_v4(v.addr_be);
}
std::string spec_endpoint(const VipSpec& v) { return config::endpoint_str(spec_addr(v), ntohs(v.port_be)); }
bool same_place(const VipSpec& a, const VipSpec& b) { return spec_addr(a) == spec_addr(b) && a.port_be == b.port_be; }

// A backend's address and port as 18 bytes (IPv4 in the first 4), all ones for none.
using EndpointKey = std::array<uint8_t, 18>;
EndpointKey endpoint_key(bool v6, uint32_t addr_be, const abi::Ip6& addr6, uint16_t port_be) {
  EndpointKey k{};
  if (v6) std::memcpy(k.data(), addr6.b, 16);
  else std::memcpy(k.data(), &addr_be, 4);
  std::memcpy(k.data() + 16, &port_be, 2);
  return k;
}

}  // namespace

Json Service::plan_json(const ReloadJob& job, const TableSpec& planned) const {
  // The tables the data plane uses now, VIP by endpoint, against the planned ones.
  const abi::TableSlot* slot = link_.active_slot();
  TableSpec current = table_spec(vips_);
  Json vips = Json::array();
  for (const VipSpec& v : planned.vips) {
    std::string name, endpoint = spec_endpoint(v);
    for (const VipRt& r : job.vips) {
      if (r.id == v.vip_id) name = r.cfg.name;
    }
    const VipSpec* now = nullptr;
    for (const VipSpec& c : current.vips) {
      if (same_place(c, v)) now = &c;
    }
    if (now == nullptr) {
      vips.push_back({{"name", name}, {"vip", endpoint}, {"status", "added"}, {"slots", v.maglev_size}, {"slots_moved", nullptr}});
      continue;
    }
    TableSpec a, b;
    a.vips = {*now};
    b.vips = {v};
    if (same_tables(a, b)) continue;
    Json row{{"name", name}, {"vip", endpoint}, {"status", "changed"}, {"slots", v.maglev_size}};
    int vi = slot == nullptr                    ? -1
             : v.family == abi::Family::Ipv6 ? abi::find_vip6(*slot, v.addr6, v.port_be, abi::kProtoTcp)
                                             : abi::find_vip(*slot, v.addr_be, v.port_be, abi::kProtoTcp);
    if (vi < 0 || !v.prebuilt_maglev || slot->vips[vi].maglev_size != v.maglev_size) {
      row["slots_moved"] = 1.0;   // a new table size, or nothing published: every slot is new
    } else {
      const abi::Vip& pv = slot->vips[vi];
      const std::vector<uint16_t>& table = *v.prebuilt_maglev;
      uint64_t moved = 0;
      EndpointKey none;
      none.fill(0xFF);
      const bool old_v6 = pv.backend_family == static_cast<uint8_t>(abi::Family::Ipv6);
      auto old_endpoint = [&](uint16_t idx) -> EndpointKey {
        if (idx >= pv.backend_count) return none;
        const abi::Backend& be = slot->backends[pv.backend_first + idx];
        return endpoint_key(old_v6, be.addr_be, slot->backend_addr6[pv.backend_first + idx], be.port_be);
      };
      auto new_endpoint = [&](uint16_t idx) -> EndpointKey {
        if (idx >= v.backends.size()) return none;
        const BackendSpec& b = v.backends[idx];
        return endpoint_key(b.family == abi::Family::Ipv6, b.addr_be, b.addr6, b.port_be);
      };
      for (uint32_t s = 0; s < v.maglev_size; ++s) {
        moved += old_endpoint(slot->maglev[pv.maglev_offset + s]) != new_endpoint(table[s]);
      }
      row["slots_moved"] = double(moved) / double(v.maglev_size);
    }
    vips.push_back(row);
  }
  for (const VipSpec& c : current.vips) {
    bool kept = false;
    for (const VipSpec& v : planned.vips) kept |= same_place(c, v);
    if (kept) continue;
    std::string name;
    for (const VipRt& r : vips_) {
      if (r.id == c.vip_id) name = r.cfg.name;
    }
    vips.push_back({{"name", name}, {"vip", spec_endpoint(c)}, {"status", "removed"},
                    {"slots", c.maglev_size}, {"slots_moved", nullptr}});
  }
  Json changes = job.changes, notes = job.state_notes;
  return Json{{"dry_run", true},
              {"file", job.path},
              {"changes", changes},
              {"operator_state", notes},
              {"vips", vips},
              {"would_publish", !job.changes.empty() || !job.state_notes.empty() || !vips.empty()}};
}

}  // namespace fulcrum::cp
