// What an operator coming from HAProxy's runtime API or ipvsadm looks for (issue 10, part
// 2), against the real lb-controlplane and lbctl: dry runs with the share of Maglev slots
// that would move, operator state, maintenance, forced health, backend detail, status
// (drift, last reload, heartbeat, generation per lcore), health-check options, --watch
// rates and log formats. A data plane is played by FakeDataplane where one is needed; the
// connection sample and per-VIP traffic with a real one are in test_cp_dataplane.cpp.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "tests/e2e/cp_fixture.h"

namespace fulcrum::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Inserts `lines` after the n-th (0-based) "[vip.health]\n" of `text`.
std::string in_health(std::string text, int n, const std::string& lines) {
  size_t at = 0;
  for (int i = 0; i <= n; ++i) at = text.find("[vip.health]\n", at) + 13;
  return text.insert(at, lines);
}

class CpOperator : public CpTest {};

TEST_F(CpOperator, DryRunAndConfigDiffShowWhatWouldMoveAndPublishNothing) {
  ASSERT_TRUE(start()) << cp_log();
  uint64_t g = generation();
  Published web_before = published("198.18.0.10");
  std::string text = read_file(config_path_);
  std::string changed = text;
  size_t b2 = changed.find("name = \"b2\"");
  changed.insert(changed.find('\n', changed.find("port = 80", b2)) + 1, "weight = 3\n");
  changed = changed.substr(0, changed.rfind("[[vip.backends]]"));  // web-full loses b3
  write_text(changed);
  LbctlResult plan = ctl("reload --dry-run");
  ASSERT_EQ(plan.exit, 0) << plan.err;
  EXPECT_EQ(plan.json["dry_run"], true);
  EXPECT_NE(plan.json["changes"].dump().find("vip web: backend 198.18.2.12:80 weight 1 -> 3"), std::string::npos) << plan.out;
  EXPECT_NE(plan.json["changes"].dump().find("vip web-full: backend 198.18.2.13:80 removed"), std::string::npos) << plan.out;
  std::map<std::string, double> share;
  for (const json& v : plan.json["vips"]) share[v["name"]] = v["slots_moved"].get<double>();
  // b2 goes from 1/3 to 3/5 of web's slots; web-full's b3 loses its third.
  EXPECT_GT(share["web"], 0.26);
  EXPECT_LT(share["web"], 0.40);
  EXPECT_GT(share["web-full"], 0.33);
  EXPECT_LT(share["web-full"], 0.40);
  EXPECT_EQ(generation(), g) << "a dry run publishes nothing";
  EXPECT_NE(ctl("reload --dry-run", true).out.find("SLOTS MOVED"), std::string::npos);
  EXPECT_NE(ctl("status").json["config_file"]["state"].get<std::string>().find("changed on disk"), std::string::npos);

  // The real reload moves exactly what the dry run said.
  ASSERT_EQ(ctl("reload").exit, 0);
  Published web_after = published("198.18.0.10");
  ASSERT_EQ(web_after.maglev.size(), web_before.maglev.size());
  std::map<uint16_t, std::string> before_ep, after_ep;  // Maglev entry (index in the VIP) -> endpoint
  auto endpoints = [](const Published& p, std::map<uint16_t, std::string>& out) {
    // Maglev entries index the VIP's backends in config order, which here (b1, b2, b3) is
    // also the order of their endpoints.
    uint16_t i = 0;
    for (const auto& [ep, v] : p.backends) out[i++] = ep;
  };
  endpoints(web_before, before_ep);
  endpoints(web_after, after_ep);
  uint64_t diff = 0;
  for (size_t s = 0; s < web_after.maglev.size(); ++s) diff += before_ep[web_before.maglev[s]] != after_ep[web_after.maglev[s]];
  double real = double(diff) / double(web_after.maglev.size());
  EXPECT_NEAR(real, share["web"], 1e-9);
  std::printf("[          ] dry run: web %.2f %% of slots move, web-full %.2f %%; the reload moved %.2f %% of web's\n",
              100 * share["web"], 100 * share["web-full"], 100 * real);

  // config diff of another file: a VIP added, nothing published.
  std::string other = dir_ + "/other.toml";
  std::ofstream(other) << changed << "\n[[vip]]\nname = \"api\"\naddress = \"198.18.0.30\"\nport = 80\nmode = \"fullnat\"\n"
                       << "snat = [\"198.18.2.100\"]\n[[vip.backends]]\naddress = \"198.18.2.11\"\nport = 80\n";
  uint64_t g2 = generation();
  LbctlResult diff_file = ctl("config diff " + other);
  ASSERT_EQ(diff_file.exit, 0) << diff_file.err;
  EXPECT_EQ(diff_file.json["vips"][0]["status"], "added") << diff_file.out;
  EXPECT_EQ(generation(), g2);
}

TEST_F(CpOperator, StateListAndClear) {
  ASSERT_TRUE(start()) << cp_log();
  ASSERT_EQ(ctl("drain backend b1 --vip web").exit, 0);
  ASSERT_EQ(ctl("weight backend b2 5").exit, 0);
  ASSERT_EQ(ctl("maint backend b3 --vip web-full").exit, 0);
  ASSERT_EQ(ctl("health backend b1 down --vip web-full").exit, 0);
  json state = ctl("state list").json;
  ASSERT_EQ(state.size(), 5u) << state;
  for (const json& e : state) EXPECT_EQ(e["applies"], true) << e;
  EXPECT_NE(ctl("state list", true).out.find("MAINTENANCE"), std::string::npos);
  EXPECT_EQ(ctl("state clear").exit, 2) << "needs a backend, --vip or --all";
  uint64_t g = generation();
  ASSERT_EQ(ctl("state clear --vip web").exit, 0);
  EXPECT_EQ(ctl("state list").json.size(), 3u);
  EXPECT_EQ(generation(), g + 1);
  EXPECT_EQ(backend("web", "198.18.2.11:80")["state"], "active");
  ASSERT_EQ(ctl("state clear b3").exit, 0);
  EXPECT_EQ(backend("web-full", "198.18.2.13:80")["state"], "active") << "out of maintenance; its check kept running for web";
  ASSERT_EQ(ctl("state clear --all").exit, 0);
  EXPECT_TRUE(ctl("state list").json.empty());
  EXPECT_EQ(ctl("state clear --all").json["changed"], false) << "nothing left to clear";
}

TEST_F(CpOperator, MaintenanceStopsChecksAndTrafficThenComesBackThroughRise) {
  ASSERT_TRUE(start()) << cp_log();
  ASSERT_TRUE(wait_healthy()) << ctl("backend list", true).out;
  LbctlResult r = ctl("maint backend b1");
  ASSERT_EQ(r.exit, 0) << r.err;
  EXPECT_EQ(r.json["backends"].size(), 2u);
  json b = backend("web", "198.18.2.11:80");
  EXPECT_EQ(b["state"], "maintenance");
  EXPECT_EQ(b["health_reason"], "in maintenance: not checked");
  EXPECT_EQ(published("198.18.0.10").backends["198.18.2.11:80"].second, abi::BackendState::Down);
  EXPECT_EQ(published("198.18.0.20").backends["198.18.2.11:80"].second, abi::BackendState::Down);
  // Not checked: its nginx going away changes nothing.
  ASSERT_TRUE(topo_->stop_backend(1));
  std::this_thread::sleep_for(900ms);  // interval 300 ms x fall 2 + timeout
  EXPECT_EQ(backend("web", "198.18.2.11:80")["health_transitions"], 0);
  ASSERT_TRUE(topo_->start_backend(1));
  ASSERT_EQ(ctl("unmaint backend b1").exit, 0);
  EXPECT_EQ(backend("web", "198.18.2.11:80")["state"], "down") << "down until its checks pass";
  EXPECT_EQ(published("198.18.0.10").backends["198.18.2.11:80"].second, abi::BackendState::Down);
  EXPECT_TRUE(wait_until([&] { return published("198.18.0.10").backends["198.18.2.11:80"].second == abi::BackendState::Active; }, 3s));
  // In maintenance in one VIP only: its shared check keeps running for the other, whose
  // verdict it takes back at once.
  ASSERT_EQ(ctl("maint backend b2 --vip web").exit, 0);
  EXPECT_EQ(backend("web-full", "198.18.2.12:80")["state"], "active");
  ASSERT_EQ(ctl("unmaint backend b2 --vip web").exit, 0);
  EXPECT_EQ(backend("web", "198.18.2.12:80")["state"], "active");
}

TEST_F(CpOperator, ForcedHealthOverridesTheChecksUntilAuto) {
  ASSERT_TRUE(start()) << cp_log();
  ASSERT_TRUE(wait_healthy()) << ctl("backend list", true).out;
  ASSERT_EQ(ctl("health backend b1 down").exit, 0);
  EXPECT_EQ(published("198.18.0.10").backends["198.18.2.11:80"].second, abi::BackendState::Down);
  json b = backend("web", "198.18.2.11:80");
  EXPECT_EQ(b["health"], "down");
  EXPECT_EQ(b["health_forced"], "down");
  EXPECT_EQ(b["health_checked"], "up");
  ASSERT_EQ(ctl("health backend b1 auto").exit, 0);
  EXPECT_EQ(published("198.18.0.10").backends["198.18.2.11:80"].second, abi::BackendState::Active);
  // A backend whose checks fail, forced up for an incident.
  ASSERT_TRUE(topo_->stop_backend(2));
  ASSERT_TRUE(wait_until([&] { return published("198.18.0.10").backends["198.18.2.12:80"].second == abi::BackendState::Down; }, 3s));
  ASSERT_EQ(ctl("health backend b2 up --vip web").exit, 0);
  EXPECT_EQ(published("198.18.0.10").backends["198.18.2.12:80"].second, abi::BackendState::Active);
  EXPECT_EQ(published("198.18.0.20").backends["198.18.2.12:80"].second, abi::BackendState::Down) << "--vip limits it";
  EXPECT_EQ(backend("web", "198.18.2.12:80")["health_checked"], "down");
  ASSERT_EQ(ctl("health backend b2 auto --vip web").exit, 0);
  EXPECT_EQ(published("198.18.0.10").backends["198.18.2.12:80"].second, abi::BackendState::Down);
  ASSERT_TRUE(topo_->start_backend(2));
}

TEST_F(CpOperator, BackendDetailSaysSinceWhenWhyAndHowOften) {
  ASSERT_TRUE(start()) << cp_log();
  ASSERT_TRUE(wait_healthy()) << ctl("backend list", true).out;
  ASSERT_TRUE(topo_->stop_backend(3));
  ASSERT_TRUE(wait_until([&] { return backend("web", "198.18.2.13:80")["health"] == "down"; }, 3s));
  std::this_thread::sleep_for(400ms);
  LbctlResult show = ctl("backend show b3 --vip web");
  ASSERT_EQ(show.exit, 0) << show.err;
  ASSERT_EQ(show.json.size(), 1u);
  json b = show.json[0];
  EXPECT_TRUE(b["down_since"].is_string()) << b;
  EXPECT_NE(b["down_since"].get<std::string>().find('T'), std::string::npos);
  EXPECT_GE(b["consecutive_failures"].get<int>(), 2) << b;
  EXPECT_NE(b["last_error"].get<std::string>().find("refused"), std::string::npos) << b;
  EXPECT_GE(b["last_change_ago_ms"].get<int>(), 300) << b;
  EXPECT_EQ(b["health_transitions"], 1);
  LbctlResult human = ctl("backend show b3 --vip web", true);
  for (const char* want : {"down since", "consecutive", "last error", "last change", "connection refused"}) {
    EXPECT_NE(human.out.find(want), std::string::npos) << want << " in:\n" << human.out;
  }
  EXPECT_EQ(ctl("backend show nosuch").exit, 3);
  ASSERT_TRUE(topo_->start_backend(3));
}

TEST_F(CpOperator, StatusShowsDriftLastReloadHeartbeatAndGenerationPerLcore) {
  FakeDataplane dp(shm_status_, shm_tables_, 3);
  ASSERT_TRUE(start()) << cp_log();
  ASSERT_TRUE(wait_until([&] { return ctl("status").json["dataplane"]["alive"] == true; }, 3s));
  ASSERT_TRUE(wait_until([&] { return ctl("status").json["dataplane"]["generation_in_use"] == generation(); }, 3s));
  json s = ctl("status").json;
  EXPECT_LT(s["dataplane"]["heartbeat_age_ms"].get<int>(), 500) << s;
  ASSERT_EQ(s["dataplane"]["lcore_generations"].size(), 3u) << s;
  for (const json& l : s["dataplane"]["lcore_generations"]) EXPECT_EQ(l["generation"], generation()) << l;
  EXPECT_EQ(s["dataplane"]["lcore_generations"][2]["role"], "main");
  EXPECT_EQ(s["config_file"]["state"], "in sync");
  EXPECT_TRUE(s["last_reload"]["at"].is_null());
  // Edited on disk: drift. Reloaded: in sync, with the reload's time and result.
  write_text(read_file(config_path_) + "\n[[vip]]\nname = \"extra\"\naddress = \"198.18.0.40\"\nport = 80\n");
  EXPECT_NE(ctl("status").json["config_file"]["state"].get<std::string>().find("changed on disk"), std::string::npos);
  ASSERT_EQ(ctl("reload").exit, 0);
  s = ctl("status").json;
  EXPECT_EQ(s["config_file"]["state"], "in sync");
  EXPECT_EQ(s["last_reload"]["ok"], true);
  EXPECT_EQ(s["last_reload"]["result"], "1 change(s)");
  EXPECT_TRUE(s["last_reload"]["at"].is_string());
  write_text(read_file(config_path_) + "\n[[vip]]\nname = \"extra\"\n");
  EXPECT_EQ(ctl("reload").exit, 1);
  s = ctl("status").json;
  EXPECT_EQ(s["last_reload"]["ok"], false);
  EXPECT_NE(s["last_reload"]["result"].get<std::string>().find("does not validate"), std::string::npos) << s;
  std::string human = ctl("status", true).out;
  for (const char* want : {"lcores       lcore 1 (worker) gen", "last reload  ", "REFUSED", "config file  ", "changed on disk", "publishing   "}) {
    EXPECT_NE(human.find(want), std::string::npos) << want << " in:\n" << human;
  }
}

TEST_F(CpOperator, HealthCheckOptionsBodySourceSharedAndStartDown) {
  std::string text = config_text();
  text = in_health(text, 0, "expect_body = \"b\"\nsource = \"198.18.2.1\"\n");        // web: matches, from a local address
  text = in_health(text, 1, "expect_body = \"nope\"\n");                              // web-full: never matches
  write_text(text);
  ASSERT_TRUE(start()) << cp_log();
  ASSERT_TRUE(wait_until([&] { return backend("web", "198.18.2.11:80")["health_reason"] == "HTTP 200, body matched"; }, 3s))
      << ctl("backend list", true).out;
  ASSERT_TRUE(wait_until([&] { return backend("web-full", "198.18.2.11:80")["health"] == "down"; }, 3s));
  EXPECT_EQ(backend("web-full", "198.18.2.11:80")["health_reason"], "HTTP 200 but the body does not contain \"nope\"");
  EXPECT_EQ(backend("web", "198.18.2.11:80")["shared_check"], 1) << "different checks are not shared";

  // Identical checks of one backend in two VIPs are one check.
  write_config();
  ASSERT_EQ(ctl("reload").exit, 0);
  EXPECT_EQ(backend("web", "198.18.2.11:80")["shared_check"], 2);
  // A source address the host does not have: the check cannot run (and says why).
  write_text(in_health(config_text(), 1, "source = \"198.18.2.200\"\n"));
  ASSERT_EQ(ctl("reload").exit, 0);
  EXPECT_TRUE(wait_until([&] {
    return backend("web-full", "198.18.2.11:80")["health_reason"] == "check not run: cannot assign requested address";
  }, 3s)) << backend("web-full", "198.18.2.11:80");

  // start_down: a backend new to the balancer takes no traffic until `rise` checks pass.
  write_text(config_text() + "\n[[vip]]\nname = \"web3\"\naddress = \"198.18.0.30\"\nport = 80\nmode = \"fullnat\"\n"
                             "snat = [\"198.18.2.100\"]\n[vip.health]\ntype = \"http\"\ninterval_ms = 300\ntimeout_ms = 200\n"
                             "rise = 2\nstart_down = true\n[[vip.backends]]\naddress = \"198.18.2.11\"\nport = 80\n");
  ASSERT_EQ(ctl("reload").exit, 0);
  EXPECT_EQ(published("198.18.0.30").backends["198.18.2.11:80"].second, abi::BackendState::Down);
  EXPECT_EQ(backend("web3", "198.18.2.11:80")["health_reason"], "new backend (start_down): not checked yet");
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return published("198.18.0.30").backends["198.18.2.11:80"].second == abi::BackendState::Active; }, 3s));
  std::printf("[          ] start_down backend took traffic %lld ms after it was added (rise 2, interval 300 ms)\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()));
}

TEST_F(CpOperator, WatchPrintsPerSecondRates) {
  FakeDataplane dp(shm_status_, shm_tables_, 2);
  ASSERT_TRUE(start()) << cp_log();
  uint16_t b1 = backend("web", "198.18.2.11:80")["id"];
  std::atomic<bool> stop{false};
  std::thread traffic([&] {  // 10,000 packets/s, 1,000 per 100 ms, on web's b1
    while (!stop) {
      dp.status().workers[0].counters[static_cast<size_t>(abi::WorkerCounter::RxPackets)].add(1000);
      for (int i = 0; i < 1000; ++i) dp.status().workers[0].backend_traffic[b1].add(100);
      std::this_thread::sleep_for(100ms);
    }
  });
  LbctlResult w = ctl("stats --watch --interval 0.5 --count 3");
  LbctlResult bw = ctl("backend list web --watch --interval 0.5 --count 2");
  stop = true;
  traffic.join();
  ASSERT_EQ(w.exit, 0) << w.err;
  std::vector<json> lines;
  std::istringstream in(w.out);
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line, nullptr, false));
  ASSERT_EQ(lines.size(), 3u) << w.out;
  EXPECT_TRUE(lines[0]["rates"].is_null());
  double rx = lines[2]["rates"]["counters"]["rx_packets"].get<double>();
  double vip = lines[2]["rates"]["vips"]["web"]["packets"].get<double>();
  EXPECT_GT(rx, 5000);
  EXPECT_LT(rx, 15000);
  EXPECT_GT(vip, 5000);
  EXPECT_LT(vip, 15000);
  std::istringstream bin(bw.out);
  std::string first, second;
  std::getline(bin, first);
  std::getline(bin, second);
  double bps = json::parse(second)["rates"]["web|198.18.2.11:80"]["bytes_per_s"].get<double>();
  EXPECT_GT(bps, 500'000);
  std::printf("[          ] --watch: rx %.0f packets/s, web %.0f packets/s, b1 %.0f bytes/s (10,000 and 1,000,000 written)\n", rx,
              vip, bps);
  LbctlResult human = ctl("stats --watch --interval 0.2 --count 2", true);
  EXPECT_NE(human.out.find("PER SECOND"), std::string::npos) << human.out;
}

TEST_F(CpOperator, LogLevelsJournalPrioritiesAndJsonLines) {
  ASSERT_TRUE(start({"--log-level", "warning", "--log-format", "json"})) << cp_log();
  ASSERT_EQ(ctl("drain backend b1").exit, 0);  // info: not written
  write_text("broken");
  EXPECT_EQ(ctl("reload").exit, 1);            // error: written
  cp_->stop();
  std::string log = cp_log();
  std::istringstream in(log);
  int lines = 0;
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    EXPECT_TRUE(j["level"] == "warning" || j["level"] == "error") << line;
    EXPECT_TRUE(j["ts"].is_string() && j["msg"].is_string()) << line;
    ++lines;
  }
  EXPECT_GE(lines, 1);
  EXPECT_NE(log.find("reload refused"), std::string::npos) << log;

  // Under systemd (stderr is the journal stream named by $JOURNAL_STREAM): "<N>" priorities.
  write_config();
  std::string log_path = dir_ + "/cp.log";
  unlink(log_path.c_str());
  std::ofstream(log_path).close();
  struct stat st {};
  ASSERT_EQ(stat(log_path.c_str(), &st), 0);
  std::string stream = "JOURNAL_STREAM=" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ASSERT_TRUE(start({}, {"env", stream})) << cp_log();
  write_text("broken");
  EXPECT_EQ(ctl("reload").exit, 1);
  cp_->stop();
  log = cp_log();
  EXPECT_NE(log.find("<6>info: running"), std::string::npos) << log;
  EXPECT_NE(log.find("<3>error: reload refused"), std::string::npos) << log;
  EXPECT_EQ(log.find("Z lb-controlplane"), std::string::npos) << "no timestamps: the journal has its own";
}


// docs/lbctl.md names only what lbctl does, and every verb and flag it names works: each
// verb of the table is run against a control plane with every flag its row names, the verb
// tree the docs describe is the one lbctl has (asked through its "unknown verb" message),
// and `lbctl ...` in code anywhere in the docs, the example config and the man page names a
// verb that exists (the review found `lbctl config reload` and `lbctl backend enable`).
TEST_F(CpOperator, DocsNameEveryVerbAndFlagAndTheyWork) {
  const std::string root = std::getenv("FULCRUM_SOURCE_ROOT") ? std::getenv("FULCRUM_SOURCE_ROOT") : ".";
  std::string doc = read_file(root + "/docs/lbctl.md");
  ASSERT_FALSE(doc.empty());
  std::string lbctl = built("controlplane/lbctl");
  // Rows of the verb table: `words PLACEHOLDERS [--flags]`.
  std::map<std::string, std::set<std::string>> doc_verbs;  // "drain backend" -> {"--vip", "--wait", "--timeout"}
  std::string verbs_section = doc.substr(doc.find("## Verbs"), doc.find("## Exit status") - doc.find("## Verbs"));
  std::regex row(R"(\n\| `([^`]+)` \|)"), flag(R"((--[a-z][a-z-]*))");
  for (std::sregex_iterator it(verbs_section.begin(), verbs_section.end(), row), end; it != end; ++it) {
    std::istringstream words((*it)[1].str());
    std::string verb, w;
    while (words >> w && std::islower(static_cast<unsigned char>(w[0])) && w.find('|') == std::string::npos) verb += (verb.empty() ? "" : " ") + w;
    std::string cell = (*it)[1].str();
    doc_verbs[verb];
    for (std::sregex_iterator f(cell.begin(), cell.end(), flag); f != std::sregex_iterator(); ++f) doc_verbs[verb].insert((*f)[1]);
  }
  // The verb tree lbctl has.
  auto verbs_after = [&](const std::string& path) {
    int rc = 0;
    std::string out = run_command(lbctl + " " + path + " zzz 2>&1", &rc);
    std::set<std::string> names;
    size_t at = out.find("the verbs there are: ");
    if (at == std::string::npos) return names;
    std::istringstream list(out.substr(at + 21, out.find(" (see:") - at - 21));
    for (std::string n; std::getline(list, n, ',');) names.insert(n.substr(n.find_first_not_of(' ')));
    return names;
  };
  std::set<std::string> binary_verbs;
  for (const std::string& top : verbs_after("")) {
    std::set<std::string> subs = verbs_after(top);
    if (subs.empty()) binary_verbs.insert(top);
    for (const std::string& sub : subs) binary_verbs.insert(top + " " + sub);
  }
  std::set<std::string> documented;
  for (const auto& [v, flags] : doc_verbs) documented.insert(v);
  EXPECT_EQ(documented, binary_verbs) << "docs/lbctl.md's verb table and lbctl's verbs differ";
  // Each verb's --help knows every flag the docs give it, and the man page names the verb.
  std::string man = read_file(root + "/docs/man/lbctl.8");
  for (const auto& [verb, flags] : doc_verbs) {
    int rc = 0;
    std::string help = run_command(lbctl + " " + verb + " --help 2>&1", &rc);
    EXPECT_EQ(rc, 0) << verb;
    for (const std::string& f : flags) EXPECT_NE(help.find(f), std::string::npos) << verb << " " << f << " not in --help";
    EXPECT_NE(man.find(verb), std::string::npos) << verb << " not in lbctl.8";
  }
  // The options table.
  std::string options = doc.substr(0, doc.find("## Verbs"));
  int rc = 0;
  std::string help = run_command(lbctl + " --help 2>&1", &rc);
  for (std::sregex_iterator f(options.begin(), options.end(), flag); f != std::sregex_iterator(); ++f) {
    EXPECT_NE(help.find((*f)[1].str()), std::string::npos) << (*f)[1] << " not in lbctl --help";
  }

  // Run every documented verb with every documented flag (-j; the global ones too).
  FakeDataplane dp(shm_status_, shm_tables_, 2);
  ASSERT_TRUE(start()) << cp_log();
  std::string other = dir_ + "/other.toml";
  std::ofstream(other) << read_file(config_path_);
  std::multimap<std::string, std::pair<std::string, int>> runs = {
      {"status", {"status", 0}},
      {"vip list", {"vip list", 0}},
      {"backend list", {"backend list web --watch --interval 0.2 --count 2", 0}},
      {"backend show", {"backend show b1 --vip web", 0}},
      {"drain backend", {"drain backend b1 --vip web --wait --timeout 2", 0}},
      {"undrain backend", {"undrain backend b1 --vip web", 0}},
      {"weight backend", {"weight backend b1 3 --vip web", 0}},
      {"maint backend", {"maint backend b2 --vip web", 0}},
      {"unmaint backend", {"unmaint backend b2 --vip web", 0}},
      {"health backend", {"health backend b3 down --vip web", 0}},
      {"node drain", {"node drain --wait --timeout 2", 0}},  // no [controlplane.bgp]: only recorded
      {"node undrain", {"node undrain", 0}},
      {"state list", {"state list", 0}},
      {"state clear", {"state clear b3 --vip web", 0}},
      {"state clear", {"state clear --all", 0}},
      {"reload", {"reload --dry-run", 0}},
      {"stats", {"stats --watch --interval 0.2 --count 2", 0}},
      {"conn list", {"conn list --vip web --backend b1 --limit 5", 0}},
      {"config check", {"config check " + other, 0}},
      {"config diff", {"config diff " + other, 0}},
      {"shm dump", {"shm dump --tables " + shm_tables_ + " --status " + shm_status_ + " --all", 0}},
  };
  for (const auto& [verb, flags] : doc_verbs) {
    auto [from, to] = runs.equal_range(verb);
    ASSERT_NE(from, to) << "no run for documented verb " << verb;
    std::string all;
    for (auto it = from; it != to; ++it) {
      all += it->second.first + " ";
      LbctlResult r = ctl(it->second.first + " --answer-timeout 5");
      EXPECT_EQ(r.exit, it->second.second) << it->second.first << ":\n" << r.err << r.out.substr(0, 500);
      if (it->second.first.find("--watch") == std::string::npos) {
        EXPECT_FALSE(r.json.is_discarded()) << it->second.first << " -j is not JSON: " << r.out.substr(0, 300);
      }
    }
    for (const std::string& f : flags) EXPECT_NE(all.find(f), std::string::npos) << verb << ": " << f << " not run";
  }
  EXPECT_EQ(ctl("reload").exit, 0) << "reload itself (the dry run above)";
  EXPECT_EQ(run_command(lbctl + " -c " + config_path_ + " -j status >/dev/null 2>&1", &rc), "");
  EXPECT_EQ(rc, 0) << "-c";

  // `lbctl WORDS` in code, anywhere in the docs: a verb that exists.
  std::set<std::string> groups, leaves;
  for (const std::string& v : binary_verbs) {
    leaves.insert(v);
    if (v.find(' ') != std::string::npos) groups.insert(v.substr(0, v.find(' ')));
  }
  std::regex use(R"(lbctl((?: (?:-s|-c|--socket|--config|--answer-timeout) [^ `]+| -[a-zA-Z-]+)*) ([a-z]+)(?: ([a-z]+))?)");
  for (const char* file : {"docs/lbctl.md", "docs/config.md", "docs/operations.md", "docs/architecture.md", "docs/dataplane.md", "docs/deployment.md",
                           "README.md", "config/example.toml", "config/demo.toml"}) {
    std::string text = read_file(root + "/" + file);
    std::regex code(R"(`([^`\n]+)`|```[a-z]*\n([\s\S]*?)```|# ([^\n]*))");
    for (std::sregex_iterator c(text.begin(), text.end(), code), end; c != end; ++c) {
      std::string span = (*c)[1].matched ? (*c)[1].str() : (*c)[2].matched ? (*c)[2].str() : (*c)[3].str();
      for (std::sregex_iterator u(span.begin(), span.end(), use); u != end; ++u) {
        std::string first = (*u)[2], second = (*u)[3];
        if (first == "and" || first == "talks" || first == "to" || first == "answers") continue;  // prose, not a command
        bool ok = groups.count(first) ? leaves.count(first + " " + second) != 0 : leaves.count(first) != 0;
        EXPECT_TRUE(ok) << file << ": \"" << (*u)[0] << "\" names no lbctl verb";
      }
    }
  }
}

}  // namespace
}  // namespace fulcrum::test
