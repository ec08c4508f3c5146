#include "controlplane/service/state_migration.h"

namespace fulcrum::cp {
namespace {

const config::VipConfig* by_name(const config::LbConfig& c, const std::string& name) {
  for (const config::VipConfig& v : c.vips) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

const config::VipConfig* by_endpoint(const config::LbConfig& c, const config::IpAddr& addr, uint16_t port) {
  for (const config::VipConfig& v : c.vips) {
    if (v.addr == addr && v.port == port) return &v;
  }
  return nullptr;
}

const config::BackendConfig* backend(const config::VipConfig& v, const std::string& endpoint) {
  for (const config::BackendConfig& b : v.backends) {
    if (b.endpoint() == endpoint) return &b;
  }
  return nullptr;
}

std::string describe(const Overrides& o) {
  std::string s;
  auto add = [&s](const std::string& t) { s += (s.empty() ? "" : ", ") + t; };
  if (o.drained) add(*o.drained ? "drained" : "undrained");
  if (o.weight) add("weight " + std::to_string(*o.weight));
  if (o.maintenance) add("maintenance");
  if (o.forced_up) add(std::string("health forced ") + (*o.forced_up ? "up" : "down"));
  return s;
}

}  // namespace

OperatorState migrate_state(const OperatorState& state, const config::LbConfig& before, const config::LbConfig& after,
                            std::vector<std::string>* notes) {
  OperatorState out = state;
  for (const auto& [key, o] : state.entries()) out.set(key, {});
  for (const auto& [key, o] : state.entries()) {
    std::string vip_name = key.vip;
    const config::VipConfig* now = by_name(after, vip_name);
    // Renamed in place: the VIP of that name before now has another name at the same address:port.
    if (const config::VipConfig* old = by_name(before, vip_name); old != nullptr) {
      const config::VipConfig* same_place = by_endpoint(after, old->addr, old->port);
      if (now == nullptr && same_place != nullptr) {
        notes->push_back("vip " + vip_name + " renamed to " + same_place->name + ": " + describe(o) + " of backend " +
                         key.endpoint + " kept");
        vip_name = same_place->name;
        now = same_place;
      }
    }
    const config::BackendConfig* be = now != nullptr ? backend(*now, key.endpoint) : nullptr;
    if (be == nullptr) {
      notes->push_back(describe(o) + " of " + key.vip + " " + key.endpoint + " dropped: " +
                       (now == nullptr ? "no VIP " + key.vip : "no such backend") + " in the file any more");
      continue;
    }
    Overrides kept = o;
    if (kept.drained && *kept.drained == (be->state == config::InitialState::Draining)) {
      notes->push_back(std::string(*kept.drained ? "drain" : "undrain") + " of " + vip_name + " " + key.endpoint +
                       " dropped: the file now says state = \"" + (*kept.drained ? "draining" : "active") + "\"");
      kept.drained.reset();
    }
    Overrides merged = out.get({vip_name, key.endpoint});
    if (kept.drained) merged.drained = kept.drained;
    if (kept.weight) merged.weight = kept.weight;
    merged.maintenance |= kept.maintenance;
    if (kept.forced_up) merged.forced_up = kept.forced_up;
    out.set({vip_name, key.endpoint}, merged);
  }
  return out;
}

}  // namespace fulcrum::cp
