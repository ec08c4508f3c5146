// libFuzzer target: parse_frame() on arbitrary bytes, as a worker calls it (the headers in
// the first segment, a frame length that may be longer), then every byte a worker reads
// after a successful parse, so that ASan sees any read the parser's checks allow outside
// the segment. Run: build-fuzz/tests/fuzz/fuzz_parse_frame [corpus] (docs/dataplane.md).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dataplane/core/packet_parse.h"

using fulcrum::dp::FrameKind;
using fulcrum::dp::ParsedFrame;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // First byte: how much of the frame is "in the first segment"; second: checksum offload.
  const size_t frame_len = size - 2;
  const size_t contiguous = frame_len == 0 ? 0 : data[0] % (frame_len + 1);
  const bool csum_ok = data[1] & 1;
  // An exact-size copy: any read past `contiguous` is a heap overflow ASan reports.
  std::vector<uint8_t> first(data + 2, data + 2 + contiguous);
  ParsedFrame f = fulcrum::dp::parse_frame(first.data(), static_cast<uint32_t>(contiguous),
                                           static_cast<uint32_t>(frame_len), csum_ok);
  volatile uint8_t sink = 0;
  switch (f.kind) {
    case FrameKind::Tcp:
      // What the worker reads: TTL, addresses, ports, flags, the whole TCP header.
      sink = static_cast<uint8_t>(sink ^ first[f.l3 + 8]);
      for (uint32_t k = 12; k < 20; ++k) sink = static_cast<uint8_t>(sink ^ first[f.l3 + k]);
      for (uint32_t k = 0; k < f.tcp_header_len; ++k) sink = static_cast<uint8_t>(sink ^ first[f.l4 + k]);
      break;
    case FrameKind::Icmp:
      for (uint32_t k = 0; k < 8; ++k) sink = static_cast<uint8_t>(sink ^ first[f.l4 + k]);
      for (uint32_t k = 0; k < 20; ++k) sink = static_cast<uint8_t>(sink ^ first[f.l3 + k]);
      break;
    case FrameKind::OtherIp:
      for (uint32_t k = 0; k < 20; ++k) sink = static_cast<uint8_t>(sink ^ first[f.l3 + k]);
      break;
    case FrameKind::Tcp6:
    case FrameKind::Icmp6:
    case FrameKind::OtherIp6:
      // The IPv6 header and every extension header walked (l3 to l4), then the transport
      // header the kind promises.
      for (uint32_t k = f.l3; k < f.l4; ++k) sink = static_cast<uint8_t>(sink ^ first[k]);
      if (f.kind == FrameKind::Tcp6)
        for (uint32_t k = 0; k < f.tcp_header_len; ++k) sink = static_cast<uint8_t>(sink ^ first[f.l4 + k]);
      if (f.kind == FrameKind::Icmp6)
        for (uint32_t k = 0; k < 8; ++k) sink = static_cast<uint8_t>(sink ^ first[f.l4 + k]);
      break;
    case FrameKind::Arp:
    case FrameKind::Drop:
      break;
  }
  (void)sink;
  return 0;
}
