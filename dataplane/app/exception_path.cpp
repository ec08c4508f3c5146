#include "dataplane/app/exception_path.h"

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstdio>

#include "dataplane/worker/worker.h"

namespace fulcrum::dp {
namespace {

std::string mac_text(const MacBytes& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return buf;
}

// Devargs of the kernel interface of port `index`: its name, the port's MAC, and (tap)
// persist, so a crash does not take the host's addresses on it away.
std::string devargs(const config::PortConfig& p, const PortInfo& info, size_t index) {
  if (p.host_sharing == config::HostSharing::VirtioUser) {
    return "virtio_user_fulcrum" + std::to_string(index) + ",path=/dev/vhost-net,queues=1,queue_size=1024,iface=" +
           p.kernel_interface + ",mac=" + mac_text(info.mac);
  }
  return "net_tap_fulcrum" + std::to_string(index) + ",iface=" + p.kernel_interface + ",mac=" + mac_text(info.mac) + ",persist";
}

}  // namespace

std::string ExceptionPath::create(const std::vector<config::PortConfig>& config, std::vector<PortInfo>& ports,
                                  rte_mempool* pool) {
  for (size_t i = 0; i < config.size() && i < ports.size(); ++i) {
    const config::PortConfig& p = config[i];
    if (!config::has_exception_path(p.host_sharing)) continue;
    std::string args = devargs(p, ports[i], i);
    std::string name = args.substr(0, args.find(','));
    std::string where = "port \"" + p.name + "\": kernel interface " + p.kernel_interface + " (" + args + "): ";
    if (int rc = rte_dev_probe(args.c_str()); rc != 0) {
      return where + "cannot create it: " + rte_strerror(-rc) +
             (p.host_sharing == config::HostSharing::VirtioUser ? " (is vhost_net loaded, /dev/vhost-net present?)"
                                                                 : " (is /dev/net/tun present, CAP_NET_ADMIN held?)");
    }
    uint16_t id = 0;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0) return where + "probed, but no ethdev named " + name;
    exception_ports_.push_back(id);
    rte_eth_conf conf{};
    if (int rc = rte_eth_dev_configure(id, 1, 1, &conf); rc != 0) return where + "configure: " + rte_strerror(-rc);
    int socket = rte_eth_dev_socket_id(id);
    if (int rc = rte_eth_rx_queue_setup(id, 0, 512, socket, nullptr, pool); rc != 0) return where + "RX queue: " + rte_strerror(-rc);
    if (int rc = rte_eth_tx_queue_setup(id, 0, 512, socket, nullptr); rc != 0) return where + "TX queue: " + rte_strerror(-rc);
    if (int rc = rte_eth_dev_start(id); rc != 0) return where + "start: " + rte_strerror(-rc);
    ports[i].exception_port = id;
  }
  return "";
}

uint32_t ExceptionPath::poll(Shared& shared, abi::WorkerStatus& main_status) {
  if (exception_ports_.empty()) return 0;
  uint32_t moved = 0;
  // To the kernel: what workers punted, each frame to the kernel interface of its RX port.
  rte_mbuf* pkts[kBurst];
  unsigned n = rte_ring_sc_dequeue_burst(shared.to_kernel, reinterpret_cast<void**>(pkts), kBurst, nullptr);
  for (unsigned i = 0; i < n; ++i) {
    uint8_t port = shared.port_index(pkts[i]->port);
    uint16_t to = port != 0xFF ? shared.ports[port].exception_port : kNoPort;
    if (to == kNoPort || rte_eth_tx_burst(to, 0, &pkts[i], 1) != 1) {
      rte_pktmbuf_free(pkts[i]);
      main_status.drops[static_cast<size_t>(abi::DropReason::KernelPathFull)].add(1);
    }
  }
  moved += n;
  // From the kernel: out through the port, as the kernel built them (its MAC, its
  // neighbours), by worker 0.
  for (uint8_t p = 0; p < shared.ports.size(); ++p) {
    if (shared.ports[p].exception_port == kNoPort) continue;
    uint16_t got = rte_eth_rx_burst(shared.ports[p].exception_port, 0, pkts, kBurst);
    for (uint16_t i = 0; i < got; ++i) {
      pkts[i]->port = p;  // the egress port index, as from_main expects
      if (rte_ring_sp_enqueue(shared.from_main, pkts[i]) != 0) {
        rte_pktmbuf_free(pkts[i]);
        main_status.drops[static_cast<size_t>(abi::DropReason::KernelPathFull)].add(1);
      } else {
        main_status.counters[static_cast<size_t>(abi::WorkerCounter::FromKernel)].add(1);
      }
    }
    moved += got;
  }
  return moved;
}

void ExceptionPath::stop() {
  for (uint16_t id : exception_ports_) {
    rte_eth_dev_stop(id);
    rte_eth_dev_close(id);
  }
  exception_ports_.clear();
}

}  // namespace fulcrum::dp
