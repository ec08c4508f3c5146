// What the data plane counted for one backend, summed over its lcores (the status region's
// per-lcore rows), and the figures its main lcore publishes: what lbctl, the metrics and
// passive health read. Read-only; never writes the status region.
#pragma once

#include <cstdint>

#include "controlplane/service/passive_health.h"
#include "dataplane/abi/status.h"

namespace fulcrum::cp {

struct BackendFigures {
  uint64_t opened = 0;              // connections made
  uint64_t open = 0;                // open now (not closed)
  AttemptCounters attempts;         // answered (SYN-ACK), refused (RST), unanswered
  uint64_t retried_away = 0;        // attempts moved from it to another backend
  uint64_t over_max_connections = 0, over_rate = 0;  // new connections it passed on at a limit
  uint64_t connect_samples = 0, connect_us_sum = 0;
  uint64_t histogram[abi::backend_stat::kHistogramBuckets] = {};  // samples per bucket (not cumulative)
  uint32_t connect_ewma_us = 0;     // the data plane's own figure (what `fastest` uses); 0: none
  uint16_t ramp_permille = 0;       // slow start: share of its weight it has now; 0: all of it
};

BackendFigures backend_figures(const abi::StatusRegion* status, uint16_t backend_id);

}  // namespace fulcrum::cp
