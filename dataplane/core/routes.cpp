#include "dataplane/core/routes.h"

#include <arpa/inet.h>

namespace fulcrum::dp {

bool RouteTable::add(uint32_t prefix_be, uint8_t length, uint8_t port, uint32_t via_be) {
  if (count_ == kMaxRoutes || length > 32) return false;
  uint32_t mask = length == 0 ? 0 : ~uint32_t{0} << (32 - length);
  Route r{ntohl(prefix_be) & mask, mask, via_be, port, length};
  // Keep longest prefixes first; among equals, the first added wins.
  uint32_t pos = count_;
  while (pos > 0 && routes_[pos - 1].length < length) {
    routes_[pos] = routes_[pos - 1];
    --pos;
  }
  routes_[pos] = r;
  ++count_;
  return true;
}


}  // namespace fulcrum::dp
