#include "dataplane/abi/dump.h"

#include <arpa/inet.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dataplane/abi/region.h"

namespace fulcrum::abi {
namespace {

const char* mode_name(uint8_t mode) {
  return mode == static_cast<uint8_t>(ForwardMode::FullNat) ? "fullnat" : "nat";
}

const char* state_name(uint8_t state) {
  switch (static_cast<BackendState>(state)) {
    case BackendState::Active: return "active";
    case BackendState::Draining: return "draining";
    case BackendState::Down: return "down";
    case BackendState::Removed: return "removed";
  }
  return "invalid";
}

std::string age(uint64_t then_ns, uint64_t now_ns) {
  if (then_ns == 0) return "never";
  if (now_ns < then_ns) return "in the future";
  return std::to_string((now_ns - then_ns) / 1'000'000) + " ms ago";
}

void dump_slot(const TableSlot& slot, int index, bool active, std::ostream& out,
               const DumpOptions& options) {
  const SlotHeader& h = slot.hdr;
  uint64_t seq = h.write_seq.load(std::memory_order_acquire);
  out << "slot " << index << (active ? " (active)" : "") << ": generation " << h.generation
      << ", write_seq " << seq << ((seq & 1) ? " (being written)" : "") << ", " << h.vip_count
      << " VIPs, " << h.backend_count << " backends, " << h.maglev_used << " Maglev entries\n";
  if (!active) return;
  uint32_t vips = h.vip_count <= kMaxVips ? h.vip_count : 0;
  for (uint32_t i = 0; i < vips; ++i) {
    const Vip& v = slot.vips[i];
    out << "  vip " << v.vip_id << " " << format_endpoint(v.addr_be, v.port_be) << " tcp "
        << mode_name(v.mode) << " M=" << v.maglev_size << " down_policy="
        << (v.down_policy == static_cast<uint8_t>(DownPolicy::Reset) ? "reset" : "keep");
    if (v.snat_count > 0) {
      out << " snat=";
      for (uint32_t s = 0; s < v.snat_count && s < kMaxSnatAddrs; ++s)
        out << (s ? "," : "") << format_addr(v.snat_addrs_be[s]);
    }
    out << "\n";
    bool in_range = v.backend_first <= kMaxBackends && v.backend_count <= kMaxBackends - v.backend_first &&
                    v.maglev_offset <= kMaglevPoolEntries && v.maglev_size <= kMaglevPoolEntries - v.maglev_offset;
    if (!in_range) {
      out << "    (backend or Maglev range out of bounds)\n";
      continue;
    }
    std::vector<uint32_t> slots_of(v.backend_count, 0);
    for (uint32_t e = 0; e < v.maglev_size; ++e) {
      uint16_t b = slot.maglev[v.maglev_offset + e];
      if (b < v.backend_count) ++slots_of[b];
    }
    for (uint32_t b = 0; b < v.backend_count; ++b) {
      const Backend& be = slot.backends[v.backend_first + b];
      out << "    backend id " << be.id << " " << format_endpoint(be.addr_be, be.port_be)
          << " weight " << be.weight << " " << state_name(be.state) << ", " << slots_of[b]
          << " slots\n";
    }
    if (options.maglev_entries) {
      out << "    maglev[0..]:";
      for (uint32_t e = 0; e < v.maglev_size && e < 32; ++e) out << " " << slot.maglev[v.maglev_offset + e];
      out << "\n";
    }
  }
}

}  // namespace

std::string format_addr(uint32_t addr_be) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &addr_be, buf, sizeof buf);
  return buf;
}

std::string format_endpoint(uint32_t addr_be, uint16_t port_be) {
  return format_addr(addr_be) + ":" + std::to_string(ntohs(port_be));
}

void dump_tables(const TablesRegion& tables, std::ostream& out, const DumpOptions& options) {
  const TablesHeader& h = tables.header;
  uint64_t gen = h.generation.load(std::memory_order_acquire);
  out << "tables region: ABI " << h.abi_version << ", " << h.region_size << " bytes, generation " << gen
      << ", published " << age(h.publish_monotonic_ns.load(), monotonic_ns()) << " by pid "
      << h.writer_pid.load() << "\n";
  for (int s = 0; s < 2; ++s) dump_slot(tables.slots[s], s, gen != 0 && (gen & 1) == static_cast<uint64_t>(s), out, options);
}

void dump_status(const StatusRegion& status, std::ostream& out, const DumpOptions& options) {
  const StatusHeader& h = status.header;
  out << "status region: ABI " << h.abi_version << ", data plane pid " << h.pid.load() << ", start #"
      << h.start_count.load() << ", heartbeat " << age(h.heartbeat_monotonic_ns.load(), monotonic_ns())
      << ", " << h.worker_count.load() << " workers, conntrack capacity " << h.conntrack_capacity.load()
      << "\n";
  const uint32_t in_use = std::min(h.worker_count.load(), kMaxWorkers);  // the workers, then the main lcore
  for (uint32_t w = 0; w < in_use; ++w) {
    const WorkerStatus& ws = status.workers[w];
    const bool main = ws.role == static_cast<uint32_t>(WorkerRole::Main);
    out << "  " << (main ? "main" : "worker") << " " << w << " lcore " << ws.lcore_id
        << (ws.online.load() ? " online" : " offline (idle or stopped)")
        << ", generation " << ws.seen_generation.load() << ", " << ws.conntrack_entries.load()
        << " entries\n";
    for (size_t c = 0; c < kWorkerCounterCount; ++c) {
      uint64_t v = ws.counters[c].get();
      if (v != 0 || options.zero_counters) out << "    " << kWorkerCounterInfo[c].name << " " << v << "\n";
    }
    for (size_t d = 0; d < kDropReasonCount; ++d) {
      uint64_t v = ws.drops[d].get();
      if (v != 0 || options.zero_counters) out << "    drop " << kDropReasonInfo[d].name << " " << v << "\n";
    }
  }
}

}  // namespace fulcrum::abi
