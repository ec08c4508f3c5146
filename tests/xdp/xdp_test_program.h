// What the XDP program's golden tests share (test_xdp_program.cpp for IPv4, ARP and the
// maps' life cycle, test_xdp_program_ipv6.cpp for IPv6 and NDP): the program loaded from
// the build tree with its maps unpinned, a runner that reports the action and the one
// counter that moved, and a check over a list of golden frames.
//
// How "redirected" is observed without an AF_XDP socket: the program's xsks_map is replaced
// before loading by a CPUMAP with an entry for queue 0 (bpf_redirect_map accepts both), so
// a frame the program steers returns XDP_REDIRECT, exactly as it would with a socket bound;
// a load with the real, empty xsks_map shows what happens when the data plane is dead
// (XDP_PASS, counted no_socket).
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "controlplane/steering/steering_maps.h"
#include "tests/rig/packet.h"

namespace fulcrum::test {

inline std::string object_path() {
  const char* root = std::getenv("FULCRUM_BUILD_ROOT");
  return std::string(root != nullptr ? root : ".") + "/dataplane/xdp/fulcrum_xdp.o";
}

// The program loaded with its pinned maps unpinned (a test must not touch a bpffs).
class LoadedProgram {
 public:
  // redirect_target: replace xsks_map by a CPUMAP whose queue-0 entry makes every steered
  // frame return XDP_REDIRECT.
  std::string load(bool redirect_target) {
    obj_ = bpf_object__open_file(object_path().c_str(), nullptr);
    if (obj_ == nullptr) return "cannot open " + object_path();
    bpf_map* map;
    bpf_object__for_each_map(map, obj_) bpf_map__set_pin_path(map, nullptr);
    if (redirect_target) {
      cpumap_fd_ = bpf_map_create(BPF_MAP_TYPE_CPUMAP, "test_cpumap", 4, sizeof(bpf_cpumap_val), FULCRUM_STEER_MAX_QUEUES, nullptr);
      if (cpumap_fd_ < 0) return std::string("cannot create a CPUMAP: ") + std::strerror(errno);
      uint32_t queue = 0;
      bpf_cpumap_val val{};
      val.qsize = 192;
      if (bpf_map_update_elem(cpumap_fd_, &queue, &val, BPF_ANY) != 0) return "cannot fill the CPUMAP";
      if (bpf_map__reuse_fd(bpf_object__find_map_by_name(obj_, "xsks_map"), cpumap_fd_) != 0) return "reuse_fd failed";
    }
    if (int rc = bpf_object__load(obj_); rc != 0) return "the verifier refused the program: " + std::string(std::strerror(-rc));
    prog_fd_ = bpf_program__fd(bpf_object__next_program(obj_, nullptr));
    maps_.use_fds({.vips = fd(FULCRUM_STEER_MAP_VIPS),
                   .nat_backends = fd(FULCRUM_STEER_MAP_BACKENDS),
                   .locals = fd(FULCRUM_STEER_MAP_LOCALS),
                   .stats = fd(FULCRUM_STEER_MAP_STATS),
                   .vips6 = fd(FULCRUM_STEER_MAP_VIPS6),
                   .nat_backends6 = fd(FULCRUM_STEER_MAP_BACKENDS6),
                   .locals6 = fd(FULCRUM_STEER_MAP_LOCALS6)});
    return "";
  }
  ~LoadedProgram() {
    if (obj_ != nullptr) bpf_object__close(obj_);
    if (cpumap_fd_ >= 0) close(cpumap_fd_);
  }
  int fd(const char* map) const { return bpf_map__fd(bpf_object__find_map_by_name(obj_, map)); }
  cp::SteeringMaps& maps() { return maps_; }

  struct Run {
    uint32_t action = 0;
    int stat = -1;        // the one decision counter that moved (-1: none or several)
    bool no_socket = false;
  };
  Run run(const Bytes& frame) {
    cp::XdpStats before = maps_.stats();
    Bytes data = frame;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data.data(), .data_size_in = static_cast<uint32_t>(data.size()),
                .repeat = 1);
    Run r;
    if (bpf_prog_test_run_opts(prog_fd_, &opts) != 0) {
      ADD_FAILURE() << "BPF_PROG_TEST_RUN failed: " << std::strerror(errno);
      return r;
    }
    r.action = opts.retval;
    cp::XdpStats after = maps_.stats();
    int moved = 0;
    for (int s = 0; s < FULCRUM_XDP_STAT_COUNT; ++s) {
      uint64_t d = after.by_action[s] - before.by_action[s];
      if (s == FULCRUM_XDP_NO_SOCKET) {
        r.no_socket = d != 0;
      } else if (d != 0) {
        r.stat = d == 1 && moved == 0 ? s : -1;
        ++moved;
      }
    }
    return r;
  }

 private:
  bpf_object* obj_ = nullptr;
  int cpumap_fd_ = -1;
  int prog_fd_ = -1;
  cp::SteeringMaps maps_;
};

inline const char* stat_name(int s) {
#define FULCRUM_NAME(id, name, help) name,
  static const char* names[] = {FULCRUM_XDP_STATS(FULCRUM_NAME)};
#undef FULCRUM_NAME
  return s >= 0 && s < FULCRUM_XDP_STAT_COUNT ? names[s] : "(none or several)";
}

inline const char* action_name(uint32_t a) {
  switch (a) {
    case XDP_PASS: return "XDP_PASS";
    case XDP_REDIRECT: return "XDP_REDIRECT";
    case XDP_DROP: return "XDP_DROP";
    case XDP_ABORTED: return "XDP_ABORTED";
    default: return "?";
  }
}

struct Golden {
  const char* description;
  Bytes frame;
  uint32_t action;
  int stat;
};


// Runs every golden frame through `prog` and checks its action and counter.
inline void expect_goldens(LoadedProgram& prog, const std::vector<Golden>& cases) {
  for (const Golden& g : cases) {
    LoadedProgram::Run r = prog.run(g.frame);
    EXPECT_EQ(r.action, g.action) << g.description << ": " << action_name(r.action) << ", wanted " << action_name(g.action)
                                  << "\n" << describe(g.frame);
    EXPECT_EQ(r.stat, g.stat) << g.description << ": counted " << stat_name(r.stat) << ", wanted " << stat_name(g.stat);
    EXPECT_FALSE(r.no_socket) << g.description;
  }
}

class XdpProgram : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "loading BPF programs needs root (CAP_BPF, CAP_SYS_ADMIN for BPF_PROG_TEST_RUN)";
    if (access(object_path().c_str(), R_OK) != 0) FAIL() << object_path() << " not built";
  }
};

}  // namespace fulcrum::test
