// Operator state across a config change. Overrides are keyed by VIP name and backend
// address:port (what an operator typed), so a change of the file can leave them pointing
// at nothing, or at the wrong thing later:
//  - a VIP renamed in place (same address:port) keeps its overrides under the new name;
//  - an override of a backend or VIP the file no longer has is dropped, so that a backend
//    added again months later (perhaps a new host on the same address) does not come back
//    drained;
//  - a drain override equal to what the file now says is dropped as redundant.
// Each such step is described in `notes`, which reload answers and logs.
#pragma once

#include <string>
#include <vector>

#include "config/loader/lb_config.h"
#include "controlplane/service/operator_state.h"

namespace fulcrum::cp {

OperatorState migrate_state(const OperatorState& state, const config::LbConfig& before, const config::LbConfig& after,
                            std::vector<std::string>* notes);

}  // namespace fulcrum::cp
