// The scheduling keys of a [[vip]] and its [[vip.backends]] (docs/config.md, "Scheduling";
// docs/scheduling.md says what each scheduler costs and when to use it): how a VIP picks
// the backend of a new connection, how many other backends a failed connection attempt
// may try, when passive health ejects a backend, slow start, and per-backend limits.
//
// Kept apart from lb_config.cpp (which calls parse_scheduling() and parse_backend_limits()
// once each) so that the scheduler's vocabulary lives in one small file.
#pragma once

#include <cstdint>

#include "config/loader/section.h"

namespace fulcrum::config {

enum class SchedulerKind { Maglev, MaglevBounded, RoundRobin, WeightedRoundRobin, LeastConn, Fastest };
enum class OnFull { Drop, Reset };  // every backend at its limits: drop the SYN, or reset the client

// Passive health: what the data plane saw of real connection attempts ([vip.passive]).
struct PassiveHealth {
  uint32_t consecutive_failures = 5;  // refused or unanswered attempts without a success between; 0: off
  uint32_t max_ejected_percent = 50;  // of the VIP's backends that may be ejected at once (rounded down)
  bool operator==(const PassiveHealth&) const = default;
};

struct Scheduling {
  SchedulerKind scheduler = SchedulerKind::Maglev;
  uint32_t balance_factor = 125;      // maglev_bounded: percent of the mean load a backend may hold
  OnFull on_full = OnFull::Drop;
  uint32_t connect_retries = 2;       // other backends a refused or unanswered attempt may try (0 .. 3)
  uint32_t slow_start_s = 0;          // ramp a joining or recovering backend's weight over this; 0: off
  PassiveHealth passive;
  bool operator==(const Scheduling&) const = default;
};

struct BackendLimits {
  uint32_t max_connections = 0;       // 0: no limit
  uint32_t max_new_conn_rate = 0;     // new connections per second; 0: no limit
  uint32_t new_conn_burst = 0;        // bucket depth; 0 with a rate: rate / 10 (at least 1)
  bool operator==(const BackendLimits&) const = default;
};

// "maglev", "maglev_bounded", ...
const char* scheduler_name(SchedulerKind s);
// Whether the scheduler gives the same backend on every node (and after a restart).
bool is_consistent(SchedulerKind s);

// Reads scheduler, balance_factor, on_full, connect_retries, slow_start_s and [vip.passive]
// from a [[vip]] table into `out`, reporting bad values at their key.
void parse_scheduling(Section& vip, Scheduling& out);
// Reads max_connections, max_new_conn_rate and new_conn_burst of a [[vip.backends]] table.
void parse_backend_limits(Section& backend, BackendLimits& out);

}  // namespace fulcrum::config
