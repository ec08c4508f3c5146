// In-place header rewrites shared by the forward, reply, ICMP and reset paths.
#pragma once

#include <rte_ip.h>
#include <rte_tcp.h>

#include <cstring>

#include "dataplane/core/checksum.h"

namespace fulcrum::dp {

// Rewrites the IPv4 addresses and TCP ports (any may stay the same), decrements the TTL,
// and updates both checksums incrementally: the addresses are in the IP header and in the
// TCP pseudo-header, the ports only in TCP, the TTL only in IP.
inline void nat_rewrite(rte_ipv4_hdr* ip, rte_tcp_hdr* tcp, uint32_t src, uint16_t sport, uint32_t dst,
                        uint16_t dport) {
  CsumDelta addrs, ports, ttl;
  addrs.replace32(ip->src_addr, src);
  addrs.replace32(ip->dst_addr, dst);
  ports.replace16(tcp->src_port, sport);
  ports.replace16(tcp->dst_port, dport);
  uint16_t old_word, new_word;
  std::memcpy(&old_word, &ip->time_to_live, 2);
  ip->time_to_live = static_cast<uint8_t>(ip->time_to_live - 1);
  std::memcpy(&new_word, &ip->time_to_live, 2);
  ttl.replace16(old_word, new_word);

  ip->src_addr = src;
  ip->dst_addr = dst;
  tcp->src_port = sport;
  tcp->dst_port = dport;
  CsumDelta ip_delta = addrs;
  ip_delta.add(ttl);
  ip->hdr_checksum = ip_delta.apply(ip->hdr_checksum);
  CsumDelta tcp_delta = addrs;
  tcp_delta.add(ports);
  tcp->cksum = tcp_delta.apply(tcp->cksum);
}

// Decrements the TTL of a packet we forward without other changes (ICMP errors).
inline void decrement_ttl(rte_ipv4_hdr* ip) {
  CsumDelta d;
  uint16_t old_word, new_word;
  std::memcpy(&old_word, &ip->time_to_live, 2);
  ip->time_to_live = static_cast<uint8_t>(ip->time_to_live - 1);
  std::memcpy(&new_word, &ip->time_to_live, 2);
  d.replace16(old_word, new_word);
  ip->hdr_checksum = d.apply(ip->hdr_checksum);
}

}  // namespace fulcrum::dp
