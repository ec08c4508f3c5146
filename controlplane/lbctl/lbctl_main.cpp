// lbctl: operate a running Fulcrum node (talks to lb-controlplane's socket), validate a
// config file offline, dump the shared-memory regions. See docs/lbctl.md and lbctl(8).
//
// Global options (-s, -c, -j) are accepted anywhere on the line, as gobgp and ipvsadm do,
// and a mistyped verb is named with the verbs that exist.
#include <CLI/CLI.hpp>
#include <cmath>
#include <iostream>
#include <set>

#include "controlplane/api/protocol.h"
#include "controlplane/lbctl/client.h"
#include "controlplane/lbctl/format.h"
#include "controlplane/lbctl/verbs.h"

namespace fulcrum::lbctl {
namespace {

namespace api = cp::api;

// Options that take a value: the verb walk below skips their argument.
const std::set<std::string> kValueOptions = {"-s", "--socket", "-c", "--config", "--answer-timeout", "--vip", "--timeout", "--backend",
                                             "--limit", "--interval", "--count", "--tables", "--status"};

// "unknown verb" with the verbs that exist there, or "" if the words name known verbs.
std::string unknown_verb(const CLI::App& app, int argc, char** argv) {
  const CLI::App* at = &app;
  std::string path = "lbctl";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("-", 0) == 0) {
      if (kValueOptions.count(a) != 0) ++i;
      continue;
    }
    std::vector<const CLI::App*> subs = at->get_subcommands([](const CLI::App*) { return true; });
    if (subs.empty()) return "";  // a verb's own argument
    for (const CLI::App* s : subs) {
      if (s->get_name() == a) {
        at = s;
        path += " " + a;
        a.clear();
        break;
      }
    }
    if (a.empty()) continue;
    std::string names;
    for (const CLI::App* s : subs) names += (names.empty() ? "" : ", ") + s->get_name();
    return "unknown verb \"" + a + "\" after \"" + path + "\"; the verbs there are: " + names + " (see: " + path + " --help)";
  }
  return "";
}

// A positive, finite number of seconds.
CLI::Validator seconds() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        char* end = nullptr;
        double v = std::strtod(s.c_str(), &end);
        if (s.empty() || *end != '\0' || !std::isfinite(v) || v <= 0 || v > 86400 * 7) {
          return "must be a number of seconds above 0 (at most 604800), not \"" + s + "\"";
        }
        return "";
      },
      "SECONDS");
}

}  // namespace
}  // namespace fulcrum::lbctl

int main(int argc, char** argv) {
  using namespace fulcrum::lbctl;
  namespace api = fulcrum::cp::api;
  CLI::App app{"lbctl: operate a Fulcrum load balancer"};
  app.fallthrough();  // inherited by every verb: -s, -c, -j anywhere on the line
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 ok, 1 refused or failed (config check: invalid), 2 usage, 3 no such VIP or backend, 4 control "
      "plane not running, 5 drain --wait timed out, 6 permission denied, 7 no answer in time, 8 connection dropped "
      "without an answer.");
  app.set_version_flag("--version", std::string("lbctl (Fulcrum) ") + FULCRUM_VERSION);
  Options o;
  app.add_option("-s,--socket", o.socket,
                 "control-plane socket (default: controlplane.socket of --config, else $FULCRUM_SOCKET, else /run/fulcrum/lbctl.sock)");
  app.add_option("-c,--config", o.config, "config file to take the socket (and for shm dump, the region names) from");
  app.add_flag("-j,--json", o.json, "machine-readable JSON output (errors too, as {\"ok\": false, \"error\": ...})");
  app.add_option("--answer-timeout", o.answer_timeout_s, "seconds to wait for the control plane's answer (default 10; exit 7 after)")
      ->check(seconds());

  std::string target, target_vip, arg;
  double watch_interval = 1;
  uint64_t watch_count = 0;
  bool watch_flag = false;
  auto add_watch = [&](CLI::App* cmd) {
    cmd->add_flag("--watch", watch_flag, "repeat every --interval seconds, with per-second rates");
    cmd->add_option("--interval", watch_interval, "with --watch: seconds between samples (default 1)")->check(seconds());
    cmd->add_option("--count", watch_count, "with --watch: stop after this many samples (default: until interrupted)");
  };

  auto* status = app.add_subcommand("status", "data plane (heartbeat, generation per lcore), tables, publishing, last reload, config drift, VIPs");
  auto* vip = app.add_subcommand("vip", "VIP verbs")->require_subcommand(1);
  auto* vip_list = vip->add_subcommand("list", "the configured VIPs");
  auto* backend = app.add_subcommand("backend", "backend verbs")->require_subcommand(1);
  auto* backend_list = backend->add_subcommand("list", "backends: state, health, weight, connections");
  backend_list->add_option("VIP", target_vip, "only this VIP (name or address:port)");
  add_watch(backend_list);
  auto* backend_show = backend->add_subcommand("show", "one backend in detail: down since, consecutive failures, last error, last change");
  backend_show->add_option("BACKEND", target, "name, address:port or address")->required();
  backend_show->add_option("--vip", target_vip, "only in this VIP");

  bool wait = false;
  double timeout_s = 300;
  auto backend_verb = [&](const char* verb, const char* help, const char* sub_help) {
    auto* v = app.add_subcommand(verb, help)->require_subcommand(1);
    auto* b = v->add_subcommand("backend", sub_help);
    b->add_option("BACKEND", target, "name, address:port or address")->required();
    b->add_option("--vip", target_vip, "only in this VIP (default: every VIP that has it)");
    return b;
  };
  auto* drain_backend = backend_verb("drain", "stop sending new connections to a backend", "drain a backend");
  auto* wait_opt = drain_backend->add_flag("--wait", wait, "return only when its active connections reach 0");
  drain_backend->add_option("--timeout", timeout_s, "with --wait: give up after this many seconds (exit 5; default 300)")
      ->check(seconds())
      ->needs(wait_opt);
  auto* undrain_backend = backend_verb("undrain", "let a drained backend take new connections again (also over state = \"draining\")", "undrain a backend");
  auto* weight_backend = backend_verb("weight", "override a backend's weight", "set a backend's weight");
  weight_backend->add_option("WEIGHT", arg, "0 .. 1000, or \"config\" for the configured weight")->required();
  auto* maint_backend = backend_verb("maint", "maintenance: no health checks, no traffic (existing connections as if down)", "put a backend in maintenance");
  auto* unmaint_backend = backend_verb("unmaint", "leave maintenance: checked again, down until its checks pass", "take a backend out of maintenance");
  auto* health_backend = backend_verb("health", "force a backend's health up or down (an incident), or back to its checks", "force a backend's health");
  health_backend->add_option("HEALTH", arg, "up, down, or auto (the checks decide again)")->required()->check(CLI::IsMember({"up", "down", "auto"}));

  // issue 12: the node as a whole, in a site of several behind ECMP routers.
  auto* node = app.add_subcommand("node", "this node in a site: take it out of the routers' paths, or put it back")->require_subcommand(1);
  auto* node_drain_cmd = node->add_subcommand("drain", "withdraw every VIP from the routers (persisted); existing connections move or finish");
  auto* node_wait = node_drain_cmd->add_flag("--wait", wait, "return only when the node's active connections reach 0");
  node_drain_cmd->add_option("--timeout", timeout_s, "with --wait: give up after this many seconds (exit 5; default 300)")
      ->check(seconds())
      ->needs(node_wait);
  auto* node_undrain_cmd = node->add_subcommand("undrain", "announce the VIPs again (those that may be)");

  auto* state = app.add_subcommand("state", "operator overrides (drains, weights, maintenance, forced health)")->require_subcommand(1);
  auto* state_list = state->add_subcommand("list", "every override and whether it applies to a configured backend");
  auto* state_clear = state->add_subcommand("clear", "remove overrides: of a backend, of a VIP's backends, or --all");
  bool clear_all = false;
  state_clear->add_option("BACKEND", target, "name, address:port or address");
  state_clear->add_option("--vip", target_vip, "only in this VIP");
  state_clear->add_flag("--all", clear_all, "every override of every backend");

  bool dry_run = false;
  auto* reload = app.add_subcommand("reload", "re-read the config file (as SIGHUP does) and report what changed");
  reload->add_flag("--dry-run", dry_run, "only report what would change (and the share of Maglev slots that would move)");
  auto* stats = app.add_subcommand("stats", "data-plane counters, drops by reason, per-VIP packets, bytes, drops, connections");
  add_watch(stats);
  auto* conn = app.add_subcommand("conn", "connection verbs")->require_subcommand(1);
  auto* conn_list = conn->add_subcommand("list", "a sample of the data plane's connection table");
  std::string conn_backend;
  uint32_t conn_limit = 100;
  conn_list->add_option("--vip", target_vip, "only this VIP's connections");
  conn_list->add_option("--backend", conn_backend, "only this backend's connections");
  conn_list->add_option("--limit", conn_limit, "at most this many rows (1 .. 1024, default 100)")->check(CLI::Range(1, 1024));

  auto* config = app.add_subcommand("config", "config file verbs")->require_subcommand(1);
  auto* config_check_cmd = config->add_subcommand("check", "validate a config file offline (exit 0 valid, 1 invalid)");
  config_check_cmd->add_option("FILE", arg, "the file")->required();
  auto* config_diff_cmd = config->add_subcommand("diff", "what a reload with FILE would change, without changing anything");
  config_diff_cmd->add_option("FILE", arg, "the file")->required();
  auto* shm = app.add_subcommand("shm", "shared-memory debugging")->require_subcommand(1);
  std::string tables_name, status_name;
  bool all = false;
  auto* shm_dump_cmd = shm->add_subcommand("dump", "print the tables and status regions as they are (no control plane needed)");
  shm_dump_cmd->add_option("--tables", tables_name, "tables region name");
  shm_dump_cmd->add_option("--status", status_name, "status region name");
  shm_dump_cmd->add_flag("--all", all, "also Maglev entries and zero counters");

  if (std::string why = unknown_verb(app, argc, argv); !why.empty()) {
    std::cerr << "lbctl: " << why << "\n";
    return api::kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : api::kExitUsage;
  }
  // An answer of another shape (an lbctl and a control plane of different releases) must
  // end in a message, not in std::terminate.
  try {
  auto opt = [](const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); };
  auto changed = [&](const char* what) { return [what](const Json& r) { print_changed(std::cout, r, what); }; };
  auto on_backend = [&](const char* cmd, Json extra, const char* what) {
    Json req{{"cmd", cmd}, {"backend", target}, {"vip", opt(target_vip)}};
    for (auto& [k, v] : extra.items()) req[k] = v;
    return run_call(o, req, changed(what));
  };
  if (watch_flag && !backend_list->parsed() && !stats->parsed()) return api::kExitUsage;
  if (status->parsed()) return run_call(o, {{"cmd", api::kStatus}}, [](const Json& r) { print_status(std::cout, r); });
  if (vip_list->parsed()) return run_call(o, {{"cmd", api::kVipList}}, [](const Json& r) { print_vips(std::cout, r); });
  if (backend_list->parsed()) {
    Json req{{"cmd", api::kBackendList}, {"vip", opt(target_vip)}};
    if (watch_flag) return watch(o, req, "backends", watch_interval, watch_count);
    return run_call(o, req, [](const Json& r) { print_backends(std::cout, r); });
  }
  if (backend_show->parsed()) return fulcrum::lbctl::backend_show(o, target, target_vip);
  if (stats->parsed()) {
    if (watch_flag) return watch(o, {{"cmd", api::kStats}}, "stats", watch_interval, watch_count);
    return run_call(o, {{"cmd", api::kStats}}, [](const Json& r) { print_stats(std::cout, r); });
  }
  if (reload->parsed()) {
    return run_call(o, {{"cmd", api::kReload}, {"dry_run", dry_run}}, [](const Json& r) {
      if (r.value("dry_run", false)) return print_plan(std::cout, r);
      std::cout << "reloaded: generation " << text(r, "generation") << "\n";
      if (!r.contains("changes") || r["changes"].empty()) std::cout << "no changes\n";
      for (const Json& c : r.value("changes", Json::array())) std::cout << "  " << c.get<std::string>() << "\n";
      for (const Json& c : r.value("operator_state", Json::array())) std::cout << "  operator state: " << c.get<std::string>() << "\n";
    });
  }
  if (drain_backend->parsed()) return drain(o, target, target_vip, wait, timeout_s);
  if (node_drain_cmd->parsed()) return node_drain(o, true, wait, timeout_s);
  if (node_undrain_cmd->parsed()) return node_drain(o, false, false, timeout_s);
  if (undrain_backend->parsed()) return on_backend(api::kUndrain, Json::object(), "undrained");
  if (maint_backend->parsed()) return on_backend(api::kMaintenance, {{"on", true}}, "in maintenance:");
  if (unmaint_backend->parsed()) return on_backend(api::kMaintenance, {{"on", false}}, "out of maintenance:");
  if (health_backend->parsed()) return on_backend(api::kHealth, {{"health", arg}}, "health set for");
  if (weight_backend->parsed()) {
    Json w = nullptr;
    if (arg != "config") {
      char* end = nullptr;
      long v = std::strtol(arg.c_str(), &end, 10);
      if (arg.empty() || *end != '\0' || v < 0 || v > 1000) {
        std::cerr << "lbctl: weight must be 0 .. 1000 or \"config\", not \"" << arg << "\"\n";
        return api::kExitUsage;
      }
      w = v;
    }
    return on_backend(api::kWeight, {{"weight", w}}, "weight set for");
  }
  if (state_list->parsed()) return run_call(o, {{"cmd", api::kStateList}}, [](const Json& r) { print_state(std::cout, r); });
  if (state_clear->parsed()) {
    if (target.empty() && target_vip.empty() && !clear_all) {
      std::cerr << "lbctl: state clear needs a BACKEND, --vip VIP, or --all\n";
      return api::kExitUsage;
    }
    return run_call(o, {{"cmd", api::kStateClear}, {"backend", opt(target)}, {"vip", opt(target_vip)}}, changed("cleared"));
  }
  if (conn_list->parsed()) {
    return run_call(o, {{"cmd", api::kConnList}, {"vip", opt(target_vip)}, {"backend", opt(conn_backend)}, {"limit", conn_limit}},
                    [](const Json& r) { print_conns(std::cout, r); });
  }
  if (config_check_cmd->parsed()) return config_check(arg, o.json);
  if (config_diff_cmd->parsed()) return config_diff(o, arg);
  if (shm_dump_cmd->parsed()) return shm_dump(o, tables_name, status_name, all);
  } catch (const std::exception& e) {
    std::cerr << "lbctl: unexpected answer from the control plane (another release?): " << e.what() << "\n";
    return api::kExitFailed;
  }
  return api::kExitUsage;
}
