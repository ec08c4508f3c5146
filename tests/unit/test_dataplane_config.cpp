// The [dataplane] section through load_dataplane(): files written to a temporary
// directory, exactly as lb-dataplane reads them.
//
// Broken configs are a table of {name, file text, expected message}; the expectation is
// the whole ConfigError::str() of the first error ("FILE:line:column: key: message"), so
// a moved position or a reworded message is a visible change. Each message was checked
// for being one an operator can act on: it names the key, shows what was read and what
// is wanted.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "tests/unit/temp_config_files.h"
#include <toml++/toml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/loader/dataplane_config.h"
#include "config/loader/errors.h"

namespace fulcrum::config {
namespace {

uint32_t ip(const char* text) {
  in_addr a{};
  EXPECT_EQ(inet_pton(AF_INET, text, &a), 1) << text;
  return a.s_addr;
}

class DataplaneConfigLoad : public test::TempConfigFiles {};

// ------------------------------------------------------------------ valid files

constexpr const char* kComplete = R"([dataplane]
eal_args = ["--in-memory", "--no-telemetry", "--log-level=lib.eal:debug"]
main_lcore = 2
worker_lcores = [3, 5, 4]
conntrack_entries = 2097152
mbufs = 65535
idle_sleep_us = 50
shm_tables = "/lb-tables"
shm_status = "/lb-status"

[[dataplane.ports]]
name = "client"
device = "0000:3b:00.0"
address = "198.18.1.1/24"
gateway = "198.18.1.254"
rx_descriptors = 2048
tx_descriptors = 512

[[dataplane.ports]]
name = "backend-net_2"
device = "net_af_xdp0,iface=eth1"
address = "198.18.2.1/23"

[[dataplane.routes]]
prefix = "203.0.113.0/24"
via = "198.18.2.254"

[[dataplane.routes]]
prefix = "10.0.0.7/8"
via = "198.18.1.253"

[[dataplane.neighbours]]
address = "198.18.2.11"
mac = "02:00:00:00:00:0b"
port = "backend-net_2"

[[dataplane.neighbours]]
address = "198.18.3.12"
mac = "02:AB:cd:EF:00:FF"
port = "backend-net_2"

[dataplane.timeouts]
syn = 30
established = 3600
closing = 60
closed = 5

[controlplane]
ignored = "the data plane reads only its own section"
)";

TEST_F(DataplaneConfigLoad, CompleteConfigParsesToItsValues) {
  std::string path = write("complete", kComplete);
  Errors errors(path);
  std::optional<DataplaneConfig> cfg = load_dataplane(path, errors);
  ASSERT_TRUE(cfg.has_value()) << errors.str();
  EXPECT_TRUE(errors.empty());

  EXPECT_EQ(cfg->eal_args, (std::vector<std::string>{"--in-memory", "--no-telemetry", "--log-level=lib.eal:debug"}));
  EXPECT_EQ(cfg->main_lcore, 2u);
  EXPECT_EQ(cfg->worker_lcores, (std::vector<uint32_t>{3, 5, 4})) << "order kept";
  EXPECT_EQ(cfg->conntrack_entries, 2097152u);
  EXPECT_EQ(cfg->mbufs, 65535u);
  EXPECT_EQ(cfg->idle_sleep_us, 50u);
  EXPECT_EQ(cfg->shm_tables, "/lb-tables");
  EXPECT_EQ(cfg->shm_status, "/lb-status");

  ASSERT_EQ(cfg->ports.size(), 2u);
  const PortConfig& c = cfg->ports[0];
  EXPECT_EQ(c.name, "client");
  EXPECT_EQ(c.device, "0000:3b:00.0");
  EXPECT_EQ(c.address.addr_be, ip("198.18.1.1")) << "the interface address keeps its host bits";
  EXPECT_EQ(c.address.length, 24);
  ASSERT_TRUE(c.gateway_be.has_value());
  EXPECT_EQ(*c.gateway_be, ip("198.18.1.254"));
  EXPECT_EQ(c.rx_descriptors, 2048);
  EXPECT_EQ(c.tx_descriptors, 512);
  const PortConfig& b = cfg->ports[1];
  EXPECT_EQ(b.name, "backend-net_2");
  EXPECT_EQ(b.device, "net_af_xdp0,iface=eth1");
  EXPECT_EQ(b.address.addr_be, ip("198.18.2.1"));
  EXPECT_EQ(b.address.length, 23);
  EXPECT_FALSE(b.gateway_be.has_value());
  EXPECT_EQ(b.rx_descriptors, 1024) << "default";
  EXPECT_EQ(b.tx_descriptors, 1024) << "default";
  EXPECT_EQ(cfg->port_index("client"), 0);
  EXPECT_EQ(cfg->port_index("backend-net_2"), 1);
  EXPECT_EQ(cfg->port_index("backend"), -1);

  ASSERT_EQ(cfg->routes.size(), 2u);
  EXPECT_EQ(cfg->routes[0].prefix.addr_be, ip("203.0.113.0"));
  EXPECT_EQ(cfg->routes[0].prefix.length, 24);
  EXPECT_EQ(cfg->routes[0].via_be, ip("198.18.2.254"));
  EXPECT_EQ(cfg->routes[1].prefix.addr_be, ip("10.0.0.7")) << "host bits are kept as written";
  EXPECT_EQ(cfg->routes[1].prefix.length, 8);
  EXPECT_EQ(cfg->routes[1].via_be, ip("198.18.1.253"));

  ASSERT_EQ(cfg->neighbours.size(), 2u);
  EXPECT_EQ(cfg->neighbours[0].addr_be, ip("198.18.2.11"));
  EXPECT_EQ(cfg->neighbours[0].mac, (Mac{0x02, 0, 0, 0, 0, 0x0b}));
  EXPECT_EQ(cfg->neighbours[0].port, "backend-net_2");
  EXPECT_EQ(cfg->neighbours[1].addr_be, ip("198.18.3.12")) << "on the /23";
  EXPECT_EQ(cfg->neighbours[1].mac, (Mac{0x02, 0xab, 0xcd, 0xef, 0x00, 0xff})) << "either case";

  EXPECT_EQ(cfg->timeouts.syn, 30u);
  EXPECT_EQ(cfg->timeouts.established, 3600u);
  EXPECT_EQ(cfg->timeouts.closing, 60u);
  EXPECT_EQ(cfg->timeouts.closed, 5u);
}

TEST_F(DataplaneConfigLoad, DefaultsWhenOptionalKeysAreAbsent) {
  std::string path = write("minimal", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
)");
  Errors errors(path);
  std::optional<DataplaneConfig> cfg = load_dataplane(path, errors);
  ASSERT_TRUE(cfg.has_value()) << errors.str();
  const DataplaneConfig defaults;
  EXPECT_TRUE(cfg->eal_args.empty());
  EXPECT_EQ(cfg->main_lcore, 0u);
  EXPECT_EQ(cfg->worker_lcores, std::vector<uint32_t>{1});
  EXPECT_EQ(cfg->conntrack_entries, 1u << 20);
  EXPECT_EQ(cfg->mbufs, 16383u);
  EXPECT_EQ(cfg->idle_sleep_us, 0u);
  EXPECT_EQ(cfg->shm_tables, "/fulcrum-tables");
  EXPECT_EQ(cfg->shm_status, "/fulcrum-status");
  EXPECT_EQ(cfg->timeouts.syn, 60u);
  EXPECT_EQ(cfg->timeouts.established, 900u);
  EXPECT_EQ(cfg->timeouts.closing, 120u);
  EXPECT_EQ(cfg->timeouts.closed, 10u);
  EXPECT_TRUE(cfg->routes.empty());
  EXPECT_TRUE(cfg->neighbours.empty());
  ASSERT_EQ(cfg->ports.size(), 1u);
  EXPECT_EQ(cfg->ports[0].rx_descriptors, 1024);
  EXPECT_EQ(cfg->ports[0].tx_descriptors, 1024);
  EXPECT_FALSE(cfg->ports[0].gateway_be.has_value());
  // The struct's own defaults are what the file's absence gives.
  EXPECT_EQ(defaults.worker_lcores, cfg->worker_lcores);
  EXPECT_EQ(defaults.conntrack_entries, cfg->conntrack_entries);

  // A partial [dataplane.timeouts] keeps the defaults of the keys it leaves out.
  path = write("partial-timeouts", R"([dataplane]
[dataplane.timeouts]
closed = 3
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
)");
  Errors e2(path);
  cfg = load_dataplane(path, e2);
  ASSERT_TRUE(cfg.has_value()) << e2.str();
  EXPECT_EQ(cfg->timeouts.closed, 3u);
  EXPECT_EQ(cfg->timeouts.syn, 60u);
  EXPECT_EQ(cfg->timeouts.established, 900u);
}

TEST_F(DataplaneConfigLoad, BoundaryValuesAccepted) {
  std::string path = write("bounds", R"([dataplane]
main_lcore = 127
worker_lcores = [0, 126]
conntrack_entries = 67108864
mbufs = 1023
idle_sleep_us = 100000
shm_tables = "/t"
shm_status = "/s"
[dataplane.timeouts]
syn = 86400
established = 604800
closing = 1
closed = 86400
[[dataplane.ports]]
name = "abcdefghijklmnopqrstuvwxyz-_0123"
device = "net_tap0"
address = "198.18.1.1/31"
rx_descriptors = 64
tx_descriptors = 16384
[[dataplane.ports]]
name = "b"
device = "net_tap1"
address = "1.0.0.1/1"
gateway = "1.0.0.2"
)");
  Errors errors(path);
  std::optional<DataplaneConfig> cfg = load_dataplane(path, errors);
  ASSERT_TRUE(cfg.has_value()) << errors.str();
  EXPECT_EQ(cfg->main_lcore, 127u);
  EXPECT_EQ(cfg->ports[0].address.length, 31);
  EXPECT_EQ(cfg->ports[1].address.length, 1);
  EXPECT_EQ(cfg->ports[0].tx_descriptors, 16384);
}

TEST_F(DataplaneConfigLoad, ParseDataplaneReadsAnAlreadyParsedTable) {
  toml::table root = toml::parse(R"([dataplane]
worker_lcores = [1, 2]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
)");
  Errors errors("inline.toml");
  DataplaneConfig cfg = parse_dataplane(root, errors);
  EXPECT_TRUE(errors.empty()) << errors.str();
  EXPECT_EQ(cfg.worker_lcores, (std::vector<uint32_t>{1, 2}));
  ASSERT_EQ(cfg.ports.size(), 1u);
}

// ------------------------------------------------------------------ broken files

// A valid port, appended to cases whose flaw is elsewhere so that it is their only error.
#define kPort "[[dataplane.ports]]\nname = \"client\"\ndevice = \"net_tap0\"\naddress = \"198.18.1.1/24\"\n"

struct Broken {
  const char* name;
  const char* toml;
  const char* want;    // ConfigError::str() of the first error, after "FILE"
  bool only = true;    // and it is the only error
};

const Broken kBroken[] = {
    // ---- the file itself
    {"toml-syntax-error", R"([dataplane]
main_lcore = 
)",
     ":2:14: TOML syntax error: Error while parsing key-value pair: expected value, saw '\\n'"},
    {"toml-duplicate-key", R"([dataplane]
main_lcore = 0
main_lcore = 1
)",
     ":3:14: TOML syntax error: Error while parsing key-value pair: cannot redefine existing integer 'main_lcore'"},
    {"missing-dataplane", R"([controlplane]
listen = "127.0.0.1:9000"
)",
     ": no [dataplane] section (lb-dataplane needs at least its ports)"},
    {"dataplane-not-a-table", R"(dataplane = "eth0"
)",
     ":1:13: dataplane: must be a table ([dataplane]), not a string"},

    // ---- unknown keys
    {"unknown-key", R"([dataplane]
worker_lcore = [1]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
)",
     ":2:1: dataplane.worker_lcore: unknown key (known keys here: conntrack_entries, conntrack_entries6, eal_args, embryonic_high_water, "
     "idle_sleep_us, main_lcore, mbufs, neighbours, new_flow_breaker_rate, ports, routes, shm_status, shm_tables, "
     "synproxy, timeouts, worker_lcores)"},
    {"unknown-key-in-port", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
rx_descriptor = 512
)",
     ":6:1: dataplane.ports[0].rx_descriptor: unknown key (known keys here: address, address6, device, gateway, gateway6, host_sharing, "
     "kernel_interface, name, rx_descriptors, tx_descriptors)"},
    {"unknown-key-in-timeouts", R"([dataplane]
[dataplane.timeouts]
fin_wait = 30
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
)",
     ":3:1: dataplane.timeouts.fin_wait: unknown key (known keys here: closed, closing, established, syn, "
     "syn_unanswered)"},
    {"breaker-rate-negative", R"([dataplane]
new_flow_breaker_rate = -1
)" kPort,
     ":2:25: dataplane.new_flow_breaker_rate: -1 is out of range (0 .. 100000000)"},
    {"high-water-too-low", R"([dataplane]
embryonic_high_water = 10
)" kPort,
     ":2:24: dataplane.embryonic_high_water: 10 is out of range (50 .. 100)"},
    {"synproxy-not-bool", R"([dataplane]
synproxy = "yes"
)" kPort,
     ":2:12: dataplane.synproxy: must be true or false, not a string"},

    // ---- wrong types
    {"string-for-integer", R"([dataplane]
main_lcore = "0"
)" kPort,
     ":2:14: dataplane.main_lcore: must be an integer, not a string"},
    {"float-for-integer", R"([dataplane]
idle_sleep_us = 1.5
)" kPort,
     ":2:17: dataplane.idle_sleep_us: must be an integer, not a float"},
    {"integer-for-string", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = 0
address = "198.18.1.1/24"
)",
     ":4:10: dataplane.ports[0].device: must be a string, not an integer", false},
    {"table-for-array-of-integers", R"([dataplane]
worker_lcores = { first = 1 }
)" kPort,
     ":2:17: dataplane.worker_lcores: must be an array of integers, not a table"},
    {"table-for-array-of-tables", R"([dataplane]
[dataplane.ports]
name = "client"
)",
     ":2:1: dataplane.ports: must be an array of tables ([[dataplane.ports]]), not a table"},
    {"string-in-array-of-tables", R"([dataplane]
neighbours = ["198.18.1.11"]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
)",
     ":2:15: dataplane.neighbours[0]: must be a table, not a string"},
    {"integer-in-eal-args", R"([dataplane]
eal_args = ["--in-memory", 5]
)" kPort,
     ":2:28: dataplane.eal_args[1]: must be a string, not an integer"},
    {"integer-for-timeouts-table", R"([dataplane]
timeouts = 30
)" kPort,
     ":2:12: dataplane.timeouts: must be a table, not an integer"},

    // ---- out of range
    {"main-lcore-out-of-range", R"([dataplane]
main_lcore = 128
)" kPort,
     ":2:14: dataplane.main_lcore: 128 is out of range (0 .. 127)"},
    {"worker-lcore-out-of-range", R"([dataplane]
worker_lcores = [1, 128]
)" kPort,
     ":2:21: dataplane.worker_lcores[1]: 128 is out of range (0 .. 127)"},
    {"negative-mbufs", R"([dataplane]
mbufs = -1
)" kPort,
     ":2:9: dataplane.mbufs: -1 is out of range (1023 .. 4194304)"},
    {"conntrack-too-small", R"([dataplane]
conntrack_entries = 100
)" kPort,
     ":2:21: dataplane.conntrack_entries: 100 is out of range (1024 .. 67108864)"},
    {"timeout-zero", R"([dataplane]
[dataplane.timeouts]
established = 0
)" kPort,
     ":3:15: dataplane.timeouts.established: 0 is out of range (1 .. 604800)"},
    {"rx-descriptors-too-few", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
rx_descriptors = 32
)",
     ":6:18: dataplane.ports[0].rx_descriptors: 32 is out of range (64 .. 16384)"},

    // ---- lcores
    {"worker-is-main-lcore", R"([dataplane]
main_lcore = 1
worker_lcores = [2, 1]
)" kPort,
     ":3:17: dataplane.worker_lcores: lcore 1 is the main lcore; workers need their own"},
    {"worker-is-default-main-lcore", R"([dataplane]
worker_lcores = [0]
)" kPort,
     ":2:17: dataplane.worker_lcores: lcore 0 is the main lcore; workers need their own"},
    {"duplicated-worker-lcore", R"([dataplane]
worker_lcores = [2, 3, 2]
)" kPort,
     ":2:17: dataplane.worker_lcores: lcore 2 listed twice"},
    {"empty-worker-list", R"([dataplane]
worker_lcores = []
)" kPort,
     ":2:17: dataplane.worker_lcores: needs 1 to 31 worker lcores"},
    {"too-many-workers", R"([dataplane]
worker_lcores = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32]
)" kPort,
     ":2:17: dataplane.worker_lcores: needs 1 to 31 worker lcores"},
    {"eal-args-with-l", R"([dataplane]
eal_args = ["--in-memory", "-l", "1-3"]
)" kPort,
     ":2:28: dataplane.eal_args[1]: \"-l\" is set by lb-dataplane; use dataplane.main_lcore and "
     "dataplane.worker_lcores"},
    {"eal-args-with-lcores", R"([dataplane]
eal_args = ["--lcores=1@2,2@3"]
)" kPort,
     ":2:13: dataplane.eal_args[0]: \"--lcores=1@2,2@3\" is set by lb-dataplane; use dataplane.main_lcore and "
     "dataplane.worker_lcores"},
    {"eal-args-with-main-lcore", R"([dataplane]
eal_args = ["--main-lcore", "0"]
)" kPort,
     ":2:13: dataplane.eal_args[0]: \"--main-lcore\" is set by lb-dataplane; use dataplane.main_lcore and "
     "dataplane.worker_lcores"},

    // ---- ports
    {"no-ports", R"([dataplane]
main_lcore = 0
)",
     ":1:1: dataplane.ports: no port: add a [[dataplane.ports]] table with name, device and address"},
    {"port-missing-name", R"([dataplane]
[[dataplane.ports]]
device = "net_tap0"
address = "198.18.1.1/24"
)",
     ":2:1: dataplane.ports[0].name: required key missing (for example: name = \"client\")"},
    {"port-missing-device", R"([dataplane]
[[dataplane.ports]]
name = "client"
address = "198.18.1.1/24"
)",
     ":2:1: dataplane.ports[0].device: required key missing (for example: device = \"0000:3b:00.0\" or "
     "\"net_af_xdp0,iface=eth1\")"},
    {"port-missing-address", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
)",
     ":2:1: dataplane.ports[0].address: required key missing (for example: address = \"198.18.1.1/24\")"},
    {"port-empty-device", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = ""
address = "198.18.1.1/24"
)",
     ":4:10: dataplane.ports[0].device: must not be empty"},
    {"bad-port-name", R"([dataplane]
[[dataplane.ports]]
name = "Client"
device = "net_tap0"
address = "198.18.1.1/24"
)",
     ":3:8: dataplane.ports[0].name: \"Client\" must be 1-32 characters of a-z, 0-9, '-', '_'"},
    {"port-name-too-long", R"([dataplane]
[[dataplane.ports]]
name = "abcdefghijklmnopqrstuvwxyz-_01234"
device = "net_tap0"
address = "198.18.1.1/24"
)",
     ":3:8: dataplane.ports[0].name: \"abcdefghijklmnopqrstuvwxyz-_01234\" must be 1-32 characters of a-z, 0-9, "
     "'-', '_'"},
    {"duplicate-port-names", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
[[dataplane.ports]]
name = "client"
device = "net_tap1"
address = "198.18.2.1/24"
)",
     ":7:8: dataplane.ports[1].name: port \"client\" is defined twice"},
    {"duplicate-devices", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_af_xdp0,iface=eth1"
address = "198.18.1.1/24"
[[dataplane.ports]]
name = "backend"
device = "net_af_xdp0,iface=eth2"
address = "198.18.2.1/24"
)",
     ":8:10: dataplane.ports[1].device: device \"net_af_xdp0,iface=eth2\" is used by two ports"},
    {"bad-address", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/33"
)",
     ":5:11: dataplane.ports[0].address: \"198.18.1.1/33\" is not an IPv4 address with a prefix length (e.g. "
     "\"198.18.1.1/24\")"},
    {"address-without-length", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1"
)",
     ":5:11: dataplane.ports[0].address: \"198.18.1.1\" is not an IPv4 address with a prefix length (e.g. "
     "\"198.18.1.1/24\")"},
    {"address-with-leading-zero", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.018.1.1/24"
)",
     ":5:11: dataplane.ports[0].address: \"198.018.1.1/24\" is not an IPv4 address with a prefix length (e.g. "
     "\"198.18.1.1/24\")"},
    {"address-slash-32", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/32"
)",
     ":5:11: dataplane.ports[0].address: \"198.18.1.1/32\" cannot be a port address (needs a unicast address "
     "with prefix /1../31)"},
    {"address-slash-0", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/0"
)",
     ":5:11: dataplane.ports[0].address: \"198.18.1.1/0\" cannot be a port address (needs a unicast address "
     "with prefix /1../31)"},
    {"address-loopback", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "127.0.0.1/8"
)",
     ":5:11: dataplane.ports[0].address: \"127.0.0.1/8\" cannot be a port address (needs a unicast address "
     "with prefix /1../31)"},
    {"bad-gateway", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
gateway = "198.18.1"
)",
     ":6:11: dataplane.ports[0].gateway: \"198.18.1\" is not an IPv4 address (e.g. \"198.18.1.254\")"},
    {"gateway-off-subnet", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
gateway = "198.18.2.254"
)",
     ":6:11: dataplane.ports[0].gateway: 198.18.2.254 is not on this port's subnet 198.18.1.0/24"},
    {"two-gateways", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
gateway = "198.18.1.254"
[[dataplane.ports]]
name = "backend"
device = "net_tap1"
address = "198.18.2.1/24"
gateway = "198.18.2.254"
)",
     ":11:11: dataplane.ports[1].gateway: a second default route: port \"client\" already has a gateway; keep one gateway and give other destinations [[dataplane.routes]]"},

    // ---- routes
    {"route-via-off-subnet", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
[[dataplane.routes]]
prefix = "203.0.113.0/24"
via = "10.0.0.1"
)",
     ":8:7: dataplane.routes[0].via: 10.0.0.1 is not on any port's subnet"},
    {"route-missing-via", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
[[dataplane.routes]]
prefix = "203.0.113.0/24"
)",
     ":6:1: dataplane.routes[0].via: required key missing (for example: via = \"198.18.1.254\")"},
    {"route-bad-prefix", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
[[dataplane.routes]]
prefix = "203.0.113.0"
via = "198.18.1.254"
)",
     ":7:10: dataplane.routes[0].prefix: \"203.0.113.0\" is not an IPv4 address with a prefix length (e.g. "
     "\"203.0.113.0/24\")"},

    // ---- neighbours
    {"neighbour-on-unknown-port", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
[[dataplane.neighbours]]
address = "198.18.1.11"
mac = "02:00:00:00:00:0b"
port = "backend"
)",
     ":9:8: dataplane.neighbours[0].port: no port named \"backend\""},
    {"neighbour-off-subnet", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
[[dataplane.neighbours]]
address = "198.18.2.11"
mac = "02:00:00:00:00:0b"
port = "client"
)",
     ":7:11: dataplane.neighbours[0].address: 198.18.2.11 is not on port \"client\"'s subnet 198.18.1.0/24"},
    {"bad-mac-short", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
[[dataplane.neighbours]]
address = "198.18.1.11"
mac = "02:00:00:00:0b"
port = "client"
)",
     ":8:7: dataplane.neighbours[0].mac: \"02:00:00:00:0b\" is not a MAC address (e.g. \"02:00:00:00:00:01\")"},
    {"bad-mac-dashes", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
[[dataplane.neighbours]]
address = "198.18.1.11"
mac = "02-00-00-00-00-0b"
port = "client"
)",
     ":8:7: dataplane.neighbours[0].mac: \"02-00-00-00-00-0b\" is not a MAC address (e.g. \"02:00:00:00:00:01\")"},
    {"neighbour-missing-mac", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
[[dataplane.neighbours]]
address = "198.18.1.11"
port = "client"
)",
     ":6:1: dataplane.neighbours[0].mac: required key missing (for example: mac = \"02:00:00:00:00:01\")"},

    // ---- shared memory names
    {"shm-name-without-slash", R"([dataplane]
shm_tables = "fulcrum-tables"
)" kPort,
     ":2:14: dataplane.shm_tables: \"fulcrum-tables\" must look like \"/name\" (no other '/', at most 255 "
     "characters)"},
    {"shm-name-with-inner-slash", R"([dataplane]
shm_status = "/fulcrum/status"
)" kPort,
     ":2:14: dataplane.shm_status: \"/fulcrum/status\" must look like \"/name\" (no other '/', at most 255 "
     "characters)"},
    {"shm-names-equal", R"([dataplane]
shm_tables = "/lb"
shm_status = "/lb"
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
)",
     ":3:14: dataplane.shm_status: \"/lb\" is also dataplane.shm_tables: the two regions need different names"},
};

TEST_F(DataplaneConfigLoad, BrokenConfigsReportTheirFirstErrorExactly) {
  size_t n = 0;
  for (const Broken& b : kBroken) {
    SCOPED_TRACE(b.name);
    std::string path = write(b.name, b.toml);
    Errors errors(path);
    std::optional<DataplaneConfig> cfg = load_dataplane(path, errors);
    EXPECT_FALSE(cfg.has_value()) << "a broken config must not load";
    ASSERT_FALSE(errors.empty()) << b.name << ": no error reported";
    const ConfigError& first = errors.list().front();
    EXPECT_EQ(first.str(), path + b.want) << "all errors:\n" << errors.str();
    EXPECT_EQ(first.file, path);
    if (b.only) {
      EXPECT_EQ(errors.list().size(), 1u) << "all errors:\n" << errors.str();
    }
    ++n;
  }
  EXPECT_GE(n, 20u);
}

TEST_F(DataplaneConfigLoad, MissingFile) {
  const std::string path = dir_ + "/does-not-exist.toml";
  Errors errors(path);
  EXPECT_FALSE(load_dataplane(path, errors).has_value());
  ASSERT_EQ(errors.list().size(), 1u);
  EXPECT_EQ(errors.list()[0].str(), path + ": cannot read the file: No such file or directory");
  EXPECT_EQ(errors.list()[0].line, 0u);
}

TEST_F(DataplaneConfigLoad, EveryErrorIsCollectedInOnePass) {
  std::string path = write("many-errors", R"([dataplane]
main_lcore = 128
worker_lcores = [2, 2]
[[dataplane.ports]]
name = "Client"
device = "net_tap0"
address = "198.18.1.1/33"
[dataplane.timeouts]
syn = 0
)");
  Errors errors(path);
  EXPECT_FALSE(load_dataplane(path, errors).has_value());
  std::vector<std::string> got;
  for (const ConfigError& e : errors.list()) got.push_back(e.str());
  const std::vector<std::string> want = {
      path + ":2:14: dataplane.main_lcore: 128 is out of range (0 .. 127)",
      path + ":3:17: dataplane.worker_lcores: lcore 2 listed twice",
      path + ":7:11: dataplane.ports[0].address: \"198.18.1.1/33\" is not an IPv4 address with a prefix length "
             "(e.g. \"198.18.1.1/24\")",
      path + ":5:8: dataplane.ports[0].name: \"Client\" must be 1-32 characters of a-z, 0-9, '-', '_'",
      path + ":9:7: dataplane.timeouts.syn: 0 is out of range (1 .. 86400)",
  };
  EXPECT_EQ(got, want) << errors.str();
}

// ------------------------------------------------------------------ findings

// `ports = []` passes validation: lb-dataplane would start with no port at all.
TEST_F(DataplaneConfigLoad, EmptyPortsArrayIsRefused) {
  std::string path = write("empty-ports", R"([dataplane]
ports = []
)");
  Errors errors(path);
  bool loaded = load_dataplane(path, errors).has_value();
  if (loaded) {
    ADD_FAILURE() << "regression: dataplane_config.cpp parse_ports(): `ports = []` is accepted and gives a data plane "
                    "with no port; the check `ports.empty() && !dp.has(\"ports\")` only catches an absent key. "
                    "Fix: report an empty array too (e.g. dp.error(\"ports\", \"needs at least one "
                    "[[dataplane.ports]]\")).";
  }
  EXPECT_FALSE(errors.empty());
}

// A key present with the wrong type must be reported once, as a wrong type, and not also
// as "required key missing" (which tells the operator to add a key that is there).
TEST_F(DataplaneConfigLoad, WrongTypeIsNotAlsoReportedMissing) {
  std::string path = write("wrong-types", R"([dataplane]
[[dataplane.ports]]
name = 5
device = 0
address = "198.18.1.1/24"
[[dataplane.neighbours]]
address = "198.18.1.11"
mac = 5
port = 7
)");
  Errors errors(path);
  EXPECT_FALSE(load_dataplane(path, errors).has_value());
  std::vector<std::string> missing;
  for (const ConfigError& e : errors.list()) {
    if (e.message.find("required key missing") != std::string::npos) missing.push_back(e.str());
  }
  EXPECT_GE(errors.list().size(), 4u) << errors.str();
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += "\n  " + m;
    ADD_FAILURE() << "regression: dataplane_config.cpp parse_ports() (`if (!name) p.missing(...)`, `if (!device) ...`) "
                    "and parse_neighbours() (`if (!mac_text) ...`, `if (!port) ...`) also report a key of the "
                    "wrong type as missing, right after \"must be a string\":"
                 << list
                 << "\nFix: guard with `!p.has(key)` as the address/prefix/via checks already do.";
  }
}

// lb-dataplane builds -l/-c itself; EAL (getopt) also takes the value glued to the flag.
TEST_F(DataplaneConfigLoad, EalLcoreFlagsWithAttachedValuesAreRefused) {
  std::vector<std::string> slipped;
  for (const char* arg : {"-l1-3", "-c0xf", "--lcores=1-3", "--master-lcore=0"}) {
    std::string path = write("eal-attached", std::string("[dataplane]\neal_args = [\"") + arg + R"("]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
)");
    Errors errors(path);
    if (load_dataplane(path, errors).has_value()) slipped.emplace_back(arg);
  }
  if (!slipped.empty()) {
    std::string list;
    for (const auto& s : slipped) list += " \"" + s + "\"";
    ADD_FAILURE() << "regression: dataplane_config.cpp parse_eal_args() only compares the text before '=', so the short "
                    "options with their value attached get through:"
                 << list
                 << " (EAL's getopt reads them as -l/-c, overriding the layout lb-dataplane builds). Fix: also "
                    "match a short flag as a prefix (\"-l\", \"-c\" followed by anything).";
  }
}

// A main_lcore out of range is reported; the worker list must not then be judged against
// the default main lcore 0 that the file did not ask for.
TEST_F(DataplaneConfigLoad, OutOfRangeMainLcoreHasNoFollowOnError) {
  std::string path = write("main-out-of-range", R"([dataplane]
main_lcore = 200
worker_lcores = [0, 1]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
)");
  Errors errors(path);
  EXPECT_FALSE(load_dataplane(path, errors).has_value());
  ASSERT_GE(errors.list().size(), 1u);
  EXPECT_EQ(errors.list()[0].str(), path + ":2:14: dataplane.main_lcore: 200 is out of range (0 .. 127)");
  if (errors.list().size() > 1) {
    ADD_FAILURE() << "regression: dataplane_config.cpp parse_lcores() compares the workers with the default main "
                    "lcore 0 after main_lcore failed, adding: "
                 << errors.list()[1].str()
                 << " Fix: skip the main-lcore comparison when main_lcore did not parse.";
  }
}

}  // namespace
}  // namespace fulcrum::config
