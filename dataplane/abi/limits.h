// Capacities compiled into the shared-memory ABI. Both planes are built from this one
// header; each region's header records them and a reader refuses a region whose
// capacities differ from its own (that is an ABI mismatch, not a runtime setting).
//
// Why fixed capacities rather than sizes chosen at run time: the regions live in tmpfs,
// which allocates a page only when it is first written, so a generous fixed layout costs
// only what is used, and fixed offsets let both sides pin the layout with static_assert.
#pragma once

#include <cstdint>

namespace fulcrum::abi {

inline constexpr uint32_t kAbiVersion = 10;  // 2: hardening (issue 9); 3: per-backend traffic, per-VIP drops (status.h); 4: a larger Maglev pool; 5: kernel exception path counters (issue 11); 6: scheduling (issue 13); 7: snat_stray_resets; 8: IPv6 (issue 15: parsing counters, the tables' IPv6 arrays); 9: NDP and NAT64 counters; 10: IPv6 connection samples

inline constexpr uint32_t kMaxVips = 256;
// Backends across all VIPs of one table generation; also the size of the stable
// backend-id space that status counters and connection entries refer to.
inline constexpr uint32_t kMaxBackends = 8192;
inline constexpr uint32_t kMaxSnatAddrs = 16;            // per VIP (fullnat source pool)
// Maglev entries per slot, shared by all VIPs: 256 VIPs of the default 65537 entries, with
// room to spare (2^24 + 2^16); tmpfs allocates only the pages a generation writes.
inline constexpr uint32_t kMaglevPoolEntries = (1u << 24) + (1u << 16);
inline constexpr uint32_t kMaxMaglevSize = 1u << 24;  // one VIP's table
static_assert(kMaglevPoolEntries >= kMaxVips * 65537u, "every VIP may have the default table size");
// Status entries: data-plane workers plus the main lcore, which takes part in the table
// protocol too (it answers ARP for VIP and SNAT addresses).
inline constexpr uint32_t kMaxWorkers = 32;
// Addresses this node answers ARP and ICMP echo for on behalf of the tables: VIPs and
// SNAT pool addresses, de-duplicated.
inline constexpr uint32_t kMaxLocalAddrs = 1024;
// Open-addressing index from (VIP address, port) to VIP; a power of two, at most 25 % full.
inline constexpr uint32_t kVipIndexSize = 4 * kMaxVips;
// Open-addressing index from a nat backend's (address, port) to its place in the backends:
// what lets a reply without a connection entry be translated. At most 50 % full.
inline constexpr uint32_t kNatBackendIndexSize = 2 * kMaxBackends;
// Distinct (SNAT address, backend address:port) pairs the fullnat VIPs of one config may
// have: each is one port pool per worker in the data plane (8 KiB in all, split between
// workers), so a backend's connections never take ports another backend could use.
inline constexpr uint32_t kMaxSnatPools = 4096;

static_assert((kVipIndexSize & (kVipIndexSize - 1)) == 0, "VIP index size must be a power of two");
static_assert((kNatBackendIndexSize & (kNatBackendIndexSize - 1)) == 0, "backend index size must be a power of two");
static_assert(kMaxBackends <= 0xFFFF, "backend ids and Maglev entries are 16-bit");

}  // namespace fulcrum::abi
