// Which Maglev table sizes the balancer accepts. The lookup table of a VIP has M entries;
// M must be prime so that every backend's (offset, skip) permutation visits every entry
// (skip in 1..M-1 is then coprime with M), which is what makes the table fill evenly.
// The upper bound is the data plane's table pool, shared by all VIPs.
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/abi/limits.h"

namespace fulcrum::config {

using abi::kMaxMaglevSize;
inline constexpr uint32_t kDefaultMaglevSize = 65537;

// Exact for every 64-bit value (deterministic Miller-Rabin).
bool is_prime(uint64_t n);

// "" if `size` can be a VIP's maglev_size (a prime in 3 .. kMaxMaglevSize), else the reason,
// ready for an operator: "Maglev table size 65536 is not a prime (use e.g. 65537, ...)".
std::string check_maglev_size(uint64_t size);

}  // namespace fulcrum::config
