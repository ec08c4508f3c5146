// One balancer node in the namespace rig, as the acceptance and attack suites use it: the
// topology (dpdk mode), lb-dataplane on net_af_packet and lb-controlplane started from one
// config, ready when every backend has passed a check and the nat VIP answers. On a failed
// test it prints both planes' logs and `lbctl stats`.
#pragma once

#include <memory>
#include <string>

#include "tests/e2e/lb_harness.h"

namespace fulcrum::test {

class LbNode {
 public:
  struct Options {
    int backends = 3;
    DataplaneOptions dp;
    ControlplaneOptions cp;
    // Backends (1-based) started but left out of the config (a reload adds them later).
    int unconfigured_from = 0;
  };
  // GTEST-style: nullptr and *skip set when the environment cannot run it (a skip), or an
  // ADD_FAILURE when bringing it up failed.
  static std::unique_ptr<LbNode> start(const Options& options, std::string* skip);
  ~LbNode();
  LbNode(const LbNode&) = delete;
  LbNode& operator=(const LbNode&) = delete;

  Topology& topo() { return *topo_; }
  const ShmNames& shm() const { return *shm_; }
  const std::string& config_path() const { return config_path_; }
  std::string read_config() const;
  void write_config(const std::string& text) const;
  Process& dataplane() { return *dp_; }
  Process& controlplane() { return *cp_; }
  void restart_controlplane(const std::string& name);
  void kill_controlplane() { cp_->kill9(); }
  // Prints the logs and stats (call from TearDown when the test failed).
  void dump();
  uint64_t counter(abi::WorkerCounter c) const { return status_counter(shm_->status, c); }
  uint64_t drops(abi::DropReason r) const { return status_drops(shm_->status, r); }

 private:
  LbNode() = default;
  std::unique_ptr<Topology> topo_;
  std::unique_ptr<ShmNames> shm_;
  std::string config_path_;
  std::unique_ptr<Process> dp_, cp_;
};

}  // namespace fulcrum::test
