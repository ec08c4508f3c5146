// SYN cookies for the SYN proxy (docs/dataplane.md, "SYN proxy").
//
// The initial sequence number the proxy gives a client encodes everything it must know
// when the client's ACK comes back, so that an unanswered SYN costs no state at all:
//
//   bits 31-27  a 64-second counter (mod 32): the cookie is good for two counters, 64-128 s
//   bits 26-25  the MSS, as an index into kCookieMss (the largest entry <= the client's)
//   bits 24-0   a MAC: SipHash-2-4, keyed with a secret of this data plane, over the
//               4-tuple, the client's ISN, the full counter and the MSS index
//
// Linux's cookies have the same shape (net/ipv4/syncookies.c, also SipHash since 4.14).
// A blind attacker's ACK passes with probability 2^-25 per try; the keyed hash makes the
// MAC unpredictable without the secret, which never leaves the process.
#pragma once

#include <cstdint>

#include "dataplane/abi/flow_hash.h"
#include "dataplane/core/flow_table.h"

namespace fulcrum::dp {

inline constexpr uint16_t kCookieMss[4] = {536, 1300, 1440, 1460};
inline constexpr uint32_t kCookiePeriodShift = 16;   // now_ms >> 16: 65.5 s counters
// The data plane's millisecond clock is 32 bits (it wraps every 49.7 days), so counters are
// taken modulo 2^16 and a cookie made just before the wrap still checks just after it.

// The index of the largest kCookieMss entry not above `client_mss` (0 when it is tiny).
constexpr uint32_t cookie_mss_index(uint16_t client_mss) {
  uint32_t i = 3;
  while (i > 0 && kCookieMss[i] > client_mss) --i;
  return i;
}

// The cookie (our ISN) for a SYN on `fwd` (client -> VIP) with the client's ISN.
uint32_t make_syn_cookie(const abi::HashKey& key, const FlowKey& fwd, uint32_t client_isn, uint32_t now_ms,
                         uint32_t mss_index);

// Checks `cookie` (the client's ACK number minus 1) for the client's ISN (its sequence
// number minus 1). The MSS it encodes, or 0 if the cookie is forged or too old.
uint16_t check_syn_cookie(const abi::HashKey& key, const FlowKey& fwd, uint32_t client_isn, uint32_t cookie,
                          uint32_t now_ms);

}  // namespace fulcrum::dp
