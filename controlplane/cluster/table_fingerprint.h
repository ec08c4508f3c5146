// A short fingerprint of a VIP's Maglev table as published, for comparing nodes of a site
// (lbctl vip list): two nodes print the same fingerprint for a VIP exactly when they send
// every flow of it to the same backend.
//
// What goes in, and what does not: the flow hash key (the cluster's seed), the table size,
// and for every slot the backend's address and port. Not the stable backend ids or the
// backends' order in the file (both may differ between nodes without moving a flow), nor
// SNAT addresses (each node has its own). A node that sees a backend down where another
// sees it up has another table, and so another fingerprint: that is the point.
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/abi/tables.h"

namespace fulcrum::cp {

// The fingerprint of `vip`'s table in `slot` (the VIP must be one of the slot's). 0 for a
// VIP whose table lies outside the slot's pool (a corrupt slot).
uint64_t table_fingerprint(const abi::TableSlot& slot, const abi::Vip& vip);

// 16 hex digits.
std::string fingerprint_text(uint64_t fingerprint);

}  // namespace fulcrum::cp
