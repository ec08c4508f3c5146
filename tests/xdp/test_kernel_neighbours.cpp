// KernelNeighbours (dataplane/core/kernel_neighbours.h) against the real kernel, in network
// namespaces of the test's own: a veth pair nbra (10.99.0.1) - nbrb (10.99.0.2). Asking
// for 10.99.0.2 on nbra makes the kernel ARP for it, and the answer comes back over netlink;
// an entry the kernel already has is reported at once; an address nobody has fails.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <string>
#include <thread>

#include "dataplane/core/kernel_neighbours.h"

namespace fulcrum::dp {
namespace {

using namespace std::chrono_literals;

class KernelNeighboursTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    // The (single-threaded) test process moves into a fresh network namespace, and a child
    // sits in a second one holding the veth's other end (Linux ignores ARP whose sender is
    // one of its own addresses, so both ends in one namespace would never resolve).
    if (unshare(CLONE_NEWNET) != 0) GTEST_SKIP() << "cannot unshare the network namespace: " << std::strerror(errno);
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    peer_ = fork();
    if (peer_ == 0) {
      char c = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
      (void)!write(ready[1], &c, 1);
      pause();
      _exit(0);
    }
    char c = 0;
    ASSERT_EQ(read(ready[0], &c, 1), 1);
    close(ready[0]);
    close(ready[1]);
    ASSERT_EQ(c, 'y');
    std::string peer = std::to_string(peer_);
    ASSERT_EQ(std::system(("ip link set lo up && sysctl -qw net.ipv6.conf.default.accept_dad=0 && "
                           "ip link add nbra type veth peer name nbrb netns " + peer +
                           " && ip addr add 10.99.0.1/24 dev nbra && ip addr add fd99::1/64 dev nbra nodad && ip link set nbra up && "
                           "nsenter -t " + peer + " -n sh -c 'sysctl -qw net.ipv6.conf.nbrb.accept_dad=0; ip addr add 10.99.0.2/24 dev nbrb && "
                           "ip addr add fd99::2/64 dev nbrb nodad && ip link set nbrb up'").c_str()),
              0);
    ifindex_ = static_cast<int>(if_nametoindex("nbra"));
    ASSERT_NE(ifindex_, 0);
    ASSERT_EQ(kn_.open({0, ifindex_}), "");  // port 0 resolved by Fulcrum, port 1 by the kernel
  }
  void TearDown() override {
    if (peer_ > 0) {
      kill(peer_, SIGKILL);
      waitpid(peer_, nullptr, 0);
    }
  }
  // Polls until an entry for addr arrives (or 4 s pass).
  KernelNeighbours::Entry wait_for(const char* addr) {
    KernelNeighbours::Entry found;
    auto deadline = std::chrono::steady_clock::now() + 4s;
    while (std::chrono::steady_clock::now() < deadline && found.addr_be == 0) {
      kn_.poll([&](const KernelNeighbours::Entry& e) {
        if (e.addr_be == inet_addr(addr)) found = e;
      });
      std::this_thread::sleep_for(10ms);
    }
    return found;
  }
  KernelNeighbours kn_;
  int ifindex_ = 0;
  pid_t peer_ = -1;
};

TEST_F(KernelNeighboursTest, SolicitMakesTheKernelResolveAndReport) {
  EXPECT_FALSE(kn_.handles(0));
  EXPECT_TRUE(kn_.handles(1));
  ASSERT_TRUE(kn_.solicit(inet_addr("10.99.0.2"), 1));
  KernelNeighbours::Entry e = wait_for("10.99.0.2");
  ASSERT_EQ(e.addr_be, inet_addr("10.99.0.2")) << "no answer from the kernel";
  EXPECT_TRUE(e.usable);
  EXPECT_EQ(e.port, 1);
  EXPECT_NE(e.mac, KernelNeighbours::Mac{});

  // Asked again while the kernel's entry is reachable (no state change, no notification):
  // still reported, from the RTM_GETNEIGH read.
  ASSERT_TRUE(kn_.solicit(inet_addr("10.99.0.2"), 1));
  EXPECT_EQ(wait_for("10.99.0.2").mac, e.mac);
}

// issue 15: IPv6 next hops of a shared port, resolved by the kernel's neighbour discovery.
TEST_F(KernelNeighboursTest, Ipv6NextHopsAreResolvedByTheKernelToo) {
  uint8_t peer6[16];
  ASSERT_EQ(inet_pton(AF_INET6, "fd99::2", peer6), 1);
  // Asked again every 500 ms, as the main lcore re-asks (kRetryMs): a fresh veth may lose the
  // kernel's first solicitation while its IPv6 comes up on a loaded machine.
  KernelNeighbours::Entry found;
  const auto deadline = std::chrono::steady_clock::now() + 8s;
  auto next_ask = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < deadline && !found.usable) {
    if (std::chrono::steady_clock::now() >= next_ask) {
      ASSERT_TRUE(kn_.solicit6(peer6, 1));
      next_ask += 500ms;
    }
    kn_.poll([&](const KernelNeighbours::Entry& e) {
      if (e.ipv6 && std::memcmp(e.addr6, peer6, 16) == 0) found = e;
    });
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(found.usable) << "no IPv6 answer from the kernel in 8 s";
  EXPECT_EQ(found.port, 1);
  EXPECT_EQ(found.addr_be, 0u);
  EXPECT_NE(found.mac, KernelNeighbours::Mac{});
}

TEST_F(KernelNeighboursTest, AnAddressNobodyHasFails) {
  ASSERT_TRUE(kn_.solicit(inet_addr("10.99.0.77"), 1));
  KernelNeighbours::Entry e = wait_for("10.99.0.77");
  if (e.addr_be == 0) GTEST_SKIP() << "the kernel did not report the failure within 4 s (its retrans timers)";
  EXPECT_FALSE(e.usable);
}

TEST_F(KernelNeighboursTest, StaticEntriesComeFromTheKernel) {
  ASSERT_EQ(std::system("ip neigh add 10.99.0.9 lladdr 02:00:00:00:00:09 dev nbra nud permanent"), 0);
  ASSERT_TRUE(kn_.solicit(inet_addr("10.99.0.9"), 1));
  KernelNeighbours::Entry e = wait_for("10.99.0.9");
  EXPECT_TRUE(e.usable);
  EXPECT_EQ(e.mac, (KernelNeighbours::Mac{0x02, 0, 0, 0, 0, 0x09}));
}

}  // namespace
}  // namespace fulcrum::dp
