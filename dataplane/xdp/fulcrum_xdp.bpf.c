/* Fulcrum's XDP program: on a NIC shared with the host, send to the data plane's AF_XDP
 * socket only what the data plane must see, and leave everything else to the kernel.
 *
 * Redirected (bpf_redirect_map to the socket of the receiving queue), IPv4 and IPv6 alike:
 *   - TCP to a VIP address and port                        (fulcrum_vips_v1, fulcrum_vip6_v1)
 *   - TCP from a nat VIP's backend address and port        (fulcrum_natb_v1, fulcrum_nat6_v1: nat replies)
 *   - TCP to a SNAT address                                (fulcrum_addr_v1, fulcrum_adr6_v1: fullnat replies)
 *   - ICMP/ICMPv6 echo to a VIP or SNAT address, and ICMP errors (unreachable, time exceeded;
 *     for IPv6 also packet too big) addressed to one, or quoting a packet of a VIP or
 *     nat-backend flow
 *   - ARP requests for a VIP or SNAT address; IPv6 neighbour solicitations and
 *     advertisements whose target or destination is a VIP or SNAT address
 * Passed (XDP_PASS): everything else — the host's own addresses (their ARP/NDP, ping, SSH,
 * BGP), other protocols and ports, fragments, IPv6 source routes (a routing header with
 * segments left), malformed headers (the kernel judges).
 *
 * IPv6 extension headers are walked by the data plane's rules (dataplane/core/packet_parse.cpp):
 * Hop-by-Hop first only, Destination Options, Routing with Segments Left 0, at most 4, each
 * whole inside the packet; a chain the data plane would drop as malformed is passed instead
 * (counted pass_malformed), so the steering decision always looks at the transport header
 * the data plane would use. The packet an ICMPv6 error quotes is matched only when its TCP
 * header follows the quoted IPv6 header directly.
 *
 * Why these rules live in maps the control plane fills, not in code: every table
 * generation changes them, and the control plane writes the maps before it makes a
 * generation active, so a new VIP is steered from its first packet.
 *
 * Loading: DPDK 22.11's net_af_xdp loads this object with plain libbpf through its
 * xdp_prog devarg (the first program of the object; it needs a map named xsks_map keyed
 * by queue id, and fills it with its sockets). The steering maps are pinned by name, so
 * the loads for every port of one node, and the control plane, share one set. When the
 * data plane dies its sockets close, their xsks_map slots empty, and bpf_redirect_map
 * falls back to XDP_PASS: VIP traffic then reaches the kernel (which refuses it) and
 * nothing is stuck in a dead socket. See docs/operations.md "Sharing a NIC with the host".
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "dataplane/abi/steering.h"

struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __uint(max_entries, FULCRUM_STEER_MAX_QUEUES);
  __type(key, __u32);
  __type(value, __u32);
} xsks_map SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FULCRUM_STEER_MAX_VIPS);
  __type(key, struct fulcrum_l4_key);
  __type(value, __u32);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} fulcrum_vips_v1 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FULCRUM_STEER_MAX_BACKENDS);
  __type(key, struct fulcrum_l4_key);
  __type(value, __u32);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} fulcrum_natb_v1 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FULCRUM_STEER_MAX_LOCALS);
  __type(key, __u32);
  __type(value, __u32);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} fulcrum_addr_v1 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FULCRUM_STEER_MAX_VIPS);
  __type(key, struct fulcrum_l4_key6);
  __type(value, __u32);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} fulcrum_vip6_v1 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FULCRUM_STEER_MAX_BACKENDS);
  __type(key, struct fulcrum_l4_key6);
  __type(value, __u32);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} fulcrum_nat6_v1 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FULCRUM_STEER_MAX_LOCALS6);
  __type(key, struct fulcrum_addr6);
  __type(value, __u32);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} fulcrum_adr6_v1 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, FULCRUM_XDP_STAT_COUNT);
  __type(key, __u32);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} fulcrum_stat_v2 SEC(".maps");

#define ETH_P_8021Q_BE bpf_htons(0x8100)
// <linux/icmp.h> drags in libc's socket headers, which do not build for -target bpf.
#define ICMP_ECHO_REQUEST 8
#define ICMP_DEST_UNREACHABLE 3
#define ICMP_TIME_EXCEEDED 11

struct icmp_header {
  __u8 type, code;
  __u16 checksum;
  __u32 rest;
};
#define ARP_OP_REQUEST_BE bpf_htons(1)

struct arp_ipv4 {
  __be16 hrd, pro;
  __u8 hln, pln;
  __be16 op;
  __u8 sha[6];
  __be32 spa;
  __u8 tha[6];
  __be32 tpa;
} __attribute__((packed));

static __always_inline void count(__u32 stat) {
  __u64* c = bpf_map_lookup_elem(&fulcrum_stat_v2, &stat);
  if (c) *c += 1;
}

static __always_inline int pass(__u32 stat) {
  count(stat);
  return XDP_PASS;
}

static __always_inline int to_dataplane(struct xdp_md* ctx, __u32 stat) {
  count(stat);
  int action = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
  if (action != XDP_REDIRECT) count(FULCRUM_XDP_NO_SOCKET);
  return action;
}

static __always_inline __u32 local_kind(__u32 addr_be) {
  __u32* kind = bpf_map_lookup_elem(&fulcrum_addr_v1, &addr_be);
  return kind ? *kind : 0;
}

static __always_inline int is_vip(__u32 addr_be, __u16 port_be) {
  struct fulcrum_l4_key k = {.addr_be = addr_be, .port_be = port_be, .proto = IPPROTO_TCP, .pad = 0};
  return bpf_map_lookup_elem(&fulcrum_vips_v1, &k) != 0;
}

static __always_inline int is_nat_backend(__u32 addr_be, __u16 port_be) {
  struct fulcrum_l4_key k = {.addr_be = addr_be, .port_be = port_be, .proto = IPPROTO_TCP, .pad = 0};
  return bpf_map_lookup_elem(&fulcrum_natb_v1, &k) != 0;
}

/* An ICMP error quotes the IP header and the first 8 bytes of the packet that caused it.
 * It belongs to a flow of ours when the quoted packet went to a nat backend (we sent it,
 * the error comes from the backend side) or came from a VIP (a reply we sent to a client).
 * Errors addressed to a VIP or SNAT address are caught by the caller. */
static __always_inline int icmp_error_of_flow(void* inner, void* end) {
  struct iphdr* ip = inner;
  if ((void*)(ip + 1) > end || ip->version != 4 || ip->protocol != IPPROTO_TCP) return 0;
  __u32 ihl = ip->ihl * 4u;
  if (ihl < sizeof(*ip) || ihl > 60) return 0;
  __u16* ports = inner + ihl;
  if ((void*)(ports + 2) > end) return 0;
  return is_nat_backend(ip->daddr, ports[1]) || is_vip(ip->saddr, ports[0]);
}

/* ---- IPv6 (issue 15) ---- */
#define ETH_P_IPV6_BE bpf_htons(0x86DD)
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_ICMPV6 58
#define NEXTHDR_DEST 60
#define MAX_IPV6_EXT_HEADERS 4 /* the data plane's kMaxIpv6ExtHeaders */
#define ICMPV6_DEST_UNREACHABLE 1
#define ICMPV6_PACKET_TOO_BIG 2
#define ICMPV6_TIME_EXCEEDED 3
#define ICMPV6_ECHO_REQUEST 128
#define NDP_NEIGHBOUR_SOLICITATION 135
#define NDP_NEIGHBOUR_ADVERTISEMENT 136

/* <linux/ipv6.h> pulls <linux/in6.h>, which wants libc's headers like <linux/icmp.h>. */
struct ipv6_fixed {
  __u8 version_class; /* version in the high nibble */
  __u8 class_flow[3];
  __be16 payload_len;
  __u8 nexthdr;
  __u8 hop_limit;
  __u8 saddr[16];
  __u8 daddr[16];
};

static __always_inline __u32 local_kind6(const __u8* addr) {
  struct fulcrum_addr6 k;
  __builtin_memcpy(k.b, addr, 16);
  __u32* kind = bpf_map_lookup_elem(&fulcrum_adr6_v1, &k);
  return kind ? *kind : 0;
}

static __always_inline int is_vip6(const __u8* addr, __u16 port_be) {
  struct fulcrum_l4_key6 k = {.port_be = port_be, .proto = IPPROTO_TCP, .pad = 0};
  __builtin_memcpy(k.addr, addr, 16);
  return bpf_map_lookup_elem(&fulcrum_vip6_v1, &k) != 0;
}

static __always_inline int is_nat_backend6(const __u8* addr, __u16 port_be) {
  struct fulcrum_l4_key6 k = {.port_be = port_be, .proto = IPPROTO_TCP, .pad = 0};
  __builtin_memcpy(k.addr, addr, 16);
  return bpf_map_lookup_elem(&fulcrum_nat6_v1, &k) != 0;
}

/* The IPv6 counterpart of icmp_error_of_flow: the quoted packet went to a nat backend, or
 * came from a VIP. Its TCP header must follow the quoted IPv6 header (extension headers in
 * a quoted packet are not walked: such an error reaches the data plane only when it is
 * addressed to a VIP or SNAT address). */
static __always_inline int icmp6_error_of_flow(void* inner, void* end) {
  struct ipv6_fixed* ip = inner;
  if ((void*)(ip + 1) > end || (ip->version_class >> 4) != 6 || ip->nexthdr != IPPROTO_TCP) return 0;
  __u16* ports = (void*)(ip + 1);
  if ((void*)(ports + 2) > end) return 0;
  return is_nat_backend6(ip->daddr, ports[1]) || is_vip6(ip->saddr, ports[0]);
}

/* Neighbour discovery for a VIP or SNAT address is the data plane's (it answers for them,
 * and defends them against duplicate address detection); the host's addresses, and every
 * address the host resolves, are the kernel's. The target (solicitations are sent to a
 * solicited-node multicast group, which a VIP may share with a host address) decides, or a
 * unicast destination that is a VIP/SNAT address (an answer to the data plane's own
 * solicitation). Either of them being the host's keeps the message with the kernel. */
static __always_inline int steer_ndp(struct xdp_md* ctx, struct ipv6_fixed* ip, __u8* icmp, __u32 at, __u32 packet_len,
                                     void* end) {
  __u8* target = icmp + 8;
  if ((void*)(target + 16) > end || at + 24 > packet_len) return pass(FULCRUM_XDP_PASS_MALFORMED);
  __u32 kinds = local_kind6(ip->daddr) | local_kind6(target);
  if (kinds & FULCRUM_LOCAL_HOST) return pass(FULCRUM_XDP_PASS_NDP);
  if (kinds & (FULCRUM_LOCAL_VIP | FULCRUM_LOCAL_SNAT)) return to_dataplane(ctx, FULCRUM_XDP_REDIRECT_NDP);
  return pass(FULCRUM_XDP_PASS_NDP);
}

static __always_inline int steer_ipv6(struct xdp_md* ctx, void* l3, void* end) {
  struct ipv6_fixed* ip = l3;
  if ((void*)(ip + 1) > end || (ip->version_class >> 4) != 6) return pass(FULCRUM_XDP_PASS_MALFORMED);
  __u32 payload = bpf_ntohs(ip->payload_len);
  // 0 is a jumbogram (no link here carries one); a packet beyond the frame is cut.
  if (payload == 0 || l3 + sizeof(*ip) + payload > end) return pass(FULCRUM_XDP_PASS_MALFORMED);
  __u32 packet_len = sizeof(*ip) + payload;

  // `at`: offset of the next header from the IPv6 header. Checked against the frame for
  // the verifier and against the packet's own length for the rules (Ethernet padding is
  // not part of the packet).
  __u32 at = sizeof(*ip);
  __u8 next = ip->nexthdr;
  // A bounded loop (kernel 5.3+), which the verifier follows once per header.
  for (int seen = 0; seen <= MAX_IPV6_EXT_HEADERS; ++seen) {
    if (next != NEXTHDR_HOP && next != NEXTHDR_DEST && next != NEXTHDR_ROUTING) break;
    if ((next == NEXTHDR_HOP && seen != 0) || seen == MAX_IPV6_EXT_HEADERS) return pass(FULCRUM_XDP_PASS_MALFORMED);
    __u8* ext = l3 + at;
    if ((void*)(ext + 8) > end || at + 8 > packet_len) return pass(FULCRUM_XDP_PASS_MALFORMED);
    __u32 len = (ext[1] + 1u) * 8u;
    if (at + len > packet_len) return pass(FULCRUM_XDP_PASS_MALFORMED);
    // Segments Left > 0: this node is one stop of a source route; the kernel's policy.
    if (next == NEXTHDR_ROUTING && ext[3] != 0) return pass(FULCRUM_XDP_PASS_HOST);
    next = ext[0];
    at += len;
  }
  // Fragments, atomic ones too, as the data plane (which drops them) and IPv4 here.
  if (next == NEXTHDR_FRAGMENT) return pass(FULCRUM_XDP_PASS_MALFORMED);
  void* l4 = l3 + at;

  if (next == IPPROTO_TCP) {
    struct tcphdr* tcp = l4;
    if ((void*)(tcp + 1) > end || at + sizeof(*tcp) > packet_len) return pass(FULCRUM_XDP_PASS_MALFORMED);
    if (is_vip6(ip->daddr, tcp->dest)) return to_dataplane(ctx, FULCRUM_XDP_REDIRECT_VIP);
    __u32 kind = local_kind6(ip->daddr);
    if (kind & FULCRUM_LOCAL_HOST) return pass(FULCRUM_XDP_PASS_HOST);
    if (kind & FULCRUM_LOCAL_SNAT) return to_dataplane(ctx, FULCRUM_XDP_REDIRECT_SNAT);
    if (is_nat_backend6(ip->saddr, tcp->source)) return to_dataplane(ctx, FULCRUM_XDP_REDIRECT_NAT_REPLY);
    return pass(FULCRUM_XDP_PASS_HOST);
  }
  if (next == NEXTHDR_ICMPV6) {
    struct icmp_header* icmp = l4;
    if ((void*)(icmp + 1) > end || at + sizeof(*icmp) > packet_len) return pass(FULCRUM_XDP_PASS_MALFORMED);
    if (icmp->type == NDP_NEIGHBOUR_SOLICITATION || icmp->type == NDP_NEIGHBOUR_ADVERTISEMENT) {
      return steer_ndp(ctx, ip, l4, at, packet_len, end);
    }
    __u32 kind = local_kind6(ip->daddr);
    if (kind & FULCRUM_LOCAL_HOST) return pass(FULCRUM_XDP_PASS_HOST);
    int ours = (kind & (FULCRUM_LOCAL_VIP | FULCRUM_LOCAL_SNAT)) != 0;
    if (icmp->type == ICMPV6_ECHO_REQUEST && ours) return to_dataplane(ctx, FULCRUM_XDP_REDIRECT_ICMP);
    if (icmp->type == ICMPV6_DEST_UNREACHABLE || icmp->type == ICMPV6_PACKET_TOO_BIG || icmp->type == ICMPV6_TIME_EXCEEDED) {
      if (ours || icmp6_error_of_flow(icmp + 1, end)) return to_dataplane(ctx, FULCRUM_XDP_REDIRECT_ICMP);
    }
    return pass(FULCRUM_XDP_PASS_HOST);
  }
  return pass(FULCRUM_XDP_PASS_HOST);
}

SEC("xdp")
int fulcrum_steer(struct xdp_md* ctx) {
  void* data = (void*)(long)ctx->data;
  void* end = (void*)(long)ctx->data_end;
  struct ethhdr* eth = data;
  if ((void*)(eth + 1) > end) return pass(FULCRUM_XDP_PASS_MALFORMED);
  void* l3 = eth + 1;
  __be16 proto = eth->h_proto;
  if (proto == ETH_P_8021Q_BE) {  // one 802.1Q tag, as the data plane accepts
    __be16* inner_type = l3 + 2;
    if ((void*)(inner_type + 1) > end) return pass(FULCRUM_XDP_PASS_MALFORMED);
    proto = *inner_type;
    l3 += 4;
  }

  if (proto == bpf_htons(ETH_P_ARP)) {
    struct arp_ipv4* arp = l3;
    if ((void*)(arp + 1) > end) return pass(FULCRUM_XDP_PASS_MALFORMED);
    if (arp->op == ARP_OP_REQUEST_BE && (local_kind(arp->tpa) & (FULCRUM_LOCAL_VIP | FULCRUM_LOCAL_SNAT)) != 0) {
      return to_dataplane(ctx, FULCRUM_XDP_REDIRECT_ARP);
    }
    return pass(FULCRUM_XDP_PASS_ARP);
  }
  if (proto == ETH_P_IPV6_BE) return steer_ipv6(ctx, l3, end);
  if (proto != bpf_htons(ETH_P_IP)) return pass(FULCRUM_XDP_PASS_OTHER);

  struct iphdr* ip = l3;
  if ((void*)(ip + 1) > end || ip->version != 4) return pass(FULCRUM_XDP_PASS_MALFORMED);
  __u32 ihl = ip->ihl * 4u;
  if (ihl < sizeof(*ip) || ihl > 60) return pass(FULCRUM_XDP_PASS_MALFORMED);
  // Fragments: a non-first one has no ports to steer by, and the data plane drops them
  // anyway; the kernel may reassemble its own.
  if ((ip->frag_off & bpf_htons(0x3FFF)) != 0) return pass(FULCRUM_XDP_PASS_MALFORMED);
  void* l4 = l3 + ihl;

  if (ip->protocol == IPPROTO_TCP) {
    struct tcphdr* tcp = l4;
    if ((void*)(tcp + 1) > end) return pass(FULCRUM_XDP_PASS_MALFORMED);
    if (is_vip(ip->daddr, tcp->dest)) return to_dataplane(ctx, FULCRUM_XDP_REDIRECT_VIP);
    __u32 kind = local_kind(ip->daddr);
    if (kind & FULCRUM_LOCAL_HOST) return pass(FULCRUM_XDP_PASS_HOST);
    if (kind & FULCRUM_LOCAL_SNAT) return to_dataplane(ctx, FULCRUM_XDP_REDIRECT_SNAT);
    if (is_nat_backend(ip->saddr, tcp->source)) return to_dataplane(ctx, FULCRUM_XDP_REDIRECT_NAT_REPLY);
    return pass(FULCRUM_XDP_PASS_HOST);
  }
  if (ip->protocol == IPPROTO_ICMP) {
    struct icmp_header* icmp = l4;
    if ((void*)(icmp + 1) > end) return pass(FULCRUM_XDP_PASS_MALFORMED);
    __u32 kind = local_kind(ip->daddr);
    if (kind & FULCRUM_LOCAL_HOST) return pass(FULCRUM_XDP_PASS_HOST);
    int ours = (kind & (FULCRUM_LOCAL_VIP | FULCRUM_LOCAL_SNAT)) != 0;
    if (icmp->type == ICMP_ECHO_REQUEST && ours) return to_dataplane(ctx, FULCRUM_XDP_REDIRECT_ICMP);
    if (icmp->type == ICMP_DEST_UNREACHABLE || icmp->type == ICMP_TIME_EXCEEDED) {
      if (ours || icmp_error_of_flow(icmp + 1, end)) return to_dataplane(ctx, FULCRUM_XDP_REDIRECT_ICMP);
    }
    return pass(FULCRUM_XDP_PASS_HOST);
  }
  return pass(FULCRUM_XDP_PASS_HOST);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
