// The whole configuration file as the control plane and lbctl see it: [dataplane] (see
// dataplane_config.h), [controlplane], and the VIPs with their backends and health checks.
//
// Parse -> validate -> apply: load_config() returns a complete, validated LbConfig or
// every error found; nothing is applied by this library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/loader/bgp_config.h"
#include "config/loader/dataplane_config.h"
#include "config/loader/errors.h"
#include "config/loader/ip_addr.h"
#include "config/loader/net_parse.h"
#include "config/loader/scheduling_config.h"
#include "dataplane/abi/limits.h"

namespace toml {
inline namespace v3 {
class table;
}
}  // namespace toml

namespace fulcrum::config {

// The data plane's capacities, from the shared-memory contract itself.
using abi::kMaglevPoolEntries;
using abi::kMaxBackends;
using abi::kMaxLocalAddrs;
using abi::kMaxSnatAddrs;
using abi::kMaxSnatPools;
using abi::kMaxVips;

enum class ForwardMode { Nat, FullNat };
enum class DownPolicy { Keep, Reset };         // what happens to a down backend's flows
enum class InitialState { Active, Draining };  // a backend's state before any operator action
enum class CheckType { Tcp, Http };
enum class SynproxyMode { Off, On, Auto };     // Auto: while a worker's new-flow breaker is tripped

struct HealthCheck {
  CheckType type = CheckType::Tcp;
  std::string http_method = "GET";     // http only
  std::string http_path = "/";         // http only; must start with '/'
  std::string http_host;               // Host header; empty: the backend's address
  uint16_t expect_status = 200;        // http only; 100..599
  uint32_t interval_ms = 2000;         // 100 .. 3,600,000
  uint32_t timeout_ms = 1000;          // 10 .. 60,000, and < interval_ms
  uint32_t rise = 2;                   // 1 .. 100 successes in a row to go up
  uint32_t fall = 3;                   // 1 .. 100 failures in a row to go down
  uint16_t port = 0;                   // 0: the backend's own port
  IpAddr source;                       // source address of the check's connections (the backend's family); empty: the kernel's choice
  std::string expect_body;             // http only: the response body must contain this; "": not checked
  bool start_down = false;             // a backend never checked yet starts down, until `rise` checks pass

  // Worst-case time from a backend dying to it being marked down.
  uint32_t detection_ms() const { return interval_ms * fall + timeout_ms; }
  bool operator==(const HealthCheck&) const = default;
};

struct BackendConfig {
  std::string name;                    // optional label ("web-1"); "" if not given
  IpAddr addr;                         // issue 15: IPv4 or IPv6, the VIP's backends all of one family
  uint16_t port = 0;                   // host order
  uint16_t weight = 1;                 // 0 .. 1000; 0: no new flows
  InitialState state = InitialState::Active;
  HealthCheck health;                  // the VIP's check with this backend's overrides applied
  BackendLimits limits;                // max_connections, max_new_conn_rate (scheduling_config.h)
  Location where;                      // of the [[vip.backends]] table, for messages

  std::string endpoint() const;        // "198.18.2.11:80", "[2001:db8:2::11]:80"
  bool operator==(const BackendConfig& o) const {
    return name == o.name && addr == o.addr && port == o.port && weight == o.weight && state == o.state &&
           health == o.health && limits == o.limits;
  }
};

struct VipConfig {
  std::string name;                    // unique; [a-z0-9_-], 1..32 chars
  IpAddr addr;                         // issue 15: IPv4 or IPv6
  uint16_t port = 0;                   // host order
  ForwardMode mode = ForwardMode::Nat;
  std::vector<IpAddr> snat;            // fullnat source addresses (required for fullnat, forbidden for nat), the backends' family
  uint32_t maglev_size = 65537;        // a prime
  std::optional<std::string> hash_seed;  // overrides controlplane.hash_seed
  DownPolicy on_backend_down = DownPolicy::Keep;
  uint32_t max_new_conn_rate = 0;      // SYNs per second admitted (token bucket); 0: no limit
  uint32_t new_conn_burst = 0;         // bucket depth; 0 with a rate: rate / 10 (at least 1)
  SynproxyMode synproxy = SynproxyMode::Off;
  std::optional<uint32_t> min_healthy_backends;  // issue 12: overrides controlplane.bgp.min_healthy_backends
  HealthCheck health;                  // default check for its backends
  Scheduling scheduling;               // scheduler, retries, passive health, slow start (scheduling_config.h)
  std::vector<BackendConfig> backends;
  Location where;

  std::string endpoint() const;        // "198.18.0.10:80", "[2001:db8::10]:80"
  bool is_v6() const { return addr.is_v6(); }
  // The family of its backends (IPv6 VIPs may have IPv4 ones: NAT64); the VIP's own without backends.
  IpFamily backend_family() const { return backends.empty() ? addr.family : backends.front().addr.family; }
  bool operator==(const VipConfig& o) const {
    return name == o.name && addr == o.addr && port == o.port && mode == o.mode && snat == o.snat &&
           maglev_size == o.maglev_size && hash_seed == o.hash_seed && on_backend_down == o.on_backend_down &&
           max_new_conn_rate == o.max_new_conn_rate && new_conn_burst == o.new_conn_burst && synproxy == o.synproxy &&
           min_healthy_backends == o.min_healthy_backends && health == o.health && scheduling == o.scheduling &&
           backends == o.backends;
  }
};

struct ControlplaneConfig {
  std::string socket = "/run/fulcrum/lbctl.sock";
  uint32_t socket_mode = 0660;         // written as a string of octal digits, "0660"
  std::string socket_owner;            // user name; "": the control plane's own user
  std::string socket_group;            // group name; "": the control plane's own group
  std::string metrics = "127.0.0.1:9469";  // "address:port" to listen on; "" disables metrics
  std::string state_dir = "/var/lib/fulcrum";  // operator state (drains, weights) survives restarts here
  std::string hash_seed;               // the cluster's Maglev seed: same on every node; >= 16 characters
  uint32_t publish_timeout_ms = 500;   // how long a publish waits for a stuck data-plane worker
  std::optional<BgpConfig> bgp;        // issue 12: [controlplane.bgp]; none: this node announces nothing
  bool operator==(const ControlplaneConfig&) const = default;
};

struct LbConfig {
  std::string path;
  DataplaneConfig dataplane;
  ControlplaneConfig controlplane;
  std::vector<VipConfig> vips;

  // issue 12: usable backends a VIP needs to be announced (its own, else [controlplane.bgp]'s).
  uint32_t min_healthy_backends(const VipConfig& v) const {
    return v.min_healthy_backends.value_or(controlplane.bgp ? controlplane.bgp->min_healthy_backends : 1);
  }
};

// Reads, parses and validates the whole file. On any error returns nothing; `errors`
// holds every error found, each with file:line:column and the key.
std::optional<LbConfig> load_config(const std::string& path, Errors& errors);
std::optional<LbConfig> parse_config(const toml::table& root, const std::string& path, Errors& errors);

// The dotted keys of [dataplane] whose values differ between the two files (for a reload
// that must refuse them: they need a data-plane restart), e.g. "dataplane.worker_lcores".
std::vector<std::string> dataplane_changes(const toml::table& before, const toml::table& after);

}  // namespace fulcrum::config
