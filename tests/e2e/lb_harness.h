// Running the real Fulcrum binaries in the namespace rig: configs, processes, and what a
// client sees. Shared by the data-plane and the acceptance e2e tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controlplane/tables/table_builder.h"
#include "dataplane/abi/region.h"
#include "tests/rig/topology.h"

namespace fulcrum::test {

// Path of a built binary ("dataplane/lb-dataplane"), from FULCRUM_BUILD_ROOT.
std::string built(const std::string& relative);

struct DataplaneOptions {
  std::string driver = "net_af_packet";  // or "net_af_xdp"
  uint32_t workers = 1;
  uint32_t idle_sleep_us = 1000;  // adaptive polling: a 2-core machine also runs the clients and servers
  uint32_t conntrack_entries = 65536;
  uint32_t closed_timeout_s = 0;   // 0: the default
  uint32_t closing_timeout_s = 0;
  std::string host_sharing;        // issue 11: "" (none), "xdp", "tap": both ports
};

// Unique shared-memory names for one test run.
struct ShmNames {
  std::string tables, status;
  explicit ShmNames(const Topology& topo);
  ~ShmNames();
};

// The [dataplane] section for this topology: ports on the lb namespace's veths.
std::string dataplane_toml(const Topology& topo, const ShmNames& shm, const DataplaneOptions& options);

// A process started inside a namespace, its output in a log file. Killed on destruction.
// `ns` is a network namespace name (ip netns exec), or "pid:N": the network and mount
// namespaces of process N (nsenter), e.g. a BpffsNode's.
class Process {
 public:
  Process(const Topology& topo, const std::string& ns, const std::vector<std::string>& argv, const std::string& log_path);
  ~Process();
  pid_t pid() const { return pid_; }
  bool running();
  // SIGTERM, then SIGKILL after `grace`; the exit status (-1 if killed).
  int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  void kill9();
  std::string log() const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  int status_ = 0;
};

// lb-dataplane in the lb namespace with `toml` as its config.
std::unique_ptr<Process> start_dataplane(const Topology& topo, const std::string& toml, const std::string& name = "dp",
                                         const std::string& ns = "");
// Waits until a data plane is alive behind `status_name` with start_count > `after_start`.
bool wait_dataplane_ready(const std::string& status_name, uint64_t after_start, std::chrono::seconds timeout);

// Plays the control plane: creates the tables region and publishes specs.
class TablesPublisher {
 public:
  explicit TablesPublisher(const ShmNames& shm);
  std::string publish(const cp::TableSpec& spec);   // "" or the error
 private:
  const ShmNames& shm_;
  abi::Mapping tables_, status_;
  std::unique_ptr<abi::TablesWriter> writer_;
};

// One HTTP GET from the client namespace: the body, or "" if it failed.
std::string http_get(const Topology& topo, const std::string& url, int timeout_s = 5);

// The default VIPs of the e2e tests: 198.18.0.10:80 nat and 198.18.0.20:80 fullnat (SNAT
// 198.18.2.100) over every backend of the topology.
cp::TableSpec e2e_tables(const Topology& topo);

struct ControlplaneOptions {
  std::string health = "http";     // the VIPs' check type
  uint32_t interval_ms = 300;
  uint32_t timeout_ms = 200;
  uint32_t rise = 2, fall = 2;
  std::string socket_mode = "0660";
  std::string extra_vip_keys;      // appended to every [[vip]] table
};

// A whole config: [dataplane] as above, [controlplane] with its socket, metrics port and
// state directory in the run dir, and two VIPs over the topology's backends: "web"
// 198.18.0.10:80 nat and "web-full" 198.18.0.20:80 fullnat (SNAT 198.18.2.100).
std::string full_toml(const Topology& topo, const ShmNames& shm, const DataplaneOptions& dp, const ControlplaneOptions& cp);
std::string socket_path(const Topology& topo);
std::string metrics_address(const Topology& topo);  // in the lb namespace

// lb-controlplane in the lb namespace; waits until its socket answers.
std::unique_ptr<Process> start_controlplane(const Topology& topo, const std::string& toml_path, const std::string& name = "cp",
                                            const std::string& ns = "");

struct LbctlResult {
  int exit = -1;
  std::string out, err;
  nlohmann::json json;  // stdout parsed, when it is JSON
};
// Runs lbctl with the test topology's socket (and --json unless `human`).
LbctlResult lbctl(const Topology& topo, const std::string& args, bool human = false);

// Polls `pred` every 50 ms until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// Sum of a drop reason / counter over all status entries.
uint64_t status_drops(const std::string& status_name, abi::DropReason r);
uint64_t status_counter(const std::string& status_name, abi::WorkerCounter c);

}  // namespace fulcrum::test
