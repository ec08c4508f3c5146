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

constexpr uint64_t kIdleMs = 5000;

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

}  // namespace

struct ApiServer::Conn {
  std::string in, out;
  size_t sent = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  uint64_t since_ms = 0;
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
  if (in_use(s->path_)) return unavailable("another lb-controlplane is already serving " + s->path_);
  unlink(s->path_.c_str());
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
  if (!cfg.socket_owner.empty()) {
    passwd* pw = getpwnam(cfg.socket_owner.c_str());
    if (pw == nullptr) return invalid("socket owner \"" + cfg.socket_owner + "\": no such user");
    uid = pw->pw_uid;
  }
  if (!cfg.socket_group.empty()) {
    group* gr = getgrnam(cfg.socket_group.c_str());
    if (gr == nullptr) return invalid("socket group \"" + cfg.socket_group + "\": no such group");
    s->group_ = gr->gr_gid;
  }
  if (chown(s->path_.c_str(), uid, s->group_) != 0 || chmod(s->path_.c_str(), cfg.socket_mode) != 0) {
    return unavailable(sys_error("cannot set owner/mode of " + s->path_));
  }
  if (::listen(s->listen_fd_, 64) != 0) return unavailable(sys_error("listen on " + s->path_));
  s->epoll_ = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = s->listen_fd_;
  epoll_ctl(s->epoll_, EPOLL_CTL_ADD, s->listen_fd_, &ev);
  log("info", "serving lbctl on %s (mode %04o)", s->path_.c_str(), cfg.socket_mode);
  return s;
}

ApiServer::~ApiServer() {
  for (auto& [fd, c] : *conns_) close(fd);
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(path_.c_str());
  }
  if (epoll_ >= 0) close(epoll_);
}

void ApiServer::close_conn(int fd) {
  epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  conns_->erase(fd);
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
    getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &n);
  }
  for (int i = 0; i < n; ++i) {
    if (groups[i] == group_) return true;
  }
  return false;
}

api::Json ApiServer::handle(const api::Json& req, uid_t uid, gid_t gid, pid_t pid) {
  if (!req.is_object() || !req.contains("cmd") || !req["cmd"].is_string()) {
    return api::fail(invalid("a request is a JSON object with a \"cmd\" string"));
  }
  const std::string cmd = req["cmd"].get<std::string>();
  auto opt_string = [&](const char* key) -> std::optional<std::string> {
    if (!req.contains(key) || req[key].is_null()) return std::nullopt;
    return req[key].is_string() ? std::optional(req[key].get<std::string>()) : std::nullopt;
  };
  auto reply = [](Expected<api::Json> r) { return r ? api::ok(std::move(r.value())) : api::fail(r.error()); };

  if (cmd == api::kStatus) return api::ok(service_.status());
  if (cmd == api::kVipList) return api::ok(service_.vip_list());
  if (cmd == api::kBackendList) return reply(service_.backend_list(opt_string("vip")));
  if (cmd == api::kStats) return api::ok(service_.stats());

  const bool mutating = cmd == api::kDrain || cmd == api::kUndrain || cmd == api::kWeight || cmd == api::kReload;
  if (!mutating) return api::fail(invalid("unknown command \"" + cmd + "\""));
  if (!may_change(uid, gid)) {
    log("warning", "refused %s from uid %u pid %d: not root, not our user, not in the socket's group", cmd.c_str(), uid, pid);
    return api::fail({ErrorCode::PermissionDenied, "uid " + std::to_string(uid) + " may read but not change anything "
                                                   "(needs root, the control plane's user, or the socket's group)"});
  }
  log("info", "%s requested by uid %u pid %d", cmd.c_str(), uid, pid);
  if (cmd == api::kReload) return reply(service_.reload());
  std::optional<std::string> backend = opt_string("backend");
  if (!backend) return api::fail(invalid("\"backend\" is required"));
  if (cmd == api::kDrain || cmd == api::kUndrain) return reply(service_.set_drain(*backend, opt_string("vip"), cmd == api::kDrain));
  std::optional<uint16_t> weight;
  if (req.contains("weight") && !req["weight"].is_null()) {
    if (!req["weight"].is_number_integer() || req["weight"].get<int64_t>() < 0 || req["weight"].get<int64_t>() > 1000) {
      return api::fail(invalid("weight must be an integer 0 .. 1000, or null for the configured weight"));
    }
    weight = static_cast<uint16_t>(req["weight"].get<int64_t>());
  }
  return reply(service_.set_weight(*backend, opt_string("vip"), weight));
}

void ApiServer::run() {
  epoll_event events[32];
  int n = epoll_wait(epoll_, events, 32, 0);
  for (int i = 0; i < n; ++i) {
    int fd = events[i].data.fd;
    if (fd == listen_fd_) {
      for (;;) {
        int c = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) break;
        ucred cred{};
        socklen_t len = sizeof cred;
        getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len);
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
      continue;
    }
    auto it = conns_->find(fd);
    if (it == conns_->end()) continue;
    Conn& c = it->second;
    if (c.out.empty()) {
      char buf[4096];
      ssize_t got = read(fd, buf, sizeof buf);
      if (got <= 0 && !(got < 0 && errno == EAGAIN)) {
        close_conn(fd);
        continue;
      }
      if (got > 0) c.in.append(buf, static_cast<size_t>(got));
      size_t nl = c.in.find('\n');
      if (nl == std::string::npos) {
        if (c.in.size() > api::kMaxMessage) close_conn(fd);
        continue;
      }
      api::Json req = api::Json::parse(c.in.substr(0, nl), nullptr, false);
      api::Json answer = req.is_discarded() ? api::fail(invalid("the request is not valid JSON")) : handle(req, c.uid, c.gid, c.pid);
      c.out = answer.dump() + "\n";
      epoll_event ev{};
      ev.events = EPOLLOUT;
      ev.data.fd = fd;
      epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev);
    }
    ssize_t put = write(fd, c.out.data() + c.sent, c.out.size() - c.sent);
    if (put > 0) c.sent += static_cast<size_t>(put);
    if (c.sent == c.out.size() || (put < 0 && errno != EAGAIN)) close_conn(fd);
  }
  uint64_t now = monotonic_ms();
  std::vector<int> stale;
  for (auto& [fd, c] : *conns_) {
    if (now - c.since_ms > kIdleMs) stale.push_back(fd);
  }
  for (int fd : stale) close_conn(fd);
}

}  // namespace fulcrum::cp
