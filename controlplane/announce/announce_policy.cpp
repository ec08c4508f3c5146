#include "controlplane/announce/announce_policy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <map>

namespace fulcrum::cp {
namespace {

// Why the whole node announces nothing, or "".
std::string node_reason(const NodeFacts& n) {
  if (n.stopping) return "the control plane is stopping";
  if (n.drained) return "node drained (lbctl node undrain to announce again)";
  if (!n.dataplane_alive) {
    if (!n.heartbeat_age_ms) return "data plane not running";
    return "data plane not running (last heartbeat " + std::to_string(*n.heartbeat_age_ms) + " ms ago)";
  }
  if (!n.dataplane_has_tables) return "the data plane has not loaded the tables yet";
  return "";
}

// Routes in numeric order: IPv4 by value (host order), then IPv6 by its bytes.
struct NumericOrder {
  bool operator()(const config::IpAddr& a, const config::IpAddr& b) const {
    if (a.family != b.family) return a.family < b.family;
    if (!a.is_v6()) return ntohl(a.v4_be) < ntohl(b.v4_be);
    return std::memcmp(a.v6.b, b.v6.b, sizeof a.v6.b) < 0;
  }
};

}  // namespace

AnnouncePlan plan_announcements(const NodeFacts& node, const std::vector<VipFacts>& vips) {
  AnnouncePlan plan;
  const std::string node_why = node_reason(node);
  std::map<config::IpAddr, std::string, NumericOrder> wanted;  // address -> the VIP names that want it
  for (const VipFacts& v : vips) {
    VipVerdict verdict;
    if (!node_why.empty()) {
      verdict.why_not = node_why;
    } else if (!v.published) {
      verdict.why_not = "not in the tables the data plane uses yet";
    } else if (v.usable < v.min_healthy) {
      verdict.why_not = std::to_string(v.usable) + " usable backend(s), min_healthy_backends is " +
                        std::to_string(v.min_healthy);
    } else {
      verdict.wanted = true;
      std::string& names = wanted[v.addr];
      names += (names.empty() ? "" : ", ") + v.name;
    }
    plan.vips.push_back(std::move(verdict));
  }
  for (const auto& [addr, names] : wanted) plan.routes.push_back({addr, names});
  for (size_t i = 0; i < vips.size(); ++i) {
    plan.vips[i].announced = wanted.count(vips[i].addr) != 0;
    if (plan.vips[i].announced && !plan.vips[i].wanted) {
      plan.vips[i].why_not += "; its address stays announced for " + wanted[vips[i].addr] +
                              " (routes are per address)";
    }
  }
  return plan;
}

}  // namespace fulcrum::cp
