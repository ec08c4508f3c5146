// The BIRD 2 backend of RouteAnnouncer: the control plane writes one include file holding
// a static protocol with a /32 route per VIP to announce, then tells BIRD `configure` on its
// control socket. BIRD reconfigures a static protocol incrementally (only the routes that
// changed are announced or withdrawn; BGP sessions stay up), and its BGP protocols export
// the routes of that protocol (`export where proto = "fulcrum_vips"`, docs/deployment.md).
//
// Fate-sharing: with link_interface set, every route goes `via "IF"` under `check link on`,
// so when that interface loses its link BIRD withdraws the routes itself, whether or not
// Fulcrum's processes are alive (the data plane's exception tap loses its carrier the
// moment the data plane dies). Without it the routes are blackhole routes (BIRD still
// announces itself as their next hop) and only the control plane withdraws them.
//
// Fulcrum never edits BIRD's own configuration: the include file is the only file it
// writes, atomically (a temporary file renamed over it), so BIRD never reads half of it.
#pragma once

#include <string>
#include <vector>

#include "controlplane/announce/bird_client.h"
#include "controlplane/announce/route_announcer.h"

namespace fulcrum::cp {

class BirdAnnouncer : public RouteAnnouncer {
 public:
  explicit BirdAnnouncer(config::BgpConfig cfg, int timeout_ms = 3000) : cfg_(std::move(cfg)), timeout_ms_(timeout_ms) {}
  std::string describe() const override;
  std::string announce(const std::vector<AnnouncedRoute>& routes) override;
  DaemonStatus query() override;

 private:
  config::BgpConfig cfg_;
  int timeout_ms_;
};

// The include file's text for `routes`.
std::string render_bird_include(const config::BgpConfig& cfg, const std::vector<AnnouncedRoute>& routes);
// issue 15: the static protocol of the IPv6 VIPs (/128 routes, ipv6 channel): the
// configured protocol name + "6", e.g. "fulcrum_vips6".
std::string bird_protocol6(const config::BgpConfig& cfg);
// Writes `text` to `path` through a temporary file in the same directory and rename(), mode
// 0644 (BIRD usually runs as its own user). "" or why not.
std::string write_file_atomically(const std::string& path, const std::string& text);
// The rows of a `show protocols` answer.
std::vector<DaemonProtocol> parse_bird_protocols(const BirdReply& reply);

}  // namespace fulcrum::cp
