// An IPv6 address as it sits in the packet (network byte order), shared by the tables
// region and the data plane's own structures (issue 15). A plain byte array, so that it
// has no alignment of its own and packs into keys and shared-memory entries.
#pragma once

#include <cstdint>

namespace fulcrum::abi {

struct Ip6 {
  uint8_t b[16];
  bool operator==(const Ip6&) const = default;
};
static_assert(sizeof(Ip6) == 16 && alignof(Ip6) == 1);

}  // namespace fulcrum::abi
