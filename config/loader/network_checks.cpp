#include "config/loader/network_checks.h"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <map>

namespace fulcrum::config {
namespace {

// Network and broadcast addresses exist on subnets of /30 and shorter (/31 has neither).
const char* subnet_edge(const Prefix& p, uint32_t addr_be) {
  if (p.length == 0 || p.length > 30 || !p.contains(addr_be)) return nullptr;
  uint32_t host = ntohl(addr_be) & ~ntohl(p.mask_be());
  if (host == 0) return "network";
  if (host == ~ntohl(p.mask_be())) return "broadcast";
  return nullptr;
}

const toml::node* at(const toml::table& dp, const char* array, size_t i, const char* key) {
  const toml::array* a = dp.get(array) ? dp.get(array)->as_array() : nullptr;
  if (a == nullptr || i >= a->size() || !a->get(i)->is_table()) return nullptr;
  return a->get(i)->as_table()->get(key);
}

std::string key(const char* array, size_t i, const char* field) {
  return std::string("dataplane.") + array + "[" + std::to_string(i) + "]." + field;
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

}  // namespace

std::string special_address(const DataplaneConfig& dp, uint32_t a, bool owned) {
  for (const PortConfig& p : dp.ports) {
    if (const char* edge = subnet_edge(p.address, a)) {
      return std::string("the ") + edge + " address of port " + quoted(p.name) + "'s subnet " + p.address.network_str();
    }
  }
  if (!owned) return "";
  for (const PortConfig& p : dp.ports) {
    if (p.gateway_be && *p.gateway_be == a) return "the gateway of port " + quoted(p.name);
  }
  for (const RouteConfig& r : dp.routes) {
    if (r.via_be == a) return "the next hop of the route to " + r.prefix.network_str();
  }
  return "";
}

void check_dataplane_network(const toml::table& dpt, const DataplaneConfig& cfg, Errors& errors) {
  for (size_t i = 0; i < cfg.ports.size(); ++i) {
    const PortConfig& p = cfg.ports[i];
    if (p.address.length == 0) continue;
    if (const char* edge = subnet_edge(p.address, p.address.addr_be)) {
      errors.add(at(dpt, "ports", i, "address"), key("ports", i, "address"),
                 ipv4_str(p.address.addr_be) + " is the " + edge + " address of " + p.address.network_str() +
                     "; a port needs a host address of its subnet");
    }
    for (size_t j = 0; j < i; ++j) {
      const PortConfig& q = cfg.ports[j];
      if (q.address.length == 0) continue;
      if (p.address.contains(q.address.addr_be) || q.address.contains(p.address.addr_be)) {
        errors.add(at(dpt, "ports", i, "address"), key("ports", i, "address"),
                   p.address.network_str() + " overlaps port " + quoted(q.name) + "'s subnet " + q.address.network_str() +
                       ": the data plane could not tell which port an address is on; give each port its own subnet");
      }
    }
    if (p.gateway_be) {
      std::string what;
      for (const PortConfig& q : cfg.ports) {
        if (q.address.length != 0 && q.address.addr_be == *p.gateway_be) what = "the address of port " + quoted(q.name);
      }
      if (const char* edge = subnet_edge(p.address, *p.gateway_be)) what = std::string("the ") + edge + " address of " + p.address.network_str();
      if (!what.empty()) {
        errors.add(at(dpt, "ports", i, "gateway"), key("ports", i, "gateway"),
                   ipv4_str(*p.gateway_be) + " is " + what + ": a gateway is another host on the subnet");
      }
    }
  }
  for (size_t i = 0; i < cfg.routes.size(); ++i) {
    uint32_t via = cfg.routes[i].via_be;
    std::string what;
    for (const PortConfig& q : cfg.ports) {
      if (q.address.length != 0 && q.address.addr_be == via) what = "this node's own address (port " + quoted(q.name) + ")";
      if (const char* edge = subnet_edge(q.address, via)) what = std::string("the ") + edge + " address of " + q.address.network_str();
    }
    if (!what.empty()) {
      errors.add(at(dpt, "routes", i, "via"), key("routes", i, "via"),
                 ipv4_str(via) + " is " + what + ": a next hop is another host on a port's subnet");
    }
  }
  std::map<uint32_t, size_t> seen;
  for (size_t i = 0; i < cfg.neighbours.size(); ++i) {
    const NeighbourConfig& n = cfg.neighbours[i];
    std::string what;
    for (const PortConfig& q : cfg.ports) {
      if (q.address.length != 0 && q.address.addr_be == n.addr_be) what = "is this node's own address (port " + quoted(q.name) + ")";
      if (const char* edge = subnet_edge(q.address, n.addr_be)) what = std::string("is the ") + edge + " address of " + q.address.network_str();
    }
    if (auto [it, fresh] = seen.emplace(n.addr_be, i); !fresh) {
      const NeighbourConfig& first = cfg.neighbours[it->second];
      what = first.mac == n.mac && first.port == n.port
                 ? "is listed twice (also dataplane.neighbours[" + std::to_string(it->second) + "])"
                 : "is also dataplane.neighbours[" + std::to_string(it->second) + "] with MAC " + mac_str(first.mac) +
                       " on port " + quoted(first.port) + ": one address has one MAC";
    }
    if (!what.empty()) errors.add(at(dpt, "neighbours", i, "address"), key("neighbours", i, "address"), ipv4_str(n.addr_be) + " " + what);
  }
}

}  // namespace fulcrum::config
