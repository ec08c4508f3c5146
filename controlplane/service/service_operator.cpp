// Operator verbs: drain, weight, maintenance, forced health, and the operator state.
#include <algorithm>

#include "controlplane/service/log.h"
#include "controlplane/service/service.h"

namespace fulcrum::cp {

Reply Service::change_backends(const std::string& backend, const std::optional<std::string>& vip, const char* what,
                               const std::function<void(Overrides&, const BackendRt&)>& change) {
  std::lock_guard lock(mu_);
  std::vector<Match> matches;
  if (backend.empty()) {  // every backend with an override, of one VIP or all (state clear)
    VipRt* only = vip ? find_vip(*vip) : nullptr;
    if (vip && only == nullptr) return not_found("no VIP named or at \"" + *vip + "\" (see: lbctl vip list)");
    for (VipRt& v : vips_) {
      if (only != nullptr && &v != only) continue;
      for (BackendRt& b : v.backends) {
        if (!operator_state_.get({v.cfg.name, b.cfg.endpoint()}).empty()) matches.push_back({&v, &b});
      }
    }
  } else {
    Expected<std::vector<Match>> found = resolve(backend, vip);
    if (!found) return found.error();
    matches = std::move(found.value());
  }
  // What each backend's overrides become; only differences from the file are kept.
  OperatorState next = operator_state_;
  std::vector<bool> changed(matches.size(), false);
  for (size_t i = 0; i < matches.size(); ++i) {
    const Match& m = matches[i];
    BackendKey key{m.vip->cfg.name, m.backend->cfg.endpoint()};
    Overrides o = operator_state_.get(key), n = o;
    change(n, *m.backend);
    if (n.drained && *n.drained == m.backend->configured_draining()) n.drained.reset();
    if (n == o) continue;
    next.set(key, n);
    changed[i] = true;
  }
  Json list = Json::array();
  std::map<uint64_t, size_t> sharing = check_sharing();
  if (std::find(changed.begin(), changed.end(), true) == changed.end()) {
    for (const Match& m : matches) {
      Json b = backend_json(*m.vip, *m.backend, sharing);
      b["changed"] = false;
      list.push_back(b);
    }
    return Json{{"generation", link_.generation()}, {"changed", false}, {"backends", list},
                {"message", std::string("nothing to change: ") + what + " is already in effect"}};
  }
  // Persisted before it is applied: an action the state directory cannot record is not
  // taken, so a restart never silently undoes one.
  if (std::string err = next.save(); !err.empty()) {
    return unavailable(std::string(what) + " not done: the operator state cannot be saved: " + err);
  }
  TableSpec before = table_spec(vips_);
  bool checks_changed = false;
  for (size_t i = 0; i < matches.size(); ++i) {
    if (!changed[i]) continue;
    BackendRt& b = *matches[i].backend;
    Overrides o = next.get({matches[i].vip->cfg.name, b.cfg.endpoint()});
    b.drain_override = o.drained;
    b.weight_override = o.weight;
    b.forced_health = o.forced_up ? std::optional(*o.forced_up ? Health::Up : Health::Down) : std::nullopt;
    if (b.maintenance != o.maintenance) {
      checks_changed = true;
      b.maintenance = o.maintenance;
      if (!b.maintenance) {
        if (const TargetStatus* st = health_->status(b.target); st != nullptr) {
          // Its check kept running for another VIP that shares it: that check's verdict holds.
          b.health = st->health;
          b.health_reason = st->last_result.empty() ? b.health_reason : st->last_result;
        } else {
          // Unchecked while in maintenance: down until it passes `rise` checks again.
          b.health = Health::Down;
          b.health_reason = "out of maintenance: down until its checks pass";
        }
        b.health_changed_ms = monotonic_ms();
        b.health_changed_unix_ms = unix_ms();
      }
    }
    log("info", "%s: vip %s backend %s (state %s, weight %u)", what, matches[i].vip->cfg.name.c_str(),
        b.cfg.endpoint().c_str(), b.state_name(), b.weight());
  }
  operator_state_ = std::move(next);
  if (checks_changed) sync_health_targets(vips_);
  sharing = check_sharing();  // maintenance may have changed it
  for (size_t i = 0; i < matches.size(); ++i) {
    Json b = backend_json(*matches[i].vip, *matches[i].backend, sharing);
    b["changed"] = bool(changed[i]);
    list.push_back(b);
  }
  Json answer{{"changed", true}, {"backends", list}};
  if (same_tables(before, table_spec(vips_))) {  // e.g. health forced up on a backend that is up
    answer["generation"] = link_.generation();
    return answer;
  }
  request_publish(what);
  PendingAnswer p;
  p.kind = PendingAnswer::Kind::Publish;
  p.seq = change_seq_;
  p.result = std::move(answer);
  return Deferred{defer(std::move(p))};
}

Reply Service::set_drain(const std::string& backend, const std::optional<std::string>& vip, bool drain) {
  return change_backends(backend, vip, drain ? "drain" : "undrain", [&](Overrides& o, const BackendRt&) { o.drained = drain; });
}

Reply Service::set_weight(const std::string& backend, const std::optional<std::string>& vip, std::optional<uint16_t> weight) {
  if (weight && *weight > 1000) return invalid("weight " + std::to_string(*weight) + " out of range (0 .. 1000)");
  return change_backends(backend, vip, "weight", [&](Overrides& o, const BackendRt&) { o.weight = weight; });
}

Reply Service::set_maintenance(const std::string& backend, const std::optional<std::string>& vip, bool on) {
  return change_backends(backend, vip, on ? "maintenance on" : "maintenance off",
                         [&](Overrides& o, const BackendRt&) { o.maintenance = on; });
}

Reply Service::force_health(const std::string& backend, const std::optional<std::string>& vip, std::optional<Health> health) {
  const char* what = !health ? "health auto" : *health == Health::Up ? "health forced up" : "health forced down";
  return change_backends(backend, vip, what, [&](Overrides& o, const BackendRt&) {
    o.forced_up = health ? std::optional(*health == Health::Up) : std::nullopt;
  });
}

Reply Service::state_clear(const std::optional<std::string>& backend, const std::optional<std::string>& vip) {
  return change_backends(backend.value_or(""), vip, "state clear", [](Overrides& o, const BackendRt&) { o = Overrides{}; });
}

Json Service::state_list() {
  std::lock_guard lock(mu_);
  Json out = Json::array();
  for (const auto& [k, o] : operator_state_.entries()) {
    Json e{{"vip", k.vip}, {"backend", k.endpoint}};
    e["drained"] = o.drained ? Json(*o.drained) : Json(nullptr);
    e["weight"] = o.weight ? Json(*o.weight) : Json(nullptr);
    e["maintenance"] = o.maintenance;
    e["health"] = o.forced_up ? Json(*o.forced_up ? "up" : "down") : Json(nullptr);
    std::string name;
    bool applies = false;
    for (const VipRt& v : vips_) {
      if (v.cfg.name != k.vip) continue;
      for (const BackendRt& b : v.backends) {
        if (b.cfg.endpoint() == k.endpoint) {
          applies = true;
          name = b.cfg.name;
        }
      }
    }
    e["name"] = name;
    e["applies"] = applies;
    out.push_back(e);
  }
  return out;
}

}  // namespace fulcrum::cp
