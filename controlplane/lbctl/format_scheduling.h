// The scheduling columns of `lbctl backend list` (docs/lbctl.md): open connections, the
// SYN->SYN-ACK time, retries, ejections, limit overflows and why a backend is out. Kept
// apart from format.cpp, which calls these for its table.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace fulcrum::lbctl {

std::vector<std::string> scheduling_headers();
std::vector<std::string> scheduling_cells(const nlohmann::json& backend);
// The same figures as lines of `lbctl backend show`.
void print_scheduling_detail(std::ostream& out, const nlohmann::json& backend);

}  // namespace fulcrum::lbctl
