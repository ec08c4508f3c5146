#include "dataplane/worker/flood_guard.h"

#include <algorithm>

namespace fulcrum::dp {

FloodGuard::FloodGuard(uint32_t workers, uint32_t breaker_rate, abi::WorkerStatus& status)
    : workers_(workers == 0 ? 1 : workers),
      window_limit_(breaker_rate == 0 ? 0 : (breaker_rate * uint64_t{kWindowMs} + 999) / 1000),
      status_(status) {}

bool FloodGuard::admit_syn(const abi::Vip& vip, uint64_t now_tsc) {
  if (vip.new_conn_rate == 0) return true;
  Meter& m = meters_[vip.vip_id % abi::kMaxVips];
  if (m.rate != vip.new_conn_rate || m.burst != vip.new_conn_burst) {
    // A new rate (or a new VIP on this id): this worker's share of it, a full bucket.
    rte_meter_srtcm_params params{};
    params.cir = (vip.new_conn_rate + workers_ - 1) / workers_;
    params.cbs = (std::max<uint32_t>(vip.new_conn_burst, 1) + workers_ - 1) / workers_;
    params.ebs = 0;
    if (rte_meter_srtcm_profile_config(&m.profile, &params) != 0 || rte_meter_srtcm_config(&m.state, &m.profile) != 0) {
      return true;  // cannot happen with cir, cbs > 0; never block a VIP on it
    }
    m.state.time = now_tsc;
    m.rate = vip.new_conn_rate;
    m.burst = vip.new_conn_burst;
  }
  return rte_meter_srtcm_color_blind_check(&m.state, &m.profile, now_tsc, 1) == RTE_COLOR_GREEN;
}

void FloodGuard::roll(uint32_t now_ms) {
  uint32_t window = now_ms / kWindowMs;
  if (window == window_) return;
  // A window that stayed below the limit (or several windows without any new flow) resets.
  bool still = window == window_ + 1 && count_ > window_limit_;
  window_ = window;
  count_ = 0;
  if (tripped_ && !still) {
    tripped_ = false;
    status_.breaker_tripped.store(0, std::memory_order_relaxed);
  }
}

void FloodGuard::note_new_flow(uint32_t now_ms) {
  if (window_limit_ == 0) return;
  roll(now_ms);
  if (++count_ > window_limit_ && !tripped_) {
    tripped_ = true;
    status_.breaker_tripped.store(1, std::memory_order_relaxed);
    status_.counters[static_cast<size_t>(abi::WorkerCounter::BreakerTrips)].add(1);
  }
}

}  // namespace fulcrum::dp
