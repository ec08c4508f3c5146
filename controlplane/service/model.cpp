#include "controlplane/service/model.h"

#include <arpa/inet.h>

namespace fulcrum::cp {

const char* BackendRt::state_name() const {
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

TableSpec table_spec(const std::vector<VipRt>& vips) {
  TableSpec spec;
  for (const VipRt& v : vips) {
    VipSpec vs;
    vs.addr_be = v.cfg.addr_be;
    vs.port_be = htons(v.cfg.port);
    vs.mode = v.cfg.mode == config::ForwardMode::FullNat ? abi::ForwardMode::FullNat : abi::ForwardMode::Nat;
    vs.vip_id = v.id;
    vs.down_policy = v.cfg.on_backend_down == config::DownPolicy::Reset ? abi::DownPolicy::Reset : abi::DownPolicy::Keep;
    vs.new_conn_rate = v.cfg.max_new_conn_rate;
    vs.new_conn_burst = v.cfg.new_conn_burst;
    vs.synproxy = v.cfg.synproxy == config::SynproxyMode::On     ? abi::Synproxy::On
                  : v.cfg.synproxy == config::SynproxyMode::Auto ? abi::Synproxy::Auto
                                                                 : abi::Synproxy::Off;
    vs.snat_addrs_be = v.cfg.snat_be;
    vs.maglev_size = v.cfg.maglev_size;
    vs.hash_key = v.key;
    for (const BackendRt& b : v.backends) {
      vs.backends.push_back(BackendSpec{b.cfg.addr_be, htons(b.cfg.port), b.id, b.weight(), b.table_state()});
    }
    spec.vips.push_back(std::move(vs));
  }
  return spec;
}

}  // namespace fulcrum::cp
