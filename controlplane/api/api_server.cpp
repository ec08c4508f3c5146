#include "controlplane/api/api_server.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include "controlplane/api/protocol.h"
#include "controlplane/service/log.h"
#include "controlplane/service/operator_state.h"

namespace fulcrum::cp {
namespace {

constexpr uint64_t kDeferredMs = 60'000;   // an answer waiting for a publish or the data plane
constexpr uint64_t kPauseAfterEmfileMs = 100;

std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

// A socket file left by a control plane that died is stale; one that answers belongs to a
// running control plane, which this one must not steal from.
bool in_use(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  bool alive = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return alive;
}

const char* file_kind(mode_t m) {
  if (S_ISREG(m)) return "a regular file";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISLNK(m)) return "a symbolic link";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
  return "not a socket";
}

std::string dump(const api::Json& j) { return j.dump(-1, ' ', false, api::Json::error_handler_t::replace) + "\n"; }

}  // namespace

struct ApiServer::Conn {
  std::string in, out;
  size_t sent = 0;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  pid_t pid = 0;
  uint64_t since_ms = 0;
  uint64_t deferred = 0;   // waiting for this answer from the service
};

ApiServer::ApiServer(Service& service) : service_(service), conns_(std::make_unique<std::map<int, Conn>>()) {}

Expected<std::unique_ptr<ApiServer>> ApiServer::listen(const config::ControlplaneConfig& cfg, Service& service) {
  std::unique_ptr<ApiServer> s(new ApiServer(service));
  s->path_ = cfg.socket;
  if (s->path_.size() >= sizeof(sockaddr_un::sun_path)) return invalid("socket path too long: " + s->path_);
  std::string dir = s->path_.substr(0, s->path_.rfind('/'));
  if (!dir.empty()) {
    if (std::string err = make_directories(dir, 0755); !err.empty()) return unavailable(err);
  }
  // Only ever replace a socket: controlplane.socket pointing at the config file by mistake
  // must not delete it.
  struct stat st {};
  if (lstat(s->path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return unavailable("controlplane.socket " + s->path_ + " exists and is " + file_kind(st.st_mode) +
                         ", not a socket; refusing to replace it (fix controlplane.socket, or remove the file)");
    }
    if (in_use(s->path_)) return unavailable("another lb-controlplane is already serving " + s->path_);
    unlink(s->path_.c_str());
  }
  s->listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, s->path_.c_str(), sizeof addr.sun_path - 1);
  // The socket appears with no permissions at all, then gets its mode and owner.
  mode_t old_umask = umask(0777);
  int rc = bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  umask(old_umask);
  if (rc != 0) return unavailable(sys_error("cannot bind " + s->path_));
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  if (!cfg.socket_owner.empty()) {
    passwd* pw = getpwnam(cfg.socket_owner.c_str());
    if (pw == nullptr) return invalid("socket owner \"" + cfg.socket_owner + "\": no such user");
    uid = pw->pw_uid;
  }
  if (!cfg.socket_group.empty()) {
    group* gr = getgrnam(cfg.socket_group.c_str());
    if (gr == nullptr) return invalid("socket group \"" + cfg.socket_group + "\": no such group");
    gid = gr->gr_gid;
  }
  if (chown(s->path_.c_str(), uid, gid) != 0 || chmod(s->path_.c_str(), cfg.socket_mode) != 0) {
    return unavailable(sys_error("cannot set owner/mode of " + s->path_));
  }
  // Whoever the socket's group is (socket_group, or by default ours), its members may
  // change things: that is what the docs promise and what 0660 lets them reach.
  if (stat(s->path_.c_str(), &st) != 0) return unavailable(sys_error("cannot stat " + s->path_));
  s->group_ = st.st_gid;
  if (::listen(s->listen_fd_, 64) != 0) return unavailable(sys_error("listen on " + s->path_));
  s->epoll_ = epoll_create1(EPOLL_CLOEXEC);
  s->spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  s->set_listening(true);
  log("info", "serving lbctl on %s (mode %04o, group %u may change)", s->path_.c_str(), cfg.socket_mode, s->group_);
  return s;
}

ApiServer::~ApiServer() {
  for (auto& [fd, c] : *conns_) {
    if (c.deferred != 0) service_.forget(c.deferred);
    close(fd);
  }
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(path_.c_str());
  }
  if (spare_fd_ >= 0) close(spare_fd_);
  if (epoll_ >= 0) close(epoll_);
}

size_t ApiServer::connections() const { return conns_->size(); }

void ApiServer::set_listening(bool on) {
  if (on == listening_) return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd_;
  epoll_ctl(epoll_, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, listen_fd_, &ev);
  listening_ = on;
}

void ApiServer::close_conn(int fd) {
  auto it = conns_->find(fd);
  if (it != conns_->end() && it->second.deferred != 0) service_.forget(it->second.deferred);
  epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  conns_->erase(fd);
  if (!listening_ && conns_->size() < kMaxConnections && monotonic_ms() >= paused_until_ms_) set_listening(true);
}

bool ApiServer::may_change(uid_t uid, gid_t gid) const {
  if (uid == 0 || uid == geteuid()) return true;
  if (group_ == static_cast<gid_t>(-1)) return false;
  if (gid == group_) return true;
  passwd* pw = getpwuid(uid);
  if (pw == nullptr) return false;
  int n = 64;
  std::vector<gid_t> groups(n);
  if (getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &n) < 0) {
    groups.resize(n);
    if (getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &n) < 0) return false;
  }
  for (int i = 0; i < n; ++i) {
    if (groups[i] == group_) return true;
  }
  return false;
}

std::variant<api::Json, Deferred> ApiServer::handle(const api::Json& req, uid_t uid, gid_t gid, pid_t pid) {
  if (!req.is_object() || !req.contains("cmd") || !req["cmd"].is_string()) {
    return api::fail(invalid("a request is a JSON object with a \"cmd\" string"));
  }
  const std::string cmd = req["cmd"].get<std::string>();
  // A key present with the wrong type is an error, never "absent": {"vip": ["web"]} must
  // not widen a drain to every VIP.
  std::string type_error;
  auto opt_string = [&](const char* key) -> std::optional<std::string> {
    if (!req.contains(key) || req[key].is_null()) return std::nullopt;
    if (!req[key].is_string()) {
      type_error = std::string("\"") + key + "\" must be a string";
      return std::nullopt;
    }
    return req[key].get<std::string>();
  };
  auto opt_bool = [&](const char* key, bool fallback) -> bool {
    if (!req.contains(key) || req[key].is_null()) return fallback;
    if (!req[key].is_boolean()) {
      type_error = std::string("\"") + key + "\" must be true or false";
      return fallback;
    }
    return req[key].get<bool>();
  };
  auto reply = [](Reply r) -> std::variant<api::Json, Deferred> {
    if (auto* d = std::get_if<Deferred>(&r)) return *d;
    Expected<Json>& e = std::get<Expected<Json>>(r);
    return e ? api::ok(std::move(e.value())) : api::fail(e.error());
  };
  auto bad_type = [&]() { return api::fail(invalid(type_error)); };

  if (cmd == api::kStatus) return api::ok(service_.status());
  if (cmd == api::kVipList) return api::ok(service_.vip_list());
  if (cmd == api::kStats) return api::ok(service_.stats());
  if (cmd == api::kStateList) return api::ok(service_.state_list());
  if (cmd == api::kBackendList) {
    std::optional<std::string> vip = opt_string("vip");
    if (!type_error.empty()) return bad_type();
    Expected<Json> r = service_.backend_list(vip);
    return r ? api::ok(std::move(r.value())) : api::fail(r.error());
  }
  if (cmd == api::kConnList) {
    ConnQuery q;
    q.vip = opt_string("vip");
    q.backend = opt_string("backend");
    if (req.contains("limit") && !req["limit"].is_null()) {
      if (!req["limit"].is_number_integer() || req["limit"].get<int64_t>() < 1 || req["limit"].get<int64_t>() > 1024) {
        return api::fail(invalid("\"limit\" must be an integer 1 .. 1024"));
      }
      q.limit = static_cast<uint32_t>(req["limit"].get<int64_t>());
    }
    if (!type_error.empty()) return bad_type();
    return reply(service_.conn_list(q));
  }
  bool dry_run = cmd == api::kReload && opt_bool("dry_run", false);
  if (!type_error.empty()) return bad_type();
  if (cmd == api::kReload && dry_run) return reply(service_.reload(true));

  const bool mutating = cmd == api::kDrain || cmd == api::kUndrain || cmd == api::kWeight || cmd == api::kReload ||
                        cmd == api::kMaintenance || cmd == api::kHealth || cmd == api::kStateClear || cmd == api::kConfigDiff ||
                        cmd == api::kNodeDrain || cmd == api::kNodeUndrain;
  if (!mutating) return api::fail(invalid("unknown command \"" + cmd + "\""));
  if (!may_change(uid, gid)) {
    log("warning", "refused %s from uid %u pid %d: not root, not our user (uid %u), not in the socket's group (gid %u)",
        cmd.c_str(), uid, pid, geteuid(), group_);
    return api::fail({ErrorCode::PermissionDenied, "uid " + std::to_string(uid) + " may read but not change anything "
                                                   "(needs root, the control plane's user, or the socket's group)"});
  }
  log("info", "%s requested by uid %u pid %d", cmd.c_str(), uid, pid);
  if (cmd == api::kReload) return reply(service_.reload(false));
  if (cmd == api::kNodeDrain || cmd == api::kNodeUndrain) return reply(service_.node_drain(cmd == api::kNodeDrain));
  if (cmd == api::kConfigDiff) {
    std::optional<std::string> path = opt_string("path");
    if (!type_error.empty()) return bad_type();
    if (!path || path->empty()) return api::fail(invalid("\"path\" is required"));
    return reply(service_.config_diff(*path));
  }
  std::optional<std::string> backend = opt_string("backend");
  std::optional<std::string> vip = opt_string("vip");
  if (!type_error.empty()) return bad_type();
  if (cmd == api::kStateClear) return reply(service_.state_clear(backend, vip));
  if (!backend) return api::fail(invalid("\"backend\" is required"));
  if (cmd == api::kDrain || cmd == api::kUndrain) return reply(service_.set_drain(*backend, vip, cmd == api::kDrain));
  if (cmd == api::kMaintenance) {
    if (!req.contains("on") || !req["on"].is_boolean()) return api::fail(invalid("\"on\" must be true or false"));
    return reply(service_.set_maintenance(*backend, vip, req["on"].get<bool>()));
  }
  if (cmd == api::kHealth) {
    std::optional<std::string> h = opt_string("health");
    if (!type_error.empty()) return bad_type();
    if (!h || (*h != "up" && *h != "down" && *h != "auto")) return api::fail(invalid("\"health\" must be \"up\", \"down\" or \"auto\""));
    std::optional<Health> forced;
    if (*h != "auto") forced = *h == "up" ? Health::Up : Health::Down;
    return reply(service_.force_health(*backend, vip, forced));
  }
  std::optional<uint16_t> weight;
  if (req.contains("weight") && !req["weight"].is_null()) {
    if (!req["weight"].is_number_integer() || req["weight"].get<int64_t>() < 0 || req["weight"].get<int64_t>() > 1000) {
      return api::fail(invalid("weight must be an integer 0 .. 1000, or null for the configured weight"));
    }
    weight = static_cast<uint16_t>(req["weight"].get<int64_t>());
  }
  return reply(service_.set_weight(*backend, vip, weight));
}

void ApiServer::accept_all() {
  for (;;) {
    if (conns_->size() >= kMaxConnections) {
      set_listening(false);  // back when a connection closes
      return;
    }
    int c = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: turn the oldest waiting client away (the spare fd makes room
        // to accept and close it), and stop polling the listener for a moment instead of
        // waking up for it in a loop.
        if (spare_fd_ >= 0) {
          close(spare_fd_);
          int x = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
          if (x >= 0) close(x);
          spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        log("warning", "lbctl socket: out of file descriptors (%zu connections); pausing accepts", conns_->size());
        paused_until_ms_ = monotonic_ms() + kPauseAfterEmfileMs;
        set_listening(false);
      }
      return;
    }
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
      close(c);  // fail closed: without credentials nobody is root
      continue;
    }
    Conn& conn = (*conns_)[c];
    conn.uid = cred.uid;
    conn.gid = cred.gid;
    conn.pid = cred.pid;
    conn.since_ms = monotonic_ms();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = c;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, c, &ev);
  }
}

void ApiServer::set_answer(int fd, Conn& c, const api::Json& answer) {
  try {
    c.out = dump(answer);
  } catch (const std::exception& e) {
    c.out = dump(api::fail({ErrorCode::Internal, std::string("internal error encoding the answer: ") + e.what()}));
  }
  c.deferred = 0;
  c.sent = 0;
  c.since_ms = monotonic_ms();  // the client gets kIdleMs to take its answer
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.fd = fd;
  epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev);
}

void ApiServer::answer(int fd, Conn& c) {
  size_t nl = c.in.find('\n');
  std::string line = c.in.substr(0, nl);
  api::Json reply;
  try {
    api::Json req = api::Json::parse(line, nullptr, false);
    if (req.is_discarded()) {
      reply = api::fail(invalid("the request is not valid JSON"));
    } else {
      std::variant<api::Json, Deferred> r = handle(req, c.uid, c.gid, c.pid);
      if (auto* d = std::get_if<Deferred>(&r)) {
        c.deferred = d->id;
        c.since_ms = monotonic_ms();
        return;  // deliver() sends it when the service has it
      }
      reply = std::move(std::get<api::Json>(r));
    }
  } catch (const std::exception& e) {
    log("error", "internal error answering uid %u pid %d: %s", c.uid, c.pid, e.what());
    reply = api::fail({ErrorCode::Internal, std::string("internal error: ") + e.what()});
  }
  set_answer(fd, c, reply);
}

void ApiServer::run() {
  epoll_event events[32];
  int n = epoll_wait(epoll_, events, 32, 0);
  for (int i = 0; i < n; ++i) {
    int fd = events[i].data.fd;
    if (fd == listen_fd_) {
      accept_all();
      continue;
    }
    auto it = conns_->find(fd);
    if (it == conns_->end()) continue;
    Conn& c = it->second;
    if (c.out.empty()) {
      char buf[4096];
      ssize_t got = read(fd, buf, sizeof buf);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got < 0 || (got == 0 && (c.deferred != 0 || c.in.empty()))) {
        close_conn(fd);  // gone (while waiting for a deferred answer, too)
        continue;
      }
      if (c.deferred != 0) continue;  // more bytes after the request: ignored (one per connection)
      if (got > 0) c.in.append(buf, static_cast<size_t>(got));
      if (got == 0) c.in.push_back('\n');  // EOF ends the request (printf | socat)
      if (c.in.find('\n') == std::string::npos) {
        if (c.in.size() > api::kMaxMessage) {
          c.in.clear();
          set_answer(fd, c, api::fail(invalid("request longer than " + std::to_string(api::kMaxMessage) + " bytes")));
        }
        continue;
      }
      answer(fd, c);
      if (c.out.empty()) continue;  // deferred
    }
    ssize_t put = write(fd, c.out.data() + c.sent, c.out.size() - c.sent);
    if (put > 0) c.sent += static_cast<size_t>(put);
    if (c.sent == c.out.size() || (put < 0 && errno != EAGAIN)) close_conn(fd);
  }
}

void ApiServer::deliver() {
  std::vector<int> ready;
  for (auto& [fd, c] : *conns_) {
    if (c.deferred != 0) ready.push_back(fd);
  }
  for (int fd : ready) {
    Conn& c = (*conns_)[fd];
    std::optional<Expected<Json>> a;
    try {
      a = service_.take_answer(c.deferred);
    } catch (const std::exception& e) {
      a = Expected<Json>(ApiError{ErrorCode::Internal, std::string("internal error: ") + e.what()});
    }
    if (!a) continue;
    c.deferred = 0;  // taken: nothing to forget
    set_answer(fd, c, *a ? api::ok(std::move(a->value())) : api::fail(a->error()));
    ssize_t put = write(fd, c.out.data(), c.out.size());
    if (put > 0) c.sent = static_cast<size_t>(put);
    if (c.sent == c.out.size() || (put < 0 && errno != EAGAIN)) close_conn(fd);
  }
}

void ApiServer::sweep() {
  uint64_t now = monotonic_ms();
  std::vector<int> stale;
  for (auto& [fd, c] : *conns_) {
    if (now - c.since_ms > (c.deferred != 0 ? kDeferredMs : kIdleMs)) stale.push_back(fd);
  }
  for (int fd : stale) close_conn(fd);
  if (!listening_ && conns_->size() < kMaxConnections && now >= paused_until_ms_) set_listening(true);
}

}  // namespace fulcrum::cp
