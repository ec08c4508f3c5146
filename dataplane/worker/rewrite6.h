// In-place IPv6 rewrites (issue 15): the IPv6 counterparts of rewrite.h, and the header
// translations of NAT64 (an IPv6 client, an IPv4 backend; RFC 7915's rules for TCP).
//
// IPv6 has no header checksum: only the TCP checksum, whose pseudo-header holds both
// addresses, changes, incrementally. Translating between the families swaps a 40-byte
// header (and any extension headers) for a 20-byte one or back; the pseudo-headers differ
// only in their addresses (the length and protocol words sum the same), so the TCP
// checksum is still updated, not recomputed.
#pragma once

#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include <cstring>

#include "dataplane/abi/ip6.h"
#include "dataplane/core/checksum.h"
#include "dataplane/worker/rewrite.h"

namespace fulcrum::dp {

namespace ip6_off {
inline constexpr uint32_t kPayloadLen = 4, kNextHeader = 6, kHopLimit = 7, kSrc = 8, kDst = 24;
}

inline abi::Ip6 ip6_at(const uint8_t* p) {
  abi::Ip6 a;
  std::memcpy(a.b, p, 16);
  return a;
}

// ::ffff:a.b.c.d, how the IPv6 connection table keeps a NAT64 flow's IPv4 side.
inline abi::Ip6 v4_mapped(uint32_t addr_be) {
  abi::Ip6 a{};
  a.b[10] = a.b[11] = 0xff;
  std::memcpy(a.b + 12, &addr_be, 4);
  return a;
}
inline uint32_t v4_of_mapped(const abi::Ip6& a) {
  uint32_t v;
  std::memcpy(&v, a.b + 12, 4);
  return v;
}

// The one's-complement sum of the IPv6 pseudo-header of the packet whose header is at
// `ip6`: both addresses, the upper-layer length and the next header (RFC 8200 8.1).
inline uint32_t pseudo_sum6(const uint8_t* ip6, uint32_t upper_len, uint8_t next_header) {
  const uint8_t tail[8] = {static_cast<uint8_t>(upper_len >> 24), static_cast<uint8_t>(upper_len >> 16),
                           static_cast<uint8_t>(upper_len >> 8), static_cast<uint8_t>(upper_len), 0, 0, 0, next_header};
  return csum_partial(tail, 8, csum_partial(ip6 + ip6_off::kSrc, 32));
}

// Rewrites the IPv6 addresses and TCP ports of the packet whose IPv6 header is at `ip6`
// and TCP header at `tcp`, and decrements the hop limit (the caller has checked it is > 1).
inline void nat_rewrite6(uint8_t* ip6, rte_tcp_hdr* tcp, const abi::Ip6& src, uint16_t sport, const abi::Ip6& dst,
                         uint16_t dport) {
  CsumDelta d;
  d.replace_bytes(ip6 + ip6_off::kSrc, src.b, 16);
  d.replace_bytes(ip6 + ip6_off::kDst, dst.b, 16);
  d.replace16(tcp->src_port, sport);
  d.replace16(tcp->dst_port, dport);
  std::memcpy(ip6 + ip6_off::kSrc, src.b, 16);
  std::memcpy(ip6 + ip6_off::kDst, dst.b, 16);
  tcp->src_port = sport;
  tcp->dst_port = dport;
  tcp->cksum = d.apply(tcp->cksum);
  ip6[ip6_off::kHopLimit] = static_cast<uint8_t>(ip6[ip6_off::kHopLimit] - 1);
}

// NAT64, client -> backend: the IPv6 packet (header at l3, TCP at l4, l4_len TCP bytes,
// nothing after them) becomes an IPv4 packet src:sport -> dst:dport with the hop limit
// less one as its TTL, the traffic class as its TOS and DF set (RFC 7915 5.1: the IPv6
// sender does path-MTU discovery, so the IPv4 path must report, not fragment). The frame
// shrinks by the IPv6 headers' excess over 20 bytes; the Ethernet header moves with it.
// Returns the new l4 offset.
inline uint32_t translate_6to4(rte_mbuf* m, uint32_t l3, uint32_t l4, uint16_t l4_len, uint32_t src, uint16_t sport,
                               uint32_t dst, uint16_t dport) {
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* ip6 = data + l3;
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(data + l4);
  CsumDelta d;
  d.remove_bytes(ip6 + ip6_off::kSrc, 32);
  d.add_bytes(&src, 4);
  d.add_bytes(&dst, 4);
  d.replace16(tcp->src_port, sport);
  d.replace16(tcp->dst_port, dport);
  tcp->src_port = sport;
  tcp->dst_port = dport;
  tcp->cksum = d.apply(tcp->cksum);
  const uint8_t tclass = static_cast<uint8_t>((ip6[0] << 4) | (ip6[1] >> 4));
  const uint8_t ttl = static_cast<uint8_t>(ip6[ip6_off::kHopLimit] - 1);
  const uint32_t shrink = (l4 - l3) - 20;
  std::memmove(data + shrink, data, l3);   // the Ethernet header (and tag) follow the IP header
  rte_pktmbuf_adj(m, static_cast<uint16_t>(shrink));
  data = rte_pktmbuf_mtod(m, uint8_t*);
  // The ethertype: the last two bytes before the IP header (after any VLAN tag).
  data[l3 - 2] = 0x08;
  data[l3 - 1] = 0x00;
  write_ipv4_header(reinterpret_cast<rte_ipv4_hdr*>(data + l3), tclass, static_cast<uint16_t>(20 + l4_len), true, ttl, 6,
                    src, dst);
  return l3 + 20;
}

// NAT64, backend -> client: the IPv4 packet (header at l3 of ihl bytes, TCP after it,
// l4_len TCP bytes, nothing after them) becomes an IPv6 packet src:sport -> dst:dport,
// TTL less one as hop limit, TOS as traffic class. The frame grows by 40 - ihl bytes;
// false (nothing changed) if the mbuf has no headroom for that.
inline bool translate_4to6(rte_mbuf* m, uint32_t l3, uint32_t ihl, uint16_t l4_len, const abi::Ip6& src, uint16_t sport,
                           const abi::Ip6& dst, uint16_t dport) {
  const uint32_t grow = 40 - ihl;
  if (rte_pktmbuf_headroom(m) < grow) return false;
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + l3);
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(data + l3 + ihl);
  CsumDelta d;
  d.remove_bytes(&ip->src_addr, 8);
  d.add_bytes(src.b, 16);
  d.add_bytes(dst.b, 16);
  d.replace16(tcp->src_port, sport);
  d.replace16(tcp->dst_port, dport);
  tcp->src_port = sport;
  tcp->dst_port = dport;
  tcp->cksum = d.apply(tcp->cksum);
  const uint8_t tos = ip->type_of_service, hop = static_cast<uint8_t>(ip->time_to_live - 1);
  uint8_t* moved = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, static_cast<uint16_t>(grow)));
  std::memmove(moved, moved + grow, l3);
  moved[l3 - 2] = 0x86;
  moved[l3 - 1] = 0xDD;
  uint8_t* ip6 = moved + l3;
  ip6[0] = static_cast<uint8_t>(0x60 | (tos >> 4));
  ip6[1] = static_cast<uint8_t>(tos << 4);
  ip6[2] = ip6[3] = 0;
  const uint16_t plen = rte_cpu_to_be_16(l4_len);
  std::memcpy(ip6 + ip6_off::kPayloadLen, &plen, 2);
  ip6[ip6_off::kNextHeader] = 6;
  ip6[ip6_off::kHopLimit] = hop;
  std::memcpy(ip6 + ip6_off::kSrc, src.b, 16);
  std::memcpy(ip6 + ip6_off::kDst, dst.b, 16);
  return true;
}

}  // namespace fulcrum::dp
