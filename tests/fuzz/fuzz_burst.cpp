// libFuzzer target: the real burst function (Worker::process_burst), the main lcore and the
// housekeeping, fed arbitrary frames against a populated table: the fixture environment's
// three VIPs (nat, fullnat with a SYN proxy, nat with the reset policy), two workers, a
// small connection table so that pressure, eviction and the breaker are reached.
//
// Input: a sequence of records [flags][len][bytes...]: flags picks the port, the worker
// and whether time moves on (and housekeeping runs) before the frame. Valid-looking
// frames are reached faster from the seed corpus (tests/fuzz/corpus/burst).
#include <rte_mbuf.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "tests/fixture/fixture_env.h"

using namespace fulcrum;

namespace {

// Never destroyed: at exit DPDK's memory may already be gone (the rig cleans EAL up in an
// atexit handler), and nothing is gained by tearing the environment down.
test::FixtureEnv* g_env = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string why;
  test::FixtureEnv::Options o;
  o.workers = 2;
  o.conntrack_entries = 256;
  o.flood.breaker_rate = 2000;
  g_env = test::FixtureEnv::create(o, &why).release();
  if (!g_env) {
    std::fprintf(stderr, "fuzz_burst: no fixture environment: %s\n", why.c_str());
    std::abort();
  }
  cp::TableSpec spec = test::FixtureEnv::ipv6_tables();  // IPv4 VIPs 0-2, IPv6 nat/fullnat/NAT64 3-5
  spec.vips[1].synproxy = fulcrum::abi::Synproxy::On;
  spec.vips[0].new_conn_rate = 1000;
  spec.vips[0].new_conn_burst = 100;
  // Scheduling (docs/scheduling.md): a scheduler per VIP, limits small enough to be hit,
  // slow start, retries.
  spec.vips[0].scheduler = fulcrum::abi::Scheduler::LeastConn;
  spec.vips[0].slow_start_ms = 10'000;
  spec.vips[0].backends[0].max_connections = 8;
  spec.vips[0].backends[1].slow_start = true;
  spec.vips[1].scheduler = fulcrum::abi::Scheduler::WeightedRoundRobin;
  spec.vips[1].backends[2].max_new_conn_rate = 50;
  spec.vips[1].backends[2].new_conn_burst = 5;
  spec.vips[2].scheduler = fulcrum::abi::Scheduler::Fastest;
  spec.vips[2].on_full = fulcrum::abi::OnFull::Reset;
  spec.vips[2].connect_retries = 3;
  for (auto& b : spec.vips[2].backends) b.max_connections = 4;
  g_env->publish(spec);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<test::Bytes> frames[2][2];  // [worker][port]
  size_t pos = 0;
  while (pos + 3 <= size) {
    const uint8_t flags = data[pos];
    const size_t len = (size_t{data[pos + 1]} << 8 | data[pos + 2]) % 1600;
    pos += 3;
    if (len > size - pos) break;
    const uint32_t worker = flags & 1, port = (flags >> 1) & 1;
    if (flags & 0x80) {
      g_env->advance_ms(1u << ((flags >> 2) & 15));
      g_env->maintain_all();
      g_env->update_loads(g_env->now_ms());  // the main lcore's load figures
    }
    frames[worker][port].emplace_back(data + pos, data + pos + len);
    if (frames[worker][port].size() == 32) {
      g_env->run_burst(frames[worker][port], static_cast<uint8_t>(port), worker);
      frames[worker][port].clear();
    }
    pos += len;
  }
  for (uint32_t w = 0; w < 2; ++w) {
    for (uint8_t p = 0; p < 2; ++p) {
      if (!frames[w][p].empty()) g_env->run_burst(frames[w][p], p, w);
    }
  }
  return 0;
}
