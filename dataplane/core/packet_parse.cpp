#include "dataplane/core/packet_parse.h"

#include <arpa/inet.h>

#include <algorithm>
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

bool is_bad_source6(const uint8_t* a) {
  if (a[0] == 0xFF) return true;  // multicast
  static constexpr uint8_t kZero10[10] = {};
  if (std::memcmp(a, kZero10, 10) != 0) return false;
  if (a[10] == 0xFF && a[11] == 0xFF) return true;  // ::ffff:0:0/96, v4-mapped
  static constexpr uint8_t kLoopback[6] = {0, 0, 0, 0, 0, 1};
  return std::memcmp(a + 10, kLoopback, 6) == 0;  // ::1
}

namespace {

// The transport header both families share the rules of: TCP (data offset and flags) and
// ICMP / ICMPv6 (the 8-byte header in the first segment). `f.l4` and `f.l4_len` are set.
ParsedFrame transport(ParsedFrame f, const uint8_t* data, uint32_t contiguous, uint8_t proto, bool v6) {
  using abi::DropReason;
  uint32_t l4_in_first_segment = contiguous > f.l4 ? contiguous - f.l4 : 0;
  if (proto == 6) {
    if (f.l4_len < 20 || l4_in_first_segment < 20) return dropped(DropReason::TcpTruncated);
    const uint8_t* tcp = data + f.l4;
    uint32_t doff = (tcp[12] >> 4) * 4u;
    if (doff < 20 || doff > f.l4_len || doff > l4_in_first_segment) return dropped(DropReason::TcpBadDataOffset);
    f.tcp_flags = tcp[13];
    if (impossible_flags(f.tcp_flags)) return dropped(DropReason::TcpBadFlags);
    f.tcp_header_len = static_cast<uint8_t>(doff);
    f.kind = v6 ? FrameKind::Tcp6 : FrameKind::Tcp;
    return f;
  }
  if (proto == (v6 ? 58 : 1)) {  // ICMP, ICMPv6
    if (f.l4_len < 8 || l4_in_first_segment < 8) return dropped(DropReason::IcmpTruncated);
    f.kind = v6 ? FrameKind::Icmp6 : FrameKind::Icmp;
    return f;
  }
  f.kind = v6 ? FrameKind::OtherIp6 : FrameKind::OtherIp;
  return f;
}

ParsedFrame parse_ipv4(ParsedFrame f, const uint8_t* data, uint32_t contiguous, uint32_t frame_len,
                       bool ip_csum_verified) {
  using abi::DropReason;
  const uint32_t l3 = f.l3;
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
  return transport(f, data, contiguous, ip[9], false);
}

namespace next_header {
inline constexpr uint8_t kHopByHop = 0, kRouting = 43, kFragment = 44, kDestOptions = 60;
}

// RFC 8200. The walk reads only bytes inside both the first segment and the IP packet:
// `readable` is the smaller of the two, counted from the IPv6 header.
ParsedFrame parse_ipv6(ParsedFrame f, const uint8_t* data, uint32_t contiguous, uint32_t frame_len) {
  using abi::DropReason;
  const uint32_t l3 = f.l3;
  if (contiguous < l3 + 40u) return dropped(DropReason::IpTruncated);
  const uint8_t* ip = data + l3;
  if ((ip[0] >> 4) != 6) return dropped(DropReason::IpBadVersion);
  const uint32_t payload = load16(ip + 4);
  // 0 announces a jumbogram (RFC 2675): no link here carries one. The total must fit the
  // 16-bit ip_total the worker trims padding with.
  if (payload == 0 || payload > 0xFFFF - 40u || l3 + 40 + payload > frame_len)
    return dropped(DropReason::IpBadTotalLength);
  const uint8_t* src = ip + 8;
  if (is_bad_source6(src)) return dropped(DropReason::IpBadSource);

  const uint32_t packet_len = 40 + payload;
  const uint32_t readable = std::min(contiguous - l3, packet_len);
  uint32_t at = 40;
  uint8_t next = ip[6];
  for (uint32_t seen = 0;; ++seen) {
    const bool walked = next == next_header::kHopByHop || next == next_header::kDestOptions ||
                        next == next_header::kRouting;
    if (!walked) break;
    // Hop-by-Hop only right after the IPv6 header (RFC 8200 §4.1); a bounded chain.
    if ((next == next_header::kHopByHop && seen != 0) || seen == kMaxIpv6ExtHeaders || readable < at + 8)
      return dropped(DropReason::Ipv6BadExtHeaders);
    const uint32_t len = (ip[at + 1] + 1u) * 8u;
    if (readable < at + len) return dropped(DropReason::Ipv6BadExtHeaders);
    // Segments Left > 0: the packet's destination is this hop, not its last one.
    if (next == next_header::kRouting && ip[at + 3] != 0) return dropped(DropReason::Ipv6RoutingHeader);
    next = ip[at];
    at += len;
  }
  // Atomic fragments (offset 0, no more fragments) too: no stack needs to send them
  // (RFC 8021), and one rule keeps the translated flows free of a header that moves l4.
  if (next == next_header::kFragment) return dropped(DropReason::IpFragment);
  // DAD probes come from ::; a TCP segment from :: has no one to answer.
  static constexpr uint8_t kUnspecified[16] = {};
  if (next != 58 && std::memcmp(src, kUnspecified, 16) == 0) return dropped(DropReason::IpBadSource);

  f.ipv6_ext = at > 40;
  f.ip_total = static_cast<uint16_t>(packet_len);
  f.l4 = static_cast<uint16_t>(l3 + at);
  f.l4_len = static_cast<uint16_t>(packet_len - at);
  return transport(f, data, contiguous, next, true);
}

}  // namespace

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
  switch (type) {
    case ethertype::kArp:
      f.kind = FrameKind::Arp;
      return f;
    case ethertype::kIpv4:
      return parse_ipv4(f, data, contiguous, frame_len, ip_csum_verified);
    case ethertype::kIpv6:
      return parse_ipv6(f, data, contiguous, frame_len);
    default:
      return dropped(DropReason::UnknownEthertype);
  }
}

}  // namespace fulcrum::dp
