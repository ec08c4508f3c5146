// The data plane's one token bucket: DPDK's rte_meter (srTCM with no excess bucket: a
// token is taken while the committed bucket has one). Used for the per-VIP SYN rate
// (FloodGuard) and for the per-backend max_new_conn_rate (the scheduler's limits).
//
// Each worker meters its share: rate and burst are divided by the number of workers
// (rounded up), so that all workers together admit the configured rate when RSS spreads
// clients evenly. Worker-local, no atomics.
#pragma once

#include <rte_meter.h>

#include <cstdint>

namespace fulcrum::dp {

class TokenBucket {
 public:
  // One token at `now_tsc` from a bucket of `rate` per second and depth `burst` (all
  // workers together; `rate` > 0). A changed rate or burst starts again with a full bucket.
  bool take(uint32_t rate, uint32_t burst, uint32_t workers, uint64_t now_tsc);

 private:
  uint32_t rate_ = 0, burst_ = 0;     // as configured, to notice changes
  rte_meter_srtcm_profile profile_;
  rte_meter_srtcm state_;
};

}  // namespace fulcrum::dp
