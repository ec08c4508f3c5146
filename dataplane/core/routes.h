// Routing: connected subnets of the ports, static routes, and at most one default route.
//
// A load balancer has a handful of routes, so lookup is a scan of at most 48 prefixes,
// longest first (one cache line of masks per 8 routes). rte_lpm would cost a 64 MiB
// tbl24 for no gain at this size; an edge node that needs a full table wants a FIB
// library and is out of scope.
#pragma once

#include <arpa/inet.h>

#include <cstdint>

namespace fulcrum::dp {

struct RouteResult {
  uint8_t port = 0;
  uint32_t next_hop_be = 0;   // the destination itself on a connected subnet
};

class RouteTable {
 public:
  static constexpr uint32_t kMaxRoutes = 48;
  // via_be == 0: connected (next hop = destination). False when full.
  bool add(uint32_t prefix_be, uint8_t length, uint8_t port, uint32_t via_be);
  bool lookup(uint32_t dst_be, RouteResult* out) const {
    uint32_t dst = ntohl(dst_be);
    for (uint32_t i = 0; i < count_; ++i) {
      const Route& r = routes_[i];
      if ((dst & r.mask) == r.net) {
        out->port = r.port;
        out->next_hop_be = r.via_be != 0 ? r.via_be : dst_be;
        return true;
      }
    }
    return false;
  }
  uint32_t size() const { return count_; }

 private:
  struct Route {
    uint32_t net;     // host order, masked
    uint32_t mask;    // host order
    uint32_t via_be;
    uint8_t port;
    uint8_t length;
  };
  Route routes_[kMaxRoutes]{};
  uint32_t count_ = 0;
};

}  // namespace fulcrum::dp
