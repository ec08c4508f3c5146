// One worker's share of the fullnat source ports.
//
// Ports 1024-65535 of every SNAT address are split between workers by port number
// (port % workers == worker), so each worker allocates from its own bitmap without ever
// talking to another: no two workers can hand out the same (address, port). The owner
// of a connection is the one that allocated its port and the one that frees it.
// Capacity: 64,512 concurrent fullnat connections per SNAT address, shared by workers.
#pragma once

#include <cstdint>
#include <vector>

namespace fulcrum::dp {

class SnatPorts {
 public:
  static constexpr uint32_t kMaxAddrs = 64;
  static constexpr uint16_t kFirstPort = 1024;

  SnatPorts(uint32_t worker, uint32_t workers);

  // A free port (network order) on addr_be, or 0 if this worker's share is used up or
  // more than kMaxAddrs distinct addresses are in use. `hint` spreads the starting point.
  uint16_t alloc(uint32_t addr_be, uint32_t hint);
  void release(uint32_t addr_be, uint16_t port_be);
  uint32_t in_use(uint32_t addr_be) const;
  uint32_t share() const { return share_; }   // ports per address for this worker

 private:
  struct Pool {
    uint32_t addr_be = 0;
    uint32_t used = 0;
    uint32_t cursor = 0;
    std::vector<uint64_t> bits;
  };
  Pool* find(uint32_t addr_be, bool create);
  uint16_t port_of(uint32_t slot) const;
  bool slot_of(uint16_t port_host, uint32_t* slot) const;

  uint32_t worker_, workers_, share_;
  std::vector<Pool> pools_;  // reserved up front: no allocation once the worker runs
};

}  // namespace fulcrum::dp
