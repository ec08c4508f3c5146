// The XDP steering maps, seen from the control plane: what each table generation steers to
// the data plane on ports shared with the host (host_sharing = "xdp"), written through
// libbpf before that generation becomes active.
//
// Why the control plane writes them, and before the commit: it is the one process that
// knows a generation before any data-plane worker can use it, so a VIP added by a reload
// is steered from its first packet, and one removed goes back to the kernel. The maps are
// pinned in a bpffs, so they outlive both processes: a restarted data plane's XDP program
// (loaded by net_af_xdp, which reuses pinned maps of the same name) steers at once, and a
// restarted control plane finds them and writes only the difference.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "controlplane/tables/table_builder.h"
#include "dataplane/abi/steering.h"

namespace fulcrum::cp {

// The content of the six steering maps (three per family) for one generation.
struct SteeringSpec {
  using Endpoint = std::pair<uint32_t, uint16_t>;  // address, port (both network order)
  using Address6 = std::array<uint8_t, 16>;        // abi::Ip6's bytes, ordered for the sets
  using Endpoint6 = std::pair<Address6, uint16_t>;
  std::set<Endpoint> vips;                        // TCP VIP endpoints
  std::set<Endpoint> nat_backends;                // backends of nat VIPs (their replies)
  std::map<uint32_t, uint32_t> locals;            // address -> FULCRUM_LOCAL_* bits
  std::set<Endpoint6> vips6;                      // the same for IPv6 (issue 15)
  std::set<Endpoint6> nat_backends6;
  std::map<Address6, uint32_t> locals6;
};

// What `tables` steers, with `host_addrs_be` and `host_addrs6` (the addresses the kernel
// keeps on shared ports) marked as the host's: always passed to the kernel. An IPv6 VIP
// with IPv4 backends (NAT64) is an IPv6 VIP endpoint whose SNAT addresses are IPv4.
SteeringSpec steering_spec(const TableSpec& tables, const std::vector<uint32_t>& host_addrs_be,
                           const std::vector<abi::Ip6>& host_addrs6 = {});

// The maps as file descriptors, for tests that load the program themselves.
struct SteeringFds {
  int vips = -1, nat_backends = -1, locals = -1, stats = -1;
  int vips6 = -1, nat_backends6 = -1, locals6 = -1;
};

// Counters of the XDP program, summed over CPUs, indexed by enum fulcrum_xdp_stat.
struct XdpStats {
  uint64_t by_action[FULCRUM_XDP_STAT_COUNT] = {};
};

class SteeringMaps {
 public:
  // The pinned maps under `bpffs_dir` (a mounted bpffs; /sys/fs/bpf in production, the
  // root net_af_xdp's libbpf pins under). A missing map is created and pinned, with the
  // definition the XDP program declares. "" or what is wrong (no bpffs, no CAP_BPF, a
  // pinned map of another layout).
  std::string open(const std::string& bpffs_dir);
  // Maps given as file descriptors (tests that load the program themselves). Not owned.
  void use_fds(const SteeringFds& fds);
  ~SteeringMaps();

  // Makes the maps hold exactly `spec`: new entries first, then stale ones deleted, so an
  // endpoint in both the old and the new generation is never missing in between.
  // "" or the first failure (the maps may then hold a mix; the next sync repairs it).
  std::string sync(const SteeringSpec& spec);
  bool is_open() const { return fds_.vips >= 0; }

  XdpStats stats() const;

 private:
  void close_owned();
  SteeringFds fds_;
  bool owned_ = false;
};

}  // namespace fulcrum::cp
