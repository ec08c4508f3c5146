// NAT64 (issue 15): an IPv6 VIP whose backends are IPv4, in fullnat with an IPv4 SNAT pool.
//
// The connection lives wholly in the IPv6 table: its forward key is the client's IPv6
// 4-tuple, its reverse key the backend's IPv4 reply (backend -> SNAT address:port) with both
// addresses IPv4-mapped (::ffff:a.b.c.d). Client packets find it like any IPv6 flow and
// leave as IPv4 (worker_ipv6.cpp, forward6). Backend replies arrive as IPv4 to a SNAT
// address; the IPv4 table has no entry for them, and before calling them strays the IPv4
// path asks here: a lookup of the mapped key in the IPv6 table, then the packet leaves as
// IPv6 from the VIP. That costs a NAT64 reply one IPv4 index miss first; IPv4 flows pay
// nothing. SNAT ports come from the same per-worker pools as IPv4 fullnat, so an IPv4 SNAT
// address may serve IPv4 and NAT64 VIPs at once without two flows sharing a port.
//
// Path MTU (docs/dataplane.md "NAT64"): an IPv6 header is 20 bytes longer than an IPv4
// one, so a full-sized IPv4 segment from the backend does not fit the same MTU as IPv6.
// The client's MSS already counts the IPv6 header, and the backend's segments towards it
// are bounded by that MSS: they fit. Client packets shrink by 20 bytes on the way in.
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <algorithm>

#include "dataplane/core/checksum.h"
#include "dataplane/worker/rewrite.h"
#include "dataplane/worker/rewrite6.h"
#include "dataplane/worker/worker_internal.h"

namespace fulcrum::dp {

using abi::DropReason;
using abi::WorkerCounter;

bool Worker::nat64_reply(rte_mbuf* m, const ParsedFrame& f, const FlowKey& key, BurstOutput& out, uint16_t i,
                         uint32_t now_ms) {
  FlowTable6& flows6 = shared_.flows6();
  const FlowKey6 k6{v4_mapped(key.src_addr), v4_mapped(key.dst_addr), key.src_port, key.dst_port};
  const FlowRef ref = flows6.lookup(k6, flows6.hash(k6));
  if (!ref.found() || ref.dir != Dir::FromBackend) return false;
  Conn6& c = flows6.entry(ref.index);
  if (!(c.flags & conn_flag::kNat64)) return false;
  status_.backend_traffic[c.backend_id % abi::kMaxBackends].add(m->pkt_len);
  touch(c, Dir::FromBackend, f.tcp_flags, f.l4_len > f.tcp_header_len, now_ms);
  if (m->pkt_len > f.l3 + uint32_t{f.ip_total}) rte_pktmbuf_trim(m, static_cast<uint16_t>(m->pkt_len - f.l3 - f.ip_total));
  if (!translate_4to6(m, f.l3, f.l4 - f.l3, f.l4_len, c.vip_addr(), c.vip_port(), c.client_addr(), c.client_port())) {
    drop(out, i, DropReason::FrameTooShort);  // no headroom to grow into: never with DPDK's default mbufs
    return true;
  }
  count(WorkerCounter::Nat64Translated);
  if (route_out6(m, c.client_addr(), out, i)) count(WorkerCounter::Forwarded);
  return true;
}


// ---- ICMP errors of NAT64 flows (RFC 7915 4.2 and 5.2, for TCP): translated between the
// families so that path-MTU discovery works across the translation.

namespace {

constexpr uint32_t kMaxQuote6 = 1280 - 40 - 8 - 40;   // the ICMPv6 error fits the IPv6 minimum MTU

// ICMPv4 error (type, code) -> ICMPv6 (type, code); false: not translated (RFC 7915 4.2).
bool icmp4_to_6(uint8_t type, uint8_t code, uint8_t* type6, uint8_t* code6) {
  if (type == 11) {  // time exceeded
    *type6 = 3;
    *code6 = code;
    return code <= 1;
  }
  if (type != 3) return false;
  switch (code) {
    case 0: case 1: case 5: case 6: case 7: case 8: case 11: case 12: *type6 = 1; *code6 = 0; return true;
    case 3: *type6 = 1; *code6 = 4; return true;                       // port unreachable
    case 4: *type6 = 2; *code6 = 0; return true;                       // fragmentation needed: too big
    case 9: case 10: case 13: case 15: *type6 = 1; *code6 = 1; return true;  // administratively prohibited
    default: return false;
  }
}

// ICMPv6 error (type, code) -> ICMPv4 (type, code); false: not translated (RFC 7915 5.2).
bool icmp6_to_4(uint8_t type, uint8_t code, uint8_t* type4, uint8_t* code4) {
  switch (type) {
    case 1:
      *type4 = 3;
      *code4 = code == 1 ? 10 : code == 4 ? 3 : 1;
      return code <= 4 && code != 2;
    case 2: *type4 = 3; *code4 = 4; return true;
    case 3: *type4 = 11; *code4 = code; return code <= 1;
    default: return false;
  }
}

}  // namespace

// An ICMPv4 error from the backend side quoting a packet we sent to an IPv4 backend for a
// NAT64 flow (SNAT address:port -> backend): it becomes the ICMPv6 error the client would
// have had from an IPv6 path, from the VIP, quoting the client's own packet. Packet Too
// Big carries the IPv4 MTU + 20 (the IPv6 header's extra bytes), at least 1280.
bool Worker::nat64_icmp4_error(rte_mbuf* m, const ParsedFrame& f, BurstOutput& out, uint16_t i) {
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  const uint8_t* icmp = data + f.l4;
  const uint8_t* inner = icmp + 8;
  const uint32_t quoted = f.l4_len - 8u;
  if (quoted < 20 || (inner[0] >> 4) != 4 || inner[9] != 6) return false;
  const uint32_t ihl = (inner[0] & 0x0F) * 4u;
  if (ihl < 20 || quoted < ihl + 8) return false;
  uint32_t q_src, q_dst;
  uint16_t q_sport, q_dport;
  std::memcpy(&q_src, inner + 12, 4);
  std::memcpy(&q_dst, inner + 16, 4);
  std::memcpy(&q_sport, inner + ihl, 2);
  std::memcpy(&q_dport, inner + ihl + 2, 2);
  FlowTable6& flows6 = shared_.flows6();
  const FlowKey6 key{v4_mapped(q_dst), v4_mapped(q_src), q_dport, q_sport};
  const FlowRef ref = flows6.lookup(key, flows6.hash(key));
  if (!ref.found() || ref.dir != Dir::FromBackend) return false;
  const Conn6& c = flows6.entry(ref.index);
  uint8_t type6, code6;
  if (!(c.flags & conn_flag::kNat64) || !icmp4_to_6(icmp[0], icmp[1], &type6, &code6)) return false;
  uint32_t rest = 0;
  if (type6 == 2) {
    const uint32_t mtu4 = uint32_t{icmp[6]} << 8 | icmp[7];
    rest = std::max<uint32_t>(1280, mtu4 + 20);
  }
  // The quoted TCP bytes, kept aside while the frame is rebuilt around them.
  uint8_t tcp_quote[kMaxQuote6];
  const uint32_t tcp_len = std::min(quoted - ihl, kMaxQuote6);
  std::memcpy(tcp_quote, inner + ihl, tcp_len);
  const uint16_t inner_payload = static_cast<uint16_t>(
      std::max<int>(0, (int{inner[2]} << 8 | inner[3]) - static_cast<int>(ihl)));
  const uint8_t inner_hop = inner[8];
  const uint32_t len6 = 8 + 40 + tcp_len;
  if (!resize_frame(m, f.l3 + 40 + len6)) return false;
  data = rte_pktmbuf_mtod(m, uint8_t*);
  data[f.l3 - 2] = 0x86;
  data[f.l3 - 1] = 0xDD;
  uint8_t* ip6 = data + f.l3;
  std::memset(ip6, 0, 40 + 8 + 40);
  ip6[0] = 0x60;
  ip6[4] = static_cast<uint8_t>(len6 >> 8);
  ip6[5] = static_cast<uint8_t>(len6);
  ip6[ip6_off::kNextHeader] = 58;
  ip6[ip6_off::kHopLimit] = 64;
  std::memcpy(ip6 + ip6_off::kSrc, c.vip_addr().b, 16);
  std::memcpy(ip6 + ip6_off::kDst, c.client_addr().b, 16);
  uint8_t* icmp6 = ip6 + 40;
  icmp6[0] = type6;
  icmp6[1] = code6;
  const uint32_t rest_be = rte_cpu_to_be_32(rest);
  std::memcpy(icmp6 + 4, &rest_be, 4);
  uint8_t* q6 = icmp6 + 8;   // the client's packet as it sent it: client -> VIP
  q6[0] = 0x60;
  q6[4] = static_cast<uint8_t>(inner_payload >> 8);
  q6[5] = static_cast<uint8_t>(inner_payload);
  q6[ip6_off::kNextHeader] = 6;
  q6[ip6_off::kHopLimit] = inner_hop;
  std::memcpy(q6 + ip6_off::kSrc, c.client_addr().b, 16);
  std::memcpy(q6 + ip6_off::kDst, c.vip_addr().b, 16);
  std::memcpy(q6 + 40, tcp_quote, tcp_len);
  const uint16_t cport = c.client_port(), vport = c.vip_port();
  std::memcpy(q6 + 40, &cport, 2);
  std::memcpy(q6 + 42, &vport, 2);
  if (tcp_len >= 18) {  // the quoted TCP checksum, as the client computed it
    CsumDelta d;
    d.remove_bytes(&q_src, 4);
    d.remove_bytes(&q_dst, 4);
    d.add_bytes(q6 + ip6_off::kSrc, 32);
    d.replace16(q_sport, cport);
    d.replace16(q_dport, vport);
    uint16_t tsum;
    std::memcpy(&tsum, q6 + 40 + 16, 2);
    tsum = d.apply(tsum);
    std::memcpy(q6 + 40 + 16, &tsum, 2);
  }
  const uint16_t sum = csum_finish(csum_partial(icmp6, len6, pseudo_sum6(ip6, len6, 58)));
  std::memcpy(icmp6 + 2, &sum, 2);
  count(WorkerCounter::Nat64Translated);
  if (route_out6(m, c.client_addr(), out, i)) count(WorkerCounter::IcmpErrorsTranslated);
  return true;
}

// An ICMPv6 error from the client side quoting a reply we sent it for a NAT64 flow (VIP ->
// client): it becomes the ICMPv4 error the IPv4 backend would have had, from the SNAT
// address, quoting the backend's own packet (backend -> SNAT address:port). "Fragmentation
// needed" carries the IPv6 MTU - 20, which is at least 1260: IPv6 paths are never narrower
// than 1280.
bool Worker::nat64_icmp6_error(rte_mbuf* m, const ParsedFrame& f, BurstOutput& out, uint16_t i) {
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  const uint8_t* icmp = data + f.l4;
  const uint8_t* inner = icmp + 8;
  const uint32_t quoted = f.l4_len - 8u;
  if (quoted < 40 + 8 || (inner[0] >> 4) != 6 || inner[ip6_off::kNextHeader] != 6) return false;
  uint16_t q_sport, q_dport;
  std::memcpy(&q_sport, inner + 40, 2);
  std::memcpy(&q_dport, inner + 42, 2);
  FlowTable6& flows6 = shared_.flows6();
  const FlowKey6 key{ip6_at(inner + ip6_off::kDst), ip6_at(inner + ip6_off::kSrc), q_dport, q_sport};
  const FlowRef ref = flows6.lookup(key, flows6.hash(key));
  if (!ref.found() || ref.dir != Dir::FromClient) return false;
  const Conn6& c = flows6.entry(ref.index);
  uint8_t type4, code4;
  if (!(c.flags & conn_flag::kNat64) || !icmp6_to_4(icmp[0], icmp[1], &type4, &code4)) return false;
  uint32_t rest = 0;
  if (type4 == 3 && code4 == 4) {
    const uint32_t mtu6 = uint32_t{icmp[4]} << 24 | uint32_t{icmp[5]} << 16 | uint32_t{icmp[6]} << 8 | icmp[7];
    rest = std::clamp<uint32_t>(mtu6, 1280, 65535) - 20;
  }
  constexpr uint32_t kMaxQuote4 = 576 - 20 - 8 - 20;   // RFC 1812: an ICMPv4 error fits 576 bytes
  uint8_t tcp_quote[kMaxQuote4];
  const uint32_t tcp_len = std::min(quoted - 40, kMaxQuote4);
  std::memcpy(tcp_quote, inner + 40, tcp_len);
  const uint32_t inner_payload = uint32_t{inner[4]} << 8 | inner[5];
  const uint8_t inner_hop = inner[ip6_off::kHopLimit];
  uint8_t inner_addrs[32];
  std::memcpy(inner_addrs, inner + ip6_off::kSrc, 32);
  const uint32_t backend = v4_of_mapped(c.backend_addr()), snat = v4_of_mapped(c.snat_addr());
  const uint32_t len4 = 8 + 20 + tcp_len;
  if (!resize_frame(m, f.l3 + 20 + len4)) return false;
  data = rte_pktmbuf_mtod(m, uint8_t*);
  data[f.l3 - 2] = 0x08;
  data[f.l3 - 1] = 0x00;
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + f.l3);
  uint8_t* icmp4 = data + f.l3 + 20;
  auto* q4 = reinterpret_cast<rte_ipv4_hdr*>(icmp4 + 8);
  std::memcpy(reinterpret_cast<uint8_t*>(q4) + 20, tcp_quote, tcp_len);
  const uint16_t bport = c.backend_port(), sport = c.snat_port();
  std::memcpy(reinterpret_cast<uint8_t*>(q4) + 20, &bport, 2);
  std::memcpy(reinterpret_cast<uint8_t*>(q4) + 22, &sport, 2);
  if (tcp_len >= 18) {  // the quoted TCP checksum, as the backend computed it
    CsumDelta d;
    d.remove_bytes(inner_addrs, 32);
    d.add_bytes(&backend, 4);
    d.add_bytes(&snat, 4);
    d.replace16(q_sport, bport);
    d.replace16(q_dport, sport);
    uint8_t* qtcp = reinterpret_cast<uint8_t*>(q4) + 20;
    uint16_t tsum;
    std::memcpy(&tsum, qtcp + 16, 2);
    tsum = d.apply(tsum);
    std::memcpy(qtcp + 16, &tsum, 2);
  }
  write_ipv4_header(q4, 0, static_cast<uint16_t>(20 + inner_payload), true, inner_hop, 6, backend, snat);
  icmp4[0] = type4;
  icmp4[1] = code4;
  const uint32_t rest_be = rte_cpu_to_be_32(rest);
  std::memcpy(icmp4 + 4, &rest_be, 4);
  icmp4[2] = icmp4[3] = 0;
  const uint16_t sum = csum_finish(csum_partial(icmp4, len4));
  std::memcpy(icmp4 + 2, &sum, 2);
  write_ipv4_header(ip, 0, static_cast<uint16_t>(20 + len4), false, 64, 1, snat, backend);
  count(WorkerCounter::Nat64Translated);
  if (route_out(m, backend, out, i)) count(WorkerCounter::IcmpErrorsTranslated);
  return true;
}

}  // namespace fulcrum::dp
