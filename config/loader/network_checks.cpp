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

// Routes and neighbours of both families share one array in the file ([[dataplane.routes]],
// [[dataplane.neighbours]]): the file index of the nth entry of one family (its address
// or next hop written with a ':' is IPv6).
size_t file_index_of(const toml::table& dpt, const char* array, size_t nth, bool v6) {
  const toml::array* a = dpt.get(array) ? dpt.get(array)->as_array() : nullptr;
  const char* field = std::string(array) == "routes" ? "via" : "address";
  size_t seen = 0;
  for (size_t i = 0; a != nullptr && i < a->size(); ++i) {
    const toml::node* n = at(dpt, array, i, field);
    bool is_v6 = n != nullptr && n->is_string() && n->as_string()->get().find(':') != std::string::npos;
    if (is_v6 == v6 && seen++ == nth) return i;
  }
  return nth;
}

// The subnet-router anycast address of an IPv6 prefix (host bits all zero); /127 and /128
// have none (RFC 6164).
bool subnet_router_anycast(const Prefix6& p, const abi::Ip6& a) {
  if (p.length == 0 || p.length >= 127 || !p.contains(a)) return false;
  for (int bit = p.length; bit < 128; ++bit) {
    if (a.b[bit / 8] & (0x80 >> (bit % 8))) return false;
  }
  return true;
}

// issue 15: the IPv6 half of check_dataplane_network(): overlapping address6 prefixes,
// gateway6s and next hops that are the node's own address, static neighbours listed twice.
// Routes and neighbours of both families share the [[dataplane.routes]] and
// [[dataplane.neighbours]] arrays, so the file index of an IPv6 entry is looked up.
void check_dataplane_network6(const toml::table& dpt, const DataplaneConfig& cfg, Errors& errors) {
  auto file_index = [&](const char* array, size_t nth) { return file_index_of(dpt, array, nth, true); };
  auto own = [&](const abi::Ip6& a) -> std::string {
    for (const PortConfig& q : cfg.ports) {
      if (q.address6 && q.address6->addr == a) return "this node's own address (port " + quoted(q.name) + ")";
    }
    for (const PortConfig& q : cfg.ports) {
      if (q.address6 && subnet_router_anycast(*q.address6, a)) return "the subnet-router anycast address of " + q.address6->network_str();
    }
    return "";
  };
  for (size_t i = 0; i < cfg.ports.size(); ++i) {
    const PortConfig& p = cfg.ports[i];
    if (!p.address6) continue;
    for (size_t j = 0; j < i; ++j) {
      const PortConfig& q = cfg.ports[j];
      if (!q.address6) continue;
      if (p.address6->contains(q.address6->addr) || q.address6->contains(p.address6->addr)) {
        errors.add(at(dpt, "ports", i, "address6"), key("ports", i, "address6"),
                   p.address6->network_str() + " overlaps port " + quoted(q.name) + "'s prefix " + q.address6->network_str() +
                       ": the data plane could not tell which port an address is on; give each port its own prefix");
      }
    }
    if (p.gateway6) {
      if (std::string what = own(*p.gateway6); !what.empty()) {
        errors.add(at(dpt, "ports", i, "gateway6"), key("ports", i, "gateway6"),
                   ipv6_str(*p.gateway6) + " is " + what + ": a gateway is another host on the prefix");
      }
    }
  }
  for (size_t i = 0; i < cfg.routes6.size(); ++i) {
    if (std::string what = own(cfg.routes6[i].via); !what.empty()) {
      size_t fi = file_index("routes", i);
      errors.add(at(dpt, "routes", fi, "via"), key("routes", fi, "via"),
                 ipv6_str(cfg.routes6[i].via) + " is " + what + ": a next hop is another host on a port's prefix");
    }
  }
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < cfg.neighbours6.size(); ++i) {
    const Neighbour6Config& n = cfg.neighbours6[i];
    size_t fi = file_index("neighbours", i);
    std::string what = own(n.addr);
    if (!what.empty()) what = "is " + what;
    if (auto [it, fresh] = seen.emplace(ipv6_str(n.addr), fi); !fresh) {
      what = "is listed twice (also dataplane.neighbours[" + std::to_string(it->second) + "])";
    }
    if (!what.empty()) errors.add(at(dpt, "neighbours", fi, "address"), key("neighbours", fi, "address"), ipv6_str(n.addr) + " " + what);
  }
}

}  // namespace

std::string special_address6(const DataplaneConfig& dp, const abi::Ip6& a, bool owned) {
  for (const PortConfig& p : dp.ports) {
    if (p.address6 && subnet_router_anycast(*p.address6, a)) {
      return "the subnet-router anycast address of port " + quoted(p.name) + "'s prefix " + p.address6->network_str();
    }
  }
  if (!owned) return "";
  for (const PortConfig& p : dp.ports) {
    if (p.gateway6 && *p.gateway6 == a) return "the gateway6 of port " + quoted(p.name);
  }
  for (const Route6Config& r : dp.routes6) {
    if (r.via == a) return "the next hop of the route to " + r.prefix.network_str();
  }
  return "";
}

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
  for (size_t r = 0; r < cfg.routes.size(); ++r) {
    size_t i = file_index_of(dpt, "routes", r, false);
    uint32_t via = cfg.routes[r].via_be;
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
  for (size_t k = 0; k < cfg.neighbours.size(); ++k) {
    const NeighbourConfig& n = cfg.neighbours[k];
    size_t i = file_index_of(dpt, "neighbours", k, false);
    std::string what;
    for (const PortConfig& q : cfg.ports) {
      if (q.address.length != 0 && q.address.addr_be == n.addr_be) what = "is this node's own address (port " + quoted(q.name) + ")";
      if (const char* edge = subnet_edge(q.address, n.addr_be)) what = std::string("is the ") + edge + " address of " + q.address.network_str();
    }
    if (auto [it, fresh] = seen.emplace(n.addr_be, k); !fresh) {
      const NeighbourConfig& first = cfg.neighbours[it->second];
      std::string first_index = std::to_string(file_index_of(dpt, "neighbours", it->second, false));
      what = first.mac == n.mac && first.port == n.port
                 ? "is listed twice (also dataplane.neighbours[" + first_index + "])"
                 : "is also dataplane.neighbours[" + first_index + "] with MAC " + mac_str(first.mac) +
                       " on port " + quoted(first.port) + ": one address has one MAC";
    }
    if (!what.empty()) errors.add(at(dpt, "neighbours", i, "address"), key("neighbours", i, "address"), ipv4_str(n.addr_be) + " " + what);
  }
  check_dataplane_network6(dpt, cfg, errors);
}

}  // namespace fulcrum::config
