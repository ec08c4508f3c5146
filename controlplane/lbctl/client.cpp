#include "controlplane/lbctl/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "controlplane/api/protocol.h"

namespace fulcrum::lbctl {

namespace api = cp::api;

CallResult call(const std::string& socket_path, const Json& request, int timeout_ms) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    close(fd);
    std::string why = err == ENOENT || err == ECONNREFUSED
                          ? "the control plane is not running (nothing listens on " + socket_path + ")"
                      : err == EACCES ? "permission denied on " + socket_path + " (run as root or as a member of the socket's group)"
                                      : "cannot connect to " + socket_path + ": " + std::strerror(err);
    return {api::kExitUnreachable, {}, why};
  }
  std::string out = request.dump() + "\n", in;
  bool sent = write(fd, out.data(), out.size()) == static_cast<ssize_t>(out.size());
  pollfd p{fd, POLLIN, 0};
  while (sent && in.find('\n') == std::string::npos && in.size() < api::kMaxMessage * 64) {
    if (poll(&p, 1, timeout_ms) <= 0) break;
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (in.find('\n') == std::string::npos) {
    return {api::kExitUnreachable, {}, "no answer from the control plane on " + socket_path + " within " + std::to_string(timeout_ms) + " ms"};
  }
  Json answer = Json::parse(in.substr(0, in.find('\n')), nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) return {api::kExitFailed, {}, "malformed answer from the control plane"};
  if (answer.value("ok", false)) return {api::kExitOk, answer["result"], ""};
  const Json& e = answer["error"];
  return {api::exit_code_for(e.value("code", "")), {}, e.value("message", "unknown error")};
}

}  // namespace fulcrum::lbctl
