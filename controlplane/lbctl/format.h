// Human-readable output of lbctl: aligned columns, one object per row. Every function
// tolerates missing or mistyped fields (an lbctl of another release): they print as "-".
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
void print_node(std::ostream& out, const Json& node);   // status's "node" (issue 12)
void print_vips(std::ostream& out, const Json& vips);
// `rates` (optional, from --watch): per backend "vip|backend" -> {"packets_per_s", "bytes_per_s"}.
void print_backends(std::ostream& out, const Json& backends, const Json& rates = Json());
void print_backend_detail(std::ostream& out, const Json& backend);
void print_stats(std::ostream& out, const Json& stats, const Json& rates = Json());
void print_conns(std::ostream& out, const Json& answer);
void print_state(std::ostream& out, const Json& entries);
void print_plan(std::ostream& out, const Json& plan);
void print_changed(std::ostream& out, const Json& answer, const std::string& what);

// "3 ms", "12 s", "4 m", "2 h" for a duration in ms.
std::string human_duration(uint64_t ms);
// "1.2 k", "3.4 M" for rates and counts.
std::string human_number(double v);

// A field as text ("-" if absent or null), and as a number (0 if absent or not a number).
std::string text(const Json& obj, const char* key);
double number(const Json& obj, const char* key);

}  // namespace fulcrum::lbctl
