// Backends removed from the config whose connections are still open in the data plane.
//
// Their ids stay reserved until the last connection closes (build_model never hands them
// out), and each generation publishes them as Removed with the down policy of the VIP they
// were last in, so that `on_backend_down = "reset"` resets a removed backend's flows as it
// does a down one's. Nothing is kept in the control plane for this: the previous generation
// says which VIP an id belonged to (or that it was already retired, with which policy), so a
// restarted control plane publishes the same.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "controlplane/tables/table_builder.h"

namespace fulcrum::cp {

// Ids known to `previous` (as a backend or as retired) that `spec` no longer lists and that
// `active_connections` says still have connections.
std::vector<RetiredBackendSpec> retired_backends(const abi::TableSlot* previous, const TableSpec& spec,
                                                 const std::function<uint64_t(uint16_t)>& active_connections);

}  // namespace fulcrum::cp
