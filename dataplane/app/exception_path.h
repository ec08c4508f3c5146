// The exception path of PMD ports (issue 11): for a port with host_sharing = "tap" or
// "virtio_user", a kernel interface with the port's MAC that carries, both ways, what is
// not for the data plane — so the host keeps its address, ARP, BGP and SSH on a NIC that
// DPDK owns (a PCI NIC, net_af_packet).
//
// Frames to the kernel: workers give them a Punt verdict (worker_punt.cpp), dispatch puts
// them on Shared::to_kernel, and poll() here writes them to the port's kernel interface.
// Frames from the kernel: poll() reads each kernel interface and hands the frames to worker
// 0 through Shared::from_main (the main lcore has no TX queue of its own on a port), which
// sends them out as they are. Both run on the main lcore, between its housekeeping rounds:
// the host's traffic waits at most one round (0.2-2 ms), which BGP, SSH and ping do not
// notice, and workers never block on the kernel.
//
// Why net_tap by default and virtio_user as an option: KNI is gone from DPDK 23.11 and
// virtio_user over vhost-net is DPDK's recommended replacement, but it needs
// /dev/vhost-net, which many hosts (and this project's CI) lack; net_tap needs only
// /dev/net/tun. The interface persists after a crash (net_tap's persist), so the host's
// addresses and routes on it survive a data-plane restart.
#pragma once

#include <string>
#include <vector>

#include "config/loader/dataplane_config.h"
#include "dataplane/worker/shared.h"

struct rte_mempool;

namespace fulcrum::dp {

class ExceptionPath {
 public:
  // Creates and starts the kernel interface of every port that has one, setting
  // ports[i].exception_port. `ports` are the started ports, in config order.
  // "" or what went wrong.
  std::string create(const std::vector<config::PortConfig>& config, std::vector<PortInfo>& ports, rte_mempool* pool);
  // Main lcore: frames to and from the kernel interfaces. Returns how many it moved.
  uint32_t poll(Shared& shared, abi::WorkerStatus& main_status);
  void stop();
  bool empty() const { return exception_ports_.empty(); }

 private:
  std::vector<uint16_t> exception_ports_;  // DPDK port ids to close at stop()
};

}  // namespace fulcrum::dp
