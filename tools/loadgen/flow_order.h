// The order in which lb-loadgen sends packets of its established flows: uniform, or Zipf
// (a few flows carry most packets, as real traffic does; YCSB's s = 0.99 by default).
//
// Precomputed (4M indices) so that choosing a flow costs a sequential read in the timed
// loop. Zipf ranks come from rejection-inversion sampling (Hoermann and Derflinger 1996),
// which needs no table of the distribution for 8M flows; rank k is then scattered over the
// flow indices by a multiplication modulo F, so the hot flows are not neighbours in the
// balancer's table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fulcrum::loadgen {

enum class Dist { Uniform, Zipf };
inline const char* name_of(Dist d) { return d == Dist::Uniform ? "uniform" : "zipf"; }

std::vector<uint32_t> flow_order(uint32_t flows, Dist dist, double zipf_s, uint32_t length, uint32_t seed);

}  // namespace fulcrum::loadgen
