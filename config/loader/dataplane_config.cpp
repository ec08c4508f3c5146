#include "config/loader/dataplane_config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <set>

#include "config/loader/network_checks.h"
#include "config/loader/parse_file.h"
#include "config/loader/section.h"

namespace fulcrum::config {
namespace {

// The lcores a Debian DPDK build supports (RTE_MAX_LCORE).
constexpr int64_t kMaxLcore = 127;
constexpr uint32_t kMaxWorkers = 31;  // the status region's 32 entries, one is the main lcore's

void parse_eal_args(Section& dp, DataplaneConfig& cfg) {
  auto args = dp.strings("eal_args");
  if (!args) return;
  // The lcore layout comes from main_lcore/worker_lcores: lb-dataplane builds -l and
  // --main-lcore itself, so that the two cannot disagree. EAL (getopt) also takes a short
  // option's value glued to it ("-l1-3").
  static const std::set<std::string, std::less<>> owned = {"--lcores", "--main-lcore", "--master-lcore"};
  const toml::array* arr = dp.node("eal_args")->as_array();
  for (size_t i = 0; i < args->size(); ++i) {
    const std::string& a = (*args)[i];
    bool short_flag = a.size() >= 2 && a[0] == '-' && a[1] != '-' && (a[1] == 'l' || a[1] == 'c');
    if (short_flag || owned.count(a.substr(0, a.find('='))) != 0) {
      dp.errors().add(arr->get(i), dp.path_of("eal_args") + "[" + std::to_string(i) + "]",
                      "\"" + a + "\" is set by lb-dataplane; use dataplane.main_lcore and dataplane.worker_lcores");
    }
  }
  cfg.eal_args = *args;
}

void parse_lcores(Section& dp, DataplaneConfig& cfg) {
  auto main = dp.integer("main_lcore", 0, kMaxLcore);
  if (main) cfg.main_lcore = static_cast<uint32_t>(*main);
  const bool main_known = main || !dp.has("main_lcore");  // else do not judge workers against it
  if (auto workers = dp.integers("worker_lcores", 0, kMaxLcore)) {
    std::set<int64_t> seen;
    bool ok = !workers->empty() && workers->size() <= kMaxWorkers;
    if (!ok) dp.error("worker_lcores", "needs 1 to " + std::to_string(kMaxWorkers) + " worker lcores");
    for (int64_t w : *workers) {
      if (!seen.insert(w).second) {
        dp.error("worker_lcores", "lcore " + std::to_string(w) + " listed twice");
        ok = false;
      }
      if (main_known && w == cfg.main_lcore) {
        dp.error("worker_lcores", "lcore " + std::to_string(w) + " is the main lcore; workers need their own");
        ok = false;
      }
    }
    if (ok) cfg.worker_lcores.assign(workers->begin(), workers->end());
  }
}

// issue 15: why an IPv6 address cannot be a port's, a next hop or a neighbour: "" if it can.
std::string unusable6(const abi::Ip6& a) {
  if (is_link_local6(a)) return "a link-local address (fe80::/10); use the neighbour's global or unique-local address";
  if (is_unusable_unicast6(a)) return "not a unicast address the data plane can use (::, ::1, ff00::/8, ::ffff:0:0/96)";
  return "";
}

// issue 15: a port's address6 and gateway6 (both optional).
void parse_port_ipv6(Section& p, PortConfig& port) {
  auto address6 = prefix6_value(p, "address6", "2001:db8:1::1/64");
  auto gateway6 = ipv6_value(p, "gateway6", "2001:db8:1::fe");
  if (address6 && (address6->length == 0 || address6->length > 127 || !unusable6(address6->addr).empty())) {
    p.error("address6", "\"" + address6->str() + "\" cannot be a port address6 (needs a global or unique-local "
                        "unicast address with prefix /1../127)");
    address6.reset();
  }
  if (gateway6 && !unusable6(*gateway6).empty()) {
    p.error("gateway6", ipv6_str(*gateway6) + " is " + unusable6(*gateway6));
    gateway6.reset();
  } else if (gateway6 && !address6 && !p.has("address6")) {
    p.error("gateway6", "needs this port's address6 (the prefix the gateway is on)");
    gateway6.reset();
  } else if (gateway6 && address6 && !address6->contains(*gateway6)) {
    p.error("gateway6", ipv6_str(*gateway6) + " is not on this port's prefix " + address6->network_str());
  }
  port.address6 = address6;
  port.gateway6 = gateway6;
}

void parse_ports(Section& dp, DataplaneConfig& cfg) {
  std::vector<Section> ports = dp.tables("ports");
  if (ports.empty()) {
    // Absent, an empty array, or the wrong type (reported by tables()).
    if (!dp.has("ports") || (dp.node("ports")->is_array() && dp.node("ports")->as_array()->empty())) {
      dp.error("ports", "no port: add a [[dataplane.ports]] table with name, device and address");
    }
    return;
  }
  if (ports.size() > kMaxPorts) dp.error("ports", "at most " + std::to_string(kMaxPorts) + " ports");
  std::set<std::string> names, devices;
  std::vector<std::pair<Section*, std::string>> gateway_ports;  // port, its name
  std::vector<std::pair<Section*, std::string>> gateway6_ports;
  for (Section& p : ports) {
    PortConfig port;
    auto name = p.string("name");
    auto device = p.string("device");
    auto address = prefix_value(p, "address", "198.18.1.1/24");
    auto gateway = ipv4_value(p, "gateway", "198.18.1.254");
    auto rx = p.integer("rx_descriptors", 64, 16384);
    auto tx = p.integer("tx_descriptors", 64, 16384);
    // A key present with the wrong type was reported by the getter; only absent ones are
    // "missing".
    if (!p.has("name")) {
      p.missing("name", "\"client\"");
    } else if (name && !is_valid_label(*name)) {
      p.error("name", "\"" + *name + "\" " + kLabelRule);
    } else if (name && !names.insert(*name).second) {
      p.error("name", "port \"" + *name + "\" is defined twice");
    }
    if (!p.has("device")) {
      p.missing("device", "\"0000:3b:00.0\" or \"net_af_xdp0,iface=eth1\"");
    } else if (device && device->empty()) {
      p.error("device", "must not be empty");
    } else if (device && !devices.insert(device->substr(0, device->find(','))).second) {
      p.error("device", "device \"" + *device + "\" is used by two ports");
    }
    if (!address && !p.has("address")) p.missing("address", "\"198.18.1.1/24\"");
    if (address && (address->length == 0 || address->length > 31 || is_unusable_unicast(address->addr_be))) {
      p.error("address", "\"" + address->str() + "\" cannot be a port address (needs a unicast address with prefix /1../31)");
      address.reset();
    }
    if (gateway && address && !address->contains(*gateway)) {
      p.error("gateway", ipv4_str(*gateway) + " is not on this port's subnet " + address->network_str());
    }
    if (gateway) gateway_ports.emplace_back(&p, name.value_or("?"));
    port.name = name.value_or("");
    port.device = device.value_or("");
    if (address) port.address = *address;
    port.gateway_be = gateway;
    if (rx) port.rx_descriptors = static_cast<uint16_t>(*rx);
    if (tx) port.tx_descriptors = static_cast<uint16_t>(*tx);
    parse_port_ipv6(p, port);
    if (port.gateway6) gateway6_ports.emplace_back(&p, name.value_or("?"));
    parse_host_sharing(p, port);  // issue 11: host_sharing, kernel_interface
    p.finish();
    cfg.ports.push_back(port);
  }
  // One default route: the second gateway is the error, and it names the first.
  if (gateway_ports.size() > 1) {
    gateway_ports[1].first->error("gateway", "a second default route: port \"" + gateway_ports[0].second + "\" already has a gateway; "
                                       "keep one gateway and give other destinations [[dataplane.routes]]");
  }
  if (gateway6_ports.size() > 1) {
    gateway6_ports[1].first->error("gateway6", "a second IPv6 default route: port \"" + gateway6_ports[0].second +
                                                   "\" already has a gateway6; keep one and give other destinations "
                                                   "[[dataplane.routes]]");
  }
}

// A next hop must sit on a port's connected subnet: that is how the data plane knows
// which port to send to.
int port_for(const DataplaneConfig& cfg, uint32_t addr_be) {
  for (size_t i = 0; i < cfg.ports.size(); ++i) {
    if (cfg.ports[i].address.length != 0 && cfg.ports[i].address.contains(addr_be)) return static_cast<int>(i);
  }
  return -1;
}

int port_for6(const DataplaneConfig& cfg, const abi::Ip6& a) {
  for (size_t i = 0; i < cfg.ports.size(); ++i) {
    if (cfg.ports[i].address6 && cfg.ports[i].address6->contains(a)) return static_cast<int>(i);
  }
  return -1;
}

bool is_ipv6_text(const Section& s, std::string_view key) {
  const toml::node* n = s.node(key);
  return n != nullptr && n->is_string() && n->as_string()->get().find(':') != std::string::npos;
}

// issue 15: a route whose prefix is IPv6; its next hop must be IPv6 too.
void parse_route6(Section& r, DataplaneConfig& cfg) {
  auto prefix = prefix6_value(r, "prefix", "2001:db8:99::/48");
  auto via = ip_value(r, "via", "198.18.1.254", "2001:db8:1::fe");
  if (!r.has("via")) r.missing("via", "\"2001:db8:1::fe\"");
  if (via && !via->is_v6()) {
    r.error("via", via->str() + " is IPv4 but the prefix is IPv6: a route's next hop is of its prefix's family");
    via.reset();
  } else if (via && !unusable6(via->v6).empty()) {
    r.error("via", via->str() + " is " + unusable6(via->v6));
    via.reset();
  } else if (via && port_for6(cfg, via->v6) < 0) {
    r.error("via", via->str() + " is not on any port's address6 prefix");
  }
  r.finish();
  if (prefix && via) cfg.routes6.push_back({*prefix, via->v6});
}

void parse_routes(Section& dp, DataplaneConfig& cfg) {
  std::vector<Section> routes = dp.tables("routes");
  if (routes.size() > kMaxRoutes) dp.error("routes", "at most " + std::to_string(kMaxRoutes) + " routes");
  for (Section& r : routes) {
    if (is_ipv6_text(r, "prefix")) {
      parse_route6(r, cfg);
      continue;
    }
    if (is_ipv6_text(r, "via") && r.has("prefix")) {
      r.error("via", "\"" + r.string("via").value_or("") + "\" is IPv6 but the prefix is IPv4: a route's next hop is of its "
                     "prefix's family");
      prefix_value(r, "prefix", "203.0.113.0/24");
      r.finish();
      continue;
    }
    auto prefix = prefix_value(r, "prefix", "203.0.113.0/24");
    auto via = ipv4_value(r, "via", "198.18.1.254");
    if (!prefix && !r.has("prefix")) r.missing("prefix", "\"203.0.113.0/24\"");
    if (!via && !r.has("via")) r.missing("via", "\"198.18.1.254\"");
    if (via && port_for(cfg, *via) < 0) r.error("via", ipv4_str(*via) + " is not on any port's subnet");
    r.finish();
    if (prefix && via) cfg.routes.push_back({*prefix, *via});
  }
}

// issue 15: a static neighbour with an IPv6 address, on a port's address6 prefix.
void parse_neighbour6(Section& n, DataplaneConfig& cfg) {
  auto addr = ipv6_value(n, "address", "2001:db8:2::11");
  auto mac_text = n.string("mac");
  auto port = n.string("port");
  std::optional<Mac> mac;
  if (mac_text) {
    mac = parse_mac(*mac_text);
    if (!mac) n.error("mac", "\"" + *mac_text + "\" is not a MAC address (e.g. \"02:00:00:00:00:01\")");
  }
  if (!mac_text && !n.has("mac")) n.missing("mac", "\"02:00:00:00:00:01\"");
  if (!port && !n.has("port")) n.missing("port", "\"backend\"");
  int index = port ? cfg.port_index(*port) : -1;
  if (port && index < 0) n.error("port", "no port named \"" + *port + "\"");
  if (addr && !unusable6(*addr).empty()) {
    n.error("address", ipv6_str(*addr) + " is " + unusable6(*addr));
    addr.reset();
  } else if (addr && index >= 0 && !cfg.ports[index].address6) {
    n.error("address", ipv6_str(*addr) + ": port \"" + *port + "\" has no address6");
  } else if (addr && index >= 0 && !cfg.ports[index].address6->contains(*addr)) {
    n.error("address", ipv6_str(*addr) + " is not on port \"" + *port + "\"'s prefix " + cfg.ports[index].address6->network_str());
  }
  n.finish();
  if (addr && mac && port) cfg.neighbours6.push_back({*addr, *mac, *port});
}

void parse_neighbours(Section& dp, DataplaneConfig& cfg) {
  std::vector<Section> neighbours = dp.tables("neighbours");
  if (neighbours.size() > kMaxStaticNeighbours) dp.error("neighbours", "at most " + std::to_string(kMaxStaticNeighbours) + " static neighbours");
  for (Section& n : neighbours) {
    if (is_ipv6_text(n, "address")) {
      parse_neighbour6(n, cfg);
      continue;
    }
    auto addr = ipv4_value(n, "address", "198.18.2.11");
    auto mac_text = n.string("mac");
    auto port = n.string("port");
    std::optional<Mac> mac;
    if (mac_text) {
      mac = parse_mac(*mac_text);
      if (!mac) n.error("mac", "\"" + *mac_text + "\" is not a MAC address (e.g. \"02:00:00:00:00:01\")");
    }
    if (!addr && !n.has("address")) n.missing("address", "\"198.18.2.11\"");
    if (!mac_text && !n.has("mac")) n.missing("mac", "\"02:00:00:00:00:01\"");
    if (!port && !n.has("port")) n.missing("port", "\"backend\"");
    int index = port ? cfg.port_index(*port) : -1;
    if (port && index < 0) n.error("port", "no port named \"" + *port + "\"");
    if (addr && index >= 0 && !cfg.ports[index].address.contains(*addr)) {
      n.error("address", ipv4_str(*addr) + " is not on port \"" + *port + "\"'s subnet " + cfg.ports[index].address.network_str());
    }
    n.finish();
    if (addr && mac && port) cfg.neighbours.push_back({*addr, *mac, *port});
  }
}

void parse_timeouts(Section& dp, DataplaneConfig& cfg) {
  auto t = dp.table("timeouts");
  if (!t) return;
  constexpr int64_t kDay = 86400;
  if (auto v = t->integer("syn", 1, kDay)) cfg.timeouts.syn = static_cast<uint32_t>(*v);
  if (auto v = t->integer("syn_unanswered", 1, kDay)) cfg.timeouts.syn_unanswered = static_cast<uint32_t>(*v);
  if (auto v = t->integer("established", 1, 7 * kDay)) cfg.timeouts.established = static_cast<uint32_t>(*v);
  if (auto v = t->integer("closing", 1, kDay)) cfg.timeouts.closing = static_cast<uint32_t>(*v);
  if (auto v = t->integer("closed", 1, kDay)) cfg.timeouts.closed = static_cast<uint32_t>(*v);
  t->finish();
}

void parse_shm(Section& dp, DataplaneConfig& cfg) {
  for (auto [key, field] : {std::pair{"shm_tables", &cfg.shm_tables}, std::pair{"shm_status", &cfg.shm_status}}) {
    auto name = dp.string(key);
    if (!name) continue;
    if (name->size() < 2 || name->size() > 255 || (*name)[0] != '/' || name->find('/', 1) != std::string::npos) {
      dp.error(key, "\"" + *name + "\" must look like \"/name\" (no other '/', at most 255 characters)");
      continue;
    }
    *field = *name;
  }
  if (cfg.shm_tables == cfg.shm_status) {
    // Name the key the file set: with only one of them written, the other's default collides.
    bool status_written = dp.has("shm_status");
    dp.error(status_written ? "shm_status" : "shm_tables",
             "\"" + cfg.shm_tables + "\" is also dataplane." + std::string(status_written ? "shm_tables" : "shm_status") +
                 (status_written && dp.has("shm_tables") ? "" : " (its default)") + ": the two regions need different names");
  }
}

}  // namespace

int DataplaneConfig::port_index(const std::string& name) const {
  for (size_t i = 0; i < ports.size(); ++i) {
    if (ports[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

DataplaneConfig parse_dataplane(const toml::table& root, Errors& errors) {
  DataplaneConfig cfg;
  const toml::node* node = root.get("dataplane");
  if (node == nullptr) {
    errors.add_file("no [dataplane] section (lb-dataplane needs at least its ports)");
    return cfg;
  }
  if (!node->is_table()) {
    errors.add(node, "dataplane", "must be a table ([dataplane]), not " + std::string(type_name(*node)));
    return cfg;
  }
  Section dp(*node->as_table(), "dataplane", errors);
  const size_t errors_before = errors.list().size();
  parse_eal_args(dp, cfg);
  parse_lcores(dp, cfg);
  parse_ports(dp, cfg);
  parse_routes(dp, cfg);
  parse_neighbours(dp, cfg);
  parse_timeouts(dp, cfg);
  parse_shm(dp, cfg);
  if (auto v = dp.integer("conntrack_entries", 1024, 64 * 1024 * 1024)) cfg.conntrack_entries = static_cast<uint32_t>(*v);
  if (auto v = dp.integer("conntrack_entries6", 1024, 64 * 1024 * 1024)) cfg.conntrack_entries6 = static_cast<uint32_t>(*v);
  if (auto v = dp.integer("mbufs", 1023, 4 * 1024 * 1024)) cfg.mbufs = static_cast<uint32_t>(*v);
  if (auto v = dp.integer("idle_sleep_us", 0, 100000)) cfg.idle_sleep_us = static_cast<uint32_t>(*v);
  if (auto v = dp.integer("new_flow_breaker_rate", 0, 100'000'000)) cfg.new_flow_breaker_rate = static_cast<uint32_t>(*v);
  if (auto v = dp.integer("embryonic_high_water", 50, 100)) cfg.embryonic_high_water = static_cast<uint32_t>(*v);
  if (auto v = dp.boolean("synproxy")) cfg.synproxy = *v;
  dp.finish();
  if (errors.list().size() == errors_before) check_dataplane_network(*node->as_table(), cfg, errors);
  return cfg;
}

std::optional<DataplaneConfig> load_dataplane(const std::string& path, Errors& errors) {
  std::optional<toml::table> root = parse_file(path, errors);
  if (!root) return std::nullopt;
  DataplaneConfig cfg = parse_dataplane(*root, errors);
  if (!errors.empty()) return std::nullopt;
  return cfg;
}

}  // namespace fulcrum::config
