// lb-loadgen's frames: how a flow index becomes a TCP/IPv4 frame on either side of the
// balancer, and what a correctly translated frame must look like.
//
// Why flow indices and not a flow table: every client 4-tuple is computed from an index
// (address = base + index / 16384, port = 1024 + index % 16384), so a received frame tells
// its flow by arithmetic, and per-flow state is a plain array (8M flows: 8 MB). The TCP
// acknowledgement field carries the index too: a frame whose headers were rewritten with
// another flow's addresses fails the check. The sequence field carries a TSC stamp
// (latency): the balancer in nat mode changes neither.
//
// 64-byte frames on the wire: 54 bytes of headers padded to 60 (+4 FCS). The balancer trims
// the padding (it forwards the IP datagram), so translated frames arrive with 54 bytes.
#pragma once

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include <array>
#include <cstdint>
#include <cstring>

namespace fulcrum::loadgen {

using Mac = std::array<uint8_t, 6>;

// The rig (tools/loadgen/memif_rig.sh writes the balancer's config from the same numbers).
struct Rig {
  Mac lg_client_mac{0x02, 0, 0, 0, 0xAA, 0x01};   // our client-side port: the clients' gateway
  Mac lg_backend_mac{0x02, 0, 0, 0, 0xBB, 0x01};  // our backend-side port: every backend
  Mac lb_client_mac{0x02, 0, 0, 0, 0x01, 0x01};   // the balancer's client port
  Mac lb_backend_mac{0x02, 0, 0, 0, 0x02, 0x01};  // the balancer's backend port
  uint32_t vip = 0xC612000A;                       // 198.18.0.10 (host order)
  uint16_t vip_port = 80;
  uint32_t first_backend = 0xC612020B;            // 198.18.2.11 ...
  uint32_t backends = 8;
  uint16_t backend_port = 8080;
};

// Which part of the client address space a flow index lives in (the top address byte).
enum class Space : uint8_t { Established = 10, Syn = 11, Conn = 12 };

inline constexpr uint32_t kPortsPerAddr = 16384;
inline constexpr uint32_t kMaxIndex = 1u << 26;  // 4096 addresses per space

inline uint32_t client_addr(Space s, uint32_t j) { return (uint32_t{static_cast<uint8_t>(s)} << 24) + 1 + j / kPortsPerAddr; }
inline uint16_t client_port(uint32_t j) { return static_cast<uint16_t>(1024 + j % kPortsPerAddr); }
// The flow index of a client address and port (host order); false if it is none of ours.
inline bool index_of(uint32_t addr, uint16_t port, Space* s, uint32_t* j) {
  const uint8_t top = static_cast<uint8_t>(addr >> 24);
  if (top < 10 || top > 12 || port < 1024 || port >= 1024 + kPortsPerAddr) return false;
  const uint32_t a = (addr & 0xFFFFFF) - 1;
  if (a >= kMaxIndex / kPortsPerAddr) return false;
  *s = static_cast<Space>(top);
  *j = a * kPortsPerAddr + (port - 1024u);
  return true;
}

namespace tcpf {
inline constexpr uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;
}

// One frame to send: who to whom, with what.
struct FrameSpec {
  const Mac* dst_mac;
  const Mac* src_mac;
  uint32_t src, dst;        // host order
  uint16_t sport, dport;
  uint32_t seq, ack;
  uint8_t flags;
  uint8_t payload;          // bytes of payload (0 or kDataBytes)
};
inline constexpr uint8_t kDataBytes = 16;
inline constexpr uint16_t kHeaders = 54;

// Writes the frame into m (60 bytes at least, padded with zeros).
inline void write_frame(rte_mbuf* m, const FrameSpec& s) {
  auto* d = rte_pktmbuf_mtod(m, uint8_t*);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(d);
  std::memcpy(eth->dst_addr.addr_bytes, s.dst_mac->data(), 6);
  std::memcpy(eth->src_addr.addr_bytes, s.src_mac->data(), 6);
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(d + 14);
  const uint16_t total = static_cast<uint16_t>(40 + s.payload);
  ip->version_ihl = 0x45;
  ip->type_of_service = 0;
  ip->total_length = rte_cpu_to_be_16(total);
  ip->packet_id = 0;
  ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_TCP;
  ip->hdr_checksum = 0;
  ip->src_addr = rte_cpu_to_be_32(s.src);
  ip->dst_addr = rte_cpu_to_be_32(s.dst);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(d + 34);
  tcp->src_port = rte_cpu_to_be_16(s.sport);
  tcp->dst_port = rte_cpu_to_be_16(s.dport);
  tcp->sent_seq = rte_cpu_to_be_32(s.seq);
  tcp->recv_ack = rte_cpu_to_be_32(s.ack);
  tcp->data_off = 5 << 4;
  tcp->tcp_flags = s.flags;
  tcp->rx_win = 0xFFFF;
  tcp->cksum = 0;
  tcp->tcp_urp = 0;
  uint8_t* payload = d + kHeaders;
  for (uint8_t k = 0; k < s.payload; ++k) payload[k] = static_cast<uint8_t>(s.ack + k);
  tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
  const uint16_t len = static_cast<uint16_t>(kHeaders + s.payload);
  if (len < 60) std::memset(d + len, 0, 60 - len);
  m->data_len = m->pkt_len = len < 60 ? 60 : len;
}

// What arrived, decoded; valid only when decode() returned Ok.
struct Seen {
  uint32_t src, dst;
  uint16_t sport, dport;
  uint32_t seq, ack;
  uint8_t flags;
  uint8_t ttl;
  uint16_t payload;
};

enum class Bad : uint8_t {
  Ok = 0, NotIpv4, Short, Mac, IpHeader, IpChecksum, Ttl, TcpHeader, TcpChecksum, Tuple, Backend, Flags, Payload,
  Unexpected, kCount
};
inline constexpr const char* kBadNames[] = {"ok", "not_ipv4", "short", "mac", "ip_header", "ip_checksum", "ttl",
                                            "tcp_header", "tcp_checksum", "tuple", "backend", "flags", "payload",
                                            "unexpected"};
static_assert(sizeof(kBadNames) / sizeof(kBadNames[0]) == static_cast<size_t>(Bad::kCount));

// Checks the Ethernet, IPv4 and TCP framing and both checksums; fills `seen`.
// `dst_mac`/`src_mac`: what the balancer must have written (null: not checked).
inline Bad decode(const rte_mbuf* m, const Mac* dst_mac, const Mac* src_mac, Seen* seen) {
  if (m->data_len < 14) return Bad::Short;
  const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
  const auto* eth = reinterpret_cast<const rte_ether_hdr*>(d);
  if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) return Bad::NotIpv4;
  if (m->data_len < kHeaders || m->pkt_len != m->data_len) return Bad::Short;
  if ((dst_mac && std::memcmp(eth->dst_addr.addr_bytes, dst_mac->data(), 6) != 0) ||
      (src_mac && std::memcmp(eth->src_addr.addr_bytes, src_mac->data(), 6) != 0)) {
    return Bad::Mac;
  }
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(d + 14);
  const uint16_t total = rte_be_to_cpu_16(ip->total_length);
  if (ip->version_ihl != 0x45 || ip->next_proto_id != IPPROTO_TCP || total < 40 || 14u + total > m->data_len) {
    return Bad::IpHeader;
  }
  if (rte_ipv4_cksum(ip) != 0) return Bad::IpChecksum;
  const auto* tcp = reinterpret_cast<const rte_tcp_hdr*>(d + 34);
  if (tcp->data_off != (5 << 4)) return Bad::TcpHeader;
  if (rte_ipv4_udptcp_cksum_verify(ip, tcp) != 0) return Bad::TcpChecksum;
  seen->src = rte_be_to_cpu_32(ip->src_addr);
  seen->dst = rte_be_to_cpu_32(ip->dst_addr);
  seen->sport = rte_be_to_cpu_16(tcp->src_port);
  seen->dport = rte_be_to_cpu_16(tcp->dst_port);
  seen->seq = rte_be_to_cpu_32(tcp->sent_seq);
  seen->ack = rte_be_to_cpu_32(tcp->recv_ack);
  seen->flags = tcp->tcp_flags;
  seen->ttl = ip->time_to_live;
  seen->payload = static_cast<uint16_t>(total - 40);
  if (seen->payload != 0) {
    if (seen->payload != kDataBytes) return Bad::Payload;
    const uint8_t* p = d + kHeaders;
    for (uint8_t k = 0; k < kDataBytes; ++k) {
      if (p[k] != static_cast<uint8_t>(seen->ack + k)) return Bad::Payload;
    }
  }
  return Bad::Ok;
}

}  // namespace fulcrum::loadgen
