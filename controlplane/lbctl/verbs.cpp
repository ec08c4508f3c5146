#include "controlplane/lbctl/verbs.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "config/loader/lb_config.h"
#include "config/loader/ip_addr.h"
#include "config/loader/parse_file.h"
#include "controlplane/api/protocol.h"
#include "controlplane/lbctl/client.h"
#include "controlplane/lbctl/format.h"
#include "controlplane/lbctl/shm_json.h"
#include "dataplane/abi/dump.h"
#include "dataplane/abi/region.h"

namespace fulcrum::lbctl {
namespace {

namespace api = cp::api;

void print_error(const Options& o, const std::string& code, const std::string& message) {
  std::cerr << "lbctl: " << message << "\n";
  if (o.json) std::cout << Json{{"ok", false}, {"error", {{"code", code}, {"message", message}}}}.dump(2) << "\n";
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

double num(const Json& j, const std::string& key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
}

// Per-second rates between two answers of the same verb.
Json rates(const std::string& kind, const Json& before, const Json& now, double dt) {
  auto rate = [dt](double a, double b) { return b >= a && dt > 0 ? (b - a) / dt : 0.0; };
  Json out = Json::object();
  if (kind == "stats") {
    for (const char* group : {"counters", "drops"}) {
      Json g = Json::object();
      if (now.contains(group) && now[group].is_object()) {
        for (const auto& [k, v] : now[group].items()) g[k] = rate(num(before.value(group, Json::object()), k), num(now[group], k));
      }
      out[group] = g;
    }
    Json vips = Json::object();
    for (const Json& v : now.value("vips", Json::array())) {
      Json prev;
      for (const Json& p : before.value("vips", Json::array())) {
        if (p.value("name", "") == v.value("name", "")) prev = p;
      }
      Json r = Json::object();
      for (const char* k : {"packets", "bytes", "new_connections", "drops"}) r[k] = rate(num(prev, k), num(v, k));
      vips[v.value("name", "")] = r;
    }
    out["vips"] = vips;
  } else {
    for (const Json& b : now) {
      std::string key = b.value("vip", "") + "|" + b.value("backend", "");
      Json prev;
      for (const Json& p : before) {
        if (p.value("vip", "") + "|" + p.value("backend", "") == key) prev = p;
      }
      out[key] = {{"packets_per_s", rate(num(prev, "packets"), num(b, "packets"))},
                  {"bytes_per_s", rate(num(prev, "bytes"), num(b, "bytes"))}};
    }
  }
  return out;
}

// Reads only controlplane.socket: lbctl needs nothing else from the file, and must not
// reject a file the control plane is about to be told to reload.
std::optional<std::string> socket_from_config(const std::string& path) {
  config::Errors errors(path);
  std::optional<toml::table> raw = config::parse_file(path, errors);
  if (!raw) {
    std::cerr << errors.str() << "lbctl: cannot take the socket path from " << path << " (use -s SOCKET)\n";
    return std::nullopt;
  }
  const toml::node* s = raw->at_path("controlplane.socket").node();
  if (s == nullptr) return config::ControlplaneConfig{}.socket;
  if (!s->is_string()) {
    std::cerr << path << ":" << s->source().begin.line << ":" << s->source().begin.column
              << ": controlplane.socket: must be a string (use -s SOCKET)\n";
    return std::nullopt;
  }
  return s->as_string()->get();
}

}  // namespace

std::optional<std::string> socket_path(const Options& o) {
  if (!o.socket.empty()) return o.socket;
  if (!o.config.empty()) return socket_from_config(o.config);
  if (const char* env = std::getenv("FULCRUM_SOCKET"); env != nullptr && *env != '\0') return std::string(env);
  return config::ControlplaneConfig{}.socket;
}

int run_call(const Options& o, const Json& request, const std::function<void(const Json&)>& human) {
  std::optional<std::string> sock = socket_path(o);
  if (!sock) return api::kExitFailed;
  CallResult r = call(*sock, request, o.answer_ms());
  if (r.exit != api::kExitOk) {
    print_error(o, r.code, r.message);
    return r.exit;
  }
  try {
    if (o.json) std::cout << r.result.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
    else human(r.result);
  } catch (const std::exception& e) {
    print_error(o, "malformed", std::string("unexpected answer from the control plane (another release?): ") + e.what());
    return api::kExitFailed;
  }
  return r.exit;
}

int watch(const Options& o, const Json& request, const std::string& kind, double interval_s, uint64_t count) {
  std::optional<std::string> sock = socket_path(o);
  if (!sock) return api::kExitFailed;
  Json previous;
  auto previous_at = std::chrono::steady_clock::now();
  const bool tty = isatty(STDOUT_FILENO) != 0;
  for (uint64_t n = 1; count == 0 || n <= count; ++n) {
    if (n > 1) std::this_thread::sleep_for(std::chrono::duration<double>(interval_s));
    CallResult r = call(*sock, request, o.answer_ms());
    if (r.exit != api::kExitOk) {
      print_error(o, r.code, r.message);
      return r.exit;
    }
    double dt = seconds_since(previous_at);
    previous_at = std::chrono::steady_clock::now();
    Json rt = previous.is_null() ? Json(nullptr) : rates(kind, previous, r.result, dt);
    if (o.json) {
      std::cout << Json{{"sample", n}, {"interval_s", previous.is_null() ? 0.0 : dt}, {"result", r.result}, {"rates", rt}}.dump()
                << "\n" << std::flush;
    } else {
      if (tty) std::cout << "\033[H\033[2J";
      std::cout << "every " << interval_s << " s, sample " << n << (rt.is_null() ? " (rates from the next sample)" : "") << "\n\n";
      if (kind == "stats") print_stats(std::cout, r.result, rt);
      else print_backends(std::cout, r.result, rt.is_null() ? Json::object() : rt);
      std::cout << "\n" << std::flush;
    }
    previous = std::move(r.result);
  }
  return api::kExitOk;
}

int drain(const Options& o, const std::string& backend, const std::string& vip, bool wait, double timeout_s) {
  std::optional<std::string> sock = socket_path(o);
  if (!sock) return api::kExitFailed;
  Json request{{"cmd", api::kDrain}, {"backend", backend}, {"vip", vip.empty() ? Json(nullptr) : Json(vip)}};
  CallResult r = call(*sock, request, o.answer_ms());
  if (r.exit != api::kExitOk) {
    print_error(o, r.code, r.message);
    return r.exit;
  }
  if (!o.json) print_changed(std::cout, r.result, "drained");
  if (!wait) {
    if (o.json) std::cout << r.result.dump(2) << "\n";
    return api::kExitOk;
  }
  // --wait: until the drained backends have no connection left.
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration<double>(timeout_s);
  uint64_t last = ~0ull, active = 0;
  int rc = api::kExitOk;
  for (;;) {
    CallResult list = call(*sock, {{"cmd", api::kBackendList}}, o.answer_ms());
    if (list.exit != api::kExitOk) {
      print_error(o, list.code, list.message);
      return list.exit;
    }
    active = 0;
    for (const Json& b : list.result) {
      for (const Json& d : r.result.value("backends", Json::array())) {
        if (b.value("vip", "") == d.value("vip", "") && b.value("backend", "") == d.value("backend", "")) {
          active += uint64_t(num(b, "active_connections"));
        }
      }
    }
    if (active == 0) {
      if (!o.json) std::cout << "no active connections left\n";
      break;
    }
    if (active != last && !o.json) std::cout << "waiting: " << active << " active connection(s)\n" << std::flush;
    last = active;
    if (std::chrono::steady_clock::now() >= deadline) {
      std::cerr << "lbctl: still " << active << " active connection(s) after " << timeout_s << " s; the backend stays drained\n";
      rc = api::kExitTimeout;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (o.json) {
    std::cout << Json{{"drain", r.result},
                      {"wait", {{"drained", active == 0}, {"active_connections", active}, {"waited_s", seconds_since(start)}}}}
                     .dump(2)
              << "\n";
  }
  return rc;
}

int backend_show(const Options& o, const std::string& backend, const std::string& vip) {
  std::optional<std::string> sock = socket_path(o);
  if (!sock) return api::kExitFailed;
  CallResult r = call(*sock, {{"cmd", api::kBackendList}, {"vip", vip.empty() ? Json(nullptr) : Json(vip)}}, o.answer_ms());
  if (r.exit != api::kExitOk) {
    print_error(o, r.code, r.message);
    return r.exit;
  }
  // issue 15: addresses compared as values, IPv6 as "[2001:db8::11]:80" or the address alone.
  auto ref = config::parse_endpoint_ref(backend);
  if (!ref && backend.find(':') != std::string::npos) {
    print_error(o, "invalid_argument", "\"" + backend + "\" is not a backend address or address:port (e.g. 198.18.2.11:80, "
                              "[2001:db8::11]:80 or 2001:db8::11)");
    return api::kExitUsage;
  }
  Json found = Json::array();
  for (const Json& b : r.result) {
    auto endpoint = config::parse_endpoint(b.value("backend", ""));
    bool by_ref = ref && endpoint && ref->matches(endpoint->first, endpoint->second);
    if (b.value("name", "") == backend || by_ref) found.push_back(b);
  }
  if (found.empty()) {
    print_error(o, "not_found", "no backend \"" + backend + "\"" + (vip.empty() ? " in any VIP" : " in VIP " + vip) +
                                    " (see: lbctl backend list)");
    return api::kExitNotFound;
  }
  if (o.json) {
    std::cout << found.dump(2) << "\n";
    return api::kExitOk;
  }
  for (size_t i = 0; i < found.size(); ++i) {
    if (i > 0) std::cout << "\n";
    print_backend_detail(std::cout, found[i]);
  }
  return api::kExitOk;
}

int config_check(const std::string& path, bool json) {
  config::Errors errors(path);
  std::optional<config::LbConfig> cfg = config::load_config(path, errors);
  if (!cfg) {
    if (json) {
      Json list = Json::array();
      for (const auto& e : errors.list()) list.push_back({{"file", e.file}, {"line", e.line}, {"column", e.column}, {"key", e.key}, {"message", e.message}});
      std::cout << Json{{"valid", false}, {"errors", list}}.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
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

int config_diff(const Options& o, const std::string& path) {
  // The control plane reads the file: give it an absolute path.
  char real[PATH_MAX];
  std::string abs = realpath(path.c_str(), real) != nullptr ? std::string(real) : path;
  return run_call(o, {{"cmd", api::kConfigDiff}, {"path", abs}}, [](const Json& r) { print_plan(std::cout, r); });
}

int shm_dump(const Options& o, std::string tables, std::string status, bool all) {
  if (!o.config.empty()) {
    config::Errors errors(o.config);
    if (auto cfg = config::load_dataplane(o.config, errors)) {
      if (tables.empty()) tables = cfg->shm_tables;
      if (status.empty()) status = cfg->shm_status;
    } else {
      std::cerr << errors.str() << "lbctl: cannot take the region names from " << o.config << " (use --tables and --status)\n";
      return api::kExitFailed;
    }
  }
  if (tables.empty()) tables = std::string(abi::kDefaultTablesName);
  if (status.empty()) status = std::string(abi::kDefaultStatusName);
  abi::DumpOptions d;
  d.maglev_entries = all;
  d.zero_counters = all;
  int rc = api::kExitOk;
  Json out = Json::object();
  abi::Mapping m;
  std::string err;
  if (abi::open_tables(tables, abi::Access::ReadOnly, &m, &err)) {
    if (o.json) out["tables"] = tables_json(abi::tables_of(m), all);
    else abi::dump_tables(abi::tables_of(m), std::cout, d);
  } else {
    std::cerr << "lbctl: " << err << "\n";
    if (o.json) out["tables"] = Json{{"error", err}};
    rc = api::kExitFailed;
  }
  if (abi::open_status(status, abi::Access::ReadOnly, &m, &err)) {
    if (o.json) out["status"] = status_json(abi::status_of(m), all);
    else abi::dump_status(abi::status_of(m), std::cout, d);
  } else {
    std::cerr << "lbctl: " << err << "\n";
    if (o.json) out["status"] = Json{{"error", err}};
    rc = api::kExitFailed;
  }
  if (o.json) std::cout << out.dump(2) << "\n";
  return rc;
}

}  // namespace fulcrum::lbctl
