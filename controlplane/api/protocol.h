// lbctl <-> lb-controlplane: one JSON request per connection, one JSON answer, each on one
// line. Requests: {"cmd": "...", ...arguments}. Answers: {"ok": true, "result": ...} or
// {"ok": false, "error": {"code": "not_found", "message": "..."}}. Both sides include this.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "controlplane/service/api_error.h"

namespace fulcrum::cp::api {

using Json = nlohmann::json;

inline constexpr const char* kStatus = "status";
inline constexpr const char* kVipList = "vip.list";
inline constexpr const char* kBackendList = "backend.list";   // {"vip"?}
inline constexpr const char* kDrain = "backend.drain";        // {"backend", "vip"?}
inline constexpr const char* kUndrain = "backend.undrain";    // {"backend", "vip"?}
inline constexpr const char* kWeight = "backend.weight";      // {"backend", "vip"?, "weight": int | null}
inline constexpr const char* kReload = "reload";
inline constexpr const char* kStats = "stats";

inline constexpr size_t kMaxMessage = 64 * 1024;

// lbctl's exit statuses (docs/lbctl.md).
enum Exit : int {
  kExitOk = 0,
  kExitFailed = 1,        // the control plane refused or could not do it; config check: invalid
  kExitUsage = 2,         // bad arguments
  kExitNotFound = 3,      // no such VIP or backend
  kExitUnreachable = 4,   // no control plane at the socket, or no permission to use it
  kExitTimeout = 5,       // --wait gave up
};

inline Json ok(Json result) { return Json{{"ok", true}, {"result", std::move(result)}}; }
inline Json fail(const ApiError& e) {
  return Json{{"ok", false}, {"error", {{"code", code_name(e.code)}, {"message", e.message}}}};
}
inline int exit_code_for(const std::string& code) {
  if (code == "not_found") return kExitNotFound;
  if (code == "invalid_argument") return kExitUsage;
  if (code == "permission_denied") return kExitUnreachable;
  return kExitFailed;
}

}  // namespace fulcrum::cp::api
