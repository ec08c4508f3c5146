#include "controlplane/service/retired_backends.h"

namespace fulcrum::cp {

std::vector<RetiredBackendSpec> retired_backends(const abi::TableSlot* previous, const TableSpec& spec,
                                                 const std::function<uint64_t(uint16_t)>& active_connections) {
  std::vector<RetiredBackendSpec> out;
  if (previous == nullptr) return out;
  std::vector<bool> listed(abi::kMaxBackends, false);
  for (const VipSpec& v : spec.vips) {
    for (const BackendSpec& b : v.backends) {
      if (b.id < abi::kMaxBackends) listed[b.id] = true;
    }
  }
  // The policy each id had: from its VIP if it was a backend, else from its retired flags.
  std::vector<int> policy(abi::kMaxBackends, -1);
  const uint32_t nv = std::min(previous->hdr.vip_count, abi::kMaxVips);
  for (uint32_t i = 0; i < nv; ++i) {
    const abi::Vip& v = previous->vips[i];
    if (v.backend_first > abi::kMaxBackends || v.backend_count > abi::kMaxBackends - v.backend_first) continue;
    for (uint32_t b = 0; b < v.backend_count; ++b) {
      uint16_t id = previous->backends[v.backend_first + b].id;
      if (id < abi::kMaxBackends) policy[id] = v.down_policy;
    }
  }
  for (uint32_t id = 0; id < abi::kMaxBackends; ++id) {
    uint8_t flags = previous->backend_flags[id];
    if (flags == 0 || listed[id]) continue;
    if (active_connections(static_cast<uint16_t>(id)) == 0) continue;
    bool reset = policy[id] >= 0 ? policy[id] == static_cast<int>(abi::DownPolicy::Reset)
                                 : (flags & abi::backend_flag::kResetWhenDown) != 0;
    out.push_back(RetiredBackendSpec{static_cast<uint16_t>(id), reset ? abi::DownPolicy::Reset : abi::DownPolicy::Keep});
  }
  return out;
}

}  // namespace fulcrum::cp
