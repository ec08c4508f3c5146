// Issue 11 acceptance: a NIC shared between Fulcrum and the host. While the VIP is balanced
// to real nginx backends, the host keeps its own address: from the client namespace, ping
// of it, a TCP service bound to it (a web server on :8080 standing in for sshd) and a
// kernel TCP session on port 179 with TTL 1 (eBGP-like) all work; a VIP added by a reload
// is steered from its first connection, a removed one is not; and after kill -9 of the
// data plane and a restart, the VIP is served again.
//
// Two ways of sharing, one test body:
//   xdp — net_af_xdp with Fulcrum's XDP program on veths whose kernel side keeps the
//         host's addresses (topology.sh --mode shared). The host stays reachable while the
//         data plane is dead.
//   tap — net_af_packet standing in for a PCI NIC (its veth has no address and the kernel
//         ignores it: arp off, rp_filter), with net_tap exception interfaces flc/flb that
//         carry the host's addresses. DPDK owns the NIC, so the host is unreachable while
//         the data plane is dead; the tap persists, and its addresses and the kernel's TCP
//         sessions resume when the data plane is back.
//
// Both planes run in one mount namespace with a private bpffs on /sys/fs/bpf (a holder
// process in the lb namespace mounts it; the planes are started with nsenter into it), so
// pinned steering maps never touch the host's bpffs or another run's.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "dataplane/abi/steering.h"
#include "tests/e2e/lb_harness.h"

namespace fulcrum::test {
namespace {

using namespace std::chrono_literals;

// A kernel TCP session from the client namespace to the host's 198.18.1.1:179, TTL 1 like
// eBGP, echoed by a listener in the lb namespace. One connection for the whole test.
class KernelSession {
 public:
  explicit KernelSession(const Topology& topo) {
    NetnsScope in(topo.client_ns);
    if (!in.ok()) return;
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ttl = 1;
    setsockopt(fd_, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
    timeval tv{3, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(179);
    a.sin_addr.s_addr = inet_addr("198.18.1.1");
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~KernelSession() {
    if (fd_ >= 0) close(fd_);
  }
  // Sends a line and reads its echo (3 s at most: TCP retransmits across a short outage).
  bool exchange(const std::string& line) {
    if (fd_ < 0 || send(fd_, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) return false;
    std::string got;
    char buf[256];
    while (got.size() < line.size()) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      got.append(buf, static_cast<size_t>(n));
    }
    return got == line;
  }
  bool connected() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

class HostSharing : public ::testing::TestWithParam<const char*> {
 protected:
  bool xdp() const { return std::string(GetParam()) == "xdp"; }

  void SetUp() override {
    if (std::string why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    std::string why;
    topo_ = Topology::create({3, xdp() ? TopologyOptions::Mode::Shared : TopologyOptions::Mode::Dpdk, 1}, &why);
    ASSERT_TRUE(topo_) << why;
    shm_ = std::make_unique<ShmNames>(*topo_);
    run_dir_ = topo_->value("RUN_DIR");
    // The node: a private bpffs on /sys/fs/bpf in a mount namespace both planes enter.
    node_ = std::make_unique<Process>(*topo_, topo_->lb_ns,
                                      std::vector<std::string>{"sh", "-c", "mount -t bpf bpf /sys/fs/bpf && exec sleep 3600"},
                                      run_dir_ + "/node.log");
    ASSERT_TRUE(wait_until([&] {
      std::ifstream comm("/proc/" + std::to_string(node_->pid()) + "/comm");
      std::string c;
      return std::getline(comm, c) && c == "sleep";
    }, 5s)) << node_->log();
    node_ns_ = "pid:" + std::to_string(node_->pid());
    if (!xdp()) {
      // lbc/lbb play a PCI NIC: the kernel must not take frames from them itself (the host's
      // addresses live on the taps, and Linux would accept them on any interface).
      ASSERT_EQ(topo_->exec(topo_->lb_ns, "sysctl -q -w net.ipv4.conf.lbc.rp_filter=1 net.ipv4.conf.lbb.rp_filter=1 "
                                          "net.ipv4.conf.all.rp_filter=1"), 0);
    }
    dp_options_.driver = xdp() ? "net_af_xdp" : "net_af_packet";
    dp_options_.host_sharing = GetParam();
    config_path_ = run_dir_ + "/lb.toml";
    std::ofstream(config_path_) << full_toml(*topo_, *shm_, dp_options_, ControlplaneOptions{});
    start_dp(0);
    // The host's own services on its address: a web server (for sshd) and a 179 listener.
    ASSERT_EQ(topo_->exec(topo_->lb_ns, "cd " + run_dir_ + " && echo host-service > index.html && "
                                        "(python3 -m http.server 8080 --bind 198.18.1.1 >http.log 2>&1 &) && "
                                        "(python3 -c \"" + echo_server() + "\" >bgp.log 2>&1 &)"), 0);
    cp_ = start_controlplane(*topo_, config_path_, "cp", node_ns_);
    ASSERT_TRUE(cp_->running()) << cp_->log();
    ASSERT_TRUE(wait_until([&] { return !http_get(*topo_, "http://198.18.0.10/", 1).empty(); }, 15s))
        << dp_->log() << cp_->log() << lbctl(*topo_, "stats", true).out;
    ASSERT_TRUE(wait_until([&] { return !http_get(*topo_, "http://198.18.1.1:8080/", 1).empty(); }, 10s));
  }

  void TearDown() override {
    if (HasFailure()) {
      if (cp_) std::printf("--- lb-controlplane log:\n%s\n", cp_->log().c_str());
      if (dp_) std::printf("--- lb-dataplane log:\n%s\n", dp_->log().c_str());
      if (topo_) std::printf("--- lbctl stats:\n%s\n", lbctl(*topo_, "stats", true).out.c_str());
    }
    if (cp_) cp_->stop();
    if (dp_) dp_->stop();
    if (node_) node_->stop();
  }

  static std::string echo_server() {
    return "import socket\n"
           "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
           "s.bind(('198.18.1.1', 179)); s.listen(4)\n"
           "while True:\n"
           "  c, _ = s.accept()\n"
           "  while True:\n"
           "    d = c.recv(256)\n"
           "    if not d: break\n"
           "    c.sendall(d)\n";
  }

  void start_dp(uint64_t after_start) {
    std::ifstream in(config_path_);
    std::stringstream text;
    text << in.rdbuf();
    dp_ = start_dataplane(*topo_, text.str(), "dp", node_ns_);
    ASSERT_TRUE(wait_dataplane_ready(shm_->status, after_start, 20s)) << dp_->log();
    if (!xdp() && after_start == 0) {
      // The taps exist now; the host's addresses go on them (they persist across restarts).
      ASSERT_EQ(topo_->exec(topo_->lb_ns, "ip addr add 198.18.1.1/24 dev flc && ip link set flc up && "
                                          "ip addr add 198.18.2.1/24 dev flb && ip link set flb up"), 0)
          << dp_->log();
    }
  }

  uint64_t start_count() {
    abi::Mapping m;
    std::string err;
    return abi::open_status(shm_->status, abi::Access::ReadOnly, &m, &err) ? abi::status_of(m).header.start_count.load() : 0;
  }

  bool ping_host() { return topo_->exec(topo_->client_ns, "ping -c 2 -i 0.2 -W 1 198.18.1.1 >/dev/null") == 0; }
  bool host_service() { return http_get(*topo_, "http://198.18.1.1:8080/", 2) == "host-service\n"; }
  void check_host(KernelSession& bgp, const char* when) {
    EXPECT_TRUE(ping_host()) << "ping of the host address " << when;
    EXPECT_TRUE(host_service()) << "the host's TCP service " << when;
    EXPECT_TRUE(bgp.exchange(std::string("keepalive ") + when + "\n")) << "the kernel's port-179 session " << when;
  }
  std::map<std::string, int> spread(const std::string& url, int n) {
    std::map<std::string, int> seen;
    for (int i = 0; i < n; ++i) ++seen[http_get(*topo_, url, 2)];
    return seen;
  }
  void reload_with(const std::string& extra_vip) {
    std::string text = full_toml(*topo_, *shm_, dp_options_, ControlplaneOptions{}) + extra_vip;
    std::ofstream(config_path_) << text;
    LbctlResult r = lbctl(*topo_, "reload");
    ASSERT_EQ(r.exit, 0) << r.err;
  }
  std::string pinned_vips() {
    std::string out;
    topo_->exec(topo_->lb_ns, "nsenter -t " + node_ns_.substr(4) + " -m bpftool -j map dump pinned /sys/fs/bpf/" +
                                  FULCRUM_STEER_MAP_VIPS, &out);
    return out;
  }

  std::unique_ptr<Topology> topo_;
  std::unique_ptr<ShmNames> shm_;
  std::string run_dir_, config_path_, node_ns_;
  DataplaneOptions dp_options_;
  std::unique_ptr<Process> node_, dp_, cp_;
};

TEST_P(HostSharing, HostKeepsItsAddressWhileTheVipIsBalanced) {
  KernelSession bgp(*topo_);
  ASSERT_TRUE(bgp.connected()) << "no TCP session to 198.18.1.1:179 from the client";

  auto seen = spread("http://198.18.0.10/", 30);
  EXPECT_EQ(seen.count(""), 0u) << seen[""] << " of 30 VIP requests failed";
  EXPECT_GE(seen.size(), 2u) << "all VIP requests went to one backend";
  check_host(bgp, "while the VIP is balanced");

  // A VIP added by a reload is steered from its first connection.
  const std::string extra = "\n[[vip]]\nname = \"added\"\naddress = \"198.18.0.30\"\nport = 80\n"
                            "mode = \"fullnat\"\nsnat = [\"198.18.2.101\"]\n"
                            "[[vip.backends]]\naddress = \"198.18.2.11\"\nport = 80\n";
  reload_with(extra);
  EXPECT_EQ(http_get(*topo_, "http://198.18.0.30/", 3), "b1\n") << "the first connection to a VIP added by a reload";
  if (xdp()) {
    EXPECT_NE(pinned_vips().find("\"0x1e\""), std::string::npos) << "198.18.0.30 is not in the pinned map";
    std::string metrics;
    topo_->exec(topo_->lb_ns, "curl -s http://" + metrics_address(*topo_) + "/metrics", &metrics);
    EXPECT_NE(metrics.find("lb_xdp_frames_total{action=\"redirect_vip\"}"), std::string::npos) << metrics;
    EXPECT_EQ(metrics.find("lb_xdp_frames_total{action=\"redirect_vip\"} 0"), std::string::npos) << metrics;
  }
  // ... and a removed one is not steered any more.
  reload_with("");
  EXPECT_EQ(http_get(*topo_, "http://198.18.0.30/", 1), "") << "a removed VIP still answers";
  EXPECT_EQ(http_get(*topo_, "http://198.18.0.10/", 2).empty(), false);
  if (xdp()) {
    // 198.18.0.30 in network order is c6 12 00 1e: gone from the pinned map.
    EXPECT_EQ(pinned_vips().find("\"0x1e\""), std::string::npos) << pinned_vips();
  } else {
    EXPECT_GT(status_counter(shm_->status, abi::WorkerCounter::PuntedToKernel), 0u);
    EXPECT_GT(status_counter(shm_->status, abi::WorkerCounter::FromKernel), 0u);
  }
  check_host(bgp, "after two reloads");

  // kill -9 of the data plane.
  uint64_t before = start_count();
  dp_->kill9();
  if (xdp()) {
    check_host(bgp, "while the data plane is dead");
    EXPECT_EQ(http_get(*topo_, "http://198.18.0.10/", 1), "") << "VIP answered with the data plane dead";
  }
  // A restarted data plane (the XDP program the dead one left is detached by the new one).
  const auto restarted = std::chrono::steady_clock::now();
  start_dp(before);
  if (xdp()) {
    EXPECT_NE(dp_->log().find("detached Fulcrum's XDP program"), std::string::npos) << dp_->log();
  }
  EXPECT_TRUE(wait_until([&] { return !http_get(*topo_, "http://198.18.0.10/", 1).empty(); }, 10s))
      << "the VIP is not served again after the restart";
  const double serve_again_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - restarted).count();
  seen = spread("http://198.18.0.10/", 12);
  EXPECT_EQ(seen.count(""), 0u) << seen[""] << " of 12 VIP requests failed after the restart";
  check_host(bgp, "after the data plane restarted");
  // One line of figures for the record (the closing note and docs/operations.md quote it).
  std::printf("figures[%s]: VIP served again %.2f s after the data plane was restarted; "
              "%zu backends answered the 12 requests after it; punted %llu, from kernel %llu\n",
              GetParam(), serve_again_s, seen.size() - seen.count(""),
              static_cast<unsigned long long>(status_counter(shm_->status, abi::WorkerCounter::PuntedToKernel)),
              static_cast<unsigned long long>(status_counter(shm_->status, abi::WorkerCounter::FromKernel)));
}

INSTANTIATE_TEST_SUITE_P(Modes, HostSharing, ::testing::Values("xdp", "tap"), [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace fulcrum::test
