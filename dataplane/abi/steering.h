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
#define FULCRUM_STEER_MAP_STATS "fulcrum_stat_v1"

/* Capacities: those of the tables region (dataplane/abi/limits.h, checked by static_assert
 * in controlplane/steering/steering_maps.cpp), plus the host addresses of shared ports. */
#define FULCRUM_STEER_MAX_VIPS 256
#define FULCRUM_STEER_MAX_BACKENDS 8192
#define FULCRUM_STEER_MAX_LOCALS (1024 + 8)
#define FULCRUM_STEER_MAX_QUEUES 64

/* Key of fulcrum_vips_v1 (VIP address, port) and of fulcrum_natb_v1 (a nat VIP's backend
 * address, port): network byte order, as in the packet. 8 bytes, no implicit padding. */
struct fulcrum_l4_key {
  __u32 addr_be;
  __u16 port_be;
  __u8 proto; /* IPPROTO_TCP */
  __u8 pad;   /* always 0 */
};

/* Value of fulcrum_addr_v1 (key: the address, __u32 network order): what the address is. */
#define FULCRUM_LOCAL_VIP 0x1u  /* a VIP: ARP and ping are the data plane's */
#define FULCRUM_LOCAL_SNAT 0x2u /* a SNAT address: TCP to it is a fullnat reply */
#define FULCRUM_LOCAL_HOST 0x4u /* the kernel's own address on a shared port: always XDP_PASS */

/* Per-action counters (PERCPU_ARRAY, index = enum value). X(id, "name", "meaning"). */
#define FULCRUM_XDP_STATS(X)                                                                   \
  X(REDIRECT_VIP, "redirect_vip", "TCP to a VIP address and port")                             \
  X(REDIRECT_NAT_REPLY, "redirect_nat_reply", "TCP from a nat backend address and port")       \
  X(REDIRECT_SNAT, "redirect_snat", "TCP to a SNAT address (fullnat replies)")                 \
  X(REDIRECT_ICMP, "redirect_icmp", "ICMP echo to a VIP/SNAT address, or an error about a flow") \
  X(REDIRECT_ARP, "redirect_arp", "ARP request for a VIP or SNAT address")                     \
  X(NO_SOCKET, "no_socket", "meant for the data plane but no AF_XDP socket on the queue: passed") \
  X(PASS_HOST, "pass_host", "IPv4 not for the data plane (host address, other ports/protocols)") \
  X(PASS_ARP, "pass_arp", "ARP not about a VIP or SNAT address")                               \
  X(PASS_OTHER, "pass_other", "not IPv4 or ARP (IPv6, LLDP, ...)")                             \
  X(PASS_MALFORMED, "pass_malformed", "too short, fragments, bad headers: the kernel judges")

#define FULCRUM_XDP_STAT_ENUM(id, name, help) FULCRUM_XDP_##id,
enum fulcrum_xdp_stat { FULCRUM_XDP_STATS(FULCRUM_XDP_STAT_ENUM) FULCRUM_XDP_STAT_COUNT };
#undef FULCRUM_XDP_STAT_ENUM

#endif /* FULCRUM_ABI_STEERING_H */
