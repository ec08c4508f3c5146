#include "controlplane/steering/steering_publisher.h"

#include "controlplane/service/log.h"

namespace fulcrum::cp {

SteeringPublisher::SteeringPublisher(const config::DataplaneConfig& dp, std::string bpffs) : bpffs_(std::move(bpffs)) {
  for (const config::PortConfig& p : dp.ports) {
    if (p.host_sharing == config::HostSharing::Xdp) enabled_ = true;
    if (!config::kernel_owns_address(p.host_sharing)) continue;
    host_addrs_be_.push_back(p.address.addr_be);
    if (p.address6) host_addrs6_.push_back(p.address6->addr);
  }
}

void SteeringPublisher::before_commit(const TableSpec& spec) {
  if (!enabled_) return;
  std::lock_guard lock(mu_);
  std::string error;
  // Re-opened on every generation: the pins may have been re-created (bpffs remounted, a
  // data plane that pinned them first), and an open fd would keep writing to the old maps.
  error = maps_.open(bpffs_);
  if (error.empty()) error = maps_.sync(steering_spec(spec, host_addrs_be_, host_addrs6_));
  if (error != last_error_) {
    if (!error.empty()) log("error", "XDP steering maps not updated: %s; new VIPs are not steered to the data plane", error.c_str());
    else if (!last_error_.empty()) log("info", "XDP steering maps updated again");
  }
  last_error_ = error;
}

}  // namespace fulcrum::cp
