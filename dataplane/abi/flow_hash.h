// How a flow is mapped to a Maglev slot, and how a backend's Maglev permutation is seeded.
// Both planes must agree bit for bit (the control plane builds tables, the data plane
// looks them up, and every balancer node behind the same ECMP group must pick the same
// backend), so the definition lives in the ABI.
//
// Why SipHash: the key is a per-cluster secret from the config, and SipHash is a keyed PRF,
// so a client that does not know it cannot craft flows that all land on one backend. A
// CRC with a secret seed would not do: CRC is linear, so colliding flows can be computed
// without the seed. SipHash-1-3 costs ~20 cycles for our 16 bytes and runs only for flows
// without a connection entry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fulcrum::abi {

struct HashKey {
  uint64_t k0 = 0, k1 = 0;
};

namespace detail {
constexpr uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct SipState {
  uint64_t v0, v1, v2, v3;
  constexpr void round() {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  }
};

inline uint64_t load_le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);  // little-endian host, asserted in siphash()
  return v;
}
}  // namespace detail

// SipHash-c-d (Aumasson & Bernstein) over `len` bytes.
template <int C, int D>
inline uint64_t siphash(HashKey key, const void* data, size_t len) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "flow hashing assumes a little-endian host");
  detail::SipState s{key.k0 ^ 0x736f6d6570736575ull, key.k1 ^ 0x646f72616e646f6dull,
                     key.k0 ^ 0x6c7967656e657261ull, key.k1 ^ 0x7465646279746573ull};
  const auto* p = static_cast<const uint8_t*>(data);
  size_t full = len & ~size_t{7};
  for (size_t i = 0; i < full; i += 8) {
    uint64_t m = detail::load_le64(p + i);
    s.v3 ^= m;
    for (int r = 0; r < C; ++r) s.round();
    s.v0 ^= m;
  }
  uint64_t last = static_cast<uint64_t>(len & 0xff) << 56;
  for (size_t i = 0; i < (len & 7); ++i) last |= static_cast<uint64_t>(p[full + i]) << (8 * i);
  s.v3 ^= last;
  for (int r = 0; r < C; ++r) s.round();
  s.v0 ^= last;
  s.v2 ^= 0xff;
  for (int r = 0; r < D; ++r) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

// The 5-tuple as hashed, in wire byte order, 16 bytes with the padding zeroed.
struct FlowTuple {
  uint32_t src_addr_be;
  uint32_t dst_addr_be;
  uint16_t src_port_be;
  uint16_t dst_port_be;
  uint8_t proto;
  uint8_t pad[3];
};
static_assert(sizeof(FlowTuple) == 16);

inline uint64_t flow_hash(HashKey key, uint32_t src_addr_be, uint16_t src_port_be,
                          uint32_t dst_addr_be, uint16_t dst_port_be, uint8_t proto) {
  FlowTuple t{src_addr_be, dst_addr_be, src_port_be, dst_port_be, proto, {0, 0, 0}};
  return siphash<1, 3>(key, &t, sizeof t);
}

// issue 15: the IPv6 5-tuple as hashed, 40 bytes in wire order with the padding zeroed.
struct FlowTuple6 {
  uint8_t src[16];
  uint8_t dst[16];
  uint16_t src_port_be;
  uint16_t dst_port_be;
  uint8_t proto;
  uint8_t pad[3];
};
static_assert(sizeof(FlowTuple6) == 40);

inline uint64_t flow_hash6(HashKey key, const uint8_t* src16, uint16_t src_port_be, const uint8_t* dst16,
                           uint16_t dst_port_be, uint8_t proto) {
  FlowTuple6 t{};
  std::memcpy(t.src, src16, 16);
  std::memcpy(t.dst, dst16, 16);
  t.src_port_be = src_port_be;
  t.dst_port_be = dst_port_be;
  t.proto = proto;
  return siphash<1, 3>(key, &t, sizeof t);
}

// hash -> [0, table_size) without a division (Lemire's multiply-shift on the top 32 bits).
inline uint32_t maglev_slot(uint64_t hash, uint32_t table_size) {
  return static_cast<uint32_t>(((hash >> 32) * uint64_t{table_size}) >> 32);
}

// A backend's identity as hashed for its Maglev permutation: address and port only, so
// its place in the table does not depend on its place in the config.
inline uint64_t backend_hash(HashKey key, uint32_t addr_be, uint16_t port_be) {
  uint8_t bytes[8] = {};
  std::memcpy(bytes, &addr_be, 4);
  std::memcpy(bytes + 4, &port_be, 2);
  return siphash<1, 3>(key, bytes, sizeof bytes);
}

// The same for an IPv6 backend: 16 address bytes, the port, zero padding to 24 bytes
// (a different length from the IPv4 form, so the two never collide by construction).
inline uint64_t backend_hash6(HashKey key, const uint8_t* addr16, uint16_t port_be) {
  uint8_t bytes[24] = {};
  std::memcpy(bytes, addr16, 16);
  std::memcpy(bytes + 16, &port_be, 2);
  return siphash<1, 3>(key, bytes, sizeof bytes);
}

}  // namespace fulcrum::abi
