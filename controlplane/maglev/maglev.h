// Maglev consistent hashing (Eisenbud et al., NSDI 2016) with weights.
//
// Each backend walks its own permutation of the M table slots (offset + j * skip, M
// prime) and claims free slots on its turns. Three changes to the paper:
//
//  * Rank-synchronous turns. In the paper, a backend's turn walks ahead in its permutation
//    to the next free slot. Here, until the table is 99 % full, a turn looks at exactly one
//    permutation entry and claims it only if it is free; a slot therefore goes to the
//    backend that ranks it highest (earliest in its permutation), which depends far less
//    on which other backends exist. Removing one of 100 backends then moves 1.3/N of the
//    slots on average instead of the paper's 1.57/N (worst of 100 trials: 1.42/N vs
//    1.63/N). The last 1 % is filled with the paper's walk-ahead turns, which is where a
//    one-entry turn would spend most of its time finding the few free slots.
//  * Weights. A backend's share is fixed up front by largest-remainder apportionment
//    (quota = M * w / sum(w), rounded so the quotas sum to M), and turns are handed out in
//    proportion to weight (credit-based round robin) until each backend has its quota.
//    Shares are therefore exact to within one slot, and equal weights keep Maglev's
//    guarantee that slot counts differ by at most one.
//  * Identity, not order. Backends take their turns in the order of their (address, port),
//    and their permutations are seeded by a keyed hash of (address, port) only, so every
//    node given the same set builds the same table, however the config lists them.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "config/loader/maglev_size.h"
#include "dataplane/abi/flow_hash.h"
#include "dataplane/abi/tables.h"

namespace fulcrum::cp {

struct MaglevBackend {
  uint32_t addr_be = 0;
  uint16_t port_be = 0;
  uint32_t weight = 0;  // 0: no slots (no new flows)
  abi::Family family = abi::Family::Ipv4;  // issue 15: Ipv6 hashes addr6 (abi::backend_hash6)
  abi::Ip6 addr6{};
};

// Table sizes are validated with the config's rules (a prime, 3 .. abi::kMaxMaglevSize).
using config::check_maglev_size;
using config::is_prime;

// Fills `table` (its size is M) with indexes into `backends`, in the caller's order, or
// abi::kNoBackend everywhere when no backend has weight. Returns "" or the reason the
// table cannot be built (M not prime, more weighted backends than slots, ...).
std::string build_maglev(std::span<const MaglevBackend> backends, abi::HashKey key,
                         std::span<uint16_t> table);

}  // namespace fulcrum::cp
