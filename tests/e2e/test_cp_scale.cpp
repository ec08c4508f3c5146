// Issue 10's scale test (review finding 2 and its cascade, finding 3): 256 VIPs with Maglev
// tables of 65537 entries each,
// 2048 backends behind 200 distinct endpoints, and 100 of those endpoints failing at once.
//
// Reviewed code: every health transition rebuilt every VIP's table and published, on the
// loop thread: a few hundred serialized publishes, lbctl waiting seconds, health checks
// delayed until healthy backends timed out. Wanted: at most a few publishes, `status`
// answering within 200 ms throughout, no healthy backend marked down.
//
// The backends are two small Python accept-and-close servers in a backend namespace, one
// for the 100 healthy ports and one for the 100 that fail; killing the second makes 100
// endpoints refuse at the same moment.
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "tests/e2e/cp_fixture.h"

namespace fulcrum::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kVips = 256;
constexpr int kHealthyBase = 20000, kFailingBase = 20100, kPorts = 100;
constexpr int kPerVip = 8;   // 4 healthy and 4 failing endpoints each

const char* kServer = R"(import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in range(int(sys.argv[1]), int(sys.argv[2])):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(4096)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        try:
            c, _ = key.fileobj.accept()
            c.close()
        except BlockingIOError:
            pass
)";

// One status request on the socket; its latency in ms (or -1 without an answer).
double status_ms(const std::string& path) {
  auto t0 = std::chrono::steady_clock::now();
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  const char req[] = "{\"cmd\":\"status\"}\n";
  (void)!write(fd, req, sizeof req - 1);
  std::string in;
  pollfd p{fd, POLLIN, 0};
  while (in.find('\n') == std::string::npos && poll(&p, 1, 5000) > 0) {
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    in.append(buf, size_t(n));
  }
  close(fd);
  if (in.find("\"ok\":true") == std::string::npos) return -1;
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

class CpScale : public CpTest {};

TEST_F(CpScale, HundredBackendsFailingAtOnceInTwoHundredFiftySixVips) {
  const BackendHost& host = topo_->backends[0];
  std::ofstream(dir_ + "/server.py") << kServer;
  Process healthy(*topo_, host.ns, {"python3", dir_ + "/server.py", std::to_string(kHealthyBase), std::to_string(kHealthyBase + kPorts)},
                  dir_ + "/healthy.log");
  auto failing = std::make_unique<Process>(*topo_, host.ns,
                                           std::vector<std::string>{"python3", dir_ + "/server.py", std::to_string(kFailingBase),
                                                                    std::to_string(kFailingBase + kPorts)},
                                           dir_ + "/failing.log");
  ASSERT_TRUE(wait_until([&] { return healthy.log().find("ready") != std::string::npos && failing->log().find("ready") != std::string::npos; }, 10s));

  std::ostringstream t;
  std::string base = config_text();
  t << base.substr(0, base.find("\n[[vip]]"));  // [dataplane] and [controlplane] only
  for (int v = 0; v < kVips; ++v) {
    t << "\n[[vip]]\nname = \"v" << v << "\"\naddress = \"198.18.0.10\"\nport = " << 10000 + v << "\nmode = \"fullnat\"\n"
      << "snat = [\"198.18.2.100\"]\nmaglev_size = 65537\n"
      << "hash_seed = \"scale-test-seed-of-vip-" << v << "\"\n"  // every VIP's table is its own
      << "[vip.health]\ntype = \"tcp\"\ninterval_ms = 1000\ntimeout_ms = 500\nrise = 2\nfall = 2\n";
    for (int k = 0; k < kPerVip / 2; ++k) {
      int slot = (v * kPerVip / 2 + k) % kPorts;
      t << "[[vip.backends]]\naddress = \"" << host.ip << "\"\nport = " << kHealthyBase + slot << "\n";
      t << "[[vip.backends]]\naddress = \"" << host.ip << "\"\nport = " << kFailingBase + slot << "\n";
    }
  }
  write_text(t.str());
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(start()) << cp_log();
  double startup = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  // Every check has run once.
  ASSERT_TRUE(wait_until([&] {
    json list = ctl("backend list").json;
    if (!list.is_array() || list.size() != size_t(kVips * kPerVip)) return false;
    for (const json& b : list) {
      if (b["health_reason"] != "connected") return false;
    }
    return true;
  }, 10s)) << cp_log();
  json first = ctl("backend list v0").json;
  EXPECT_EQ(first[0]["shared_check"], 11) << "each endpoint is in 10 or 11 VIPs and checked once";

  // Poll status every 20 ms from the kill until everything settled.
  std::atomic<bool> stop{false};
  std::vector<double> latencies;
  std::atomic<int> unanswered{0};
  std::thread poller([&] {
    while (!stop) {
      double ms = status_ms(socket_);
      if (ms < 0) ++unanswered;
      else latencies.push_back(ms);
      std::this_thread::sleep_for(20ms);
    }
  });
  uint64_t g0 = generation();
  json s0 = ctl("status").json;
  uint64_t publishes0 = s0["publishing"]["publishes"];
  auto kill_at = std::chrono::steady_clock::now();
  failing->kill9();
  auto all_down = [&] {  // from status alone: a backend list of 2048 backends is a heavier request
    json s = ctl("status").json;
    int up = 0;
    for (const json& v : s["vips"]) up += v["backends_up"].get<int>();
    return up == kVips * kPerVip / 2 && s["publishing"]["changes_waiting"] == false;
  };
  bool settled = wait_until(all_down, 20s);
  double settle_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - kill_at).count();
  std::this_thread::sleep_for(2s);  // and a while after
  stop = true;
  poller.join();
  ASSERT_TRUE(settled) << ctl("status", true).out;

  json s1 = ctl("status").json;
  uint64_t publishes = s1["publishing"]["publishes"].get<uint64_t>() - publishes0;
  uint64_t generations = generation() - g0;
  // No healthy endpoint was marked down, ever.
  int healthy_down = 0, healthy_flapped = 0;
  for (const json& b : ctl("backend list").json) {
    int port = std::stoi(b["backend"].get<std::string>().substr(b["backend"].get<std::string>().find(':') + 1));
    if (port >= kFailingBase) continue;
    healthy_down += b["health"] == "down";
    healthy_flapped += b["health_transitions"].get<int>() != 0;
  }
  std::sort(latencies.begin(), latencies.end());
  double max = latencies.empty() ? -1 : latencies.back();
  double p50 = latencies.empty() ? -1 : latencies[latencies.size() / 2];
  std::printf("[          ] %d VIPs x M=65537 (%d backends, 200 checks): start-up %.0f ms\n", kVips, kVips * kPerVip, startup);
  std::printf("[          ] 100 endpoints (1024 backends) failed at once: %llu publishes (%llu generations), all out of the "
              "tables %.0f ms after the kill; last publish %.0f ms (%llu tables rebuilt, %llu reused)\n",
              static_cast<unsigned long long>(publishes), static_cast<unsigned long long>(generations), settle_ms,
              s1["publishing"]["last"]["took_ms"].get<double>(), s1["publishing"]["last"]["tables_rebuilt"].get<unsigned long long>(),
              s1["publishing"]["last"]["tables_reused"].get<unsigned long long>());
  std::printf("[          ] lbctl status during it: %zu answers, median %.1f ms, max %.1f ms, %d unanswered; healthy backends "
              "marked down: %d, with any transition: %d\n",
              latencies.size(), p50, max, unanswered.load(), healthy_down, healthy_flapped);
  // At most one publish per 200 ms (Service::kMinPublishGapMs): the transitions of a rack failure come over one check
  // interval (1 s here), so a handful of publishes, not one per transition.
  EXPECT_LE(publishes, 1000u / 200 + 2) << "a few publishes, not one per transition";
  EXPECT_EQ(generations, publishes);
  EXPECT_LT(max, 200.0) << "status answers within 200 ms throughout";
  EXPECT_EQ(unanswered.load(), 0);
  EXPECT_GT(latencies.size(), 50u);
  EXPECT_EQ(healthy_down, 0);
  EXPECT_EQ(healthy_flapped, 0);
}

}  // namespace
}  // namespace fulcrum::test
