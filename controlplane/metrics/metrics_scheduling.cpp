#include "controlplane/metrics/metrics_scheduling.h"

#include <limits>

namespace fulcrum::cp {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

MetricFamily family(const char* name, const char* help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void add(MetricFamily& f, double value, Labels labels) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) m.counter.value = value;
  else m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

}  // namespace

void collect_scheduling(const Service::MetricsSnapshot& s, std::vector<MetricFamily>& out) {
  namespace stat = abi::backend_stat;
  MetricFamily open = family("lb_backend_open_connections", "Connections open (not closed), by VIP and backend: what least_conn weighs", MetricType::Gauge);
  MetricFamily attempts = family("lb_backend_connect_attempts_total",
                                 "Connection attempts by the backend's answer: answered (SYN-ACK), refused (RST), unanswered", MetricType::Counter);
  MetricFamily retries = family("lb_backend_retries_total", "Connection attempts moved from this backend to another (connect_retries)", MetricType::Counter);
  MetricFamily overflows = family("lb_backend_limit_overflows_total",
                                  "New connections passed from this backend to another at a limit", MetricType::Counter);
  MetricFamily ewma = family("lb_backend_connect_time_ewma_seconds", "SYN to SYN-ACK time, the data plane's EWMA (what fastest weighs)", MetricType::Gauge);
  MetricFamily hist = family("lb_backend_connect_time_seconds", "SYN to SYN-ACK time, sampled", MetricType::Histogram);
  MetricFamily ejections = family("lb_backend_ejections_total", "Times passive health ejected the backend", MetricType::Counter);
  MetricFamily passive = family("lb_backend_passive_down", "1 while passive health keeps the backend out", MetricType::Gauge);
  MetricFamily ramp = family("lb_backend_slow_start_ratio", "Share of its weight the backend has (slow start; 1 when not ramping)", MetricType::Gauge);
  for (const Service::BackendScheduling& b : s.scheduling) {
    const BackendFigures& f = b.figures;
    Labels labels{{"vip", b.vip}, {"backend", b.backend}};
    auto with = [&](const char* name, const char* value) {
      Labels l = labels;
      l.push_back({name, value});
      return l;
    };
    add(open, double(f.open), labels);
    add(attempts, double(f.attempts.answered), with("result", "answered"));
    add(attempts, double(f.attempts.refused), with("result", "refused"));
    add(attempts, double(f.attempts.unanswered), with("result", "unanswered"));
    add(retries, double(f.retried_away), labels);
    add(overflows, double(f.over_max_connections), with("limit", "max_connections"));
    add(overflows, double(f.over_rate), with("limit", "max_new_conn_rate"));
    add(ewma, double(f.connect_ewma_us) / 1e6, labels);
    ClientMetric h;
    h.label = labels;
    h.histogram.sample_count = f.connect_samples;
    h.histogram.sample_sum = double(f.connect_us_sum) / 1e6;
    uint64_t cumulative = 0;
    for (uint32_t k = 0; k < stat::kHistogramBuckets; ++k) {
      cumulative += f.histogram[k];
      h.histogram.bucket.push_back({cumulative, double(stat::kConnectBucketUs[k]) / 1e6});
    }
    h.histogram.bucket.push_back({f.connect_samples, std::numeric_limits<double>::infinity()});
    hist.metric.push_back(std::move(h));
    add(ejections, double(b.ejections), labels);
    add(passive, b.ejected ? 1.0 : 0.0, labels);
    add(ramp, f.ramp_permille == 0 ? 1.0 : f.ramp_permille / 1000.0, labels);
  }
  for (MetricFamily* f : {&open, &attempts, &retries, &overflows, &ewma, &hist, &ejections, &passive, &ramp}) {
    out.push_back(std::move(*f));
  }
}

}  // namespace fulcrum::cp
