// Smoke tests of the test rig itself: the namespace topology carries real traffic, a DPDK
// port on a veth of the lb namespace exchanges frames with the client's kernel (through
// net_af_packet and net_af_xdp), and teardown leaves nothing behind, even after a crash.
// Every later end-to-end test stands on these, so a failure here is the first thing to fix.
#include "tests/rig/dpdk_env.h"
#include "tests/rig/topology.h"

#include <gtest/gtest.h>
#include <rte_arp.h>
#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fulcrum::test {
namespace {

#define REQUIRE_NETNS()                                                             \
  do {                                                                              \
    if (std::string why_ = netns_unavailable_reason(); !why_.empty())               \
      GTEST_SKIP() << "network namespace tests unavailable: " << why_;              \
  } while (0)

using Clock = std::chrono::steady_clock;

std::unique_ptr<Topology> make_topology(int backends,
                                        TopologyOptions::Mode mode = TopologyOptions::Mode::Router) {
  TopologyOptions opts;
  opts.backends = backends;
  opts.mode = mode;
  std::string why;
  auto topo = Topology::create(opts, &why);
  EXPECT_NE(topo, nullptr) << why;
  return topo;
}

bool ns_exists(const std::string& name) {
  struct stat st;
  return stat(("/run/netns/" + name).c_str(), &st) == 0;
}

// A zombie counts as gone: it has left its namespaces, and this container's init may
// never reap the daemons (nginx) that were reparented to it.
bool pid_alive(pid_t pid) {
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return false;
  char buf[512] = {};
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  const char* close_paren = std::strrchr(buf, ')');
  if (n == 0 || close_paren == nullptr || close_paren[1] == '\0') return false;
  char state = close_paren[2];
  return state != 'Z' && state != 'X';
}

std::vector<pid_t> pids_in(const std::string& ns) {
  int rc = 0;
  std::string out = run_command("ip netns pids " + ns, &rc);
  std::vector<pid_t> pids;
  for (size_t pos = 0; pos < out.size();) {
    size_t end = out.find('\n', pos);
    if (end == std::string::npos) end = out.size();
    if (end > pos) pids.push_back(static_cast<pid_t>(std::stol(out.substr(pos, end - pos))));
    pos = end + 1;
  }
  return pids;
}

// Processes (any thread group leader) whose network namespace is the one with this inode.
std::vector<pid_t> processes_in_netns(ino_t inode) {
  std::vector<pid_t> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return found;
  while (dirent* e = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    struct stat st;
    if (stat(("/proc/" + std::string(e->d_name) + "/ns/net").c_str(), &st) == 0 &&
        st.st_ino == inode)
      found.push_back(static_cast<pid_t>(pid));
  }
  closedir(proc);
  return found;
}

std::string curl(const Topology& topo, const std::string& ip, int* rc) {
  std::string out;
  *rc = topo.exec(topo.client_ns, "curl -s --max-time 5 http://" + ip + "/", &out);
  return out;
}

// Removes namespaces the test made by hand, also when an assertion bails out early.
struct ManualTeardown {
  std::string prefix;
  pid_t owner = 0;  // killed first, so that a `watch` on it does not linger
  ~ManualTeardown() {
    if (owner > 0) kill(owner, SIGKILL);
    int rc = 0;
    run_command("/bin/bash '" + topology_script() + "' down " + prefix, &rc);
  }
};

// ------------------------------------------------------------------------------ (a) router

TEST(RigSmoke, RouterModeReachesEveryBackendAndFollowsNginxStopStart) {
  REQUIRE_NETNS();
  auto topo = make_topology(3, TopologyOptions::Mode::Router);
  ASSERT_NE(topo, nullptr);
  ASSERT_EQ(topo->backends.size(), 3u);

  for (size_t i = 0; i < topo->backends.size(); ++i) {
    const BackendHost& b = topo->backends[i];
    EXPECT_EQ(b.ip, "198.18.2.1" + std::to_string(i + 1));
    int rc = 0;
    std::string body = curl(*topo, b.ip, &rc);
    EXPECT_EQ(rc, 0) << "curl to " << b.ip << ": " << body;
    EXPECT_EQ(body, b.name + "\n") << "from " << b.ip;
  }

  const std::string b2 = topo->backends[1].ip;
  ASSERT_TRUE(topo->stop_backend(2));
  int rc = 0;
  std::string body = curl(*topo, b2, &rc);
  EXPECT_NE(rc, 0) << "backend 2 still answers after nginx-stop: " << body;

  ASSERT_TRUE(topo->start_backend(2));
  body = curl(*topo, b2, &rc);
  EXPECT_EQ(rc, 0) << body;
  EXPECT_EQ(body, "b2\n");
}

// -------------------------------------------------------------------------------- (b) dpdk

std::string mac_string(const rte_ether_addr& a) {
  char buf[RTE_ETHER_ADDR_FMT_SIZE];
  rte_ether_format_addr(buf, sizeof(buf), &a);
  for (char* p = buf; *p != '\0'; ++p) *p = static_cast<char>(std::tolower(*p));
  return buf;
}

// "who has 198.18.1.2 tell 198.18.1.1", broadcast from `src`, padded to the 60-byte minimum.
rte_mbuf* arp_request(const rte_ether_addr& src) {
  uint8_t frame[RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN] = {};
  auto* eth = reinterpret_cast<rte_ether_hdr*>(frame);
  std::memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
  eth->src_addr = src;
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
  arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = RTE_ETHER_ADDR_LEN;
  arp->arp_plen = 4;
  arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
  arp->arp_data.arp_sha = src;
  arp->arp_data.arp_sip = rte_cpu_to_be_32(RTE_IPV4(198, 18, 1, 1));
  arp->arp_data.arp_tip = rte_cpu_to_be_32(RTE_IPV4(198, 18, 1, 2));
  return mbuf_from_bytes({frame, sizeof(frame)});
}

// A vdev port hot-plugged for one test; stopped, closed and removed on every exit path.
class HotplugPort {
 public:
  // "" on success, else what failed.
  std::string open(const std::string& name, const std::string& devargs) {
    name_ = name;
    int rc = rte_dev_probe(devargs.c_str());
    if (rc < 0) return "rte_dev_probe(" + devargs + "): " + rte_strerror(-rc);
    probed_ = true;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &port_) != 0) return "no port named " + name;
    rte_eth_dev_info info;
    if ((rc = rte_eth_dev_info_get(port_, &info)) != 0) return "dev_info: " + std::string(rte_strerror(-rc));
    device_ = info.device;
    return "";
  }

  std::string start(rte_mempool* pool) {
    rte_eth_conf conf{};
    int rc = rte_eth_dev_configure(port_, 1, 1, &conf);
    if (rc < 0) return "configure: " + std::string(rte_strerror(-rc));
    rc = rte_eth_rx_queue_setup(port_, 0, 256, static_cast<unsigned>(rte_eth_dev_socket_id(port_)),
                                nullptr, pool);
    if (rc < 0) return "rx queue setup: " + std::string(rte_strerror(-rc));
    rc = rte_eth_tx_queue_setup(port_, 0, 256, static_cast<unsigned>(rte_eth_dev_socket_id(port_)),
                                nullptr);
    if (rc < 0) return "tx queue setup: " + std::string(rte_strerror(-rc));
    rc = rte_eth_dev_start(port_);
    if (rc < 0) return "start: " + std::string(rte_strerror(-rc));
    started_ = true;
    return "";
  }

  uint16_t id() const { return port_; }

  ~HotplugPort() {
    if (started_) rte_eth_dev_stop(port_);
    if (!probed_) return;
    rte_eth_dev_close(port_);
    if (device_ != nullptr)
      rte_dev_remove(device_);
    else
      rte_eal_hotplug_remove("vdev", name_.c_str());
  }

 private:
  std::string name_;
  uint16_t port_ = 0;
  rte_device* device_ = nullptr;
  bool probed_ = false, started_ = false;
};

struct ArpResult {
  bool replied = false;
  std::string sender_mac, target_mac;
  int frames_seen = 0;
};

// Sends the request (again every 500 ms, in case the first left before the peer was ready)
// and polls for the client kernel's reply for up to 3 s.
ArpResult arp_exchange(uint16_t port, const rte_ether_addr& mac) {
  ArpResult result;
  const auto deadline = Clock::now() + std::chrono::seconds(3);
  auto next_send = Clock::now();
  while (Clock::now() < deadline && !result.replied) {
    if (Clock::now() >= next_send) {
      rte_mbuf* req = arp_request(mac);
      if (rte_eth_tx_burst(port, 0, &req, 1) != 1) rte_pktmbuf_free(req);
      next_send += std::chrono::milliseconds(500);
    }
    rte_mbuf* burst[32];
    uint16_t n = rte_eth_rx_burst(port, 0, burst, 32);
    for (uint16_t i = 0; i < n; ++i) {
      ++result.frames_seen;
      const auto* eth = rte_pktmbuf_mtod(burst[i], const rte_ether_hdr*);
      const auto* arp = reinterpret_cast<const rte_arp_hdr*>(eth + 1);
      if (burst[i]->data_len >= sizeof(*eth) + sizeof(*arp) &&
          eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP) &&
          arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY) &&
          arp->arp_data.arp_sip == rte_cpu_to_be_32(RTE_IPV4(198, 18, 1, 2))) {
        result.replied = true;
        result.sender_mac = mac_string(arp->arp_data.arp_sha);
        result.target_mac = mac_string(arp->arp_data.arp_tha);
      }
      rte_pktmbuf_free(burst[i]);
    }
    if (n == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return result;
}

enum class Pmd { AfPacket, AfXdp };

void arp_through_dpdk_port(Pmd pmd) {
  const bool xdp = pmd == Pmd::AfXdp;
  const std::string driver = xdp ? "net_af_xdp" : "net_af_packet";
  if (xdp) {
    // libxdp keeps its dispatcher programs in a bpffs; without one it warns and falls back.
    int rc = 0;
    run_command("mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf", &rc);
  }
  auto topo = make_topology(1, TopologyOptions::Mode::Dpdk);
  ASSERT_NE(topo, nullptr);
  rte_mempool* pool = test_mempool();
  ASSERT_NE(pool, nullptr);

  // The port's sockets are created in the namespace of the thread that probes and starts it.
  NetnsScope in_lb(topo->lb_ns);
  ASSERT_TRUE(in_lb.ok()) << in_lb.error();

  HotplugPort port;
  const std::string name = driver + "_smoke0";
  std::string err = port.open(name, name + ",iface=" + topo->lb_client_if);
  if (!err.empty() && xdp) GTEST_SKIP() << "AF_XDP port cannot be created here: " << err;
  ASSERT_EQ(err, "");
  err = port.start(pool);
  if (!err.empty() && xdp) GTEST_SKIP() << "AF_XDP socket cannot be set up here: " << err;
  ASSERT_EQ(err, "");

  rte_ether_addr mac;
  ASSERT_EQ(rte_eth_macaddr_get(port.id(), &mac), 0);
  EXPECT_EQ(mac_string(mac), topo->value("LB_CLIENT_MAC")) << "the port should take lbc's MAC";

  ArpResult r = arp_exchange(port.id(), mac);
  ASSERT_TRUE(r.replied) << "no ARP reply from the client within 3 s through " << driver
                         << " (" << r.frames_seen << " other frames received)";
  EXPECT_EQ(r.sender_mac, topo->value("CLIENT_MAC"));
  EXPECT_EQ(r.target_mac, mac_string(mac));
}

TEST(RigSmoke, DpdkModeArpThroughAfPacket) {
  REQUIRE_NETNS();
  FULCRUM_REQUIRE_EAL();
  arp_through_dpdk_port(Pmd::AfPacket);
}

TEST(RigSmoke, DpdkModeArpThroughAfXdp) {
  REQUIRE_NETNS();
  FULCRUM_REQUIRE_EAL();
  arp_through_dpdk_port(Pmd::AfXdp);
}

// ---------------------------------------------------------------------------- (c) teardown

TEST(RigSmoke, DestroyLeavesNoNamespaceOrProcessAndASecondTopologyWorks) {
  REQUIRE_NETNS();
  auto topo = make_topology(2);
  ASSERT_NE(topo, nullptr);
  const std::string prefix = topo->prefix();
  const std::string run_dir = topo->value("RUN_DIR");
  ASSERT_FALSE(run_dir.empty());

  std::vector<std::string> names = {topo->client_ns, topo->lb_ns, topo->switch_ns};
  for (const auto& b : topo->backends) names.push_back(b.ns);
  // A stray process, as a crashed test would leave: it alone would keep its namespace alive.
  ASSERT_EQ(topo->exec(topo->client_ns, "sleep 600 >/dev/null 2>&1 &"), 0);

  std::vector<ino_t> inodes;
  std::vector<pid_t> pids;
  for (const auto& ns : names) {
    struct stat st;
    ASSERT_EQ(stat(("/run/netns/" + ns).c_str(), &st), 0) << ns;
    inodes.push_back(st.st_ino);
    for (pid_t p : pids_in(ns)) pids.push_back(p);
  }
  EXPECT_GE(pids.size(), 5u) << "expected nginx master+worker per backend and the sleep";

  topo.reset();

  int rc = 0;
  std::string list = run_command("ip netns list", &rc);
  EXPECT_EQ(list.find(prefix), std::string::npos) << list;
  for (const auto& ns : names) EXPECT_FALSE(ns_exists(ns)) << ns;
  for (pid_t p : pids) EXPECT_FALSE(pid_alive(p)) << "process " << p << " survived teardown";
  for (ino_t ino : inodes)
    EXPECT_TRUE(processes_in_netns(ino).empty()) << "a process is still in a deleted namespace";
  struct stat st;
  EXPECT_NE(stat(run_dir.c_str(), &st), 0) << run_dir << " was not removed";

  auto second = make_topology(1);
  ASSERT_NE(second, nullptr);
  EXPECT_NE(second->prefix(), prefix);
  std::string body = curl(*second, second->backends[0].ip, &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(body, "b1\n");
}

TEST(RigSmoke, CreateReapsLeftoversOfADeadRun) {
  REQUIRE_NETNS();
  const std::string dead_prefix = "fl999999x0000";
  const std::string leftover = dead_prefix + "-cli";
  ASSERT_NE(kill(999999, 0), 0) << "pid 999999 exists; the test needs it to be dead";
  ManualTeardown guard{dead_prefix};

  int rc = 0;
  std::string out = run_command("ip netns add " + leftover, &rc);
  ASSERT_EQ(rc, 0) << out;
  out = run_command("ip netns exec " + leftover + " sleep 600 </dev/null >/dev/null 2>&1 & echo $!",
                    &rc);
  ASSERT_EQ(rc, 0) << out;
  const pid_t stray = static_cast<pid_t>(std::stol(out));
  ASSERT_TRUE(ns_exists(leftover));

  auto topo = make_topology(1);
  ASSERT_NE(topo, nullptr);
  EXPECT_FALSE(ns_exists(leftover)) << "create() did not reap " << leftover;
  EXPECT_FALSE(pid_alive(stray)) << "the process inside the leftover namespace survived";
}

// What the guardian is for: the owner is SIGKILLed, destructors never run, and the
// namespaces must go anyway. Driven through the script, with a sleep standing in as owner.
TEST(RigSmoke, WatchTearsDownWhenTheOwnerIsKilled) {
  REQUIRE_NETNS();
  int rc = 0;
  std::string out = run_command("sleep 120 </dev/null >/dev/null 2>&1 & echo $!", &rc);
  ASSERT_EQ(rc, 0);
  const pid_t owner = static_cast<pid_t>(std::stol(out));
  char prefix[32];
  std::snprintf(prefix, sizeof(prefix), "fl%dx00ee", static_cast<int>(owner));
  ManualTeardown guard{prefix, owner};
  const std::string script = "/bin/bash '" + topology_script() + "' ";

  out = run_command(script + "up " + prefix + " --backends 1", &rc);
  ASSERT_EQ(rc, 0) << out;
  ASSERT_TRUE(ns_exists(std::string(prefix) + "-cli"));
  out = run_command("setsid " + script + "watch " + prefix + " " + std::to_string(owner) +
                        " </dev/null >/dev/null 2>&1 &",
                    &rc);
  ASSERT_EQ(rc, 0) << out;

  kill(owner, SIGKILL);
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  // Teardown removes the namespaces one after another: wait for the last one too.
  auto any_left = [&] { return ns_exists(std::string(prefix) + "-cli") || ns_exists(std::string(prefix) + "-b1"); };
  while (any_left() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(ns_exists(std::string(prefix) + "-cli")) << "watch did not tear down " << prefix;
  EXPECT_FALSE(ns_exists(std::string(prefix) + "-b1"));
}

}  // namespace
}  // namespace fulcrum::test
