// Every counter the data plane publishes, defined once. The X-macros below generate the
// enums here and the names that lbctl and the metrics endpoint print, so a new drop
// reason cannot exist without a counter and a name (VPP's error-counter idea).
//
// Order is part of the ABI: counters are arrays indexed by these enums in the status
// region. Append only, and bump kAbiVersion when doing so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fulcrum::abi {

// X(identifier, "name", "what an operator should read into it")
#define FULCRUM_DROP_REASONS(X)                                                              \
  X(FrameTooShort, "frame_too_short", "frame shorter than its Ethernet/802.1Q header")        \
  X(L2NotForUs, "l2_not_for_us", "destination MAC neither the port's nor broadcast")          \
  X(UnknownEthertype, "unknown_ethertype", "neither IPv4, IPv6 nor ARP")                            \
  X(ArpMalformed, "arp_malformed", "ARP that is not Ethernet/IPv4 or is truncated")           \
  X(ArpNotForUs, "arp_not_for_us", "ARP request for an address this node does not own")       \
  X(IpTruncated, "ip_truncated", "frame ends inside the IPv4 or IPv6 header")                         \
  X(IpBadVersion, "ip_bad_version", "IP version field is not that of the ethertype (4 or 6)")                              \
  X(IpBadIhl, "ip_bad_ihl", "IPv4 header length below 20 bytes")                              \
  X(IpBadTotalLength, "ip_bad_total_length", "IPv4 total length beyond the frame or below the header; IPv6 payload length beyond the frame or 0 (jumbogram)") \
  X(IpBadChecksum, "ip_bad_checksum", "IPv4 header checksum wrong (IPv6 has none)")                           \
  X(IpBadSource, "ip_bad_source", "source address is zero, loopback, multicast or broadcast (IPv6: multicast, ::1, v4-mapped, or :: on anything but ICMPv6)") \
  X(IpTtlExceeded, "ip_ttl_exceeded", "TTL would reach zero at this hop")                     \
  X(IpFragment, "ip_fragment", "IPv4 fragment or IPv6 packet with a fragment header (not reassembled; see docs/dataplane.md)")     \
  X(IpUnsupportedProtocol, "ip_unsupported_protocol", "protocol not handled for this destination") \
  X(TcpTruncated, "tcp_truncated", "frame ends inside the TCP header")                        \
  X(TcpBadDataOffset, "tcp_bad_data_offset", "TCP data offset below 5 words or beyond the packet") \
  X(TcpBadFlags, "tcp_bad_flags", "impossible TCP flag combination (SYN+FIN, SYN+RST, none)") \
  X(IcmpTruncated, "icmp_truncated", "ICMP or ICMPv6 message shorter than its header or quoted packet") \
  X(IcmpBadChecksum, "icmp_bad_checksum", "ICMP checksum wrong on a message addressed to us") \
  X(IcmpUnsupported, "icmp_unsupported", "ICMP or ICMPv6 type not answered or translated")             \
  X(IcmpNoFlow, "icmp_no_flow", "ICMP error quoting a packet of no tracked flow")            \
  X(NoTables, "no_tables", "no table generation published by the control plane yet")        \
  X(TablesChanged, "tables_changed", "table slot rewritten under a stalled worker; burst discarded") \
  X(NotForUs, "not_for_us", "neither a VIP, nor a reply of a tracked flow, nor this node")  \
  X(NoBackend, "no_backend", "VIP has no backend that may take new connections")            \
  X(ConntrackFull, "conntrack_full", "no connection entry free for a flow that needs state (fullnat)") \
  X(SnatExhausted, "snat_exhausted", "no free source port in the VIP's SNAT pool")           \
  X(NatConflict, "nat_conflict", "reply key already used by another flow (same backend in two nat VIPs)") \
  X(BackendDownReset, "backend_down_reset", "client RST on a flow of a down or removed backend (VIP policy reset; other packets are answered, resets_sent)") \
  X(NoRoute, "no_route", "no route to the next hop")                                         \
  X(NeighbourQueueFull, "neighbour_queue_full", "next hop unresolved and its wait queue full") \
  X(NeighbourFailed, "neighbour_failed", "next hop did not answer ARP")                     \
  X(HandoffRingFull, "handoff_ring_full", "ring to the flow's owning worker full")          \
  X(MainRingFull, "main_ring_full", "ring to the main lcore (ARP, held packets) full")       \
  X(TxFull, "tx_full", "port transmit queue full")                                           \
  X(ArpUnsolicited, "arp_unsolicited", "ARP that would change a live neighbour's MAC without our asking (re-probed instead)") \
  X(ArpBadSource, "arp_bad_source", "ARP whose sender claims one of this node's addresses")  \
  X(NewConnRateLimited, "new_conn_rate_limited", "SYN over the VIP's max_new_conn_rate")     \
  X(SynproxyBadCookie, "synproxy_bad_cookie", "ACK to a SYN-proxied VIP with no valid cookie and no connection") \
  X(UnresolvedReply, "unresolved_reply", "packet this node originates (echo reply, reset, cookie) to a next hop not yet resolved") \
  X(SnatNoEntry, "snat_no_entry", "packet to a SNAT address that matches no connection")    \
  X(SynproxyNotParked, "synproxy_not_parked", "client data before the proxied backend answered: no parking slot, or waited over 1 s") \
  X(BackendsFull, "backends_full", "new connection while every backend was at max_connections or max_new_conn_rate (VIP on_full = drop)") \
  X(StaleSynAck, "stale_syn_ack", "SYN-ACK from a backend the connection attempt was moved away from (connect_retries)") \
  X(KernelPathFull, "kernel_path_full", "ring to a port's kernel interface, or that interface, full")                  \
  X(Ipv6BadExtHeaders, "ipv6_bad_ext_headers", "IPv6 extension header chain truncated, malformed (Hop-by-Hop not first) or longer than 4 headers or the first segment") \
  X(Ipv6RoutingHeader, "ipv6_routing_header", "IPv6 routing header with segments left: this node is not the packet's destination") \
  X(NdpMalformed, "ndp_malformed", "neighbour solicitation/advertisement with a hop limit other than 255, a code, length, option or checksum wrong, or a multicast target") \
  X(NdpNotForUs, "ndp_not_for_us", "neighbour solicitation for an address this node does not own, or advertisement nobody asked for")

#define FULCRUM_WORKER_COUNTERS(X)                                                           \
  X(RxPackets, "rx_packets", "packets received")                                             \
  X(RxBytes, "rx_bytes", "bytes received")                                                   \
  X(TxPackets, "tx_packets", "packets transmitted")                                          \
  X(TxBytes, "tx_bytes", "bytes transmitted")                                                \
  X(Forwarded, "forwarded", "packets NAT-translated and forwarded")                          \
  X(NewConnections, "new_connections", "connection entries created")                         \
  X(MidstreamPickups, "midstream_pickups", "flows without a SYN taken up by Maglev (restart/failover)") \
  X(StatelessForwards, "stateless_forwards", "new-flow packets forwarded by Maglev without an entry (table full)") \
  X(ConntrackExpired, "conntrack_expired", "connection entries expired by timeout")          \
  X(ConntrackEvicted, "conntrack_evicted", "embryonic entries evicted under table pressure")  \
  X(HandedOff, "handed_off", "first packets of new flows handed to the owning worker")       \
  X(IpOptions, "ip_options", "IPv4 packets with options (forwarded, options untouched)")    \
  X(ArpReplies, "arp_replies", "ARP replies sent for our addresses and VIPs")                \
  X(ArpRequests, "arp_requests", "ARP requests sent to resolve next hops")                   \
  X(IcmpEchoReplies, "icmp_echo_replies", "ICMP echo replies sent")                          \
  X(IcmpErrorsTranslated, "icmp_errors_translated", "ICMP errors of tracked flows translated and forwarded") \
  X(ResetsSent, "resets_sent", "client packets of flows of down or removed backends answered with a TCP reset (VIP policy reset)") \
  X(NeighbourHeld, "neighbour_held", "packets held while their next hop was resolved")      \
  X(ArpLearned, "arp_learned", "ARP frames a neighbour was learned or confirmed from")       \
  X(StatelessReplies, "stateless_replies", "nat replies translated without an entry (table full, breaker, restart)") \
  X(BreakerTrips, "breaker_trips", "times a worker's new-flow rate breaker tripped (stateless nat, SYN proxy in auto)") \
  X(BreakerStateless, "breaker_stateless", "new nat flows forwarded without state while the breaker was tripped") \
  X(SynproxySynAcks, "synproxy_syn_acks", "SYN-ACKs with cookies sent for SYN-proxied VIPs")     \
  X(SynproxyEstablished, "synproxy_established", "cookie-validated handshakes relayed to a backend") \
  X(RstRevived, "rst_revived", "connections closed by a RST that the other side showed alive (spoofed RST)") \
  X(SynRepicked, "syn_repicked", "client SYNs moved to another backend: theirs refused the attempt, never answered it, or went down or away") \
  X(NeighboursExpired, "neighbours_expired", "neighbour entries garbage-collected (failed, unused, evicted)") \
  X(EmbryonicAged, "embryonic_aged", "embryonic entries evicted by age above the table's high-water mark") \
  X(ConnectRefused, "connect_refused", "backend RSTs answering a client's SYN, kept from the client: its retransmitted SYN tries another backend") \
  X(FullResets, "full_resets", "new connections reset because every backend was at its limits (VIP on_full = reset)") \
  X(RetryResets, "retry_resets", "retransmitted SYNs reset because every backend had been tried (connect_retries)") \
  X(LimitOverflows, "limit_overflows", "new connections passed from their backend to another: it was at max_connections or max_new_conn_rate") \
  X(PuntedToKernel, "punted_to_kernel", "frames not for the data plane sent to the port's kernel interface") \
  X(FromKernel, "from_kernel", "frames the kernel sent out through a port's kernel interface") \
  X(SnatStrayResets, "snat_stray_resets", "backend packets to a SNAT address with no connection (an evicted or expired handshake) answered with a reset, so the backend forgets the tuple before its port is reused") \
  X(Ipv6ExtHeaders, "ipv6_ext_headers", "IPv6 packets with extension headers (Hop-by-Hop, Destination Options, Routing with no segments left) accepted") \
  X(NdpAdvertisements, "ndp_advertisements", "neighbour advertisements sent for our IPv6 addresses and VIPs") \
  X(NdpSolicitations, "ndp_solicitations", "neighbour solicitations sent to resolve IPv6 next hops") \
  X(NdpLearned, "ndp_learned", "neighbour solicitations/advertisements an IPv6 neighbour was learned or confirmed from") \
  X(Nat64Translated, "nat64_translated", "packets translated between an IPv6 client and an IPv4 backend (both directions)")

#define FULCRUM_ENUM_ENTRY(id, name, help) id,
enum class DropReason : uint16_t { FULCRUM_DROP_REASONS(FULCRUM_ENUM_ENTRY) kCount };
enum class WorkerCounter : uint16_t { FULCRUM_WORKER_COUNTERS(FULCRUM_ENUM_ENTRY) kCount };
#undef FULCRUM_ENUM_ENTRY

inline constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::kCount);
inline constexpr size_t kWorkerCounterCount = static_cast<size_t>(WorkerCounter::kCount);

struct CounterInfo {
  std::string_view name;
  std::string_view help;
};

#define FULCRUM_INFO_ENTRY(id, name, help) CounterInfo{name, help},
inline constexpr CounterInfo kDropReasonInfo[] = {FULCRUM_DROP_REASONS(FULCRUM_INFO_ENTRY)};
inline constexpr CounterInfo kWorkerCounterInfo[] = {FULCRUM_WORKER_COUNTERS(FULCRUM_INFO_ENTRY)};
#undef FULCRUM_INFO_ENTRY

constexpr std::string_view name_of(DropReason r) { return kDropReasonInfo[static_cast<size_t>(r)].name; }
constexpr std::string_view name_of(WorkerCounter c) { return kWorkerCounterInfo[static_cast<size_t>(c)].name; }

}  // namespace fulcrum::abi
