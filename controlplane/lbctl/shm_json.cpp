#include "controlplane/lbctl/shm_json.h"

#include <arpa/inet.h>

#include "config/loader/ip_addr.h"
#include "config/loader/net_parse.h"
#include "dataplane/abi/dump.h"
#include "dataplane/abi/region.h"

namespace fulcrum::lbctl {

using nlohmann::json;

namespace {

// issue 15: addresses of either family as the tables hold them: an IPv6 VIP's address and
// SNAT pool in vip6[], IPv6 backends' addresses in backend_addr6[]; printed "[v6]:port".
std::string endpoint6(const abi::Ip6& a, uint16_t port_be) {
  return config::endpoint_str(config::IpAddr::from_v6(a), ntohs(port_be));
}

std::string vip_endpoint(const abi::TableSlot& slot, uint32_t i) {
  const abi::Vip& v = slot.vips[i];
  if (v.family == static_cast<uint8_t>(abi::Family::Ipv6)) return endpoint6(slot.vip6[i].addr, v.port_be);
  return abi::format_endpoint(v.addr_be, v.port_be);
}

json snat_json(const abi::TableSlot& slot, uint32_t i) {
  const abi::Vip& v = slot.vips[i];
  const bool v6 = v.backend_family == static_cast<uint8_t>(abi::Family::Ipv6);
  json snat = json::array();
  for (uint32_t s = 0; s < v.snat_count && s < abi::kMaxSnatAddrs; ++s) {
    snat.push_back(v6 ? config::ipv6_str(slot.vip6[i].snat[s]) : abi::format_addr(v.snat_addrs_be[s]));
  }
  return snat;
}

std::string backend_endpoint(const abi::TableSlot& slot, const abi::Vip& v, uint32_t pos) {
  const abi::Backend& be = slot.backends[pos];
  if (v.backend_family == static_cast<uint8_t>(abi::Family::Ipv6)) return endpoint6(slot.backend_addr6[pos], be.port_be);
  return abi::format_endpoint(be.addr_be, be.port_be);
}

}  // namespace

json tables_json(const abi::TablesRegion& t, bool maglev) {
  uint64_t g = t.header.generation.load(std::memory_order_acquire);
  uint64_t at = t.header.publish_monotonic_ns.load();
  json out{{"generation", g},
           {"abi_version", t.header.abi_version},
           {"writer_pid", t.header.writer_pid.load()},
           {"published_ago_ms", at == 0 ? json(nullptr) : json((abi::monotonic_ns() - at) / 1'000'000)}};
  json slots = json::array();
  for (int i = 0; i < 2; ++i) {
    const abi::SlotHeader& h = t.slots[i].hdr;
    slots.push_back({{"slot", i}, {"active", g != 0 && (g & 1) == uint64_t(i)}, {"generation", h.generation},
                     {"write_seq", h.write_seq.load()}, {"vips", h.vip_count}, {"backends", h.backend_count},
                     {"maglev_used", h.maglev_used}});
  }
  out["slots"] = slots;
  json vips = json::array();
  if (g != 0) {
    const abi::TableSlot& slot = t.slots[g & 1];
    for (uint32_t i = 0; i < std::min(slot.hdr.vip_count, abi::kMaxVips); ++i) {
      const abi::Vip& v = slot.vips[i];
      json snat = snat_json(slot, i);
      json backends = json::array();
      bool in_range = v.backend_first <= abi::kMaxBackends && v.backend_count <= abi::kMaxBackends - v.backend_first &&
                      v.maglev_offset <= abi::kMaglevPoolEntries && v.maglev_size <= abi::kMaglevPoolEntries - v.maglev_offset;
      std::vector<uint32_t> slots_of(in_range ? v.backend_count : 0, 0);
      if (in_range) {
        for (uint32_t e = 0; e < v.maglev_size; ++e) {
          uint16_t b = slot.maglev[v.maglev_offset + e];
          if (b < v.backend_count) ++slots_of[b];
        }
        for (uint32_t b = 0; b < v.backend_count; ++b) {
          const abi::Backend& be = slot.backends[v.backend_first + b];
          static const char* kState[] = {"active", "draining", "down", "removed"};
          backends.push_back({{"id", be.id}, {"backend", backend_endpoint(slot, v, v.backend_first + b)}, {"weight", be.weight},
                              {"state", be.state < 4 ? kState[be.state] : "invalid"}, {"slots", slots_of[b]}});
        }
      }
      json vj{{"id", v.vip_id}, {"vip", vip_endpoint(slot, i)},
              {"mode", v.mode == static_cast<uint8_t>(abi::ForwardMode::FullNat) ? "fullnat" : "nat"},
              {"maglev_size", v.maglev_size}, {"down_policy", v.down_policy == 1 ? "reset" : "keep"}, {"snat", snat},
              {"backends", backends}, {"in_range", in_range}};
      if (maglev && in_range) vj["maglev"] = std::vector<uint16_t>(slot.maglev + v.maglev_offset, slot.maglev + v.maglev_offset + v.maglev_size);
      vips.push_back(vj);
    }
  }
  out["vips"] = vips;
  return out;
}

json status_json(const abi::StatusRegion& s, bool zeros) {
  uint64_t beat = s.header.heartbeat_monotonic_ns.load(), now = abi::monotonic_ns();
  json out{{"pid", s.header.pid.load()},
           {"start_count", s.header.start_count.load()},
           {"heartbeat_age_ms", beat == 0 ? json(nullptr) : json(now > beat ? (now - beat) / 1'000'000 : 0)},
           {"lcores", s.header.worker_count.load()},
           {"conntrack_capacity", s.header.conntrack_capacity.load()}};
  json workers = json::array();
  uint32_t n = std::min(s.header.worker_count.load(), abi::kMaxWorkers);
  for (uint32_t i = 0; i < n; ++i) {
    const abi::WorkerStatus& w = s.workers[i];
    json counters = json::object(), drops = json::object();
    for (size_t c = 0; c < abi::kWorkerCounterCount; ++c) {
      if (zeros || w.counters[c].get() != 0) counters[std::string(abi::kWorkerCounterInfo[c].name)] = w.counters[c].get();
    }
    for (size_t d = 0; d < abi::kDropReasonCount; ++d) {
      if (zeros || w.drops[d].get() != 0) drops[std::string(abi::kDropReasonInfo[d].name)] = w.drops[d].get();
    }
    workers.push_back({{"index", i}, {"lcore", w.lcore_id}, {"role", w.role == 1 ? "main" : "worker"},
                       {"online", w.online.load() != 0}, {"generation", w.seen_generation.load()},
                       {"conntrack_entries", w.conntrack_entries.load()}, {"counters", counters}, {"drops", drops}});
  }
  out["lcores_detail"] = workers;
  return out;
}

}  // namespace fulcrum::lbctl
