#include "controlplane/cluster/table_fingerprint.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <vector>

#include "dataplane/abi/flow_hash.h"

namespace fulcrum::cp {

uint64_t table_fingerprint(const abi::TableSlot& slot, const abi::Vip& vip) {
  if (vip.backend_first > abi::kMaxBackends || vip.backend_count > abi::kMaxBackends - vip.backend_first ||
      vip.maglev_offset > abi::kMaglevPoolEntries || vip.maglev_size > abi::kMaglevPoolEntries - vip.maglev_offset) {
    return 0;
  }
  // The VIP's backends in canonical (address, port) order; each slot is hashed as its
  // backend's place in that order, so the file's order and the ids do not matter.
  const abi::Backend* backends = slot.backends + vip.backend_first;
  // issue 15: IPv6 backends are ordered and hashed by their 16-byte addresses.
  const bool v6 = vip.backend_family == static_cast<uint8_t>(abi::Family::Ipv6);
  const abi::Ip6* addrs6 = slot.backend_addr6 + vip.backend_first;
  std::vector<uint32_t> order(vip.backend_count);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (v6) {
      int c = std::memcmp(addrs6[a].b, addrs6[b].b, 16);
      return c != 0 ? c < 0 : ntohs(backends[a].port_be) < ntohs(backends[b].port_be);
    }
    uint64_t ka = (uint64_t{ntohl(backends[a].addr_be)} << 16) | ntohs(backends[a].port_be);
    uint64_t kb = (uint64_t{ntohl(backends[b].addr_be)} << 16) | ntohs(backends[b].port_be);
    return ka < kb;
  });
  std::vector<uint16_t> canonical(vip.backend_count);
  for (uint32_t rank = 0; rank < order.size(); ++rank) canonical[order[rank]] = static_cast<uint16_t>(rank);

  // Header: hash key, size, the backends' endpoints in canonical order; then the slots.
  std::vector<uint8_t> bytes;
  auto put = [&bytes](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
  };
  bytes.reserve(24 + 6 * vip.backend_count + 2 * size_t{vip.maglev_size});
  put(vip.hash_key, sizeof vip.hash_key);
  put(&vip.maglev_size, sizeof vip.maglev_size);
  for (uint32_t idx : order) {
    if (v6) put(addrs6[idx].b, 16);
    else put(&backends[idx].addr_be, 4);
    put(&backends[idx].port_be, 2);
  }
  const uint16_t* table = slot.maglev + vip.maglev_offset;
  for (uint32_t i = 0; i < vip.maglev_size; ++i) {
    uint16_t e = table[i] < vip.backend_count ? canonical[table[i]] : abi::kNoBackend;
    put(&e, 2);
  }
  // A fixed, public key: this is a checksum for people, not a secret.
  constexpr abi::HashKey kKey{0x66696e6765727072ull, 0x696e742d6d61676cull};
  return abi::siphash<2, 4>(kKey, bytes.data(), bytes.size());
}

std::string fingerprint_text(uint64_t fingerprint) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fingerprint));
  return buf;
}

}  // namespace fulcrum::cp
