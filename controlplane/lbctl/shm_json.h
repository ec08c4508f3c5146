// `lbctl -j shm dump`: the two shared-memory regions as JSON, read as they are (no control
// plane needed), for scripts that debug the contract. The text form is abi::dump_*.
#pragma once

#include <nlohmann/json.hpp>

#include "dataplane/abi/status.h"
#include "dataplane/abi/tables.h"

namespace fulcrum::lbctl {

// The header, both slots' headers and the active slot's VIPs and backends (with every
// Maglev entry when `maglev`).
nlohmann::json tables_json(const abi::TablesRegion& t, bool maglev);
// The header and each lcore's state, with its counters (zero ones only when `zeros`).
nlohmann::json status_json(const abi::StatusRegion& s, bool zeros);

}  // namespace fulcrum::lbctl
