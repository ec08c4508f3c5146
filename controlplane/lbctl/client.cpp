#include "controlplane/lbctl/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "controlplane/api/protocol.h"

namespace fulcrum::lbctl {

namespace api = cp::api;

CallResult call(const std::string& socket_path, const Json& request, int timeout_ms) {
  sockaddr_un addr{};
  if (socket_path.size() >= sizeof addr.sun_path) {
    return {api::kExitUsage, {}, "usage", "socket path is " + std::to_string(socket_path.size()) +
                                               " characters; a Unix socket path has at most " +
                                               std::to_string(sizeof addr.sun_path - 1)};
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    close(fd);
    if (err == ENOENT || err == ECONNREFUSED) {
      return {api::kExitNotRunning, {}, "not_running",
              "the control plane is not running (" +
                  std::string(err == ENOENT ? "no socket at " : "nothing listens on ") + socket_path + ")"};
    }
    if (err == EACCES || err == EPERM) {
      return {api::kExitPermission, {}, "permission_denied",
              "permission denied on " + socket_path + " (run as root or as a member of the socket's group)"};
    }
    return {api::kExitNotRunning, {}, "not_running", "cannot connect to " + socket_path + ": " + std::strerror(err)};
  }
  std::string out = request.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n", in;
  // MSG_NOSIGNAL: a control plane that closes the connection at once (at its connection
  // limit) must give "dropped", not kill lbctl with SIGPIPE.
  bool sent = send(fd, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size());
  pollfd p{fd, POLLIN, 0};
  bool closed = !sent, timed_out = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!closed && in.find('\n') == std::string::npos && in.size() < api::kMaxMessage * 1024) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) == 0) {
      timed_out = true;
      break;
    }
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) closed = true;
    else in.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (in.find('\n') == std::string::npos) {
    if (timed_out) {
      return {api::kExitNoAnswer, {}, "no_answer",
              "no answer from the control plane on " + socket_path + " within " + std::to_string(timeout_ms) +
                  " ms (it is busy or stuck; see its log)"};
    }
    return {api::kExitDropped, {}, "dropped",
            "the control plane on " + socket_path + " closed the connection without answering (too many clients at "
            "once, or it crashed; see its log)"};
  }
  Json answer = Json::parse(in.substr(0, in.find('\n')), nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) return {api::kExitFailed, {}, "malformed", "malformed answer from the control plane"};
  if (answer.value("ok", false) && answer.contains("result")) return {api::kExitOk, answer["result"], "", ""};
  std::string code = "internal", message = "unknown error";
  if (answer.contains("error") && answer["error"].is_object()) {
    const Json& e = answer["error"];
    if (e.contains("code") && e["code"].is_string()) code = e["code"].get<std::string>();
    if (e.contains("message") && e["message"].is_string()) message = e["message"].get<std::string>();
  }
  return {api::exit_code_for(code), {}, code, message};
}

}  // namespace fulcrum::lbctl
