// The tables region: written only by the control plane, read by every data-plane worker.
//
// Layout: a header, then two slots. The control plane fills the slot that is not active,
// then flips `generation`; the active slot is always `generation & 1`. Workers read the
// generation once per burst and report it in the status region (their quiescent state),
// which tells the writer when the other slot is free again. See publish.h.
//
// Addresses and ports are stored in network byte order (suffix _be) so that the data
// plane compares them with packet fields without swapping.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "dataplane/abi/ip6.h"
#include "dataplane/abi/limits.h"

namespace fulcrum::abi {

inline constexpr uint64_t kTablesMagic = 0x5442'4C4D'5243'4C46ull;  // "FLCRMLBT" little-endian

enum class ForwardMode : uint8_t { Nat = 0, FullNat = 1 };
enum class BackendState : uint8_t { Active = 0, Draining = 1, Down = 2, Removed = 3 };
// What happens to established flows of a backend that goes down.
enum class DownPolicy : uint8_t { Keep = 0, Reset = 1 };
// When the data plane answers a VIP's SYNs itself with SYN cookies (docs/dataplane.md):
// never, always, or while this worker's new-flow rate breaker is tripped.
enum class Synproxy : uint8_t { Off = 0, On = 1, Auto = 2 };
// How a VIP chooses the backend of a new connection (docs/scheduling.md).
enum class Scheduler : uint8_t {
  Maglev = 0,              // consistent hashing: the same choice on every node
  MaglevBounded = 1,       // Maglev, passing a flow on from a backend above balance_factor x the mean load
  RoundRobin = 2,          // per worker, weights ignored
  WeightedRoundRobin = 3,  // smooth weighted round robin, per worker
  LeastConn = 4,           // two Maglev candidates, fewer active connections per weight wins
  Fastest = 5,             // two Maglev candidates, lower SYN->SYN-ACK time x load per weight wins
};
inline constexpr uint8_t kSchedulerCount = 6;
// What a new connection gets when every backend that may take it is at its limits.
enum class OnFull : uint8_t { Drop = 0, Reset = 1 };
inline constexpr uint8_t kMaxConnectRetries = 3;   // Conn keeps the attempt in 2 bits

inline constexpr uint8_t kProtoTcp = 6;

// Address family of a VIP (Vip::family) and of its backends (Vip::backend_family): a VIP's
// backends are all of one family; an IPv6 VIP with IPv4 backends is NAT64 (fullnat only).
enum class Family : uint8_t { Ipv4 = 0, Ipv6 = 1 };
inline constexpr uint16_t kNoBackend = 0xFFFF;  // Maglev entry of a VIP with no usable backend

struct Vip {
  uint32_t addr_be;
  uint16_t port_be;
  uint8_t proto;                // kProtoTcp
  uint8_t mode;                 // ForwardMode
  uint16_t vip_id;              // stable id: index of this VIP's counters in the status region
  uint8_t down_policy;          // DownPolicy
  uint8_t snat_count;           // entries used in snat_addrs_be (fullnat)
  uint32_t backend_first;       // this VIP's backends are backends[first, first + count)
  uint32_t backend_count;
  uint32_t maglev_offset;       // its lookup table is maglev[offset, offset + size)
  uint32_t maglev_size;         // M, a prime; entries are indexes into this VIP's backends
  uint32_t slow_start_ms;       // a backend that joined or recovered ramps its weight over this; 0 = off
  uint64_t hash_key[2];         // SipHash key of flow -> slot (the cluster's seed)
  uint32_t snat_addrs_be[kMaxSnatAddrs];
  uint32_t new_conn_rate;       // SYNs per second the VIP admits, all workers together; 0 = no limit
  uint32_t new_conn_burst;      // token bucket depth for new_conn_rate
  uint8_t synproxy;             // Synproxy
  uint8_t scheduler;            // Scheduler
  uint8_t on_full;              // OnFull
  uint8_t connect_retries;      // 0 .. kMaxConnectRetries other backends a failed connection attempt may try
  uint16_t balance_factor;      // maglev_bounded: a backend may hold this % of the mean load (>= 100)
  uint8_t family;               // Family of the VIP's address; Ipv6: addr_be is 0, see TableSlot::vip6
  uint8_t backend_family;       // Family of its backends; Ipv6: addresses in TableSlot::backend_addr6
};
static_assert(sizeof(Vip) == 128);
static_assert(offsetof(Vip, slow_start_ms) == 28);
static_assert(offsetof(Vip, scheduler) == 121);
static_assert(offsetof(Vip, balance_factor) == 124);
static_assert(offsetof(Vip, new_conn_rate) == 112);
static_assert(offsetof(Vip, backend_first) == 12);
static_assert(offsetof(Vip, maglev_size) == 24);
static_assert(offsetof(Vip, hash_key) == 32);
static_assert(offsetof(Vip, snat_addrs_be) == 48);
static_assert(offsetof(Vip, family) == 126);

// The IPv6 addresses of vips[i] (same index), when its family or its backends' is IPv6.
// snat: the fullnat source pool when the backends are IPv6 (snat_count entries); a NAT64
// VIP (IPv6 VIP, IPv4 backends) uses Vip::snat_addrs_be.
struct Vip6 {
  Ip6 addr;
  Ip6 snat[kMaxSnatAddrs];
};
static_assert(sizeof(Vip6) == 16 * (1 + kMaxSnatAddrs));

namespace backend_entry {
inline constexpr uint8_t kSlowStart = 0x01;   // up_since_ms is when it joined or recovered: ramp its weight
}  // namespace backend_entry

struct Backend {
  uint32_t addr_be;
  uint16_t port_be;
  uint16_t id;                  // stable backend id (< kMaxBackends), see backend_flags
  uint16_t weight;              // as configured; the Maglev table already reflects it
  uint8_t state;                // BackendState
  uint8_t entry_flags;          // backend_entry
  uint16_t vip;                 // index in TableSlot::vips of the VIP this entry belongs to
  uint8_t reserved[2];
  uint32_t max_connections;     // new connections pass to another backend at this many; 0 = no limit
  uint32_t max_new_conn_rate;   // new connections per second, all workers together; 0 = no limit
  uint32_t new_conn_burst;      // token bucket depth for max_new_conn_rate
  uint32_t up_since_ms;         // with kSlowStart: CLOCK_MONOTONIC in ms (low 32 bits) when it came up
};
static_assert(sizeof(Backend) == 32);
static_assert(offsetof(Backend, id) == 6);
static_assert(offsetof(Backend, state) == 10);
static_assert(offsetof(Backend, vip) == 12);
static_assert(offsetof(Backend, max_connections) == 16);
static_assert(offsetof(Backend, up_since_ms) == 28);

// Per stable backend id, what an established connection needs to know on every packet,
// without searching the VIP's backend list: the state, and whether to reset its flows
// when it is down. A connection entry stores only the id.
// An id that is not in the generation but still has connections (its backend was removed
// from the config) is published as Removed, with its last VIP's reset policy; an id with
// flags 0 is unknown, and its flows are kept.
namespace backend_flag {
inline constexpr uint8_t kStateMask = 0x03;   // BackendState
inline constexpr uint8_t kResetWhenDown = 0x04;  // reset flows while Down or Removed
inline constexpr uint8_t kPresent = 0x08;     // id in use in this generation; else Removed
}  // namespace backend_flag

// Whether established flows of a backend with these flags are answered with a reset.
constexpr bool resets_flows(uint8_t flags) {
  uint8_t state = flags & backend_flag::kStateMask;
  return (flags & backend_flag::kResetWhenDown) != 0 &&
         (state == static_cast<uint8_t>(BackendState::Down) || state == static_cast<uint8_t>(BackendState::Removed));
}
// Whether a connection that its backend has not answered yet should be given another one.
constexpr bool unusable_for_new_connections(uint8_t flags) {
  uint8_t state = flags & backend_flag::kStateMask;
  return flags != 0 && (state == static_cast<uint8_t>(BackendState::Down) ||
                        state == static_cast<uint8_t>(BackendState::Removed) || (flags & backend_flag::kPresent) == 0);
}

// An address the data plane owns because the tables say so, sorted by host-order value
// in TableSlot::local_addrs for binary search.
struct LocalAddr {
  uint32_t addr_be;
  uint8_t kind;                 // bitwise OR of local_addr::kVip, local_addr::kSnat
  uint8_t reserved[3];
};
static_assert(sizeof(LocalAddr) == 8);
namespace local_addr {
inline constexpr uint8_t kVip = 0x01;
inline constexpr uint8_t kSnat = 0x02;
}  // namespace local_addr

// The IPv6 counterpart of LocalAddr, sorted by address bytes (memcmp order).
struct LocalAddr6 {
  Ip6 addr;
  uint8_t kind;                 // local_addr::kVip | kSnat
  uint8_t reserved[3];
};
static_assert(sizeof(LocalAddr6) == 20);

struct alignas(64) SlotHeader {
  // Odd while the writer fills the slot. A worker that was stopped long enough for the
  // writer to give up waiting on it sees the count change and discards its burst.
  std::atomic<uint64_t> write_seq;
  uint64_t generation;          // the generation this slot holds
  uint32_t vip_count;
  uint32_t backend_count;
  uint32_t maglev_used;
  uint32_t local_addr_count;
  uint64_t published_realtime_ns;
  uint32_t local_addr6_count;   // entries used in TableSlot::local_addrs6
  uint8_t reserved1[20];
};
static_assert(sizeof(SlotHeader) == 64);

struct alignas(64) TableSlot {
  SlotHeader hdr;
  uint16_t vip_index[kVipIndexSize];          // 0 = empty, else index into vips + 1
  LocalAddr local_addrs[kMaxLocalAddrs];      // sorted by ntohl(addr_be)
  Vip vips[kMaxVips];
  Backend backends[kMaxBackends];
  uint8_t backend_flags[kMaxBackends];        // by stable backend id, see backend_flag
  // nat backends by (address, port): 0 = empty, else index into backends + 1. The config
  // allows one nat VIP per backend address:port, so a reply maps to exactly one VIP.
  uint16_t nat_backend_index[kNatBackendIndexSize];
  uint16_t maglev[kMaglevPoolEntries];
  // ---- IPv6 (issue 15): appended, so the IPv4 layout above is unchanged.
  Vip6 vip6[kMaxVips];                        // by VIP index, see Vip6
  Ip6 backend_addr6[kMaxBackends];            // by backends[] position, when its VIP's backend_family is Ipv6
  uint16_t vip6_index[kVipIndexSize];         // (IPv6 VIP address, port) -> index into vips + 1
  uint16_t nat_backend6_index[kNatBackendIndexSize];  // (IPv6 nat backend, port) -> index into backends + 1
  LocalAddr6 local_addrs6[kMaxLocalAddrs];    // sorted by address bytes
};
static_assert(offsetof(TableSlot, vip_index) == 64);
static_assert(offsetof(TableSlot, local_addrs) == 64 + 2 * kVipIndexSize);
static_assert(offsetof(TableSlot, vips) == offsetof(TableSlot, local_addrs) + 8 * kMaxLocalAddrs);
static_assert(offsetof(TableSlot, backends) == offsetof(TableSlot, vips) + sizeof(Vip) * kMaxVips);
static_assert(offsetof(TableSlot, nat_backend_index) == offsetof(TableSlot, backend_flags) + kMaxBackends);
static_assert(offsetof(TableSlot, maglev) == offsetof(TableSlot, nat_backend_index) + 2 * kNatBackendIndexSize);
static_assert(offsetof(TableSlot, vip6) == offsetof(TableSlot, maglev) + 2 * kMaglevPoolEntries);
static_assert(offsetof(TableSlot, local_addrs6) ==
              offsetof(TableSlot, vip6) + sizeof(Vip6) * kMaxVips + 16 * kMaxBackends + 2 * kVipIndexSize + 2 * kNatBackendIndexSize);
static_assert(sizeof(TableSlot) == 34'287'680);

struct alignas(64) TablesHeader {
  uint64_t magic;
  uint32_t abi_version;
  uint32_t header_size;
  uint64_t region_size;
  uint64_t slot_size;
  uint64_t slot_offset[2];
  uint32_t max_vips;
  uint32_t max_backends;
  uint32_t max_snat_addrs;
  uint32_t maglev_pool_entries;
  // Second cache line: what changes on every publish.
  alignas(64) std::atomic<uint64_t> generation;  // 0 = nothing published yet
  std::atomic<uint64_t> publish_monotonic_ns;
  std::atomic<uint64_t> publish_realtime_ns;
  std::atomic<uint32_t> writer_pid;
  uint32_t reserved0;
  uint8_t reserved1[32];
};
static_assert(sizeof(TablesHeader) == 128);
static_assert(offsetof(TablesHeader, slot_offset) == 32);
static_assert(offsetof(TablesHeader, generation) == 64);

struct TablesRegion {
  TablesHeader header;
  TableSlot slots[2];
};
static_assert(offsetof(TablesRegion, slots) == 128);
static_assert(sizeof(TablesRegion) == 128 + 2 * sizeof(TableSlot));
static_assert(std::atomic<uint64_t>::is_always_lock_free,
              "shared-memory atomics must be lock-free to be address-free across processes");

// The VIP index hash: both planes must agree, so it lives here. Fibonacci hashing of
// (address, port); the index is sparse (<= 25 % full), so linear probing stays short.
constexpr uint32_t vip_index_home(uint32_t addr_be, uint16_t port_be) {
  uint64_t key = (uint64_t{addr_be} << 16) | port_be;
  constexpr int kBits = __builtin_ctz(kVipIndexSize);
  return static_cast<uint32_t>((key * 0x9E37'79B9'7F4A'7C15ull) >> (64 - kBits));
}

// Index of the VIP (addr, port, proto) in slot.vips, or -1. Never loops forever: the
// probe stops at an empty entry or after visiting the whole index.
inline int find_vip(const TableSlot& slot, uint32_t addr_be, uint16_t port_be, uint8_t proto) {
  uint32_t pos = vip_index_home(addr_be, port_be);
  for (uint32_t n = 0; n < kVipIndexSize; ++n, pos = (pos + 1) & (kVipIndexSize - 1)) {
    uint16_t e = slot.vip_index[pos];
    if (e == 0) return -1;
    if (e > kMaxVips) continue;  // never written by a correct writer; tolerate, don't index
    const Vip& v = slot.vips[e - 1];
    if (v.addr_be == addr_be && v.port_be == port_be && v.proto == proto) return e - 1;
  }
  return -1;
}

// The kind bits of a local address (local_addr::kVip | kSnat), or 0 if the tables do not
// make it ours. Binary search; the writer keeps local_addrs sorted and de-duplicated.
inline uint8_t local_addr_kind(const TableSlot& slot, uint32_t addr_be) {
  uint32_t lo = 0, hi = slot.hdr.local_addr_count <= kMaxLocalAddrs ? slot.hdr.local_addr_count : 0;
  const uint32_t want = __builtin_bswap32(addr_be);
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    uint32_t have = __builtin_bswap32(slot.local_addrs[mid].addr_be);
    if (have == want) return slot.local_addrs[mid].kind;
    if (have < want) lo = mid + 1; else hi = mid;
  }
  return 0;
}

// The nat backend index hash (both planes). Same Fibonacci hashing as the VIP index.
constexpr uint32_t nat_backend_home(uint32_t addr_be, uint16_t port_be) {
  uint64_t key = (uint64_t{addr_be} << 16) | port_be;
  constexpr int kBits = __builtin_ctz(kNatBackendIndexSize);
  return static_cast<uint32_t>((key * 0x9E37'79B9'7F4A'7C15ull) >> (64 - kBits));
}

// The backends[] position of the nat backend at (addr, port), or -1. Bounded probe.
inline int find_nat_backend(const TableSlot& slot, uint32_t addr_be, uint16_t port_be) {
  uint32_t pos = nat_backend_home(addr_be, port_be);
  for (uint32_t n = 0; n < kNatBackendIndexSize; ++n, pos = (pos + 1) & (kNatBackendIndexSize - 1)) {
    uint16_t e = slot.nat_backend_index[pos];
    if (e == 0) return -1;
    if (e > kMaxBackends) continue;  // never written by a correct writer
    const Backend& b = slot.backends[e - 1];
    if (b.addr_be == addr_be && b.port_be == port_be) return e - 1;
  }
  return -1;
}

// Adds backends[pos] to the nat backend index (writer side). False if full or already there.
inline bool add_nat_backend_to_index(TableSlot& slot, uint32_t pos) {
  const Backend& b = slot.backends[pos];
  if (find_nat_backend(slot, b.addr_be, b.port_be) >= 0) return false;
  uint32_t at = nat_backend_home(b.addr_be, b.port_be);
  for (uint32_t n = 0; n < kNatBackendIndexSize; ++n, at = (at + 1) & (kNatBackendIndexSize - 1)) {
    if (slot.nat_backend_index[at] == 0) {
      slot.nat_backend_index[at] = static_cast<uint16_t>(pos + 1);
      return true;
    }
  }
  return false;
}

// Adds vips[vip] to the index (writer side). False if the index is full.
inline bool add_vip_to_index(TableSlot& slot, uint32_t vip) {
  const Vip& v = slot.vips[vip];
  uint32_t pos = vip_index_home(v.addr_be, v.port_be);
  for (uint32_t n = 0; n < kVipIndexSize; ++n, pos = (pos + 1) & (kVipIndexSize - 1)) {
    if (slot.vip_index[pos] == 0) {
      slot.vip_index[pos] = static_cast<uint16_t>(vip + 1);
      return true;
    }
  }
  return false;
}

// ---- IPv6 indexes (issue 15): the same open addressing as their IPv4 counterparts.
inline uint64_t ip6_fold(const Ip6& a) {
  uint64_t lo, hi;
  __builtin_memcpy(&lo, a.b, 8);
  __builtin_memcpy(&hi, a.b + 8, 8);
  return (lo * 0x9E37'79B9'7F4A'7C15ull) ^ hi;
}
inline uint32_t index6_home(const Ip6& addr, uint16_t port_be, uint32_t size) {
  uint64_t key = ip6_fold(addr) ^ port_be;
  return static_cast<uint32_t>((key * 0x9E37'79B9'7F4A'7C15ull) >> (64 - __builtin_ctz(size)));
}

inline const Ip6& vip6_addr(const TableSlot& slot, uint32_t vip) { return slot.vip6[vip].addr; }

// Index of the IPv6 VIP (addr, port, proto) in slot.vips, or -1. Bounded probe.
inline int find_vip6(const TableSlot& slot, const Ip6& addr, uint16_t port_be, uint8_t proto) {
  uint32_t pos = index6_home(addr, port_be, kVipIndexSize);
  for (uint32_t n = 0; n < kVipIndexSize; ++n, pos = (pos + 1) & (kVipIndexSize - 1)) {
    uint16_t e = slot.vip6_index[pos];
    if (e == 0) return -1;
    if (e > kMaxVips) continue;  // never written by a correct writer
    const Vip& v = slot.vips[e - 1];
    if (v.family == static_cast<uint8_t>(Family::Ipv6) && slot.vip6[e - 1].addr == addr && v.port_be == port_be &&
        v.proto == proto)
      return e - 1;
  }
  return -1;
}

// Adds vips[vip] (an IPv6 VIP, vip6[vip] filled) to the IPv6 index (writer side).
inline bool add_vip6_to_index(TableSlot& slot, uint32_t vip) {
  uint32_t pos = index6_home(slot.vip6[vip].addr, slot.vips[vip].port_be, kVipIndexSize);
  for (uint32_t n = 0; n < kVipIndexSize; ++n, pos = (pos + 1) & (kVipIndexSize - 1)) {
    if (slot.vip6_index[pos] == 0) {
      slot.vip6_index[pos] = static_cast<uint16_t>(vip + 1);
      return true;
    }
  }
  return false;
}

// The kind bits of a local IPv6 address, or 0. Binary search in memcmp order.
inline uint8_t local_addr6_kind(const TableSlot& slot, const Ip6& addr) {
  uint32_t lo = 0, hi = slot.hdr.local_addr6_count <= kMaxLocalAddrs ? slot.hdr.local_addr6_count : 0;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int c = __builtin_memcmp(slot.local_addrs6[mid].addr.b, addr.b, 16);
    if (c == 0) return slot.local_addrs6[mid].kind;
    if (c < 0) lo = mid + 1; else hi = mid;
  }
  return 0;
}

// The backends[] position of the IPv6 nat backend at (addr, port), or -1. Bounded probe.
inline int find_nat_backend6(const TableSlot& slot, const Ip6& addr, uint16_t port_be) {
  uint32_t pos = index6_home(addr, port_be, kNatBackendIndexSize);
  for (uint32_t n = 0; n < kNatBackendIndexSize; ++n, pos = (pos + 1) & (kNatBackendIndexSize - 1)) {
    uint16_t e = slot.nat_backend6_index[pos];
    if (e == 0) return -1;
    if (e > kMaxBackends) continue;
    if (slot.backend_addr6[e - 1] == addr && slot.backends[e - 1].port_be == port_be) return e - 1;
  }
  return -1;
}

// Adds backends[pos] (IPv6, backend_addr6[pos] filled) to the IPv6 nat index (writer side).
inline bool add_nat_backend6_to_index(TableSlot& slot, uint32_t pos) {
  const Ip6& addr = slot.backend_addr6[pos];
  const uint16_t port = slot.backends[pos].port_be;
  if (find_nat_backend6(slot, addr, port) >= 0) return false;
  uint32_t at = index6_home(addr, port, kNatBackendIndexSize);
  for (uint32_t n = 0; n < kNatBackendIndexSize; ++n, at = (at + 1) & (kNatBackendIndexSize - 1)) {
    if (slot.nat_backend6_index[at] == 0) {
      slot.nat_backend6_index[at] = static_cast<uint16_t>(pos + 1);
      return true;
    }
  }
  return false;
}

}  // namespace fulcrum::abi
