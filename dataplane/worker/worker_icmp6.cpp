// ICMPv6 on the workers (issue 15): echo replies for our IPv6 addresses and VIPs, the
// first filter of neighbour discovery (RFC 4861), translation of ICMPv6 errors about
// tracked IPv6 flows (Packet Too Big above all, so path-MTU discovery works through the
// NAT), and the TCP reset of a down backend's flows.
//
// Neighbour discovery is filtered here like ARP (worker.cpp, handle_arp), so a flood of it
// never reaches the main lcore: solicitations for one of our addresses go to its ring,
// advertisements from a neighbour we are resolving or know to its priority ring, the rest
// is dropped and counted. Every NS/NA must pass RFC 4861 7.1.1/7.1.2's checks first: hop
// limit 255 (it cannot have crossed a router), code 0, the ICMPv6 checksum, a length of 24
// or more, a unicast target, and options of non-zero length inside the message.
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "dataplane/core/checksum.h"
#include "dataplane/worker/rewrite.h"
#include "dataplane/worker/rewrite6.h"
#include "dataplane/worker/worker_internal.h"

namespace fulcrum::dp {

using abi::DropReason;
using abi::WorkerCounter;

namespace {

constexpr uint8_t kDestUnreachable6 = 1, kPacketTooBig = 2, kTimeExceeded6 = 3, kEchoRequest6 = 128, kEchoReply6 = 129,
                  kNeighbourSolicitation = 135, kNeighbourAdvertisement = 136;

// RFC 4861 7.1: options each at least 8 bytes, inside the message.
bool ndp_options_ok(const uint8_t* opt, uint32_t len) {
  while (len > 0) {
    if (len < 8 || opt[1] == 0 || opt[1] * 8u > len) return false;
    len -= opt[1] * 8u;
    opt += opt[1] * 8u;
  }
  return true;
}

}  // namespace

void Worker::handle_icmp6(rte_mbuf* m, const ParsedFrame& f, uint8_t port, BurstOutput& out, uint16_t i,
                          uint32_t now_ms) {
  (void)now_ms;
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* ip6 = data + f.l3;
  uint8_t* icmp = data + f.l4;
  if (f.l4_len < 8 || f.l4 + uint32_t{f.l4_len} > m->data_len) {
    drop(out, i, DropReason::IcmpTruncated);
    return;
  }
  if (csum_finish(csum_partial(icmp, f.l4_len, pseudo_sum6(ip6, f.l4_len, 58))) != 0) {
    drop(out, i, DropReason::IcmpBadChecksum);
    return;
  }
  const uint8_t type = icmp[0];
  if (type == kNeighbourSolicitation || type == kNeighbourAdvertisement) {
    handle_ndp(m, f, port, out, i);
    return;
  }
  const Addr6 dst = ip6_at(ip6 + ip6_off::kDst), src = ip6_at(ip6 + ip6_off::kSrc);
  if (type == kDestUnreachable6 || type == kPacketTooBig || type == kTimeExceeded6) {
    if (ip6[ip6_off::kHopLimit] <= 1) {
      drop(out, i, DropReason::IpTtlExceeded);
      return;
    }
    if (nat64_icmp6_error(m, f, out, i)) return;  // a NAT64 flow's: becomes ICMPv4 (worker_nat64.cpp)
    if (!translate_icmp6_error(m, f)) {
      drop(out, i, DropReason::IcmpNoFlow);
      return;
    }
    if (route_out6(m, ip6_at(ip6 + ip6_off::kDst), out, i)) count(WorkerCounter::IcmpErrorsTranslated);
    return;
  }
  if (!is_own_address6(dst)) {
    drop(out, i, DropReason::NotForUs);
    return;
  }
  if (type != kEchoRequest6) {
    drop(out, i, DropReason::IcmpUnsupported);
    return;
  }
  if (src == Addr6{} || is_own_address6(src)) {
    drop(out, i, DropReason::IpBadSource);
    return;
  }
  // Echo reply in place: swapping the addresses leaves the pseudo-header's sum as it was;
  // only the type word changes the checksum.
  std::memcpy(ip6 + ip6_off::kSrc, dst.b, 16);
  std::memcpy(ip6 + ip6_off::kDst, src.b, 16);
  ip6[ip6_off::kHopLimit] = 64;
  CsumDelta d;
  uint16_t old_word, new_word, sum;
  std::memcpy(&old_word, icmp, 2);
  icmp[0] = kEchoReply6;
  std::memcpy(&new_word, icmp, 2);
  d.replace16(old_word, new_word);
  std::memcpy(&sum, icmp + 2, 2);
  sum = d.apply(sum);
  std::memcpy(icmp + 2, &sum, 2);
  if (m->pkt_len > f.l3 + uint32_t{f.ip_total}) rte_pktmbuf_trim(m, static_cast<uint16_t>(m->pkt_len - f.l3 - f.ip_total));
  // Never held for resolution: the requester may be spoofed (see handle_icmp).
  if (route_out6(m, src, out, i, /*originated=*/true)) count(WorkerCounter::IcmpEchoReplies);
}

void Worker::handle_ndp(rte_mbuf* m, const ParsedFrame& f, uint8_t port, BurstOutput& out, uint16_t i) {
  const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint8_t* ip6 = data + f.l3;
  const uint8_t* icmp = data + f.l4;
  const Addr6 target = ip6_at(icmp + 8);
  if (ip6[ip6_off::kHopLimit] != 255 || icmp[1] != 0 || f.l4_len < 24 || target.b[0] == 0xff ||
      !ndp_options_ok(icmp + 24, f.l4_len - 24u)) {
    drop(out, i, DropReason::NdpMalformed);
    return;
  }
  const Addr6 src = ip6_at(ip6 + ip6_off::kSrc);
  const PortInfo& p = shared_.ports[port];
  const bool target_ours = (p.has_addr6 && p.addr6 == target && !p.kernel_owns_address) ||
                           (view_.slot != nullptr && abi::local_addr6_kind(*view_.slot, target) != 0);
  if (icmp[0] == kNeighbourSolicitation) {
    // Duplicate address detection (source ::) for one of ours, or a solicitation from one
    // of our own addresses, is someone else's claim: never answered, never learned from.
    if (!target_ours || src == Addr6{} || is_own_address6(src)) {
      drop(out, i, DropReason::NdpNotForUs);
      return;
    }
    set_verdict(out, i, Verdict::Kind::ToMain);
    return;
  }
  // An advertisement: the priority ring if it is about a neighbour we have (being resolved,
  // or one whose MAC it may confirm or change: the main lcore applies the policy).
  NeighView nv;
  if (target_ours || !shared_.neighbours6.lookup(target, &nv) || nv.state == NeighState::Static) {
    drop(out, i, DropReason::NdpNotForUs);
    return;
  }
  set_verdict(out, i, Verdict::Kind::ToMainPrio);
}

// An ICMPv6 error quotes as much of the packet that caused it as fits in 1280 bytes: a
// packet we sent, so already translated. As for IPv4 (translate_icmp_error), find its flow
// from the quote and undo the translation for the other side. IPv6 flows only: errors
// about NAT64 flows are nat64_icmp6_error()'s.
bool Worker::translate_icmp6_error(rte_mbuf* m, const ParsedFrame& f) {
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* ip6 = data + f.l3;
  uint8_t* icmp = data + f.l4;
  const uint32_t quoted_len = f.l4_len - 8u;
  uint8_t* inner = icmp + 8;
  // The quoted header must be IPv6 carrying TCP directly (no extension headers) with the
  // ports quoted.
  if (quoted_len < 40 + 8 || (inner[0] >> 4) != 6 || inner[ip6_off::kNextHeader] != 6) return false;
  uint8_t* inner_l4 = inner + 40;
  uint16_t inner_sport, inner_dport;
  std::memcpy(&inner_sport, inner_l4, 2);
  std::memcpy(&inner_dport, inner_l4 + 2, 2);
  const FlowKey6 key{ip6_at(inner + ip6_off::kDst), ip6_at(inner + ip6_off::kSrc), inner_dport, inner_sport};
  FlowTable6& flows6 = shared_.flows6();
  const FlowRef ref = flows6.lookup(key, flows6.hash(key));
  if (!ref.found()) return false;
  const Conn6& c = flows6.entry(ref.index);
  if (c.flags & conn_flag::kNat64) return false;
  const auto [q_src, q_dst, outer_src, outer_dst, q_sport, q_dport] = quoted_sides(c, ref.dir, ip6_at(ip6 + ip6_off::kSrc));
  // The quoted TCP checksum, when quoted, follows its addresses and ports.
  if (quoted_len >= 40 + 18) {
    CsumDelta d;
    d.replace_bytes(inner + ip6_off::kSrc, q_src.b, 16);
    d.replace_bytes(inner + ip6_off::kDst, q_dst.b, 16);
    d.replace16(inner_sport, q_sport);
    d.replace16(inner_dport, q_dport);
    uint16_t sum;
    std::memcpy(&sum, inner_l4 + 16, 2);
    sum = d.apply(sum);
    std::memcpy(inner_l4 + 16, &sum, 2);
  }
  std::memcpy(inner + ip6_off::kSrc, q_src.b, 16);
  std::memcpy(inner + ip6_off::kDst, q_dst.b, 16);
  std::memcpy(inner_l4, &q_sport, 2);
  std::memcpy(inner_l4 + 2, &q_dport, 2);
  std::memcpy(ip6 + ip6_off::kSrc, outer_src.b, 16);
  std::memcpy(ip6 + ip6_off::kDst, outer_dst.b, 16);
  ip6[ip6_off::kHopLimit] = static_cast<uint8_t>(ip6[ip6_off::kHopLimit] - 1);
  // The outer addresses are in the ICMPv6 checksum too: recompute it whole (errors are rare).
  icmp[2] = icmp[3] = 0;
  const uint16_t sum = csum_finish(csum_partial(icmp, f.l4_len, pseudo_sum6(ip6, f.l4_len, 58)));
  std::memcpy(icmp + 2, &sum, 2);
  if (m->pkt_len > f.l3 + uint32_t{f.ip_total}) rte_pktmbuf_trim(m, static_cast<uint16_t>(m->pkt_len - f.l3 - f.ip_total));
  return true;
}

// The reset a closed port would send (RFC 793), from the VIP: the client's packet turned
// around, no options, no payload, no extension headers.
void Worker::reset_client6(rte_mbuf* m, const ParsedFrame& f, BurstOutput& out, uint16_t i, WorkerCounter counted) {
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* ip6 = data + f.l3;
  const auto* in_tcp = reinterpret_cast<const rte_tcp_hdr*>(data + f.l4);
  const Addr6 client = ip6_at(ip6 + ip6_off::kSrc), vip = ip6_at(ip6 + ip6_off::kDst);
  const uint16_t cport = in_tcp->src_port, vport = in_tcp->dst_port;
  const uint8_t flags = in_tcp->tcp_flags;
  const uint32_t seq = rte_be_to_cpu_32(in_tcp->sent_seq), ack = rte_be_to_cpu_32(in_tcp->recv_ack);
  const uint32_t seg_len = f.l4_len - f.tcp_header_len + ((flags & tcp_bit::SYN) ? 1 : 0) + ((flags & tcp_bit::FIN) ? 1 : 0);
  if (!resize_frame(m, f.l3 + 60u)) {  // never grows: an IPv6 TCP packet is at least this long
    drop(out, i, DropReason::TcpTruncated);
    return;
  }
  data = rte_pktmbuf_mtod(m, uint8_t*);
  ip6 = data + f.l3;
  ip6[0] = 0x60;
  ip6[1] = ip6[2] = ip6[3] = 0;
  ip6[4] = 0;
  ip6[5] = 20;
  ip6[ip6_off::kNextHeader] = 6;
  ip6[ip6_off::kHopLimit] = 64;
  std::memcpy(ip6 + ip6_off::kSrc, vip.b, 16);
  std::memcpy(ip6 + ip6_off::kDst, client.b, 16);
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(ip6 + 40);
  tcp->src_port = vport;
  tcp->dst_port = cport;
  const bool had_ack = flags & tcp_bit::ACK;
  tcp->sent_seq = rte_cpu_to_be_32(had_ack ? ack : 0);
  tcp->recv_ack = rte_cpu_to_be_32(had_ack ? 0 : seq + seg_len);
  tcp->data_off = 5 << 4;
  tcp->tcp_flags = had_ack ? tcp_bit::RST : (tcp_bit::RST | tcp_bit::ACK);
  tcp->rx_win = 0;
  tcp->tcp_urp = 0;
  tcp->cksum = 0;
  tcp->cksum = csum_finish(csum_partial(tcp, 20, pseudo_sum6(ip6, 20, 6)));
  if (route_out6(m, client, out, i, /*originated=*/true)) count(counted);
}

}  // namespace fulcrum::dp
