// The namespace topology of the end-to-end tests, as seen from C++: a thin owner of
// scripts/topology.sh, which is the one implementation (demo.sh and bench.sh use it too).
//
// Why teardown cannot be skipped: create() first reaps leftovers of runs whose owner died,
// then starts a detached `topology.sh watch PREFIX <our pid>` guardian in its own session,
// so that even a SIGKILLed or timed-out test binary has its namespaces removed. The
// destructor runs `down` itself and then dismisses the guardian.
//
// Every command the rig runs is started in the namespace the process began in, whatever
// namespace the calling thread has entered with NetnsScope, and with no inherited file
// descriptors (a DPDK port's socket leaked into a daemon would keep a namespace alive).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

namespace fulcrum::test {

struct TopologyOptions {
  int backends = 3;
  // Router: the lb namespace is a plain kernel router (198.18.1.1 / 198.18.2.1).
  // Dpdk: lbc/lbb are up without addresses, forwarding and offloads off, for a DPDK process.
  // Shared: lbc/lbb keep the host's addresses 198.18.1.1 / 198.18.2.1 in the kernel (XDP
  // host sharing, issue 11); no management port.
  enum class Mode { Router, Dpdk, Shared } mode = Mode::Router;
  int lb_queues = 1;  // rx and tx queues of the lb namespace's veths (and their peers)
  // Dpdk mode only (issue 15): the client (2001:db8:1::2/64) and the backends
  // (2001:db8:2::11.../64, nginx on [::]:80 too) are dual-stack, their IPv6 default routes
  // via the balancer's ports (2001:db8:1::1, 2001:db8:2::1); no duplicate address detection.
  bool ipv6 = false;
};

struct BackendHost {
  std::string ns, ip, name;  // e.g. "fl123x0a0b-b2", "198.18.2.12", "b2"
  std::string ip6;           // "2001:db8:2::12" with TopologyOptions::ipv6, else ""
};

class Topology {
 public:
  // Reaps dead runs' leftovers, creates a uniquely named topology, spawns the detached
  // `watch` guardian. nullptr + *why on failure (nothing is left behind then).
  static std::unique_ptr<Topology> create(const TopologyOptions& opts, std::string* why);
  ~Topology();  // `down` (idempotent), stops the guardian
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;

  const std::string& prefix() const { return prefix_; }
  // Any KEY printed by `topology.sh up` (e.g. "CLIENT_MAC", "BACKEND_IP_2"); "" if absent.
  std::string value(const std::string& key) const;

  std::string client_ns, lb_ns, switch_ns, client_ip, lb_client_if, lb_backend_if;
  std::string client_ip6;  // with TopologyOptions::ipv6, else ""
  std::vector<BackendHost> backends;

  // Runs `sh -c cmd` inside namespace ns (ip netns exec) and returns its exit status
  // (128+signal if killed, -1 if it could not start); stdout and stderr go into *out.
  int exec(const std::string& ns, const std::string& cmd, std::string* out = nullptr) const;

  // Kill / restart backend i's nginx (1-based). False if topology.sh reports a failure.
  bool stop_backend(int index_1_based);
  bool start_backend(int index_1_based);

 private:
  Topology() = default;
  bool script(const std::string& args, std::string* out = nullptr) const;

  std::string prefix_;
  std::map<std::string, std::string> values_;
  pid_t guardian_ = -1;
};

// "" when this environment can run namespace tests (root, `ip netns` works, nginx and curl
// present, scripts/topology.sh found), else why not. Computed once per process.
std::string netns_unavailable_reason();

// Path of scripts/topology.sh: $FULCRUM_SOURCE_ROOT/scripts/topology.sh (meson sets it for
// tests), else ./scripts/topology.sh.
std::string topology_script();

// Runs `sh -c cmd` in the process's original network namespace with no inherited file
// descriptors; returns the exit status as exec() does. stdout and stderr go into *out.
std::string run_command(const std::string& cmd, int* status);

// Moves the calling thread into a network namespace for its lifetime (setns), then back.
// Sockets opened meanwhile (DPDK af_packet / af_xdp ports) stay bound to that namespace.
// Destroy it before the Topology that owns the namespace.
class NetnsScope {
 public:
  explicit NetnsScope(const std::string& ns);
  ~NetnsScope();
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  int saved_fd_ = -1;  // the thread's namespace before, to return to
  std::string error_;
};

}  // namespace fulcrum::test
