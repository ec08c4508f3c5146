#pragma once
#include <ostream>
#include <string>
namespace fulcrum::bench {
struct DataplaneBenchOptions {
  bool json = false;
  bool hugepages = false;      // EAL with hugepages (allocate them first) instead of --no-huge
  int cpu = -1;                // pin the worker to this CPU (-1: the current one)
  bool scaling = false;        // also run established flows with 2 workers on 2 CPUs
  double seconds = 1.0;        // per measurement
  std::string only;            // "baseline" | "established" | "syn": just that case
  uint32_t flows = 0;          // just this flow count (0: 1,000 and 1,000,000)
  std::string family;          // "ipv4" | "ipv6": just that family's cases ("": both)
};
// The real burst function on synthetic TCP packets (64 bytes IPv4, 78 IPv6, on the wire); see dataplane_bench.cpp.
int run_dataplane(const DataplaneBenchOptions& options, std::ostream& out);
}  // namespace fulcrum::bench
