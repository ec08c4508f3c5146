// Passive health (outlier detection): ejecting a backend because of what the data plane saw
// of real connection attempts, not of health checks. Pure logic, tested without a data plane.
//
// The data plane counts, per backend, SYN-ACKs (attempts answered), RSTs answering a SYN
// (refused) and attempts never answered (moved elsewhere after the client's retransmission,
// or expired). The control plane samples the sums on every tick (200 ms) and keeps a streak
// of failures with no success in between; a streak of `consecutive_failures` ejects the
// backend (Envoy's consecutive connection failures, DPVS's dest-check), unless the VIP
// already has max_ejected_percent of its backends ejected, so that a broken network path
// (every backend failing) cannot empty a VIP. An ejected backend comes back through its
// active check: `rise` checks made since the ejection, all successful. (The check itself
// is left alone: it may be shared with the same backend in other VIPs.)
//
// A tick that saw both successes and failures cannot order them; it resets the streak
// (the backend answered some attempts), so a backend refusing a fraction of attempts is
// not ejected: that is what "consecutive" means at a 200 ms resolution.
#pragma once

#include <cstdint>
#include <string>

namespace fulcrum::cp {

// Sums over the data plane's lcores, monotonic while the data plane runs.
struct AttemptCounters {
  uint64_t answered = 0;     // SYN-ACKs
  uint64_t refused = 0;      // RSTs answering a SYN
  uint64_t unanswered = 0;   // never answered
};

struct PassiveState {
  bool ejected = false;
  uint64_t ejected_ms = 0;
  uint64_t checks_at_ejection = 0;  // the active check's completed checks then (TargetStatus::checks)
  uint64_t ejections = 0;        // times ejected since the control plane started
  std::string reason;            // why it was last ejected
  // The streak.
  bool have_baseline = false;
  AttemptCounters last;
  uint64_t refused = 0, unanswered = 0;  // failures in the current streak
  bool cap_logged = false;       // "would eject but the cap is reached" said once per streak
  uint64_t streak() const { return refused + unanswered; }
};

// Takes one sample. Returns true when the streak has reached `threshold` (> 0): the caller
// ejects the backend if the cap allows. Counters that went backwards (the data plane
// restarted) start a new baseline.
bool observe_attempts(PassiveState& st, const AttemptCounters& now, uint32_t threshold);

// Marks the backend ejected and says why; the streak starts again. `checks`: the active
// check's completed checks now.
void eject(PassiveState& st, uint64_t now_ms, uint64_t checks);
// Whether an ejected backend's active check has passed `rise` checks in a row since.
bool may_readmit(const PassiveState& st, uint64_t checks, uint32_t successes_in_a_row, uint32_t rise);
// Back through the active checks.
void readmit(PassiveState& st);

// How many of a VIP's `backends` may be ejected at once with `percent` (rounded down).
uint32_t max_ejected(uint32_t backends, uint32_t percent);

}  // namespace fulcrum::cp
