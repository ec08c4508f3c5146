// See topology.h. The C++ side only spawns scripts/topology.sh and parses what `up` prints;
// what the topology is, and how it is torn down, lives in the script alone.
#include "tests/rig/topology.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <random>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace fulcrum::test {
namespace {

// The namespace the process started in, captured before main() while only the main thread
// exists. Children are moved back into it, so that a command issued from a thread inside a
// NetnsScope (e.g. the Topology destructor) does not run inside the namespace it is about
// to delete, where `down` would find it among the processes to kill.
const int g_origin_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

// The environment for children: ours, with the sbin directories on PATH (ip, nginx and
// ethtool live there, and a non-login root shell may not have them).
std::vector<std::string> child_environment() {
  std::vector<std::string> env;
  bool has_path = false;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string var = *e;
    if (var.rfind("PATH=", 0) == 0) {
      has_path = true;
      var += ":/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin";
    }
    env.push_back(std::move(var));
  }
  if (!has_path) env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int decode_status(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return -1;
}

// Child side of a spawn: only async-signal-safe calls between fork() and execve(), since
// the parent may have other threads (EAL's) holding locks.
[[noreturn]] void exec_child(int stdin_fd, int output_fd, bool new_session, char** argv,
                             char** envp) {
  if (g_origin_netns >= 0) setns(g_origin_netns, CLONE_NEWNET);
  if (new_session) setsid();
  dup2(stdin_fd, 0);
  dup2(output_fd, 1);
  dup2(output_fd, 2);
  // Nothing else crosses exec: an inherited af_packet/af_xdp socket would pin a namespace.
  close_range(3, ~0U, 0);
  execve(argv[0], argv, envp);
  _exit(127);
}

// Starts /bin/sh -c cmd. Output goes to a memfd rather than a pipe, so a daemon the
// command leaves behind (nginx) cannot make the reader wait for an EOF that never comes.
// Returns the child's pid, or -1 with *error set.
pid_t spawn_shell(const std::string& cmd, bool detached, int* output_fd, std::string* error) {
  std::vector<std::string> args = {"/bin/sh", "-c", cmd};
  std::vector<std::string> env = child_environment();
  std::vector<char*> argv = c_strings(args);
  std::vector<char*> envp = c_strings(env);
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  int out_fd = detached ? null_fd : memfd_create("fulcrum-rig-output", MFD_CLOEXEC);
  if (null_fd < 0 || out_fd < 0) {
    *error = std::string("cannot open output: ") + std::strerror(errno);
    if (null_fd >= 0) close(null_fd);
    return -1;
  }
  pid_t pid = fork();
  if (pid == 0) exec_child(null_fd, out_fd, detached, argv.data(), envp.data());
  int fork_errno = errno;
  close(null_fd);
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(fork_errno);
    if (!detached) close(out_fd);
    return -1;
  }
  if (output_fd != nullptr) *output_fd = detached ? -1 : out_fd;
  return pid;
}

int wait_for(pid_t pid) {
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return decode_status(wstatus);
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  off_t offset = 0;
  for (;;) {
    ssize_t n = pread(fd, buf, sizeof(buf), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    offset += n;
  }
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// fl<PID>x<4 hex>: the form `topology.sh reap` recognises as "owned by PID".
std::string make_prefix() {
  static std::mt19937 rng{std::random_device{}()};
  for (;;) {
    char buf[48];
    std::snprintf(buf, sizeof(buf), "fl%dx%04x", static_cast<int>(getpid()),
                  static_cast<unsigned>(rng() & 0xffff));
    struct stat st;
    if (stat(("/run/netns/" + std::string(buf) + "-cli").c_str(), &st) != 0) return buf;
  }
}

const char* mode_name(TopologyOptions::Mode m) {
  if (m == TopologyOptions::Mode::Shared) return "shared";
  return m == TopologyOptions::Mode::Dpdk ? "dpdk" : "router";
}

}  // namespace

std::string topology_script() {
  const char* root = std::getenv("FULCRUM_SOURCE_ROOT");
  return std::string(root != nullptr && *root != '\0' ? root : ".") + "/scripts/topology.sh";
}

std::string run_command(const std::string& cmd, int* status) {
  std::string error;
  int fd = -1;
  pid_t pid = spawn_shell(cmd, false, &fd, &error);
  if (pid < 0) {
    if (status != nullptr) *status = -1;
    return error;
  }
  int rc = wait_for(pid);
  std::string out = read_all(fd);
  close(fd);
  if (status != nullptr) *status = rc;
  return out;
}

std::string netns_unavailable_reason() {
  static std::once_flag once;
  static std::string reason;
  std::call_once(once, [] {
    if (geteuid() != 0) {
      reason = "not running as root (network namespaces need CAP_SYS_ADMIN)";
      return;
    }
    if (g_origin_netns < 0) {
      reason = "cannot open /proc/self/ns/net";
      return;
    }
    if (access(topology_script().c_str(), R_OK) != 0) {
      reason = topology_script() + " not found (set FULCRUM_SOURCE_ROOT; meson test does)";
      return;
    }
    int rc = 0;
    std::string missing = run_command(
        "for t in ip nginx curl ethtool; do command -v $t >/dev/null || printf '%s ' $t; done",
        &rc);
    if (rc != 0 || !missing.empty()) {
      reason = "missing tools: " + trim(missing) + " (scripts/setup.sh installs them)";
      return;
    }
    // `ip netns list` succeeds in places where creating a namespace does not (containers
    // without CAP_SYS_ADMIN), so try the real thing. The name is reapable if we die here.
    std::string probe = "fl" + std::to_string(getpid()) + "xffff-probe";
    std::string out =
        run_command("ip netns add " + probe + " && ip netns del " + probe, &rc);
    if (rc != 0) reason = "cannot create a network namespace: " + trim(out);
  });
  return reason;
}

std::unique_ptr<Topology> Topology::create(const TopologyOptions& opts, std::string* why) {
  std::string reason = netns_unavailable_reason();
  if (!reason.empty()) {
    if (why != nullptr) *why = reason;
    return nullptr;
  }
  std::unique_ptr<Topology> topo(new Topology());
  topo->script("reap");  // best effort: leftovers only cost memory and names
  topo->prefix_ = make_prefix();

  // The guardian first, so that dying at any point from here on still cleans up.
  std::string error;
  topo->guardian_ = spawn_shell("exec /bin/bash " + shell_quote(topology_script()) +
                                    " watch " + topo->prefix_ + " " + std::to_string(getpid()),
                                true, nullptr, &error);
  if (topo->guardian_ < 0) {
    if (why != nullptr) *why = "cannot start the topology guardian: " + error;
    return nullptr;
  }

  std::string out;
  bool up = topo->script("up " + topo->prefix_ + " --backends " + std::to_string(opts.backends) +
                             " --mode " + mode_name(opts.mode) + " --lb-queues " +
                             std::to_string(opts.lb_queues) + (opts.ipv6 ? " --ipv6" : ""),
                         &out);
  // `up` prints KEY=VALUE on stdout; its diagnostics (stderr, same capture) start with
  // "topology.sh:" and so never look like a key.
  size_t pos = 0;
  while (pos < out.size()) {
    size_t end = out.find('\n', pos);
    if (end == std::string::npos) end = out.size();
    std::string line = out.substr(pos, end - pos);
    pos = end + 1;
    size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string key = line.substr(0, eq);
    if (key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != std::string::npos)
      continue;
    topo->values_[key] = line.substr(eq + 1);
  }
  if (!up || topo->value("PREFIX") != topo->prefix_) {
    if (why != nullptr) *why = "topology.sh up failed:\n" + out;
    return nullptr;  // ~Topology: `down` is a no-op after a failed `up`; stops the guardian
  }

  topo->client_ns = topo->value("CLIENT_NS");
  topo->lb_ns = topo->value("LB_NS");
  topo->switch_ns = topo->value("SWITCH_NS");
  topo->client_ip = topo->value("CLIENT_IP");
  topo->client_ip6 = topo->value("CLIENT_IP6");
  topo->lb_client_if = topo->value("LB_CLIENT_IF");
  topo->lb_backend_if = topo->value("LB_BACKEND_IF");
  int n = std::atoi(topo->value("BACKENDS").c_str());
  for (int i = 1; i <= n; ++i) {
    std::string s = std::to_string(i);
    topo->backends.push_back({topo->value("BACKEND_NS_" + s), topo->value("BACKEND_IP_" + s),
                              topo->value("BACKEND_NAME_" + s), topo->value("BACKEND_IP6_" + s)});
  }
  return topo;
}

Topology::~Topology() {
  if (!prefix_.empty()) {
    std::string out;
    if (!script("down " + prefix_, &out))
      std::fprintf(stderr, "fulcrum::test::Topology: down %s failed:\n%s", prefix_.c_str(),
                   out.c_str());
  }
  if (guardian_ > 0) {
    kill(guardian_, SIGTERM);  // `watch` exits on TERM without tearing down again
    wait_for(guardian_);
  }
}

std::string Topology::value(const std::string& key) const {
  auto it = values_.find(key);
  return it == values_.end() ? std::string() : it->second;
}

bool Topology::script(const std::string& args, std::string* out) const {
  int rc = 0;
  std::string text = run_command("/bin/bash " + shell_quote(topology_script()) + " " + args, &rc);
  if (out != nullptr) *out = std::move(text);
  return rc == 0;
}

int Topology::exec(const std::string& ns, const std::string& cmd, std::string* out) const {
  int rc = 0;
  std::string text =
      run_command("exec ip netns exec " + shell_quote(ns) + " sh -c " + shell_quote(cmd), &rc);
  if (out != nullptr) *out = std::move(text);
  return rc;
}

bool Topology::stop_backend(int index_1_based) {
  return script("nginx-stop " + prefix_ + " " + std::to_string(index_1_based));
}

bool Topology::start_backend(int index_1_based) {
  return script("nginx-start " + prefix_ + " " + std::to_string(index_1_based));
}

NetnsScope::NetnsScope(const std::string& ns) {
  saved_fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (saved_fd_ < 0) {
    error_ = std::string("cannot open /proc/thread-self/ns/net: ") + std::strerror(errno);
    return;
  }
  int target = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) target = open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    error_ = "no network namespace " + ns + ": " + std::strerror(errno);
  } else if (setns(target, CLONE_NEWNET) != 0) {
    error_ = "setns into " + ns + ": " + std::strerror(errno);
  }
  if (target >= 0) close(target);
  if (!error_.empty()) {
    close(saved_fd_);
    saved_fd_ = -1;
  }
}

NetnsScope::~NetnsScope() {
  if (saved_fd_ < 0) return;
  if (setns(saved_fd_, CLONE_NEWNET) != 0) {
    // Carrying on in a namespace that is about to be deleted would make every later test
    // fail in confusing ways; stop here instead.
    std::fprintf(stderr, "fulcrum::test::NetnsScope: cannot return to the original namespace: %s\n",
                 std::strerror(errno));
    std::abort();
  }
  close(saved_fd_);
}

}  // namespace fulcrum::test
