// The whole configuration file through load_config(): files written to a temporary
// directory, exactly as the control plane and lbctl read them.
//
// Broken configs are a table of {name, file text, expected message}. Each file breaks one
// rule and must give exactly one error, whose whole ConfigError::str() is compared
// ("FILE:line:column: key: message"): a moved position, a reworded message or a follow-on
// error is a visible change. Most files start with kHead (a valid [dataplane] and a
// [controlplane] with only hash_seed, 14 lines), so what a case adds starts at line 15.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "tests/unit/temp_config_files.h"
#include <toml++/toml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/loader/lb_config.h"
#include "config/loader/maglev_size.h"
#include "dataplane/abi/limits.h"

namespace fulcrum::config {
namespace {

// The config library does not include the data plane's headers; its copies of the
// capacities must be the ABI's.

uint32_t ip(const char* text) {
  in_addr a{};
  EXPECT_EQ(inet_pton(AF_INET, text, &a), 1) << text;
  return a.s_addr;
}

// A valid [dataplane]: a client port, a backend port, one route (12 lines).
const std::string kNet = R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
[[dataplane.ports]]
name = "backend"
device = "net_tap1"
address = "198.18.2.1/24"
[[dataplane.routes]]
prefix = "203.0.113.0/24"
via = "198.18.2.254"
)";
// kNet and the shortest valid [controlplane] (14 lines); a case may add keys to it.
const std::string kHead = kNet + R"([controlplane]
hash_seed = "0123456789abcdef"
)";

class LbConfigLoad : public test::TempConfigFiles {
 protected:
  static std::vector<std::string> messages(const Errors& errors) {
    std::vector<std::string> out;
    for (const ConfigError& e : errors.list()) out.push_back(e.str());
    return out;
  }
};

// The shipped files are found through FULCRUM_SOURCE_ROOT (set by meson), else relative to
// the build directory's tests/unit.
std::string source_file(const std::string& relative) {
  if (const char* root = std::getenv("FULCRUM_SOURCE_ROOT"); root != nullptr && *root != '\0') {
    return std::string(root) + "/" + relative;
  }
  for (const char* up : {"../", "../../", "../../../"}) {
    std::string path = std::string(up) + relative;
    if (std::filesystem::exists(path)) return path;
  }
  return relative;
}

// ------------------------------------------------------------------ shipped files

TEST(LbConfigShipped, ExampleLoads) {
  const std::string path = source_file("config/example.toml");
  Errors errors(path);
  std::optional<LbConfig> cfg = load_config(path, errors);
  ASSERT_TRUE(cfg.has_value()) << errors.str();
  EXPECT_TRUE(errors.empty()) << errors.str();
  EXPECT_EQ(cfg->dataplane.main_lcore, 1u);
  EXPECT_EQ(cfg->dataplane.worker_lcores, (std::vector<uint32_t>{2, 3}));
  ASSERT_EQ(cfg->dataplane.ports.size(), 2u);
  EXPECT_TRUE(cfg->dataplane.ports[0].gateway_be.has_value());
  ASSERT_EQ(cfg->vips.size(), 2u);
  const VipConfig& http = cfg->vips[0];
  EXPECT_EQ(http.mode, ForwardMode::Nat);
  EXPECT_EQ(http.health.type, CheckType::Http);
  ASSERT_EQ(http.backends.size(), 4u);
  int draining = 0, overridden = 0;
  for (const BackendConfig& b : http.backends) {
    draining += b.state == InitialState::Draining;
    overridden += !(b.health == http.health);
  }
  EXPECT_EQ(draining, 1) << "one backend starts drained";
  EXPECT_EQ(overridden, 1) << "one backend overrides the VIP's check";
  const VipConfig& tls = cfg->vips[1];
  EXPECT_EQ(tls.port, 443);
  EXPECT_EQ(tls.mode, ForwardMode::FullNat);
  EXPECT_EQ(tls.snat.size(), 2u);
  EXPECT_EQ(tls.health.type, CheckType::Tcp);
  EXPECT_EQ(tls.on_backend_down, DownPolicy::Reset);
}

TEST(LbConfigShipped, DemoLoadsWithItsFixedTopology) {
  const std::string path = source_file("config/demo.toml");
  Errors errors(path);
  std::optional<LbConfig> cfg = load_config(path, errors);
  ASSERT_TRUE(cfg.has_value()) << errors.str();
  const DataplaneConfig& dp = cfg->dataplane;
  EXPECT_EQ(dp.eal_args, (std::vector<std::string>{"--no-huge", "-m", "512", "--no-pci", "--file-prefix=fulcrum-demo"}));
  EXPECT_EQ(dp.main_lcore, 0u);
  EXPECT_EQ(dp.worker_lcores, std::vector<uint32_t>{1});
  EXPECT_EQ(dp.idle_sleep_us, 1000u);
  EXPECT_EQ(dp.conntrack_entries, 65536u);
  EXPECT_EQ(dp.shm_tables, "/fulcrum-demo-tables");
  EXPECT_EQ(dp.shm_status, "/fulcrum-demo-status");
  ASSERT_EQ(dp.ports.size(), 2u);
  EXPECT_EQ(dp.ports[0].device, "net_af_packet0,iface=lbc");
  EXPECT_EQ(dp.ports[0].address.str(), "198.18.1.1/24");
  EXPECT_EQ(dp.ports[1].device, "net_af_packet1,iface=lbb");
  EXPECT_EQ(dp.ports[1].address.str(), "198.18.2.1/24");
  EXPECT_EQ(cfg->controlplane.socket, "/run/fulcrum/demo.sock");
  EXPECT_EQ(cfg->controlplane.metrics, "127.0.0.1:9469");
  EXPECT_EQ(cfg->controlplane.state_dir, "/var/lib/fulcrum/demo");
  ASSERT_EQ(cfg->vips.size(), 2u);
  EXPECT_EQ(cfg->vips[0].name, "web");
  EXPECT_EQ(cfg->vips[0].endpoint(), "198.18.0.10:80");
  EXPECT_EQ(cfg->vips[0].mode, ForwardMode::Nat);
  EXPECT_EQ(cfg->vips[1].name, "web-fullnat");
  EXPECT_EQ(cfg->vips[1].endpoint(), "198.18.0.20:80");
  EXPECT_EQ(cfg->vips[1].mode, ForwardMode::FullNat);
  EXPECT_EQ(cfg->vips[1].snat, std::vector<IpAddr>{IpAddr::from_v4(ip("198.18.2.100"))});
  for (const VipConfig& v : cfg->vips) {
    SCOPED_TRACE(v.name);
    ASSERT_EQ(v.backends.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(v.backends[i].name, "b" + std::to_string(i + 1));
      EXPECT_EQ(v.backends[i].endpoint(), "198.18.2.1" + std::to_string(i + 1) + ":80");
    }
    EXPECT_EQ(v.health.type, CheckType::Http);
    EXPECT_EQ(v.health.http_method, "GET");
    EXPECT_EQ(v.health.http_path, "/");
    EXPECT_EQ(v.health.expect_status, 200);
    EXPECT_EQ(v.health.interval_ms, 500u);
    EXPECT_EQ(v.health.timeout_ms, 300u);
    EXPECT_EQ(v.health.rise, 2u);
    EXPECT_EQ(v.health.fall, 2u);
  }
}

// ------------------------------------------------------------------ valid files

const std::string kComplete = kNet + R"([controlplane]
socket = "/run/fulcrum/test.sock"
socket_mode = "0640"
socket_owner = "root"
socket_group = "root"
metrics = "0.0.0.0:9100"
state_dir = "/var/lib/fulcrum-test"
hash_seed = "cluster-seed-0123456789"
publish_timeout_ms = 2000

[[vip]]
name = "web"
address = "198.18.0.10"
port = 80
protocol = "tcp"
maglev_size = 655373
hash_seed = "vip-seed-abcdefghijkl"
on_backend_down = "reset"
[vip.health]
type = "http"
method = "HEAD"
path = "/healthz?full=1"
host = "www.example.com"
expect_status = 204
interval_ms = 1000
timeout_ms = 500
rise = 3
fall = 4
port = 8081
[[vip.backends]]
name = "web-1"
address = "198.18.2.11"
port = 8080
weight = 0
state = "draining"
[[vip.backends]]
address = "203.0.113.7"
port = 8080
[vip.backends.health]
path = "/other"
interval_ms = 3000
timeout_ms = 2500
port = 9000

[[vip]]
name = "api"
address = "198.18.0.11"
port = 443
mode = "fullnat"
snat = ["198.18.2.100", "198.18.1.100"]
[[vip.backends]]
name = "api_1"
address = "198.18.2.11"
port = 8080
weight = 1000
[vip.backends.health]
type = "http"
)";

TEST_F(LbConfigLoad, CompleteConfigParsesToItsValues) {
  std::string path = write("complete", kComplete);
  Errors errors(path);
  std::optional<LbConfig> cfg = load_config(path, errors);
  ASSERT_TRUE(cfg.has_value()) << errors.str();
  EXPECT_EQ(cfg->path, path);

  const ControlplaneConfig& cp = cfg->controlplane;
  EXPECT_EQ(cp.socket, "/run/fulcrum/test.sock");
  EXPECT_EQ(cp.socket_mode, 0640u);
  EXPECT_EQ(cp.socket_owner, "root");
  EXPECT_EQ(cp.socket_group, "root");
  EXPECT_EQ(cp.metrics, "0.0.0.0:9100");
  EXPECT_EQ(cp.state_dir, "/var/lib/fulcrum-test");
  EXPECT_EQ(cp.hash_seed, "cluster-seed-0123456789");
  EXPECT_EQ(cp.publish_timeout_ms, 2000u);
  EXPECT_EQ(cfg->dataplane.ports.size(), 2u) << "[dataplane] is parsed too";

  ASSERT_EQ(cfg->vips.size(), 2u);
  const VipConfig& web = cfg->vips[0];
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.addr, IpAddr::from_v4(ip("198.18.0.10")));
  EXPECT_EQ(web.port, 80);
  EXPECT_EQ(web.endpoint(), "198.18.0.10:80");
  EXPECT_EQ(web.mode, ForwardMode::Nat);
  EXPECT_TRUE(web.snat.empty());
  EXPECT_EQ(web.maglev_size, 655373u);
  EXPECT_EQ(web.hash_seed, std::optional<std::string>("vip-seed-abcdefghijkl"));
  EXPECT_EQ(web.on_backend_down, DownPolicy::Reset);
  EXPECT_EQ(web.where.line, 23u);
  EXPECT_EQ(web.where.column, 1u);

  HealthCheck check;
  check.type = CheckType::Http;
  check.http_method = "HEAD";
  check.http_path = "/healthz?full=1";
  check.http_host = "www.example.com";
  check.expect_status = 204;
  check.interval_ms = 1000;
  check.timeout_ms = 500;
  check.rise = 3;
  check.fall = 4;
  check.port = 8081;
  EXPECT_EQ(web.health, check);
  EXPECT_EQ(web.health.detection_ms(), 4500u);

  ASSERT_EQ(web.backends.size(), 2u);
  const BackendConfig& w1 = web.backends[0];
  EXPECT_EQ(w1.name, "web-1");
  EXPECT_EQ(w1.addr, IpAddr::from_v4(ip("198.18.2.11")));
  EXPECT_EQ(w1.port, 8080);
  EXPECT_EQ(w1.endpoint(), "198.18.2.11:8080");
  EXPECT_EQ(w1.weight, 0);
  EXPECT_EQ(w1.state, InitialState::Draining);
  EXPECT_EQ(w1.health, check) << "no override: the VIP's check";
  EXPECT_EQ(w1.where.line, 42u);

  const BackendConfig& w2 = web.backends[1];
  EXPECT_EQ(w2.name, "") << "the name is optional";
  EXPECT_EQ(w2.addr, IpAddr::from_v4(ip("203.0.113.7"))) << "reachable through the route";
  EXPECT_EQ(w2.weight, 1) << "default";
  EXPECT_EQ(w2.state, InitialState::Active) << "default";
  HealthCheck merged = check;
  merged.http_path = "/other";
  merged.interval_ms = 3000;
  merged.timeout_ms = 2500;
  merged.port = 9000;
  EXPECT_EQ(w2.health, merged) << "the VIP's check with this backend's keys over it";

  const VipConfig& api = cfg->vips[1];
  EXPECT_EQ(api.mode, ForwardMode::FullNat);
  EXPECT_EQ(api.snat, (std::vector<IpAddr>{IpAddr::from_v4(ip("198.18.2.100")), IpAddr::from_v4(ip("198.18.1.100"))}));
  EXPECT_EQ(api.maglev_size, 65537u) << "default";
  EXPECT_FALSE(api.hash_seed.has_value()) << "the cluster's seed applies";
  EXPECT_EQ(api.on_backend_down, DownPolicy::Keep) << "default";
  EXPECT_EQ(api.health, HealthCheck{}) << "no [vip.health]: defaults";
  ASSERT_EQ(api.backends.size(), 1u);
  EXPECT_EQ(api.backends[0].weight, 1000);
  HealthCheck http_defaults;
  http_defaults.type = CheckType::Http;
  EXPECT_EQ(api.backends[0].health, http_defaults) << "override over the default check";
}

TEST_F(LbConfigLoad, DefaultsWhenOptionalKeysAreAbsent) {
  std::string path = write("minimal", kHead + R"([[vip]]
name = "web"
address = "198.18.0.10"
port = 80
[[vip.backends]]
address = "198.18.2.11"
port = 80
)");
  Errors errors(path);
  std::optional<LbConfig> cfg = load_config(path, errors);
  ASSERT_TRUE(cfg.has_value()) << errors.str();
  const ControlplaneConfig& cp = cfg->controlplane;
  EXPECT_EQ(cp.socket, "/run/fulcrum/lbctl.sock");
  EXPECT_EQ(cp.socket_mode, 0660u);
  EXPECT_EQ(cp.socket_owner, "");
  EXPECT_EQ(cp.socket_group, "");
  EXPECT_EQ(cp.metrics, "127.0.0.1:9469");
  EXPECT_EQ(cp.state_dir, "/var/lib/fulcrum");
  EXPECT_EQ(cp.hash_seed, "0123456789abcdef");
  EXPECT_EQ(cp.publish_timeout_ms, 500u);
  ASSERT_EQ(cfg->vips.size(), 1u);
  const VipConfig& v = cfg->vips[0];
  EXPECT_EQ(v.mode, ForwardMode::Nat);
  EXPECT_EQ(v.maglev_size, 65537u);
  EXPECT_EQ(v.on_backend_down, DownPolicy::Keep);
  EXPECT_EQ(v.health.type, CheckType::Tcp);
  EXPECT_EQ(v.health.interval_ms, 2000u);
  EXPECT_EQ(v.health.timeout_ms, 1000u);
  EXPECT_EQ(v.health.rise, 2u);
  EXPECT_EQ(v.health.fall, 3u);
  EXPECT_EQ(v.health.port, 0);
  ASSERT_EQ(v.backends.size(), 1u);
  EXPECT_EQ(v.backends[0].weight, 1);
  EXPECT_EQ(v.backends[0].state, InitialState::Active);
  EXPECT_EQ(v.backends[0].health, v.health);

  // No VIP at all is a valid file: the balancer starts with empty tables.
  path = write("no-vips", kHead);
  Errors e2(path);
  cfg = load_config(path, e2);
  ASSERT_TRUE(cfg.has_value()) << e2.str();
  EXPECT_TRUE(cfg->vips.empty());

  // metrics = "" disables the endpoint.
  path = write("no-metrics", kHead + "metrics = \"\"\n");
  Errors e3(path);
  cfg = load_config(path, e3);
  ASSERT_TRUE(cfg.has_value()) << e3.str();
  EXPECT_EQ(cfg->controlplane.metrics, "");
}

TEST_F(LbConfigLoad, BoundaryValuesAccepted) {
  std::string path = write("bounds", kHead + R"(socket_mode = "777"
publish_timeout_ms = 10
[[vip]]
name = "abcdefghijklmnopqrstuvwxyz-_0123"
address = "198.18.0.10"
port = 65535
maglev_size = 3
[vip.health]
interval_ms = 3600000
timeout_ms = 60000
rise = 100
fall = 1
[[vip.backends]]
address = "198.18.2.11"
port = 1
weight = 1000
[[vip]]
name = "b"
address = "198.18.0.10"
port = 1
mode = "fullnat"
maglev_size = 16777213
snat = ["198.18.2.100", "198.18.2.101", "198.18.2.102", "198.18.2.103", "198.18.2.104", "198.18.2.105",
        "198.18.2.106", "198.18.2.107", "198.18.2.108", "198.18.2.109", "198.18.2.110", "198.18.2.111",
        "198.18.2.112", "198.18.2.113", "198.18.2.114", "198.18.2.115"]
[vip.health]
interval_ms = 100
timeout_ms = 99
)");
  Errors errors(path);
  std::optional<LbConfig> cfg = load_config(path, errors);
  ASSERT_TRUE(cfg.has_value()) << errors.str();
  EXPECT_EQ(cfg->controlplane.socket_mode, 0777u);
  EXPECT_EQ(cfg->vips[0].maglev_size, 3u);
  EXPECT_EQ(cfg->vips[1].maglev_size, 16777213u) << "the largest prime of one VIP's table";
  EXPECT_EQ(cfg->vips[1].snat.size(), 16u);
}

TEST_F(LbConfigLoad, FloodDefenceKeys) {
  std::string net = kHead;
  net.replace(net.find("[dataplane]\n"), 12, "[dataplane]\nsynproxy = true\n");
  std::string path = write("flood", net + R"([[vip]]
name = "web"
address = "198.18.0.10"
port = 80
max_new_conn_rate = 5000
synproxy = "auto"
[[vip]]
name = "web2"
address = "198.18.0.10"
port = 81
max_new_conn_rate = 7
new_conn_burst = 300
synproxy = "on"
[[vip]]
name = "web3"
address = "198.18.0.10"
port = 82
)");
  Errors errors(path);
  std::optional<LbConfig> cfg = load_config(path, errors);
  ASSERT_TRUE(cfg.has_value()) << errors.str();
  EXPECT_TRUE(cfg->dataplane.synproxy);
  EXPECT_EQ(cfg->vips[0].max_new_conn_rate, 5000u);
  EXPECT_EQ(cfg->vips[0].new_conn_burst, 500u) << "default burst: a tenth of a second's worth";
  EXPECT_EQ(cfg->vips[0].synproxy, SynproxyMode::Auto);
  EXPECT_EQ(cfg->vips[1].new_conn_burst, 300u);
  EXPECT_EQ(cfg->vips[1].synproxy, SynproxyMode::On);
  EXPECT_EQ(cfg->vips[2].max_new_conn_rate, 0u) << "no limit by default";
  EXPECT_EQ(cfg->vips[2].synproxy, SynproxyMode::Off);
  EXPECT_EQ(cfg->dataplane.new_flow_breaker_rate, 125000u);
  EXPECT_EQ(cfg->dataplane.timeouts.syn_unanswered, 5u);
}

// Each (SNAT address, backend) pair is a port pool in the data plane; the config may not
// ask for more pools than it keeps (no hidden cap: the limit is checked here).
TEST_F(LbConfigLoad, SnatPoolsAreCountedAgainstTheDataPlaneLimit) {
  auto config_with = [&](int backends) {
    std::string text = kHead + "[[vip]]\nname = \"full\"\naddress = \"198.18.0.20\"\nport = 80\nmode = \"fullnat\"\nsnat = [";
    for (int i = 0; i < 16; ++i) text += std::string(i ? ", " : "") + "\"198.18.2." + std::to_string(100 + i) + "\"";
    text += "]\n";
    for (int b = 0; b < backends; ++b) text += "[[vip.backends]]\naddress = \"198.18.2.11\"\nport = " + std::to_string(1000 + b) + "\n";
    return text;
  };
  static_assert(kMaxSnatPools == 4096);
  std::string ok = write("pools-ok", config_with(256));  // 16 x 256 = 4096 pools
  Errors e1(ok);
  EXPECT_TRUE(load_config(ok, e1).has_value()) << e1.str();
  std::string over = write("pools-over", config_with(257));
  Errors e2(over);
  EXPECT_FALSE(load_config(over, e2).has_value());
  EXPECT_NE(e2.str().find("4112 distinct (SNAT address, backend) pairs; the data plane keeps a port pool for at most 4096"),
            std::string::npos) << e2.str();
}

TEST_F(LbConfigLoad, ParseConfigReadsAnAlreadyParsedTable) {
  toml::table root = toml::parse(kHead + R"([[vip]]
name = "web"
address = "198.18.0.10"
port = 80
)");
  Errors errors("inline.toml");
  std::optional<LbConfig> cfg = parse_config(root, "inline.toml", errors);
  ASSERT_TRUE(cfg.has_value()) << errors.str();
  EXPECT_EQ(cfg->path, "inline.toml");
  EXPECT_EQ(cfg->vips.size(), 1u);
}

// ------------------------------------------------------------------ broken files

struct Broken {
  const char* name;
  std::string toml;
  std::string want;  // the only error's ConfigError::str(), after "FILE"
};

// Repeated pieces of the cases below.
const std::string kWeb = R"([[vip]]
name = "web"
address = "198.18.0.10"
port = 80
)";
const std::string kBackend11 = R"([[vip.backends]]
address = "198.18.2.11"
port = 80
)";

const std::vector<Broken> kBroken = {
    // ---- the file itself
    {"toml-syntax-error", kHead + "[[vip]\n",
     ":15:7: TOML syntax error: Error while parsing table header: expected ']', saw '\\n'"},
    {"unknown-top-level-table", kHead + "[vips]\nname = \"web\"\n",
     ":15:2: vips: unknown key (known keys here: controlplane, dataplane, vip)"},
    {"dataplane-error-reported-too", R"([dataplane]
main_lcore = 128
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
[controlplane]
hash_seed = "0123456789abcdef"
)",
     ":2:14: dataplane.main_lcore: 128 is out of range (0 .. 127)"},
    {"vip-not-an-array", kHead + "[vip]\nname = \"web\"\n",
     ":15:1: vip: must be an array of tables ([[vip]]), not a table"},

    // ---- [controlplane]
    {"missing-controlplane", kNet,
     ": no [controlplane] section (it needs at least hash_seed: use at least 16 random characters (e.g. the output "
     "of `openssl rand -hex 16`), the same on every node of the cluster)"},
    {"missing-hash-seed", kNet + "[controlplane]\nsocket = \"/run/fulcrum/lbctl.sock\"\n",
     ":13:1: controlplane.hash_seed: required key missing (for example: hash_seed = \"<output of `openssl rand -hex "
     "16`>\"; the same on every node of the cluster)"},
    {"short-hash-seed", kNet + "[controlplane]\nhash_seed = \"secret\"\n",
     ":14:13: controlplane.hash_seed: is 6 characters; use at least 16 random characters (e.g. the output of "
     "`openssl rand -hex 16`)"},
    {"socket-mode-not-octal", kHead + "socket_mode = \"0666x\"\n",
     ":15:15: controlplane.socket_mode: \"0666x\" is not a file mode: write 3 or 4 octal digits, e.g. \"0660\""},
    {"socket-mode-digit-8", kHead + "socket_mode = \"0680\"\n",
     ":15:15: controlplane.socket_mode: \"0680\" is not a file mode: write 3 or 4 octal digits, e.g. \"0660\""},
    {"socket-mode-owner-read-only", kHead + "socket_mode = \"0400\"\n",
     ":15:15: controlplane.socket_mode: \"0400\" is out of range (\"0600\" .. \"0777\"): the control plane's own "
     "user must keep read and write access"},
    {"socket-mode-integer", kHead + "socket_mode = 0o660\n",
     ":15:15: controlplane.socket_mode: must be a string, not an integer"},
    {"relative-socket", kHead + "socket = \"run/lbctl.sock\"\n",
     ":15:10: controlplane.socket: \"run/lbctl.sock\" must be an absolute path (starting with '/')"},
    {"socket-path-too-long", kHead + "socket = \"/" + std::string(107, 's') + "\"\n",
     ":15:10: controlplane.socket: is 108 characters; a Unix socket path has at most 107"},
    {"relative-state-dir", kHead + "state_dir = \"var/lib/fulcrum\"\n",
     ":15:13: controlplane.state_dir: \"var/lib/fulcrum\" must be an absolute path (starting with '/')"},
    {"metrics-hostname", kHead + "metrics = \"localhost:9469\"\n",
     ":15:11: controlplane.metrics: \"localhost:9469\" is not \"IPv4:port\" or \"[IPv6]:port\" (e.g. \"127.0.0.1:9469\", "
     "\"[::1]:9469\"; \"\" disables metrics)"},
    {"metrics-without-port", kHead + "metrics = \"127.0.0.1\"\n",
     ":15:11: controlplane.metrics: \"127.0.0.1\" is not \"IPv4:port\" or \"[IPv6]:port\" (e.g. \"127.0.0.1:9469\", "
     "\"[::1]:9469\"; \"\" disables metrics)"},
    {"metrics-ipv6-without-brackets", kHead + "metrics = \"::1:9469\"\n",
     ":15:11: controlplane.metrics: \"::1:9469\" is not \"IPv4:port\" or \"[IPv6]:port\" (e.g. \"127.0.0.1:9469\", "
     "\"[::1]:9469\"; \"\" disables metrics)"},
    {"metrics-port-out-of-range", kHead + "metrics = \"127.0.0.1:65536\"\n",
     ":15:11: controlplane.metrics: \"127.0.0.1:65536\" is not \"IPv4:port\" or \"[IPv6]:port\" (e.g. \"127.0.0.1:9469\", "
     "\"[::1]:9469\"; \"\" disables metrics)"},
    {"unknown-user", kHead + "socket_owner = \"fulcrum-no-such-user\"\n",
     ":15:16: controlplane.socket_owner: no user \"fulcrum-no-such-user\" on this host; create it or name an "
     "existing user"},
    {"unknown-group", kHead + "socket_group = \"fulcrum-no-such-group\"\n",
     ":15:16: controlplane.socket_group: no group \"fulcrum-no-such-group\" on this host; create it or name an "
     "existing group"},
    {"publish-timeout-too-short", kHead + "publish_timeout_ms = 5\n",
     ":15:22: controlplane.publish_timeout_ms: 5 is out of range (10 .. 10000)"},
    {"unknown-key-in-controlplane", kHead + "listen = \"/run/fulcrum/lbctl.sock\"\n",
     ":15:1: controlplane.listen: unknown key (known keys here: bgp, hash_seed, metrics, publish_timeout_ms, socket, "
     "socket_group, socket_mode, socket_owner, state_dir)"},

    // ---- [[vip]]: its own keys
    {"vip-missing-name", kHead + "[[vip]]\naddress = \"198.18.0.10\"\nport = 80\n",
     ":15:1: vip[0].name: required key missing (for example: name = \"web\")"},
    {"vip-missing-address", kHead + "[[vip]]\nname = \"web\"\nport = 80\n",
     ":15:1: vip[0].address: required key missing (for example: address = \"198.18.0.10\")"},
    {"vip-missing-port", kHead + "[[vip]]\nname = \"web\"\naddress = \"198.18.0.10\"\n",
     ":15:1: vip[0].port: required key missing (for example: port = 80)"},
    {"vip-bad-name", kHead + "[[vip]]\nname = \"Web Site\"\naddress = \"198.18.0.10\"\nport = 80\n",
     ":16:8: vip[0].name: \"Web Site\" must be 1-32 characters of a-z, 0-9, '-', '_'"},
    {"vip-duplicate-name", kHead + kWeb + "[[vip]]\nname = \"web\"\naddress = \"198.18.0.11\"\nport = 80\n",
     ":20:8: vip[1].name: VIP \"web\" is defined twice (first at line 15); VIP names must be unique"},
    {"vip-duplicate-endpoint", kHead + kWeb + "[[vip]]\nname = \"web2\"\naddress = \"198.18.0.10\"\nport = 80\n",
     ":22:8: vip[1].port: 198.18.0.10:80 is already VIP \"web\" (line 15); each VIP needs its own address:port"},
    {"vip-bad-address", kHead + "[[vip]]\nname = \"web\"\naddress = \"198.18.0.256\"\nport = 80\n",
     ":17:11: vip[0].address: \"198.18.0.256\" is not an IPv4 address (e.g. \"198.18.0.10\")"},
    {"vip-loopback-address", kHead + "[[vip]]\nname = \"web\"\naddress = \"127.0.0.1\"\nport = 80\n",
     ":17:11: vip[0].address: \"127.0.0.1\" cannot be a VIP address: 0.0.0.0/8, 127.0.0.0/8 and 224.0.0.0 and above "
     "are not unicast addresses the data plane can use"},
    {"vip-multicast-address", kHead + "[[vip]]\nname = \"web\"\naddress = \"239.1.1.1\"\nport = 80\n",
     ":17:11: vip[0].address: \"239.1.1.1\" cannot be a VIP address: 0.0.0.0/8, 127.0.0.0/8 and 224.0.0.0 and above "
     "are not unicast addresses the data plane can use"},
    {"vip-is-port-address", kHead + "[[vip]]\nname = \"web\"\naddress = \"198.18.1.1\"\nport = 80\n",
     ":17:11: vip[0].address: 198.18.1.1 is the address of [dataplane] port \"client\"; a VIP needs an address of "
     "its own"},
    {"vip-port-zero", kHead + "[[vip]]\nname = \"web\"\naddress = \"198.18.0.10\"\nport = 0\n",
     ":18:8: vip[0].port: 0 is out of range (1 .. 65535)"},
    {"vip-protocol-udp", kHead + kWeb + "protocol = \"udp\"\n",
     ":19:12: vip[0].protocol: \"udp\": only tcp is supported (remove protocol or write \"tcp\")"},
    {"vip-bad-mode", kHead + kWeb + "mode = \"dsr\"\n",
     ":19:8: vip[0].mode: \"dsr\" is not a forwarding mode: use \"nat\" or \"fullnat\""},
    {"vip-bad-down-policy", kHead + kWeb + "on_backend_down = \"drop\"\n",
     ":19:19: vip[0].on_backend_down: \"drop\" is not a policy: use \"keep\" or \"reset\""},
    {"vip-short-hash-seed", kHead + kWeb + "hash_seed = \"vip-seed\"\n",
     ":19:13: vip[0].hash_seed: is 8 characters; use at least 16 random characters (e.g. the output of `openssl "
     "rand -hex 16`)"},
    {"vip-maglev-not-prime", kHead + kWeb + "maglev_size = 65536\n",
     ":19:15: vip[0].maglev_size: Maglev table size 65536 is not a prime (use e.g. 65537, 655373 or 1048573)"},
    {"vip-maglev-too-small", kHead + kWeb + "maglev_size = 2\n",
     ":19:15: vip[0].maglev_size: Maglev table size 2 out of range (3 .. 16777216)"},
    {"vip-maglev-negative", kHead + kWeb + "maglev_size = -7\n",
     ":19:15: vip[0].maglev_size: Maglev table size -7 out of range (3 .. 16777216)"},
    {"vip-maglev-smaller-than-backends", kHead + kWeb + "maglev_size = 3\n" + kBackend11 +
                                             "[[vip.backends]]\naddress = \"198.18.2.12\"\nport = 80\n"
                                             "[[vip.backends]]\naddress = \"198.18.2.13\"\nport = 80\n"
                                             "[[vip.backends]]\naddress = \"198.18.2.14\"\nport = 80\n",
     ":19:15: vip[0].maglev_size: this VIP has 4 backends but maglev_size is 3: the table needs more entries than "
     "backends (about 100 x the backend count, e.g. 65537)"},
    {"vip-unknown-key", kHead + kWeb + "backend = []\n",
     ":19:1: vip[0].backend: unknown key (known keys here: address, backends, balance_factor, connect_retries, "
     "hash_seed, health, maglev_size, max_new_conn_rate, min_healthy_backends, mode, name, new_conn_burst, on_backend_down, "
     "on_full, passive, port, protocol, scheduler, slow_start_s, snat, synproxy)"},
    {"vip-burst-without-rate", kHead + kWeb + "new_conn_burst = 10\n",
     ":19:18: vip[0].new_conn_burst: has no effect without max_new_conn_rate (the SYN rate it is the burst of)"},
    {"vip-rate-negative", kHead + kWeb + "max_new_conn_rate = -5\n",
     ":19:21: vip[0].max_new_conn_rate: -5 is out of range (0 .. 1000000000)"},
    {"vip-bad-synproxy", kHead + kWeb + "synproxy = \"yes\"\n",
     ":19:12: vip[0].synproxy: \"yes\" is not a SYN proxy mode: use \"off\", \"on\" or \"auto\""},
    {"vip-synproxy-without-dataplane", kHead + kWeb + "synproxy = \"auto\"\n",
     ":19:12: vip[0].synproxy: \"auto\" needs dataplane.synproxy = true (it reserves 4 bytes per connection entry "
     "for sequence translation)"},

    // ---- SNAT
    {"snat-on-nat", kHead + kWeb + "snat = [\"198.18.2.100\"]\n",
     ":19:8: vip[0].snat: only fullnat VIPs use SNAT addresses: remove snat, or set mode = \"fullnat\""},
    {"fullnat-without-snat", kHead + kWeb + "mode = \"fullnat\"\n",
     ":15:1: vip[0].snat: required when mode = \"fullnat\" (for example: snat = [\"198.18.2.100\"], free addresses on "
     "the backend port's subnet)"},
    {"fullnat-empty-snat", kHead + kWeb + "mode = \"fullnat\"\nsnat = []\n",
     ":20:8: vip[0].snat: needs 1 to 16 addresses, not 0"},
    {"fullnat-17-snat", kHead + kWeb + "mode = \"fullnat\"\nsnat = [" + [] {
       std::string list;
       for (int i = 100; i < 117; ++i) {
         list += (i > 100 ? ", " : "") + std::string("\"198.18.2.") + std::to_string(i) + "\"";
       }
       return list;
     }() + "]\n",
     ":20:8: vip[0].snat: needs 1 to 16 addresses, not 17"},
    {"snat-twice", kHead + kWeb + "mode = \"fullnat\"\nsnat = [\"198.18.2.100\", \"198.18.2.100\"]\n",
     ":20:25: vip[0].snat[1]: 198.18.2.100 is listed twice in this VIP's snat"},
    {"snat-bad-address", kHead + kWeb + "mode = \"fullnat\"\nsnat = [\"198.18.2\"]\n",
     ":20:9: vip[0].snat[0]: \"198.18.2\" is not an IPv4 address (e.g. \"198.18.2.100\")"},
    {"snat-is-vip", kHead + kWeb + "[[vip]]\nname = \"api\"\naddress = \"198.18.2.50\"\nport = 443\nmode = \"fullnat\"\n"
                                   "snat = [\"198.18.2.100\", \"198.18.0.10\"]\n",
     ":24:25: vip[1].snat[1]: 198.18.0.10 is the address of VIP \"web\"; SNAT needs addresses no VIP uses"},
    {"snat-is-port-address", kHead + kWeb + "mode = \"fullnat\"\nsnat = [\"198.18.2.1\"]\n",
     ":20:9: vip[0].snat[0]: 198.18.2.1 is the address of [dataplane] port \"backend\"; SNAT needs other free "
     "addresses on a port's subnet"},
    {"snat-off-subnet", kHead + kWeb + "mode = \"fullnat\"\nsnat = [\"203.0.113.100\"]\n",
     ":20:9: vip[0].snat[0]: 203.0.113.100 is not on any [dataplane] port's connected subnet (198.18.1.1/24, "
     "198.18.2.1/24): the data plane could not answer ARP for it, so backends' replies would never arrive; use a "
     "free address on the backend port's subnet"},

    // ---- health checks
    {"health-timeout-not-below-interval", kHead + kWeb + "[vip.health]\ninterval_ms = 1000\ntimeout_ms = 1000\n",
     ":21:14: vip[0].health.timeout_ms: timeout_ms (1000) must be less than interval_ms (1000): a check must time out "
     "before the next one starts"},
    {"health-interval-below-default-timeout", kHead + kWeb + "[vip.health]\ninterval_ms = 500\n",
     ":20:15: vip[0].health.interval_ms: timeout_ms (1000, the default) must be less than interval_ms (500): a check "
     "must time out before the next one starts"},
    {"health-bad-type", kHead + kWeb + "[vip.health]\ntype = \"icmp\"\n",
     ":20:8: vip[0].health.type: \"icmp\" is not a check type: use \"tcp\" or \"http\""},
    {"health-bad-method", kHead + kWeb + "[vip.health]\ntype = \"http\"\nmethod = \"POST\"\n",
     ":21:10: vip[0].health.method: \"POST\" is not a supported method: use \"GET\" or \"HEAD\""},
    {"health-path-without-slash", kHead + kWeb + "[vip.health]\ntype = \"http\"\npath = \"healthz\"\n",
     ":21:8: vip[0].health.path: \"healthz\" must start with \"/\" (e.g. \"/healthz\")"},
    {"health-path-with-space", kHead + kWeb + "[vip.health]\ntype = \"http\"\npath = \"/health check\"\n",
     ":21:8: vip[0].health.path: \"/health check\" must not contain spaces or control characters (percent-encode "
     "them, e.g. %20)"},
    {"health-expect-status-700", kHead + kWeb + "[vip.health]\ntype = \"http\"\nexpect_status = 700\n",
     ":21:17: vip[0].health.expect_status: 700 is out of range (100 .. 599)"},
    {"health-http-key-on-tcp-check", kHead + kWeb + "[vip.health]\npath = \"/healthz\"\n",
     ":20:8: vip[0].health.path: is only used by http checks, and this check is type \"tcp\", the default; set type = "
     "\"http\" or remove path"},
    {"health-rise-zero", kHead + kWeb + "[vip.health]\nrise = 0\n",
     ":20:8: vip[0].health.rise: 0 is out of range (1 .. 100)"},
    {"health-unknown-key", kHead + kWeb + "[vip.health]\ninterval = 1000\n",
     ":20:1: vip[0].health.interval: unknown key (known keys here: expect_body, expect_status, fall, host, "
     "interval_ms, method, path, port, rise, source, start_down, timeout_ms, type)"},
    {"backend-override-timeout-above-vip-interval",
     kHead + kWeb + "[vip.health]\ninterval_ms = 1000\ntimeout_ms = 500\n" + kBackend11 +
         "[vip.backends.health]\ntimeout_ms = 1500\n",
     ":26:14: vip[0].backends[0].health.timeout_ms: timeout_ms (1500) must be less than interval_ms (1000, from the "
     "VIP's [vip.health]): a check must time out before the next one starts"},
    {"backend-override-http-key-on-tcp-check",
     kHead + kWeb + kBackend11 + "[vip.backends.health]\nhost = \"a.example\"\n",
     ":23:8: vip[0].backends[0].health.host: is only used by http checks, and this check is type \"tcp\", the "
     "default; set type = \"http\" or remove host"},

    // ---- [[vip.backends]]
    {"backend-missing-address", kHead + kWeb + "[[vip.backends]]\nport = 80\n",
     ":19:1: vip[0].backends[0].address: required key missing (for example: address = \"198.18.2.11\")"},
    {"backend-missing-port", kHead + kWeb + "[[vip.backends]]\naddress = \"198.18.2.11\"\n",
     ":19:1: vip[0].backends[0].port: required key missing (for example: port = 80)"},
    {"backend-weight-1001", kHead + kWeb + kBackend11 + "weight = 1001\n",
     ":22:10: vip[0].backends[0].weight: 1001 is out of range (0 .. 1000)"},
    {"backend-weight-string", kHead + kWeb + kBackend11 + "weight = \"5\"\n",
     ":22:10: vip[0].backends[0].weight: must be an integer, not a string"},
    {"backend-bad-state", kHead + kWeb + kBackend11 + "state = \"disabled\"\n",
     ":22:9: vip[0].backends[0].state: \"disabled\" is not a backend state: use \"active\" or \"draining\""},
    {"backend-typo-key", kHead + kWeb + kBackend11 + "wieght = 5\n",
     ":22:1: vip[0].backends[0].wieght: unknown key (known keys here: address, health, max_connections, "
     "max_new_conn_rate, name, new_conn_burst, port, state, weight)"},
    {"backend-bad-name", kHead + kWeb + kBackend11 + "name = \"Web 1\"\n",
     ":22:8: vip[0].backends[0].name: \"Web 1\" must be 1-32 characters of a-z, 0-9, '-', '_'"},
    {"backend-duplicate-name", kHead + kWeb + kBackend11 + "name = \"b\"\n" +
                                   "[[vip.backends]]\nname = \"b\"\naddress = \"198.18.2.12\"\nport = 80\n",
     ":24:8: vip[0].backends[1].name: backend name \"b\" is used twice in this VIP (first at line 19)"},
    {"backend-duplicate", kHead + kWeb + kBackend11 + kBackend11,
     ":23:11: vip[0].backends[1].address: backend 198.18.2.11:80 is listed twice in this VIP (first at line 19)"},
    {"backend-is-vip-address", kHead + kWeb + "[[vip.backends]]\naddress = \"198.18.0.10\"\nport = 8080\n",
     ":20:11: vip[0].backends[0].address: 198.18.0.10 is the address of VIP \"web\"; a backend must be another host"},
    {"backend-is-port-address", kHead + kWeb + "[[vip.backends]]\naddress = \"198.18.2.1\"\nport = 80\n",
     ":20:11: vip[0].backends[0].address: 198.18.2.1 is the address of [dataplane] port \"backend\"; a backend must "
     "be another host"},
    {"backend-is-snat-address", kHead + kWeb + "mode = \"fullnat\"\nsnat = [\"198.18.2.100\"]\n" +
                                    "[[vip.backends]]\naddress = \"198.18.2.100\"\nport = 80\n",
     ":22:11: vip[0].backends[0].address: 198.18.2.100 is a SNAT address of VIP \"web\"; a backend must be another "
     "host"},
    {"backend-loopback", kHead + kWeb + "[[vip.backends]]\naddress = \"127.0.0.1\"\nport = 80\n",
     ":20:11: vip[0].backends[0].address: \"127.0.0.1\" cannot be a backend address: 0.0.0.0/8, 127.0.0.0/8 and "
     "224.0.0.0 and above are not unicast addresses the data plane can use"},
    {"backend-unreachable", kHead + kWeb + "[[vip.backends]]\naddress = \"10.1.2.3\"\nport = 80\n",
     ":20:11: vip[0].backends[0].address: no route to backend 10.1.2.3:80: not on a [dataplane] port's subnet, and "
     "no route or gateway covers it (add a [[dataplane.routes]] entry, or a gateway to a port)"},
    {"backend-shared-by-two-nat-vips", kHead + kWeb + kBackend11 +
                                           "[[vip]]\nname = \"api\"\naddress = \"198.18.0.11\"\nport = 80\n" + kBackend11,
     ":27:11: vip[1].backends[0].address: backend 198.18.2.11:80 of nat VIP \"api\" is also a backend of nat VIP "
     "\"web\" (line 15): the data plane could not tell their replies apart; make one of the two VIPs fullnat, or "
     "give the backends distinct ports"},

    // ---- capacities
    {"maglev-pool-exceeded", kHead + kWeb + "maglev_size = 16777213\n" +
                                 "[[vip]]\nname = \"api\"\naddress = \"198.18.0.11\"\nport = 80\nmaglev_size = 1048573\n",
     ":24:15: vip[1].maglev_size: with this VIP the maglev_size of all VIPs adds up to 17825786, more than the data "
     "plane's table pool of 16842752 entries; use smaller tables (about 100 x a VIP's backend count is enough, "
     "e.g. 4099 or 16411)"},
};

TEST_F(LbConfigLoad, BrokenConfigsReportExactlyTheirError) {
  size_t n = 0;
  for (const Broken& b : kBroken) {
    SCOPED_TRACE(b.name);
    std::string path = write(b.name, b.toml);
    Errors errors(path);
    std::optional<LbConfig> cfg = load_config(path, errors);
    EXPECT_FALSE(cfg.has_value()) << "a broken config must not load";
    EXPECT_EQ(messages(errors), std::vector<std::string>{path + b.want}) << "all errors:\n" << errors.str();
    ++n;
  }
  EXPECT_GE(n, 30u);
}

TEST_F(LbConfigLoad, MissingFile) {
  const std::string path = dir_ + "/does-not-exist.toml";
  Errors errors(path);
  EXPECT_FALSE(load_config(path, errors).has_value());
  EXPECT_EQ(messages(errors), std::vector<std::string>{path + ": cannot read the file: No such file or directory"});
}

// Every error is collected in one pass and reported in file order, whichever check found it
// (the cross-VIP checks run after all VIPs are read).
TEST_F(LbConfigLoad, EveryErrorIsReportedInFileOrder) {
  std::string path = write("many-errors", kNet + R"([controlplane]
socket_mode = "0400"
hash_seed = "short"
[[vip]]
name = "web"
address = "198.18.0.10"
port = 80
maglev_size = 1000
[[vip.backends]]
address = "198.18.0.20"
port = 80
weight = 1001
[[vip]]
name = "web"
address = "198.18.0.20"
port = 80
protocol = "udp"
[vip.health]
timeout_ms = 5000
)");
  Errors errors(path);
  EXPECT_FALSE(load_config(path, errors).has_value());
  const std::vector<std::string> want = {
      path + ":14:15: controlplane.socket_mode: \"0400\" is out of range (\"0600\" .. \"0777\"): the control plane's "
             "own user must keep read and write access",
      path + ":15:13: controlplane.hash_seed: is 5 characters; use at least 16 random characters (e.g. the output "
             "of `openssl rand -hex 16`)",
      path + ":20:15: vip[0].maglev_size: Maglev table size 1000 is not a prime (use e.g. 65537, 655373 or 1048573)",
      path + ":22:11: vip[0].backends[0].address: 198.18.0.20 is the address of VIP \"web\"; a backend must be "
             "another host",
      path + ":24:10: vip[0].backends[0].weight: 1001 is out of range (0 .. 1000)",
      path + ":26:8: vip[1].name: VIP \"web\" is defined twice (first at line 16); VIP names must be unique",
      path + ":29:12: vip[1].protocol: \"udp\": only tcp is supported (remove protocol or write \"tcp\")",
      path + ":31:14: vip[1].health.timeout_ms: timeout_ms (5000) must be less than interval_ms (2000, the "
             "default): a check must time out before the next one starts",
  };
  EXPECT_EQ(messages(errors), want) << errors.str();
}

// A broken [dataplane] port is reported once, not again at every backend and SNAT address
// that its subnet would have made valid.
TEST_F(LbConfigLoad, BrokenPortIsNotReportedAgainAtEachBackend) {
  std::string path = write("broken-port", R"([dataplane]
[[dataplane.ports]]
name = "backend"
device = "net_tap1"
address = "198.18.2.1/33"
[controlplane]
hash_seed = "0123456789abcdef"
[[vip]]
name = "web"
address = "198.18.0.10"
port = 80
mode = "fullnat"
snat = ["198.18.2.100"]
[[vip.backends]]
address = "198.18.2.11"
port = 80
[[vip.backends]]
address = "198.18.2.12"
port = 80
)");
  Errors errors(path);
  EXPECT_FALSE(load_config(path, errors).has_value());
  EXPECT_EQ(messages(errors), std::vector<std::string>{path + ":5:11: dataplane.ports[0].address: \"198.18.2.1/33\" "
                                                              "is not an IPv4 address with a prefix length (e.g. "
                                                              "\"198.18.1.1/24\")"});
}

TEST_F(LbConfigLoad, GatewayOrRouteMakesABackendReachable) {
  // Through the route of kNet.
  std::string path = write("routed", kHead + kWeb + "[[vip.backends]]\naddress = \"203.0.113.9\"\nport = 80\n");
  Errors errors(path);
  EXPECT_TRUE(load_config(path, errors).has_value()) << errors.str();
  // Anything, through a port's gateway (the default route).
  path = write("gateway", R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
gateway = "198.18.1.254"
[controlplane]
hash_seed = "0123456789abcdef"
[[vip]]
name = "web"
address = "198.18.0.10"
port = 80
[[vip.backends]]
address = "10.9.8.7"
port = 80
)");
  Errors e2(path);
  EXPECT_TRUE(load_config(path, e2).has_value()) << e2.str();
}

TEST_F(LbConfigLoad, BackendsMayBeSharedUnlessBothVipsAreNat) {
  // A nat and a fullnat VIP, and two nat VIPs on distinct backend ports.
  std::string path = write("shared-ok", kHead + kWeb + kBackend11 + R"([[vip]]
name = "web-fullnat"
address = "198.18.0.20"
port = 80
mode = "fullnat"
snat = ["198.18.2.100"]
[[vip.backends]]
address = "198.18.2.11"
port = 80
[[vip]]
name = "web-8080"
address = "198.18.0.30"
port = 80
[[vip.backends]]
address = "198.18.2.11"
port = 8080
)");
  Errors errors(path);
  EXPECT_TRUE(load_config(path, errors).has_value()) << errors.str();
}

// ------------------------------------------------------------------ capacities

TEST_F(LbConfigLoad, AtMost256Vips) {
  std::string text = kHead;
  for (int i = 0; i < 257; ++i) {
    text += "[[vip]]\nname = \"v" + std::to_string(i) + "\"\naddress = \"198.18.0.10\"\nport = " +
            std::to_string(i + 1) + "\nmaglev_size = 4099\n";
  }
  std::string path = write("257-vips", text);
  Errors errors(path);
  EXPECT_FALSE(load_config(path, errors).has_value());
  const uint32_t line = 15 + 256 * 5;
  EXPECT_EQ(messages(errors), std::vector<std::string>{path + ":" + std::to_string(line) +
                                                       ":1: vip[256]: VIP number 257: the data plane holds at most "
                                                       "256 VIPs"});
}

TEST_F(LbConfigLoad, AtMost8192BackendsInAll) {
  // Two VIPs of 4096 backends, and one more.
  std::string text = kHead;
  uint32_t line = 15, last = 0;
  for (int v = 0; v < 3; ++v) {
    text += "[[vip]]\nname = \"v" + std::to_string(v) + "\"\naddress = \"198.18.0.1" + std::to_string(v) +
            "\"\nport = 80\nmode = \"fullnat\"\nsnat = [\"198.18.2.100\"]\n";
    line += 6;
    for (int b = 0; b < (v < 2 ? 4096 : 1); ++b) {
      last = line;
      text += "[[vip.backends]]\naddress = \"203.0.113." + std::to_string(1 + b / 256) + "\"\nport = " +
              std::to_string(1000 + b % 256) + "\n";
      line += 3;
    }
  }
  std::string path = write("8193-backends", text);
  Errors errors(path);
  EXPECT_FALSE(load_config(path, errors).has_value());
  EXPECT_EQ(messages(errors), std::vector<std::string>{path + ":" + std::to_string(last) +
                                                       ":1: vip[2].backends[0]: backend number 8193 of the file: the "
                                                       "data plane holds at most 8192 backends across all VIPs"});
}

TEST_F(LbConfigLoad, AtMost1024VipAndSnatAddresses) {
  // 64 fullnat VIPs with 16 SNAT addresses each: 64 + 1024 addresses; the 61st VIP passes 1024.
  std::string text = R"([dataplane]
[[dataplane.ports]]
name = "backend"
device = "net_tap1"
address = "10.0.0.1/16"
[controlplane]
hash_seed = "0123456789abcdef"
)";
  uint32_t line = 8, at = 0;
  for (int v = 0; v < 64; ++v) {
    std::string snat;
    for (int s = 0; s < 16; ++s) {
      snat += (s ? ", \"10.0." : "\"10.0.") + std::to_string(100 + v) + "." + std::to_string(s + 1) + "\"";
    }
    text += "[[vip]]\nname = \"v" + std::to_string(v) + "\"\naddress = \"10.0.1." + std::to_string(v + 1) +
            "\"\nport = 80\nmode = \"fullnat\"\nmaglev_size = 4099\nsnat = [" + snat + "]\n";
    if (v == 60) at = line + 2;
    line += 7;
  }
  std::string path = write("1025-addresses", text);
  Errors errors(path);
  EXPECT_FALSE(load_config(path, errors).has_value());
  EXPECT_EQ(messages(errors), std::vector<std::string>{path + ":" + std::to_string(at) +
                                                       ":11: vip[60].address: with this VIP there are 1037 distinct "
                                                       "VIP and SNAT addresses; the data plane answers ARP for at "
                                                       "most 1024 (let VIPs share an address on different ports, or "
                                                       "share SNAT addresses)"});
}

// ------------------------------------------------------------------ dataplane_changes

const char* kDataplaneBefore = R"([dataplane]
eal_args = ["--in-memory"]
main_lcore = 0
worker_lcores = [1, 2]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
[[dataplane.ports]]
name = "backend"
device = "net_tap1"
address = "198.18.2.1/24"
[controlplane]
hash_seed = "0123456789abcdef"
[[vip]]
name = "web"
address = "198.18.0.10"
port = 80
)";

std::vector<std::string> changes(const std::string& before, const std::string& after) {
  return dataplane_changes(toml::parse(before), toml::parse(after));
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(DataplaneChanges, IdenticalFilesHaveNone) {
  EXPECT_TRUE(changes(kDataplaneBefore, kDataplaneBefore).empty());
  // Formatting is not a change: the values are compared, not the text.
  std::string reformatted = replaced(kDataplaneBefore, "worker_lcores = [1, 2]", "worker_lcores = [ 1,\n  2 ]  # two");
  EXPECT_TRUE(changes(kDataplaneBefore, reformatted).empty());
}

TEST(DataplaneChanges, ChangedWorkerLcores) {
  EXPECT_EQ(changes(kDataplaneBefore, replaced(kDataplaneBefore, "[1, 2]", "[1, 3]")),
            std::vector<std::string>{"dataplane.worker_lcores[1]"});
  EXPECT_EQ(changes(kDataplaneBefore, replaced(kDataplaneBefore, "[1, 2]", "[1, 2, 3]")),
            std::vector<std::string>{"dataplane.worker_lcores"});
}

TEST(DataplaneChanges, ChangedPortDevice) {
  EXPECT_EQ(changes(kDataplaneBefore, replaced(kDataplaneBefore, "\"net_tap1\"", "\"net_tap7\"")),
            std::vector<std::string>{"dataplane.ports[1].device"});
}

TEST(DataplaneChanges, AddedPortAndKeys) {
  std::string after = std::string(kDataplaneBefore) + R"([[dataplane.ports]]
name = "third"
device = "net_tap2"
address = "198.18.3.1/24"
)";
  // (A [[dataplane.ports]] header after [[vip]] still appends to dataplane.ports.)
  EXPECT_EQ(changes(kDataplaneBefore, after), std::vector<std::string>{"dataplane.ports"});
  // An added key, a removed key and a changed one, sorted.
  after = replaced(kDataplaneBefore, "main_lcore = 0\n", "idle_sleep_us = 10\n");
  after = replaced(after, "\"--in-memory\"", "\"--no-huge\"");
  EXPECT_EQ(changes(kDataplaneBefore, after),
            (std::vector<std::string>{"dataplane.eal_args[0]", "dataplane.idle_sleep_us", "dataplane.main_lcore"}));
  after = replaced(kDataplaneBefore, "address = \"198.18.1.1/24\"\n",
                   "address = \"198.18.1.1/24\"\ngateway = \"198.18.1.254\"\n");
  EXPECT_EQ(changes(kDataplaneBefore, after), std::vector<std::string>{"dataplane.ports[0].gateway"});
  // A value of another type.
  EXPECT_EQ(changes(kDataplaneBefore, replaced(kDataplaneBefore, "main_lcore = 0", "main_lcore = \"0\"")),
            std::vector<std::string>{"dataplane.main_lcore"});
}

TEST(DataplaneChanges, OnlyVipChangesAreNone) {
  std::string after = replaced(kDataplaneBefore, "port = 80", "port = 8080\nmode = \"fullnat\"");
  after = replaced(after, "hash_seed = \"0123456789abcdef\"", "hash_seed = \"fedcba9876543210\"");
  EXPECT_TRUE(changes(kDataplaneBefore, after).empty());
}

TEST(DataplaneChanges, SectionAddedOrRemoved) {
  EXPECT_EQ(changes(kDataplaneBefore, "[controlplane]\n"), std::vector<std::string>{"dataplane"});
  EXPECT_EQ(changes("", kDataplaneBefore), std::vector<std::string>{"dataplane"});
  EXPECT_TRUE(changes("", "").empty());
}

// ------------------------------------------------------------------ Maglev sizes

TEST(MaglevSize, IsPrime) {
  for (uint64_t p : {2ull, 3ull, 5ull, 4099ull, 16411ull, 65537ull, 655373ull, 1048573ull, 16777213ull,
                     2305843009213693951ull /* 2^61-1 */, 18446744073709551557ull /* largest below 2^64 */}) {
    EXPECT_TRUE(is_prime(p)) << p;
  }
  for (uint64_t n : {0ull, 1ull, 4ull, 9ull, 561ull /* Carmichael */, 65536ull, 3215031751ull /* strong pseudoprime
                     to bases 2, 3, 5, 7 */, 16777215ull, 18446744073709551615ull}) {
    EXPECT_FALSE(is_prime(n)) << n;
  }
  // Against trial division, for every n below 100000.
  for (uint64_t n = 0; n < 100000; ++n) {
    bool prime = n >= 2;
    for (uint64_t d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
    ASSERT_EQ(is_prime(n), prime) << n;
  }
}

TEST(MaglevSize, CheckMaglevSize) {
  EXPECT_EQ(check_maglev_size(65537), "");
  EXPECT_EQ(check_maglev_size(3), "");
  EXPECT_EQ(check_maglev_size(16777213), "") << "the largest prime within the pool";
  EXPECT_EQ(check_maglev_size(65536), "Maglev table size 65536 is not a prime (use e.g. 65537, 655373 or 1048573)");
  EXPECT_EQ(check_maglev_size(2), "Maglev table size 2 out of range (3 .. 16777216)");
  EXPECT_EQ(check_maglev_size(0), "Maglev table size 0 out of range (3 .. 16777216)");
  EXPECT_EQ(check_maglev_size(16777259), "Maglev table size 16777259 out of range (3 .. 16777216)") << "prime, too big";
  EXPECT_EQ(kDefaultMaglevSize, 65537u);
  EXPECT_EQ(VipConfig{}.maglev_size, kDefaultMaglevSize);
}

}  // namespace
}  // namespace fulcrum::config
