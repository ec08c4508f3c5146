// lbctl's side of the socket protocol (controlplane/api/protocol.h).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace fulcrum::lbctl {

using Json = nlohmann::json;

struct CallResult {
  int exit = 0;          // api::Exit
  Json result;           // when exit == 0
  std::string code;      // the control plane's error code ("not_found", ...), or lbctl's own
                         // ("not_running", "permission_denied", "no_answer", "dropped")
  std::string message;   // otherwise: what to print on stderr
};

// Sends one request and waits for the answer (at most timeout_ms).
CallResult call(const std::string& socket, const Json& request, int timeout_ms = 10000);

}  // namespace fulcrum::lbctl
