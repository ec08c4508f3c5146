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
//  * Ethernet padding beyond the IPv4 total length is not part of the packet.
#pragma once

#include <cstdint>

#include "dataplane/abi/counters.h"

namespace fulcrum::dp {

enum class FrameKind : uint8_t { Drop, Arp, Tcp, Icmp, OtherIp };

struct ParsedFrame {
  FrameKind kind = FrameKind::Drop;
  abi::DropReason drop = abi::DropReason::FrameTooShort;  // when kind == Drop
  bool has_options = false;
  uint16_t l3 = 0;            // offset of the ARP or IPv4 header
  uint16_t l4 = 0;            // offset of the TCP/ICMP header
  uint16_t ip_total = 0;      // IPv4 total length
  uint16_t l4_len = 0;        // bytes from l4 to the end of the IP packet
  uint8_t tcp_flags = 0;
  uint8_t tcp_header_len = 0;
};

namespace ethertype {
inline constexpr uint16_t kIpv4 = 0x0800, kArp = 0x0806, kVlan = 0x8100;
}

// `data` holds the first `contiguous` bytes of a frame of `frame_len` bytes (the headers
// must be in the first segment). `ip_csum_verified` skips the header checksum when the NIC
// has already checked it.
ParsedFrame parse_frame(const uint8_t* data, uint32_t contiguous, uint32_t frame_len, bool ip_csum_verified);

// Source addresses no host may send from: 0/8, 127/8, multicast/reserved and broadcast.
bool is_bad_source(uint32_t addr_be);

}  // namespace fulcrum::dp
