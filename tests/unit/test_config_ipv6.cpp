// Issue 15: IPv6 in the configuration file. The family of an address follows its text;
// each family rule (mixed backends, NAT64 only in fullnat, SNAT and check source of the
// backends' family, link-local and unusable addresses, reachability through address6,
// routes6 and gateway6, duplicates, the IPv6 local-address budget) gives exactly one error,
// with its position: "line:column: key: message" (the column of the value).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader/ip_addr.h"
#include "config/loader/lb_config.h"
#include "tests/unit/temp_config_files.h"

namespace fulcrum::config {
namespace {

const std::string kNet6 = R"([dataplane]
conntrack_entries6 = 4096
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
address6 = "2001:db8:1::1/64"
gateway6 = "2001:db8:1::fe"
[[dataplane.ports]]
name = "backend"
device = "net_tap1"
address = "198.18.2.1/24"
address6 = "2001:db8:2::1/64"
[[dataplane.routes]]
prefix = "203.0.113.0/24"
via = "198.18.2.254"
[[dataplane.routes]]
prefix = "2001:db8:99::/48"
via = "2001:db8:2::fe"
[[dataplane.neighbours]]
address = "2001:db8:2::11"
mac = "02:00:00:00:00:11"
port = "backend"
[controlplane]
hash_seed = "0123456789abcdef"
)";

std::string vip(const std::string& addr, const std::string& extra = "") {
  return "[[vip]]\nname = \"web6\"\naddress = \"" + addr + "\"\nport = 80\n" + extra;
}
std::string backend(const std::string& addr, const std::string& extra = "") {
  return "[[vip.backends]]\naddress = \"" + addr + "\"\nport = 80\n" + extra;
}

// 1-based line of the `nth` (0-based) line of `text` that contains `needle`.
int line_of(const std::string& text, const std::string& needle, int nth = 0) {
  int line = 1;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (text.substr(start, end - start).find(needle) != std::string::npos && nth-- == 0) return line;
    ++line;
    start = end + 1;
  }
  return -1;
}

class ConfigIpv6 : public test::TempConfigFiles {
 protected:
  static std::optional<LbConfig> load(const std::string& name, const std::string& text, std::vector<std::string>* out) {
    std::string path = write(name, text);
    Errors errors(path);
    std::optional<LbConfig> cfg = load_config(path, errors);
    for (const ConfigError& e : errors.list()) out->push_back(e.str().substr(path.size() + 1));
    return cfg;
  }
  static std::string only_error(const std::string& name, const std::string& text) {
    std::vector<std::string> e;
    load(name, text, &e);
    EXPECT_EQ(e.size(), 1u) << name << ":\n" << (e.empty() ? std::string("(valid)") : e[0] + (e.size() > 1 ? "\n" + e[1] : ""));
    return e.empty() ? "" : e[0];
  }
  // "line:column: " of the value of `key = ...` on the line holding `needle`; in an array
  // (`element`), of that element's string.
  static std::string at(const std::string& text, const std::string& needle, int nth = 0, const std::string& element = "") {
    int line = line_of(text, needle, nth);
    size_t pos = 0;
    for (int l = 1; l < line; ++l) pos = text.find('\n', pos) + 1;
    size_t col = element.empty() ? text.find('=', pos) + 2 - pos + 1 : text.find("\"" + element, pos) - pos + 1;
    return std::to_string(line) + ":" + std::to_string(col) + ": ";
  }
  // The message's "line N" of a table: `which` ("[[vip]]", "[[vip.backends]]"), its nth.
  static std::string table_line(const std::string& text, const std::string& which, int nth = 0) {
    return "line " + std::to_string(line_of(text, which, nth));
  }
};

abi::Ip6 ip6(const char* text) { return *parse_ipv6(text); }

TEST_F(ConfigIpv6, DualStackFileLoads) {
  std::string text = kNet6 + vip("2001:db8::10", "mode = \"fullnat\"\nsnat = [\"2001:db8:2::100\"]\n[vip.health]\nsource = \"2001:db8:2::1\"\n") +
                     backend("2001:db8:2::11") + backend("2001:db8:99::12") +
                     "[[vip]]\nname = \"nat64\"\naddress = \"2001:db8::10\"\nport = 443\nmode = \"fullnat\"\nsnat = [\"198.18.2.100\"]\n" +
                     backend("198.18.2.11") + "[[vip]]\nname = \"v4\"\naddress = \"198.18.0.10\"\nport = 80\n" + backend("198.18.2.11");
  std::vector<std::string> errors;
  std::optional<LbConfig> cfg = load("dual", text, &errors);
  ASSERT_TRUE(cfg) << (errors.empty() ? "" : errors[0]);
  const DataplaneConfig& dp = cfg->dataplane;
  EXPECT_EQ(dp.conntrack_entries6, 4096u);
  ASSERT_TRUE(dp.ports[0].address6 && dp.ports[0].gateway6);
  EXPECT_EQ(dp.ports[0].address6->str(), "2001:db8:1::1/64");
  EXPECT_EQ(*dp.ports[0].gateway6, ip6("2001:db8:1::fe"));
  EXPECT_FALSE(dp.ports[1].gateway6);
  ASSERT_EQ(dp.routes.size(), 1u);
  ASSERT_EQ(dp.routes6.size(), 1u);
  EXPECT_EQ(dp.routes6[0].prefix.network_str(), "2001:db8:99::/48");
  EXPECT_EQ(dp.routes6[0].via, ip6("2001:db8:2::fe"));
  ASSERT_EQ(dp.neighbours6.size(), 1u);
  EXPECT_TRUE(dp.neighbours.empty());
  EXPECT_EQ(dp.neighbours6[0].addr, ip6("2001:db8:2::11"));
  EXPECT_EQ(dp.neighbours6[0].port, "backend");
  const VipConfig& v = cfg->vips[0];
  EXPECT_TRUE(v.is_v6());
  EXPECT_EQ(v.addr, IpAddr::from_v6(ip6("2001:db8::10")));
  EXPECT_EQ(v.endpoint(), "[2001:db8::10]:80");
  EXPECT_EQ(v.snat, std::vector<IpAddr>{IpAddr::from_v6(ip6("2001:db8:2::100"))});
  EXPECT_EQ(v.backends[1].endpoint(), "[2001:db8:99::12]:80");
  EXPECT_EQ(v.backends[0].health.source, IpAddr::from_v6(ip6("2001:db8:2::1")));
  EXPECT_EQ(cfg->vips[1].backend_family(), IpFamily::V4);
  EXPECT_EQ(cfg->vips[1].snat[0].str(), "198.18.2.100");
  EXPECT_EQ(cfg->vips[2].endpoint(), "198.18.0.10:80");
}

TEST_F(ConfigIpv6, EndpointsParseAndPrintBothFamilies) {
  EXPECT_EQ(endpoint_str(*parse_ip("2001:db8::1"), 80), "[2001:db8::1]:80");
  auto e = parse_endpoint("[2001:DB8:0::11]:8080");
  ASSERT_TRUE(e);
  EXPECT_EQ(endpoint_str(e->first, e->second), "[2001:db8::11]:8080");
  EXPECT_EQ(endpoint_str(parse_endpoint("198.18.2.11:80")->first, 80), "198.18.2.11:80");
  for (const char* bad : {"2001:db8::1:80", "[2001:db8::1]", "[198.18.2.11]:80", "[2001:db8::1]:0", "[2001:db8::1]:65536",
                          "[fe80::1%eth0]:80", "198.18.2.11:", "[2001:db8::g]:80"}) {
    EXPECT_FALSE(parse_endpoint(bad)) << bad;
  }
}

// ------------------------------------------------------------------ [dataplane]

TEST_F(ConfigIpv6, DataplaneIpv6Rules) {
  struct Case {
    const char* name;
    std::string from, to, needle, want;
  };
  const std::vector<Case> cases = {
      {"bad-address6", "address6 = \"2001:db8:1::1/64\"", "address6 = \"2001:db8:1::1\"", "address6 = \"2001:db8:1::1\"",
       "dataplane.ports[0].address6: \"2001:db8:1::1\" is not an IPv6 address with a prefix length (e.g. \"2001:db8:1::1/64\")"},
      {"link-local-address6", "address6 = \"2001:db8:1::1/64\"", "address6 = \"fe80::1/64\"", "fe80::1/64",
       "dataplane.ports[0].address6: \"fe80::1/64\" cannot be a port address6 (needs a global or unique-local unicast "
       "address with prefix /1../127)"},
      {"gateway6-off-prefix", "gateway6 = \"2001:db8:1::fe\"", "gateway6 = \"2001:db8:7::fe\"", "2001:db8:7::fe",
       "dataplane.ports[0].gateway6: 2001:db8:7::fe is not on this port's prefix 2001:db8:1::/64"},
      {"gateway6-link-local", "gateway6 = \"2001:db8:1::fe\"", "gateway6 = \"fe80::fe\"", "fe80::fe",
       "dataplane.ports[0].gateway6: fe80::fe is a link-local address (fe80::/10); use the neighbour's global or "
       "unique-local address"},
      {"gateway6-own", "gateway6 = \"2001:db8:1::fe\"", "gateway6 = \"2001:db8:1::1\"", "gateway6",
       "dataplane.ports[0].gateway6: 2001:db8:1::1 is this node's own address (port \"client\"): a gateway is another "
       "host on the prefix"},
      {"route6-mixed", "via = \"2001:db8:2::fe\"", "via = \"198.18.2.253\"", "via = \"198.18.2.253\"",
       "dataplane.routes[1].via: 198.18.2.253 is IPv4 but the prefix is IPv6: a route's next hop is of its prefix's family"},
      {"route4-mixed", "via = \"198.18.2.254\"", "via = \"2001:db8:2::fe\"", "via = \"2001:db8:2::fe\"",
       "dataplane.routes[0].via: \"2001:db8:2::fe\" is IPv6 but the prefix is IPv4: a route's next hop is of its "
       "prefix's family"},
      {"route6-off-link", "via = \"2001:db8:2::fe\"", "via = \"2001:db8:5::fe\"", "2001:db8:5::fe",
       "dataplane.routes[1].via: 2001:db8:5::fe is not on any port's address6 prefix"},
      {"route6-link-local", "via = \"2001:db8:2::fe\"", "via = \"fe80::fe\"", "fe80::fe",
       "dataplane.routes[1].via: fe80::fe is a link-local address (fe80::/10); use the neighbour's global or unique-local "
       "address"},
      {"route6-own", "via = \"2001:db8:2::fe\"", "via = \"2001:db8:2::1\"", "via = \"2001:db8:2::1\"",
       "dataplane.routes[1].via: 2001:db8:2::1 is this node's own address (port \"backend\"): a next hop is another host "
       "on a port's prefix"},
      {"neighbour6-off-prefix", "address = \"2001:db8:2::11\"", "address = \"2001:db8:1::11\"", "2001:db8:1::11",
       "dataplane.neighbours[0].address: 2001:db8:1::11 is not on port \"backend\"'s prefix 2001:db8:2::/64"},
      {"overlapping-address6", "address6 = \"2001:db8:2::1/64\"", "address6 = \"2001:db8::2/32\"", "2001:db8::2/32",
       "dataplane.ports[1].address6: 2001:db8::/32 overlaps port \"client\"'s prefix 2001:db8:1::/64: the data plane "
       "could not tell which port an address is on; give each port its own prefix"},
      {"conntrack6-range", "conntrack_entries6 = 4096", "conntrack_entries6 = 1000", "conntrack_entries6",
       "dataplane.conntrack_entries6: 1000 is out of range (1024 .. 67108864)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string text = kNet6;
    size_t pos = text.find(c.from);
    ASSERT_NE(pos, std::string::npos);
    text.replace(pos, c.from.size(), c.to);
    EXPECT_EQ(only_error(c.name, text), at(text, c.needle) + c.want);
  }
}

TEST_F(ConfigIpv6, Neighbour6OnAPortWithoutAddress6) {
  std::string text = kNet6;
  text.replace(text.find("address6 = \"2001:db8:2::1/64\"\n"), 29, "");
  text.replace(text.find("prefix = \"2001:db8:99::/48\"\nvia = \"2001:db8:2::fe\"\n"), 50,
               "prefix = \"2001:db8:99::/48\"\nvia = \"2001:db8:1::fe\"\n");
  EXPECT_EQ(only_error("neighbour6-no-address6", text),
            at(text, "address = \"2001:db8:2::11\"") + "dataplane.neighbours[0].address: 2001:db8:2::11: port \"backend\" has no address6");
}

// ------------------------------------------------------------------ VIPs

TEST_F(ConfigIpv6, VipFamilyRules) {
  struct Case {
    const char* name;
    std::string vips, needle;
    int nth;
    std::string want;
    std::string element = "";  // the array element the error is at
  };
  const std::vector<Case> cases = {
      {"mixed-backends", vip("2001:db8::10") + backend("2001:db8:2::11") + backend("198.18.2.11"), "198.18.2.11", 0,
       "vip[0].backends[1].address: IPv4 backend 198.18.2.11:80 but backend [2001:db8:2::11]:80 ({B0}) is IPv6: a "
       "VIP's backends are all of one family; put them in two VIPs"},
      {"v4-vip-v6-backend", vip("198.18.0.10") + backend("2001:db8:2::11"), "2001:db8:2::11", 1,
       "vip[0].backends[0].address: IPv6 backend [2001:db8:2::11]:80 of IPv4 VIP 198.18.0.10:80: an IPv4 VIP needs IPv4 "
       "backends (only IPv6 to IPv4 is translated, by fullnat)"},
      {"nat64-in-nat", vip("2001:db8::10") + backend("198.18.2.11"), "198.18.2.11", 0,
       "vip[0].backends[0].address: IPv4 backend 198.18.2.11:80 of IPv6 VIP [2001:db8::10]:80 in mode \"nat\": NAT64 "
       "needs fullnat (set mode = \"fullnat\" with an IPv4 snat pool)"},
      {"snat-family", vip("2001:db8::10", "mode = \"fullnat\"\nsnat = [\"2001:db8:2::100\"]\n") + backend("198.18.2.11"),
       "snat", 0,
       "vip[0].snat[0]: 2001:db8:2::100 is IPv6 but this VIP's backends are IPv4: SNAT addresses are of the backends' "
       "family (the source address the backends see)", "2001:db8:2::100"},
      {"snat-mixed", vip("2001:db8::10", "mode = \"fullnat\"\nsnat = [\"2001:db8:2::100\", \"198.18.2.100\"]\n"), "snat",
       0, "vip[0].snat[1]: 198.18.2.100 is IPv4 but 2001:db8:2::100 is IPv6: a VIP's SNAT addresses are all of its "
          "backends' family", "198.18.2.100"},
      {"check-source-family", vip("2001:db8::10", "[vip.health]\nsource = \"198.18.2.1\"\n") + backend("2001:db8:2::11"),
       "source", 0,
       "vip[0].health.source: 198.18.2.1 is IPv4 but this VIP's backends are IPv6: a check's source address is of the "
       "backend's family"},
      {"backend-check-source-family",
       vip("2001:db8::10") + backend("2001:db8:2::11", "[vip.backends.health]\nsource = \"198.18.2.1\"\n"), "source", 0,
       "vip[0].backends[0].health.source: 198.18.2.1 is IPv4 but backend 2001:db8:2::11 is IPv6: a check's source "
       "address is of the backend's family"},
      {"link-local-vip", vip("fe80::10"), "fe80::10", 0,
       "vip[0].address: \"fe80::10\" cannot be a VIP address: link-local addresses (fe80::/10) are valid on one link "
       "only; use a global or unique-local address"},
      {"loopback-vip", vip("::1"), "address = \"::1\"", 0,
       "vip[0].address: \"::1\" cannot be a VIP address: ::, ::1, ff00::/8 and IPv4-mapped ::ffff:0:0/96 are not unicast "
       "addresses the data plane can use"},
      {"mapped-backend", vip("2001:db8::10") + backend("::ffff:198.18.2.11"), "::ffff:198.18.2.11", 0,
       "vip[0].backends[0].address: \"::ffff:198.18.2.11\" cannot be a backend address: ::, ::1, ff00::/8 and IPv4-mapped "
       "::ffff:0:0/96 are not unicast addresses the data plane can use"},
      {"link-local-snat", vip("2001:db8::10", "mode = \"fullnat\"\nsnat = [\"fe80::100\"]\n"), "snat", 0,
       "vip[0].snat[0]: \"fe80::100\" cannot be a SNAT address: link-local addresses (fe80::/10) are valid on one link "
       "only; use a global or unique-local address", "fe80::100"},
      {"bad-v6-text", vip("2001:db8::10::1"), "2001:db8::10::1", 0,
       "vip[0].address: \"2001:db8::10::1\" is not an IPv6 address (e.g. \"2001:db8::1\")"},
      {"snat-off-prefix", vip("2001:db8::10", "mode = \"fullnat\"\nsnat = [\"2001:db8:5::100\"]\n") + backend("2001:db8:2::11"),
       "snat", 0,
       "vip[0].snat[0]: 2001:db8:5::100 is not on any [dataplane] port's address6 prefix (2001:db8:1::1/64, "
       "2001:db8:2::1/64): the data plane could not answer neighbour solicitations for it, so backends' replies would "
       "never arrive; use a free address on the backend port's address6 prefix", "2001:db8:5::100"},
      {"snat-own-port", vip("2001:db8::10", "mode = \"fullnat\"\nsnat = [\"2001:db8:2::1\"]\n") + backend("2001:db8:2::11"),
       "snat", 0,
       "vip[0].snat[0]: 2001:db8:2::1 is the address of [dataplane] port \"backend\"; SNAT needs other free addresses on "
       "a port's subnet", "2001:db8:2::1"},
      {"vip-gateway6", vip("2001:db8:1::fe"), "2001:db8:1::fe", 1,
       "vip[0].address: 2001:db8:1::fe is the gateway6 of port \"client\": the data plane would answer neighbour "
       "solicitations for it; a VIP needs an address of its own"},
      {"backend-anycast", vip("2001:db8::10") + backend("2001:db8:2::"), "2001:db8:2::\"", 0,
       "vip[0].backends[0].address: 2001:db8:2:: is the subnet-router anycast address of port \"backend\"'s prefix "
       "2001:db8:2::/64; a backend needs a host address"},
      {"backend-unrouted", vip("2001:db8::10") + backend("2001:db8:77::11"), "2001:db8:77::11", 0,
       "vip[0].backends[0].address: no route to backend [2001:db8:77::11]:80: not on a [dataplane] port's address6 "
       "prefix, and no IPv6 route or gateway6 covers it (add a [[dataplane.routes]] entry with an IPv6 prefix, or a "
       "gateway6 to a port)"},
      {"synproxy-v6", vip("2001:db8::10", "synproxy = \"on\"\n"), "synproxy", 0,
       "vip[0].synproxy: \"on\" on IPv6 VIP 2001:db8::10: synproxy is IPv4-only for now (the data plane does not proxy "
       "IPv6 handshakes); remove synproxy or set it to \"off\""},
      {"backend-twice", vip("2001:db8::10") + backend("2001:db8:2::11") + backend("2001:DB8:2:0::11"), "2001:DB8:2:0::11",
       0, "vip[0].backends[1].address: backend [2001:db8:2::11]:80 is listed twice in this VIP (first at {B0})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string text = kNet6 + c.vips;
    if (std::string(c.name) == "backend-unrouted") text.erase(text.find("gateway6 = "), 28);  // a gateway6 routes all
    std::string want = c.want;
    if (size_t b0 = want.find("{B0}"); b0 != std::string::npos) want.replace(b0, 4, table_line(text, "[[vip.backends]]"));
    EXPECT_EQ(only_error(c.name, text), at(text, c.needle, c.nth, c.element) + want);
  }
}

TEST_F(ConfigIpv6, DuplicatesAcrossVips) {
  std::string text = kNet6 + vip("2001:db8::10") + backend("2001:db8:2::11") +
                     "[[vip]]\nname = \"again\"\naddress = \"2001:db8:0::10\"\nport = 80\n";
  EXPECT_EQ(only_error("vip-twice", text),
            at(text, "port = 80", 2) + "vip[1].port: [2001:db8::10]:80 is already VIP \"web6\" (" +
                                       table_line(text, "[[vip]]") + "); each VIP needs its own address:port");
  text = kNet6 + vip("2001:db8::10") + backend("2001:db8:2::11") +
         "[[vip]]\nname = \"other\"\naddress = \"2001:db8::20\"\nport = 80\n" + backend("2001:db8:2::11");
  EXPECT_EQ(only_error("nat-backend-twice", text),
            at(text, "2001:db8:2::11", 2) +
                "vip[1].backends[0].address: backend [2001:db8:2::11]:80 of nat VIP \"other\" is also a backend of nat VIP "
                "\"web6\" (" + table_line(text, "[[vip]]") + "): the data plane could not tell their replies apart; make one of "
                "the two VIPs fullnat, or give the backends distinct ports");
}

TEST_F(ConfigIpv6, Ipv6NeedsAPortWithAddress6) {
  std::string text = R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
[controlplane]
hash_seed = "0123456789abcdef"
)" + vip("2001:db8::10");
  EXPECT_EQ(only_error("no-address6", text),
            at(text, "2001:db8::10") + "vip[0].address: IPv6 VIP 2001:db8::10 but no [[dataplane.ports]] has an address6: "
                                       "the data plane carries no IPv6 (give the ports their IPv6 addresses, e.g. "
                                       "address6 = \"2001:db8:1::1/64\")");
}

// The IPv6 VIP and SNAT addresses have a budget of their own (local_addrs6), apart from IPv4's.
TEST_F(ConfigIpv6, LocalAddressBudgetCountsIpv6Apart) {
  std::string text = kNet6;
  text.replace(text.find("address6 = \"2001:db8:2::1/64\""), 29, "address6 = \"2001:db8:2::1/48\"");
  text.replace(text.find("2001:db8:99::/48"), 16, "2001:db9:99::/48");
  for (size_t i = 0; i < kMaxVips; ++i) {
    // 5 addresses a VIP (its own, 4 SNAT): the 205th VIP brings the 1025th.
    char buf[256];
    snprintf(buf, sizeof buf,
             "[[vip]]\nname = \"v%zu\"\naddress = \"2001:db8:%zx::10\"\nport = 80\nmode = \"fullnat\"\nsnat = "
             "[\"2001:db8:2:%zx::a1\", \"2001:db8:2:%zx::a2\", \"2001:db8:2:%zx::a3\", \"2001:db8:2:%zx::a4\"]\n",
             i, i + 0x100, i, i, i, i);
    text += buf;
  }
  std::vector<std::string> errors;
  load("budget6", text, &errors);
  ASSERT_EQ(errors.size(), 1u) << (errors.empty() ? "" : errors[0]);
  EXPECT_NE(errors[0].find("vip[204].address: with this VIP there are 1025 distinct IPv6 VIP and SNAT addresses; the "
                           "data plane answers neighbour solicitations for at most 1024"),
            std::string::npos)
      << errors[0];
}

}  // namespace
}  // namespace fulcrum::config
