#include "controlplane/metrics/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include "controlplane/metrics/metrics_scheduling.h"
#include "controlplane/service/log.h"

namespace fulcrum::cp {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(const char* name, const char* help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void add(MetricFamily& f, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) m.counter.value = value;
  else m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

class Collector : public prometheus::Collectable {
 public:
  explicit Collector(Service& service) : service_(service) {}

  std::vector<MetricFamily> Collect() const override {
    Service::MetricsSnapshot s = service_.metrics();
    auto counter = [&](abi::WorkerCounter c) { return double(s.dp.counters[static_cast<size_t>(c)]); };
    std::vector<MetricFamily> out;

    MetricFamily packets = family("lb_packets_total", "Packets received (rx) and sent (tx) by the data plane", MetricType::Counter);
    add(packets, counter(abi::WorkerCounter::RxPackets), {{"direction", "rx"}});
    add(packets, counter(abi::WorkerCounter::TxPackets), {{"direction", "tx"}});
    out.push_back(std::move(packets));
    MetricFamily bytes = family("lb_bytes_total", "Bytes received (rx) and sent (tx) by the data plane", MetricType::Counter);
    add(bytes, counter(abi::WorkerCounter::RxBytes), {{"direction", "rx"}});
    add(bytes, counter(abi::WorkerCounter::TxBytes), {{"direction", "tx"}});
    out.push_back(std::move(bytes));
    MetricFamily drops = family("lb_drops_total", "Packets dropped, by reason (see docs/operations.md)", MetricType::Counter);
    for (size_t i = 0; i < abi::kDropReasonCount; ++i) add(drops, double(s.dp.drops[i]), {{"reason", std::string(abi::kDropReasonInfo[i].name)}});
    out.push_back(std::move(drops));
    MetricFamily events = family("lb_dataplane_events_total", "Other data-plane counters, by name", MetricType::Counter);
    for (size_t i = 0; i < abi::kWorkerCounterCount; ++i) add(events, double(s.dp.counters[i]), {{"event", std::string(abi::kWorkerCounterInfo[i].name)}});
    out.push_back(std::move(events));
    MetricFamily fresh = family("lb_new_connections_total", "Connections created, by VIP", MetricType::Counter);
    for (const auto& [vip, n] : s.vip_new_connections) add(fresh, double(n), {{"vip", vip}});
    out.push_back(std::move(fresh));
    MetricFamily active = family("lb_connections_active", "Connections open, by VIP and backend", MetricType::Gauge);
    MetricFamily up = family("lb_backend_up", "1 if the backend passes its health check", MetricType::Gauge);
    MetricFamily flips = family("lb_health_transitions_total", "Health state changes, by VIP and backend", MetricType::Counter);
    for (const auto& b : s.backends) {
      std::vector<ClientMetric::Label> labels{{"vip", b.vip}, {"backend", b.backend}};
      add(active, double(b.active), labels);
      add(up, b.up ? 1.0 : 0.0, labels);
      add(flips, double(b.transitions), labels);
    }
    out.push_back(std::move(active));
    out.push_back(std::move(up));
    out.push_back(std::move(flips));
    MetricFamily entries = family("lb_conntrack_entries", "Connection-table entries in use", MetricType::Gauge);
    add(entries, double(s.dp.conntrack_entries));
    out.push_back(std::move(entries));
    MetricFamily gen = family("lb_table_generation", "Generation of the tables last published", MetricType::Gauge);
    add(gen, double(s.generation));
    out.push_back(std::move(gen));
    MetricFamily age = family("lb_table_age_seconds", "Seconds since the tables were last published", MetricType::Gauge);
    add(age, s.table_age_s);
    out.push_back(std::move(age));
    MetricFamily beat = family("lb_dataplane_heartbeat_age_seconds", "Seconds since the data plane's last heartbeat", MetricType::Gauge);
    add(beat, s.heartbeat_age_s);
    out.push_back(std::move(beat));
    MetricFamily alive = family("lb_dataplane_up", "1 if the data plane is running", MetricType::Gauge);
    add(alive, s.dataplane_alive ? 1.0 : 0.0);
    out.push_back(std::move(alive));
    collect_scheduling(s, out);
    return out;
  }

 private:
  Service& service_;
};

}  // namespace

Expected<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::start(const std::string& address, Service& service) {
  std::unique_ptr<MetricsEndpoint> m(new MetricsEndpoint());
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return unavailable("metrics: cannot listen on " + address + ": " + e.what());
  }
  auto collector = std::make_shared<Collector>(service);
  m->exposer_->RegisterCollectable(collector);
  m->collectable_ = collector;
  log("info", "metrics on http://%s/metrics", address.c_str());
  return m;
}

MetricsEndpoint::~MetricsEndpoint() = default;

int MetricsEndpoint::port() const {
  auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace fulcrum::cp
