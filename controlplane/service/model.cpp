#include "controlplane/service/model.h"

#include <arpa/inet.h>

namespace fulcrum::cp {

const char* BackendRt::state_name() const {
  if (maintenance) return "maintenance";
  switch (table_state()) {
    case abi::BackendState::Active: return "active";
    case abi::BackendState::Draining: return "draining";
    case abi::BackendState::Down: return "down";
    case abi::BackendState::Removed: return "removed";
  }
  return "?";
}

abi::HashKey key_from_seed(const std::string& seed) {
  // Fixed, public keys: the secret is the seed; these only stretch it to 128 bits.
  constexpr abi::HashKey k0{0x6675'6c63'7275'6d30ull, 0x7365'6564'2d6b'6579ull};
  constexpr abi::HashKey k1{0x6675'6c63'7275'6d31ull, 0x7365'6564'2d6b'6579ull};
  return abi::HashKey{abi::siphash<2, 4>(k0, seed.data(), seed.size()), abi::siphash<2, 4>(k1, seed.data(), seed.size())};
}

namespace {

abi::Scheduler abi_scheduler(config::SchedulerKind s) {
  switch (s) {
    case config::SchedulerKind::Maglev: return abi::Scheduler::Maglev;
    case config::SchedulerKind::MaglevBounded: return abi::Scheduler::MaglevBounded;
    case config::SchedulerKind::RoundRobin: return abi::Scheduler::RoundRobin;
    case config::SchedulerKind::WeightedRoundRobin: return abi::Scheduler::WeightedRoundRobin;
    case config::SchedulerKind::LeastConn: return abi::Scheduler::LeastConn;
    case config::SchedulerKind::Fastest: return abi::Scheduler::Fastest;
  }
  return abi::Scheduler::Maglev;
}

}  // namespace

TableSpec table_spec(const std::vector<VipRt>& vips) {
  TableSpec spec;
  for (const VipRt& v : vips) {
    VipSpec vs;
    // issue 15: the VIP's family and its backends' (an IPv6 VIP with IPv4 backends is NAT64).
    if (v.cfg.addr.is_v6()) {
      vs.family = abi::Family::Ipv6;
      vs.addr6 = v.cfg.addr.v6;
    } else {
      vs.addr_be = v.cfg.addr.v4_be;
    }
    vs.port_be = htons(v.cfg.port);
    vs.mode = v.cfg.mode == config::ForwardMode::FullNat ? abi::ForwardMode::FullNat : abi::ForwardMode::Nat;
    vs.vip_id = v.id;
    vs.down_policy = v.cfg.on_backend_down == config::DownPolicy::Reset ? abi::DownPolicy::Reset : abi::DownPolicy::Keep;
    vs.new_conn_rate = v.cfg.max_new_conn_rate;
    vs.new_conn_burst = v.cfg.new_conn_burst;
    vs.synproxy = v.cfg.synproxy == config::SynproxyMode::On     ? abi::Synproxy::On
                  : v.cfg.synproxy == config::SynproxyMode::Auto ? abi::Synproxy::Auto
                                                                 : abi::Synproxy::Off;
    const config::Scheduling& sched = v.cfg.scheduling;
    vs.scheduler = abi_scheduler(sched.scheduler);
    vs.balance_factor = static_cast<uint16_t>(sched.balance_factor);
    vs.on_full = sched.on_full == config::OnFull::Reset ? abi::OnFull::Reset : abi::OnFull::Drop;
    vs.connect_retries = static_cast<uint8_t>(sched.connect_retries);
    vs.slow_start_ms = sched.slow_start_s * 1000;
    for (const config::IpAddr& a : v.cfg.snat) {
      if (a.is_v6()) vs.snat_addrs6.push_back(a.v6);
      else vs.snat_addrs_be.push_back(a.v4_be);
    }
    vs.maglev_size = v.cfg.maglev_size;
    vs.hash_key = v.key;
    for (const BackendRt& b : v.backends) {
      BackendSpec bs{b.cfg.addr.is_v6() ? 0 : b.cfg.addr.v4_be, htons(b.cfg.port), b.id, b.weight(), b.table_state()};
      if (b.cfg.addr.is_v6()) {
        bs.family = abi::Family::Ipv6;
        bs.addr6 = b.cfg.addr.v6;
      }
      bs.max_connections = b.cfg.limits.max_connections;
      bs.max_new_conn_rate = b.cfg.limits.max_new_conn_rate;
      bs.new_conn_burst = b.cfg.limits.new_conn_burst;
      bs.slow_start = b.ramping && sched.slow_start_s > 0;
      bs.up_since_ms = static_cast<uint32_t>(b.up_since_ms);
      vs.backends.push_back(bs);
    }
    spec.vips.push_back(std::move(vs));
  }
  return spec;
}

namespace {

bool same_backends(const std::vector<BackendSpec>& a, const std::vector<BackendSpec>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].addr_be != b[i].addr_be || a[i].family != b[i].family || !(a[i].addr6 == b[i].addr6) ||
        a[i].port_be != b[i].port_be || a[i].id != b[i].id ||
        a[i].weight != b[i].weight || a[i].state != b[i].state) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool same_tables(const TableSpec& a, const TableSpec& b) {
  if (a.vips.size() != b.vips.size()) return false;
  for (size_t i = 0; i < a.vips.size(); ++i) {
    const VipSpec& x = a.vips[i];
    const VipSpec& y = b.vips[i];
    if (x.addr_be != y.addr_be || x.family != y.family || !(x.addr6 == y.addr6) || x.port_be != y.port_be ||
        x.mode != y.mode || x.vip_id != y.vip_id || x.down_policy != y.down_policy ||
        x.snat_addrs_be != y.snat_addrs_be || x.snat_addrs6 != y.snat_addrs6 || x.maglev_size != y.maglev_size ||
        x.hash_key.k0 != y.hash_key.k0 || x.hash_key.k1 != y.hash_key.k1 || !same_backends(x.backends, y.backends)) {
      return false;
    }
  }
  return true;
}

}  // namespace fulcrum::cp
