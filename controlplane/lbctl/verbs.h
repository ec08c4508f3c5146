// lbctl's verbs, each a function from parsed options to an exit status (api::Exit). The
// command line itself is in lbctl_main.cpp.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace fulcrum::lbctl {

using Json = nlohmann::json;

struct Options {
  std::string socket;     // -s
  std::string config;     // -c
  bool json = false;      // -j
  double answer_timeout_s = 10;  // --answer-timeout: how long to wait for each answer
  int answer_ms() const { return static_cast<int>(answer_timeout_s * 1000); }
};

// Where the control plane listens: -s, else controlplane.socket of -c (only that key is
// read: a file with errors elsewhere still names its socket; one that is not TOML is an
// error), else $FULCRUM_SOCKET, else the default. nullopt after printing why.
std::optional<std::string> socket_path(const Options& o);

// Sends `request`, prints the answer (JSON under -j, else `human`), returns the exit code.
// Under -j an error is printed on stdout as {"ok": false, "error": {code, message}} too.
int run_call(const Options& o, const Json& request, const std::function<void(const Json&)>& human);

// --watch: calls `request` every `interval_s`, `count` times (0: until interrupted), and
// prints each answer with per-second rates (`kind` "stats" or "backends").
int watch(const Options& o, const Json& request, const std::string& kind, double interval_s, uint64_t count);

int drain(const Options& o, const std::string& backend, const std::string& vip, bool wait, double timeout_s);
// issue 12 (node_verbs.cpp): node drain (drain = true) / undrain; --wait as for drain.
int node_drain(const Options& o, bool drain, bool wait, double timeout_s);
int backend_show(const Options& o, const std::string& backend, const std::string& vip);
int config_check(const std::string& path, bool json);
int config_diff(const Options& o, const std::string& path);
int shm_dump(const Options& o, std::string tables, std::string status, bool all);

}  // namespace fulcrum::lbctl
