#pragma once
#include <ostream>
namespace fulcrum::bench {
// Builds Maglev tables for each (M, N) of the matrix and prints build time (median
// of several builds), balance and disruption; as a JSON array when `json`.
int run_maglev(bool json, std::ostream& out);
}  // namespace fulcrum::bench
