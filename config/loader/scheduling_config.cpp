#include "config/loader/scheduling_config.h"

#include <algorithm>
#include <initializer_list>
#include <utility>

namespace fulcrum::config {
namespace {

constexpr std::pair<SchedulerKind, const char*> kSchedulers[] = {
    {SchedulerKind::Maglev, "maglev"},
    {SchedulerKind::MaglevBounded, "maglev_bounded"},
    {SchedulerKind::RoundRobin, "round_robin"},
    {SchedulerKind::WeightedRoundRobin, "weighted_round_robin"},
    {SchedulerKind::LeastConn, "least_conn"},
    {SchedulerKind::Fastest, "fastest"},
};

std::string scheduler_list() {
  std::string out;
  for (size_t i = 0; i < std::size(kSchedulers); ++i) {
    if (i > 0) out += i + 1 == std::size(kSchedulers) ? " or " : ", ";
    out += std::string("\"") + kSchedulers[i].second + "\"";
  }
  return out;
}

}  // namespace

const char* scheduler_name(SchedulerKind s) {
  for (const auto& [kind, name] : kSchedulers) {
    if (kind == s) return name;
  }
  return "?";
}

bool is_consistent(SchedulerKind s) { return s == SchedulerKind::Maglev || s == SchedulerKind::MaglevBounded; }

void parse_scheduling(Section& v, Scheduling& out) {
  if (auto text = v.string("scheduler")) {
    auto it = std::find_if(std::begin(kSchedulers), std::end(kSchedulers), [&](const auto& e) { return *text == e.second; });
    if (it == std::end(kSchedulers)) v.error("scheduler", "\"" + *text + "\" is not a scheduler: use " + scheduler_list());
    else out.scheduler = it->first;
  }
  if (auto factor = v.integer("balance_factor", 100, 1000)) {
    out.balance_factor = static_cast<uint32_t>(*factor);
    if (v.has("scheduler") && out.scheduler != SchedulerKind::MaglevBounded) {
      v.error("balance_factor", "is only used by scheduler = \"maglev_bounded\" (the percentage of the mean load "
                                "a backend may hold); remove it or change the scheduler");
    }
    if (!v.has("scheduler")) {
      v.error("balance_factor", "is only used by scheduler = \"maglev_bounded\", and this VIP uses the default "
                                "\"maglev\"; add scheduler = \"maglev_bounded\" or remove balance_factor");
    }
  }
  if (auto policy = v.string("on_full")) {
    if (*policy == "drop") out.on_full = OnFull::Drop;
    else if (*policy == "reset") out.on_full = OnFull::Reset;
    else v.error("on_full", "\"" + *policy + "\" is not a policy: use \"drop\" or \"reset\"");
  }
  if (auto retries = v.integer("connect_retries", 0, 3)) out.connect_retries = static_cast<uint32_t>(*retries);
  if (auto ramp = v.integer("slow_start_s", 0, 3600)) out.slow_start_s = static_cast<uint32_t>(*ramp);
  if (auto p = v.table("passive")) {
    if (auto n = p->integer("consecutive_failures", 0, 1000)) out.passive.consecutive_failures = static_cast<uint32_t>(*n);
    if (auto pct = p->integer("max_ejected_percent", 0, 100)) out.passive.max_ejected_percent = static_cast<uint32_t>(*pct);
    p->finish();
  }
}

void parse_backend_limits(Section& b, BackendLimits& out) {
  if (auto n = b.integer("max_connections", 0, 100'000'000)) out.max_connections = static_cast<uint32_t>(*n);
  if (auto rate = b.integer("max_new_conn_rate", 0, 1'000'000'000)) out.max_new_conn_rate = static_cast<uint32_t>(*rate);
  if (auto burst = b.integer("new_conn_burst", 1, 1'000'000'000)) {
    out.new_conn_burst = static_cast<uint32_t>(*burst);
    if (!b.has("max_new_conn_rate")) {
      b.error("new_conn_burst", "has no effect without max_new_conn_rate (the rate it is the burst of)");
    }
  }
  if (out.max_new_conn_rate != 0 && out.new_conn_burst == 0) out.new_conn_burst = std::max<uint32_t>(1, out.max_new_conn_rate / 10);
}

}  // namespace fulcrum::config
