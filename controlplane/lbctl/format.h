// Human-readable output of lbctl's read verbs: aligned columns, one object per row.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace fulcrum::lbctl {

using Json = nlohmann::json;

// Prints rows under headers, each column as wide as its widest cell.
void print_table(std::ostream& out, const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);

void print_status(std::ostream& out, const Json& status);
void print_vips(std::ostream& out, const Json& vips);
void print_backends(std::ostream& out, const Json& backends);
void print_stats(std::ostream& out, const Json& stats);

// "3 ms", "12 s", "4 m", "2 h" for a duration in ms.
std::string human_duration(uint64_t ms);

}  // namespace fulcrum::lbctl
