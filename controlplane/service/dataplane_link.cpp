#include "controlplane/service/dataplane_link.h"

#include "dataplane/abi/publish.h"

namespace fulcrum::cp {

DataplaneLink::DataplaneLink(std::string tables_name, std::string status_name)
    : tables_name_(std::move(tables_name)), status_name_(std::move(status_name)) {}

std::string DataplaneLink::open_tables() {
  bool created = false;
  std::string error;
  if (!abi::create_tables(tables_name_, &tables_, &created, &error)) return error;
  refresh_status();
  return "";
}

const abi::TableSlot* DataplaneLink::active_slot() const {
  if (!tables_.valid()) return nullptr;
  const abi::TablesRegion& t = abi::tables_of(tables_);
  uint64_t g = t.header.generation.load(std::memory_order_acquire);
  return g == 0 ? nullptr : &t.slots[g & 1];
}

uint64_t DataplaneLink::generation() const {
  return tables_.valid() ? abi::tables_of(tables_).header.generation.load(std::memory_order_acquire) : 0;
}

uint64_t DataplaneLink::table_age_ms() const {
  if (!tables_.valid()) return 0;
  uint64_t at = abi::tables_of(tables_).header.publish_monotonic_ns.load();
  return at == 0 ? 0 : (abi::monotonic_ns() - at) / 1'000'000;
}

bool DataplaneLink::refresh_status() {
  if (!status_.valid() || !status_.still_named(status_name_)) {
    abi::Mapping m;
    std::string error;
    if (!abi::open_status(status_name_, abi::Access::ReadOnly, &m, &error)) {
      status_ = abi::Mapping();
      return false;
    }
    status_ = std::move(m);
  }
  uint64_t start = abi::status_of(status_).header.start_count.load();
  bool restarted = start != last_start_count_ && dataplane_alive();
  if (restarted) {
    last_start_count_ = start;
    conns_ = abi::Mapping();  // the new data plane made a new sampling region
  }
  return restarted;
}

bool DataplaneLink::dataplane_alive() const {
  return status() != nullptr && abi::dataplane_alive(*status(), std::chrono::milliseconds(1000));
}

std::optional<uint64_t> DataplaneLink::heartbeat_age_ms() const {
  if (status() == nullptr) return std::nullopt;
  uint64_t beat = status()->header.heartbeat_monotonic_ns.load();
  if (beat == 0) return std::nullopt;  // a data plane stopped cleanly clears it
  uint64_t now = abi::monotonic_ns();
  return now > beat ? (now - beat) / 1'000'000 : 0;
}

DataplaneCounters DataplaneLink::counters() const {
  DataplaneCounters c;
  if (status() == nullptr) return c;
  for (const abi::WorkerStatus& w : status()->workers) {
    for (size_t i = 0; i < abi::kWorkerCounterCount; ++i) c.counters[i] += w.counters[i].get();
    for (size_t i = 0; i < abi::kDropReasonCount; ++i) c.drops[i] += w.drops[i].get();
    c.conntrack_entries += w.conntrack_entries.load(std::memory_order_relaxed);
  }
  return c;
}

uint64_t DataplaneLink::active_connections(uint16_t id) const {
  if (status() == nullptr || id >= abi::kMaxBackends) return 0;
  uint64_t opened = 0, closed = 0;
  for (const abi::WorkerStatus& w : status()->workers) {
    opened += w.backend_opened[id].get();
    closed += w.backend_closed[id].get();
  }
  return opened > closed ? opened - closed : 0;
}

uint64_t DataplaneLink::opened_connections(uint16_t id) const {
  if (status() == nullptr || id >= abi::kMaxBackends) return 0;
  uint64_t opened = 0;
  for (const abi::WorkerStatus& w : status()->workers) opened += w.backend_opened[id].get();
  return opened;
}

Traffic DataplaneLink::backend_traffic(uint16_t id) const {
  Traffic t;
  if (status() == nullptr || id >= abi::kMaxBackends) return t;
  for (const abi::WorkerStatus& w : status()->workers) {
    t.packets += w.backend_traffic[id].packets.get();
    t.bytes += w.backend_traffic[id].bytes.get();
  }
  return t;
}

uint64_t DataplaneLink::vip_new_connections(uint16_t id) const {
  if (status() == nullptr || id >= abi::kMaxVips) return 0;
  uint64_t n = 0;
  for (const abi::WorkerStatus& w : status()->workers) n += w.vip_new_connections[id].get();
  return n;
}

uint64_t DataplaneLink::vip_drops(uint16_t id) const {
  if (status() == nullptr || id >= abi::kMaxVips) return 0;
  uint64_t n = 0;
  for (const abi::WorkerStatus& w : status()->workers) n += w.vip_drops[id].get();
  return n;
}

uint64_t DataplaneLink::generation_in_use() const {
  if (!dataplane_alive()) return 0;
  uint64_t lowest = 0;
  for (const abi::WorkerStatus& w : status()->workers) {
    if (w.online.load() == 0) continue;
    uint64_t g = w.seen_generation.load();
    if (lowest == 0 || g < lowest) lowest = g;
  }
  return lowest;
}

std::vector<LcoreInfo> DataplaneLink::lcores() const {
  std::vector<LcoreInfo> out;
  if (status() == nullptr) return out;
  uint32_t n = std::min(status()->header.worker_count.load(), abi::kMaxWorkers);
  uint64_t now = abi::monotonic_ns();
  for (uint32_t i = 0; i < n; ++i) {
    const abi::WorkerStatus& w = status()->workers[i];
    LcoreInfo l;
    l.index = i;
    l.lcore = w.lcore_id;
    l.main = w.role == static_cast<uint32_t>(abi::WorkerRole::Main);
    l.online = w.online.load() != 0;
    l.generation = w.seen_generation.load();
    uint64_t loop = w.loop_monotonic_ns.load();
    l.loop_age_ms = loop != 0 && now > loop ? (now - loop) / 1'000'000 : 0;
    out.push_back(l);
  }
  return out;
}

std::string DataplaneLink::ask_connections(const ConnFilter& filter, uint64_t* seq) {
  if (!dataplane_alive()) return "the data plane is not running";
  if (!conns_.valid() || !conns_.still_named(abi::conn_sample_name(status_name_))) {
    abi::Mapping m;
    std::string error;
    if (!abi::open_conn_sample(abi::conn_sample_name(status_name_), &m, &error)) {
      return "the data plane offers no connection sampling (" + error + ")";
    }
    conns_ = std::move(m);
  }
  abi::ConnSampleRegion& r = abi::conn_sample_of(conns_);
  r.request.vip_addr_be = filter.vip_addr_be;
  r.request.vip_ipv6 = filter.vip_ipv6 ? 1 : 0;
  r.request.vip_addr6 = filter.vip_addr6;
  r.request.vip_port_be = filter.vip_port_be;
  r.request.backend_id = filter.backend_id;
  r.request.limit = std::min(filter.limit, abi::kConnSampleMax);
  uint64_t next = std::max(r.request.seq.load(), r.response.seq.load()) + 1;
  r.request.seq.store(next, std::memory_order_release);
  *seq = next;
  return "";
}

const abi::ConnSampleRegion* DataplaneLink::answered(uint64_t seq) const {
  if (!conns_.valid()) return nullptr;
  const abi::ConnSampleRegion& r = abi::conn_sample_of(conns_);
  return r.response.seq.load(std::memory_order_acquire) == seq ? &r : nullptr;
}

}  // namespace fulcrum::cp
