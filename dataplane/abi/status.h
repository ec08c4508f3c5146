// The status region: written only by the data plane, read by the control plane and lbctl.
//
// Each worker owns one cache-aligned WorkerStatus and is its only writer; readers sum
// across workers. Counters are monotonic for the life of one data-plane process (they
// restart at zero when it restarts; start_count tells readers that happened).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "dataplane/abi/counters.h"
#include "dataplane/abi/limits.h"

namespace fulcrum::abi {

inline constexpr uint64_t kStatusMagic = 0x5453'4C4D'5243'4C46ull;  // "FLCRMLST" little-endian

// A counter with exactly one writer. Relaxed atomics compile to plain loads and stores on
// x86-64, and keep a concurrent reader in another process well defined.
struct Counter {
  std::atomic<uint64_t> value;
  void add(uint64_t n) { value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t get() const { return value.load(std::memory_order_relaxed); }
};
static_assert(sizeof(Counter) == 8);

enum class WorkerRole : uint32_t { Worker = 0, Main = 1 };

struct BackendTraffic {
  Counter packets;
  Counter bytes;
  void add(uint64_t len) {
    packets.add(1);
    bytes.add(len);
  }
};
static_assert(sizeof(BackendTraffic) == 16);

struct alignas(64) WorkerStatus {
  // Quiescent state for the table publish protocol: the generation this worker loaded at
  // the start of its latest burst. It holds nothing older.
  std::atomic<uint64_t> seen_generation;
  std::atomic<uint32_t> online;          // 1 while the worker's loop runs
  uint32_t lcore_id;
  std::atomic<uint64_t> conntrack_entries;  // gauge: entries this worker owns
  std::atomic<uint64_t> loop_monotonic_ns;  // last time the loop came round (stall detection)
  uint32_t role;                            // WorkerRole
  std::atomic<uint32_t> breaker_tripped;    // 1 while the new-flow rate breaker is tripped
  // TSC cycles of loop rounds that received packets (from the poll to the end of the round's
  // housekeeping): divided by rx_packets, the worker's cost per packet whatever the load, as
  // testpmd's --record-core-cycles counts it (issue 14's memif benchmark reads it).
  Counter busy_cycles;
  uint8_t reserved[16];
  Counter counters[kWorkerCounterCount];      // by WorkerCounter
  Counter drops[kDropReasonCount];            // by DropReason
  Counter vip_new_connections[kMaxVips];      // by Vip::vip_id
  Counter backend_opened[kMaxBackends];       // by stable backend id
  Counter backend_closed[kMaxBackends];       // active = sum(opened) - sum(closed)
  // ABI 2. Packets and bytes of each backend's connections, both directions (a VIP's
  // traffic is the sum over its backends: ids are unique across VIPs in a generation).
  // Cache-aligned, 4 backends a line: counting a packet touches one line.
  alignas(64) BackendTraffic backend_traffic[kMaxBackends];
  Counter vip_drops[kMaxVips];                // new-flow packets of a VIP dropped (no_backend, conntrack_full, ...)
};
static_assert(offsetof(WorkerStatus, counters) == 64);
static_assert(offsetof(WorkerStatus, busy_cycles) == 40);
static_assert(kWorkerCounterCount == 40 && kDropReasonCount == 49,
              "counter sets changed: bump kAbiVersion and update these numbers");
static_assert(offsetof(WorkerStatus, drops) == 64 + 8 * kWorkerCounterCount);
static_assert(offsetof(WorkerStatus, backend_opened) ==
              64 + 8 * (kWorkerCounterCount + kDropReasonCount + kMaxVips));
static_assert(offsetof(WorkerStatus, backend_traffic) == 133'952);  // backend_closed ends at 133,896; aligned to 64
static_assert(offsetof(WorkerStatus, vip_drops) == 133'952 + 16 * kMaxBackends);
static_assert(sizeof(WorkerStatus) == 267'072);

struct alignas(64) StatusHeader {
  uint64_t magic;
  uint32_t abi_version;
  uint32_t header_size;
  uint64_t region_size;
  uint32_t max_workers;
  uint32_t max_backends;
  uint32_t max_vips;
  uint16_t drop_reason_count;
  uint16_t worker_counter_count;
  uint8_t reserved0[24];
  // Second cache line: liveness, written by the data plane's main lcore.
  alignas(64) std::atomic<uint64_t> heartbeat_monotonic_ns;
  std::atomic<uint64_t> started_realtime_ns;
  std::atomic<uint64_t> start_count;    // +1 per data-plane start: the control plane republishes
  std::atomic<uint32_t> pid;
  std::atomic<uint32_t> worker_count;
  std::atomic<uint64_t> conntrack_capacity;
  std::atomic<uint64_t> mbufs_in_use;   // packet buffers taken from the pool (gauge, main lcore)
  std::atomic<uint64_t> mbufs_total;
  uint8_t reserved1[8];
};
static_assert(sizeof(StatusHeader) == 128);
static_assert(offsetof(StatusHeader, heartbeat_monotonic_ns) == 64);

// Per (lcore, backend id): what the scheduler and passive health count, one writer each
// (the lcore that sees the event; readers sum across lcores). Events of a connection are
// counted where its packets arrive, so one connection's SYN and SYN-ACK may be counted by
// two lcores: only the sums mean anything. Open connections of a backend are
// sum(backend_opened) - sum(kFinished) + sum(kRevived). Two cache lines; a SYN-ACK and a
// close touch the first.
namespace backend_stat {
enum : uint32_t {
  // First line: what a SYN-ACK and a closing connection touch.
  kSynAcks = 0,          // connection attempts the backend answered with a SYN-ACK
  kConnectSamples,       // SYN->SYN-ACK times measured (a sample, not every connection)
  kConnectUsSum,         // their sum, microseconds
  kFinished,             // connections that stopped being open (closed, or their entry retired open)
  kRevived,              // closed connections that a spoofed-RST proof reopened
  kRefused,              // connection attempts it answered with a RST
  kUnanswered,           // attempts it never answered (moved elsewhere, or expired)
  kRetriedAway,          // connection attempts moved from it to another backend
  // Second line.
  kOverMaxConnections,   // new connections passed on because it was at max_connections
  kOverRate,             // new connections passed on because of its max_new_conn_rate
  kHistogram,            // then kHistogramBuckets counts of samples per bucket, not cumulative
};
inline constexpr uint32_t kHistogramBuckets = 6;
// Upper bounds of the SYN->SYN-ACK histogram buckets: a sample counts in the first whose
// bound it does not exceed; samples above the last count only in kConnectSamples.
inline constexpr uint32_t kConnectBucketUs[kHistogramBuckets] = {100, 500, 2500, 10000, 50000, 250000};
inline constexpr uint32_t kCount = kHistogram + kHistogramBuckets;
}  // namespace backend_stat

struct alignas(64) BackendStats {
  Counter c[backend_stat::kCount];
};
static_assert(sizeof(BackendStats) == 128);

// Per backend id, written by the data plane's main lcore about every millisecond from the
// lcores' counters: what the workers' schedulers read (one load per candidate instead of a
// sum over lcores) and what the control plane shows.
struct BackendLive {
  std::atomic<int32_t> active;           // connections open (sum over lcores of opened - closed)
  std::atomic<uint32_t> connect_ewma_us; // SYN->SYN-ACK time, EWMA (alpha 1/8 per sample); 0: none yet
  std::atomic<uint16_t> ramp_permille;   // slow start: the share of its weight it has (1000: all)
  uint16_t reserved0;
  uint32_t reserved1;
};
static_assert(sizeof(BackendLive) == 16);

// Per VIP id, written with BackendLive: the totals over the backends taking new flows.
struct VipLive {
  std::atomic<int64_t> active;           // their connections
  std::atomic<uint64_t> weight_permille; // sum of weight x ramp_permille
};
static_assert(sizeof(VipLive) == 16);

struct StatusRegion {
  StatusHeader header;
  WorkerStatus workers[kMaxWorkers];
  BackendLive backend_live[kMaxBackends];               // by stable backend id
  VipLive vip_live[kMaxVips];                           // by VIP id
  BackendStats backend_stats[kMaxWorkers][kMaxBackends];  // by lcore (as workers[]), backend id
};
static_assert(offsetof(StatusRegion, workers) == 128);
static_assert(offsetof(StatusRegion, backend_live) == 128 + sizeof(WorkerStatus) * kMaxWorkers);
static_assert(offsetof(StatusRegion, backend_stats) ==
              offsetof(StatusRegion, backend_live) + 16 * kMaxBackends + 16 * kMaxVips);

}  // namespace fulcrum::abi
