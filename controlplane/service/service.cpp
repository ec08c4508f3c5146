#include "controlplane/service/service.h"

#include <arpa/inet.h>

#include <map>
#include <set>
#include <tuple>

#include "controlplane/service/log.h"
#include "controlplane/service/retired_backends.h"
#include "dataplane/abi/dump.h"

namespace fulcrum::cp {

const char* code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "invalid_argument";
    case ErrorCode::NotFound: return "not_found";
    case ErrorCode::Refused: return "refused";
    case ErrorCode::Unavailable: return "unavailable";
    case ErrorCode::PermissionDenied: return "permission_denied";
    case ErrorCode::Internal: return "internal";
  }
  return "internal";
}

uint64_t monotonic_ms() { return abi::monotonic_ns() / 1'000'000; }

Service::Service(config::LbConfig config, toml::table raw)
    : config_(std::move(config)), raw_(std::move(raw)), operator_state_(config_.controlplane.state_dir),
      link_(config_.dataplane.shm_tables, config_.dataplane.shm_status,
            std::chrono::milliseconds(config_.controlplane.publish_timeout_ms)) {
  health_ = std::make_unique<HealthChecker>([this](const HealthEvent& e) { on_health(e); }, monotonic_ms);
  started_ms_ = monotonic_ms();
}

Service::~Service() = default;

Expected<std::unique_ptr<Service>> Service::create(config::LbConfig config, toml::table raw) {
  std::unique_ptr<Service> s(new Service(std::move(config), std::move(raw)));
  if (std::string err = s->operator_state_.load(); !err.empty()) return unavailable(err);
  if (std::string err = s->link_.open_tables(); !err.empty()) return unavailable("tables region: " + err);
  std::lock_guard lock(s->mu_);
  s->vips_ = s->build_model(s->config_, {});
  s->sync_health_targets({});
  Expected<uint64_t> g = s->publish_locked("start");
  if (!g) return g.error();
  return s;
}

namespace {

using VipEndpoint = std::pair<uint32_t, uint16_t>;                           // addr_be, port (host)
using BackendEndpoint = std::tuple<uint32_t, uint16_t, uint32_t, uint16_t>;  // VIP's, backend's

// Ids in the generation a data plane may be using now: a restarted control plane must
// hand them to the same VIPs and backends.
void published_ids(const abi::TableSlot* slot, std::map<VipEndpoint, uint16_t>* vips,
                   std::map<BackendEndpoint, uint16_t>* backends) {
  if (slot == nullptr) return;
  uint32_t nv = std::min(slot->hdr.vip_count, abi::kMaxVips);
  for (uint32_t i = 0; i < nv; ++i) {
    const abi::Vip& v = slot->vips[i];
    (*vips)[{v.addr_be, ntohs(v.port_be)}] = v.vip_id;
    if (v.backend_first > abi::kMaxBackends || v.backend_count > abi::kMaxBackends - v.backend_first) continue;
    for (uint32_t b = 0; b < v.backend_count; ++b) {
      const abi::Backend& be = slot->backends[v.backend_first + b];
      (*backends)[{v.addr_be, ntohs(v.port_be), be.addr_be, ntohs(be.port_be)}] = be.id;
    }
  }
}

}  // namespace

std::vector<VipRt> Service::build_model(const config::LbConfig& config, const std::vector<VipRt>& previous) {
  std::map<VipEndpoint, uint16_t> pub_vips;
  std::map<BackendEndpoint, uint16_t> pub_backends;
  published_ids(link_.active_slot(), &pub_vips, &pub_backends);
  std::set<uint16_t> vip_ids, backend_ids;  // claimed by the new model
  std::vector<VipRt> out;

  // Pass 1: everything that keeps an id (from the running model, else from the published
  // generation), and its runtime state.
  for (const config::VipConfig& vc : config.vips) {
    VipRt v;
    v.cfg = vc;
    v.key = key_from_seed(vc.hash_seed.value_or(config.controlplane.hash_seed));
    const VipRt* before = nullptr;
    for (const VipRt& p : previous) {
      if (p.cfg.addr_be == vc.addr_be && p.cfg.port == vc.port) before = &p;
    }
    int vid = before ? before->id : pub_vips.count({vc.addr_be, vc.port}) ? pub_vips[{vc.addr_be, vc.port}] : -1;
    if (vid >= 0 && vip_ids.insert(static_cast<uint16_t>(vid)).second) v.id = static_cast<uint16_t>(vid);
    else v.id = abi::kMaxVips;  // to allocate
    for (const config::BackendConfig& bc : vc.backends) {
      BackendRt b;
      const BackendRt* old = nullptr;
      if (before) {
        for (const BackendRt& ob : before->backends) {
          if (ob.cfg.addr_be == bc.addr_be && ob.cfg.port == bc.port) old = &ob;
        }
      }
      if (old) {
        b = *old;
      } else {
        b.target = next_target_++;
        auto it = pub_backends.find({vc.addr_be, vc.port, bc.addr_be, bc.port});
        b.id = it != pub_backends.end() ? it->second : abi::kMaxBackends;
      }
      b.cfg = bc;
      if (!old && !previous.empty()) start_ramp(vc.scheduling.slow_start_s, b, monotonic_ms());  // joined by a reload
      if (b.id < abi::kMaxBackends && !backend_ids.insert(b.id).second) b.id = abi::kMaxBackends;
      BackendKey key{vc.name, bc.endpoint()};
      b.drained = operator_state_.drained(key);
      b.weight_override = operator_state_.weight(key);
      v.backends.push_back(std::move(b));
    }
    out.push_back(std::move(v));
  }
  // Pass 2: new ids, the lowest free ones. An id whose connections are still open in the
  // data plane (a removed backend's) is not free: its entries still refer to it.
  uint16_t next_vip = 0, next_backend = 0;
  for (VipRt& v : out) {
    if (v.id == abi::kMaxVips) {
      while (vip_ids.count(next_vip) != 0) ++next_vip;
      v.id = next_vip;
      vip_ids.insert(next_vip);
    }
    for (BackendRt& b : v.backends) {
      if (b.id != abi::kMaxBackends) continue;
      while (backend_ids.count(next_backend) != 0 || link_.active_connections(next_backend) != 0) ++next_backend;
      b.id = next_backend;
      backend_ids.insert(next_backend);
    }
  }
  return out;
}

void Service::sync_health_targets(const std::vector<VipRt>& previous) {
  std::set<uint64_t> keep;
  for (const VipRt& v : vips_) {
    for (const BackendRt& b : v.backends) {
      keep.insert(b.target);
      health_->add(b.target, b.cfg.addr_be, b.cfg.port, b.cfg.health, b.health);
    }
  }
  for (const VipRt& v : previous) {
    for (const BackendRt& b : v.backends) {
      if (keep.count(b.target) == 0) health_->remove(b.target);
    }
  }
}

Expected<uint64_t> Service::publish_locked(const char* why) {
  TableSpec spec = table_spec(vips_);
  spec.retired = retired_backends(link_.active_slot(), spec, [this](uint16_t id) { return link_.active_connections(id); });
  PublishOutcome r = link_.publish(spec);
  if (!r.error.empty()) {
    log("error", "cannot publish (%s): %s; the data plane keeps the previous generation", why, r.error.c_str());
    return unavailable("publishing the tables failed: " + r.error);
  }
  if (!r.warning.empty()) log("warning", "publish: %s", r.warning.c_str());
  log("info", "published generation %llu (%s)", static_cast<unsigned long long>(r.generation), why);
  return r.generation;
}

void Service::on_health(const HealthEvent& e) {
  std::lock_guard lock(mu_);
  for (VipRt& v : vips_) {
    for (BackendRt& b : v.backends) {
      if (b.target != e.target) continue;
      b.health = e.health;
      b.health_reason = e.reason;
      b.health_changed_ms = monotonic_ms();
      if (e.health == Health::Up) came_up(v, b, b.health_changed_ms);
      ++b.transitions;
      log(e.health == Health::Down ? "warning" : "info", "vip %s backend %s is %s: %s", v.cfg.name.c_str(),
          b.cfg.endpoint().c_str(), e.health == Health::Down ? "DOWN" : "UP", e.reason.c_str());
      std::string why = "health: " + v.cfg.name + " " + b.cfg.endpoint() + (e.health == Health::Down ? " down" : " up");
      publish_locked(why.c_str());
      return;
    }
  }
}

VipRt* Service::find_vip(const std::string& ref) {
  for (VipRt& v : vips_) {
    if (v.cfg.name == ref || v.cfg.endpoint() == ref) return &v;
  }
  return nullptr;
}

Expected<std::vector<Service::Match>> Service::resolve(const std::string& backend, const std::optional<std::string>& vip) {
  if (backend.empty()) return invalid("no backend given (a name, address:port or address)");
  VipRt* only = nullptr;
  if (vip) {
    only = find_vip(*vip);
    if (only == nullptr) return not_found("no VIP named or at \"" + *vip + "\" (see: lbctl vip list)");
  }
  std::vector<Match> out;
  for (VipRt& v : vips_) {
    if (only != nullptr && &v != only) continue;
    for (BackendRt& b : v.backends) {
      std::string endpoint = b.cfg.endpoint();
      bool by_addr = backend.find(':') == std::string::npos && endpoint.substr(0, endpoint.find(':')) == backend;
      if (b.cfg.name == backend || endpoint == backend || by_addr) out.push_back({&v, &b});
    }
  }
  if (out.empty()) {
    return not_found("no backend \"" + backend + "\"" + (vip ? " in VIP " + *vip : std::string(" in any VIP")) +
                     " (see: lbctl backend list)");
  }
  return out;
}

Expected<Json> Service::change_backends(const std::string& backend, const std::optional<std::string>& vip, const char* what,
                                        const std::function<void(const BackendKey&)>& record,
                                        const std::function<void(BackendRt&)>& apply) {
  std::lock_guard lock(mu_);
  Expected<std::vector<Match>> matches = resolve(backend, vip);
  if (!matches) return matches.error();
  // Persisted before it is applied: an action the state directory cannot record is not
  // taken, so a restart never silently undoes one.
  OperatorState before = operator_state_;
  for (const Match& m : matches.value()) record({m.vip->cfg.name, m.backend->cfg.endpoint()});
  if (std::string err = operator_state_.save(); !err.empty()) {
    operator_state_ = std::move(before);
    return unavailable(std::string(what) + " not done: the operator state cannot be saved: " + err);
  }
  Json changed = Json::array();
  for (const Match& m : matches.value()) {
    apply(*m.backend);
    changed.push_back(backend_json(*m.vip, *m.backend));
    log("info", "%s: vip %s backend %s (state %s, weight %u)", what, m.vip->cfg.name.c_str(), m.backend->cfg.endpoint().c_str(),
        m.backend->state_name(), m.backend->weight());
  }
  Expected<uint64_t> g = publish_locked(what);
  if (!g) return g.error();
  return Json{{"generation", g.value()}, {"backends", changed}};
}

Expected<Json> Service::set_drain(const std::string& backend, const std::optional<std::string>& vip, bool drain) {
  return change_backends(
      backend, vip, drain ? "drain" : "undrain", [&](const BackendKey& k) { operator_state_.set_drained(k, drain); },
      [&](BackendRt& b) { b.drained = drain; });
}

Expected<Json> Service::set_weight(const std::string& backend, const std::optional<std::string>& vip,
                                   std::optional<uint16_t> weight) {
  if (weight && *weight > 1000) return invalid("weight " + std::to_string(*weight) + " out of range (0 .. 1000)");
  return change_backends(
      backend, vip, "weight", [&](const BackendKey& k) { operator_state_.set_weight(k, weight); },
      [&](BackendRt& b) { b.weight_override = weight; });
}

void Service::tick() {
  std::lock_guard lock(mu_);
  if (link_.refresh_status()) {
    const abi::StatusRegion* s = link_.status();
    log("info", "data plane running (pid %u, start #%llu): republishing", s->header.pid.load(),
        static_cast<unsigned long long>(s->header.start_count.load()));
    publish_locked("data plane (re)started");
  }
  uint64_t now = monotonic_ms();
  run_passive_health(now);
  if (finish_ramps(now)) publish_locked("slow start over");
  if (now - last_rate_ms_ < 1000) return;
  last_rate_ms_ = now;
  for (VipRt& v : vips_) {
    for (BackendRt& b : v.backends) {
      uint64_t opened = link_.opened_connections(b.id);
      if (b.sample_ms != 0 && opened >= b.opened_sample) {
        b.new_per_s = double(opened - b.opened_sample) * 1000.0 / double(now - b.sample_ms);
      } else {
        b.new_per_s = 0;  // first sample, or the data plane restarted (counters reset)
      }
      b.opened_sample = opened;
      b.sample_ms = now;
    }
  }
}

}  // namespace fulcrum::cp
