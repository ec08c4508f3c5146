// lb-controlplane and lbctl, for real: the control plane runs in the balancer namespace of a
// router-mode topology (its health checks reach three real nginx backends), lbctl talks to
// its socket, and the test reads the tables it publishes through the shared-memory contract.
// No data plane runs here except where a test plays one (status region, heartbeat).
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>

#include <arpa/inet.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "dataplane/abi/dump.h"
#include "dataplane/abi/publish.h"
#include "tests/e2e/lb_harness.h"

namespace fulcrum::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class ControlPlane : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    std::string why;
    topo_ = Topology::create({3, TopologyOptions::Mode::Router, 1}, &why);
    ASSERT_TRUE(topo_) << why;
    shm_ = std::make_unique<ShmNames>(*topo_);
    config_path_ = topo_->value("RUN_DIR") + "/lb.toml";
    write_config(ControlplaneOptions{});
  }
  void TearDown() override {
    if (cp_) cp_->stop();
    if (HasFailure() && cp_) std::printf("--- lb-controlplane log:\n%s\n", cp_->log().c_str());
  }
  void write_config(const ControlplaneOptions& o, const std::string& extra = "") {
    std::ofstream(config_path_) << full_toml(*topo_, *shm_, DataplaneOptions{}, o) << extra;
  }
  void start() {
    cp_ = start_controlplane(*topo_, config_path_);
    ASSERT_TRUE(cp_->running()) << cp_->log();
  }
  // The published generation and a VIP's backends as the data plane would see them.
  struct Published {
    uint64_t generation = 0;
    std::map<std::string, std::pair<uint16_t, abi::BackendState>> backends;  // endpoint -> (id, state)
    std::vector<uint16_t> maglev;
  };
  Published published(const char* vip_addr) {
    Published p;
    abi::Mapping m;
    std::string err;
    if (!abi::open_tables(shm_->tables, abi::Access::ReadOnly, &m, &err)) return p;
    const abi::TablesRegion& t = abi::tables_of(m);
    p.generation = t.header.generation.load();
    const abi::TableSlot& slot = t.slots[p.generation & 1];
    int vi = abi::find_vip(slot, inet_addr(vip_addr), htons(80), abi::kProtoTcp);
    if (vi < 0) return p;
    const abi::Vip& v = slot.vips[vi];
    for (uint32_t b = 0; b < v.backend_count; ++b) {
      const abi::Backend& be = slot.backends[v.backend_first + b];
      p.backends[abi::format_endpoint(be.addr_be, be.port_be)] = {be.id, static_cast<abi::BackendState>(be.state)};
    }
    p.maglev.assign(slot.maglev + v.maglev_offset, slot.maglev + v.maglev_offset + v.maglev_size);
    return p;
  }
  json backend(const std::string& vip, const std::string& endpoint) {
    for (const json& b : lbctl(*topo_, "backend list " + vip).json) {
      if (b["backend"] == endpoint) return b;
    }
    return json();
  }

  std::unique_ptr<Topology> topo_;
  std::unique_ptr<ShmNames> shm_;
  std::string config_path_;
  std::unique_ptr<Process> cp_;
};

TEST_F(ControlPlane, ReadVerbsAnswerInJsonAndAsTables) {
  start();
  LbctlResult status = lbctl(*topo_, "status");
  ASSERT_EQ(status.exit, 0) << status.err;
  EXPECT_EQ(status.json["dataplane"]["alive"], false);
  EXPECT_GE(status.json["tables"]["generation"].get<uint64_t>(), 1u);
  ASSERT_EQ(status.json["vips"].size(), 2u);
  EXPECT_EQ(status.json["vips"][0]["name"], "web");
  EXPECT_EQ(status.json["vips"][0]["vip"], "198.18.0.10:80");

  LbctlResult vips = lbctl(*topo_, "vip list");
  ASSERT_EQ(vips.exit, 0);
  EXPECT_EQ(vips.json[1]["mode"], "fullnat");
  EXPECT_EQ(vips.json[1]["snat"][0], "198.18.2.100");

  // Health checks pass against the real nginx backends.
  ASSERT_TRUE(wait_until([&] { return backend("web", "198.18.2.11:80")["health_reason"] == "HTTP 200"; }, 5s))
      << lbctl(*topo_, "backend list").out;
  LbctlResult list = lbctl(*topo_, "backend list web");
  ASSERT_EQ(list.exit, 0);
  ASSERT_EQ(list.json.size(), 3u);
  for (const json& b : list.json) {
    EXPECT_EQ(b["state"], "active");
    EXPECT_EQ(b["health"], "up");
    EXPECT_EQ(b["weight"], 1);
    EXPECT_EQ(b["detection_ms"], 300 * 2 + 200);
  }
  LbctlResult table = lbctl(*topo_, "backend list web", true);
  EXPECT_NE(table.out.find("198.18.2.12:80"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("LAST CHECK"), std::string::npos);
  LbctlResult stats = lbctl(*topo_, "stats");
  ASSERT_EQ(stats.exit, 0);
  EXPECT_TRUE(stats.json["drops"].contains("no_backend"));

  // Metrics: every name the issue lists, from inside the lb namespace.
  std::string metrics;
  topo_->exec(topo_->lb_ns, "curl -s http://" + metrics_address(*topo_) + "/metrics", &metrics);
  for (const char* name : {"lb_packets_total", "lb_bytes_total", "lb_drops_total{reason=", "lb_new_connections_total{vip=\"web\"}",
                           "lb_connections_active{vip=\"web\",backend=\"198.18.2.11:80\"", "lb_backend_up{vip=\"web\",backend=",
                           "lb_health_transitions_total{", "lb_conntrack_entries", "lb_table_generation", "lb_table_age_seconds",
                           "lb_dataplane_heartbeat_age_seconds"}) {
    EXPECT_NE(metrics.find(name), std::string::npos) << name << " missing from /metrics";
  }
}

TEST_F(ControlPlane, OperatorVerbsPublishAndPersistAndErrorsAreClear) {
  start();
  uint64_t g0 = published("198.18.0.10").generation;
  LbctlResult drain = lbctl(*topo_, "drain backend b1 --vip web");
  ASSERT_EQ(drain.exit, 0) << drain.err;
  EXPECT_EQ(drain.json["backends"][0]["state"], "draining");
  EXPECT_EQ(published("198.18.0.10").generation, g0 + 1) << "one action, one generation";
  EXPECT_EQ(published("198.18.0.10").backends["198.18.2.11:80"].second, abi::BackendState::Draining);
  EXPECT_EQ(published("198.18.0.20").backends["198.18.2.11:80"].second, abi::BackendState::Active) << "--vip limits the drain";

  LbctlResult weight = lbctl(*topo_, "weight backend 198.18.2.12:80 5");
  ASSERT_EQ(weight.exit, 0) << weight.err;
  EXPECT_EQ(weight.json["backends"].size(), 2u) << "without --vip: every VIP that has the backend";
  EXPECT_EQ(backend("web-full", "198.18.2.12:80")["weight"], 5);

  // The operator state is on disk, in the configured state directory.
  std::ifstream state(topo_->value("RUN_DIR") + "/state/operator-state.json");
  std::stringstream text;
  text << state.rdbuf();
  json saved = json::parse(text.str(), nullptr, false);
  ASSERT_FALSE(saved.is_discarded()) << text.str();
  ASSERT_EQ(saved["backends"].size(), 3u) << saved;  // web b1 drained; b2 weight in both VIPs
  EXPECT_EQ(saved["backends"][0]["backend"], "198.18.2.11:80");
  EXPECT_EQ(saved["backends"][0]["drained"], true);
  EXPECT_EQ(saved["backends"][1]["weight"], 5);

  EXPECT_EQ(lbctl(*topo_, "weight backend 198.18.2.12:80 config").exit, 0);
  EXPECT_EQ(backend("web", "198.18.2.12:80")["weight"], 1);
  EXPECT_EQ(lbctl(*topo_, "undrain backend b1").exit, 0);
  EXPECT_EQ(backend("web", "198.18.2.11:80")["state"], "active");

  // Errors: exit status and a message naming the problem.
  LbctlResult missing = lbctl(*topo_, "drain backend 198.18.2.99:80");
  EXPECT_EQ(missing.exit, 3);
  EXPECT_NE(missing.err.find("no backend \"198.18.2.99:80\" in any VIP"), std::string::npos) << missing.err;
  LbctlResult novip = lbctl(*topo_, "backend list nosuchvip");
  EXPECT_EQ(novip.exit, 3);
  EXPECT_NE(novip.err.find("no VIP named or at \"nosuchvip\""), std::string::npos) << novip.err;
  EXPECT_EQ(lbctl(*topo_, "weight backend b1 heavy").exit, 2);
  EXPECT_EQ(lbctl(*topo_, "weight backend b1 1001").exit, 2);
  EXPECT_EQ(lbctl(*topo_, "drain backend").exit, 2);
  EXPECT_EQ(lbctl(*topo_, "frobnicate").exit, 2);

  int rc = 0;
  std::string down = run_command(built("controlplane/lbctl") + " -s /nonexistent/lbctl.sock status 2>&1", &rc);
  EXPECT_EQ(rc, 4);
  EXPECT_NE(down.find("the control plane is not running"), std::string::npos) << down;
}

TEST_F(ControlPlane, ConfigCheckOffline) {
  LbctlResult good = lbctl(*topo_, "config check " + config_path_, true);
  EXPECT_EQ(good.exit, 0) << good.err;
  EXPECT_NE(good.out.find("valid (2 VIPs, 6 backends)"), std::string::npos) << good.out;
  std::string bad = topo_->value("RUN_DIR") + "/bad.toml";
  std::ofstream(bad) << "[controlplane]\nhash_seed = \"short\"\n";
  LbctlResult broken = lbctl(*topo_, "config check " + bad, true);
  EXPECT_EQ(broken.exit, 1);
  EXPECT_NE(broken.err.find(bad + ":"), std::string::npos) << broken.err;
  LbctlResult as_json = lbctl(*topo_, "config check " + bad);
  EXPECT_EQ(as_json.json["valid"], false);
  EXPECT_FALSE(as_json.json["errors"].empty());
}

TEST_F(ControlPlane, ReloadIsOneGenerationAndABrokenOneChangesNothing) {
  start();
  uint64_t g0 = published("198.18.0.10").generation;
  // A valid change: a weight and a removed backend, in both VIPs.
  std::string text;
  {
    std::ifstream in(config_path_);
    std::stringstream s;
    s << in.rdbuf();
    text = s.str();
  }
  std::string changed = text;
  size_t last = changed.rfind("[[vip.backends]]");
  changed = changed.substr(0, last);  // web-full loses b3
  size_t b2 = changed.find("name = \"b2\"");
  changed.insert(changed.find('\n', changed.find("port = 80", b2)) + 1, "weight = 3\n");
  std::ofstream(config_path_) << changed;
  LbctlResult reload = lbctl(*topo_, "reload");
  ASSERT_EQ(reload.exit, 0) << reload.err;
  EXPECT_EQ(reload.json["generation"], g0 + 1);
  std::string changes = reload.json["changes"].dump();
  EXPECT_NE(changes.find("vip web: backend 198.18.2.12:80 weight 1 -> 3"), std::string::npos) << changes;
  EXPECT_NE(changes.find("vip web-full: backend 198.18.2.13:80 removed"), std::string::npos) << changes;
  Published after = published("198.18.0.20");
  EXPECT_EQ(after.generation, g0 + 1) << "the whole reload is one generation";
  EXPECT_EQ(after.backends.count("198.18.2.13:80"), 0u);

  // A broken file: refused with file:line:column, nothing published.
  std::ofstream(config_path_) << changed << "\n[[vip]]\nname = \"web\"\n";
  LbctlResult broken = lbctl(*topo_, "reload");
  EXPECT_EQ(broken.exit, 1);
  EXPECT_NE(broken.err.find(config_path_ + ":"), std::string::npos) << broken.err;
  EXPECT_EQ(published("198.18.0.10").generation, g0 + 1);
  EXPECT_EQ(backend("web", "198.18.2.12:80")["weight"], 3);

  // A [dataplane] change: refused, saying it needs a data-plane restart.
  std::string moved = changed;
  moved.replace(moved.find("worker_lcores = [1]"), 19, "worker_lcores = [1, 2]");
  std::ofstream(config_path_) << moved;
  LbctlResult dp = lbctl(*topo_, "reload");
  EXPECT_EQ(dp.exit, 1);
  EXPECT_NE(dp.err.find("dataplane.worker_lcores"), std::string::npos) << dp.err;
  EXPECT_NE(dp.err.find("lb-dataplane restarts"), std::string::npos) << dp.err;
  EXPECT_EQ(published("198.18.0.10").generation, g0 + 1);

  // SIGHUP reloads too.
  std::ofstream(config_path_) << text;
  kill(cp_->pid(), SIGHUP);
  EXPECT_TRUE(wait_until([&] { return published("198.18.0.10").generation == g0 + 2; }, 5s));
  EXPECT_EQ(published("198.18.0.20").backends.count("198.18.2.13:80"), 1u);
}

TEST_F(ControlPlane, DeadBackendIsTakenOutWithinTheDetectionTimeAndComesBack) {
  start();
  ASSERT_TRUE(wait_until([&] { return backend("web", "198.18.2.12:80")["health_reason"] == "HTTP 200"; }, 5s));
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(topo_->stop_backend(2));
  ASSERT_TRUE(wait_until([&] { return published("198.18.0.10").backends["198.18.2.12:80"].second == abi::BackendState::Down; }, 5s));
  auto detected = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  // interval 300 ms x fall 2 + timeout 200 ms = 800 ms, plus one interval of phase (the
  // first failing check can come up to an interval after the kill) and scheduling slack.
  EXPECT_LE(detected.count(), 800 + 300 + 300) << "detection took " << detected.count() << " ms";
  json b = backend("web", "198.18.2.12:80");
  EXPECT_EQ(b["health"], "down");
  EXPECT_EQ(b["state"], "down");
  EXPECT_NE(b["health_reason"].get<std::string>().find("refused"), std::string::npos) << b;
  std::printf("[          ] backend down detected after %lld ms (bound 800 ms + one interval)\n",
              static_cast<long long>(detected.count()));
  ASSERT_TRUE(topo_->start_backend(2));
  EXPECT_TRUE(wait_until([&] { return published("198.18.0.10").backends["198.18.2.12:80"].second == abi::BackendState::Active; }, 5s));
  EXPECT_EQ(backend("web", "198.18.2.12:80")["health_transitions"], 2);
}

// A reader of the tables (playing the data plane: heartbeat, quiescent state, consistency
// checks) runs while the control plane is killed with SIGKILL and restarted.
TEST_F(ControlPlane, KillNineAndRestartLosesNoGenerationAndKeepsDrains) {
  abi::Mapping status_map;
  bool created = false;
  std::string err;
  ASSERT_TRUE(abi::create_status(shm_->status, &status_map, &created, &err)) << err;
  abi::StatusRegion& status = abi::status_of(status_map);
  status.header.pid.store(static_cast<uint32_t>(getpid()));
  status.header.start_count.store(1);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bursts{0}, inconsistent{0}, went_back{0}, last_seen{0};
  std::thread reader([&] {
    abi::Mapping tables;
    std::string e;
    while (!stop && !abi::open_tables(shm_->tables, abi::Access::ReadOnly, &tables, &e)) {
      status.header.heartbeat_monotonic_ns.store(abi::monotonic_ns());
      std::this_thread::sleep_for(1ms);
    }
    abi::WorkerStatus& me = status.workers[0];
    abi::worker_online(abi::tables_of(tables), me);
    while (!stop) {
      status.header.heartbeat_monotonic_ns.store(abi::monotonic_ns());
      abi::TableView view = abi::begin_burst(abi::tables_of(tables), me);
      if (view.slot == nullptr) continue;
      bool ok = view.slot->hdr.vip_count == 2 && abi::find_vip(*view.slot, inet_addr("198.18.0.10"), htons(80), abi::kProtoTcp) >= 0;
      if (abi::burst_still_valid(view)) {
        if (!ok) ++inconsistent;
        if (view.generation < last_seen) ++went_back;
        last_seen = view.generation;
        ++bursts;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    abi::worker_offline(me);
  });

  start();
  ASSERT_EQ(lbctl(*topo_, "drain backend b3").exit, 0);
  ASSERT_EQ(lbctl(*topo_, "weight backend b1 4 --vip web").exit, 0);
  Published before = published("198.18.0.10");
  ASSERT_EQ(before.backends["198.18.2.13:80"].second, abi::BackendState::Draining);

  cp_->kill9();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(published("198.18.0.10").generation, before.generation) << "the tables outlive the control plane";

  start();
  ASSERT_TRUE(wait_until([&] { return published("198.18.0.10").generation > before.generation; }, 5s));
  Published after = published("198.18.0.10");
  EXPECT_EQ(after.generation, before.generation + 1) << "numbering continues: no generation lost, none reused";
  EXPECT_EQ(after.backends, before.backends) << "same stable ids, same states: the drain survived";
  EXPECT_EQ(after.maglev, before.maglev) << "identical Maglev table: no disruption";
  EXPECT_EQ(backend("web", "198.18.2.11:80")["weight"], 4);
  EXPECT_EQ(backend("web-full", "198.18.2.13:80")["drained"], true);
  stop = true;
  reader.join();
  EXPECT_GT(bursts.load(), 100u);
  EXPECT_EQ(inconsistent.load(), 0u);
  EXPECT_EQ(went_back.load(), 0u);
  std::printf("[          ] reader used %llu snapshots across the kill and restart, 0 inconsistent\n",
              static_cast<unsigned long long>(bursts.load()));
}

TEST_F(ControlPlane, DataplaneRestartIsNoticedAndTablesRepublished) {
  start();
  uint64_t g0 = published("198.18.0.10").generation;
  abi::Mapping status_map;
  bool created = false;
  std::string err;
  ASSERT_TRUE(abi::create_status(shm_->status, &status_map, &created, &err)) << err;
  abi::StatusRegion& status = abi::status_of(status_map);
  std::atomic<bool> stop{false};
  std::thread heart([&] {
    while (!stop) {
      status.header.heartbeat_monotonic_ns.store(abi::monotonic_ns());
      std::this_thread::sleep_for(5ms);
    }
  });
  status.header.pid.store(static_cast<uint32_t>(getpid()));
  status.header.start_count.fetch_add(1);
  EXPECT_TRUE(wait_until([&] { return published("198.18.0.10").generation == g0 + 1; }, 3s)) << "a data plane appeared";
  EXPECT_TRUE(wait_until([&] { return lbctl(*topo_, "status").json["dataplane"]["alive"] == true; }, 3s));
  status.header.start_count.fetch_add(1);  // it restarted
  EXPECT_TRUE(wait_until([&] { return published("198.18.0.10").generation == g0 + 2; }, 3s)) << "a restart republishes";
  stop = true;
  heart.join();
  EXPECT_TRUE(wait_until([&] { return lbctl(*topo_, "status").json["dataplane"]["alive"] == false; }, 3s)) << "heartbeat stopped";
}

TEST_F(ControlPlane, SocketPermissionsAndPeerCredentials) {
  passwd* nobody = getpwnam("nobody");
  if (nobody == nullptr) GTEST_SKIP() << "no user 'nobody' to test as";
  // 0660 root:root: another user cannot even connect.
  start();
  struct stat st {};
  ASSERT_EQ(stat(socket_path(*topo_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  // The run dir must be traversable for the test user.
  chmod(topo_->value("RUN_DIR").c_str(), 0755);
  std::string as_nobody = "setpriv --reuid=nobody --regid=nogroup --clear-groups " + built("controlplane/lbctl") + " -s " + socket_path(*topo_);
  int rc = 0;
  std::string out = run_command(as_nobody + " status 2>&1", &rc);
  EXPECT_EQ(rc, 6) << out;  // permission denied
  EXPECT_NE(out.find("permission denied"), std::string::npos) << out;
  cp_->stop();

  // 0666: anyone may read, but only root (or the socket's group) may change anything.
  ControlplaneOptions open;
  open.socket_mode = "0666";
  write_config(open);
  start();
  out = run_command(as_nobody + " -j status 2>&1", &rc);
  EXPECT_EQ(rc, 0) << out;
  out = run_command(as_nobody + " drain backend b1 2>&1", &rc);
  EXPECT_EQ(rc, 6) << out;  // permission denied
  EXPECT_NE(out.find("may read but not change"), std::string::npos) << out;
  EXPECT_EQ(backend("web", "198.18.2.11:80")["state"], "active");
}

}  // namespace
}  // namespace fulcrum::test
