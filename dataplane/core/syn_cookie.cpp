#include "dataplane/core/syn_cookie.h"

namespace fulcrum::dp {
namespace {

uint32_t cookie_mac(const abi::HashKey& key, const FlowKey& fwd, uint32_t client_isn, uint32_t counter, uint32_t mss_index) {
  struct {
    FlowKey fwd;
    uint32_t isn;
    uint64_t counter_and_mss;
  } in{fwd, client_isn, uint64_t{counter} << 2 | mss_index};
  static_assert(sizeof in == 24);
  return static_cast<uint32_t>(abi::siphash<2, 4>(key, &in, sizeof in)) & 0x01FF'FFFF;
}

}  // namespace

uint32_t make_syn_cookie(const abi::HashKey& key, const FlowKey& fwd, uint32_t client_isn, uint32_t now_ms,
                         uint32_t mss_index) {
  uint32_t counter = now_ms >> kCookiePeriodShift;
  mss_index &= 3;
  return (counter & 31) << 27 | mss_index << 25 | cookie_mac(key, fwd, client_isn, counter, mss_index);
}

uint16_t check_syn_cookie(const abi::HashKey& key, const FlowKey& fwd, uint32_t client_isn, uint32_t cookie,
                          uint32_t now_ms) {
  uint32_t now = now_ms >> kCookiePeriodShift;
  // The counter that was current when the cookie was made: the latest one with these low
  // bits, at most one period back.
  uint32_t age = (now - (cookie >> 27)) & 31;
  if (age > 1) return 0;
  uint32_t counter = (now - age) & 0xFFFF;
  uint32_t mss_index = (cookie >> 25) & 3;
  if ((cookie & 0x01FF'FFFF) != cookie_mac(key, fwd, client_isn, counter, mss_index)) return 0;
  return kCookieMss[mss_index];
}

}  // namespace fulcrum::dp
