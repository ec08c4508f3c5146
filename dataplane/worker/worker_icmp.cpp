// ICMP on the workers: echo replies for our addresses, and translation of ICMP errors
// about tracked flows, so path-MTU discovery (fragmentation needed) and other errors
// reach the right end through the NAT. Also the TCP reset sent for flows of a down
// backend whose VIP asks for it.
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "dataplane/core/checksum.h"
#include "dataplane/worker/rewrite.h"
#include "dataplane/worker/worker_internal.h"

namespace fulcrum::dp {

using abi::DropReason;
using abi::WorkerCounter;

namespace {

constexpr uint8_t kEchoReply = 0, kDestUnreachable = 3, kEchoRequest = 8, kTimeExceeded = 11;

uint16_t full_icmp_checksum(uint8_t* icmp, uint32_t len) {
  icmp[2] = icmp[3] = 0;
  return csum_finish(csum_partial(icmp, len));
}

}  // namespace

void Worker::handle_icmp(rte_mbuf* m, const ParsedFrame& f, BurstOutput& out, uint16_t i, uint32_t now_ms) {
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + f.l3);
  uint8_t* icmp = data + f.l4;
  // The whole message must be in the first segment to verify or recompute its checksum.
  if (f.l4 + uint32_t{f.l4_len} > m->data_len) {
    drop(out, i, DropReason::IcmpTruncated);
    return;
  }
  if (csum_finish(csum_partial(icmp, f.l4_len)) != 0) {
    drop(out, i, DropReason::IcmpBadChecksum);
    return;
  }
  const uint8_t type = icmp[0];
  if (type == kDestUnreachable || type == kTimeExceeded) {
    if (ip->time_to_live <= 1) {
      drop(out, i, DropReason::IpTtlExceeded);
      return;
    }
    if (!translate_icmp_error(m, f, now_ms)) {
      if (nat64_icmp4_error(m, f, out, i)) return;  // issue 15: worker_nat64.cpp
      drop(out, i, DropReason::IcmpNoFlow);
      return;
    }
    if (route_out(m, ip->dst_addr, out, i)) count(WorkerCounter::IcmpErrorsTranslated);
    return;
  }
  const abi::TableSlot* slot = view_.slot;
  bool ours = shared_.is_port_addr(ip->dst_addr) ||
              (slot != nullptr && abi::local_addr_kind(*slot, ip->dst_addr) != 0);
  if (!ours) {
    drop(out, i, DropReason::NotForUs);
    return;
  }
  if (type != kEchoRequest) {
    drop(out, i, DropReason::IcmpUnsupported);
    return;
  }
  if (is_own_address(ip->src_addr)) {  // we would answer ourselves
    drop(out, i, DropReason::IpBadSource);
    return;
  }
  // Echo reply in place: swap the addresses (the header checksum does not change), fresh
  // TTL, type 8 -> 0 (the ICMP checksum changes by that word only).
  uint32_t requester = ip->src_addr;
  ip->src_addr = ip->dst_addr;
  ip->dst_addr = requester;
  ip->time_to_live = 64;
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  CsumDelta d;
  uint16_t old_word, new_word;
  std::memcpy(&old_word, icmp, 2);
  icmp[0] = kEchoReply;
  std::memcpy(&new_word, icmp, 2);
  d.replace16(old_word, new_word);
  uint16_t sum;
  std::memcpy(&sum, icmp + 2, 2);
  sum = d.apply(sum);
  std::memcpy(icmp + 2, &sum, 2);
  if (m->pkt_len > f.l3 + uint32_t{f.ip_total}) rte_pktmbuf_trim(m, static_cast<uint16_t>(m->pkt_len - f.l3 - f.ip_total));
  // The requester may be a spoofed on-link address: never hold the reply and ask ARP for
  // it (a ping flood would fill the neighbour table); a real host has ARPed for us.
  if (route_out(m, ip->dst_addr, out, i, /*originated=*/true)) count(WorkerCounter::IcmpEchoReplies);
}

// An ICMP error quotes the IP header and at least 8 bytes of the packet that caused it:
// a packet we sent, so already translated. Find its flow from the quoted ports and undo
// the translation for the other side: the quoted packet becomes what that side sent, and
// the error is addressed to it.
bool Worker::translate_icmp_error(rte_mbuf* m, const ParsedFrame& f, uint32_t now_ms) {
  (void)now_ms;
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + f.l3);
  uint8_t* icmp = data + f.l4;
  uint32_t quoted_len = f.l4_len - 8u;
  auto* inner = reinterpret_cast<rte_ipv4_hdr*>(icmp + 8);
  if (quoted_len < 20 || (inner->version_ihl >> 4) != 4) return false;
  uint32_t inner_ihl = (inner->version_ihl & 0x0F) * 4u;
  if (inner_ihl < 20 || quoted_len < inner_ihl + 8 || inner->next_proto_id != 6) return false;
  uint8_t* inner_l4 = icmp + 8 + inner_ihl;
  uint16_t inner_sport, inner_dport;
  std::memcpy(&inner_sport, inner_l4, 2);
  std::memcpy(&inner_dport, inner_l4 + 2, 2);
  // The quoted packet travelled away from the error's sender; the flow key of packets
  // travelling towards it is the quoted one reversed.
  FlowKey key{inner->dst_addr, inner->src_addr, inner_dport, inner_sport};
  FlowRef ref = flows_.lookup(key, flows_.hash(key));
  if (!ref.found()) return false;
  const Conn& c = flows_.entry(ref.index);

  const auto [q_src, q_dst, outer_src, outer_dst, q_sport, q_dport] = quoted_sides(c, ref.dir, ip->src_addr);
  // Quoted IP header: addresses, with its checksum; quoted TCP ports, and the quoted TCP
  // checksum if the quote is long enough to hold it.
  CsumDelta addrs, ports;
  addrs.replace32(inner->src_addr, q_src);
  addrs.replace32(inner->dst_addr, q_dst);
  ports.replace16(inner_sport, q_sport);
  ports.replace16(inner_dport, q_dport);
  if ((c.flags & conn_flag::kSynproxy) && ref.dir == Dir::FromClient) {
    // A proxied connection's reply carried the client's view of the backend's sequence
    // numbers; the backend checks the quoted one against its own (PMTUD), so restore it.
    uint32_t seq_be;
    std::memcpy(&seq_be, inner_l4 + 4, 4);
    uint32_t delta = shared_.synproxy_seq[ref.index].load(std::memory_order_acquire);
    uint32_t restored = rte_cpu_to_be_32(rte_be_to_cpu_32(seq_be) + delta);
    ports.replace32(seq_be, restored);
    std::memcpy(inner_l4 + 4, &restored, 4);
  }
  inner->src_addr = q_src;
  inner->dst_addr = q_dst;
  inner->hdr_checksum = addrs.apply(inner->hdr_checksum);
  std::memcpy(inner_l4, &q_sport, 2);
  std::memcpy(inner_l4 + 2, &q_dport, 2);
  if (quoted_len >= inner_ihl + 18) {
    uint16_t sum;
    std::memcpy(&sum, inner_l4 + 16, 2);
    CsumDelta tcp = addrs;
    tcp.add(ports);
    sum = tcp.apply(sum);
    std::memcpy(inner_l4 + 16, &sum, 2);
  }
  uint16_t sum = full_icmp_checksum(icmp, f.l4_len);
  std::memcpy(icmp + 2, &sum, 2);
  // Outer header.
  CsumDelta outer;
  outer.replace32(ip->src_addr, outer_src);
  outer.replace32(ip->dst_addr, outer_dst);
  ip->src_addr = outer_src;
  ip->dst_addr = outer_dst;
  ip->hdr_checksum = outer.apply(ip->hdr_checksum);
  decrement_ttl(ip);
  if (m->pkt_len > f.l3 + uint32_t{f.ip_total}) rte_pktmbuf_trim(m, static_cast<uint16_t>(m->pkt_len - f.l3 - f.ip_total));
  return true;
}

// Turns the client's packet into the reset a closed port would send (RFC 793, "Reset
// Generation"): from the VIP, no options, no payload.
void Worker::reset_client(rte_mbuf* m, const ParsedFrame& f, BurstOutput& out, uint16_t i, abi::WorkerCounter counted) {
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  auto* in_ip = reinterpret_cast<rte_ipv4_hdr*>(data + f.l3);
  auto* in_tcp = reinterpret_cast<rte_tcp_hdr*>(data + f.l4);
  const uint32_t client = in_ip->src_addr, vip = in_ip->dst_addr;
  const uint16_t cport = in_tcp->src_port, vport = in_tcp->dst_port;
  const uint8_t flags = in_tcp->tcp_flags;
  const uint32_t seq = rte_be_to_cpu_32(in_tcp->sent_seq), ack = rte_be_to_cpu_32(in_tcp->recv_ack);
  uint32_t seg_len = f.l4_len - f.tcp_header_len + ((flags & tcp_bit::SYN) ? 1 : 0) + ((flags & tcp_bit::FIN) ? 1 : 0);
  resize_frame(m, f.l3 + 40u);  // never grows: a TCP packet is at least this long
  if (flags & tcp_bit::ACK) {
    write_tcp_packet(data, f.l3, vip, client, vport, cport, ack, 0, tcp_bit::RST, 0, 0);
  } else {
    write_tcp_packet(data, f.l3, vip, client, vport, cport, 0, seq + seg_len, tcp_bit::RST | tcp_bit::ACK, 0, 0);
  }
  if (route_out(m, client, out, i, /*originated=*/true)) count(counted);
}

}  // namespace fulcrum::dp
