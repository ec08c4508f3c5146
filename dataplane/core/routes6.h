// IPv6 routing (issue 15): the ports' on-link prefixes, static routes and at most one
// default route, like RouteTable for IPv4. The same reasoning holds: a balancer has a
// handful of routes, so a longest-first scan of masked 128-bit prefixes beats a trie
// (rte_lpm6's tables are megabytes) at this size.
#pragma once

#include <cstdint>
#include <cstring>

#include "dataplane/abi/ip6.h"

namespace fulcrum::dp {

struct RouteResult6 {
  uint8_t port = 0;
  abi::Ip6 next_hop{};   // the destination itself on an on-link prefix
};

class RouteTable6 {
 public:
  static constexpr uint32_t kMaxRoutes = 48;
  // `via` zero (::): on-link (next hop = destination). False when full or length > 128.
  bool add(const abi::Ip6& prefix, uint8_t length, uint8_t port, const abi::Ip6& via) {
    if (count_ >= kMaxRoutes || length > 128) return false;
    Route r{};
    for (int w = 0; w < 2; ++w) {
      int bits = length - 64 * w;
      r.mask[w] = bits <= 0 ? 0 : bits >= 64 ? ~uint64_t{0} : __builtin_bswap64(~uint64_t{0} << (64 - bits));
      uint64_t word;
      std::memcpy(&word, prefix.b + 8 * w, 8);
      r.net[w] = word & r.mask[w];
    }
    r.via = via;
    r.port = port;
    r.length = length;
    uint32_t at = count_;  // keep longest first
    while (at > 0 && routes_[at - 1].length < length) {
      routes_[at] = routes_[at - 1];
      --at;
    }
    routes_[at] = r;
    ++count_;
    return true;
  }
  bool lookup(const abi::Ip6& dst, RouteResult6* out) const {
    uint64_t w[2];
    std::memcpy(w, dst.b, 16);
    for (uint32_t i = 0; i < count_; ++i) {
      const Route& r = routes_[i];
      if ((w[0] & r.mask[0]) == r.net[0] && (w[1] & r.mask[1]) == r.net[1]) {
        out->port = r.port;
        out->next_hop = r.via == abi::Ip6{} ? dst : r.via;
        return true;
      }
    }
    return false;
  }
  uint32_t size() const { return count_; }

 private:
  struct Route {
    uint64_t net[2];   // as in the packet, masked
    uint64_t mask[2];
    abi::Ip6 via;
    uint8_t port;
    uint8_t length;
  };
  Route routes_[kMaxRoutes]{};
  uint32_t count_ = 0;
};

}  // namespace fulcrum::dp
