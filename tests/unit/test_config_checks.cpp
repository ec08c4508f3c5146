// Issue 10's config checks: what `lbctl config check` refuses besides syntax and ranges.
// Files that are not configuration files (a directory, a FIFO, /dev/zero, a huge file),
// addresses that are special on the data plane's network, and the new health-check keys.
// Each broken file must give exactly the one error named, at its position.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <fstream>
#include <string>
#include <vector>

#include "config/loader/lb_config.h"
#include "config/loader/parse_file.h"
#include "tests/unit/temp_config_files.h"

namespace fulcrum::config {
namespace {

const std::string kNet = R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
gateway = "198.18.1.254"
[[dataplane.ports]]
name = "backend"
device = "net_tap1"
address = "198.18.2.1/24"
[[dataplane.routes]]
prefix = "203.0.113.0/24"
via = "198.18.2.254"
)";
const std::string kCp = "[controlplane]\nhash_seed = \"0123456789abcdef\"\n";
const std::string kVip = "[[vip]]\nname = \"web\"\naddress = \"198.18.0.10\"\nport = 80\n";
const std::string kBackend = "[[vip.backends]]\naddress = \"198.18.2.11\"\nport = 80\n";

class ConfigChecks : public test::TempConfigFiles {
 protected:
  // Loads `text`; returns every error as "line:column: key: message" (no file name).
  static std::vector<std::string> errors_of(const std::string& name, const std::string& text) {
    std::string path = write(name, text);
    Errors errors(path);
    std::optional<LbConfig> cfg = load_config(path, errors);
    std::vector<std::string> out;
    for (const ConfigError& e : errors.list()) out.push_back(e.str().substr(path.size() + 1));
    if (cfg) {
      EXPECT_TRUE(out.empty());
    }
    return out;
  }
  static std::string only_error(const std::string& name, const std::string& text) {
    std::vector<std::string> e = errors_of(name, text);
    EXPECT_EQ(e.size(), 1u) << name << ":\n" << (e.empty() ? std::string("(valid)") : e[0] + (e.size() > 1 ? "\n" + e[1] : ""));
    return e.empty() ? "" : e[0];
  }
};

TEST_F(ConfigChecks, TheBaseFileIsValid) { EXPECT_TRUE(errors_of("base", kNet + kCp + kVip + kBackend).empty()); }

// ------------------------------------------------------------------ not a config file

TEST_F(ConfigChecks, OnlyRegularFilesOfBoundedSizeAreRead) {
  std::string text;
  EXPECT_EQ(read_config_file(dir_, &text), "is a directory, not a configuration file");
  std::string fifo = dir_ + "/fifo.toml";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(read_config_file(fifo, &text), "is a FIFO, not a configuration file");  // and it does not block
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  EXPECT_EQ(read_config_file("/dev/zero", &text), "is a character device, not a configuration file");
  std::string huge = dir_ + "/huge.toml";
  std::ofstream(huge).close();
  std::filesystem::resize_file(huge, kMaxConfigBytes + 1);  // sparse: costs no disk
  EXPECT_NE(read_config_file(huge, &text).find("is 67108865 bytes; a configuration file has at most 67108864"), std::string::npos);
  // Through the loader: one file-level error, no "no [dataplane] section" follow-ons.
  Errors errors(dir_);
  EXPECT_FALSE(load_config(dir_, errors));
  ASSERT_EQ(errors.list().size(), 1u) << errors.str();
  EXPECT_EQ(errors.list()[0].str(), dir_ + ": is a directory, not a configuration file");
}

// ------------------------------------------------------------------ [dataplane] network

TEST_F(ConfigChecks, OverlappingPortSubnets) {
  std::string net = kNet;
  net.replace(net.find("198.18.2.1/24"), 13, "198.18.0.1/16");
  EXPECT_EQ(only_error("overlap", net + kCp),
            "10:11: dataplane.ports[1].address: 198.18.0.0/16 overlaps port \"client\"'s subnet 198.18.1.0/24: the data plane "
            "could not tell which port an address is on; give each port its own subnet");
}

TEST_F(ConfigChecks, PortAddressThatIsTheNetworkOrBroadcastAddress) {
  std::string net = kNet;
  net.replace(net.find("198.18.2.1/24"), 13, "198.18.2.255/24");
  EXPECT_EQ(only_error("port-broadcast", net + kCp),
            "10:11: dataplane.ports[1].address: 198.18.2.255 is the broadcast address of 198.18.2.0/24; a port needs a host "
            "address of its subnet");
}

TEST_F(ConfigChecks, GatewayThatIsThePortsOwnAddress) {
  std::string net = kNet;
  net.replace(net.find("198.18.1.254"), 12, "198.18.1.1");
  EXPECT_EQ(only_error("gateway-self", net + kCp),
            "6:11: dataplane.ports[0].gateway: 198.18.1.1 is the address of port \"client\": a gateway is another host on "
            "the subnet");
}

TEST_F(ConfigChecks, RouteViaTheNodesOwnAddress) {
  std::string net = kNet;
  net.replace(net.find("198.18.2.254"), 12, "198.18.2.1");
  EXPECT_EQ(only_error("route-via-self", net + kCp),
            "13:7: dataplane.routes[0].via: 198.18.2.1 is this node's own address (port \"backend\"): a next hop is another "
            "host on a port's subnet");
}

TEST_F(ConfigChecks, ConflictingStaticNeighbours) {
  std::string n = "[[dataplane.neighbours]]\naddress = \"198.18.2.11\"\nmac = \"02:00:00:00:00:01\"\nport = \"backend\"\n";
  std::string other = "[[dataplane.neighbours]]\naddress = \"198.18.2.11\"\nmac = \"02:00:00:00:00:02\"\nport = \"backend\"\n";
  EXPECT_EQ(only_error("neighbour-conflict", kNet + n + other + kCp),
            "19:11: dataplane.neighbours[1].address: 198.18.2.11 is also dataplane.neighbours[0] with MAC 02:00:00:00:00:01 "
            "on port \"backend\": one address has one MAC");
  EXPECT_EQ(only_error("neighbour-twice", kNet + n + n + kCp),
            "19:11: dataplane.neighbours[1].address: 198.18.2.11 is listed twice (also dataplane.neighbours[0])");
  std::string self = "[[dataplane.neighbours]]\naddress = \"198.18.2.1\"\nmac = \"02:00:00:00:00:01\"\nport = \"backend\"\n";
  EXPECT_EQ(only_error("neighbour-self", kNet + self + kCp),
            "15:11: dataplane.neighbours[0].address: 198.18.2.1 is this node's own address (port \"backend\")");
}

// ------------------------------------------------------------------ VIP, SNAT, backend

TEST_F(ConfigChecks, VipThatIsAGatewayOrANextHop) {
  std::string vip = kVip;
  vip.replace(vip.find("198.18.0.10"), 11, "198.18.1.254");
  EXPECT_EQ(only_error("vip-gateway", kNet + kCp + vip),
            "18:11: vip[0].address: 198.18.1.254 is the gateway of port \"client\": the data plane would answer ARP for it; "
            "a VIP needs an address of its own");
  vip = kVip;
  vip.replace(vip.find("198.18.0.10"), 11, "198.18.2.254");
  EXPECT_EQ(only_error("vip-next-hop", kNet + kCp + vip),
            "18:11: vip[0].address: 198.18.2.254 is the next hop of the route to 203.0.113.0/24: the data plane would answer "
            "ARP for it; a VIP needs an address of its own");
}

TEST_F(ConfigChecks, VipSnatOrBackendOnANetworkOrBroadcastAddress) {
  std::string vip = kVip;
  vip.replace(vip.find("198.18.0.10"), 11, "198.18.1.255");
  EXPECT_EQ(only_error("vip-broadcast", kNet + kCp + vip),
            "18:11: vip[0].address: 198.18.1.255 is the broadcast address of port \"client\"'s subnet 198.18.1.0/24: the "
            "data plane would answer ARP for it; a VIP needs an address of its own");
  std::string backend = kBackend;
  backend.replace(backend.find("198.18.2.11"), 11, "198.18.2.0");
  EXPECT_EQ(only_error("backend-network", kNet + kCp + kVip + backend),
            "21:11: vip[0].backends[0].address: 198.18.2.0 is the network address of port \"backend\"'s subnet "
            "198.18.2.0/24; a backend needs a host address");
  std::string full = "[[vip]]\nname = \"full\"\naddress = \"198.18.0.20\"\nport = 80\nmode = \"fullnat\"\nsnat = [\"198.18.2.254\"]\n";
  EXPECT_EQ(only_error("snat-next-hop", kNet + kCp + full),
            "21:9: vip[0].snat[0]: 198.18.2.254 is the next hop of the route to 203.0.113.0/24; SNAT needs other free "
            "addresses on a port's subnet");
}

// ------------------------------------------------------------------ health-check keys

TEST_F(ConfigChecks, HealthCheckSourceBodyAndStartDown) {
  std::string health = "[vip.health]\ntype = \"http\"\nexpect_body = \"ok\"\nsource = \"198.18.2.1\"\nstart_down = true\n";
  std::string path = write("health-keys", kNet + kCp + kVip + health + kBackend);
  Errors errors(path);
  std::optional<LbConfig> cfg = load_config(path, errors);
  ASSERT_TRUE(cfg) << errors.str();
  const HealthCheck& h = cfg->vips[0].backends[0].health;
  EXPECT_EQ(h.expect_body, "ok");
  EXPECT_EQ(h.source, IpAddr::from_v4(cfg->dataplane.ports[1].address.addr_be));
  EXPECT_TRUE(h.start_down);

  EXPECT_EQ(only_error("body-on-tcp", kNet + kCp + kVip + "[vip.health]\nexpect_body = \"ok\"\n"),
            "21:15: vip[0].health.expect_body: is only used by http checks, and this check is type \"tcp\", the default; set "
            "type = \"http\" or remove expect_body");
  EXPECT_EQ(only_error("body-on-head", kNet + kCp + kVip + "[vip.health]\ntype = \"http\"\nmethod = \"HEAD\"\nexpect_body = \"ok\"\n"),
            "23:15: vip[0].health.expect_body: a HEAD request gets no body (method \"HEAD\"); use method = \"GET\" or "
            "remove expect_body");
  EXPECT_EQ(only_error("body-empty", kNet + kCp + kVip + "[vip.health]\ntype = \"http\"\nexpect_body = \"\"\n"),
            "22:15: vip[0].health.expect_body: must be 1 to 256 printable ASCII characters (a substring the response body "
            "must contain)");
  EXPECT_EQ(only_error("source-bad", kNet + kCp + kVip + "[vip.health]\nsource = \"127.0.0.1\"\n"),
            "21:10: vip[0].health.source: \"127.0.0.1\" cannot be a health-check source address: 0.0.0.0/8, 127.0.0.0/8 and "
            "224.0.0.0 and above are not unicast addresses the data plane can use");
  EXPECT_EQ(only_error("start-down-type", kNet + kCp + kVip + "[vip.health]\nstart_down = \"yes\"\n"),
            "21:14: vip[0].health.start_down: must be true or false, not a string");
}


// ------------------------------------------------------------------ docs/config.md

// Every table of docs/config.md lists exactly the keys the loader reads in that section
// (the loader names them when it finds an unknown key).
TEST_F(ConfigChecks, ConfigDocsListExactlyTheKeysTheLoaderReads) {
  const char* root = std::getenv("FULCRUM_SOURCE_ROOT");
  std::ifstream in(std::string(root != nullptr ? root : ".") + "/docs/config.md");
  std::stringstream doc;
  doc << in.rdbuf();
  ASSERT_FALSE(doc.str().empty());
  const std::map<std::string, std::string> headings = {
      {"## `[dataplane]`", "dataplane"},
      {"### `[[dataplane.ports]]`", "dataplane.ports"},
      {"### `[[dataplane.routes]]`", "dataplane.routes"},
      {"### `[[dataplane.neighbours]]`", "dataplane.neighbours"},
      {"### `[dataplane.timeouts]`", "dataplane.timeouts"},
      {"## `[controlplane]`", "controlplane"},
      {"### `[controlplane.bgp]`", "controlplane.bgp"},
      {"## `[[vip]]`", "vip"},
      {"## `[vip.health]` and `[vip.backends.health]`", "vip.health"},
      {"## `[[vip.backends]]`", "vip.backends"},
  };
  std::map<std::string, std::set<std::string>> documented;
  std::string section;
  std::regex key_row(R"(^\| `([a-z0-9_]+)` \|)");  // digits: address6, conntrack_entries6
  std::istringstream lines(doc.str());
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("#", 0) == 0) section = headings.count(line) ? headings.at(line) : "";
    std::smatch m;
    if (!section.empty() && std::regex_search(line, m, key_row)) documented[section].insert(m[1]);
  }
  ASSERT_EQ(documented.size(), headings.size()) << "a section of docs/config.md has no key table";

  // Every section present once, so that a stray key can be put in each.
  const std::vector<std::pair<std::string, std::string>> file = {
      {"dataplane", "[dataplane]\n"},
      {"dataplane.ports", "[[dataplane.ports]]\nname = \"client\"\ndevice = \"net_tap0\"\naddress = \"198.18.1.1/24\"\n"},
      {"dataplane.routes", "[[dataplane.routes]]\nprefix = \"203.0.113.0/24\"\nvia = \"198.18.1.254\"\n"},
      {"dataplane.neighbours", "[[dataplane.neighbours]]\naddress = \"198.18.1.9\"\nmac = \"02:00:00:00:00:01\"\nport = \"client\"\n"},
      {"dataplane.timeouts", "[dataplane.timeouts]\nsyn = 60\n"},
      {"controlplane", "[controlplane]\nhash_seed = \"0123456789abcdef\"\n"},
      {"controlplane.bgp", "[controlplane.bgp]\nprotocol = \"fulcrum_vips\"\n"},
      {"vip", "[[vip]]\nname = \"web\"\naddress = \"198.18.0.10\"\nport = 80\n"},
      {"vip.health", "[vip.health]\ninterval_ms = 2000\n"},
      {"vip.backends", "[[vip.backends]]\naddress = \"198.18.1.11\"\nport = 80\n"},
  };
  for (const auto& [target, unused] : file) {
    std::string text;
    for (const auto& [name, part] : file) {
      std::string p = part;
      if (name == target) p.insert(p.find('\n') + 1, "zzz = 1\n");
      text += p;
    }
    std::string path = write("keys-" + target, text);
    Errors errors(path);
    EXPECT_FALSE(load_config(path, errors));
    std::set<std::string> known;
    for (const ConfigError& e : errors.list()) {
      size_t at = e.message.find("known keys here: ");
      if (e.key.size() < 4 || e.key.substr(e.key.size() - 4) != ".zzz" || at == std::string::npos) continue;
      std::istringstream list(e.message.substr(at + 17, e.message.rfind(')') - at - 17));
      for (std::string k; std::getline(list, k, ',');) known.insert(k.substr(k.find_first_not_of(' ')));
    }
    ASSERT_FALSE(known.empty()) << target << ":\n" << errors.str();
    EXPECT_EQ(documented[target], known) << "docs/config.md's table for " << target << " and the loader's keys differ";
  }
}

}  // namespace
}  // namespace fulcrum::config
