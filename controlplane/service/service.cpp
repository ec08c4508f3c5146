// The service's model: ids, health, operator overrides; start-up and the loop's tick.
#include "controlplane/service/service.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <map>
#include <set>
#include <tuple>

#include "controlplane/service/log.h"
#include "controlplane/service/state_migration.h"
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
uint64_t unix_ms() { return abi::realtime_ns() / 1'000'000; }

Service::Service(config::LbConfig config, toml::table raw)
    : config_(std::move(config)), raw_(std::move(raw)), operator_state_(config_.controlplane.state_dir),
      link_(config_.dataplane.shm_tables, config_.dataplane.shm_status),
      steering_(config_.dataplane) {
  health_ = std::make_unique<HealthChecker>([this](const HealthEvent& e) { on_health(e); }, monotonic_ms);
  started_ms_ = monotonic_ms();
}

Service::~Service() = default;

Expected<std::unique_ptr<Service>> Service::create(config::LbConfig config, toml::table raw) {
  std::unique_ptr<Service> s(new Service(std::move(config), std::move(raw)));
  if (std::string err = s->operator_state_.load(); !err.empty()) return unavailable(err);
  if (std::string err = s->link_.open_tables(); !err.empty()) return unavailable("tables region: " + err);
  Service* svc = s.get();
  s->publisher_ = std::make_unique<Publisher>(s->link_.tables(), s->config_.dataplane.shm_status,
                                              [svc](const TableSpec& spec) { svc->steering_.before_commit(spec); });
  std::lock_guard lock(s->mu_);
  // Overrides of backends the file no longer has would come back to life if one of the
  // same name and address is added months later: drop them now.
  std::vector<std::string> notes;
  OperatorState state = migrate_state(s->operator_state_, s->config_, s->config_, &notes);
  for (const std::string& n : notes) log("warning", "operator state: %s", n.c_str());
  if (!notes.empty()) {
    if (std::string err = state.save(); !err.empty()) log("warning", "operator state: %s", err.c_str());
    s->operator_state_ = std::move(state);
  }
  s->vips_ = s->build_model(s->config_, {}, s->operator_state_);
  s->sync_health_targets({});
  s->base_start_count_ = s->link_.start_count();
  Publisher::Job job;
  job.spec = s->spec_to_publish(s->vips_);
  job.quiesce_timeout = std::chrono::milliseconds(s->config_.controlplane.publish_timeout_ms);
  Publisher::Result r = s->publisher_->run_now(std::move(job));
  if (!r.error.empty()) return unavailable("publishing the first generation failed: " + r.error);
  if (!r.warning.empty()) log("warning", "publish: %s", r.warning.c_str());
  ++s->publishes_;
  s->last_publish_ = {r.generation, unix_ms(), r.total_ms, r.build_ms, r.tables.built, r.tables.reused, "start", "", r.warning};
  log("info", "published generation %llu (start; %zu Maglev tables built in %.0f ms)",
      static_cast<unsigned long long>(r.generation), r.tables.built, r.build_ms);
  s->config_file_json();  // remembers the file's identity for drift reports
  if (std::string err = s->start_node(); !err.empty()) return unavailable(err);  // issue 12
  return s;
}

namespace {

using config::IpAddr;
using VipEndpoint = std::pair<IpAddr, uint16_t>;                           // address, port (host)
using BackendEndpoint = std::tuple<IpAddr, uint16_t, IpAddr, uint16_t>;  // VIP's, backend's
struct Published {
  uint16_t id;
  abi::BackendState state;
};

// Ids in the generation a data plane may be using now: a restarted control plane must
// hand them to the same VIPs and backends (and it starts from the health they had).
void published_ids(const abi::TableSlot* slot, std::map<VipEndpoint, uint16_t>* vips,
                   std::map<BackendEndpoint, Published>* backends) {
  if (slot == nullptr) return;
  uint32_t nv = std::min(slot->hdr.vip_count, abi::kMaxVips);
  for (uint32_t i = 0; i < nv; ++i) {
    const abi::Vip& v = slot->vips[i];
    IpAddr vip = v.family == static_cast<uint8_t>(abi::Family::Ipv6) ? IpAddr::from_v6(slot->vip6[i].addr)
                                                                      : IpAddr::from_v4(v.addr_be);
    (*vips)[{vip, ntohs(v.port_be)}] = v.vip_id;
    if (v.backend_first > abi::kMaxBackends || v.backend_count > abi::kMaxBackends - v.backend_first) continue;
    for (uint32_t b = 0; b < v.backend_count; ++b) {
      const abi::Backend& be = slot->backends[v.backend_first + b];
      IpAddr addr = v.backend_family == static_cast<uint8_t>(abi::Family::Ipv6)
                        ? IpAddr::from_v6(slot->backend_addr6[v.backend_first + b])
                        : IpAddr::from_v4(be.addr_be);
      (*backends)[{vip, ntohs(v.port_be), addr, ntohs(be.port_be)}] =
          Published{be.id, static_cast<abi::BackendState>(be.state)};
    }
  }
}

// Two backends whose checks are the same (address, port and every setting) share one.
std::string check_identity(const BackendRt& b) {
  const config::HealthCheck& c = b.cfg.health;
  std::string k = b.cfg.endpoint();
  k += '|' + std::to_string(c.port) + '|' + (c.type == config::CheckType::Http ? "http" : "tcp") + '|' + c.http_method +
       '|' + c.http_path + '|' + c.http_host + '|' + std::to_string(c.expect_status) + '|' +
       std::to_string(c.interval_ms) + '|' + std::to_string(c.timeout_ms) + '|' + std::to_string(c.rise) + '|' +
       std::to_string(c.fall) + '|' + c.source.str() + '|' + (c.start_down ? "1" : "0") + '|' +
       std::to_string(c.expect_body.size()) + ':' + c.expect_body;
  return k;
}

}  // namespace

TableSpec Service::spec_to_publish(const std::vector<VipRt>& vips) const {
  TableSpec spec = table_spec(vips);
  spec.retired = retired_backends(link_.active_slot(), spec, [this](uint16_t id) { return link_.active_connections(id); });
  return spec;
}

uint64_t Service::target_for(const BackendRt& b) {
  auto [it, fresh] = targets_.emplace(check_identity(b), 0);
  if (fresh) it->second = next_target_++;
  return it->second;
}

void Service::apply_overrides(std::vector<VipRt>& vips, const OperatorState& state) const {
  for (VipRt& v : vips) {
    for (BackendRt& b : v.backends) {
      Overrides o = state.get({v.cfg.name, b.cfg.endpoint()});
      b.drain_override = o.drained;
      b.weight_override = o.weight;
      b.maintenance = o.maintenance;
      b.forced_health = o.forced_up ? std::optional(*o.forced_up ? Health::Up : Health::Down) : std::nullopt;
    }
  }
}

std::vector<VipRt> Service::build_model(const config::LbConfig& config, const std::vector<VipRt>& previous,
                                        const OperatorState& state) {
  std::map<VipEndpoint, uint16_t> pub_vips;
  std::map<BackendEndpoint, Published> pub_backends;
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
      if (p.cfg.addr == vc.addr && p.cfg.port == vc.port) before = &p;
    }
    int vid = before ? before->id : pub_vips.count({vc.addr, vc.port}) ? pub_vips[{vc.addr, vc.port}] : -1;
    if (vid >= 0 && vip_ids.insert(static_cast<uint16_t>(vid)).second) v.id = static_cast<uint16_t>(vid);
    else v.id = abi::kMaxVips;  // to allocate
    for (const config::BackendConfig& bc : vc.backends) {
      BackendRt b;
      const BackendRt* old = nullptr;
      if (before) {
        for (const BackendRt& ob : before->backends) {
          if (ob.cfg.addr == bc.addr && ob.cfg.port == bc.port) old = &ob;
        }
      }
      if (old) {
        b = *old;
      } else {
        b.id = abi::kMaxBackends;
        auto it = pub_backends.find({vc.addr, vc.port, bc.addr, bc.port});
        if (it != pub_backends.end()) {
          b.id = it->second.id;
          // A restarted control plane starts from what the data plane was told.
          if (it->second.state == abi::BackendState::Down) {
            b.health = Health::Down;
            b.health_reason = "down in the published tables; not checked yet";
          }
        } else if (bc.health.start_down) {
          b.health = Health::Down;
          b.health_reason = "new backend (start_down): not checked yet";
        }
      }
      b.cfg = bc;
      b.target = target_for(b);
      if (const TargetStatus* st = health_->status(b.target); st != nullptr && (old == nullptr || old->target != b.target)) {
        b.health = st->health;  // joins a check other VIPs already run
        b.health_reason = st->last_result.empty() ? b.health_reason : st->last_result;
      }
      if (!old && !previous.empty()) start_ramp(vc.scheduling.slow_start_s, b, monotonic_ms());  // joined by a reload
      if (b.id < abi::kMaxBackends && !backend_ids.insert(b.id).second) b.id = abi::kMaxBackends;
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
  apply_overrides(out, state);
  return out;
}

void Service::take_baselines(const std::vector<VipRt>& before, const std::vector<VipRt>& after) {
  std::set<uint16_t> old_vips, old_backends;
  for (const VipRt& v : before) {
    old_vips.insert(v.id);
    for (const BackendRt& b : v.backends) old_backends.insert(b.id);
  }
  for (const VipRt& v : after) {
    bool same_vip = false;
    for (const VipRt& p : before) same_vip |= p.id == v.id && p.cfg.addr == v.cfg.addr && p.cfg.port == v.cfg.port;
    if (!same_vip && old_vips.count(v.id) != 0) {
      vip_base_[v.id] = VipBase{link_.vip_new_connections(v.id), link_.vip_drops(v.id)};
    }
    for (const BackendRt& b : v.backends) {
      bool same = false;
      for (const VipRt& p : before) {
        if (p.cfg.addr != v.cfg.addr || p.cfg.port != v.cfg.port) continue;
        for (const BackendRt& ob : p.backends) same |= ob.id == b.id && ob.cfg.addr == b.cfg.addr && ob.cfg.port == b.cfg.port;
      }
      if (!same && old_backends.count(b.id) != 0) backend_base_[b.id] = link_.backend_traffic(b.id);
    }
  }
}

void Service::sync_health_targets(const std::vector<VipRt>& previous) {
  std::set<uint64_t> keep;
  for (const VipRt& v : vips_) {
    for (const BackendRt& b : v.backends) {
      if (b.maintenance || !keep.insert(b.target).second) continue;
      health_->add(b.target, b.cfg.addr, b.cfg.port, b.cfg.health, b.health);
    }
  }
  std::set<uint64_t> dropped;
  for (const VipRt& v : previous) {
    for (const BackendRt& b : v.backends) {
      if (keep.count(b.target) == 0 && dropped.insert(b.target).second) health_->remove(b.target);
    }
  }
  // Also targets of backends that just went into maintenance.
  for (const VipRt& v : vips_) {
    for (const BackendRt& b : v.backends) {
      if (keep.count(b.target) == 0 && dropped.insert(b.target).second) health_->remove(b.target);
    }
  }
  // Forget identities no backend uses any more.
  std::set<uint64_t> used;
  for (const VipRt& v : vips_) {
    for (const BackendRt& b : v.backends) used.insert(b.target);
  }
  for (auto it = targets_.begin(); it != targets_.end();) it = used.count(it->second) ? std::next(it) : targets_.erase(it);
}

void Service::on_health(const HealthEvent& e) {
  std::lock_guard lock(mu_);
  bool changed = false;
  for (VipRt& v : vips_) {
    for (BackendRt& b : v.backends) {
      if (b.target != e.target || b.maintenance) continue;
      abi::BackendState before = b.table_state();
      b.health = e.health;
      b.health_reason = e.reason;
      b.health_changed_ms = monotonic_ms();
      b.health_changed_unix_ms = unix_ms();
      if (e.health == Health::Up) start_ramp(v.cfg.scheduling.slow_start_s, b, b.health_changed_ms);  // recovered
      ++b.transitions;
      log(e.health == Health::Down ? "warning" : "info", "vip %s backend %s is %s: %s%s", v.cfg.name.c_str(),
          b.cfg.endpoint().c_str(), e.health == Health::Down ? "DOWN" : "UP", e.reason.c_str(),
          b.forced_health ? " (health forced by an operator: the tables do not change)" : "");
      changed |= b.table_state() != before;
      if (b.table_state() != before) {
        request_publish("health: " + v.cfg.name + " " + b.cfg.endpoint() + (e.health == Health::Down ? " down" : " up"));
      }
    }
  }
  (void)changed;
}

// A VIP by name or "address:port" ("[2001:db8::10]:80" for IPv6). Addresses compare as
// values: "[2001:DB8:0::10]:80" finds [2001:db8::10]:80.
VipRt* Service::find_vip(const std::string& ref) {
  auto endpoint = config::parse_endpoint(ref);
  for (VipRt& v : vips_) {
    if (v.cfg.name == ref || (endpoint && endpoint->first == v.cfg.addr && endpoint->second == v.cfg.port)) return &v;
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
  // issue 15: "address:port", "[v6]:port", or the address alone ("2001:db8::11" or
  // "[2001:db8::11]"), compared as values.
  auto ref = config::parse_endpoint_ref(backend);
  if (!ref && backend.find(':') != std::string::npos) {
    return invalid("\"" + backend + "\" is not a backend address or address:port (e.g. 198.18.2.11:80, "
                   "[2001:db8::11]:80 or 2001:db8::11)");
  }
  std::vector<Match> out;
  for (VipRt& v : vips_) {
    if (only != nullptr && &v != only) continue;
    for (BackendRt& b : v.backends) {
      if (b.cfg.name == backend || (ref && ref->matches(b.cfg.addr, b.cfg.port))) out.push_back({&v, &b});
    }
  }
  if (out.empty()) {
    return not_found("no backend \"" + backend + "\"" + (vip ? " in VIP " + *vip : std::string(" in any VIP")) +
                     " (see: lbctl backend list)");
  }
  return out;
}

void Service::tick() {
  std::lock_guard lock(mu_);
  if (link_.refresh_status()) {
    const abi::StatusRegion* s = link_.status();
    log("info", "data plane running (pid %u, start #%llu): republishing", s->header.pid.load(),
        static_cast<unsigned long long>(s->header.start_count.load()));
    request_publish("data plane (re)started");
  }
  if (link_.start_count() != base_start_count_) {  // a new data plane: its counters start at 0
    base_start_count_ = link_.start_count();
    vip_base_.clear();
    backend_base_.clear();
  }
  update_announcements();  // issue 12: the data plane's heartbeat, health, drains
  uint64_t now = monotonic_ms();
  run_passive_health(now);
  if (finish_ramps(now)) request_publish("slow start over");
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
