// Checks of addresses against the network the data plane sits on, beyond syntax and
// reachability: the mistakes that validate everywhere else and then break forwarding in
// ways that are hard to see (the balancer answering ARP for its own gateway, two ports on
// one subnet, a route whose next hop is the balancer itself).
#pragma once

#include <cstdint>
#include <string>

#include "config/loader/dataplane_config.h"
#include "config/loader/errors.h"

namespace toml {
inline namespace v3 {
class table;
}
}  // namespace toml

namespace fulcrum::config {

// [dataplane] as parsed, against itself: overlapping port subnets; port addresses, gateways
// and next hops that are a subnet's network or broadcast address, or the node's own
// address; static neighbours listed twice or on a port's own address. Run only when the
// ports, routes and neighbours parsed without errors (their indexes then match the file).
void check_dataplane_network(const toml::table& dataplane, const DataplaneConfig& cfg, Errors& errors);

// What `addr_be` is that makes it unusable as an address the balancer owns (a VIP, a SNAT
// address) or a backend: "" if nothing. `owned` adds the gateways and next hops (which the
// balancer must never answer ARP for).
std::string special_address(const DataplaneConfig& dp, uint32_t addr_be, bool owned);
// issue 15: the same for IPv6: a port prefix's subnet-router anycast address (all host
// bits zero, RFC 4291 2.6.1); with `owned`, the gateway6s and IPv6 next hops.
std::string special_address6(const DataplaneConfig& dp, const abi::Ip6& addr, bool owned);

}  // namespace fulcrum::config
