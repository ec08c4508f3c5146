#include "dataplane/worker/flood_guard.h"

namespace fulcrum::dp {

FloodGuard::FloodGuard(uint32_t workers, uint32_t breaker_rate, abi::WorkerStatus& status)
    : workers_(workers == 0 ? 1 : workers),
      window_limit_(breaker_rate == 0 ? 0 : (breaker_rate * uint64_t{kWindowMs} + 999) / 1000),
      status_(status) {}

bool FloodGuard::admit_syn(const abi::Vip& vip, uint64_t now_tsc) {
  if (vip.new_conn_rate == 0) return true;
  return meters_[vip.vip_id % abi::kMaxVips].take(vip.new_conn_rate, vip.new_conn_burst, workers_, now_tsc);
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
