/* The steering contract between Fulcrum's XDP program (dataplane/xdp/fulcrum_xdp.bpf.c),
 * the control plane that fills its maps (controlplane/steering/) and the tests.
 *
 * Plain C with kernel types: the BPF program is C compiled by clang -target bpf and cannot
 * include the C++ ABI headers, so this header is the one definition both sides compile.
 * A map definition that changes here must change the pin names too (FULCRUM_STEER_MAP_*
 * carry a version suffix; names stay within the kernel's 15 characters): libbpf reuses a pinned map only when type, key and value size,
 * max_entries and flags all match, and a stale pin of another layout would make the
 * data plane's port start fail.
 */
#ifndef FULCRUM_ABI_STEERING_H
#define FULCRUM_ABI_STEERING_H

#include <linux/types.h>

/* Pinned maps (bpffs, LIBBPF_PIN_BY_NAME: <bpffs>/<name>). The AF_XDP socket map
 * (xsks_map) is never pinned: it belongs to one interface's program. */
#define FULCRUM_STEER_MAP_VIPS "fulcrum_vips_v1"
#define FULCRUM_STEER_MAP_BACKENDS "fulcrum_natb_v1"
#define FULCRUM_STEER_MAP_LOCALS "fulcrum_addr_v1"
#define FULCRUM_STEER_MAP_STATS "fulcrum_stat_v2" /* v2: NDP counters (issue 15) */
/* IPv6 (issue 15): the same three rules over 16-byte addresses. */
#define FULCRUM_STEER_MAP_VIPS6 "fulcrum_vip6_v1"
#define FULCRUM_STEER_MAP_BACKENDS6 "fulcrum_nat6_v1"
#define FULCRUM_STEER_MAP_LOCALS6 "fulcrum_adr6_v1"

/* Capacities: those of the tables region (dataplane/abi/limits.h, checked by static_assert
 * in controlplane/steering/steering_maps.cpp), plus the host addresses of shared ports. */
#define FULCRUM_STEER_MAX_VIPS 256
#define FULCRUM_STEER_MAX_BACKENDS 8192
#define FULCRUM_STEER_MAX_LOCALS (1024 + 8)
#define FULCRUM_STEER_MAX_LOCALS6 (1024 + 8)
#define FULCRUM_STEER_MAX_QUEUES 64

/* Key of fulcrum_vips_v1 (VIP address, port) and of fulcrum_natb_v1 (a nat VIP's backend
 * address, port): network byte order, as in the packet. 8 bytes, no implicit padding. */
struct fulcrum_l4_key {
  __u32 addr_be;
  __u16 port_be;
  __u8 proto; /* IPPROTO_TCP */
  __u8 pad;   /* always 0 */
};

/* Key of fulcrum_vip6_v1 (IPv6 VIP address, port) and of fulcrum_nat6_v1 (a nat VIP's IPv6
 * backend address, port): network byte order, as in the packet. 20 bytes, no implicit
 * padding (byte-aligned address first, then the same tail as fulcrum_l4_key). */
struct fulcrum_l4_key6 {
  __u8 addr[16];
  __u16 port_be;
  __u8 proto; /* IPPROTO_TCP */
  __u8 pad;   /* always 0 */
};

/* Key of fulcrum_adr6_v1: an IPv6 address, network order. */
struct fulcrum_addr6 {
  __u8 b[16];
};

/* Value of fulcrum_addr_v1 (key: the address, __u32 network order) and of fulcrum_adr6_v1
 * (key: struct fulcrum_addr6): what the address is. */
#define FULCRUM_LOCAL_VIP 0x1u  /* a VIP: ARP/NDP and ping are the data plane's */
#define FULCRUM_LOCAL_SNAT 0x2u /* a SNAT address: TCP to it is a fullnat reply */
#define FULCRUM_LOCAL_HOST 0x4u /* the kernel's own address on a shared port: always XDP_PASS */

/* Per-action counters (PERCPU_ARRAY, index = enum value). X(id, "name", "meaning").
 * New counters go at the end (bpftool dumps show them by index), with a new stats pin name. */
#define FULCRUM_XDP_STATS(X)                                                                   \
  X(REDIRECT_VIP, "redirect_vip", "TCP to a VIP address and port")                             \
  X(REDIRECT_NAT_REPLY, "redirect_nat_reply", "TCP from a nat backend address and port")       \
  X(REDIRECT_SNAT, "redirect_snat", "TCP to a SNAT address (fullnat replies)")                 \
  X(REDIRECT_ICMP, "redirect_icmp", "ICMP/ICMPv6 echo to a VIP/SNAT address, or an error about a flow") \
  X(REDIRECT_ARP, "redirect_arp", "ARP request for a VIP or SNAT address")                     \
  X(NO_SOCKET, "no_socket", "meant for the data plane but no AF_XDP socket on the queue: passed") \
  X(PASS_HOST, "pass_host", "IPv4/IPv6 not for the data plane (host address, other ports/protocols)") \
  X(PASS_ARP, "pass_arp", "ARP not about a VIP or SNAT address")                               \
  X(PASS_OTHER, "pass_other", "not IPv4, IPv6 or ARP (LLDP, ...)")                             \
  X(PASS_MALFORMED, "pass_malformed", "too short, fragments, bad headers: the kernel judges")  \
  X(REDIRECT_NDP, "redirect_ndp", "neighbour solicitation/advertisement about or to a VIP/SNAT address") \
  X(PASS_NDP, "pass_ndp", "neighbour discovery not about a VIP or SNAT address (the host's)")

#define FULCRUM_XDP_STAT_ENUM(id, name, help) FULCRUM_XDP_##id,
enum fulcrum_xdp_stat { FULCRUM_XDP_STATS(FULCRUM_XDP_STAT_ENUM) FULCRUM_XDP_STAT_COUNT };
#undef FULCRUM_XDP_STAT_ENUM

#endif /* FULCRUM_ABI_STEERING_H */
