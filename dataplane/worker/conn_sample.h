// The data plane's side of `lbctl conn list`: answers connection-sample requests (see
// abi/conn_sample.h) from the main lcore's loop, a bounded chunk of the table per call, so
// that a large table never keeps the main lcore from ARP for long.
//
// Entries are read while their owners may rewrite them (a connection closing and its entry
// reused): the copy is taken only if the entry is in use and alive before and after, which
// leaves a small chance of a row mixing two connections. It is a sample for an operator,
// never an input to forwarding.
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/abi/region.h"
#include "dataplane/core/flow_table.h"

namespace fulcrum::dp {

class ConnSampler {
 public:
  static constexpr uint32_t kChunk = 65536;   // entries examined per poll()

  // Creates the region `name` (abi::conn_sample_name of the status region). On failure
  // *error says why and poll() does nothing (the data plane runs on without it).
  // Both connection tables are sampled, the IPv4 one first (issue 15).
  ConnSampler(const FlowTable& flows, const FlowTable6& flows6, const std::string& name, std::string* error);
  ~ConnSampler();

  // Does a chunk of a pending request, if any; true while a request is being answered.
  // `now_ms` is the workers' clock (TSC ms, the one Conn::last_seen is written with).
  bool poll(uint32_t now_ms);

 private:
  const FlowTable& flows_;
  const FlowTable6& flows6_;
  // An entry of either table (Conn, Conn6) owned by `worker`, against the filter.
  template <class C>
  void visit(const C& c, uint32_t worker, uint32_t now_ms, abi::ConnSampleRegion& r);
  std::string name_;
  abi::Mapping map_;
  uint64_t serving_ = 0;     // the request seq being answered (0: none)
  abi::ConnSampleRequest filter_{};
  uint32_t cursor_ = 0;
  uint32_t count_ = 0;
  uint64_t matched_ = 0, in_use_ = 0;
  uint64_t started_ns_ = 0;
};

}  // namespace fulcrum::dp
