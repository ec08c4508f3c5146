// First look at a received frame: where the headers are and whether they are sane.
// Pure (a byte span, no mbuf) so every malformed-packet rule is unit-tested directly.
//
// Decisions (docs/dataplane.md):
//  * One 802.1Q tag is accepted and kept on the frame; stacked tags are not.
//  * IPv4 options are accepted: headers are located by IHL, options are forwarded as they
//    are, and counted.
//  * Fragments are dropped and counted. A balancer without reassembly cannot give a
//    non-first fragment its flow's NAT (it has no ports); TCP with path-MTU discovery
//    (which translated ICMP errors keep working) does not fragment.
//  * Ethernet padding beyond the IPv4 total length (IPv6: 40 + payload length) is not part
//    of the packet.
//  * IPv6 (ethertype 0x86DD, also behind the one tag) has kinds of its own (Tcp6, Icmp6,
//    OtherIp6), so code written for IPv4 headers never sees one. Refused: a version other
//    than 6, payload length 0 (jumbogram) or beyond the frame, a multicast, loopback or
//    v4-mapped source, and the unspecified source (::) on anything but ICMPv6 (duplicate
//    address detection sends from ::). Extension headers walked: Hop-by-Hop (first only),
//    Destination Options, Routing with Segments Left 0 (more: a counted drop, the packet's
//    next stop is another node); at most kMaxIpv6ExtHeaders, each whole inside the first
//    segment and the packet, or the frame is dropped (ipv6_bad_ext_headers). A Fragment
//    header is a fragment (ip_fragment), atomic ones too; ESP, AH, No Next Header and
//    anything unknown end the walk as OtherIp6.
#pragma once

#include <cstdint>

#include "dataplane/abi/counters.h"

namespace fulcrum::dp {

// The v4 kinds keep their values; the v6 ones are appended.
enum class FrameKind : uint8_t { Drop, Arp, Tcp, Icmp, OtherIp, Tcp6, Icmp6, OtherIp6 };

inline constexpr uint32_t kMaxIpv6ExtHeaders = 4;  // HBH, DestOpts, Routing, DestOpts (RFC 8200 §4.1)

struct ParsedFrame {
  FrameKind kind = FrameKind::Drop;
  abi::DropReason drop = abi::DropReason::FrameTooShort;  // when kind == Drop
  bool has_options = false;  // IPv4 options
  bool ipv6_ext = false;     // IPv6 extension headers before l4
  uint16_t l3 = 0;            // offset of the ARP, IPv4 or IPv6 header
  uint16_t l4 = 0;            // offset of the TCP/ICMP/ICMPv6 header (after extension headers)
  uint16_t ip_total = 0;      // IPv4 total length; IPv6: 40 + payload length
  uint16_t l4_len = 0;        // bytes from l4 to the end of the IP packet
  uint8_t tcp_flags = 0;
  uint8_t tcp_header_len = 0;
};
// Copied once per packet into the worker's pending array: keep it at 16 bytes.
static_assert(sizeof(ParsedFrame) == 16);

namespace ethertype {
inline constexpr uint16_t kIpv4 = 0x0800, kArp = 0x0806, kVlan = 0x8100, kIpv6 = 0x86DD;
}

// `data` holds the first `contiguous` bytes of a frame of `frame_len` bytes (the headers
// must be in the first segment). `ip_csum_verified` skips the header checksum when the NIC
// has already checked it.
ParsedFrame parse_frame(const uint8_t* data, uint32_t contiguous, uint32_t frame_len, bool ip_csum_verified);

// Source addresses no host may send from: 0/8, 127/8, multicast/reserved and broadcast.
bool is_bad_source(uint32_t addr_be);
// IPv6 sources no host may send from: multicast (ff00::/8), loopback (::1) and v4-mapped
// (::ffff:0:0/96). The unspecified address (::) is not among them: whether it may be a
// source depends on the protocol (parse_frame() allows it for ICMPv6 only).
bool is_bad_source6(const uint8_t* addr16);

}  // namespace fulcrum::dp
