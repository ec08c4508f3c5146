#include "tests/rig/dpdk_env.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <sched.h>
#include <unistd.h>

namespace fulcrum::test {
namespace {

std::once_flag g_eal_once;
bool g_eal_ok = false;
std::string g_eal_why;

// The CPUs this process may run on, as "0-1" style list; lcore 0 floats over all of them
// rather than pinning every test binary to one core.
std::string allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return "0";
  std::string out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    if (!out.empty()) out += ',';
    out += std::to_string(cpu);
  }
  return out.empty() ? "0" : out;
}

void start_eal() {
  // A unique file prefix keeps concurrent test binaries (meson runs them in parallel)
  // from colliding on /var/run/dpdk; --no-shconf means nothing is written there anyway.
  std::string prefix = "fulcrum-test-" + std::to_string(getpid());
  std::vector<std::string> args = {
      "fulcrum-test", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
      "--file-prefix", prefix, "--lcores", "0@(" + allowed_cpus() + ")",
      "--log-level", "lib.eal:error", "--log-level", "pmd.net.*:error",
      "--log-level", "lib.telemetry:error", "--no-telemetry"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = rte_eal_init(static_cast<int>(args.size()), argv.data());
  if (rc < 0) {
    g_eal_why = std::string("rte_eal_init failed: ") + rte_strerror(rte_errno);
    return;
  }
  g_eal_ok = true;
  // rte_eal_cleanup() at exit releases the no-huge memory and stops EAL's threads cleanly;
  // then the runtime directory EAL made for this prefix goes too (one per test binary run).
  static std::string runtime_dir = "/var/run/dpdk/" + prefix;
  std::atexit([] {
    rte_eal_cleanup();
    std::error_code ignored;
    std::filesystem::remove_all(runtime_dir, ignored);
  });
}

}  // namespace

bool ensure_eal(std::string* why) {
  std::call_once(g_eal_once, start_eal);
  if (!g_eal_ok && why) *why = g_eal_why;
  return g_eal_ok;
}

rte_mempool* test_mempool() {
  static rte_mempool* pool = [] {
    if (!ensure_eal()) return static_cast<rte_mempool*>(nullptr);
    return rte_pktmbuf_pool_create("fulcrum_test_pool", 8191, 256, 0,
                                   RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  }();
  return pool;
}

rte_mbuf* mbuf_from_bytes(std::span<const uint8_t> bytes) {
  rte_mempool* pool = test_mempool();
  rte_mbuf* m = pool ? rte_pktmbuf_alloc(pool) : nullptr;
  if (m == nullptr || bytes.size() > rte_pktmbuf_tailroom(m)) {
    std::fprintf(stderr, "mbuf_from_bytes: no mbuf for %zu bytes\n", bytes.size());
    std::abort();
  }
  char* dst = rte_pktmbuf_append(m, static_cast<uint16_t>(bytes.size()));
  if (!bytes.empty()) std::memcpy(dst, bytes.data(), bytes.size());  // empty span: data() may be null
  return m;
}

std::vector<uint8_t> bytes_from_mbuf(const rte_mbuf* m) {
  std::vector<uint8_t> out;
  out.reserve(m->pkt_len);
  for (const rte_mbuf* seg = m; seg != nullptr; seg = seg->next) {
    const auto* p = rte_pktmbuf_mtod(seg, const uint8_t*);
    out.insert(out.end(), p, p + seg->data_len);
  }
  return out;
}

}  // namespace fulcrum::test
