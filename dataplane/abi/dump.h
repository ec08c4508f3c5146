// Human-readable dumps of the two regions, for operators debugging the contract itself
// (`lbctl shm dump`). They read the regions as they are, without the control plane.
#pragma once

#include <ostream>

#include "dataplane/abi/status.h"
#include "dataplane/abi/tables.h"

namespace fulcrum::abi {

struct DumpOptions {
  bool maglev_entries = false;  // also print each VIP's first Maglev entries
  bool zero_counters = false;   // also print counters that are zero
};

void dump_tables(const TablesRegion& tables, std::ostream& out, const DumpOptions& options = {});
void dump_status(const StatusRegion& status, std::ostream& out, const DumpOptions& options = {});

// "198.18.0.10" from a network-order address; "198.18.0.10:80" with a port.
std::string format_addr(uint32_t addr_be);
std::string format_endpoint(uint32_t addr_be, uint16_t port_be);

}  // namespace fulcrum::abi
