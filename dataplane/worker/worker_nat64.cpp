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
#include <rte_mbuf.h>

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

}  // namespace fulcrum::dp
