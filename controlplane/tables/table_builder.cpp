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

void add_local6(std::vector<abi::LocalAddr6>& out, const abi::Ip6& addr, uint8_t kind) {
  for (abi::LocalAddr6& a : out) {
    if (a.addr == addr) {
      a.kind |= kind;
      return;
    }
  }
  out.push_back(abi::LocalAddr6{addr, kind, {0, 0, 0}});
}

// The family of a VIP's backends (all one family; an empty VIP takes its own), or why not.
std::string backend_family(const VipSpec& vs, abi::Family& family) {
  family = vs.backends.empty() ? vs.family : vs.backends.front().family;
  // An IPv6 VIP without backends yet but with an IPv4 SNAT pool is a NAT64 VIP being set up.
  if (vs.backends.empty() && vs.family == abi::Family::Ipv6 && !vs.snat_addrs_be.empty()) family = abi::Family::Ipv4;
  for (const BackendSpec& b : vs.backends) {
    if (b.family != family) return "VIP " + std::to_string(vs.vip_id) + " mixes IPv4 and IPv6 backends";
  }
  if (vs.family == abi::Family::Ipv4 && family == abi::Family::Ipv6) {
    return "VIP " + std::to_string(vs.vip_id) + ": an IPv4 VIP cannot have IPv6 backends";
  }
  if (vs.family == abi::Family::Ipv6 && family == abi::Family::Ipv4 && vs.mode != abi::ForwardMode::FullNat) {
    return "VIP " + std::to_string(vs.vip_id) + ": an IPv6 VIP with IPv4 backends (NAT64) needs fullnat";
  }
  if (family == abi::Family::Ipv6 ? !vs.snat_addrs_be.empty() : !vs.snat_addrs6.empty()) {
    return "VIP " + std::to_string(vs.vip_id) + ": its SNAT addresses must be of its backends' family";
  }
  return "";
}

}  // namespace

MaglevBackend maglev_input(const BackendSpec& b) {
  MaglevBackend m{b.addr_be, b.port_be, takes_new_flows(b) ? b.weight : 0u};
  m.family = b.family;
  m.addr6 = b.addr6;
  return m;
}

namespace {

}  // namespace

std::string fill_slot(const TableSpec& spec, abi::TableSlot& slot) {
  if (spec.vips.size() > abi::kMaxVips) return "too many VIPs (" + std::to_string(spec.vips.size()) + ", at most " + std::to_string(abi::kMaxVips) + ")";
  std::memset(slot.vip_index, 0, sizeof slot.vip_index);
  std::memset(slot.backend_flags, 0, sizeof slot.backend_flags);
  std::memset(slot.nat_backend_index, 0, sizeof slot.nat_backend_index);
  std::memset(slot.vip6_index, 0, sizeof slot.vip6_index);
  std::memset(slot.nat_backend6_index, 0, sizeof slot.nat_backend6_index);
  std::vector<abi::LocalAddr> locals;
  std::vector<abi::LocalAddr6> locals6;
  std::vector<bool> ids_seen(abi::kMaxBackends, false), vip_ids_seen(abi::kMaxVips, false);
  uint32_t nb = 0, nm = 0;
  std::vector<MaglevBackend> maglev_in;
  for (uint32_t v = 0; v < spec.vips.size(); ++v) {
    const VipSpec& vs = spec.vips[v];
    if (vs.vip_id >= abi::kMaxVips || vip_ids_seen[vs.vip_id]) return "VIP id " + std::to_string(vs.vip_id) + " out of range or used twice";
    vip_ids_seen[vs.vip_id] = true;
    if (vs.snat_addrs_be.size() > abi::kMaxSnatAddrs || vs.snat_addrs6.size() > abi::kMaxSnatAddrs) return "too many SNAT addresses for one VIP";
    abi::Family bfamily{};
    if (std::string err = backend_family(vs, bfamily); !err.empty()) return err;
    const bool v6_vip = vs.family == abi::Family::Ipv6, v6_backends = bfamily == abi::Family::Ipv6;
    if (vs.backends.size() > abi::kMaxBackends - nb) return "too many backends (at most " + std::to_string(abi::kMaxBackends) + " in all)";
    if (vs.maglev_size > abi::kMaglevPoolEntries - nm) return "Maglev tables exceed the pool of " + std::to_string(abi::kMaglevPoolEntries) + " entries";
    abi::Vip& vip = slot.vips[v];
    vip = abi::Vip{};
    vip.addr_be = v6_vip ? 0 : vs.addr_be;
    vip.family = static_cast<uint8_t>(vs.family);
    vip.backend_family = static_cast<uint8_t>(bfamily);
    slot.vip6[v] = abi::Vip6{};
    if (v6_vip) slot.vip6[v].addr = vs.addr6;
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
    if (v6_backends) {
      vip.snat_count = static_cast<uint8_t>(vs.snat_addrs6.size());
      for (size_t s = 0; s < vs.snat_addrs6.size(); ++s) {
        slot.vip6[v].snat[s] = vs.snat_addrs6[s];
        add_local6(locals6, vs.snat_addrs6[s], abi::local_addr::kSnat);
      }
    } else {
      vip.snat_count = static_cast<uint8_t>(vs.snat_addrs_be.size());
      for (size_t s = 0; s < vs.snat_addrs_be.size(); ++s) {
        vip.snat_addrs_be[s] = vs.snat_addrs_be[s];
        add_local(locals, vs.snat_addrs_be[s], abi::local_addr::kSnat);
      }
    }
    if (v6_vip) add_local6(locals6, vs.addr6, abi::local_addr::kVip); else add_local(locals, vs.addr_be, abi::local_addr::kVip);
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
      const uint32_t pos = nb + static_cast<uint32_t>(maglev_in.size());
      abi::Backend& be = slot.backends[pos];
      be = abi::Backend{};
      be.addr_be = v6_backends ? 0 : bs.addr_be;
      slot.backend_addr6[pos] = v6_backends ? bs.addr6 : abi::Ip6{};
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
      if (vs.mode == abi::ForwardMode::Nat &&
          !(v6_backends ? abi::add_nat_backend6_to_index(slot, pos) : abi::add_nat_backend_to_index(slot, pos))) {
        return "backend " + std::to_string(bs.id) + ": its address and port are already a backend of another nat VIP";
      }
      uint8_t flags = abi::backend_flag::kPresent | static_cast<uint8_t>(bs.state);
      if (vs.down_policy == abi::DownPolicy::Reset) flags |= abi::backend_flag::kResetWhenDown;
      slot.backend_flags[bs.id] = flags;
      maglev_in.push_back(maglev_input(bs));
    }
    if (vs.prebuilt_maglev && vs.prebuilt_maglev->size() == vs.maglev_size) {
      std::copy(vs.prebuilt_maglev->begin(), vs.prebuilt_maglev->end(), slot.maglev + nm);
    } else {
      std::string err = build_maglev(maglev_in, vs.hash_key, std::span<uint16_t>(slot.maglev + nm, vs.maglev_size));
      if (!err.empty()) return "VIP " + std::to_string(vs.vip_id) + ": " + err;
    }
    if (!(v6_vip ? abi::add_vip6_to_index(slot, v) : abi::add_vip_to_index(slot, v))) return "VIP index full";
    const int found = v6_vip ? abi::find_vip6(slot, vs.addr6, vs.port_be, abi::kProtoTcp)
                             : abi::find_vip(slot, vs.addr_be, vs.port_be, abi::kProtoTcp);
    if (found != static_cast<int>(v)) {
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
  if (locals.size() > abi::kMaxLocalAddrs || locals6.size() > abi::kMaxLocalAddrs) return "too many VIP and SNAT addresses";
  std::sort(locals6.begin(), locals6.end(), [](const abi::LocalAddr6& a, const abi::LocalAddr6& b) {
    return std::memcmp(a.addr.b, b.addr.b, 16) < 0;
  });
  std::copy(locals6.begin(), locals6.end(), slot.local_addrs6);
  slot.hdr.local_addr6_count = static_cast<uint32_t>(locals6.size());
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
