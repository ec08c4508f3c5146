// The scheduling metric families (docs/operations.md, "Metrics"): per backend, open
// connections, connection attempts by result, the SYN->SYN-ACK time (histogram and the
// data plane's EWMA), retries, limit overflows, passive-health ejections, slow start.
#pragma once

#include <prometheus/metric_family.h>

#include <vector>

#include "controlplane/service/service.h"

namespace fulcrum::cp {

void collect_scheduling(const Service::MetricsSnapshot& s, std::vector<prometheus::MetricFamily>& out);

}  // namespace fulcrum::cp
