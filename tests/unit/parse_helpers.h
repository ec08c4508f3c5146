// Helpers the parser's unit tests share (test_dp_core.cpp, test_packet_parse_ipv6.cpp).
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "dataplane/core/packet_parse.h"
#include "tests/rig/packet.h"

namespace fulcrum::dp::parse_test {

// Runs the parser on a copy held in an allocation of exactly `contiguous` bytes, so that
// AddressSanitizer reports any read beyond what the parser was told it may read.
inline ParsedFrame parse_exact(const test::Bytes& frame, size_t contiguous, size_t frame_len, bool csum_ok = false) {
  size_t have = std::min(contiguous, frame.size());
  std::unique_ptr<uint8_t[]> copy(new uint8_t[have == 0 ? 1 : have]);
  if (have != 0) std::memcpy(copy.get(), frame.data(), have);
  return parse_frame(copy.get(), static_cast<uint32_t>(have), static_cast<uint32_t>(frame_len), csum_ok);
}
inline ParsedFrame parse_all(const test::Bytes& frame) { return parse_exact(frame, frame.size(), frame.size()); }

inline std::string describe(const ParsedFrame& f) {
  static const char* kinds[] = {"Drop", "Arp", "Tcp", "Icmp", "OtherIp", "Tcp6", "Icmp6", "OtherIp6"};
  std::string out = kinds[static_cast<int>(f.kind)];
  if (f.kind == FrameKind::Drop) out += "(" + std::string(abi::name_of(f.drop)) + ")";
  return out;
}

}  // namespace fulcrum::dp::parse_test
