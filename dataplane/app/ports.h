// Bringing up the configured DPDK ports: any PMD, from a PCI NIC to net_af_xdp on a veth.
#pragma once

#include <string>
#include <vector>

#include "config/loader/dataplane_config.h"
#include "dataplane/worker/shared.h"

struct rte_mempool;

namespace fulcrum::dp {

// Probes (devargs) or finds each port, configures one RX and one TX queue per worker (RSS
// across them), starts it. Fills `out` in config order. "" or what went wrong, naming the
// port and what to change.
std::string start_ports(const std::vector<config::PortConfig>& ports, uint32_t workers, rte_mempool* pool,
                        std::vector<PortInfo>* out);
void stop_ports(const std::vector<PortInfo>& ports);

}  // namespace fulcrum::dp
