// The control plane's local socket (lbctl's way in). A Unix stream socket with the
// configured mode, owner and group; each request comes with the caller's credentials
// (SO_PEERCRED): anyone allowed to connect may read, only root, the control plane's own
// user or members of the socket's group may change anything, and changes are logged with
// the caller's uid and pid.
//
// Like the health checker, it owns an epoll set and no thread: the control plane's loop
// polls fd() and calls run(). Connections are non-blocking; a client that stalls is
// dropped after 5 s, so no client can hold the loop.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>

#include "config/loader/lb_config.h"
#include "controlplane/api/protocol.h"
#include "controlplane/service/service.h"

namespace fulcrum::cp {

class ApiServer {
 public:
  static Expected<std::unique_ptr<ApiServer>> listen(const config::ControlplaneConfig& cfg, Service& service);
  ~ApiServer();
  int fd() const { return epoll_; }
  void run();   // accept, read, answer: whatever is ready now

  // The answer to one request from a caller with these credentials (the socket-free core,
  // for tests and for run()).
  api::Json handle(const api::Json& request, uid_t uid, gid_t gid, pid_t pid);

 private:
  struct Conn;
  explicit ApiServer(Service& service);  // out of line: Conn is complete only in the .cpp
  bool may_change(uid_t uid, gid_t gid) const;
  void close_conn(int fd);

  Service& service_;
  std::string path_;
  int listen_fd_ = -1;
  int epoll_ = -1;
  gid_t group_ = static_cast<gid_t>(-1);
  std::unique_ptr<std::map<int, Conn>> conns_;
};

}  // namespace fulcrum::cp
