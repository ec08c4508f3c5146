// In-place header rewrites shared by the forward, reply, ICMP, reset and SYN-proxy paths.
#pragma once

#include <rte_ip.h>
#include <rte_mbuf.h>
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

// Makes the mbuf hold exactly `len` bytes of frame (the headers we write); false if it
// cannot grow that far.
inline bool resize_frame(rte_mbuf* m, uint32_t len) {
  if (m->pkt_len > len) return rte_pktmbuf_trim(m, static_cast<uint16_t>(m->pkt_len - len)) == 0;
  if (m->pkt_len < len) return rte_pktmbuf_append(m, static_cast<uint16_t>(len - m->pkt_len)) != nullptr;
  return true;
}

// Writes a 20-byte IPv4 header (no options, id 0) with its checksum.
inline void write_ipv4_header(rte_ipv4_hdr* ip, uint8_t tos, uint16_t total_len, bool df, uint8_t ttl, uint8_t proto,
                              uint32_t src, uint32_t dst) {
  ip->version_ihl = 0x45;
  ip->type_of_service = tos;
  ip->total_length = rte_cpu_to_be_16(total_len);
  ip->packet_id = 0;
  ip->fragment_offset = df ? rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG) : 0;
  ip->time_to_live = ttl;
  ip->next_proto_id = proto;
  ip->src_addr = src;
  ip->dst_addr = dst;
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
}

// Writes a 20-byte IPv4 header and a TCP header (with an MSS option when mss != 0) at
// `l3`, with full checksums. The frame must already be l3 + 40 (+4) bytes long.
inline void write_tcp_packet(uint8_t* frame, uint32_t l3, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                      uint32_t seq, uint32_t ack, uint8_t flags, uint16_t window, uint16_t mss) {
  const uint16_t tcp_len = mss != 0 ? 24 : 20;
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(frame + l3);
  write_ipv4_header(ip, 0, static_cast<uint16_t>(20 + tcp_len), true, 64, 6, src, dst);
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(frame + l3 + 20);
  tcp->src_port = sport;
  tcp->dst_port = dport;
  tcp->sent_seq = rte_cpu_to_be_32(seq);
  tcp->recv_ack = rte_cpu_to_be_32(ack);
  tcp->data_off = static_cast<uint8_t>((tcp_len / 4) << 4);
  tcp->tcp_flags = flags;
  tcp->rx_win = rte_cpu_to_be_16(window);
  tcp->tcp_urp = 0;
  if (mss != 0) {
    uint8_t* opt = reinterpret_cast<uint8_t*>(tcp + 1);
    opt[0] = 2;
    opt[1] = 4;
    opt[2] = static_cast<uint8_t>(mss >> 8);
    opt[3] = static_cast<uint8_t>(mss);
  }
  tcp->cksum = 0;
  tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
}

}  // namespace fulcrum::dp
