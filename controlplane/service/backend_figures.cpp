#include "controlplane/service/backend_figures.h"

#include <algorithm>

namespace fulcrum::cp {

namespace stat = abi::backend_stat;

BackendFigures backend_figures(const abi::StatusRegion* s, uint16_t id) {
  BackendFigures f;
  if (s == nullptr || id >= abi::kMaxBackends) return f;
  // Only the rows of lcores the data plane has: the others were never written (and reading
  // them would make tmpfs allocate their pages).
  const uint32_t lcores = std::min<uint32_t>(s->header.worker_count.load(std::memory_order_relaxed), abi::kMaxWorkers);
  int64_t open = 0;
  for (uint32_t w = 0; w < lcores; ++w) {
    const abi::Counter* c = s->backend_stats[w][id].c;
    const uint64_t opened = s->workers[w].backend_opened[id].get();
    f.opened += opened;
    open += static_cast<int64_t>(opened) - static_cast<int64_t>(c[stat::kFinished].get()) + static_cast<int64_t>(c[stat::kRevived].get());
    f.attempts.answered += c[stat::kSynAcks].get();
    f.attempts.refused += c[stat::kRefused].get();
    f.attempts.unanswered += c[stat::kUnanswered].get();
    f.retried_away += c[stat::kRetriedAway].get();
    f.over_max_connections += c[stat::kOverMaxConnections].get();
    f.over_rate += c[stat::kOverRate].get();
    f.connect_samples += c[stat::kConnectSamples].get();
    f.connect_us_sum += c[stat::kConnectUsSum].get();
    for (uint32_t b = 0; b < stat::kHistogramBuckets; ++b) f.histogram[b] += c[stat::kHistogram + b].get();
  }
  f.open = open > 0 ? static_cast<uint64_t>(open) : 0;
  f.connect_ewma_us = s->backend_live[id].connect_ewma_us.load(std::memory_order_relaxed);
  f.ramp_permille = s->backend_live[id].ramp_permille.load(std::memory_order_relaxed);
  return f;
}

}  // namespace fulcrum::cp
