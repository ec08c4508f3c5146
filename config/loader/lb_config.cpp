// Loading the whole file: [dataplane] through parse_dataplane(), then [controlplane] and the
// VIPs.
//
// Validation runs in two passes. The first reads each [[vip]] on its own (types, ranges,
// names, its backends and health checks) and what depends only on what came before it in
// the file (duplicate names and endpoints, the data plane's capacities). The second checks
// what refers across VIPs and to [dataplane]: SNAT and backend addresses against every VIP,
// port and SNAT address, reachability of backends, backends shared by two nat VIPs. An
// address or port that failed to parse is kept as 0, which no valid value can be (0.0.0.0
// is never usable), so later checks skip it instead of reporting a follow-on error.
//
// Checks that depend on the data plane's ports and routes (is a backend reachable, is a SNAT
// address on a connected subnet) are skipped when those ports or routes have errors of
// their own: otherwise one typo in a port address would be reported again at every backend.
//
// Errors are reported in file order (line, column), whatever pass found them, so that the
// list reads top to bottom like the file.
#include "config/loader/lb_config.h"

#include <grp.h>
#include <pwd.h>
#include <sys/un.h>
#include <toml++/toml.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <set>
#include <tuple>
#include <type_traits>
#include <utility>

#include "config/loader/maglev_size.h"
#include "config/loader/network_checks.h"
#include "config/loader/parse_file.h"
#include "config/loader/section.h"

namespace fulcrum::config {
namespace {

constexpr size_t kMinSeedLength = 16;
constexpr size_t kMaxExpectBody = 256;
constexpr const char* kSeedAdvice = "use at least 16 random characters (e.g. the output of `openssl rand -hex 16`)";

constexpr const char* kNameRule = kLabelRule;

Location location_of(const toml::node& n) { return {n.source().begin.line, n.source().begin.column}; }

std::string line_of(Location l) { return "line " + std::to_string(l.line); }

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// "\"a\" or \"b\"", "\"a\", \"b\" or \"c\"".
std::string one_of(std::initializer_list<const char*> options) {
  std::string out;
  size_t i = 0;
  for (const char* o : options) {
    if (i > 0) out += i + 1 == options.size() ? " or " : ", ";
    out += quoted(o);
    ++i;
  }
  return out;
}

std::string unusable(const std::string& text, std::string_view what) {
  return quoted(text) + " cannot be " + std::string(what) +
         ": 0.0.0.0/8, 127.0.0.0/8 and 224.0.0.0 and above are not unicast addresses the data plane can use";
}

// Why an address cannot be a VIP, backend, SNAT address or check source: "" if it can.
std::string unusable_why(const std::string& text, const IpAddr& a, std::string_view what) {
  if (!a.is_v6()) return is_unusable_unicast(a.v4_be) ? unusable(text, what) : "";
  if (is_link_local6(a.v6)) {
    return quoted(text) + " cannot be " + std::string(what) +
           ": link-local addresses (fe80::/10) are valid on one link only; use a global or unique-local address";
  }
  if (is_unusable_unicast6(a.v6)) {
    return quoted(text) + " cannot be " + std::string(what) +
           ": ::, ::1, ff00::/8 and IPv4-mapped ::ffff:0:0/96 are not unicast addresses the data plane can use";
  }
  return "";
}

// An address value of either family, or an empty one (absent, wrong or unusable; the
// error is reported).
IpAddr address(Section& s, std::string_view key, std::string_view what, std::string_view example) {
  std::optional<IpAddr> a = ip_value(s, key, example);
  if (!a) return {};
  if (std::string why = unusable_why(s.string(key).value_or(""), *a, what); !why.empty()) {
    s.error(key, why);
    return {};
  }
  return *a;
}

// A string that must be one of a few words. Absent: nothing; anything else: an error
// listing the words.
std::optional<std::string> word(Section& s, std::string_view key, std::string_view what,
                                std::initializer_list<const char*> options) {
  auto text = s.string(key);
  if (!text) return std::nullopt;
  for (const char* o : options) {
    if (*text == o) return text;
  }
  s.error(key, quoted(*text) + " is not " + std::string(what) + ": use " + one_of(options));
  return std::nullopt;
}

// Text that goes into an HTTP request line or header: printable ASCII, no spaces.
bool is_token_text(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 127; });
}

bool absolute_path(Section& s, std::string_view key, std::string* out) {
  auto text = s.string(key);
  if (!text) return false;
  if (text->empty() || (*text)[0] != '/') {
    s.error(key, quoted(*text) + " must be an absolute path (starting with '/')");
    return false;
  }
  *out = *text;
  return true;
}

// ------------------------------------------------------------------ [controlplane]

void parse_socket(Section& cp, ControlplaneConfig& cfg) {
  std::string socket;
  if (absolute_path(cp, "socket", &socket)) {
    constexpr size_t kMax = sizeof(sockaddr_un{}.sun_path) - 1;
    if (socket.size() > kMax) {
      cp.error("socket", "is " + std::to_string(socket.size()) + " characters; a Unix socket path has at most " +
                             std::to_string(kMax));
    } else {
      cfg.socket = socket;
    }
  }
  if (auto mode = cp.string("socket_mode")) {
    bool octal = (mode->size() == 3 || mode->size() == 4) &&
                 std::all_of(mode->begin(), mode->end(), [](char c) { return c >= '0' && c <= '7'; });
    uint32_t value = octal ? static_cast<uint32_t>(std::stoul(*mode, nullptr, 8)) : 0;
    if (!octal) {
      cp.error("socket_mode", quoted(*mode) + " is not a file mode: write 3 or 4 octal digits, e.g. \"0660\"");
    } else if (value < 0600 || value > 0777) {
      cp.error("socket_mode", quoted(*mode) + " is out of range (\"0600\" .. \"0777\"): the control plane's own user "
                                              "must keep read and write access");
    } else {
      cfg.socket_mode = value;
    }
  }
  if (auto owner = cp.string("socket_owner")) {
    if (owner->empty()) {
      cp.error("socket_owner", "must not be empty; leave the key out to keep the control plane's own user");
    } else if (getpwnam(owner->c_str()) == nullptr) {
      cp.error("socket_owner", "no user " + quoted(*owner) + " on this host; create it or name an existing user");
    } else {
      cfg.socket_owner = *owner;
    }
  }
  if (auto group = cp.string("socket_group")) {
    if (group->empty()) {
      cp.error("socket_group", "must not be empty; leave the key out to keep the control plane's own group");
    } else if (getgrnam(group->c_str()) == nullptr) {
      cp.error("socket_group", "no group " + quoted(*group) + " on this host; create it or name an existing group");
    } else {
      cfg.socket_group = *group;
    }
  }
}

// "IPv4:port" with a port in 1..65535. Any IPv4 address can be listened on, 0.0.0.0 included.
// "IPv4:port" or, issue 15, "[IPv6]:port".
bool valid_listen_address(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  if (text[0] == '[') {
    if (colon < 2 || text[colon - 1] != ']' || !parse_ipv6(text.substr(1, colon - 2))) return false;
  } else if (!parse_ipv4(text.substr(0, colon))) {
    return false;
  }
  std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port[0] == '0') return false;
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  return std::stoul(port) <= 65535;
}

void parse_seed(Section& s, std::optional<std::string>* out) {
  auto seed = s.string("hash_seed");
  if (!seed) return;
  // The seed is not echoed: it is a (weak) secret of the cluster.
  if (seed->size() < kMinSeedLength) {
    s.error("hash_seed", "is " + std::to_string(seed->size()) + " characters; " + kSeedAdvice);
    return;
  }
  *out = *seed;
}

void parse_controlplane(const toml::table& root, Errors& errors, ControlplaneConfig& cfg) {
  const toml::node* node = root.get("controlplane");
  if (node == nullptr) {
    errors.add_file(std::string("no [controlplane] section (it needs at least hash_seed: ") + kSeedAdvice +
                    ", the same on every node of the cluster)");
    return;
  }
  if (!node->is_table()) {
    errors.add(node, "controlplane", "must be a table ([controlplane]), not " + std::string(type_name(*node)));
    return;
  }
  Section cp(*node->as_table(), "controlplane", errors);
  parse_socket(cp, cfg);
  if (auto metrics = cp.string("metrics")) {
    if (!metrics->empty() && !valid_listen_address(*metrics)) {
      cp.error("metrics", quoted(*metrics) + " is not \"IPv4:port\" or \"[IPv6]:port\" (e.g. \"127.0.0.1:9469\", \"[::1]:9469\"; \"\" disables metrics)");
    } else {
      cfg.metrics = *metrics;
    }
  }
  absolute_path(cp, "state_dir", &cfg.state_dir);
  std::optional<std::string> seed;
  if (!cp.has("hash_seed")) {
    cp.missing("hash_seed", "\"<output of `openssl rand -hex 16`>\"; the same on every node of the cluster");
  }
  parse_seed(cp, &seed);
  cfg.hash_seed = seed.value_or("");
  if (auto v = cp.integer("publish_timeout_ms", 10, 10000)) cfg.publish_timeout_ms = static_cast<uint32_t>(*v);
  if (auto bgp = cp.table("bgp")) cfg.bgp = parse_bgp(*bgp);  // issue 12 (bgp_config.cpp)
  cp.finish();
}

// ------------------------------------------------------------------ health checks

// Reads every key of a [health] table over `check` (the defaults, or the VIP's check for a
// backend's override). Returns the keys that were written but could not be used.
std::set<std::string> parse_health(Section& h, HealthCheck& check) {
  std::set<std::string> failed;
  auto fail = [&](std::string_view key) {
    if (h.has(key)) failed.emplace(key);
  };
  if (auto type = word(h, "type", "a check type", {"tcp", "http"})) {
    check.type = *type == "http" ? CheckType::Http : CheckType::Tcp;
  } else {
    fail("type");
  }
  if (auto method = word(h, "method", "a supported method", {"GET", "HEAD"})) {
    check.http_method = *method;
  } else {
    fail("method");
  }
  if (auto path = h.string("path")) {
    if (path->empty() || (*path)[0] != '/') {
      h.error("path", quoted(*path) + " must start with \"/\" (e.g. \"/healthz\")");
      fail("path");
    } else if (!is_token_text(*path)) {
      h.error("path", quoted(*path) + " must not contain spaces or control characters (percent-encode them, e.g. %20)");
      fail("path");
    } else {
      check.http_path = *path;
    }
  } else {
    fail("path");
  }
  if (auto host = h.string("host")) {
    if (host->empty() || !is_token_text(*host)) {
      h.error("host", quoted(*host) + " is not a Host header value (e.g. \"www.example.com\"; leave the key out to "
                                      "send the backend's address)");
      fail("host");
    } else {
      check.http_host = *host;
    }
  } else {
    fail("host");
  }
  auto integer = [&](std::string_view key, int64_t min, int64_t max, auto* field) {
    if (auto v = h.integer(key, min, max)) {
      *field = static_cast<std::remove_pointer_t<decltype(field)>>(*v);
    } else {
      fail(key);
    }
  };
  integer("expect_status", 100, 599, &check.expect_status);
  integer("interval_ms", 100, 3600000, &check.interval_ms);
  integer("timeout_ms", 10, 60000, &check.timeout_ms);
  integer("rise", 1, 100, &check.rise);
  integer("fall", 1, 100, &check.fall);
  integer("port", 1, 65535, &check.port);
  if (IpAddr a = address(h, "source", "a health-check source address", "198.18.2.1"); !a.empty()) check.source = a;
  else fail("source");
  if (auto body = h.string("expect_body")) {
    if (body->empty() || body->size() > kMaxExpectBody ||
        !std::all_of(body->begin(), body->end(), [](char c) { return c >= ' ' && c < 127; })) {
      h.error("expect_body", "must be 1 to " + std::to_string(kMaxExpectBody) +
                                 " printable ASCII characters (a substring the response body must contain)");
      fail("expect_body");
    } else {
      check.expect_body = *body;
    }
  } else {
    fail("expect_body");
  }
  if (auto v = h.boolean("start_down")) check.start_down = *v;
  else fail("start_down");
  return failed;
}

// Checks between keys, on the check as merged, reported at a key this table wrote. `base`
// is the VIP's [vip.health] when `h` is a backend's override (nullptr for the VIP's own),
// and `failed` the keys of either table that could not be read: a check involving them
// would judge a default the operator did not write.
void check_health(Section& h, const HealthCheck& check, const Section* base, const std::set<std::string>& failed) {
  auto origin = [&](std::string_view key) -> std::string {
    if (h.has(key)) return "";
    if (base != nullptr && base->has(key)) return ", from the VIP's [vip.health]";
    return ", the default";
  };
  if (failed.count("type") == 0 && check.type == CheckType::Tcp) {
    for (const char* key : {"method", "path", "host", "expect_status", "expect_body"}) {
      if (h.has(key)) {
        h.error(key, "is only used by http checks, and this check is type \"tcp\"" + origin("type") +
                         "; set type = \"http\" or remove " + key);
      }
    }
  }
  if (h.has("expect_body") && failed.count("method") == 0 && failed.count("expect_body") == 0 &&
      check.type == CheckType::Http && check.http_method == "HEAD") {
    h.error("expect_body", "a HEAD request gets no body (method \"HEAD\"" + origin("method") +
                               "); use method = \"GET\" or remove expect_body");
  }
  bool wrote = h.has("timeout_ms") || h.has("interval_ms");
  if (wrote && failed.count("timeout_ms") == 0 && failed.count("interval_ms") == 0 &&
      check.timeout_ms >= check.interval_ms) {
    h.error(h.has("timeout_ms") ? "timeout_ms" : "interval_ms",
            "timeout_ms (" + std::to_string(check.timeout_ms) + origin("timeout_ms") + ") must be less than " +
                "interval_ms (" + std::to_string(check.interval_ms) + origin("interval_ms") +
                "): a check must time out before the next one starts");
  }
}

// ------------------------------------------------------------------ VIPs

// Section::tables() with each element's own table, for errors about a whole table.
std::vector<std::pair<Section, const toml::table*>> tables_with_nodes(Section& s, std::string_view key) {
  std::vector<Section> sections = s.tables(key);
  std::vector<std::pair<Section, const toml::table*>> out;
  if (sections.empty()) return out;
  size_t k = 0;
  for (const toml::node& e : *s.node(key)->as_array()) {
    if (e.is_table()) out.emplace_back(sections[k++], e.as_table());
  }
  return out;
}

struct BackendDraft {
  Section s;
  const toml::table* table;
};

struct VipDraft {
  Section s;
  const toml::table* table;
  VipConfig cfg;
  bool mode_known = false;                     // mode parsed (or defaulted)
  struct Where {
    const toml::node* node;
    std::string key;
  };
  std::vector<Where> snat_where;               // parallel to cfg.snat
  std::vector<BackendDraft> backends;          // parallel to cfg.backends
};

std::string port_owning(const DataplaneConfig& dp, const IpAddr& a) {
  for (const PortConfig& p : dp.ports) {
    if (!a.is_v6() && p.address.length != 0 && p.address.addr_be == a.v4_be) return p.name;
    if (a.is_v6() && p.address6 && p.address6->addr == a.v6) return p.name;
  }
  return "";
}

bool on_connected_subnet(const DataplaneConfig& dp, const IpAddr& a) {
  return std::any_of(dp.ports.begin(), dp.ports.end(), [&](const PortConfig& p) {
    if (a.is_v6()) return p.address6.has_value() && p.address6->contains(a.v6);
    return p.address.length != 0 && p.address.contains(a.v4_be);
  });
}

bool routed(const DataplaneConfig& dp, const IpAddr& a) {
  if (on_connected_subnet(dp, a)) return true;
  if (a.is_v6()) {
    if (std::any_of(dp.ports.begin(), dp.ports.end(), [](const PortConfig& p) { return p.gateway6.has_value(); })) return true;
    return std::any_of(dp.routes6.begin(), dp.routes6.end(), [&](const Route6Config& r) { return r.prefix.contains(a.v6); });
  }
  if (std::any_of(dp.ports.begin(), dp.ports.end(), [](const PortConfig& p) { return p.gateway_be.has_value(); })) {
    return true;
  }
  return std::any_of(dp.routes.begin(), dp.routes.end(),
                     [&](const RouteConfig& r) { return r.prefix.contains(a.v4_be); });
}

bool has_ipv6_port(const DataplaneConfig& dp) {
  return std::any_of(dp.ports.begin(), dp.ports.end(), [](const PortConfig& p) { return p.address6.has_value(); });
}

std::string subnets(const DataplaneConfig& dp, IpFamily family = IpFamily::V4) {
  std::string out;
  for (const PortConfig& p : dp.ports) {
    if (family == IpFamily::V4 && p.address.length != 0) out += (out.empty() ? "" : ", ") + p.address.str();
    if (family == IpFamily::V6 && p.address6) out += (out.empty() ? "" : ", ") + p.address6->str();
  }
  return out;
}

// special_address() for either family.
std::string special(const DataplaneConfig& dp, const IpAddr& a, bool owned) {
  return a.is_v6() ? special_address6(dp, a.v6, owned) : special_address(dp, a.v4_be, owned);
}

void parse_snat(VipDraft& d) {
  Section& v = d.s;
  bool present = v.has("snat");
  auto list = v.strings("snat");
  if (!d.mode_known) return;
  if (d.cfg.mode == ForwardMode::Nat) {
    if (present) v.error("snat", "only fullnat VIPs use SNAT addresses: remove snat, or set mode = \"fullnat\"");
    return;
  }
  if (!present) {
    v.error("snat", "required when mode = \"fullnat\" (for example: snat = [\"198.18.2.100\"], free addresses on the "
                    "backend port's subnet)");
    return;
  }
  if (!list) return;
  if (list->empty() || list->size() > kMaxSnatAddrs) {
    v.error("snat", "needs 1 to " + std::to_string(kMaxSnatAddrs) + " addresses, not " + std::to_string(list->size()));
    return;
  }
  const toml::array& arr = *v.node("snat")->as_array();
  std::set<IpAddr> seen;
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string& text = (*list)[i];
    const toml::node* at = arr.get(i);
    std::string key = v.path_of("snat") + "[" + std::to_string(i) + "]";
    auto a = parse_ip(text);
    std::string why = a ? unusable_why(text, *a, "a SNAT address") : "";
    if (!a) {
      v.errors().add(at, key, quoted(text) + (text.find(':') != std::string::npos
                                                  ? " is not an IPv6 address (e.g. \"2001:db8:2::100\")"
                                                  : " is not an IPv4 address (e.g. \"198.18.2.100\")"));
    } else if (!why.empty()) {
      v.errors().add(at, key, why);
    } else if (!seen.insert(*a).second) {
      v.errors().add(at, key, text + " is listed twice in this VIP's snat");
    } else if (!d.cfg.snat.empty() && d.cfg.snat.front().family != a->family) {
      v.errors().add(at, key, text + " is " + a->family_name() + " but " + d.cfg.snat.front().str() + " is " +
                                  d.cfg.snat.front().family_name() + ": a VIP's SNAT addresses are all of its backends' family");
    } else {
      d.cfg.snat.push_back(*a);
      d.snat_where.push_back({at, key});
    }
  }
}

void parse_backend(VipDraft& d, Section& b, const toml::table* table, const std::set<std::string>& vip_failed,
                   const Section* vip_health, std::map<std::string, Location>& names,
                   std::map<std::pair<IpAddr, uint16_t>, Location>& endpoints) {
  BackendConfig be;
  be.where = location_of(*table);
  be.health = d.cfg.health;
  if (auto name = b.string("name")) {
    if (!is_valid_label(*name)) {
      b.error("name", quoted(*name) + " " + kNameRule);
    } else if (auto [it, fresh] = names.emplace(*name, be.where); !fresh) {
      b.error("name", "backend name " + quoted(*name) + " is used twice in this VIP (first at " +
                          line_of(it->second) + ")");
    } else {
      be.name = *name;
    }
  }
  if (!b.has("address")) b.missing("address", "\"198.18.2.11\"");
  be.addr = address(b, "address", "a backend address", "198.18.2.11");
  if (!b.has("port")) b.missing("port", "80");
  if (auto port = b.integer("port", 1, 65535)) be.port = static_cast<uint16_t>(*port);
  if (auto weight = b.integer("weight", 0, 1000)) be.weight = static_cast<uint16_t>(*weight);
  if (auto state = word(b, "state", "a backend state", {"active", "draining"})) {
    be.state = *state == "draining" ? InitialState::Draining : InitialState::Active;
  }
  if (auto h = b.table("health")) {
    std::set<std::string> failed = parse_health(*h, be.health);
    failed.insert(vip_failed.begin(), vip_failed.end());
    check_health(*h, be.health, vip_health, failed);
    if (h->has("source") && !be.health.source.empty() && !be.addr.empty() && be.health.source.family != be.addr.family) {
      h->error("source", be.health.source.str() + " is " + be.health.source.family_name() + " but backend " + be.addr.str() +
                             " is " + be.addr.family_name() + ": a check's source address is of the backend's family");
    }
    h->finish();
  }
  parse_backend_limits(b, be.limits);
  b.finish();
  if (!be.addr.empty() && be.port != 0) {
    if (auto [it, fresh] = endpoints.emplace(std::pair{be.addr, be.port}, be.where); !fresh) {
      b.error("address", "backend " + be.endpoint() + " is listed twice in this VIP (first at " +
                             line_of(it->second) + ")");
    }
  }
  d.cfg.backends.push_back(be);
  d.backends.push_back({b, table});
}

// The VIP's SYN rate limit and SYN proxy (docs/config.md, "Flood defence").
void parse_flood_defence(Section& s, const DataplaneConfig& dp, VipConfig& cfg) {
  if (auto rate = s.integer("max_new_conn_rate", 0, 1'000'000'000)) cfg.max_new_conn_rate = static_cast<uint32_t>(*rate);
  if (auto burst = s.integer("new_conn_burst", 1, 1'000'000'000)) {
    cfg.new_conn_burst = static_cast<uint32_t>(*burst);
    if (cfg.max_new_conn_rate == 0 && !s.has("max_new_conn_rate")) {
      s.error("new_conn_burst", "has no effect without max_new_conn_rate (the SYN rate it is the burst of)");
    }
  }
  if (cfg.max_new_conn_rate != 0 && cfg.new_conn_burst == 0) cfg.new_conn_burst = std::max<uint32_t>(1, cfg.max_new_conn_rate / 10);
  if (auto mode = word(s, "synproxy", "a SYN proxy mode", {"off", "on", "auto"})) {
    cfg.synproxy = *mode == "on" ? SynproxyMode::On : *mode == "auto" ? SynproxyMode::Auto : SynproxyMode::Off;
    if (cfg.synproxy != SynproxyMode::Off && cfg.addr.is_v6()) {
      s.error("synproxy", quoted(*mode) + " on IPv6 VIP " + cfg.addr.str() +
                              ": synproxy is IPv4-only for now (the data plane does not proxy IPv6 handshakes); "
                              "remove synproxy or set it to \"off\"");
    } else if (cfg.synproxy != SynproxyMode::Off && !dp.synproxy) {
      s.error("synproxy", quoted(*mode) + " needs dataplane.synproxy = true (it reserves 4 bytes per connection "
                                          "entry for sequence translation)");
    }
  }
}

// issue 15: the families of one VIP. Its backends are all of one family; an IPv4 VIP has
// IPv4 backends; an IPv6 VIP with IPv4 backends is NAT64, which only fullnat does (the
// backends must see an IPv4 source); SNAT addresses and the check's source are of the
// backends' family.
void check_families(VipDraft& d, Section* health) {
  VipConfig& cfg = d.cfg;
  const BackendConfig* first = nullptr;
  for (size_t i = 0; i < cfg.backends.size(); ++i) {
    const BackendConfig& be = cfg.backends[i];
    Section& b = d.backends[i].s;
    if (be.addr.empty()) continue;
    if (first != nullptr) {
      if (be.addr.family != first->addr.family) {
        b.error("address", std::string(be.addr.family_name()) + " backend " + be.endpoint() + " but backend " +
                               first->endpoint() + " (" + line_of(first->where) + ") is " + first->addr.family_name() +
                               ": a VIP's backends are all of one family; put them in two VIPs");
      }
      continue;
    }
    first = &be;
    if (!cfg.addr.empty() && !cfg.addr.is_v6() && be.addr.is_v6()) {
      b.error("address", "IPv6 backend " + be.endpoint() + " of IPv4 VIP " + cfg.endpoint() +
                             ": an IPv4 VIP needs IPv4 backends (only IPv6 to IPv4 is translated, by fullnat)");
    } else if (cfg.addr.is_v6() && !be.addr.is_v6() && d.mode_known && cfg.mode == ForwardMode::Nat) {
      b.error("address", "IPv4 backend " + be.endpoint() + " of IPv6 VIP " + cfg.endpoint() +
                             " in mode \"nat\": NAT64 needs fullnat (set mode = \"fullnat\" with an IPv4 snat pool)");
    }
  }
  // Without backends, an IPv4 VIP still has only IPv4 ones to come; an IPv6 VIP may get either.
  std::optional<IpFamily> family;
  if (first != nullptr) family = first->addr.family;
  else if (!cfg.addr.empty() && !cfg.addr.is_v6()) family = IpFamily::V4;
  for (size_t i = 0; family && i < cfg.snat.size(); ++i) {
    if (cfg.snat[i].family == *family) continue;
    const char* fam = *family == IpFamily::V6 ? "IPv6" : "IPv4";
    d.s.errors().add(d.snat_where[i].node, d.snat_where[i].key,
                     cfg.snat[i].str() + " is " + cfg.snat[i].family_name() + " but this VIP's backends are " + fam +
                         ": SNAT addresses are of the backends' family (the source address the backends see)");
  }
  if (first != nullptr && health != nullptr && health->has("source") && !cfg.health.source.empty() &&
      cfg.health.source.family != first->addr.family) {
    health->error("source", cfg.health.source.str() + " is " + cfg.health.source.family_name() +
                                " but this VIP's backends are " + first->addr.family_name() +
                                ": a check's source address is of the backend's family");
  }
}

VipDraft parse_vip(Section& v, const toml::table* table, const DataplaneConfig& dp) {
  VipDraft d{v, table, {}, false, {}, {}};
  Section& s = d.s;
  VipConfig& cfg = d.cfg;
  cfg.where = location_of(*table);
  if (!s.has("name")) s.missing("name", "\"web\"");
  if (auto name = s.string("name")) {
    if (is_valid_label(*name)) cfg.name = *name;
    else s.error("name", quoted(*name) + " " + kNameRule);
  }
  if (!s.has("address")) s.missing("address", "\"198.18.0.10\"");
  cfg.addr = address(s, "address", "a VIP address", "198.18.0.10");
  if (std::string port = port_owning(dp, cfg.addr); !cfg.addr.empty() && !port.empty()) {
    s.error("address", cfg.addr.str() + " is the address of [dataplane] port " + quoted(port) +
                           "; a VIP needs an address of its own");
    cfg.addr = {};
  } else if (std::string what = special(dp, cfg.addr, true); !cfg.addr.empty() && !what.empty()) {
    s.error("address", cfg.addr.str() + " is " + what + ": the data plane would answer " +
                           (cfg.addr.is_v6() ? "neighbour solicitations" : "ARP") + " for it; a VIP needs an "
                           "address of its own");
    cfg.addr = {};
  }
  if (!s.has("port")) s.missing("port", "80");
  if (auto port = s.integer("port", 1, 65535)) cfg.port = static_cast<uint16_t>(*port);
  if (auto protocol = s.string("protocol"); protocol && *protocol != "tcp") {
    s.error("protocol", quoted(*protocol) + ": only tcp is supported (remove protocol or write \"tcp\")");
  }
  if (auto mode = word(s, "mode", "a forwarding mode", {"nat", "fullnat"})) {
    cfg.mode = *mode == "fullnat" ? ForwardMode::FullNat : ForwardMode::Nat;
    d.mode_known = true;
  } else {
    d.mode_known = !s.has("mode");
  }
  parse_snat(d);
  if (auto size = s.integer("maglev_size", INT64_MIN, INT64_MAX)) {
    std::string why = *size < 0 ? "Maglev table size " + std::to_string(*size) + " out of range (3 .. " +
                                      std::to_string(kMaxMaglevSize) + ")"
                                : check_maglev_size(static_cast<uint64_t>(*size));
    if (why.empty()) cfg.maglev_size = static_cast<uint32_t>(*size);
    else s.error("maglev_size", why);
  }
  parse_seed(s, &cfg.hash_seed);
  if (auto down = word(s, "on_backend_down", "a policy", {"keep", "reset"})) {
    cfg.on_backend_down = *down == "reset" ? DownPolicy::Reset : DownPolicy::Keep;
  }
  parse_flood_defence(s, dp, cfg);
  if (auto m = s.integer("min_healthy_backends", 1, kMaxMinHealthy)) cfg.min_healthy_backends = static_cast<uint32_t>(*m);
  parse_scheduling(s, cfg.scheduling);
  std::set<std::string> health_failed;
  std::optional<Section> health = s.table("health");
  if (health) {
    health_failed = parse_health(*health, cfg.health);
    check_health(*health, cfg.health, nullptr, health_failed);
    health->finish();
  }
  std::map<std::string, Location> names;
  std::map<std::pair<IpAddr, uint16_t>, Location> endpoints;
  for (auto& [b, node] : tables_with_nodes(s, "backends")) {
    parse_backend(d, b, node, health_failed, health ? &*health : nullptr, names, endpoints);
  }
  check_families(d, health ? &*health : nullptr);
  if (cfg.backends.size() > cfg.maglev_size) {
    s.error("maglev_size", "this VIP has " + std::to_string(cfg.backends.size()) + " backends but maglev_size is " +
                               std::to_string(cfg.maglev_size) +
                               ": the table needs more entries than backends (about 100 x the backend count, "
                               "e.g. 65537)");
  }
  if (cfg.min_healthy_backends && *cfg.min_healthy_backends > cfg.backends.size()) {
    s.error("min_healthy_backends", std::to_string(*cfg.min_healthy_backends) + " is more than this VIP's " +
                                        std::to_string(cfg.backends.size()) + " backend(s): it would never be announced");
  }
  s.finish();
  return d;
}

// What one VIP's addresses may not collide with, filled from all VIPs before the second pass.
struct Owners {
  std::map<IpAddr, std::string> vip;   // VIP address -> first VIP's name
  std::map<IpAddr, std::string> snat;  // SNAT address -> first VIP's name
};

void check_snat(VipDraft& d, const DataplaneConfig& dp, const Owners& owners, bool net_ok) {
  for (size_t i = 0; i < d.cfg.snat.size(); ++i) {
    const IpAddr& a = d.cfg.snat[i];
    const auto& [at, key] = d.snat_where[i];
    Errors& errors = d.s.errors();
    if (auto it = owners.vip.find(a); it != owners.vip.end()) {
      errors.add(at, key, a.str() + " is the address of VIP " + quoted(it->second) +
                                           "; SNAT needs addresses no VIP uses");
    } else if (std::string port = port_owning(dp, a); !port.empty()) {
      errors.add(at, key, a.str() + " is the address of [dataplane] port " + quoted(port) +
                                           "; SNAT needs other free addresses on a port's subnet");
    } else if (std::string what = special(dp, a, true); !what.empty()) {
      errors.add(at, key, a.str() + " is " + what + "; SNAT needs other free addresses on a port's subnet");
    } else if (net_ok && a.is_v6() && !on_connected_subnet(dp, a)) {
      errors.add(at, key,
                 a.str() + " is not on any [dataplane] port's address6 prefix (" +
                     (has_ipv6_port(dp) ? subnets(dp, IpFamily::V6) : std::string("no port has address6")) +
                     "): the data plane could not answer neighbour solicitations for it, so backends' replies "
                     "would never arrive; use a free address on the backend port's address6 prefix");
    } else if (net_ok && !on_connected_subnet(dp, a)) {
      errors.add(at, key,
                 a.str() + " is not on any [dataplane] port's connected subnet (" + subnets(dp) +
                     "): the data plane could not answer ARP for it, so backends' replies would never arrive; use "
                     "a free address on the backend port's subnet");
    }
  }
}

void check_backends(VipDraft& d, const DataplaneConfig& dp, const Owners& owners, bool net_ok,
                    std::map<std::pair<IpAddr, uint16_t>, const VipDraft*>& nat_backends) {
  for (size_t i = 0; i < d.cfg.backends.size(); ++i) {
    const BackendConfig& be = d.cfg.backends[i];
    Section& b = d.backends[i].s;
    if (be.addr.empty()) continue;
    std::string address = be.addr.str();
    if (auto it = owners.vip.find(be.addr); it != owners.vip.end()) {
      b.error("address", address + " is the address of VIP " + quoted(it->second) + "; a backend must be another host");
      continue;
    }
    if (std::string port = port_owning(dp, be.addr); !port.empty()) {
      b.error("address",
              address + " is the address of [dataplane] port " + quoted(port) + "; a backend must be another host");
      continue;
    }
    if (auto it = owners.snat.find(be.addr); it != owners.snat.end()) {
      b.error("address",
              address + " is a SNAT address of VIP " + quoted(it->second) + "; a backend must be another host");
      continue;
    }
    if (std::string what = special(dp, be.addr, false); !what.empty()) {
      b.error("address", address + " is " + what + "; a backend needs a host address");
      continue;
    }
    if (net_ok && be.addr.is_v6() && !routed(dp, be.addr)) {
      b.error("address", "no route to backend " + be.endpoint() +
                             ": not on a [dataplane] port's address6 prefix, and no IPv6 route or gateway6 covers it "
                             "(add a [[dataplane.routes]] entry with an IPv6 prefix, or a gateway6 to a port)");
      continue;
    }
    if (net_ok && !routed(dp, be.addr)) {
      b.error("address", "no route to backend " + be.endpoint() +
                             ": not on a [dataplane] port's subnet, and no route or gateway covers it (add a "
                             "[[dataplane.routes]] entry, or a gateway to a port)");
      continue;
    }
    if (be.port == 0 || !d.mode_known || d.cfg.mode != ForwardMode::Nat) continue;
    auto [it, fresh] = nat_backends.emplace(std::pair{be.addr, be.port}, &d);
    if (!fresh && it->second != &d) {
      const VipDraft& first = *it->second;
      b.error("address", "backend " + be.endpoint() + " of nat VIP " + quoted(d.cfg.name) +
                             " is also a backend of nat VIP " + quoted(first.cfg.name) + " (" +
                             line_of(first.cfg.where) +
                             "): the data plane could not tell their replies apart; make one of the two VIPs "
                             "fullnat, or give the backends distinct ports");
    }
  }
}

// The data plane's capacities, counted in file order; each is reported once, where it is
// first exceeded.
struct Totals {
  size_t vips = 0;
  size_t backends = 0;
  uint64_t maglev = 0;
  // VIP and SNAT addresses, by family: the data plane has kMaxLocalAddrs of each.
  std::set<IpAddr> local_addrs[2];
  // (SNAT address, backend address, backend port): one SNAT port pool each in the data plane.
  std::set<std::tuple<IpAddr, IpAddr, uint16_t>> snat_pools;
  bool vips_reported = false, backends_reported = false, maglev_reported = false, local_reported[2] = {false, false};
  bool pools_reported = false;
};

void count(VipDraft& d, Totals& t) {
  Errors& errors = d.s.errors();
  if (++t.vips > kMaxVips && !t.vips_reported) {
    errors.add(d.table, d.s.path(), "VIP number " + std::to_string(t.vips) + ": the data plane holds at most " +
                                        std::to_string(kMaxVips) + " VIPs");
    t.vips_reported = true;
  }
  for (size_t i = 0; i < d.backends.size(); ++i) {
    if (++t.backends > kMaxBackends && !t.backends_reported) {
      errors.add(d.backends[i].table, d.backends[i].s.path(),
                 "backend number " + std::to_string(t.backends) + " of the file: the data plane holds at most " +
                     std::to_string(kMaxBackends) + " backends across all VIPs");
      t.backends_reported = true;
    }
  }
  t.maglev += d.cfg.maglev_size;
  if (t.maglev > kMaglevPoolEntries && !t.maglev_reported) {
    d.s.error("maglev_size", "with this VIP the maglev_size of all VIPs adds up to " + std::to_string(t.maglev) +
                                 ", more than the data plane's table pool of " + std::to_string(kMaglevPoolEntries) +
                                 " entries; use smaller tables (about 100 x a VIP's backend count is enough, "
                                 "e.g. 4099 or 16411)");
    t.maglev_reported = true;
  }
  if (d.cfg.mode == ForwardMode::FullNat) {
    for (const IpAddr& snat : d.cfg.snat) {
      for (const BackendConfig& b : d.cfg.backends) t.snat_pools.emplace(snat, b.addr, b.port);
    }
    if (t.snat_pools.size() > kMaxSnatPools && !t.pools_reported) {
      d.s.error("snat", "with this VIP the fullnat VIPs have " + std::to_string(t.snat_pools.size()) +
                            " distinct (SNAT address, backend) pairs; the data plane keeps a port pool for at most " +
                            std::to_string(kMaxSnatPools) + " (use fewer SNAT addresses per VIP: each gives 64,512 "
                            "ports towards every backend)");
      t.pools_reported = true;
    }
  }
  if (!d.cfg.addr.empty()) t.local_addrs[d.cfg.addr.is_v6()].insert(d.cfg.addr);
  for (const IpAddr& a : d.cfg.snat) t.local_addrs[a.is_v6()].insert(a);
  for (int v6 = 0; v6 < 2; ++v6) {
    if (t.local_addrs[v6].size() > kMaxLocalAddrs && !t.local_reported[v6]) {
      d.s.error("address", "with this VIP there are " + std::to_string(t.local_addrs[v6].size()) + " distinct " +
                               (v6 ? "IPv6" : "") + (v6 ? " " : "") + "VIP and SNAT addresses; the data plane answers " +
                               (v6 ? "neighbour solicitations" : "ARP") + " for at most " + std::to_string(kMaxLocalAddrs) +
                               " (let VIPs share an address on different ports, or share SNAT addresses)");
      t.local_reported[v6] = true;
    }
  }
}

std::vector<VipDraft> parse_vips(const toml::table& root, Errors& errors, const DataplaneConfig& dp, bool net_ok) {
  Section top(root, "", errors);
  std::vector<VipDraft> drafts;
  std::map<std::string, const VipDraft*> names;
  std::map<std::pair<IpAddr, uint16_t>, const VipDraft*> endpoints;
  Totals totals;
  // Reserve: `names` and `endpoints` point into `drafts`.
  if (const toml::array* arr = root.get("vip") ? root.get("vip")->as_array() : nullptr) drafts.reserve(arr->size());
  for (auto& [v, table] : tables_with_nodes(top, "vip")) {
    VipDraft& d = drafts.emplace_back(parse_vip(v, table, dp));
    if (!d.cfg.name.empty()) {
      if (auto [it, fresh] = names.emplace(d.cfg.name, &d); !fresh) {
        d.s.error("name", "VIP " + quoted(d.cfg.name) + " is defined twice (first at " +
                              line_of(it->second->cfg.where) + "); VIP names must be unique");
      }
    }
    if (!d.cfg.addr.empty() && d.cfg.port != 0) {
      if (auto [it, fresh] = endpoints.emplace(std::pair{d.cfg.addr, d.cfg.port}, &d); !fresh) {
        d.s.error("port", d.cfg.endpoint() + " is already VIP " + quoted(it->second->cfg.name) + " (" +
                              line_of(it->second->cfg.where) + "); each VIP needs its own address:port");
      }
    }
    count(d, totals);
  }

  Owners owners;
  for (const VipDraft& d : drafts) {
    if (!d.cfg.addr.empty()) owners.vip.emplace(d.cfg.addr, d.cfg.name);
    for (const IpAddr& a : d.cfg.snat) owners.snat.emplace(a, d.cfg.name);
  }
  std::map<std::pair<IpAddr, uint16_t>, const VipDraft*> nat_backends;
  for (VipDraft& d : drafts) {
    if (net_ok && d.cfg.addr.is_v6() && !has_ipv6_port(dp)) {
      d.s.error("address", "IPv6 VIP " + d.cfg.addr.str() + " but no [[dataplane.ports]] has an address6: the data "
                           "plane carries no IPv6 (give the ports their IPv6 addresses, e.g. address6 = "
                           "\"2001:db8:1::1/64\")");
    }
    check_snat(d, dp, owners, net_ok);
    check_backends(d, dp, owners, net_ok, nat_backends);
  }
  return drafts;
}

// Top-level keys other than the three sections are misspellings ([vips], [control-plane]).
void check_top_level(const toml::table& root, Errors& errors) {
  for (const auto& [key, value] : root) {
    if (key.str() == "dataplane" || key.str() == "controlplane" || key.str() == "vip") continue;
    errors.add(key.source(), std::string(key.str()), "unknown key (known keys here: controlplane, dataplane, vip)");
  }
}

// Did [dataplane] give a usable network: ports and routes without errors? Otherwise the
// checks against them would repeat the port's error at every backend.
bool network_ok(const std::vector<ConfigError>& dataplane_errors) {
  return std::none_of(dataplane_errors.begin(), dataplane_errors.end(), [](const ConfigError& e) {
    return e.key.empty() || e.key == "dataplane" || e.key.starts_with("dataplane.ports") ||
           e.key.starts_with("dataplane.routes");
  });
}

// ------------------------------------------------------------------ dataplane_changes

bool same_value(const toml::node& a, const toml::node& b) {
  switch (a.type()) {
    case toml::node_type::string: return a.as_string()->get() == b.as_string()->get();
    case toml::node_type::integer: return a.as_integer()->get() == b.as_integer()->get();
    case toml::node_type::floating_point: return a.as_floating_point()->get() == b.as_floating_point()->get();
    case toml::node_type::boolean: return a.as_boolean()->get() == b.as_boolean()->get();
    case toml::node_type::date: return a.as_date()->get() == b.as_date()->get();
    case toml::node_type::time: return a.as_time()->get() == b.as_time()->get();
    case toml::node_type::date_time: return a.as_date_time()->get() == b.as_date_time()->get();
    default: return false;
  }
}

void diff(const toml::node* a, const toml::node* b, const std::string& path, std::vector<std::string>& out) {
  if (a == nullptr || b == nullptr || a->type() != b->type()) {
    if (a != nullptr || b != nullptr) out.push_back(path);
    return;
  }
  if (const toml::table* ta = a->as_table()) {
    const toml::table* tb = b->as_table();
    for (const auto& [key, value] : *ta) diff(&value, tb->get(key.str()), path + "." + std::string(key.str()), out);
    for (const auto& [key, value] : *tb) {
      if (!ta->contains(key.str())) out.push_back(path + "." + std::string(key.str()));
    }
    return;
  }
  if (const toml::array* aa = a->as_array()) {
    const toml::array* ab = b->as_array();
    if (aa->size() != ab->size()) {
      out.push_back(path);
      return;
    }
    for (size_t i = 0; i < aa->size(); ++i) diff(aa->get(i), ab->get(i), path + "[" + std::to_string(i) + "]", out);
    return;
  }
  if (!same_value(*a, *b)) out.push_back(path);
}

}  // namespace

std::string BackendConfig::endpoint() const { return endpoint_str(addr, port); }

std::string VipConfig::endpoint() const { return endpoint_str(addr, port); }

std::optional<LbConfig> parse_config(const toml::table& root, const std::string& path, Errors& errors) {
  // Collected apart, then handed over in file order.
  Errors found(errors.file());
  LbConfig cfg;
  cfg.path = path;
  cfg.dataplane = parse_dataplane(root, found);
  bool net_ok = network_ok(found.list());
  check_top_level(root, found);
  parse_controlplane(root, found, cfg.controlplane);
  for (VipDraft& d : parse_vips(root, found, cfg.dataplane, net_ok)) {
    if (d.cfg.min_healthy_backends && !cfg.controlplane.bgp) {
      d.s.error("min_healthy_backends", "has no effect without [controlplane.bgp] (nothing is announced)");
    } else if (!d.cfg.min_healthy_backends && cfg.controlplane.bgp && !d.cfg.backends.empty() &&
               cfg.controlplane.bgp->min_healthy_backends > d.cfg.backends.size()) {
      // A VIP with backends that could never be announced is a mistake; one without any is
      // a VIP being set up (it is not announced, and lbctl vip list says why).
      d.s.error("backends", std::to_string(d.cfg.backends.size()) + " backend(s), fewer than controlplane.bgp.min_healthy_backends (" +
                                std::to_string(cfg.controlplane.bgp->min_healthy_backends) +
                                "): it would never be announced; set min_healthy_backends in this VIP");
    }
    cfg.vips.push_back(std::move(d.cfg));
  }

  std::vector<ConfigError> sorted = found.list();
  std::stable_sort(sorted.begin(), sorted.end(), [](const ConfigError& x, const ConfigError& y) {
    return std::pair{x.line, x.column} < std::pair{y.line, y.column};
  });
  for (ConfigError& e : sorted) {
    if (e.line == 0) {
      errors.add(static_cast<const toml::node*>(nullptr), std::move(e.key), std::move(e.message));
    } else {
      toml::source_region where{};
      where.begin = {e.line, e.column};
      errors.add(where, std::move(e.key), std::move(e.message));
    }
  }
  if (!sorted.empty()) return std::nullopt;
  return cfg;
}

std::optional<LbConfig> load_config(const std::string& path, Errors& errors) {
  std::optional<toml::table> root = parse_file(path, errors);
  if (!root) return std::nullopt;
  return parse_config(*root, path, errors);
}

std::vector<std::string> dataplane_changes(const toml::table& before, const toml::table& after) {
  std::vector<std::string> out;
  diff(before.get("dataplane"), after.get("dataplane"), "dataplane", out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace fulcrum::config
