// Reload: parse -> validate -> diff -> apply as one generation, or change nothing.
#include "config/loader/parse_file.h"
#include "controlplane/service/log.h"
#include "controlplane/service/service.h"

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
  return keys;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// Human-readable differences between two VIP lists, for the reload's answer and the log.
std::vector<std::string> describe_changes(const std::vector<config::VipConfig>& before, const std::vector<config::VipConfig>& after) {
  std::vector<std::string> out;
  auto find = [](const std::vector<config::VipConfig>& list, const config::VipConfig& v) -> const config::VipConfig* {
    for (const auto& x : list) {
      if (x.addr_be == v.addr_be && x.port == v.port) return &x;
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
    if (old->mode != v.mode || old->snat_be != v.snat_be) out.push_back(p + "forwarding mode or SNAT pool changed");
    if (old->maglev_size != v.maglev_size || old->hash_seed != v.hash_seed) out.push_back(p + "Maglev table size or seed changed");
    if (old->on_backend_down != v.on_backend_down) out.push_back(p + "on_backend_down changed");
    for (const auto& b : old->backends) {
      bool kept = false;
      for (const auto& nb : v.backends) kept |= nb.addr_be == b.addr_be && nb.port == b.port;
      if (!kept) out.push_back(p + "backend " + b.endpoint() + " removed");
    }
    for (const auto& b : v.backends) {
      const config::BackendConfig* ob = nullptr;
      for (const auto& x : old->backends) {
        if (x.addr_be == b.addr_be && x.port == b.port) ob = &x;
      }
      if (ob == nullptr) out.push_back(p + "backend " + b.endpoint() + " added");
      else if (ob->weight != b.weight) out.push_back(p + "backend " + b.endpoint() + " weight " + std::to_string(ob->weight) + " -> " + std::to_string(b.weight));
      else if (!(*ob == b)) out.push_back(p + "backend " + b.endpoint() + " settings changed");
    }
  }
  return out;
}

}  // namespace

Expected<Json> Service::reload() {
  config::Errors errors(config_.path);
  std::optional<toml::table> raw = config::parse_file(config_.path, errors);
  std::optional<config::LbConfig> next = raw ? config::parse_config(*raw, config_.path, errors) : std::nullopt;
  if (!next) {
    log("error", "reload refused, %s does not validate; nothing changed:\n%s", config_.path.c_str(), errors.str().c_str());
    return refused("the configuration does not validate; nothing changed:\n" + errors.str());
  }
  std::lock_guard lock(mu_);
  std::vector<std::string> restart = config::dataplane_changes(raw_, *raw);
  if (!restart.empty()) {
    return refused(join(restart, ", ") + " changed: [dataplane] keys take effect only when lb-dataplane restarts; "
                   "restart it with the new file, or revert them. Nothing changed.");
  }
  restart = controlplane_restart_keys(config_.controlplane, next->controlplane);
  if (!restart.empty()) {
    return refused(join(restart, ", ") + " changed: these take effect only when lb-controlplane restarts; "
                   "restart it, or revert them. Nothing changed.");
  }
  std::vector<std::string> changes = describe_changes(config_.vips, next->vips);
  if (next->controlplane.hash_seed != config_.controlplane.hash_seed) changes.push_back("cluster hash seed changed: every VIP's Maglev table changes");
  std::vector<VipRt> previous = std::move(vips_);
  vips_ = build_model(*next, previous);
  sync_health_targets(previous);
  config_ = std::move(*next);
  raw_ = std::move(*raw);
  for (const std::string& c : changes) log("info", "reload: %s", c.c_str());
  Expected<uint64_t> g = publish_locked(changes.empty() ? "reload, no change" : "reload");
  if (!g) return g.error();
  Json list = Json::array();
  for (const std::string& c : changes) list.push_back(c);
  return Json{{"generation", g.value()}, {"changes", list}};
}

}  // namespace fulcrum::cp
