// The [dataplane] section: what lb-dataplane needs to start. Changing any of it needs a
// data-plane restart (the control plane refuses such a reload and says so).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/loader/errors.h"
#include "config/loader/host_sharing.h"
#include "config/loader/net_parse.h"

namespace toml {
inline namespace v3 {
class table;
}
}  // namespace toml

namespace fulcrum::config {

inline constexpr size_t kMaxPorts = 8;
inline constexpr size_t kMaxRoutes = 32;
inline constexpr size_t kMaxStaticNeighbours = 256;

struct PortConfig {
  std::string name;          // label used in routes, neighbours, logs: "client", "backend"
  std::string device;        // DPDK device name or devargs: "0000:3b:00.0", "net_af_xdp0,iface=eth1"
  Prefix address;            // this port's own address and connected subnet
  std::optional<uint32_t> gateway_be;  // default route via this port
  // issue 15: the port's IPv6 address and on-link prefix, and the IPv6 default route's next
  // hop. Optional: a port without address6 carries no IPv6 (its IPv6 is dropped, or punted
  // to the kernel on a host-sharing port).
  std::optional<Prefix6> address6;
  std::optional<abi::Ip6> gateway6;
  uint16_t rx_descriptors = 1024;
  uint16_t tx_descriptors = 1024;
  HostSharing host_sharing = HostSharing::None;  // issue 11: see host_sharing.h
  std::string kernel_interface;                  // tap / virtio_user: the kernel's interface
};

struct RouteConfig {
  Prefix prefix;             // host bits ignored
  uint32_t via_be = 0;       // next hop, on a port's connected subnet
};

// issue 15: an IPv6 route; [[dataplane.routes]] entries whose prefix is IPv6 land here.
struct Route6Config {
  Prefix6 prefix;            // host bits ignored
  abi::Ip6 via{};            // next hop, on a port's address6 prefix
};

struct NeighbourConfig {
  uint32_t addr_be = 0;
  Mac mac{};
  std::string port;
};

struct Neighbour6Config {
  abi::Ip6 addr{};
  Mac mac{};
  std::string port;
};

// TCP connection timeouts in seconds, by state. Defaults after IPVS: SYN_RECV 60 s,
// ESTABLISHED 900 s, FIN_WAIT/TIME_WAIT 120 s, CLOSE 10 s.
struct TcpTimeouts {
  uint32_t syn = 60;            // handshake answered by the backend, not yet completed
  uint32_t syn_unanswered = 5;  // a SYN the backend has not answered (refreshed by retransmits)
  uint32_t established = 900;
  uint32_t closing = 120;
  uint32_t closed = 10;
};

struct DataplaneConfig {
  std::vector<std::string> eal_args;
  uint32_t main_lcore = 0;
  std::vector<uint32_t> worker_lcores{1};
  std::vector<PortConfig> ports;
  std::vector<RouteConfig> routes;
  std::vector<NeighbourConfig> neighbours;
  std::vector<Route6Config> routes6;           // issue 15: the IPv6 [[dataplane.routes]]
  std::vector<Neighbour6Config> neighbours6;   // issue 15: the IPv6 [[dataplane.neighbours]]
  uint32_t conntrack_entries = 1u << 20;
  // issue 15: IPv6 connection entries (112 bytes each, apart from the IPv4 table's 64).
  uint32_t conntrack_entries6 = 1u << 18;
  uint32_t mbufs = 16383;
  // 0: workers busy-poll. > 0: adaptive polling: after 200 us without a packet a worker
  // sleeps between polls, 50 us first, doubling up to this many us, until traffic returns
  // (for hosts where a spinning core is not affordable).
  uint32_t idle_sleep_us = 0;
  TcpTimeouts timeouts;
  // Flood defence (docs/dataplane.md "Under attack"). New flows per second per worker above
  // which new nat flows are forwarded without state and SYN proxying in "auto" starts;
  // 0 turns the breaker off. Katran uses 125,000 per core.
  uint32_t new_flow_breaker_rate = 125'000;
  // Above this share (%) of a worker's connection entries, embryonic entries are evicted by
  // age, oldest first, until it is back below.
  uint32_t embryonic_high_water = 90;
  // Reserve 4 bytes per connection entry for the sequence translation of SYN-proxied VIPs
  // ([[vip]] synproxy); without it no VIP may use the SYN proxy.
  bool synproxy = false;
  std::string shm_tables = "/fulcrum-tables";
  std::string shm_status = "/fulcrum-status";

  int port_index(const std::string& name) const;
};

// Reads [dataplane] of `root`; the rest of the file is not looked at. Errors go to `errors`.
DataplaneConfig parse_dataplane(const toml::table& root, Errors& errors);

// Parses `path` and returns the [dataplane] section, or nothing with every error found.
std::optional<DataplaneConfig> load_dataplane(const std::string& path, Errors& errors);

}  // namespace fulcrum::config
