// The control plane's local socket (lbctl's way in). A Unix stream socket with the
// configured mode, owner and group; each request comes with the caller's credentials
// (SO_PEERCRED): anyone allowed to connect may read, only root, the control plane's own
// user or members of the socket's group may change anything, and changes are logged with
// the caller's uid and pid.
//
// Like the health checker, it owns an epoll set and no thread: the control plane's loop
// polls fd() and calls run(), and calls sweep() on its timer. No client can hold the loop
// or the process:
//  - connections are non-blocking; one that has not sent its request within 5 s, or not
//    taken its answer within 5 s, is closed by sweep();
//  - at most kMaxConnections at once: at the cap (or when the process runs out of file
//    descriptors) the listening socket leaves the epoll set until a connection closes, so
//    the loop does not spin on a connection it cannot accept;
//  - nothing a request contains can throw out of run(): a failing handler answers
//    "internal", and answers are encoded with invalid UTF-8 replaced.
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
  static constexpr size_t kMaxConnections = 64;
  static constexpr uint64_t kIdleMs = 5000;

  static Expected<std::unique_ptr<ApiServer>> listen(const config::ControlplaneConfig& cfg, Service& service);
  ~ApiServer();
  int fd() const { return epoll_; }
  void run();     // accept, read, answer: whatever is ready now
  void sweep();   // closes stalled connections; re-arms the listener after fd exhaustion
  void deliver(); // sends the deferred answers that became ready
  size_t connections() const;

  // The answer to one request from a caller with these credentials (the socket-free core,
  // for tests and for run()): a JSON answer, or a Deferred to collect from the service.
  std::variant<api::Json, Deferred> handle(const api::Json& request, uid_t uid, gid_t gid, pid_t pid);

 private:
  struct Conn;
  explicit ApiServer(Service& service);  // out of line: Conn is complete only in the .cpp
  bool may_change(uid_t uid, gid_t gid) const;
  void close_conn(int fd);
  void accept_all();
  void answer(int fd, Conn& c);                 // handles c.in, sets c.out or c.deferred
  void set_answer(int fd, Conn& c, const api::Json& answer);
  void set_listening(bool on);

  Service& service_;
  std::string path_;
  int listen_fd_ = -1;
  int epoll_ = -1;
  int spare_fd_ = -1;                    // given up to accept-and-close when out of fds
  bool listening_ = false;
  uint64_t paused_until_ms_ = 0;         // after EMFILE: listener off until then
  gid_t group_ = static_cast<gid_t>(-1);
  std::unique_ptr<std::map<int, Conn>> conns_;
};

}  // namespace fulcrum::cp
