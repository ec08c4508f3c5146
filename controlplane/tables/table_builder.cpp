#include "controlplane/tables/table_builder.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "controlplane/maglev/maglev.h"

namespace fulcrum::cp {

bool takes_new_flows(const BackendSpec& b) { return b.state == abi::BackendState::Active && b.weight > 0; }

namespace {

void add_local(std::vector<abi::LocalAddr>& out, uint32_t addr_be, uint8_t kind) {
  for (abi::LocalAddr& a : out) {
    if (a.addr_be == addr_be) {
      a.kind |= kind;
      return;
    }
  }
  out.push_back(abi::LocalAddr{addr_be, kind, {0, 0, 0}});
}

}  // namespace

std::string fill_slot(const TableSpec& spec, abi::TableSlot& slot) {
  if (spec.vips.size() > abi::kMaxVips) return "too many VIPs (" + std::to_string(spec.vips.size()) + ", at most " + std::to_string(abi::kMaxVips) + ")";
  std::memset(slot.vip_index, 0, sizeof slot.vip_index);
  std::memset(slot.backend_flags, 0, sizeof slot.backend_flags);
  std::memset(slot.nat_backend_index, 0, sizeof slot.nat_backend_index);
  std::vector<abi::LocalAddr> locals;
  std::vector<bool> ids_seen(abi::kMaxBackends, false), vip_ids_seen(abi::kMaxVips, false);
  uint32_t nb = 0, nm = 0;
  std::vector<MaglevBackend> maglev_in;
  for (uint32_t v = 0; v < spec.vips.size(); ++v) {
    const VipSpec& vs = spec.vips[v];
    if (vs.vip_id >= abi::kMaxVips || vip_ids_seen[vs.vip_id]) return "VIP id " + std::to_string(vs.vip_id) + " out of range or used twice";
    vip_ids_seen[vs.vip_id] = true;
    if (vs.snat_addrs_be.size() > abi::kMaxSnatAddrs) return "too many SNAT addresses for one VIP";
    if (vs.backends.size() > abi::kMaxBackends - nb) return "too many backends (at most " + std::to_string(abi::kMaxBackends) + " in all)";
    if (vs.maglev_size > abi::kMaglevPoolEntries - nm) return "Maglev tables exceed the pool of " + std::to_string(abi::kMaglevPoolEntries) + " entries";
    abi::Vip& vip = slot.vips[v];
    vip = abi::Vip{};
    vip.addr_be = vs.addr_be;
    vip.port_be = vs.port_be;
    vip.proto = abi::kProtoTcp;
    vip.mode = static_cast<uint8_t>(vs.mode);
    vip.vip_id = vs.vip_id;
    vip.down_policy = static_cast<uint8_t>(vs.down_policy);
    vip.new_conn_rate = vs.new_conn_rate;
    vip.new_conn_burst = vs.new_conn_burst;
    vip.synproxy = static_cast<uint8_t>(vs.synproxy);
    if (static_cast<uint8_t>(vs.scheduler) >= abi::kSchedulerCount) return "VIP " + std::to_string(vs.vip_id) + ": unknown scheduler";
    if (vs.connect_retries > abi::kMaxConnectRetries) return "VIP " + std::to_string(vs.vip_id) + ": connect_retries above " + std::to_string(abi::kMaxConnectRetries);
    vip.scheduler = static_cast<uint8_t>(vs.scheduler);
    vip.balance_factor = std::max<uint16_t>(vs.balance_factor, 100);
    vip.on_full = static_cast<uint8_t>(vs.on_full);
    vip.connect_retries = vs.connect_retries;
    vip.slow_start_ms = vs.slow_start_ms;
    vip.snat_count = static_cast<uint8_t>(vs.snat_addrs_be.size());
    for (size_t s = 0; s < vs.snat_addrs_be.size(); ++s) {
      vip.snat_addrs_be[s] = vs.snat_addrs_be[s];
      add_local(locals, vs.snat_addrs_be[s], abi::local_addr::kSnat);
    }
    add_local(locals, vs.addr_be, abi::local_addr::kVip);
    vip.backend_first = nb;
    vip.backend_count = static_cast<uint32_t>(vs.backends.size());
    vip.maglev_offset = nm;
    vip.maglev_size = vs.maglev_size;
    vip.hash_key[0] = vs.hash_key.k0;
    vip.hash_key[1] = vs.hash_key.k1;
    maglev_in.clear();
    for (const BackendSpec& bs : vs.backends) {
      if (bs.id >= abi::kMaxBackends || ids_seen[bs.id]) return "backend id " + std::to_string(bs.id) + " out of range or used twice";
      ids_seen[bs.id] = true;
      abi::Backend& be = slot.backends[nb + maglev_in.size()];
      be = abi::Backend{};
      be.addr_be = bs.addr_be;
      be.port_be = bs.port_be;
      be.id = bs.id;
      be.weight = bs.weight;
      be.state = static_cast<uint8_t>(bs.state);
      be.vip = static_cast<uint16_t>(v);
      be.max_connections = bs.max_connections;
      be.max_new_conn_rate = bs.max_new_conn_rate;
      be.new_conn_burst = bs.new_conn_burst;
      be.entry_flags = bs.slow_start ? abi::backend_entry::kSlowStart : 0;
      be.up_since_ms = bs.up_since_ms;
      if (vs.mode == abi::ForwardMode::Nat && !abi::add_nat_backend_to_index(slot, nb + static_cast<uint32_t>(maglev_in.size()))) {
        return "backend " + std::to_string(bs.id) + ": its address and port are already a backend of another nat VIP";
      }
      uint8_t flags = abi::backend_flag::kPresent | static_cast<uint8_t>(bs.state);
      if (vs.down_policy == abi::DownPolicy::Reset) flags |= abi::backend_flag::kResetWhenDown;
      slot.backend_flags[bs.id] = flags;
      maglev_in.push_back(MaglevBackend{bs.addr_be, bs.port_be, takes_new_flows(bs) ? bs.weight : 0u});
    }
    if (vs.prebuilt_maglev && vs.prebuilt_maglev->size() == vs.maglev_size) {
      std::copy(vs.prebuilt_maglev->begin(), vs.prebuilt_maglev->end(), slot.maglev + nm);
    } else {
      std::string err = build_maglev(maglev_in, vs.hash_key, std::span<uint16_t>(slot.maglev + nm, vs.maglev_size));
      if (!err.empty()) return "VIP " + std::to_string(vs.vip_id) + ": " + err;
    }
    if (!abi::add_vip_to_index(slot, v)) return "VIP index full";
    if (abi::find_vip(slot, vs.addr_be, vs.port_be, abi::kProtoTcp) != static_cast<int>(v)) {
      return "VIP " + std::to_string(vs.vip_id) + " duplicates another VIP's address and port";
    }
    nb += vip.backend_count;
    nm += vs.maglev_size;
  }
  for (const RetiredBackendSpec& r : spec.retired) {
    if (r.id >= abi::kMaxBackends || ids_seen[r.id]) return "retired backend id " + std::to_string(r.id) + " out of range or in use";
    ids_seen[r.id] = true;
    uint8_t flags = static_cast<uint8_t>(abi::BackendState::Removed);
    if (r.down_policy == abi::DownPolicy::Reset) flags |= abi::backend_flag::kResetWhenDown;
    slot.backend_flags[r.id] = flags;
  }
  if (locals.size() > abi::kMaxLocalAddrs) return "too many VIP and SNAT addresses";
  std::sort(locals.begin(), locals.end(), [](const abi::LocalAddr& a, const abi::LocalAddr& b) {
    return ntohl(a.addr_be) < ntohl(b.addr_be);
  });
  std::copy(locals.begin(), locals.end(), slot.local_addrs);
  slot.hdr.vip_count = static_cast<uint32_t>(spec.vips.size());
  slot.hdr.backend_count = nb;
  slot.hdr.maglev_used = nm;
  slot.hdr.local_addr_count = static_cast<uint32_t>(locals.size());
  return "";
}

PublishOutcome publish_tables(abi::TablesWriter& writer, const TableSpec& spec) {
  PublishOutcome out;
  abi::TableSlot& slot = writer.begin(&out.warning);
  // Whatever leaves fill_slot (an error, or an exception such as bad_alloc), the slot opened
  // above is given up unless it was committed: never leave it marked "being written".
  struct AbandonUnlessCommitted {
    abi::TablesWriter& writer;
    bool committed = false;
    ~AbandonUnlessCommitted() {
      if (!committed) writer.abandon();
    }
  } guard{writer};
  out.error = fill_slot(spec, slot);
  if (!out.error.empty()) return out;
  out.generation = writer.commit();
  guard.committed = true;
  return out;
}

}  // namespace fulcrum::cp
