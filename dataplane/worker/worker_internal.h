// The burst function's per-packet scratch, shared by its source files (not an interface).
#pragma once

#include "dataplane/worker/worker.h"

namespace fulcrum::dp {

// One TCP packet between the passes of process_burst().
struct Worker::Pending {
  rte_mbuf* m;
  uint16_t i;
  uint8_t port;         // ingress port index
  ParsedFrame f;
  FlowKey key;
  FlowHash h;
  uint64_t candidate;   // home-bucket slot whose signature matched (0: none)
  // Another attempt at a connection (connect_retries): its number and the backends tried.
  uint8_t attempt;
  sched::Tried tried;
  bool payload() const { return f.l4_len > f.tcp_header_len; }
};

// One new flow between prepare_new_flow() and commit_new_flow().
struct Worker::NewFlow {
  Pending* p;
  const abi::Vip* vip;
  const abi::Backend* be;
  uint32_t entry;       // allocated in prepare, filled and published in commit
  FlowKey rev;
  FlowHash rev_hash;
  bool fullnat;
  bool syn;
  uint16_t synproxy_mss;  // a cookie-validated ACK: the connection is proxied (MSS for the backend)
  bool limited;           // holds one of its backend's max_connections (give it back on failure)
};

}  // namespace fulcrum::dp
