#include "controlplane/metrics/metrics.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <limits>
#include <sstream>

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
  else if (f.type == MetricType::Untyped) m.untyped.value = value;
  else m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

// Counters that are packets or bytes are exported by lb_packets_total / lb_bytes_total,
// and new connections by lb_new_connections_total: the events family holds counts of
// events only, so that sum() over it means something.
bool in_events_family(abi::WorkerCounter c) {
  return c != abi::WorkerCounter::RxPackets && c != abi::WorkerCounter::RxBytes && c != abi::WorkerCounter::TxPackets &&
         c != abi::WorkerCounter::TxBytes;
}

}  // namespace

std::string MetricsEndpoint::render(Service& service) {
  Service::MetricsSnapshot s = service.metrics();
  auto counter = [&](abi::WorkerCounter c) { return double(s.dp.counters[static_cast<size_t>(c)]); };
  std::vector<MetricFamily> out;
  auto push = [&](MetricFamily f) { out.push_back(std::move(f)); };

  MetricFamily packets = family("lb_packets_total", "Packets received (rx) and sent (tx) by the data plane", MetricType::Counter);
  add(packets, counter(abi::WorkerCounter::RxPackets), {{"direction", "rx"}});
  add(packets, counter(abi::WorkerCounter::TxPackets), {{"direction", "tx"}});
  push(std::move(packets));
  MetricFamily bytes = family("lb_bytes_total", "Bytes received (rx) and sent (tx) by the data plane", MetricType::Counter);
  add(bytes, counter(abi::WorkerCounter::RxBytes), {{"direction", "rx"}});
  add(bytes, counter(abi::WorkerCounter::TxBytes), {{"direction", "tx"}});
  push(std::move(bytes));
  MetricFamily drops = family("lb_drops_total", "Packets dropped, by reason (see docs/operations.md)", MetricType::Counter);
  for (size_t i = 0; i < abi::kDropReasonCount; ++i) add(drops, double(s.dp.drops[i]), {{"reason", std::string(abi::kDropReasonInfo[i].name)}});
  push(std::move(drops));
  MetricFamily events = family("lb_dataplane_events_total", "Other data-plane events, by name (counts, no bytes)", MetricType::Counter);
  for (size_t i = 0; i < abi::kWorkerCounterCount; ++i) {
    if (in_events_family(static_cast<abi::WorkerCounter>(i))) {
      add(events, double(s.dp.counters[i]), {{"event", std::string(abi::kWorkerCounterInfo[i].name)}});
    }
  }
  push(std::move(events));

  MetricFamily fresh = family("lb_new_connections_total", "Connections created, by VIP", MetricType::Counter);
  MetricFamily vpackets = family("lb_vip_packets_total", "Packets of a VIP's connections, both directions", MetricType::Counter);
  MetricFamily vbytes = family("lb_vip_bytes_total", "Bytes of a VIP's connections, both directions", MetricType::Counter);
  MetricFamily vdrops = family("lb_vip_drops_total", "New-connection packets of a VIP dropped (no_backend, conntrack_full, snat_exhausted, nat_conflict, backends_full)", MetricType::Counter);
  MetricFamily vactive = family("lb_vip_connections_active", "Connections open, by VIP", MetricType::Gauge);
  for (const auto& v : s.vips) {
    add(fresh, double(v.new_connections), {{"vip", v.name}});
    add(vpackets, double(v.traffic.packets), {{"vip", v.name}});
    add(vbytes, double(v.traffic.bytes), {{"vip", v.name}});
    add(vdrops, double(v.drops), {{"vip", v.name}});
    add(vactive, double(v.active), {{"vip", v.name}});
  }
  for (MetricFamily* f : {&fresh, &vpackets, &vbytes, &vdrops, &vactive}) push(std::move(*f));

  MetricFamily active = family("lb_connections_active", "Connections open, by VIP and backend", MetricType::Gauge);
  MetricFamily opened = family("lb_backend_connections_total", "Connections created, by VIP and backend", MetricType::Counter);
  MetricFamily bpackets = family("lb_backend_packets_total", "Packets of a backend's connections, both directions", MetricType::Counter);
  MetricFamily bbytes = family("lb_backend_bytes_total", "Bytes of a backend's connections, both directions", MetricType::Counter);
  MetricFamily up = family("lb_backend_up", "1 if the backend is healthy (checks, or forced by an operator) and not in maintenance", MetricType::Gauge);
  MetricFamily drained = family("lb_backend_drained", "1 if the backend is draining (operator or config): no new connections", MetricType::Gauge);
  MetricFamily maint = family("lb_backend_maintenance", "1 if the backend is in maintenance: not checked, no traffic", MetricType::Gauge);
  MetricFamily weight = family("lb_backend_weight", "Effective weight (an operator override, else the configured one)", MetricType::Gauge);
  MetricFamily flips = family("lb_health_transitions_total", "Health state changes, by VIP and backend", MetricType::Counter);
  for (const auto& b : s.backends) {
    std::vector<ClientMetric::Label> labels{{"vip", b.vip}, {"backend", b.backend}, {"name", b.name}};
    add(active, double(b.active), labels);
    add(opened, double(b.opened), labels);
    add(bpackets, double(b.traffic.packets), labels);
    add(bbytes, double(b.traffic.bytes), labels);
    add(up, b.up ? 1.0 : 0.0, labels);
    add(drained, b.drained ? 1.0 : 0.0, labels);
    add(maint, b.maintenance ? 1.0 : 0.0, labels);
    add(weight, double(b.weight), labels);
    add(flips, double(b.transitions), labels);
  }
  for (MetricFamily* f : {&active, &opened, &bpackets, &bbytes, &up, &drained, &maint, &weight, &flips}) push(std::move(*f));

  auto gauge = [&](const char* name, const char* help, double v) {
    MetricFamily f = family(name, help, MetricType::Gauge);
    add(f, v);
    push(std::move(f));
  };
  auto count = [&](const char* name, const char* help, double v) {
    MetricFamily f = family(name, help, MetricType::Counter);
    add(f, v);
    push(std::move(f));
  };
  gauge("lb_conntrack_entries", "Connection-table entries in use", double(s.dp.conntrack_entries));
  gauge("lb_conntrack_capacity", "Connection-table capacity (dataplane.conntrack_entries, rounded)", double(s.conntrack_capacity));
  gauge("lb_table_generation", "Generation of the tables last published", double(s.generation));
  gauge("lb_table_age_seconds", "Seconds since the tables were last published", s.table_age_s);
  gauge("lb_dataplane_heartbeat_age_seconds", "Seconds since the data plane's last heartbeat (+Inf: none seen since it last started or stopped)",
        s.heartbeat_age_s >= 0 ? s.heartbeat_age_s : std::numeric_limits<double>::infinity());
  gauge("lb_dataplane_up", "1 if the data plane is running", s.dataplane_alive ? 1.0 : 0.0);
  count("lb_publishes_total", "Table generations published by this control plane", double(s.publishes));
  count("lb_publish_failures_total", "Publishes that failed (the data plane kept the previous generation)", double(s.publish_failures));
  gauge("lb_publish_last_duration_seconds", "Time the last publish took: Maglev tables, waiting for workers, writing", s.last_publish_ms / 1000.0);
  gauge("lb_config_last_reload_successful", "1 if the last reload was applied (or none was tried), 0 if it was refused", s.last_reload_ok ? 1.0 : 0.0);
  gauge("lb_config_last_reload_timestamp_seconds", "Unix time of the last reload attempt (0: none)", s.last_reload_unix_s);
  gauge("lb_config_file_in_sync", "1 if the config file on disk is the one running, 0 if it changed since it was loaded", s.config_in_sync ? 1.0 : 0.0);
  if (s.xdp_steering) {  // issue 11: what Fulcrum's XDP program did with each frame
    MetricFamily xdp = family("lb_xdp_frames_total", "Frames seen by Fulcrum's XDP program (host_sharing = xdp), by action",
                              MetricType::Counter);
#define FULCRUM_XDP_METRIC(id, name, help) add(xdp, double(s.xdp.by_action[FULCRUM_XDP_##id]), {{"action", name}});
    FULCRUM_XDP_STATS(FULCRUM_XDP_METRIC)
#undef FULCRUM_XDP_METRIC
    push(std::move(xdp));
  }
  // issue 12: this node in a BGP site (docs/deployment.md)
  gauge("lb_node_drained", "1 if the node is drained (lbctl node drain): it announces no VIP", s.node_drained ? 1.0 : 0.0);
  if (s.bgp) {
    MetricFamily announced = family("lb_vip_announced", "1 if BIRD announces the VIP's address for this node", MetricType::Gauge);
    for (const auto& v : s.vips) add(announced, v.announced ? 1.0 : 0.0, {{"vip", v.name}});
    push(std::move(announced));
    gauge("lb_bgp_in_sync", "1 if BIRD took the routes the control plane wants announced now", s.bgp_in_sync ? 1.0 : 0.0);
    gauge("lb_bgp_daemon_up", "1 if BIRD answers on its socket and its configuration includes Fulcrum's file", s.bgp_daemon_up ? 1.0 : 0.0);
  }
  MetricFamily info = family("lb_build_info", "Always 1; the version of lb-controlplane", MetricType::Gauge);
  add(info, 1.0, {{"version", FULCRUM_VERSION}});
  push(std::move(info));

  collect_scheduling(s, out);  // per-backend scheduling figures (metrics_scheduling.cpp)

  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, out);
  return text.str();
}

Expected<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::start(const std::string& address, Service& service) {
  std::unique_ptr<MetricsEndpoint> m(new MetricsEndpoint());
  std::string error;
  m->server_ = HttpServer::start(address, [&service] { return render(service); }, &error);
  if (!m->server_) return unavailable("metrics: " + error);
  log("info", "metrics on http://%s/metrics", address.c_str());
  return m;
}

}  // namespace fulcrum::cp
