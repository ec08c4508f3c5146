// lb-bench dataplane: Mpps and cycles/packet of the real burst function on one core.
//
// Harness: each burst allocates 32 mbufs, writes a 60-byte frame (64 on the wire with the
// FCS) for the next flow of a precomputed random order, calls the function under test and
// frees the mbufs (there is no NIC: a Tx verdict ends in rte_pktmbuf_free_bulk, as a PMD's
// TX completion would). Cases:
//   baseline     the same harness, the function only swaps the MACs: the harness's cost
//   established  ACKs of F established nat flows, in random order
//   syn          SYNs of F new flows (the table is emptied, untimed, between rounds)
//   synproxy_syn          SYNs to a SYN-proxied VIP: each answered with a cookie, no state
//   synproxy_established  ACKs of F established connections made through the SYN proxy
//                         (sequence translation on every packet)
//   syn_<scheduler>       the syn case with the VIP's scheduler maglev_bounded, round_robin,
//                         weighted_round_robin, least_conn or fastest (docs/scheduling.md),
//                         over 10 backends whose load figures the main lcore's monitor
//                         refreshes between rounds; syn_limits: maglev with max_connections
//                         and max_new_conn_rate on every backend (never reached). Compare
//                         each with `syn` of the same run (the "x syn" column).
// for F = 1,000 and 1,000,000. Cycles from the TSC; subtract the baseline for the data
// plane's own cost. `established` and `syn` run for IPv6 too (dataplane_bench_ipv6.cpp:
// 74-byte frames to an IPv6 VIP over IPv6 backends); every row says its "family".
#include "tests/bench/dataplane_bench.h"
#include "tests/bench/dataplane_bench_parts.h"

#include <arpa/inet.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "controlplane/tables/table_builder.h"
#include "dataplane/abi/region.h"
#include "dataplane/core/checksum.h"
#include "dataplane/worker/backend_monitor.h"
#include "dataplane/worker/worker.h"

namespace fulcrum::bench {
namespace {

constexpr uint16_t kBurst = dp::kBurst;
constexpr uint32_t kVip = 0xC6120A0A;  // 198.18.10.10
const dp::MacBytes kLbMac{0x02, 0, 0, 0, 0x01, 0x01};
const dp::MacBytes kPeerMac{0x02, 0, 0, 0, 0x01, 0x02};

struct Flow {
  uint32_t src_be;
  uint16_t sport_be;
  uint16_t ip_csum;   // of this flow's IPv4 header (depends on the source only)
};

// The frame template: Ethernet, IPv4 (40 bytes total), TCP, 6 bytes of padding.
struct Template {
  uint8_t bytes[60];
  void fill(uint8_t tcp_flags) {
    std::memset(bytes, 0, sizeof bytes);
    std::memcpy(bytes, kLbMac.data(), 6);
    std::memcpy(bytes + 6, kPeerMac.data(), 6);
    bytes[12] = 0x08;
    uint8_t* ip = bytes + 14;
    ip[0] = 0x45;
    ip[3] = 40;
    ip[6] = 0x40;  // DF
    ip[8] = 64;
    ip[9] = 6;
    uint32_t dst = htonl(kVip);
    std::memcpy(ip + 16, &dst, 4);
    uint8_t* tcp = ip + 20;
    tcp[2] = 0;
    tcp[3] = 80;
    tcp[12] = 5 << 4;
    tcp[13] = tcp_flags;
    tcp[14] = 0xFF;
    tcp[15] = 0xFF;
  }
};

std::vector<Flow> make_flows(uint32_t count, uint32_t salt) {
  std::vector<Flow> flows(count);
  Template t;
  t.fill(0);
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t src = htonl(0x0A000000u + (salt << 20) + i / 50000);  // 10.x.y.z
    uint16_t port = htons(static_cast<uint16_t>(1024 + i % 50000));
    std::memcpy(t.bytes + 14 + 12, &src, 4);
    t.bytes[14 + 10] = t.bytes[14 + 11] = 0;
    uint16_t csum = dp::csum_finish(dp::csum_partial(t.bytes + 14, 20));
    flows[i] = Flow{src, port, csum};
  }
  return flows;
}

// Writes `n` frames for flows order[pos..] into freshly allocated mbufs.
inline void generate(rte_mempool* pool, rte_mbuf** pkts, const Template& t, const std::vector<Flow>& flows,
                     const std::vector<uint32_t>& order, size_t& pos) {
  if (rte_pktmbuf_alloc_bulk(pool, pkts, kBurst) != 0) std::abort();
  for (uint16_t i = 0; i < kBurst; ++i) {
    const Flow& f = flows[order[pos]];
    pos = pos + 1 == order.size() ? 0 : pos + 1;
    rte_mbuf* m = pkts[i];
    auto* d = rte_pktmbuf_mtod(m, uint8_t*);
    std::memcpy(d, t.bytes, 60);
    std::memcpy(d + 14 + 12, &f.src_be, 4);
    std::memcpy(d + 14 + 10, &f.ip_csum, 2);
    std::memcpy(d + 34, &f.sport_be, 2);
    m->data_len = m->pkt_len = 60;
    m->port = 0;
  }
}

// The VIP's scheduling for a case (the syn_<scheduler> cases).
struct Scheduling {
  abi::Scheduler scheduler = abi::Scheduler::Maglev;
  bool limits = false;   // max_connections and max_new_conn_rate on every backend, never reached
};

class Bench {
 public:
  Bench(uint32_t workers, uint32_t capacity, abi::Synproxy synproxy = abi::Synproxy::Off, Scheduling sched = {})
      : workers_(workers) {
    std::string why;
    std::string base = "/fulcrum-bench-" + std::to_string(getpid()) + "-" + std::to_string(serial_++);
    tables_name_ = base + "-t";
    status_name_ = base + "-s";
    bool created;
    if (!abi::create_tables(tables_name_, &tables_, &created, &why) || !abi::create_status(status_name_, &status_, &created, &why)) {
      std::fprintf(stderr, "lb-bench: %s\n", why.c_str());
      std::exit(1);
    }
    dp::SharedOptions so;
    so.workers = workers;
    so.conntrack_entries = capacity;
    // The SYN case measures creating state at full speed: the breaker (which would stop
    // creating it above 125,000 new flows/s) is off.
    so.flood.breaker_rate = 0;
    so.flood.synproxy = synproxy != abi::Synproxy::Off;
    shared_ = dp::Shared::create(so, &why);
    if (!shared_) {
      std::fprintf(stderr, "lb-bench: %s\n", why.c_str());
      std::exit(1);
    }
    shared_->status = &abi::status_of(status_);
    shared_->add_port(dp::PortInfo{"client", 0, kLbMac, htonl(0xC6120101), 24, false});
    shared_->add_port(dp::PortInfo{"backend", 1, {0x02, 0, 0, 0, 0x02, 0x01}, htonl(0xC6120201), 24, false});
    shared_->routes.add(0, 0, 0, htonl(0xC61201FE));
    shared_->neighbours.set(htonl(0xC61201FE), dp::NeighState::Static, kPeerMac, 0, 0);
    cp::TableSpec spec;
    cp::VipSpec v;
    v.addr_be = htonl(kVip);
    v.port_be = htons(80);
    v.hash_key = abi::HashKey{0xBE9C4, 0x5EED};
    v.synproxy = synproxy;
    v.scheduler = sched.scheduler;
    for (uint16_t b = 1; b <= 10; ++b) {
      uint32_t addr = htonl(0xC6120200u + 10 + b);
      v.backends.push_back({addr, htons(80), b, 1, abi::BackendState::Active});
      if (sched.limits) {
        v.backends.back().max_connections = 100'000'000;
        v.backends.back().max_new_conn_rate = 1'000'000'000;
        v.backends.back().new_conn_burst = 1'000'000'000;
      }
      shared_->neighbours.set(addr, dp::NeighState::Static, {0x02, 0, 0, 0, 0x02, static_cast<uint8_t>(b)}, 1, 0);
    }
    spec.vips.push_back(v);
    shared_->tables.store(&abi::tables_of(tables_));
    abi::TablesWriter writer(abi::tables_of(tables_));
    if (!cp::publish_tables(writer, spec).error.empty()) std::exit(1);
    for (uint32_t w = 0; w < workers; ++w) {
      workers_v_.push_back(std::make_unique<dp::Worker>(*shared_, w, shared_->status->workers[w]));
    }
    monitor_ = std::make_unique<dp::BackendMonitor>(*shared_->status, workers, shared_->status->workers[workers]);
    pool_ = rte_pktmbuf_pool_create(("bench_pool" + std::to_string(serial_)).c_str(), 8191 * workers, 256, 0,
                                    RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (pool_ == nullptr) {
      std::fprintf(stderr, "lb-bench: mempool: %s\n", rte_strerror(rte_errno));
      std::exit(1);
    }
  }
  ~Bench() {
    workers_v_.clear();
    shared_.reset();
    rte_mempool_free(pool_);
    shm_unlink(tables_name_.c_str());
    shm_unlink(status_name_.c_str());
  }

  dp::Worker& worker(uint32_t w) { return *workers_v_[w]; }
  // Untimed: the main lcore's load figures, as it refreshes them every millisecond.
  void update_loads() { monitor_->update_now(shared_->tables.load(), abi::monotonic_ns()); }
  dp::Shared& shared() { return *shared_; }
  rte_mempool* pool() { return pool_; }
  uint32_t workers() const { return workers_; }

  // Untimed: inserts every flow (SYN, then the backend's SYN-ACK is not needed: the
  // ACK that follows finds the entry either way), each on its owning worker.
  void establish(const std::vector<Flow>& flows) {
    Template syn;
    syn.fill(dp::tcp_bit::SYN);
    for (uint32_t w = 0; w < workers_; ++w) worker(w).start();
    std::vector<std::vector<uint32_t>> by_owner(workers_);
    for (uint32_t i = 0; i < flows.size(); ++i) {
      dp::FlowKey k{flows[i].src_be, htonl(kVip), flows[i].sport_be, htons(80)};
      by_owner[shared_->flows().owner_of(shared_->flows().hash(k))].push_back(i);
    }
    for (uint32_t w = 0; w < workers_; ++w) {
      size_t pos = 0;
      rte_mbuf* pkts[kBurst];
      dp::BurstOutput out;
      for (size_t done = 0; done < by_owner[w].size(); done += kBurst) {
        generate(pool_, pkts, syn, flows, by_owner[w], pos);
        worker(w).process_burst(pkts, kBurst, 1000, out);
        rte_pktmbuf_free_bulk(pkts, kBurst);
      }
    }
    for (uint32_t w = 0; w < workers_; ++w) worker(w).stop();
  }

  // Untimed: the SYN proxy's handshake for every flow, one packet at a time on its owning
  // worker: SYN (cookie), the client's ACK (the entry, the SYN to the backend), the
  // backend's SYN-ACK (the delta).
  void establish_proxied(const std::vector<Flow>& flows) {
    for (uint32_t w = 0; w < workers_; ++w) worker(w).start();
    Template syn, ack;
    syn.fill(dp::tcp_bit::SYN);
    ack.fill(dp::tcp_bit::ACK);
    dp::BurstOutput out;
    for (uint32_t i = 0; i < flows.size(); ++i) {
      const Flow& f = flows[i];
      dp::FlowKey k{f.src_be, htonl(kVip), f.sport_be, htons(80)};
      dp::Worker& w = worker(shared_->flows().owner_of(shared_->flows().hash(k)));
      auto one = [&](const uint8_t* frame, uint16_t port) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool_);
        std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frame, 60);
        m->data_len = m->pkt_len = 60;
        m->port = port;
        w.process_burst(&m, 1, 1000, out);
        uint32_t seq;
        std::memcpy(&seq, rte_pktmbuf_mtod(out.mbufs[0], uint8_t*) + 38, 4);
        uint32_t dst;
        std::memcpy(&dst, rte_pktmbuf_mtod(out.mbufs[0], uint8_t*) + 30, 4);
        rte_pktmbuf_free(out.mbufs[0]);
        return std::pair{ntohl(seq), dst};
      };
      uint8_t frame[60];
      std::memcpy(frame, syn.bytes, 60);
      std::memcpy(frame + 14 + 12, &f.src_be, 4);
      std::memcpy(frame + 14 + 10, &f.ip_csum, 2);
      std::memcpy(frame + 34, &f.sport_be, 2);
      const uint32_t cookie = one(frame, 0).first;
      std::memcpy(frame, ack.bytes, 60);
      std::memcpy(frame + 14 + 12, &f.src_be, 4);
      std::memcpy(frame + 14 + 10, &f.ip_csum, 2);
      std::memcpy(frame + 34, &f.sport_be, 2);
      uint32_t seq = htonl(1), ack_no = htonl(cookie + 1);
      std::memcpy(frame + 38, &seq, 4);
      std::memcpy(frame + 42, &ack_no, 4);
      const uint32_t backend = one(frame, 0).second;
      // The backend's SYN-ACK: from backend:80 to the client (nat), on the backend port
      // (its MAC 02:00:00:00:02:01), with its own IPv4 checksum.
      std::memcpy(frame, ack.bytes, 60);
      frame[4] = 0x02;
      frame[5] = 0x01;
      std::memcpy(frame + 14 + 12, &backend, 4);
      std::memcpy(frame + 14 + 16, &f.src_be, 4);
      frame[34] = 0;
      frame[35] = 80;
      std::memcpy(frame + 36, &f.sport_be, 2);
      uint32_t bseq = htonl(777777), back = htonl(1);
      std::memcpy(frame + 38, &bseq, 4);
      std::memcpy(frame + 42, &back, 4);
      frame[47] = dp::tcp_bit::SYN | dp::tcp_bit::ACK;
      frame[14 + 10] = frame[14 + 11] = 0;
      uint16_t csum = dp::csum_finish(dp::csum_partial(frame + 14, 20));
      std::memcpy(frame + 14 + 10, &csum, 2);
      one(frame, 1);
    }
    for (uint32_t w = 0; w < workers_; ++w) worker(w).stop();
  }

  // Untimed: retires every entry (the sweep, with the clock past every timeout).
  void empty(uint32_t& now_ms) {
    for (uint32_t w = 0; w < workers_; ++w) worker(w).start();
    now_ms += 2'000'000;
    uint32_t rounds = shared_->flows().capacity() / workers_ / 512 + 4;
    for (uint32_t r = 0; r < rounds; ++r) {
      for (uint32_t w = 0; w < workers_; ++w) worker(w).maintain(now_ms, 0);
    }
    for (uint32_t w = 0; w < workers_; ++w) worker(w).stop();
  }

 private:
  static inline int serial_ = 0;
  uint32_t workers_;
  std::string tables_name_, status_name_;
  abi::Mapping tables_, status_;
  std::unique_ptr<dp::Shared> shared_;
  std::vector<std::unique_ptr<dp::Worker>> workers_v_;
  std::unique_ptr<dp::BackendMonitor> monitor_;
  rte_mempool* pool_ = nullptr;
};

Result baseline(uint32_t flows_n, double seconds) {
  Bench b(1, 4096);
  auto flows = make_flows(flows_n, 1);
  auto order = random_order(flows_n, 1u << 22, 7);
  Template t;
  t.fill(dp::tcp_bit::ACK);
  size_t pos = 0;
  rte_mbuf* pkts[kBurst];
  auto pc = timed(seconds, [&] {
    generate(b.pool(), pkts, t, flows, order, pos);
    for (uint16_t i = 0; i < kBurst; ++i) {  // the trivial forward: swap the MACs
      auto* d = rte_pktmbuf_mtod(pkts[i], uint8_t*);
      uint8_t tmp[6];
      std::memcpy(tmp, d, 6);
      std::memcpy(d, d + 6, 6);
      std::memcpy(d + 6, tmp, 6);
    }
    rte_pktmbuf_free_bulk(pkts, kBurst);
    return kBurst;
  });
  return measure("baseline", flows_n, 1, pc);
}

// Packets of `t`'s kind for flows in random order, on worker 0, for `seconds`.
Result steady(const char* name, Bench& b, const std::vector<Flow>& flows, uint8_t tcp_flags, uint32_t seed, double seconds) {
  auto order = random_order(static_cast<uint32_t>(flows.size()), 1u << 22, seed);
  Template t;
  t.fill(tcp_flags);
  size_t pos = 0;
  rte_mbuf* pkts[kBurst];
  dp::BurstOutput out;
  b.worker(0).start();
  auto pc = timed(seconds, [&] {
    generate(b.pool(), pkts, t, flows, order, pos);
    b.worker(0).process_burst(pkts, kBurst, 2000, out);
    rte_pktmbuf_free_bulk(out.mbufs, kBurst);
    return kBurst;
  });
  b.worker(0).stop();
  return measure(name, static_cast<uint32_t>(flows.size()), 1, pc);
}

Result established(uint32_t flows_n, double seconds) {
  Bench b(1, capacity_for(flows_n));
  auto flows = make_flows(flows_n, 1);
  b.establish(flows);
  return steady("established", b, flows, dp::tcp_bit::ACK, 7, seconds);
}

Result syn(uint32_t flows_n, double seconds, const char* name = "syn", Scheduling sched = {}) {
  Bench b(1, capacity_for(flows_n), abi::Synproxy::Off, sched);
  auto flows = make_flows(flows_n, 2);
  std::vector<uint32_t> order(flows_n);
  for (uint32_t i = 0; i < flows_n; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(9));
  Template t;
  t.fill(dp::tcp_bit::SYN);
  rte_mbuf* pkts[kBurst];
  dp::BurstOutput out;
  uint64_t packets = 0, cycles = 0;
  uint32_t now_ms = 1000;
  const uint64_t budget = static_cast<uint64_t>(seconds * double(rte_get_tsc_hz()));
  while (cycles < budget) {
    // One round: every flow's SYN once (each creates an entry), timed; then the table is
    // emptied, untimed.
    b.update_loads();
    b.worker(0).start();
    size_t pos = 0;
    uint64_t start = rte_rdtsc();
    for (uint32_t done = 0; done + kBurst <= flows_n; done += kBurst) {
      generate(b.pool(), pkts, t, flows, order, pos);
      b.worker(0).process_burst(pkts, kBurst, now_ms, out);
      rte_pktmbuf_free_bulk(out.mbufs, kBurst);
      packets += kBurst;
    }
    cycles += rte_rdtsc() - start;
    b.worker(0).stop();
    b.empty(now_ms);
  }
  return measure(name, flows_n, 1, {packets, cycles});
}

void syn_schedulers(uint32_t flows, double seconds, const std::string& only, std::vector<Result>& results) {
  const struct {
    const char* name;
    Scheduling sched;
  } cases[] = {
      {"syn_maglev_bounded", {abi::Scheduler::MaglevBounded, false}},
      {"syn_round_robin", {abi::Scheduler::RoundRobin, false}},
      {"syn_weighted_rr", {abi::Scheduler::WeightedRoundRobin, false}},
      {"syn_least_conn", {abi::Scheduler::LeastConn, false}},
      {"syn_fastest", {abi::Scheduler::Fastest, false}},
      {"syn_limits", {abi::Scheduler::Maglev, true}},
  };
  for (const auto& c : cases) {
    if (only.empty() || only == c.name || only == "syn_schedulers") results.push_back(syn(flows, seconds, c.name, c.sched));
  }
}

Result synproxy_syn(uint32_t flows_n, double seconds) {
  Bench b(1, capacity_for(flows_n), abi::Synproxy::On);
  return steady("synproxy_syn", b, make_flows(flows_n, 4), dp::tcp_bit::SYN, 13, seconds);
}

Result synproxy_established(uint32_t flows_n, double seconds) {
  Bench b(1, capacity_for(flows_n), abi::Synproxy::On);
  auto flows = make_flows(flows_n, 5);
  b.establish_proxied(flows);
  return steady("synproxy_established", b, flows, dp::tcp_bit::ACK, 7, seconds);
}

// Established flows with `workers` workers on their own lcores, sharing one table: every
// worker sends packets of all flows, so most lookups hit entries another worker owns.
struct ScalingArgs {
  Bench* bench;
  uint32_t w;
  const std::vector<Flow>* flows;
  double seconds;
  std::pair<uint64_t, uint64_t> result;
};

int scaling_worker(void* arg) {
  auto& a = *static_cast<ScalingArgs*>(arg);
  auto order = random_order(static_cast<uint32_t>(a.flows->size()), 1u << 22, 11 + a.w);
  Template t;
  t.fill(dp::tcp_bit::ACK);
  size_t pos = 0;
  rte_mbuf* pkts[kBurst];
  dp::BurstOutput out;
  a.bench->worker(a.w).start();
  a.result = timed(a.seconds, [&] {
    generate(a.bench->pool(), pkts, t, *a.flows, order, pos);
    a.bench->worker(a.w).process_burst(pkts, kBurst, 2000, out);
    rte_pktmbuf_free_bulk(out.mbufs, kBurst);
    return kBurst;
  });
  a.bench->worker(a.w).stop();
  return 0;
}

Result scaled(uint32_t flows_n, uint32_t workers, double seconds) {
  Bench b(workers, capacity_for(flows_n));
  auto flows = make_flows(flows_n, 3);
  b.establish(flows);
  std::vector<ScalingArgs> args(workers);
  unsigned lcore = rte_get_next_lcore(-1, 1, 0);
  std::vector<unsigned> used;
  for (uint32_t w = 0; w < workers; ++w) {
    args[w] = ScalingArgs{&b, w, &flows, seconds, {}};
    if (w == 0) continue;  // worker 0 runs on the main lcore below
    rte_eal_remote_launch(scaling_worker, &args[w], lcore);
    used.push_back(lcore);
    lcore = rte_get_next_lcore(lcore, 1, 0);
  }
  scaling_worker(&args[0]);
  rte_eal_mp_wait_lcore();
  uint64_t packets = 0, cycles = 0;
  for (auto& a : args) {
    packets += a.result.first;
    cycles = std::max(cycles, a.result.second);
  }
  Result r = measure("established", flows_n, workers, {packets, cycles});
  r.cycles_per_packet *= workers;  // per packet per core
  return r;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

bool start_eal(const DataplaneBenchOptions& o, uint32_t lcores) {
  std::string cpus;
  int first = o.cpu >= 0 ? o.cpu : sched_getcpu();
  int ncpu = static_cast<int>(std::thread::hardware_concurrency());
  std::string lcore_map;
  for (uint32_t l = 0; l < lcores; ++l) {
    lcore_map += (l ? "," : "") + std::to_string(l) + "@" + std::to_string((first + static_cast<int>(l)) % ncpu);
  }
  std::vector<std::string> args = {"lb-bench", "--lcores", lcore_map, "--no-pci", "--no-telemetry",
                                   "--file-prefix", "fulcrum-bench-" + std::to_string(getpid()), "--log-level", "lib.eal:error"};
  if (!o.hugepages) args.insert(args.end(), {"--no-huge", "-m", "2560", "--no-shconf"});
  else args.insert(args.end(), {"--in-memory"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    std::fprintf(stderr, "lb-bench: EAL init failed: %s\n", rte_strerror(rte_errno));
    return false;
  }
  return true;
}

}  // namespace

int run_dataplane(const DataplaneBenchOptions& o, std::ostream& out) {
  if (!start_eal(o, o.scaling ? 2 : 1)) return 1;
  std::vector<Result> results;
  std::vector<uint32_t> flow_counts = o.flows != 0 ? std::vector<uint32_t>{o.flows} : std::vector<uint32_t>{1000u, 1000000u};
  for (uint32_t flows : flow_counts) {
    const bool v4 = o.family != "ipv6", v6 = o.family != "ipv4";
    if (o.only.empty() || o.only == "baseline") results.push_back(baseline(flows, o.seconds));
    if ((o.only.empty() || o.only == "established") && v4) results.push_back(established(flows, o.seconds));
    if ((o.only.empty() || o.only == "established") && v6) results.push_back(established6(flows, o.seconds));
    if ((o.only.empty() || o.only == "syn" || o.only == "syn_schedulers") && v4) results.push_back(syn(flows, o.seconds));
    if ((o.only.empty() || o.only == "syn") && v6) results.push_back(syn6(flows, o.seconds));
    if (!v4) continue;  // the other cases are IPv4 only
    syn_schedulers(flows, o.seconds, o.only, results);
    if (o.only.empty() || o.only == "synproxy_syn") results.push_back(synproxy_syn(flows, o.seconds));
    if (o.only.empty() || o.only == "synproxy_established") results.push_back(synproxy_established(flows, o.seconds));
  }
  std::vector<Result> scaling;
  if (o.scaling) {
    for (uint32_t workers : {1u, 2u}) scaling.push_back(scaled(1000000, workers, o.seconds));
  }
  const double ghz = double(rte_get_tsc_hz()) / 1e9;
  char line[256];
  if (o.json) {
    out << "{\"cpu\": \"" << cpu_model() << "\", \"ghz\": " << ghz << ", \"hugepages\": " << (o.hugepages ? "true" : "false")
        << ", \"results\": [\n";
    for (size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      std::snprintf(line, sizeof line,
                    "  {\"case\": \"%s\", \"family\": \"%s\", \"flows\": %u, \"mpps\": %.3f, \"cycles_per_packet\": %.1f}%s\n",
                    r.name, r.family, r.flows, r.mpps, r.cycles_per_packet, i + 1 < results.size() ? "," : "");
      out << line;
    }
    out << "]";
    if (!scaling.empty()) {
      out << ", \"scaling\": [\n";
      for (size_t i = 0; i < scaling.size(); ++i) {
        std::snprintf(line, sizeof line,
                      "  {\"workers\": %u, \"family\": \"%s\", \"flows\": %u, \"mpps\": %.3f, \"cycles_per_packet_per_core\": %.1f}%s\n",
                      scaling[i].workers, scaling[i].family, scaling[i].flows, scaling[i].mpps, scaling[i].cycles_per_packet,
                      i + 1 < scaling.size() ? "," : "");
        out << line;
      }
      out << "]";
    }
    out << "}\n";
  } else {
    out << "CPU: " << cpu_model() << ", TSC " << ghz << " GHz, " << (o.hugepages ? "hugepages" : "no hugepages (4 KiB pages)") << "\n";
    std::snprintf(line, sizeof line, "%-21s %6s %10s %10s %18s %22s %8s\n", "case", "family", "flows", "Mpps", "cycles/packet",
                  "minus baseline", "x syn");
    out << line;
    for (const Result& r : results) {
      double base = 0, syn_cycles = 0;
      for (const Result& b : results) {
        if (std::strcmp(b.name, "baseline") == 0 && b.flows == r.flows) base = b.cycles_per_packet;
        // The one baseline (IPv4 frames) serves both families: the harness's cost barely
        // depends on the frame's 60 or 74 bytes.
        if (std::strcmp(b.name, "syn") == 0 && b.flows == r.flows && std::strcmp(b.family, r.family) == 0) syn_cycles = b.cycles_per_packet;
      }
      // The syn_* cases against the maglev syn case of the same run: a ratio survives a
      // shared machine's noise better than absolute cycles.
      char ratio[16] = "";
      if (std::strncmp(r.name, "syn", 3) == 0 && syn_cycles > 0) std::snprintf(ratio, sizeof ratio, "%.2f", r.cycles_per_packet / syn_cycles);
      std::snprintf(line, sizeof line, "%-21s %6s %10u %10.2f %18.1f %22.1f %8s\n", r.name, r.family, r.flows, r.mpps,
                    r.cycles_per_packet, r.cycles_per_packet - base, ratio);
      out << line;
    }
    for (const Result& r : scaling) {
      std::snprintf(line, sizeof line, "scaling: %u worker(s), %u established flows: %.2f Mpps (%.1f cycles/packet per core)\n",
                    r.workers, r.flows, r.mpps, r.cycles_per_packet);
      out << line;
    }
  }
  rte_eal_cleanup();
  std::error_code ignored;
  std::filesystem::remove_all("/var/run/dpdk/fulcrum-bench-" + std::to_string(getpid()), ignored);
  return 0;
}

}  // namespace fulcrum::bench
