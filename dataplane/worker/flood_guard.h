// A worker's flood defences on the new-flow path (docs/dataplane.md, "Under attack"):
//
//  * Per-VIP SYN token buckets ([[vip]] max_new_conn_rate / new_conn_burst): the data
//    plane's TokenBucket (rte_meter), each worker metering its RSS share.
//  * The new-flow rate breaker ([dataplane] new_flow_breaker_rate, per worker; Katran's
//    is 125,000/s per core): counted in 100 ms windows; once a window passes a tenth of
//    the rate the breaker trips, and it stays tripped until a whole window stays below.
//    While tripped, new nat flows get no entry (forwarded statelessly both ways) and VIPs
//    with synproxy = "auto" answer SYNs with cookies.
//
// Worker-local, no atomics except the published "tripped" gauge.
#pragma once

#include <cstdint>

#include "dataplane/abi/status.h"
#include "dataplane/abi/tables.h"
#include "dataplane/worker/token_bucket.h"

namespace fulcrum::dp {

class FloodGuard {
 public:
  static constexpr uint32_t kWindowMs = 100;

  FloodGuard(uint32_t workers, uint32_t breaker_rate, abi::WorkerStatus& status);

  // Whether `vip` admits one more SYN at `now_tsc` (always, without a configured rate).
  bool admit_syn(const abi::Vip& vip, uint64_t now_tsc);
  // One more packet on the new-flow path (a flow without an entry towards a VIP).
  void note_new_flow(uint32_t now_ms);
  // Between bursts: ends a trip once a window passed without reaching the limit.
  void tick(uint32_t now_ms) { roll(now_ms); }
  bool tripped() const { return tripped_; }

 private:
  void roll(uint32_t now_ms);

  uint32_t workers_;
  uint32_t window_limit_;             // new flows per window that trip the breaker; 0: none
  abi::WorkerStatus& status_;
  uint32_t window_ = 0;               // now_ms / kWindowMs of the current window
  uint32_t count_ = 0;                // new flows in it
  bool tripped_ = false;
  TokenBucket meters_[abi::kMaxVips];  // by vip_id
};

}  // namespace fulcrum::dp
