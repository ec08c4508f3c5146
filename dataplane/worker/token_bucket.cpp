#include "dataplane/worker/token_bucket.h"

#include <algorithm>

namespace fulcrum::dp {

bool TokenBucket::take(uint32_t rate, uint32_t burst, uint32_t workers, uint64_t now_tsc) {
  if (rate_ != rate || burst_ != burst) {
    workers = std::max<uint32_t>(workers, 1);
    rte_meter_srtcm_params params{};
    params.cir = (rate + workers - 1) / workers;
    params.cbs = (std::max<uint32_t>(burst, 1) + workers - 1) / workers;
    params.ebs = 0;
    if (rte_meter_srtcm_profile_config(&profile_, &params) != 0 || rte_meter_srtcm_config(&state_, &profile_) != 0) {
      return true;  // cannot happen with cir, cbs > 0; never block on it
    }
    state_.time = now_tsc;
    rate_ = rate;
    burst_ = burst;
  }
  return rte_meter_srtcm_color_blind_check(&state_, &profile_, now_tsc, 1) == RTE_COLOR_GREEN;
}

}  // namespace fulcrum::dp
