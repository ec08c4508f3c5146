#include "dataplane/core/packet_parse.h"

#include <arpa/inet.h>

#include <cstring>

#include "dataplane/core/checksum.h"
#include "dataplane/core/tcp_state.h"

namespace fulcrum::dp {
namespace {

uint16_t load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return ntohs(v);
}

// The IPv4 header checksum verifies to zero. Sums 32-bit words into 64 bits (the header
// is a whole number of them), folding once at the end.
bool ipv4_header_ok(const uint8_t* ip, uint32_t ihl) {
  uint64_t sum = 0;
  for (uint32_t i = 0; i < ihl; i += 4) {
    uint32_t w;
    std::memcpy(&w, ip + i, 4);
    sum += w;
  }
  sum = (sum & 0xFFFFFFFF) + (sum >> 32);
  sum = (sum & 0xFFFFFFFF) + (sum >> 32);
  return csum_fold(static_cast<uint32_t>(sum & 0xFFFF) + static_cast<uint32_t>(sum >> 16)) == 0xFFFF;
}

ParsedFrame dropped(abi::DropReason why) {
  ParsedFrame f;
  f.kind = FrameKind::Drop;
  f.drop = why;
  return f;
}

// SYN+FIN, SYN+RST and no flags at all are never sent by a real stack: scans and attacks.
bool impossible_flags(uint8_t flags) {
  using namespace tcp_bit;
  if ((flags & (SYN | FIN)) == (SYN | FIN) || (flags & (SYN | RST)) == (SYN | RST)) return true;
  return (flags & (FIN | SYN | RST | PSH | ACK | 0x20 /*URG*/)) == 0;
}

}  // namespace

bool is_bad_source(uint32_t addr_be) {
  uint32_t a = ntohl(addr_be);
  uint8_t first = static_cast<uint8_t>(a >> 24);
  return first == 0 || first == 127 || first >= 224;
}

ParsedFrame parse_frame(const uint8_t* data, uint32_t contiguous, uint32_t frame_len, bool ip_csum_verified) {
  using abi::DropReason;
  if (contiguous > frame_len) contiguous = frame_len;
  if (contiguous < 14) return dropped(DropReason::FrameTooShort);
  uint16_t type = load16(data + 12);
  uint16_t l3 = 14;
  if (type == ethertype::kVlan) {
    if (contiguous < 18) return dropped(DropReason::FrameTooShort);
    type = load16(data + 16);
    l3 = 18;
  }
  ParsedFrame f;
  f.l3 = l3;
  if (type == ethertype::kArp) {
    f.kind = FrameKind::Arp;
    return f;
  }
  if (type != ethertype::kIpv4) return dropped(DropReason::UnknownEthertype);

  if (contiguous < l3 + 20u) return dropped(DropReason::IpTruncated);
  const uint8_t* ip = data + l3;
  if ((ip[0] >> 4) != 4) return dropped(DropReason::IpBadVersion);
  uint32_t ihl = (ip[0] & 0x0F) * 4u;
  if (ihl < 20) return dropped(DropReason::IpBadIhl);
  if (contiguous < l3 + ihl) return dropped(DropReason::IpTruncated);
  uint16_t total = load16(ip + 2);
  if (total < ihl || l3 + uint32_t{total} > frame_len) return dropped(DropReason::IpBadTotalLength);
  if (!ip_csum_verified && !ipv4_header_ok(ip, ihl)) return dropped(DropReason::IpBadChecksum);
  uint32_t src;
  std::memcpy(&src, ip + 12, 4);
  if (is_bad_source(src)) return dropped(DropReason::IpBadSource);
  uint16_t frag = load16(ip + 6);
  if ((frag & 0x2000) != 0 || (frag & 0x1FFF) != 0) return dropped(DropReason::IpFragment);

  f.has_options = ihl > 20;
  f.ip_total = total;
  f.l4 = static_cast<uint16_t>(l3 + ihl);
  f.l4_len = static_cast<uint16_t>(total - ihl);
  uint32_t l4_in_first_segment = contiguous > f.l4 ? contiguous - f.l4 : 0;
  switch (ip[9]) {
    case 6: {  // TCP
      if (f.l4_len < 20 || l4_in_first_segment < 20) return dropped(DropReason::TcpTruncated);
      const uint8_t* tcp = data + f.l4;
      uint32_t doff = (tcp[12] >> 4) * 4u;
      if (doff < 20 || doff > f.l4_len || doff > l4_in_first_segment) return dropped(DropReason::TcpBadDataOffset);
      f.tcp_flags = tcp[13];
      if (impossible_flags(f.tcp_flags)) return dropped(DropReason::TcpBadFlags);
      f.tcp_header_len = static_cast<uint8_t>(doff);
      f.kind = FrameKind::Tcp;
      return f;
    }
    case 1:  // ICMP
      if (f.l4_len < 8 || l4_in_first_segment < 8) return dropped(DropReason::IcmpTruncated);
      f.kind = FrameKind::Icmp;
      return f;
    default:
      f.kind = FrameKind::OtherIp;
      return f;
  }
}

}  // namespace fulcrum::dp
