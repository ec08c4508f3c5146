// Publishing: coalescing changes into generations, the Publisher's results, deferred
// answers, and committing a reload once its tables are out.
#include <arpa/inet.h>

#include <cstring>

#include "controlplane/service/log.h"
#include "controlplane/service/service.h"
#include "controlplane/service/state_migration.h"
#include "config/loader/ip_addr.h"
#include "dataplane/abi/dump.h"

namespace fulcrum::cp {
namespace {

std::string join_why(std::vector<std::string>& why) {
  std::string out;
  for (size_t i = 0; i < why.size() && i < 3; ++i) out += (i ? "; " : "") + why[i];
  if (why.size() > 3) out += "; and " + std::to_string(why.size() - 3) + " more";
  why.clear();
  return out;
}

}  // namespace

void Service::request_publish(const std::string& why) {
  ++change_seq_;
  pending_why_.push_back(why);
}

uint64_t Service::defer(PendingAnswer p) {
  uint64_t id = next_answer_id_++;
  pending_.emplace(id, std::move(p));
  return id;
}

uint64_t Service::pump() {
  std::lock_guard lock(mu_);
  if (in_flight_ != InFlight::None) return UINT64_MAX;  // the publisher's fd wakes the loop
  if (reload_ && !reload_->submitted) {
    Publisher::Job job;
    job.kind = reload_->dry_run ? Publisher::Kind::Plan : Publisher::Kind::Publish;
    job.spec = reload_->spec;
    job.quiesce_timeout = std::chrono::milliseconds(reload_->next.controlplane.publish_timeout_ms);
    reload_->submitted = true;
    in_flight_ = reload_->dry_run ? InFlight::Plan : InFlight::Reload;
    publisher_->submit(std::move(job));
    return UINT64_MAX;
  }
  if (change_seq_ == submitted_seq_) return UINT64_MAX;
  uint64_t now = monotonic_ms(), due = last_submit_ms_ + kMinPublishGapMs;
  if (now < due) return due;
  Publisher::Job job;
  job.ticket = change_seq_;
  job.spec = spec_to_publish(vips_);
  job.quiesce_timeout = std::chrono::milliseconds(config_.controlplane.publish_timeout_ms);
  submitted_seq_ = change_seq_;
  last_submit_ms_ = now;
  last_publish_.why = join_why(pending_why_);
  in_flight_ = InFlight::Changes;
  publisher_->submit(std::move(job));
  return UINT64_MAX;
}

void Service::on_publisher_event() {
  std::optional<Publisher::Result> r = publisher_->take();
  if (!r) return;
  std::lock_guard lock(mu_);
  InFlight what = in_flight_;
  in_flight_ = InFlight::None;
  if (what == InFlight::Reload || what == InFlight::Plan) return finish_reload(*r);
  if (!r->warning.empty()) log("warning", "publish: %s", r->warning.c_str());
  if (!r->error.empty()) {
    ++publish_failures_;
    last_publish_.error = r->error;
    log("error", "cannot publish (%s): %s; the data plane keeps the previous generation", last_publish_.why.c_str(),
        r->error.c_str());
    return settle_publishes(r->ticket, unavailable("publishing the tables failed: " + r->error));
  }
  ++publishes_;
  last_publish_ = {r->generation, unix_ms(), r->total_ms, r->build_ms, r->tables.built, r->tables.reused,
                   last_publish_.why, "", r->warning};
  log("info", "published generation %llu (%s; %zu Maglev tables rebuilt, %zu reused, %.0f ms)",
      static_cast<unsigned long long>(r->generation), last_publish_.why.c_str(), r->tables.built, r->tables.reused,
      r->total_ms);
  settle_publishes(r->ticket, r->generation);
  update_announcements();  // issue 12: a VIP whose table is now published may be announced
}

void Service::settle_publishes(uint64_t seq, const Expected<uint64_t>& outcome) {
  for (auto& [id, p] : pending_) {
    if (p.kind != PendingAnswer::Kind::Publish || p.ready || p.seq > seq) continue;
    if (!outcome) {
      p.ready = outcome.error();
      continue;
    }
    Json answer = std::move(p.result);
    answer["generation"] = outcome.value();
    p.ready = std::move(answer);
  }
}

void Service::finish_reload(const Publisher::Result& r) {
  std::unique_ptr<ReloadJob> job = std::move(reload_);
  auto answer = [&](Expected<Json> a) {
    if (job->answer == 0) return;
    auto it = pending_.find(job->answer);
    if (it != pending_.end()) it->second.ready = std::move(a);
  };
  if (job->dry_run) return answer(plan_json(*job, r.spec));
  last_reload_.at_unix_ms = unix_ms();
  if (!r.error.empty()) {
    ++publish_failures_;
    last_reload_.ok = false;
    last_reload_.result = "the new tables could not be published: " + r.error;
    log("error", "reload refused, %s: nothing changed", last_reload_.result.c_str());
    return answer(unavailable(last_reload_.result + "; nothing changed"));
  }
  if (!r.warning.empty()) log("warning", "publish: %s", r.warning.c_str());
  ++publishes_;
  last_publish_ = {r.generation, unix_ms(), r.total_ms, r.build_ms, r.tables.built, r.tables.reused, "reload", "", r.warning};
  log("info", "published generation %llu (reload; %zu Maglev tables rebuilt, %zu reused, %.0f ms)",
      static_cast<unsigned long long>(r.generation), r.tables.built, r.tables.reused, r.total_ms);
  commit_reload(*job);
  last_reload_.ok = true;
  last_reload_.result = std::to_string(job->changes.size()) + " change(s)";
  for (const std::string& c : job->changes) log("info", "reload: %s", c.c_str());
  for (const std::string& n : job->state_notes) log("info", "reload: operator state: %s", n.c_str());
  Json changes = job->changes, notes = job->state_notes;
  answer(Json{{"generation", r.generation}, {"changes", changes}, {"operator_state", notes}});
}

void Service::commit_reload(ReloadJob& job) {
  // Overrides as they are now (an operator may have acted while the tables were built),
  // moved or dropped for the new file.
  std::vector<std::string> notes;
  OperatorState state = migrate_state(operator_state_, config_, job.next, &notes);
  job.state_notes = notes;
  apply_overrides(job.vips, state);
  // Health as it is now, for backends that keep their check.
  for (VipRt& v : job.vips) {
    const VipRt* live = nullptr;
    for (const VipRt& l : vips_) {
      if (l.cfg.addr == v.cfg.addr && l.cfg.port == v.cfg.port) live = &l;
    }
    for (BackendRt& b : v.backends) {
      const BackendRt* lb = nullptr;
      if (live != nullptr) {
        for (const BackendRt& x : live->backends) {
          if (x.cfg.addr == b.cfg.addr && x.cfg.port == b.cfg.port && x.target == b.target) lb = &x;
        }
      }
      if (lb != nullptr) {
        b.health = lb->health;
        b.health_reason = lb->health_reason;
        b.health_changed_ms = lb->health_changed_ms;
        b.health_changed_unix_ms = lb->health_changed_unix_ms;
        b.transitions = lb->transitions;
      } else if (const TargetStatus* st = health_->status(b.target)) {
        b.health = st->health;
      }
    }
  }
  if (!(state.entries() == operator_state_.entries())) {
    if (std::string err = state.save(); !err.empty()) log("warning", "reload: operator state not saved: %s", err.c_str());
  }
  std::vector<VipRt> previous = std::move(vips_);
  take_baselines(previous, job.vips);
  vips_ = std::move(job.vips);
  operator_state_ = std::move(state);
  sync_health_targets(previous);
  config_ = std::move(job.next);
  raw_ = std::move(job.raw);
  loaded_file_ = {};
  config_file_json();
  // Published what the model now says? Then every change so far is out; else publish again.
  if (same_tables(table_spec(vips_), job.spec)) {
    submitted_seq_ = change_seq_;
    pending_why_.clear();
    settle_publishes(change_seq_, last_publish_.generation);
  } else {
    request_publish("changes made while the reload was published");
  }
}

std::optional<Expected<Json>> Service::take_answer(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) return Expected<Json>(ApiError{ErrorCode::Internal, "no such pending answer"});
  PendingAnswer& p = it->second;
  if (!p.ready && p.kind == PendingAnswer::Kind::Conns) {
    if (const abi::ConnSampleRegion* r = link_.answered(p.seq)) {
      Json rows = Json::array();
      for (uint32_t i = 0; i < r->response.count && i < abi::kConnSampleMax; ++i) {
        const abi::ConnSampleEntry& e = r->entries[i];
        // issue 15: an IPv6 connection's addresses are in addrs6 (a NAT64 backend's and SNAT
        // address IPv4-mapped, printed as IPv4).
        const bool v6 = (e.flags & abi::conn_sample_flag::kIpv6) != 0;
        auto endpoint = [&](uint32_t addr_be, const abi::Ip6& addr6, uint16_t port_be) {
          if (!v6) return abi::format_endpoint(addr_be, port_be);
          static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
          if (std::memcmp(addr6.b, kMapped, 12) == 0) {
            uint32_t v4;
            std::memcpy(&v4, addr6.b + 12, 4);
            return abi::format_endpoint(v4, port_be);
          }
          return config::endpoint_str(config::IpAddr::from_v6(addr6), ntohs(port_be));
        };
        const abi::ConnSampleAddrs6& a6 = r->addrs6[i];
        std::string vip_name, backend_name;
        for (const VipRt& v : vips_) {
          for (const BackendRt& b : v.backends) {
            if (b.id == e.backend_id) {
              vip_name = v.cfg.name;
              backend_name = b.cfg.name;
            }
          }
        }
        static const char* kPhase[] = {"syn", "established", "closing", "closed"};
        rows.push_back({{"client", endpoint(e.client_addr_be, a6.client, e.client_port_be)},
                        {"vip", vip_name},
                        {"vip_address", endpoint(e.vip_addr_be, a6.vip, e.vip_port_be)},
                        {"backend", endpoint(e.backend_addr_be, a6.backend, e.backend_port_be)},
                        {"backend_name", backend_name},
                        {"backend_id", e.backend_id},
                        {"snat", (e.flags & abi::conn_sample_flag::kFullNat)
                                     ? Json(endpoint(e.snat_addr_be, a6.snat, e.snat_port_be)) : Json(nullptr)},
                        {"state", kPhase[e.state & 3]},
                        {"idle_ms", e.idle_ms},
                        {"worker", e.worker}});
      }
      p.result["connections"] = rows;
      p.result["matched"] = r->response.matched;
      p.result["in_use"] = r->response.in_use;
      p.result["scanned"] = r->response.scanned;
      p.result["took_ms"] = double(r->response.took_us) / 1000.0;
      p.ready = std::move(p.result);
    } else if (monotonic_ms() > p.deadline_ms) {
      p.ready = unavailable("the data plane did not answer the connection sample in time");
    }
  }
  if (!p.ready && p.kind == PendingAnswer::Kind::Announce) settle_announce(p);  // issue 12
  if (!p.ready) return std::nullopt;
  Expected<Json> out = std::move(*p.ready);
  pending_.erase(it);
  return out;
}

void Service::forget(uint64_t id) {
  std::lock_guard lock(mu_);
  pending_.erase(id);
}

bool Service::polling() const {
  std::lock_guard lock(mu_);
  for (const auto& [id, p] : pending_) {
    if ((p.kind == PendingAnswer::Kind::Conns || p.kind == PendingAnswer::Kind::Announce) && !p.ready) return true;
  }
  return false;
}

}  // namespace fulcrum::cp
