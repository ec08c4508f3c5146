// lb-bench dataplane, IPv6 cases (issue 15): the same harness as dataplane_bench.cpp, with
// 74-byte frames (Ethernet, IPv6, TCP; 78 on the wire) of F flows to the nat VIP
// [2001:db8:10::10]:80 over ten IPv6 backends, on one worker:
//   established  ACKs of F established flows, in random order
//   syn          SYNs of F new flows (the table is emptied, untimed, between rounds)
// Each row is reported with "family": "ipv6" beside the IPv4 rows of the same case.
//
// Why a setup of its own instead of a family switch in dataplane_bench.cpp's Bench: the
// IPv6 VIP needs the ports' IPv6 addresses, IPv6 routes and neighbours and the IPv6
// connection table (conntrack_entries6), and the IPv4 file is already long.
// Why the frame is written byte by byte and not by tests/rig's builder: lb-bench is built
// in every configuration, the rig (and gtest, which it needs) only with tests enabled. The
// rows' forwarded share (checked below, reported on stderr if short) shows the frame right.
#include <arpa/inet.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "controlplane/tables/table_builder.h"
#include "dataplane/abi/region.h"
#include "dataplane/worker/worker.h"
#include "tests/bench/dataplane_bench_parts.h"

namespace fulcrum::bench {
namespace {

constexpr uint16_t kBurst = dp::kBurst;
constexpr uint16_t kFrameLen = 14 + 40 + 20;
const dp::MacBytes kLbMac{0x02, 0, 0, 0, 0x01, 0x01};
const dp::MacBytes kPeerMac{0x02, 0, 0, 0, 0x01, 0x02};

abi::Ip6 addr6(const char* text) {
  abi::Ip6 a;
  if (inet_pton(AF_INET6, text, a.b) != 1) std::abort();
  return a;
}
const abi::Ip6 kVip6 = addr6("2001:db8:10::10");

struct Flow6 {
  abi::Ip6 src;
  uint16_t sport_be;
};

// Ethernet (peer -> balancer), IPv6 (payload 20, next header TCP, hop limit 64, source
// patched per flow), TCP (dport 80, data offset 5, window 65535). No TCP checksum: the
// worker updates checksums incrementally and verifies none, as in the IPv4 cases.
struct Template6 {
  uint8_t bytes[kFrameLen];
  void fill(uint8_t tcp_flags) {
    std::memset(bytes, 0, sizeof bytes);
    std::memcpy(bytes, kLbMac.data(), 6);
    std::memcpy(bytes + 6, kPeerMac.data(), 6);
    bytes[12] = 0x86;
    bytes[13] = 0xDD;
    uint8_t* ip = bytes + 14;
    ip[0] = 0x60;
    ip[5] = 20;
    ip[6] = 6;
    ip[7] = 64;
    std::memcpy(ip + 24, kVip6.b, 16);
    uint8_t* tcp = ip + 40;
    tcp[3] = 80;
    tcp[12] = 5 << 4;
    tcp[13] = tcp_flags;
    tcp[14] = tcp[15] = 0xFF;
  }
};

// Clients 2001:db8:100:<salt>::<n>, 50,000 ports each.
std::vector<Flow6> make_flows6(uint32_t count, uint8_t salt) {
  std::vector<Flow6> flows(count);
  for (uint32_t i = 0; i < count; ++i) {
    abi::Ip6 src = addr6("2001:db8:100::");
    src.b[7] = salt;
    uint32_t host = htonl(1 + i / 50000);
    std::memcpy(src.b + 12, &host, 4);
    flows[i] = Flow6{src, htons(static_cast<uint16_t>(1024 + i % 50000))};
  }
  return flows;
}

inline void generate6(rte_mempool* pool, rte_mbuf** pkts, const Template6& t, const std::vector<Flow6>& flows,
                      const std::vector<uint32_t>& order, size_t& pos) {
  if (rte_pktmbuf_alloc_bulk(pool, pkts, kBurst) != 0) std::abort();
  for (uint16_t i = 0; i < kBurst; ++i) {
    const Flow6& f = flows[order[pos]];
    pos = pos + 1 == order.size() ? 0 : pos + 1;
    rte_mbuf* m = pkts[i];
    auto* d = rte_pktmbuf_mtod(m, uint8_t*);
    std::memcpy(d, t.bytes, kFrameLen);
    std::memcpy(d + 14 + 8, f.src.b, 16);
    std::memcpy(d + 54, &f.sport_be, 2);
    m->data_len = m->pkt_len = kFrameLen;
    m->port = 0;
  }
}

class Bench6 {
 public:
  explicit Bench6(uint32_t capacity6) {
    std::string why;
    std::string base = "/fulcrum-bench6-" + std::to_string(getpid()) + "-" + std::to_string(serial_++);
    tables_name_ = base + "-t";
    status_name_ = base + "-s";
    bool created;
    if (!abi::create_tables(tables_name_, &tables_, &created, &why) || !abi::create_status(status_name_, &status_, &created, &why)) {
      std::fprintf(stderr, "lb-bench: %s\n", why.c_str());
      std::exit(1);
    }
    dp::SharedOptions so;
    so.workers = 1;
    so.conntrack_entries = 4096;  // no IPv4 flows here
    so.conntrack_entries6 = capacity6;
    so.flood.breaker_rate = 0;  // as the IPv4 syn case: state created at full speed
    shared_ = dp::Shared::create(so, &why);
    if (!shared_) {
      std::fprintf(stderr, "lb-bench: %s\n", why.c_str());
      std::exit(1);
    }
    shared_->status = &abi::status_of(status_);
    dp::PortInfo client{"client", 0, kLbMac, htonl(0xC6120101), 24, false};
    client.has_addr6 = true;
    client.addr6 = addr6("2001:db8:1::1");
    client.prefix6_len = 64;
    shared_->add_port(client);
    dp::PortInfo backend{"backend", 1, {0x02, 0, 0, 0, 0x02, 0x01}, htonl(0xC6120201), 24, false};
    backend.has_addr6 = true;
    backend.addr6 = addr6("2001:db8:2::1");
    backend.prefix6_len = 64;
    shared_->add_port(backend);
    const abi::Ip6 router = addr6("2001:db8:1::fe");
    shared_->routes6.add(abi::Ip6{}, 0, 0, router);
    shared_->neighbours6.set(router, dp::NeighState::Static, kPeerMac, 0, 0);
    cp::TableSpec spec;
    cp::VipSpec v;
    v.family = abi::Family::Ipv6;
    v.addr6 = kVip6;
    v.port_be = htons(80);
    v.hash_key = abi::HashKey{0xBE9C4, 0x5EED};
    for (uint16_t b = 1; b <= 10; ++b) {
      cp::BackendSpec s{0, htons(80), b, 1, abi::BackendState::Active};
      s.family = abi::Family::Ipv6;
      s.addr6 = addr6("2001:db8:2::");
      s.addr6.b[15] = static_cast<uint8_t>(10 + b);
      v.backends.push_back(s);
      shared_->neighbours6.set(s.addr6, dp::NeighState::Static, {0x02, 0, 0, 0, 0x02, static_cast<uint8_t>(b)}, 1, 0);
    }
    spec.vips.push_back(v);
    shared_->tables.store(&abi::tables_of(tables_));
    abi::TablesWriter writer(abi::tables_of(tables_));
    if (std::string e = cp::publish_tables(writer, spec).error; !e.empty()) {
      std::fprintf(stderr, "lb-bench: IPv6 tables: %s\n", e.c_str());
      std::exit(1);
    }
    worker_ = std::make_unique<dp::Worker>(*shared_, 0, shared_->status->workers[0]);
    pool_ = rte_pktmbuf_pool_create(("bench6_pool" + std::to_string(serial_)).c_str(), 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                    SOCKET_ID_ANY);
    if (pool_ == nullptr) {
      std::fprintf(stderr, "lb-bench: mempool: %s\n", rte_strerror(rte_errno));
      std::exit(1);
    }
  }
  ~Bench6() {
    worker_.reset();
    shared_.reset();
    rte_mempool_free(pool_);
    shm_unlink(tables_name_.c_str());
    shm_unlink(status_name_.c_str());
  }

  dp::Worker& worker() { return *worker_; }
  rte_mempool* pool() { return pool_; }
  uint32_t capacity6() { return shared_->flows6().capacity(); }

  // Untimed: every flow's SYN once (one worker owns every flow).
  void establish(const std::vector<Flow6>& flows) {
    Template6 syn;
    syn.fill(dp::tcp_bit::SYN);
    std::vector<uint32_t> order(flows.size());
    for (uint32_t i = 0; i < flows.size(); ++i) order[i] = i;
    worker_->start();
    size_t pos = 0;
    rte_mbuf* pkts[kBurst];
    dp::BurstOutput out;
    for (size_t done = 0; done < flows.size(); done += kBurst) {
      generate6(pool_, pkts, syn, flows, order, pos);
      worker_->process_burst(pkts, kBurst, 1000, out);
      rte_pktmbuf_free_bulk(out.mbufs, out.count);
    }
    worker_->stop();
  }

  // Untimed: retires every entry (the sweep, with the clock past every timeout).
  void empty(uint32_t& now_ms) {
    worker_->start();
    now_ms += 2'000'000;
    uint32_t rounds = capacity6() / 512 + 4;
    for (uint32_t r = 0; r < rounds; ++r) worker_->maintain(now_ms, 0);
    worker_->stop();
  }

 private:
  static inline int serial_ = 0;
  std::string tables_name_, status_name_;
  abi::Mapping tables_, status_;
  std::unique_ptr<dp::Shared> shared_;
  std::unique_ptr<dp::Worker> worker_;
  rte_mempool* pool_ = nullptr;
};

// Counts the Tx verdicts of a burst: a row whose packets were dropped measures the drop
// path, not forwarding, and says so.
struct Forwarded {
  uint64_t tx = 0, all = 0;
  void add(const dp::BurstOutput& out) {
    for (uint16_t i = 0; i < out.count; ++i) tx += out.verdicts[i].kind == dp::Verdict::Kind::Tx;
    all += out.count;
  }
  void report(const char* name, uint32_t flows) const {
    if (all != 0 && tx * 100 < all * 99) {
      std::fprintf(stderr, "lb-bench: ipv6 %s, %u flows: only %.1f %% of the packets forwarded (the row measures drops)\n", name, flows,
                   100.0 * double(tx) / double(all));
    }
  }
};

}  // namespace

Result established6(uint32_t flows_n, double seconds) {
  Bench6 b(capacity_for(flows_n));
  auto flows = make_flows6(flows_n, 1);
  b.establish(flows);
  auto order = random_order(flows_n, 1u << 22, 7);
  Template6 t;
  t.fill(dp::tcp_bit::ACK);
  size_t pos = 0;
  rte_mbuf* pkts[kBurst];
  dp::BurstOutput out;
  Forwarded fwd;
  b.worker().start();
  for (int probe = 0; probe < 4; ++probe) {  // untimed: what the timed bursts will do
    generate6(b.pool(), pkts, t, flows, order, pos);
    b.worker().process_burst(pkts, kBurst, 2000, out);
    fwd.add(out);
    rte_pktmbuf_free_bulk(out.mbufs, out.count);
  }
  auto pc = timed(seconds, [&] {
    generate6(b.pool(), pkts, t, flows, order, pos);
    b.worker().process_burst(pkts, kBurst, 2000, out);
    rte_pktmbuf_free_bulk(out.mbufs, out.count);
    return kBurst;
  });
  b.worker().stop();
  fwd.report("established", flows_n);
  Result r = measure("established", flows_n, 1, pc);
  r.family = "ipv6";
  return r;
}

Result syn6(uint32_t flows_n, double seconds) {
  Bench6 b(capacity_for(flows_n));
  auto flows = make_flows6(flows_n, 2);
  std::vector<uint32_t> order(flows_n);
  for (uint32_t i = 0; i < flows_n; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(9));
  Template6 t;
  t.fill(dp::tcp_bit::SYN);
  rte_mbuf* pkts[kBurst];
  dp::BurstOutput out;
  Forwarded fwd;
  uint64_t packets = 0, cycles = 0;
  uint32_t now_ms = 1000;
  const uint64_t budget = static_cast<uint64_t>(seconds * double(rte_get_tsc_hz()));
  while (cycles < budget) {
    // One round: every flow's SYN once (each creates an entry), timed; then the table is
    // emptied, untimed.
    b.worker().start();
    size_t pos = 0;
    uint64_t start = rte_rdtsc();
    for (uint32_t done = 0; done + kBurst <= flows_n; done += kBurst) {
      generate6(b.pool(), pkts, t, flows, order, pos);
      b.worker().process_burst(pkts, kBurst, now_ms, out);
      if (done == 0) fwd.add(out);  // the first burst of each round (a branch, no loop, in the timing)
      rte_pktmbuf_free_bulk(out.mbufs, out.count);
      packets += kBurst;
    }
    cycles += rte_rdtsc() - start;
    b.worker().stop();
    b.empty(now_ms);
  }
  fwd.report("syn", flows_n);
  Result r = measure("syn", flows_n, 1, {packets, cycles});
  r.family = "ipv6";
  return r;
}

}  // namespace fulcrum::bench
