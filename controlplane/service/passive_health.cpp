#include "controlplane/service/passive_health.h"

namespace fulcrum::cp {

bool observe_attempts(PassiveState& st, const AttemptCounters& now, uint32_t threshold) {
  if (!st.have_baseline || now.answered < st.last.answered || now.refused < st.last.refused ||
      now.unanswered < st.last.unanswered) {
    st.have_baseline = true;
    st.last = now;
    st.refused = st.unanswered = 0;
    return false;
  }
  const uint64_t ok = now.answered - st.last.answered;
  const uint64_t refused = now.refused - st.last.refused, unanswered = now.unanswered - st.last.unanswered;
  st.last = now;
  if (ok > 0) {
    st.refused = st.unanswered = 0;
    st.cap_logged = false;
    return false;
  }
  st.refused += refused;
  st.unanswered += unanswered;
  return threshold > 0 && st.streak() >= threshold;
}

void eject(PassiveState& st, uint64_t now_ms, uint64_t checks) {
  st.ejected = true;
  st.ejected_ms = now_ms;
  st.checks_at_ejection = checks;
  ++st.ejections;
  st.reason = "ejected: " + std::to_string(st.streak()) + " connection attempts failed in a row (" +
              std::to_string(st.refused) + " refused, " + std::to_string(st.unanswered) + " unanswered)";
  st.refused = st.unanswered = 0;
  st.cap_logged = false;
}

bool may_readmit(const PassiveState& st, uint64_t checks, uint32_t successes_in_a_row, uint32_t rise) {
  if (!st.ejected) return false;
  const uint64_t since = checks - st.checks_at_ejection;
  return since >= rise && successes_in_a_row >= rise;
}

void readmit(PassiveState& st) {
  st.ejected = false;
  st.refused = st.unanswered = 0;
}

uint32_t max_ejected(uint32_t backends, uint32_t percent) {
  return static_cast<uint32_t>(uint64_t{backends} * percent / 100);
}

}  // namespace fulcrum::cp
