// The seam between deciding which VIPs this node announces (announce_policy.h, the
// service) and the routing daemon that speaks BGP for it (bird_announcer.h today).
//
// Why an interface with so little in it: the control plane only ever needs "announce
// exactly these /32s" and "how is the daemon doing" (for lbctl status). Another daemon
// (GoBGP over gRPC, FRR through vtysh) would implement the same two calls; nothing else in
// the control plane would change.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/loader/bgp_config.h"

#include "config/loader/ip_addr.h"

namespace fulcrum::cp {

// One route to announce: a VIP address as a /32 (IPv6: a /128), with the VIP names it
// serves (for the daemon's config file, read by people).
struct AnnouncedRoute {
  config::IpAddr addr;
  std::string comment;
  bool operator==(const AnnouncedRoute&) const = default;
};

// A routing protocol instance of the daemon, as `show protocols` lists it.
struct DaemonProtocol {
  std::string name, proto, state, info;  // e.g. "uplink", "BGP", "up", "Established"
};

struct DaemonStatus {
  bool reachable = false;
  std::string error;                     // why not reachable, or what is wrong with its config
  std::string version;                   // "BIRD 2.0.12"
  bool protocol_known = false;           // the daemon's config includes our file
  std::string protocol_state;            // our static protocol's state ("up")
  std::vector<DaemonProtocol> sessions;  // BGP and BFD protocols
};

class RouteAnnouncer {
 public:
  virtual ~RouteAnnouncer() = default;
  // "BIRD at /run/bird/bird.ctl": for logs and lbctl.
  virtual std::string describe() const = 0;
  // Makes the daemon announce exactly `routes`, withdrawing every other route it announced
  // for us. Blocks for at most a few seconds (call it off the control plane's loop).
  // "" when the daemon took it, else why not (the caller retries).
  virtual std::string announce(const std::vector<AnnouncedRoute>& routes) = 0;
  // The daemon's state, for lbctl status. Blocks as announce() does.
  virtual DaemonStatus query() = 0;
};

// The announcer [controlplane.bgp] asks for.
std::unique_ptr<RouteAnnouncer> make_route_announcer(const config::BgpConfig& cfg);

}  // namespace fulcrum::cp
