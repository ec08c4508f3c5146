#include "controlplane/service/dataplane_link.h"

#include "dataplane/abi/publish.h"

namespace fulcrum::cp {

DataplaneLink::DataplaneLink(std::string tables_name, std::string status_name, std::chrono::milliseconds publish_timeout)
    : tables_name_(std::move(tables_name)), status_name_(std::move(status_name)) {
  options_.quiesce_timeout = publish_timeout;
}

std::string DataplaneLink::open_tables() {
  bool created = false;
  std::string error;
  if (!abi::create_tables(tables_name_, &tables_, &created, &error)) return error;
  writer_ = std::make_unique<abi::TablesWriter>(abi::tables_of(tables_), options_);
  refresh_status();
  return "";
}

const abi::TableSlot* DataplaneLink::active_slot() const {
  if (!tables_.valid()) return nullptr;
  const abi::TablesRegion& t = abi::tables_of(tables_);
  uint64_t g = t.header.generation.load(std::memory_order_acquire);
  return g == 0 ? nullptr : &t.slots[g & 1];
}

PublishOutcome DataplaneLink::publish(const TableSpec& spec) {
  writer_->set_status(status());
  return publish_tables(*writer_, spec);
}

uint64_t DataplaneLink::generation() const { return writer_ ? writer_->generation() : 0; }

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
  if (restarted) last_start_count_ = start;
  return restarted;
}

bool DataplaneLink::dataplane_alive() const {
  return status() != nullptr && abi::dataplane_alive(*status(), std::chrono::milliseconds(1000));
}

uint64_t DataplaneLink::heartbeat_age_ms() const {
  if (status() == nullptr) return 0;
  uint64_t beat = status()->header.heartbeat_monotonic_ns.load();
  return beat == 0 ? 0 : (abi::monotonic_ns() - beat) / 1'000'000;
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

uint64_t DataplaneLink::vip_new_connections(uint16_t id) const {
  if (status() == nullptr || id >= abi::kMaxVips) return 0;
  uint64_t n = 0;
  for (const abi::WorkerStatus& w : status()->workers) n += w.vip_new_connections[id].get();
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

}  // namespace fulcrum::cp
