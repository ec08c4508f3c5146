// lbctl <-> lb-controlplane: one JSON request per connection, one JSON answer, each on one
// line (a request may also end at EOF). Requests: {"cmd": "...", ...arguments}. Answers:
// {"ok": true, "result": ...} or {"ok": false, "error": {"code": "not_found", "message":
// "..."}}. Both sides include this.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "controlplane/service/api_error.h"

namespace fulcrum::cp::api {

using Json = nlohmann::json;

// Reading (anyone who may connect).
inline constexpr const char* kStatus = "status";
inline constexpr const char* kVipList = "vip.list";
inline constexpr const char* kBackendList = "backend.list";   // {"vip"?}
inline constexpr const char* kStats = "stats";
inline constexpr const char* kStateList = "state.list";
inline constexpr const char* kConnList = "conn.list";         // {"vip"?, "backend"?, "limit"?: 1..1024}
// Changing (root, the control plane's user, the socket's group). reload with
// "dry_run": true changes nothing but is answered like reload.
inline constexpr const char* kDrain = "backend.drain";        // {"backend", "vip"?}
inline constexpr const char* kUndrain = "backend.undrain";    // {"backend", "vip"?}
inline constexpr const char* kWeight = "backend.weight";      // {"backend", "vip"?, "weight": int | null}
inline constexpr const char* kMaintenance = "backend.maintenance";  // {"backend", "vip"?, "on": bool}
inline constexpr const char* kHealth = "backend.health";      // {"backend", "vip"?, "health": "up" | "down" | "auto"}
inline constexpr const char* kStateClear = "state.clear";     // {"backend"?, "vip"?}
inline constexpr const char* kReload = "reload";              // {"dry_run"?: bool}
inline constexpr const char* kConfigDiff = "config.diff";     // {"path"}: a dry run of another file
inline constexpr const char* kNodeDrain = "node.drain";       // issue 12: withdraw every VIP from the routers
inline constexpr const char* kNodeUndrain = "node.undrain";   // issue 12: announce them again

inline constexpr size_t kMaxMessage = 64 * 1024;

// lbctl's exit statuses (docs/lbctl.md).
enum Exit : int {
  kExitOk = 0,
  kExitFailed = 1,        // the control plane refused or could not do it; config check: invalid
  kExitUsage = 2,         // bad arguments
  kExitNotFound = 3,      // no such VIP or backend
  kExitNotRunning = 4,    // no control plane at the socket (no socket, or nobody listening)
  kExitTimeout = 5,       // --wait gave up
  kExitPermission = 6,    // may not connect, or may read but not change
  kExitNoAnswer = 7,      // connected, but no answer within the time allowed
  kExitDropped = 8,       // the control plane closed the connection without answering
};

inline Json ok(Json result) { return Json{{"ok", true}, {"result", std::move(result)}}; }
inline Json fail(const ApiError& e) {
  return Json{{"ok", false}, {"error", {{"code", code_name(e.code)}, {"message", e.message}}}};
}
inline int exit_code_for(const std::string& code) {
  if (code == "not_found") return kExitNotFound;
  if (code == "invalid_argument") return kExitUsage;
  if (code == "permission_denied") return kExitPermission;
  return kExitFailed;
}

}  // namespace fulcrum::cp::api
