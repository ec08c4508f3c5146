// A bounded sample of the data plane's connection table, on request (`lbctl conn list`).
//
// The table lives in DPDK memory inside lb-dataplane; the control plane cannot read it. So
// the control plane asks through this small shared-memory region and the data plane's
// main lcore answers between its other duties:
//
//   control plane: write the filter, then store request.seq = previous + 1 (release).
//   data plane:    sees request.seq != response.seq, scans its table a bounded chunk per
//                  round (never a long pause for ARP), copies up to `limit` matching
//                  entries, counts every match, then stores response.seq = request.seq.
//   control plane: reads the entries once response.seq equals its request's seq.
//
// A separate region from the status region, because here the control plane writes too
// (the request), while the status region has the data plane as its only writer. It is
// created by the data plane (named after shm_status with ".conns" appended) and re-created
// when it restarts. Entries are copied while workers run: a sample, not a snapshot.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/abi/ip6.h"
#include "dataplane/abi/limits.h"

namespace fulcrum::abi {

inline constexpr uint64_t kConnSampleMagic = 0x5343'4C4D'5243'4C46ull;  // "FLCRMLCS" little-endian
inline constexpr uint32_t kConnSampleMax = 1024;       // entries one answer holds at most
inline constexpr uint16_t kAnyBackend = 0xFFFF;

struct ConnSampleEntry {
  uint32_t client_addr_be, vip_addr_be, backend_addr_be, snat_addr_be;  // snat == client in nat mode
  uint16_t client_port_be, vip_port_be, backend_port_be, snat_port_be;
  uint16_t backend_id;
  uint8_t state;                // the flow table's state byte: TcpPhase in the low bits
  uint8_t flags;                // conn_sample_flag
  uint32_t idle_ms;             // since the connection's last packet
  uint16_t worker;              // the worker that owns the entry
  uint8_t reserved[14];
};
static_assert(sizeof(ConnSampleEntry) == 48);
static_assert(offsetof(ConnSampleEntry, backend_id) == 24);
static_assert(offsetof(ConnSampleEntry, worker) == 32);

namespace conn_sample_flag {
inline constexpr uint8_t kFullNat = 0x01;
// issue 15: an IPv6 connection; its addresses are in ConnSampleRegion::addrs6 (same index)
// and the IPv4 fields are 0. A NAT64 connection's backend and SNAT addresses are IPv4-mapped.
inline constexpr uint8_t kIpv6 = 0x02;
}  // namespace conn_sample_flag

// The IPv6 addresses of entries[i] with conn_sample_flag::kIpv6.
struct ConnSampleAddrs6 {
  Ip6 client, vip, backend, snat;
};
static_assert(sizeof(ConnSampleAddrs6) == 64);

struct alignas(64) ConnSampleRequest {   // written by the control plane
  std::atomic<uint64_t> seq;             // stored last
  uint32_t vip_addr_be;                  // 0: any VIP
  uint16_t vip_port_be;                  // 0: any port
  uint16_t backend_id;                   // kAnyBackend: any
  uint32_t limit;                        // entries wanted, <= kConnSampleMax
  uint8_t vip_ipv6;                      // issue 15: 1: the VIP is vip_addr6 (vip_addr_be unused)
  uint8_t reserved[3];
  Ip6 vip_addr6;
};
static_assert(sizeof(ConnSampleRequest) == 64);
static_assert(offsetof(ConnSampleRequest, vip_addr6) == 24);

struct alignas(64) ConnSampleResponse {  // written by the data plane
  std::atomic<uint64_t> seq;             // = the request's seq once complete; stored last
  uint32_t count;                        // entries filled
  uint32_t reserved;
  uint64_t matched;                      // entries matching the filter in the whole table
  uint64_t scanned;                      // entries looked at (the table's capacity)
  uint64_t in_use;                       // entries in use, matching or not
  uint64_t took_us;                      // from seeing the request to the answer
};
static_assert(sizeof(ConnSampleResponse) == 64);

struct alignas(64) ConnSampleHeader {
  uint64_t magic;
  uint32_t abi_version;
  uint32_t max_entries;
  uint64_t region_size;
};

struct ConnSampleRegion {
  ConnSampleHeader header;
  ConnSampleRequest request;
  ConnSampleResponse response;
  ConnSampleEntry entries[kConnSampleMax];
  ConnSampleAddrs6 addrs6[kConnSampleMax];   // ABI 10 (issue 15)
};
static_assert(offsetof(ConnSampleRegion, request) == 64);
static_assert(offsetof(ConnSampleRegion, response) == 128);
static_assert(offsetof(ConnSampleRegion, entries) == 192);
static_assert(offsetof(ConnSampleRegion, addrs6) == 192 + 48 * kConnSampleMax);

// The region's name for a status region's name: "/fulcrum-status" -> "/fulcrum-status.conns".
inline std::string conn_sample_name(std::string_view status_name) { return std::string(status_name) + ".conns"; }

}  // namespace fulcrum::abi
