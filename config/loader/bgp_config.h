// [controlplane.bgp] (issue 12): how the control plane announces this node's VIPs to the
// routers, through a routing daemon it is a client of (BIRD 2 today). Kept apart from
// lb_config.cpp, which only calls parse_bgp() for the sub-table and reads the per-VIP
// `min_healthy_backends` override.
//
// Why a routing daemon and not a BGP speaker of our own: sessions, timers, BFD, graceful
// restart and the router-side quirks are a routing daemon's trade; Fulcrum only decides
// which /32s this node should attract and writes them where the daemon's config includes
// them (docs/deployment.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>


namespace fulcrum::config {

class Section;

struct BgpConfig {
  std::string daemon = "bird";                           // the only one so far
  std::string socket = "/run/bird/bird.ctl";             // BIRD's control socket
  std::string include_file = "/run/fulcrum/bird-vips.conf";  // the one file Fulcrum writes; BIRD's config includes it
  std::string protocol = "fulcrum_vips";                 // name of the static protocol in that file
  // Routes go `via "IF"` with BIRD's `check link`: when this interface loses its link (the
  // data plane's exception tap when the data plane dies), BIRD withdraws them by itself.
  // "": the routes are blackhole routes (BIRD announces them with itself as next hop).
  std::string link_interface;
  uint32_t min_healthy_backends = 1;                     // per VIP, unless the VIP overrides it
  bool withdraw_on_exit = true;                          // SIGTERM/SIGINT of the control plane withdraws every VIP

  bool operator==(const BgpConfig& o) const {
    return daemon == o.daemon && socket == o.socket && include_file == o.include_file && protocol == o.protocol &&
           link_interface == o.link_interface && min_healthy_backends == o.min_healthy_backends &&
           withdraw_on_exit == o.withdraw_on_exit;
  }
};

// Upper bound of min_healthy_backends (the VIP's and the default).
inline constexpr int64_t kMaxMinHealthy = 1000;

// Reads the keys of a [controlplane.bgp] table, reporting bad values at their keys.
BgpConfig parse_bgp(Section& s);

// The [controlplane.bgp] keys whose change a reload cannot apply (the announcer is built
// once, at start): their dotted names, appended to *keys.
void bgp_restart_keys(const std::optional<BgpConfig>& a, const std::optional<BgpConfig>& b, std::vector<std::string>* keys);

}  // namespace fulcrum::config
