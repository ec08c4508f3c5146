// The service's share of scheduling (docs/scheduling.md): passive health (ejecting a
// backend from what the data plane saw of real connection attempts, readmitting it through
// its active check), slow start (when a backend's ramp starts and ends), and the
// per-backend figures lbctl and the metrics show.
#include "controlplane/service/log.h"
#include "controlplane/service/service.h"

namespace fulcrum::cp {

void Service::run_passive_health(uint64_t now_ms) {
  // A data plane that is not running counts nothing; a restarted one starts from zero
  // (observe_attempts takes a new baseline when counters go backwards).
  if (!link_.dataplane_alive()) return;
  for (VipRt& v : vips_) {
    const config::PassiveHealth& p = v.cfg.scheduling.passive;
    uint32_t ejected = 0;
    for (const BackendRt& b : v.backends) ejected += b.passive.ejected;
    const uint32_t cap = max_ejected(static_cast<uint32_t>(v.backends.size()), p.max_ejected_percent);
    for (BackendRt& b : v.backends) {
      const TargetStatus* check = b.target != 0 ? health_->status(b.target) : nullptr;
      if (b.passive.ejected) {
        // Back through its active check: `rise` checks since the ejection, all good.
        if (check != nullptr && may_readmit(b.passive, check->checks, check->successes_in_a_row, b.cfg.health.rise)) {
          readmit(b.passive);
          --ejected;
          start_ramp(v.cfg.scheduling.slow_start_s, b, now_ms);
          log("info", "vip %s backend %s readmitted: %u health checks passed since its ejection", v.cfg.name.c_str(),
              b.cfg.endpoint().c_str(), b.cfg.health.rise);
          request_publish("passive health: " + v.cfg.name + " " + b.cfg.endpoint() + " readmitted");
        }
      }
      const BackendFigures f = backend_figures(link_.status(), b.id);
      // Only a backend taking new connections is judged; the others just keep a baseline.
      const bool judged = !b.passive.ejected && b.table_state() == abi::BackendState::Active;
      if (!observe_attempts(b.passive, f.attempts, judged ? p.consecutive_failures : 0)) continue;
      if (ejected >= cap) {
        if (!b.passive.cap_logged) {
          log("warning", "vip %s backend %s: %llu connection attempts failed in a row, but %u of %zu backends are ejected "
              "already (passive.max_ejected_percent = %u): not ejected", v.cfg.name.c_str(), b.cfg.endpoint().c_str(),
              static_cast<unsigned long long>(b.passive.streak()), ejected, v.backends.size(), p.max_ejected_percent);
          b.passive.cap_logged = true;
        }
        continue;
      }
      eject(b.passive, now_ms, check != nullptr ? check->checks : 0);
      ++ejected;
      ++b.transitions;
      log("warning", "vip %s backend %s is DOWN: %s (passive health; back after %u successful health checks)", v.cfg.name.c_str(),
          b.cfg.endpoint().c_str(), b.passive.reason.c_str(), b.cfg.health.rise);
      request_publish("passive health: " + v.cfg.name + " " + b.cfg.endpoint() + " ejected");
    }
  }
}

void Service::start_ramp(uint32_t slow_start_s, BackendRt& b, uint64_t now_ms) {
  if (slow_start_s == 0) return;
  b.up_since_ms = now_ms;
  b.ramping = true;
}

bool Service::finish_ramps(uint64_t now_ms) {
  // The data plane stops ramping by itself; republishing without the flag keeps a backend
  // that stays up for 49 days (the 32-bit millisecond clock) from ramping again.
  bool over = false;
  for (VipRt& v : vips_) {
    for (BackendRt& b : v.backends) {
      if (b.ramping && now_ms - b.up_since_ms >= uint64_t{v.cfg.scheduling.slow_start_s} * 1000 + 1000) {
        b.ramping = false;
        over = true;
      }
    }
  }
  return over;
}

namespace {

// Why a backend takes no new connections ("" if it does).
std::string out_reason(const BackendRt& b) {
  if (b.maintenance) return "maintenance (operator)";
  if (b.forced_health == Health::Down) return "health forced down (operator)";
  if (b.ejected()) return b.passive.reason;
  if (b.effective_health() == Health::Down) return "health check: " + b.health_reason;
  if (b.draining()) return b.drain_override == true ? "drained by an operator" : "draining (config)";
  if (b.weight() == 0) return "weight 0";
  return "";
}

}  // namespace

void Service::add_scheduling_json(const VipRt& v, const BackendRt& b, Json& out) const {
  const BackendFigures f = backend_figures(link_.status(), b.id);
  out["open_connections"] = f.open;
  out["out_reason"] = out_reason(b);
  out["ejected"] = b.ejected();
  out["ejections"] = b.passive.ejections;
  out["connect_time_ms"] = f.connect_samples == 0 ? Json(nullptr) : Json(double(f.connect_ewma_us) / 1000.0);
  out["connect_samples"] = f.connect_samples;
  out["attempts"] = Json{{"answered", f.attempts.answered}, {"refused", f.attempts.refused}, {"unanswered", f.attempts.unanswered}};
  out["retried_away"] = f.retried_away;
  out["overflows"] = Json{{"max_connections", f.over_max_connections}, {"max_new_conn_rate", f.over_rate}};
  out["max_connections"] = b.cfg.limits.max_connections;
  out["max_new_conn_rate"] = b.cfg.limits.max_new_conn_rate;
  const bool ramping = b.ramping && v.cfg.scheduling.slow_start_s > 0 && f.ramp_permille != 0;
  out["slow_start_percent"] = ramping ? Json(f.ramp_permille / 10.0) : Json(nullptr);
}

void Service::add_scheduling_metrics(MetricsSnapshot& m) const {
  for (const VipRt& v : vips_) {
    for (const BackendRt& b : v.backends) {
      m.scheduling.push_back({v.cfg.name, b.cfg.endpoint(), backend_figures(link_.status(), b.id), b.ejected(), b.passive.ejections});
    }
  }
}

}  // namespace fulcrum::cp
