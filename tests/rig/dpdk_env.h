// DPDK test environment: EAL started once per test binary, without hugepages or PCI,
// a test mempool, and helpers to move bytes in and out of mbufs.
//
// Why lazily and once: rte_eal_init() can run only once per process, and many test
// binaries (unit tests of pure logic) never need it. Tests that do call
// FULCRUM_REQUIRE_EAL(), which skips with the reason when EAL cannot start here.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

struct rte_mbuf;
struct rte_mempool;

namespace fulcrum::test {

// Starts EAL (--no-huge --no-pci --no-shconf, a unique --file-prefix, main lcore only)
// the first time it is called. Returns false and sets *why if EAL cannot start.
bool ensure_eal(std::string* why = nullptr);

// A pktmbuf pool of 8191 mbufs with 2 KiB data rooms, created on first use. Needs EAL.
rte_mempool* test_mempool();

// A single-segment mbuf holding exactly `bytes` (aborts the test binary if the pool is empty).
rte_mbuf* mbuf_from_bytes(std::span<const uint8_t> bytes);

// The packet's bytes, all segments concatenated.
std::vector<uint8_t> bytes_from_mbuf(const rte_mbuf* m);

}  // namespace fulcrum::test

// Skips the current GoogleTest test, printing why, when EAL is unavailable.
#define FULCRUM_REQUIRE_EAL()                                        \
  do {                                                               \
    std::string fulcrum_eal_why_;                                    \
    if (!::fulcrum::test::ensure_eal(&fulcrum_eal_why_))             \
      GTEST_SKIP() << "DPDK EAL unavailable: " << fulcrum_eal_why_;  \
  } while (0)
