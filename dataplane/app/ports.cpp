#include "dataplane/app/ports.h"

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <cstring>

#include "dataplane/app/xdp_port.h"

namespace fulcrum::dp {
namespace {

std::string port_error(const config::PortConfig& p, const std::string& what) {
  return "port \"" + p.name + "\" (" + p.device + "): " + what;
}

// The port id of `device`: a device EAL already probed ("0000:3b:00.0", or a --vdev given
// in eal_args), else devargs to hot-plug now ("net_af_xdp0,iface=eth1").
bool find_or_probe(const config::PortConfig& p, uint16_t* port_id, std::string* error) {
  std::string name = p.device.substr(0, p.device.find(','));
  if (rte_eth_dev_get_port_by_name(name.c_str(), port_id) == 0) return true;
  std::string devargs = p.device;
  if (p.host_sharing == config::HostSharing::Xdp) {  // Fulcrum's XDP program (xdp_port.h)
    if (std::string why = prepare_xdp_port(p, &devargs); !why.empty()) {
      *error = port_error(p, why);
      return false;
    }
  }
  int rc = rte_dev_probe(devargs.c_str());
  if (rc != 0) {
    *error = port_error(p, "cannot probe the device: " + std::string(rte_strerror(-rc)) +
                               " (is the name right, the interface present in this network namespace, the NIC bound to a DPDK driver?)");
    return false;
  }
  if (rte_eth_dev_get_port_by_name(name.c_str(), port_id) != 0) {
    *error = port_error(p, "probed, but no ethdev port is named \"" + name + "\"");
    return false;
  }
  return true;
}

}  // namespace

std::string start_ports(const std::vector<config::PortConfig>& ports, uint32_t workers, rte_mempool* pool,
                        std::vector<PortInfo>* out) {
  for (const config::PortConfig& p : ports) {
    uint16_t id = 0;
    std::string error;
    if (!find_or_probe(p, &id, &error)) return error;
    rte_eth_dev_info info{};
    if (int rc = rte_eth_dev_info_get(id, &info); rc != 0) return port_error(p, std::string("no device info: ") + rte_strerror(-rc));
    if (info.max_rx_queues < workers || info.max_tx_queues < workers) {
      return port_error(p, "driver " + std::string(info.driver_name) + " offers " + std::to_string(info.max_rx_queues) +
                               " RX / " + std::to_string(info.max_tx_queues) + " TX queues, " + std::to_string(workers) +
                               " workers need one each (net_af_packet: add qpairs=N to its devargs; net_af_xdp: queue_count=N)");
    }
    rte_eth_conf conf{};
    if (workers > 1) {
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP) & info.flow_type_rss_offloads;
    }
    bool rx_csum = (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
    if (rx_csum) conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
    if (int rc = rte_eth_dev_configure(id, static_cast<uint16_t>(workers), static_cast<uint16_t>(workers), &conf); rc != 0) {
      return port_error(p, std::string("configure failed: ") + rte_strerror(-rc));
    }
    uint16_t rxd = p.rx_descriptors, txd = p.tx_descriptors;
    rte_eth_dev_adjust_nb_rx_tx_desc(id, &rxd, &txd);
    int socket = rte_eth_dev_socket_id(id);
    for (uint16_t q = 0; q < workers; ++q) {
      rte_eth_rxconf rxconf = info.default_rxconf;
      rxconf.offloads = conf.rxmode.offloads;
      if (int rc = rte_eth_rx_queue_setup(id, q, rxd, socket, &rxconf, pool); rc != 0) {
        return port_error(p, "RX queue " + std::to_string(q) + ": " + rte_strerror(-rc));
      }
      if (int rc = rte_eth_tx_queue_setup(id, q, txd, socket, nullptr); rc != 0) {
        return port_error(p, "TX queue " + std::to_string(q) + ": " + rte_strerror(-rc));
      }
    }
    if (int rc = rte_eth_dev_start(id); rc != 0) return port_error(p, std::string("start failed: ") + rte_strerror(-rc));
    rte_ether_addr mac{};
    rte_eth_macaddr_get(id, &mac);
    PortInfo info_out;
    info_out.name = p.name;
    info_out.dpdk_port = id;
    std::memcpy(info_out.mac.data(), mac.addr_bytes, 6);
    info_out.addr_be = p.address.addr_be;
    info_out.prefix_len = p.address.length;
    info_out.rx_ip_checksum = rx_csum;
    info_out.kernel_owns_address = config::kernel_owns_address(p.host_sharing);
    if (p.address6) {
      // issue 15: neighbour solicitations come to solicited-node multicast groups. Where
      // the driver cannot join all multicast, promiscuous mode or its filter must do.
      info_out.has_addr6 = true;
      info_out.addr6 = p.address6->addr;
      info_out.prefix6_len = p.address6->length;
      rte_eth_allmulticast_enable(id);
    }
    out->push_back(info_out);
  }
  return "";
}

void stop_ports(const std::vector<PortInfo>& ports) {
  for (const PortInfo& p : ports) {
    rte_eth_dev_stop(p.dpdk_port);
    rte_eth_dev_close(p.dpdk_port);
  }
}

}  // namespace fulcrum::dp
