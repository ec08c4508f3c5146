// Issue 12: this node in a site of several behind ECMP routers. What it announces over BGP
// (through the routing daemon, announce/), why a VIP is not announced, `lbctl node drain`,
// and the fingerprints of the Maglev tables that operators compare between nodes.
//
// The decision is re-taken on every tick (200 ms) and after every publish, from the model
// and from what the data plane really uses (the published slot, its heartbeat); only a plan
// that differs from the last one goes to the announcer's thread. Withdrawing because the
// data plane died is this process's second line: the first is the routing daemon's own
// (BIRD's `check link` on the exception interface, BFD on the session that rides the data
// plane), which works when this process is dead too (docs/deployment.md).
#include <arpa/inet.h>

#include "controlplane/announce/bird_announcer.h"
#include "controlplane/cluster/table_fingerprint.h"
#include "controlplane/service/log.h"
#include "controlplane/service/service.h"
#include "dataplane/abi/dump.h"

namespace fulcrum::cp {
namespace {

constexpr uint64_t kAnswerTimeoutMs = 10'000;
constexpr auto kExitWithdrawTimeout = std::chrono::milliseconds(3000);

Json addresses_json(const std::vector<AnnouncedRoute>& routes) {
  Json out = Json::array();
  for (const AnnouncedRoute& r : routes) out.push_back(r.addr.str());
  return out;
}

bool contains(const std::vector<AnnouncedRoute>& routes, const config::IpAddr& addr) {
  for (const AnnouncedRoute& r : routes) {
    if (r.addr == addr) return true;
  }
  return false;
}

std::string parent_directory(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

// Usable backends of a VIP in a published slot: active, with a weight.
uint32_t usable_in_slot(const abi::TableSlot& slot, const abi::Vip& v) {
  if (v.backend_first > abi::kMaxBackends || v.backend_count > abi::kMaxBackends - v.backend_first) return 0;
  uint32_t n = 0;
  for (uint32_t b = 0; b < v.backend_count; ++b) {
    const abi::Backend& be = slot.backends[v.backend_first + b];
    n += be.state == static_cast<uint8_t>(abi::BackendState::Active) && be.weight > 0;
  }
  return n;
}

const abi::Vip* find_in_slot(const abi::TableSlot* slot, const config::IpAddr& addr, uint16_t port) {
  if (slot == nullptr) return nullptr;
  uint32_t n = std::min(slot->hdr.vip_count, abi::kMaxVips);
  for (uint32_t i = 0; i < n; ++i) {
    const abi::Vip& v = slot->vips[i];
    bool v6 = v.family == static_cast<uint8_t>(abi::Family::Ipv6);
    if (v6 != addr.is_v6() || v.port_be != htons(port)) continue;
    if (v6 ? slot->vip6[i].addr == addr.v6 : v.addr_be == addr.v4_be) return &v;
  }
  return nullptr;
}

}  // namespace

std::string Service::start_node() {
  if (std::string err = node_.load(config_.controlplane.state_dir); !err.empty()) return "node state: " + err;
  if (node_.drained) log("warning", "this node is drained (lbctl node drain, persisted): it announces no VIP until lbctl node undrain");
  if (!config_.controlplane.bgp) return "";
  const config::BgpConfig& bgp = *config_.controlplane.bgp;
  if (std::string err = make_directories(parent_directory(bgp.include_file), 0755); !err.empty()) {
    return "controlplane.bgp.include_file: " + err;
  }
  announcer_ = std::make_unique<AnnounceWorker>(make_route_announcer(bgp));
  log("info", "announcing VIPs through %s (include file %s, protocol %s%s%s)", announcer_->describe().c_str(),
      bgp.include_file.c_str(), bgp.protocol.c_str(), bgp.link_interface.empty() ? "" : ", check link on ",
      bgp.link_interface.c_str());
  update_announcements();
  return "";
}

NodeFacts Service::node_facts() const {
  NodeFacts n;
  n.drained = node_.drained;
  n.stopping = stopping_;
  n.dataplane_alive = link_.dataplane_alive();
  n.heartbeat_age_ms = link_.heartbeat_age_ms();
  n.dataplane_has_tables = n.dataplane_alive && link_.generation_in_use() != 0;
  return n;
}

std::vector<VipFacts> Service::vip_facts() const {
  const abi::TableSlot* slot = link_.active_slot();
  std::vector<VipFacts> out;
  for (const VipRt& v : vips_) {
    VipFacts f;
    f.name = v.cfg.name;
    f.addr = v.cfg.addr;
    f.min_healthy = config_.min_healthy_backends(v.cfg);
    uint32_t model = 0;
    for (const BackendRt& b : v.backends) model += b.table_state() == abi::BackendState::Active && b.weight() > 0;
    const abi::Vip* pub = find_in_slot(slot, v.cfg.addr, v.cfg.port);
    f.published = pub != nullptr;
    f.usable = pub != nullptr ? std::min(model, usable_in_slot(*slot, *pub)) : 0;
    out.push_back(std::move(f));
  }
  return out;
}

void Service::update_announcements() {
  if (!announcer_) return;
  AnnouncePlan plan = plan_announcements(node_facts(), vip_facts());
  if (announce_seq_ != 0 && plan.routes == planned_routes_) return;
  planned_routes_ = std::move(plan.routes);
  announce_seq_ = announcer_->submit(planned_routes_);
}

void Service::settle_announce(PendingAnswer& p) {
  if (!announcer_) return;
  AnnounceWorker::Snapshot s = announcer_->snapshot();
  if (s.applied >= p.seq) {
    p.result["announced"] = addresses_json(s.routes);
    p.ready = std::move(p.result);
  } else if (s.failed >= p.seq && s.failed > s.applied) {
    p.ready = unavailable(std::string(node_.drained ? "node drained" : "node undrained") + " (persisted), but " +
                          announcer_->describe() + " did not take the new routes: " + s.error +
                          "; retried every second (lbctl status shows when it succeeds)");
  } else if (monotonic_ms() > p.deadline_ms) {
    p.ready = unavailable("no answer from " + announcer_->describe() + " in time; the change is persisted and retried");
  }
}

Reply Service::node_drain(bool drain) {
  std::lock_guard lock(mu_);
  const bool changed = node_.drained != drain;
  if (changed) {
    NodeState next = node_;
    next.drained = drain;
    next.since_unix_ms = drain ? unix_ms() : 0;
    // Persisted first: a drain the state directory cannot record would be undone by a restart.
    if (std::string err = next.save(config_.controlplane.state_dir); !err.empty()) {
      return unavailable(std::string(drain ? "drain" : "undrain") + " not done: the node state cannot be saved: " + err);
    }
    node_ = next;
    log("info", drain ? "node drained: withdrawing every VIP" : "node undrained: announcing the VIPs that may be");
  }
  Json result{{"changed", changed}, {"drained", node_.drained}, {"bgp", announcer_ != nullptr}};
  if (!announcer_) {
    result["message"] = "no [controlplane.bgp]: this node announces no routes, so nothing was withdrawn or announced";
    return Expected<Json>(std::move(result));
  }
  update_announcements();
  PendingAnswer p;
  p.kind = PendingAnswer::Kind::Announce;
  p.seq = announce_seq_;
  p.result = std::move(result);
  p.deadline_ms = monotonic_ms() + kAnswerTimeoutMs;
  return Deferred{defer(std::move(p))};
}

void Service::shutdown() {
  std::unique_lock lock(mu_);
  stopping_ = true;
  if (!announcer_) return;
  if (!config_.controlplane.bgp->withdraw_on_exit) {
    log("info", "exiting with the routes announced (controlplane.bgp.withdraw_on_exit = false)");
    return;
  }
  AnnounceWorker* announcer = announcer_.get();
  lock.unlock();  // the metrics thread may want the lock meanwhile
  std::string err = announcer->submit_and_wait({}, kExitWithdrawTimeout);
  if (err.empty()) log("info", "withdrew every VIP through %s (withdraw_on_exit)", announcer->describe().c_str());
  else log("error", "could not withdraw the VIPs on exit: %s", err.c_str());
}

Json Service::node_json() {
  uint64_t active = 0;
  for (uint32_t id = 0; id < abi::kMaxBackends; ++id) active += link_.active_connections(static_cast<uint16_t>(id));
  uint64_t packets = 0;
  for (const VipRt& v : vips_) packets += vip_traffic(v).packets;
  Json node{{"drained", node_.drained},
            {"drained_since_unix_ms", node_.drained ? Json(node_.since_unix_ms) : Json(nullptr)},
            {"active_connections", active},
            {"vip_packets", packets}};
  if (!announcer_) {
    node["bgp"] = nullptr;
    return node;
  }
  const config::BgpConfig& cfg = *config_.controlplane.bgp;
  AnnounceWorker::Snapshot s = announcer_->snapshot();
  Json sessions = Json::array();
  for (const DaemonProtocol& d : s.daemon.sessions) {
    sessions.push_back({{"name", d.name}, {"protocol", d.proto}, {"state", d.state}, {"info", d.info}});
  }
  node["bgp"] = {{"daemon", announcer_->describe()},
                 {"include_file", cfg.include_file},
                 {"protocol", cfg.protocol},
                 {"link_interface", cfg.link_interface.empty() ? Json(nullptr) : Json(cfg.link_interface)},
                 {"announced", addresses_json(s.routes)},
                 {"wanted", addresses_json(planned_routes_)},
                 {"in_sync", s.applied == announce_seq_ && s.applied != 0},
                 {"error", s.error.empty() ? Json(nullptr) : Json(s.error)},
                 {"attempts", s.attempts},
                 {"daemon_reachable", s.daemon.reachable},
                 {"daemon_version", s.daemon.version},
                 {"daemon_error", s.daemon.error.empty() ? Json(nullptr) : Json(s.daemon.error)},
                 {"protocol_state", s.daemon.protocol_state},
                 {"sessions", sessions}};
  return node;
}

void Service::node_metrics(MetricsSnapshot& m) {
  m.node_drained = node_.drained;
  if (!announcer_) return;
  m.bgp = true;
  AnnounceWorker::Snapshot s = announcer_->snapshot();
  m.bgp_in_sync = s.applied == announce_seq_ && s.applied != 0;
  m.bgp_daemon_up = s.daemon.reachable && s.daemon.protocol_known;
  for (size_t i = 0; i < vips_.size() && i < m.vips.size(); ++i) m.vips[i].announced = contains(s.routes, vips_[i].cfg.addr);
}

std::vector<Json> Service::vip_node_json() {
  std::vector<Json> out;
  const abi::TableSlot* slot = link_.active_slot();
  const uint64_t generation = link_.generation();
  std::vector<VipFacts> facts = vip_facts();
  AnnouncePlan plan = plan_announcements(node_facts(), facts);
  AnnounceWorker::Snapshot s;
  if (announcer_) s = announcer_->snapshot();
  for (size_t i = 0; i < vips_.size(); ++i) {
    const VipRt& v = vips_[i];
    Json j{{"usable_backends", facts[i].usable}, {"min_healthy_backends", facts[i].min_healthy}};
    if (!announcer_) {
      j["announced"] = false;
      j["announce_reason"] = "no [controlplane.bgp]: this node announces nothing";
    } else {
      bool announced = contains(s.routes, v.cfg.addr);
      j["announced"] = announced;
      std::string why = plan.vips[i].why_not;
      if (plan.vips[i].announced && !announced) {
        why = s.error.empty() ? "waiting for " + announcer_->describe() : announcer_->describe() + ": " + s.error;
      } else if (!plan.vips[i].announced && announced) {
        why += s.error.empty() ? " (being withdrawn)" : " (withdrawal not taken yet: " + s.error + ")";
      }
      j["announce_reason"] = why.empty() ? Json(nullptr) : Json(why);
    }
    // The fingerprint of the table the data plane uses; computed once per generation.
    const abi::Vip* pub = find_in_slot(slot, v.cfg.addr, v.cfg.port);
    if (pub == nullptr) {
      j["fingerprint"] = nullptr;
    } else {
      auto [it, fresh] = fingerprints_.try_emplace(v.id, 0, 0);
      if (fresh || it->second.first != generation) it->second = {generation, table_fingerprint(*slot, *pub)};
      j["fingerprint"] = fingerprint_text(it->second.second);
    }
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace fulcrum::cp
