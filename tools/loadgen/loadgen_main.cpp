// lb-loadgen: clients and backends for lb-dataplane (or a plain forwarder such as testpmd)
// over two net_memif ports, on one pinned core. See engine.h for the phases and
// tools/loadgen/memif_rig.sh for the rig that starts both sides.
//
// It is the memif *server* of both links (it creates the sockets; the balancer connects as
// a zero-copy client, so the copies on each link are the generator's, not the balancer's).
// For Fulcrum it also plays the control plane: it publishes one nat VIP with its backends
// into the tables region the data plane attaches to (a real control plane would
// health-check backends that exist only inside this process).
//
// Output: one JSON object on stdout. Exit status 1 if any frame failed a check, a flow
// could not be opened, or --conversations were asked for and not all completed.
#include <arpa/inet.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <thread>

#include "controlplane/tables/table_builder.h"
#include "dataplane/abi/publish.h"
#include "dataplane/abi/region.h"
#include "tools/loadgen/engine.h"
#include "tools/loadgen/flow_order.h"

namespace fulcrum::loadgen {
namespace {

struct Options {
  std::string client_socket, backend_socket;
  std::string tables = "/fulcrum-loadgen-tables", status = "/fulcrum-loadgen-status";
  std::string peer = "fulcrum";   // fulcrum | forwarder | forwarder-mac
  std::string cases = "established,syn,connections";
  std::string dist = "uniform,zipf";
  int cpu = 0;
  uint32_t flows = 1000;
  double zipf_s = 0.99;
  double seconds = 2;
  uint32_t syn_flows = 1000000;
  uint64_t conversations = 0;      // connections(): stop after this many (0: timed)
  uint32_t slots = 256;
  uint32_t window = 512;
  bool hugepages = false;
  double wait_s = 60;
  double linger_s = 0;   // after the results: wait this long for the peer to disconnect
};

std::string mac_str(const Mac& m) {
  char b[18];
  std::snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

bool start_eal(const Options& o, const Rig& rig) {
  std::vector<std::string> args = {"lb-loadgen", "--lcores", "0@" + std::to_string(o.cpu), "--no-pci", "--no-telemetry",
                                   "--file-prefix", "fulcrum-loadgen-" + std::to_string(getpid()), "--log-level", "*:warning"};
  if (o.hugepages) args.insert(args.end(), {"--in-memory", "-m", "320"});
  else args.insert(args.end(), {"--no-huge", "-m", "1024", "--no-shconf"});
  args.push_back("--vdev=net_memif0,role=server,id=0,socket=" + o.client_socket + ",socket-abstract=no,mac=" + mac_str(rig.lg_client_mac));
  args.push_back("--vdev=net_memif1,role=server,id=0,socket=" + o.backend_socket + ",socket-abstract=no,mac=" + mac_str(rig.lg_backend_mac));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    std::fprintf(stderr, "lb-loadgen: EAL init failed: %s\n", rte_strerror(rte_errno));
    return false;
  }
  return true;
}

bool start_port(uint16_t port, rte_mempool* pool) {
  rte_eth_conf conf{};
  uint16_t rxd = 1024, txd = 1024;
  if (rte_eth_dev_configure(port, 1, 1, &conf) != 0 || rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd) != 0 ||
      rte_eth_rx_queue_setup(port, 0, rxd, rte_eth_dev_socket_id(port), nullptr, pool) != 0 ||
      rte_eth_tx_queue_setup(port, 0, txd, rte_eth_dev_socket_id(port), nullptr) != 0 || rte_eth_dev_start(port) != 0) {
    std::fprintf(stderr, "lb-loadgen: cannot start port %u: %s\n", port, rte_strerror(rte_errno));
    return false;
  }
  return true;
}

bool wait_link(uint16_t port, double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The VIP of the rig: nat, its backends on the backend port, Maglev's default size.
bool publish(const Options& o, const Rig& rig, abi::Mapping* tables, uint64_t* generation) {
  std::string error;
  bool created = false;
  if (!abi::create_tables(o.tables, tables, &created, &error)) {
    std::fprintf(stderr, "lb-loadgen: %s\n", error.c_str());
    return false;
  }
  cp::TableSpec spec;
  cp::VipSpec v;
  v.addr_be = htonl(rig.vip);
  v.port_be = htons(rig.vip_port);
  v.hash_key = abi::HashKey{0x10AD6E4, 0x5EED};
  for (uint16_t b = 0; b < rig.backends; ++b) {
    v.backends.push_back({htonl(rig.first_backend + b), htons(rig.backend_port), static_cast<uint16_t>(b + 1), 1,
                          abi::BackendState::Active});
  }
  spec.vips.push_back(v);
  abi::TablesWriter writer(abi::tables_of(*tables));
  cp::PublishOutcome out = cp::publish_tables(writer, spec);
  if (!out.error.empty()) {
    std::fprintf(stderr, "lb-loadgen: publishing the tables: %s\n", out.error.c_str());
    return false;
  }
  *generation = out.generation;
  return true;
}

// The data plane's workers' counters, summed: busy cycles (status.h), packets, drops.
struct LbCounters {
  uint64_t busy = 0, rx = 0, drops = 0;
};
LbCounters read_lb(const abi::Mapping& status) {
  LbCounters c;
  if (!status.valid()) return c;
  const abi::StatusRegion& s = abi::status_of(status);
  const uint32_t n = std::min<uint32_t>(s.header.worker_count.load(), abi::kMaxWorkers);
  for (uint32_t w = 0; w < n; ++w) {
    const abi::WorkerStatus& ws = s.workers[w];
    c.busy += ws.busy_cycles.get();
    c.rx += ws.counters[static_cast<size_t>(abi::WorkerCounter::RxPackets)].get();
    for (const abi::Counter& d : ws.drops) c.drops += d.get();
  }
  return c;
}

// Waits until the data plane runs and its workers have loaded `generation`.
bool wait_dataplane(const Options& o, uint64_t generation, abi::Mapping* status) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.wait_s);
  std::string error;
  while (std::chrono::steady_clock::now() < until) {
    if (status->valid() || abi::open_status(o.status, abi::Access::ReadOnly, status, &error)) {
      const abi::StatusRegion& s = abi::status_of(*status);
      if (s.header.worker_count.load() > 1 && s.workers[0].online.load() &&
          s.workers[0].seen_generation.load() >= generation) {
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::fprintf(stderr, "lb-loadgen: the data plane did not load the tables within %.0f s (status %s: %s)\n", o.wait_s,
               o.status.c_str(), error.c_str());
  return false;
}

bool has(const std::string& list, const std::string& item) {
  std::stringstream ss(list);
  std::string x;
  while (std::getline(ss, x, ',')) {
    if (x == item) return true;
  }
  return false;
}

int run(const Options& o) {
  Rig rig;
  const bool fulcrum = o.peer == "fulcrum";
  abi::Mapping tables, status;
  uint64_t generation = 0;
  if (fulcrum && !publish(o, rig, &tables, &generation)) return 2;
  if (!start_eal(o, rig)) return 2;
  rte_mempool* pool = rte_pktmbuf_pool_create("loadgen", 65535, 512, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  uint16_t pc = 0, pb = 0;
  if (pool == nullptr || rte_eth_dev_get_port_by_name("net_memif0", &pc) != 0 ||
      rte_eth_dev_get_port_by_name("net_memif1", &pb) != 0 || !start_port(pc, pool) || !start_port(pb, pool)) {
    std::fprintf(stderr, "lb-loadgen: setting up the memif ports failed\n");
    return 2;
  }
  std::fprintf(stderr, "lb-loadgen: memif servers on %s and %s, waiting for the peer\n", o.client_socket.c_str(),
               o.backend_socket.c_str());
  if (!wait_link(pc, o.wait_s) || !wait_link(pb, o.wait_s)) {
    std::fprintf(stderr, "lb-loadgen: no peer connected to the memif sockets within %.0f s\n", o.wait_s);
    return 2;
  }
  if (fulcrum && !wait_dataplane(o, generation, &status)) return 2;

  EngineOptions eo;
  eo.rig = rig;
  eo.client_port = pc;
  eo.backend_port = pb;
  eo.pool = pool;
  eo.forwarder = !fulcrum;
  eo.slots = o.slots;
  eo.window = o.window;
  Engine engine(eo);
  LbCounters before;
  struct Timed {
    double lb_cycles = 0, lb_busy = 0;
    uint64_t lb_drops = 0;
  } timed;
  uint64_t timed_start = 0;
  engine.on_timed = [&](const std::string&, bool begin) {
    if (begin) {
      before = read_lb(status);
      timed_start = rte_rdtsc();
      return;
    }
    LbCounters after = read_lb(status);
    const uint64_t rx = after.rx - before.rx;
    timed.lb_cycles = rx ? double(after.busy - before.busy) / double(rx) : 0;
    timed.lb_busy = double(after.busy - before.busy) / double(rte_rdtsc() - timed_start);
    timed.lb_drops = after.drops - before.drops;
  };

  std::ostringstream js;
  char buf[512];
  const double ghz = double(rte_get_tsc_hz()) / 1e9;
  std::snprintf(buf, sizeof buf, "{\"peer\": \"%s\", \"flows\": %u, \"tsc_ghz\": %.3f, \"cpu\": %d, \"cases\": [", o.peer.c_str(),
                o.flows, ghz, o.cpu);
  js << buf;
  bool first = true, ok = true;
  auto emit = [&](const PhaseResult& r, const char* dist) {
    const double loss = r.sent ? double(r.sent - std::min(r.sent, r.received)) / double(r.sent) : 0;
    std::snprintf(buf, sizeof buf,
                  "%s\n  {\"case\": \"%s\", \"dist\": \"%s\", \"seconds\": %.3f, \"mpps\": %.3f, \"per_second\": %.0f, "
                  "\"sent\": %lu, \"received\": %lu, \"loss\": %.6f, \"conversations\": %lu, \"stalled\": %lu, "
                  "\"out_of_phase\": %lu, \"p50_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, \"lb_cycles_per_packet\": %.1f, "
                  "\"lb_busy\": %.3f, \"lb_drops\": %lu}",
                  first ? "" : ",", r.name.c_str(), dist, r.seconds, r.mpps, r.per_second, r.sent, r.received, loss,
                  r.conversations, r.stalled, r.out_of_phase, r.p50_us, r.p99_us, r.p999_us, timed.lb_cycles, timed.lb_busy, timed.lb_drops);
    js << buf;
    first = false;
    std::fprintf(stderr, "lb-loadgen: %-12s %-8s %7.3f Mpps %9.0f /s  loss %.4f%%  p50 %.1f us  p99 %.1f us  LB %.1f cycles/packet (busy %.0f%%)\n",
                 r.name.c_str(), dist, r.mpps, r.per_second, 100 * loss, r.p50_us, r.p99_us, timed.lb_cycles, 100 * timed.lb_busy);
    timed = Timed{};
  };
  const uint32_t order_len = 1u << 22;
  if (!fulcrum) {
    for (Dist d : {Dist::Uniform, Dist::Zipf}) {
      if (!has(o.dist, name_of(d))) continue;
      emit(engine.forward(flow_order(o.flows, d, o.zipf_s, order_len, 7), o.flows, o.seconds), name_of(d));
    }
  } else {
    const bool need_open = has(o.cases, "established");
    if (need_open) {
      PhaseResult r = engine.open(o.flows);
      const uint32_t opened = engine.flows_with_backend();
      std::fprintf(stderr, "lb-loadgen: opened %u of %u flows in %.2f s (%.0f /s, %lu restarted)\n", opened, o.flows,
                   r.seconds, r.per_second, r.stalled);
      if (opened != o.flows) ok = false;
    }
    for (Dist d : {Dist::Uniform, Dist::Zipf}) {
      if (!need_open || !has(o.dist, name_of(d))) continue;
      emit(engine.established(flow_order(o.flows, d, o.zipf_s, order_len, 7), o.flows, o.seconds), name_of(d));
    }
    if (has(o.cases, "syn")) emit(engine.syn(o.syn_flows, o.seconds), "new");
    if (has(o.cases, "connections")) {
      PhaseResult r = engine.connections(o.conversations ? 60 : o.seconds, o.conversations ? o.conversations : ~0ull);
      if (o.conversations && r.conversations != o.conversations) {
        std::fprintf(stderr, "lb-loadgen: %lu of %lu conversations completed\n", r.conversations, o.conversations);
        ok = false;
      }
      emit(r, "new");
    }
  }
  js << "\n], \"bad\": {";
  for (size_t b = 1; b < static_cast<size_t>(Bad::kCount); ++b) {
    js << (b > 1 ? ", " : "") << "\"" << kBadNames[b] << "\": " << engine.bad()[b];
  }
  js << "}, \"bad_total\": " << engine.bad_total() << ", \"other_frames\": " << engine.other_frames() << "}\n";
  std::fputs(js.str().c_str(), stdout);
  if (engine.bad_total() != 0) {
    std::fprintf(stderr, "lb-loadgen: %lu frames failed their checks (see \"bad\")\n", engine.bad_total());
    ok = false;
  }
  // The peer leaves first: a zero-copy memif client whose server goes away under traffic
  // may crash on its way out (testpmd does), losing its statistics.
  std::fflush(stdout);
  std::fprintf(stderr, "lb-loadgen: done\n");
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.linger_s);
  while (std::chrono::steady_clock::now() < until) {
    rte_eth_link la{}, lb{};
    rte_eth_link_get_nowait(pc, &la);
    rte_eth_link_get_nowait(pb, &lb);
    if (la.link_status == RTE_ETH_LINK_DOWN && lb.link_status == RTE_ETH_LINK_DOWN) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  rte_eth_dev_stop(pc);
  rte_eth_dev_stop(pb);
  rte_eth_dev_close(pc);
  rte_eth_dev_close(pb);
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace fulcrum::loadgen

int main(int argc, char** argv) {
  CLI::App app{"lb-loadgen: TCP clients and backends for lb-dataplane over memif, checking every frame"};
  fulcrum::loadgen::Options o;
  app.add_option("--client-socket", o.client_socket, "memif socket of the client-side link")->required();
  app.add_option("--backend-socket", o.backend_socket, "memif socket of the backend-side link")->required();
  app.add_option("--tables", o.tables, "tables region to publish the VIP into (the data plane's shm_tables)");
  app.add_option("--status", o.status, "the data plane's status region (shm_status)");
  app.add_option("--peer", o.peer, "fulcrum, or forwarder / forwarder-mac (testpmd io / mac mode)")
      ->check(CLI::IsMember({"fulcrum", "forwarder", "forwarder-mac"}));
  app.add_option("--cases", o.cases, "comma-separated: established, syn, connections");
  app.add_option("--dist", o.dist, "flow choice of the established case: uniform, zipf or both");
  app.add_option("--zipf-s", o.zipf_s, "Zipf exponent")->check(CLI::Range(0.1, 3.0));
  app.add_option("--cpu", o.cpu, "CPU to run on");
  app.add_option("--flows", o.flows, "established flows")->check(CLI::Range(32u, 16u << 20));
  app.add_option("--seconds", o.seconds, "per timed case")->check(CLI::Range(0.05, 60.0));
  app.add_option("--syn-flows", o.syn_flows, "new flows the syn case may create at most")->check(CLI::Range(1u, 1u << 26));
  app.add_option("--conversations", o.conversations, "connections case: run exactly this many (checked), not timed");
  app.add_option("--slots", o.slots, "concurrent conversations (power of two)")
      ->check([](const std::string& s) { unsigned v = std::stoul(s); return v && (v & (v - 1)) == 0 ? "" : "must be a power of two"; });
  app.add_option("--window", o.window, "throughput cases: frames in flight per direction")->check(CLI::Range(32u, 4096u));
  app.add_flag("--hugepages", o.hugepages, "EAL on hugepages (--in-memory); default --no-huge");
  app.add_option("--wait", o.wait_s, "seconds to wait for the peer and its tables");
  app.add_option("--linger", o.linger_s, "after printing the results, wait up to this long for the peer to disconnect");
  CLI11_PARSE(app, argc, argv);
  int rc = fulcrum::loadgen::run(o);
  rte_eal_cleanup();
  std::error_code ignored;
  std::filesystem::remove_all("/var/run/dpdk/fulcrum-loadgen-" + std::to_string(getpid()), ignored);
  return rc;
}
