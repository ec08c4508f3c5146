// The exception path's side of the burst function (issue 11): on a port that shares its NIC
// with the host through a kernel interface (host_sharing = "tap" / "virtio_user"), a frame
// the data plane has no use for goes to the kernel instead of being dropped, so the host
// keeps its address, ARP, ping, BGP and SSH on that NIC.
//
// Which drops become punts: those that mean "not the data plane's" (no VIP, no tracked
// flow, another protocol or ethertype, multicast, fragments, ICMP about other traffic)
// and a TTL of 1 on anything not addressed to a VIP or SNAT address (eBGP sends TTL 1; the
// kernel delivers it locally). Malformed frames and the data plane's own failures (no
// backend, rings full, ...) stay counted drops. Punted frames are untouched: every punt
// happens before the packet is rewritten.
#include <rte_mbuf.h>

#include <cstring>

#include "dataplane/worker/worker.h"

namespace fulcrum::dp {

using abi::DropReason;
using abi::WorkerCounter;

namespace {

// The IPv4 destination of an unmodified frame, 0 if it has none.
uint32_t ipv4_destination(const rte_mbuf* m) {
  const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
  uint32_t l3 = (m->data_len >= 18 && d[12] == 0x81 && d[13] == 0x00) ? 18 : 14;
  if (m->data_len < l3 + 20 || d[l3 - 2] != 0x08 || d[l3 - 1] != 0x00) return 0;
  uint32_t dst;
  std::memcpy(&dst, d + l3 + 16, 4);
  return dst;
}

}  // namespace

bool Worker::punt_instead(BurstOutput& out, uint16_t i, DropReason reason) {
  rte_mbuf* m = out.mbufs[i];
  uint8_t port = shared_.port_index(m->port);
  if (port == 0xFF || shared_.ports[port].exception_port == kNoPort) return false;
  switch (reason) {
    case DropReason::L2NotForUs:  // multicast (IPv6 ND, LLDP, routing protocols) only
      if (m->data_len < 6 || (rte_pktmbuf_mtod(m, const uint8_t*)[0] & 0x01) == 0) return false;
      break;
    case DropReason::IpTtlExceeded: {
      uint32_t dst = ipv4_destination(m);
      if (view_.slot != nullptr && abi::local_addr_kind(*view_.slot, dst) != 0) return false;
      break;
    }
    case DropReason::UnknownEthertype:
    case DropReason::IpUnsupportedProtocol:
    case DropReason::IpFragment:
    case DropReason::NotForUs:
    case DropReason::IcmpNoFlow:
    case DropReason::IcmpUnsupported:
    case DropReason::ArpNotForUs:
    // IPv6 routing header with segments left: the next segment may be the host's (issue 15;
    // the kernel applies its own seg6/rh policy).
    case DropReason::Ipv6RoutingHeader:
    case DropReason::NdpNotForUs:   // the host's own neighbour discovery
      break;
    default:
      return false;
  }
  out.verdicts[i].kind = Verdict::Kind::Punt;
  out.verdicts[i].target = port;
  return true;  // counted by dispatch(), once the frame is on its way (punted_to_kernel)
}

// ARP on a port with a kernel interface: requests for a VIP or SNAT address are the data
// plane's (the main lcore answers them); everything else is the host's (requests for its
// address, replies to its own requests, other hosts' chatter it may learn from).
bool Worker::punt_arp(BurstOutput& out, uint16_t i, uint8_t port, const uint8_t* data, const ParsedFrame& f) {
  if (shared_.ports[port].exception_port == kNoPort) return false;
  const rte_mbuf* m = out.mbufs[i];
  constexpr uint32_t kArpLen = 28;
  if (m->data_len >= f.l3 + kArpLen && data[f.l3 + 6] == 0 && data[f.l3 + 7] == 1 && view_.slot != nullptr) {
    uint32_t target;
    std::memcpy(&target, data + f.l3 + 24, 4);
    if (abi::local_addr_kind(*view_.slot, target) != 0) return false;
  }
  out.verdicts[i].kind = Verdict::Kind::Punt;
  out.verdicts[i].target = port;
  return true;  // counted by dispatch(), once the frame is on its way (punted_to_kernel)
}

}  // namespace fulcrum::dp
