// Which VIPs this node announces, and why the others are not: a pure function of what the
// control plane knows, so that the rules are tested apart from BIRD and the data plane.
//
// A VIP is announced while
//   - the node is not drained (lbctl node drain),
//   - the data plane is alive (heartbeat) and has loaded the tables,
//   - the VIP is in the tables the data plane uses, and
//   - it has at least min_healthy_backends usable backends (active, healthy, weight > 0),
//     counted both in the model and in the published tables (the smaller count wins: a
//     backend that just came up takes traffic only once its table is published).
// The control plane also withdraws everything when it stops (withdraw_on_exit).
//
// Routes are per address: VIPs that share an address (web :80 and web-tls :443) share its
// /32. The address is announced while any of its VIPs may be: withdrawing a healthy :80
// because :443 lost its backends would take :80 away from this node for nothing, and if
// every node did so, from the whole site.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "controlplane/announce/route_announcer.h"

#include "config/loader/ip_addr.h"

namespace fulcrum::cp {

struct NodeFacts {
  bool drained = false;
  bool stopping = false;                      // the control plane is exiting
  bool dataplane_alive = false;
  std::optional<uint64_t> heartbeat_age_ms;   // nullopt: no data plane seen since it (or we) started
  bool dataplane_has_tables = false;          // some lcore has loaded a generation
};

struct VipFacts {
  std::string name;
  config::IpAddr addr;           // IPv4 or IPv6 (issue 15)
  bool published = false;        // in the generation the data plane uses
  uint32_t usable = 0;           // usable backends (min of the model's and the published count)
  uint32_t min_healthy = 1;
};

struct VipVerdict {
  bool wanted = false;           // this VIP alone would be announced
  bool announced = false;        // its address is in the plan (perhaps for another VIP on it)
  std::string why_not;           // "" when wanted
};

struct AnnouncePlan {
  std::vector<VipVerdict> vips;         // parallel to the VipFacts given
  std::vector<AnnouncedRoute> routes;   // sorted by address, one per address
};

AnnouncePlan plan_announcements(const NodeFacts& node, const std::vector<VipFacts>& vips);

}  // namespace fulcrum::cp
