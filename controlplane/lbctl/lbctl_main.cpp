// lbctl: operate a running Fulcrum node (talks to lb-controlplane's socket), validate a
// config file offline, dump the shared-memory regions. See docs/lbctl.md.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "config/loader/lb_config.h"
#include "controlplane/api/protocol.h"
#include "controlplane/lbctl/client.h"
#include "controlplane/lbctl/format.h"
#include "dataplane/abi/dump.h"
#include "dataplane/abi/region.h"

namespace fulcrum::lbctl {
namespace {

namespace api = cp::api;

struct Options {
  std::string socket;
  std::string config;
  bool json = false;
};

std::string socket_path(const Options& o) {
  if (!o.socket.empty()) return o.socket;
  if (const char* env = std::getenv("FULCRUM_SOCKET"); env != nullptr && *env != '\0') return env;
  if (!o.config.empty()) {
    config::Errors errors(o.config);
    if (auto cfg = config::load_config(o.config, errors)) return cfg->controlplane.socket;
  }
  return config::ControlplaneConfig{}.socket;
}

// Calls the control plane and prints the result (JSON, or `human`); returns the exit code.
int run_call(const Options& o, const Json& request, const std::function<void(const Json&)>& human) {
  CallResult r = call(socket_path(o), request);
  if (r.exit != api::kExitOk) {
    std::cerr << "lbctl: " << r.message << "\n";
    return r.exit;
  }
  if (o.json) std::cout << r.result.dump(2) << "\n";
  else human(r.result);
  return api::kExitOk;
}

// drain --wait: until the drained backends have no connection left.
int wait_drained(const Options& o, const Json& drained, double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  uint64_t last = ~0ull;
  for (;;) {
    CallResult r = call(socket_path(o), {{"cmd", api::kBackendList}});
    if (r.exit != api::kExitOk) {
      std::cerr << "lbctl: " << r.message << "\n";
      return r.exit;
    }
    uint64_t active = 0;
    for (const Json& b : r.result) {
      for (const Json& d : drained) {
        if (b["vip"] == d["vip"] && b["backend"] == d["backend"]) active += b["active_connections"].get<uint64_t>();
      }
    }
    if (active == 0) {
      if (!o.json) std::cout << "no active connections left\n";
      return api::kExitOk;
    }
    if (active != last && !o.json) std::cout << "waiting: " << active << " active connection(s)\n" << std::flush;
    last = active;
    if (std::chrono::steady_clock::now() >= deadline) {
      std::cerr << "lbctl: still " << active << " active connection(s) after " << timeout_s
                << " s; the backend stays drained\n";
      return api::kExitTimeout;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

void print_changed(const Json& r, const char* what) {
  for (const Json& b : r["backends"]) std::cout << what << " " << b["vip"].get<std::string>() << " " << b["backend"].get<std::string>()
                                                << " (state " << b["state"].get<std::string>() << ", weight " << b["weight"] << ")\n";
  std::cout << "published generation " << r["generation"] << "\n";
}

int config_check(const std::string& path, bool json) {
  config::Errors errors(path);
  std::optional<config::LbConfig> cfg = config::load_config(path, errors);
  if (!cfg) {
    if (json) {
      Json list = Json::array();
      for (const auto& e : errors.list()) list.push_back({{"file", e.file}, {"line", e.line}, {"column", e.column}, {"key", e.key}, {"message", e.message}});
      std::cout << Json{{"valid", false}, {"errors", list}}.dump(2) << "\n";
    } else {
      std::cerr << errors.str();
      std::cerr << path << ": " << errors.list().size() << " error(s)\n";
    }
    return api::kExitFailed;
  }
  size_t backends = 0;
  for (const auto& v : cfg->vips) backends += v.backends.size();
  if (json) std::cout << Json{{"valid", true}, {"vips", cfg->vips.size()}, {"backends", backends}}.dump(2) << "\n";
  else std::cout << path << ": valid (" << cfg->vips.size() << " VIPs, " << backends << " backends)\n";
  return api::kExitOk;
}

int shm_dump(const Options& o, std::string tables, std::string status, bool all) {
  if (!o.config.empty()) {
    config::Errors errors(o.config);
    if (auto cfg = config::load_dataplane(o.config, errors)) {
      if (tables.empty()) tables = cfg->shm_tables;
      if (status.empty()) status = cfg->shm_status;
    }
  }
  if (tables.empty()) tables = std::string(abi::kDefaultTablesName);
  if (status.empty()) status = std::string(abi::kDefaultStatusName);
  abi::DumpOptions d;
  d.maglev_entries = all;
  d.zero_counters = all;
  int rc = api::kExitOk;
  abi::Mapping m;
  std::string err;
  if (abi::open_tables(tables, abi::Access::ReadOnly, &m, &err)) abi::dump_tables(abi::tables_of(m), std::cout, d);
  else {
    std::cerr << "lbctl: " << err << "\n";
    rc = api::kExitFailed;
  }
  if (abi::open_status(status, abi::Access::ReadOnly, &m, &err)) abi::dump_status(abi::status_of(m), std::cout, d);
  else {
    std::cerr << "lbctl: " << err << "\n";
    rc = api::kExitFailed;
  }
  return rc;
}

}  // namespace
}  // namespace fulcrum::lbctl

int main(int argc, char** argv) {
  using namespace fulcrum::lbctl;
  namespace api = fulcrum::cp::api;
  CLI::App app{"lbctl: operate a Fulcrum load balancer"};
  app.require_subcommand(1);
  Options o;
  app.add_option("-s,--socket", o.socket, "control-plane socket (default: $FULCRUM_SOCKET, else controlplane.socket of --config, else /run/fulcrum/lbctl.sock)");
  app.add_option("-c,--config", o.config, "config file to take the socket and shared-memory names from");
  app.add_flag("-j,--json", o.json, "machine-readable JSON output");

  auto* status = app.add_subcommand("status", "data plane alive, table generation and age, per-VIP summary");
  auto* vip = app.add_subcommand("vip", "VIP verbs")->require_subcommand(1);
  auto* vip_list = vip->add_subcommand("list", "the configured VIPs");
  auto* backend = app.add_subcommand("backend", "backend verbs")->require_subcommand(1);
  auto* backend_list = backend->add_subcommand("list", "backends: state, health, weight, connections");
  std::string list_vip;
  backend_list->add_option("VIP", list_vip, "only this VIP (name or address:port)");

  std::string target, target_vip;
  bool wait = false;
  double timeout_s = 300;
  auto* drain = app.add_subcommand("drain", "stop sending new connections to a backend")->require_subcommand(1);
  auto* drain_backend = drain->add_subcommand("backend", "drain a backend (name, address:port or address)");
  drain_backend->add_option("BACKEND", target, "the backend")->required();
  drain_backend->add_option("--vip", target_vip, "only in this VIP (default: every VIP that has it)");
  drain_backend->add_flag("--wait", wait, "return only when its active connections reach 0");
  drain_backend->add_option("--timeout", timeout_s, "with --wait: give up after this many seconds (exit 5)")->check(CLI::PositiveNumber);
  auto* undrain = app.add_subcommand("undrain", "let a drained backend take new connections again")->require_subcommand(1);
  auto* undrain_backend = undrain->add_subcommand("backend", "undrain a backend");
  undrain_backend->add_option("BACKEND", target, "the backend")->required();
  undrain_backend->add_option("--vip", target_vip, "only in this VIP");
  std::string weight_text;
  auto* weight = app.add_subcommand("weight", "override a backend's weight")->require_subcommand(1);
  auto* weight_backend = weight->add_subcommand("backend", "set a backend's weight");
  weight_backend->add_option("BACKEND", target, "the backend")->required();
  weight_backend->add_option("WEIGHT", weight_text, "0 .. 1000, or \"config\" for the configured weight")->required();
  weight_backend->add_option("--vip", target_vip, "only in this VIP");
  auto* reload = app.add_subcommand("reload", "re-read the config file (as SIGHUP does) and report what changed");
  auto* stats = app.add_subcommand("stats", "data-plane counters, drops by reason, new connections by VIP");
  auto* config = app.add_subcommand("config", "config file verbs")->require_subcommand(1);
  std::string check_file;
  auto* config_check_cmd = config->add_subcommand("check", "validate a config file offline (exit 0 valid, 1 invalid)");
  config_check_cmd->add_option("FILE", check_file, "the file")->required();
  auto* shm = app.add_subcommand("shm", "shared-memory debugging")->require_subcommand(1);
  std::string tables_name, status_name;
  bool all = false;
  auto* shm_dump_cmd = shm->add_subcommand("dump", "print the tables and status regions as they are (no control plane needed)");
  shm_dump_cmd->add_option("--tables", tables_name, "tables region name");
  shm_dump_cmd->add_option("--status", status_name, "status region name");
  shm_dump_cmd->add_flag("--all", all, "also Maglev entries and zero counters");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : api::kExitUsage;
  }
  auto opt = [](const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); };
  if (status->parsed()) return run_call(o, {{"cmd", api::kStatus}}, [](const Json& r) { print_status(std::cout, r); });
  if (vip_list->parsed()) return run_call(o, {{"cmd", api::kVipList}}, [](const Json& r) { print_vips(std::cout, r); });
  if (backend_list->parsed()) {
    return run_call(o, {{"cmd", api::kBackendList}, {"vip", opt(list_vip)}}, [](const Json& r) { print_backends(std::cout, r); });
  }
  if (stats->parsed()) return run_call(o, {{"cmd", api::kStats}}, [](const Json& r) { print_stats(std::cout, r); });
  if (reload->parsed()) {
    return run_call(o, {{"cmd", api::kReload}}, [](const Json& r) {
      std::cout << "reloaded: generation " << r["generation"] << "\n";
      if (r["changes"].empty()) std::cout << "no changes\n";
      for (const Json& c : r["changes"]) std::cout << "  " << c.get<std::string>() << "\n";
    });
  }
  if (drain_backend->parsed()) {
    CallResult r = call(socket_path(o), {{"cmd", api::kDrain}, {"backend", target}, {"vip", opt(target_vip)}});
    if (r.exit != api::kExitOk) {
      std::cerr << "lbctl: " << r.message << "\n";
      return r.exit;
    }
    if (o.json && !wait) std::cout << r.result.dump(2) << "\n";
    if (!o.json) print_changed(r.result, "drained");
    return wait ? wait_drained(o, r.result["backends"], timeout_s) : api::kExitOk;
  }
  if (undrain_backend->parsed()) {
    return run_call(o, {{"cmd", api::kUndrain}, {"backend", target}, {"vip", opt(target_vip)}},
                    [](const Json& r) { print_changed(r, "undrained"); });
  }
  if (weight_backend->parsed()) {
    Json w = nullptr;
    if (weight_text != "config") {
      char* end = nullptr;
      long v = std::strtol(weight_text.c_str(), &end, 10);
      if (weight_text.empty() || *end != '\0' || v < 0 || v > 1000) {
        std::cerr << "lbctl: weight must be 0 .. 1000 or \"config\", not \"" << weight_text << "\"\n";
        return api::kExitUsage;
      }
      w = v;
    }
    return run_call(o, {{"cmd", api::kWeight}, {"backend", target}, {"vip", opt(target_vip)}, {"weight", w}},
                    [](const Json& r) { print_changed(r, "weight set for"); });
  }
  if (config_check_cmd->parsed()) return config_check(check_file, o.json);
  if (shm_dump_cmd->parsed()) return shm_dump(o, tables_name, status_name, all);
  return api::kExitUsage;
}
