// A fixture for the control-plane tests of issue 10: one namespace topology per test suite
// (a router lb namespace, three nginx backends), and for each test its own socket, state
// directory, metrics port and shared-memory names, so tests share the topology's start-up
// cost but nothing else. lb-controlplane runs in the lb namespace; lbctl and the test talk
// to its socket (a path, reachable from any namespace).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/abi/region.h"
#include "tests/e2e/lb_harness.h"

namespace fulcrum::test {

// Plays a running data plane for the control plane: a status region with a heartbeat and
// `lcores` online lcores that follow every published generation, whose counters the test
// sets, and a connection-sample region that answers every request with no connection.
// Stops on destruction.
class FakeDataplane {
 public:
  FakeDataplane(const std::string& status_name, const std::string& tables_name, uint32_t lcores = 2);
  ~FakeDataplane();
  abi::StatusRegion& status() { return abi::status_of(map_); }
  // Lcore `i` stays online but stops reporting new generations (a stuck worker), or -1.
  void set_stuck(int i) { stuck_ = i; }

 private:
  std::atomic<int> stuck_{-1};
  abi::Mapping map_, conns_;
  std::string tables_name_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class CpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;
  void TearDown() override;

  // The config: [dataplane] of the topology, [controlplane] with this test's socket, state
  // directory and metrics port, then VIPs "web" (nat) and "web-full" (fullnat) over the
  // three backends with `o`'s check, then `extra`. Written to config_path_.
  std::string config_text(const ControlplaneOptions& o = {}, const std::string& extra = "") const;
  void write_config(const ControlplaneOptions& o = {}, const std::string& extra = "");
  void write_text(const std::string& text);
  // Starts lb-controlplane (extra arguments appended) and waits for its socket; returns
  // whether it answers. `prefix` runs before it (e.g. "prlimit --nofile=40 --").
  bool start(const std::vector<std::string>& args = {}, const std::vector<std::string>& prefix = {});
  LbctlResult ctl(const std::string& args, bool human = false) const;  // lbctl -s <ours> [-j]
  // The published generation and a VIP's backends as the data plane would see them.
  struct Published {
    uint64_t generation = 0;
    std::map<std::string, std::pair<uint16_t, abi::BackendState>> backends;  // endpoint -> (id, state)
    std::vector<uint16_t> maglev;
  };
  Published published(const char* vip_addr) const;
  uint64_t generation() const { return published("198.18.0.10").generation; }
  nlohmann::json backend(const std::string& vip, const std::string& endpoint) const;
  bool wait_healthy(std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;  // every backend "HTTP 200"
  // One request on the socket, raw; the answer line ("" if none within timeout_ms).
  std::string raw_request(const std::string& bytes, int timeout_ms = 3000) const;
  std::string cp_log() const { return cp_ ? cp_->log() : ""; }

  static std::unique_ptr<Topology> topo_;
  std::string dir_, config_path_, socket_, state_dir_, metrics_;
  std::string shm_tables_, shm_status_;
  std::unique_ptr<Process> cp_;
  int index_ = 0;
};

// Milliseconds of CPU (user + system) process `pid` has used (`ip netns exec` and prlimit
// exec the program, so a Process's pid is lb-controlplane's own).
uint64_t cpu_ms(pid_t pid);

}  // namespace fulcrum::test
