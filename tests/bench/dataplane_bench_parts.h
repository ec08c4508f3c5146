// What the IPv4 and IPv6 cases of `lb-bench dataplane` share (dataplane_bench.cpp,
// dataplane_bench_ipv6.cpp): a result row, the timing loop, the flow orders.
#pragma once

#include <rte_cycles.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace fulcrum::bench {

struct Result {
  const char* name;
  uint32_t flows;
  uint32_t workers;
  double mpps;
  double cycles_per_packet;
  const char* family = "ipv4";  // "ipv4" | "ipv6": the VIP's and the packets' address family
};

inline std::vector<uint32_t> random_order(uint32_t flows, size_t length, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint32_t> order(length);
  for (auto& o : order) o = rng() % flows;
  return order;
}

// Runs bursts until `seconds` have passed; returns (packets, cycles).
template <typename Body>
std::pair<uint64_t, uint64_t> timed(double seconds, Body body) {
  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t budget = static_cast<uint64_t>(seconds * double(hz));
  uint64_t packets = 0;
  const uint64_t start = rte_rdtsc();
  uint64_t now = start;
  while (now - start < budget) {
    for (int k = 0; k < 64; ++k) packets += body();
    now = rte_rdtsc();
  }
  return {packets, now - start};
}

inline Result measure(const char* name, uint32_t flows, uint32_t workers, std::pair<uint64_t, uint64_t> pc) {
  double secs = double(pc.second) / double(rte_get_tsc_hz());
  return Result{name, flows, workers, double(pc.first) / secs / 1e6, double(pc.second) / double(pc.first)};
}

// Connection-table entries for `flows` connections, with room to spare.
inline uint32_t capacity_for(uint32_t flows) { return std::max<uint32_t>(4096, flows + flows / 4); }

// The IPv6 cases (dataplane_bench_ipv6.cpp): ACKs of established nat flows, and SYNs of
// new ones, through an IPv6 VIP to IPv6 backends. EAL must be up.
Result established6(uint32_t flows, double seconds);
Result syn6(uint32_t flows, double seconds);

}  // namespace fulcrum::bench
