// The control plane's hook into publishing for XDP steering: before each table generation
// is committed, the steering maps are brought to what that generation serves. Enabled
// when a [dataplane] port has host_sharing = "xdp"; otherwise every call is a no-op.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "config/loader/dataplane_config.h"
#include "controlplane/steering/steering_maps.h"

namespace fulcrum::cp {

// Where net_af_xdp's libbpf pins (and finds) the maps: its default root, which DPDK 22.11
// offers no devarg to change.
inline constexpr const char* kDefaultBpffs = "/sys/fs/bpf";

class SteeringPublisher {
 public:
  explicit SteeringPublisher(const config::DataplaneConfig& dp, std::string bpffs = kDefaultBpffs);

  bool enabled() const { return enabled_; }
  // Syncs the maps to `spec` (opening them first if needed). Never blocks the publish: a
  // failure is logged (once per distinct error) and retried at the next generation.
  void before_commit(const TableSpec& spec);
  // The XDP program's per-action counters ({} when disabled or not open). Any thread.
  XdpStats stats() const {
    std::lock_guard lock(mu_);
    return maps_.stats();
  }
  std::string last_error() const {
    std::lock_guard lock(mu_);
    return last_error_;
  }

 private:
  bool enabled_ = false;
  std::string bpffs_;
  std::vector<uint32_t> host_addrs_be_;
  std::vector<abi::Ip6> host_addrs6_;
  // before_commit() runs on the publisher's thread, stats() on the metrics endpoint's.
  mutable std::mutex mu_;
  SteeringMaps maps_;
  std::string last_error_;
};

}  // namespace fulcrum::cp
