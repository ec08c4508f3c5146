// Incremental Internet checksum updates (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).
//
// NAT rewrites a few 16/32-bit fields; recomputing a TCP checksum over the whole segment
// would touch every payload byte, the incremental update touches none. Values are taken
// exactly as they sit in the header (network order): one's-complement sums are byte-order
// independent as long as every operand is read the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fulcrum::dp {

constexpr uint16_t csum_fold(uint32_t sum) {
  sum = (sum & 0xFFFF) + (sum >> 16);
  sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// Accumulates replaced fields, then updates one or more checksums that cover them.
class CsumDelta {
 public:
  constexpr void replace16(uint16_t old_v, uint16_t new_v) {
    sum_ += static_cast<uint16_t>(~old_v);
    sum_ += new_v;
  }
  constexpr void replace32(uint32_t old_v, uint32_t new_v) {
    replace16(static_cast<uint16_t>(old_v), static_cast<uint16_t>(new_v));
    replace16(static_cast<uint16_t>(old_v >> 16), static_cast<uint16_t>(new_v >> 16));
  }
  // A field leaves or enters the checksummed data (IPv6 <-> IPv4 translation, issue 15:
  // 32 bytes of addresses out of the pseudo-header, 8 in). `n` even.
  void remove_bytes(const void* p, size_t n) {
    for (size_t k = 0; k < n; k += 2) {
      uint16_t w;
      std::memcpy(&w, static_cast<const uint8_t*>(p) + k, 2);
      sum_ += static_cast<uint16_t>(~w);
    }
  }
  void add_bytes(const void* p, size_t n) {
    for (size_t k = 0; k < n; k += 2) {
      uint16_t w;
      std::memcpy(&w, static_cast<const uint8_t*>(p) + k, 2);
      sum_ += w;
    }
  }
  // Replaces an IPv6 address (16 bytes) in place in the sum.
  void replace_bytes(const void* old_p, const void* new_p, size_t n) {
    remove_bytes(old_p, n);
    add_bytes(new_p, n);
  }
  // Merges another delta (e.g. the address changes both the IP and TCP checksums see).
  constexpr void add(const CsumDelta& other) { sum_ += other.sum_; }
  // The checksum after the replacements (takes and returns the field as stored).
  [[nodiscard]] constexpr uint16_t apply(uint16_t checksum) const {
    return static_cast<uint16_t>(~csum_fold(static_cast<uint16_t>(~checksum) + csum_fold(sum_)));
  }

 private:
  uint32_t sum_ = 0;
};

// Full one's-complement sum of a buffer (for headers built from scratch and for tests).
inline uint32_t csum_partial(const void* data, size_t len, uint32_t sum = 0) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (len >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    sum += w;
    p += 2;
    len -= 2;
  }
  if (len == 1) {
    uint16_t w = 0;
    std::memcpy(&w, p, 1);
    sum += w;
  }
  return csum_fold(sum);
}

inline uint16_t csum_finish(uint32_t sum) { return static_cast<uint16_t>(~csum_fold(sum)); }

}  // namespace fulcrum::dp
