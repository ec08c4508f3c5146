// lb-dataplane: the DPDK poll-mode process. Reads [dataplane] of the config, starts EAL and
// the ports, runs one worker per worker lcore and the housekeeping loop on the main lcore.
// It needs no control plane to start and keeps forwarding when the control plane dies.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>
#include <sys/mman.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <memory>
#include <net/if.h>
#include <thread>

#include "config/loader/dataplane_config.h"
#include "dataplane/abi/region.h"
#include "dataplane/app/exception_path.h"
#include "dataplane/app/log.h"
#include "dataplane/app/ports.h"
#include "dataplane/app/tables_attachment.h"
#include "dataplane/app/worker_loop.h"
#include "dataplane/worker/backend_monitor.h"
#include "dataplane/worker/conn_sample.h"
#include "dataplane/app/xdp_port.h"
#include "dataplane/worker/main_lcore.h"

namespace fulcrum::dp {
namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

std::vector<std::string> eal_argv(const config::DataplaneConfig& cfg) {
  std::vector<std::string> args{"lb-dataplane"};
  bool has_prefix = false;
  for (const std::string& a : cfg.eal_args) {
    has_prefix |= a.rfind("--file-prefix", 0) == 0 || a == "--in-memory";
    args.push_back(a);
  }
  std::string lcores = std::to_string(cfg.main_lcore);
  for (uint32_t w : cfg.worker_lcores) lcores += "," + std::to_string(w);
  args.insert(args.end(), {"-l", lcores, "--main-lcore", std::to_string(cfg.main_lcore)});
  // Another DPDK process on the host must not collide with this one's runtime files.
  if (!has_prefix) args.push_back("--file-prefix=fulcrum-dp");
  return args;
}

// Zeroes a range of a shared tmpfs mapping without making tmpfs allocate its pages: the
// whole pages are given back (MADV_REMOVE punches a hole; reading it gives zeros), the
// partial ones at the ends are cleared.
void zero_sparse(void* addr, size_t len) {
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(addr), end = begin + len;
  const uintptr_t first = (begin + page - 1) & ~(page - 1), last = end & ~(page - 1);
  if (first >= last || madvise(reinterpret_cast<void*>(first), last - first, MADV_REMOVE) != 0) {
    std::memset(addr, 0, len);
    return;
  }
  std::memset(addr, 0, first - begin);
  std::memset(reinterpret_cast<void*>(last), 0, end - last);
}

// Creates (or takes over) the status region and announces this data-plane start.
bool init_status(const config::DataplaneConfig& cfg, abi::Mapping* map, uint64_t capacity) {
  bool created = false;
  std::string error;
  if (!abi::create_status(cfg.shm_status, map, &created, &error)) {
    log("error", "%s", error.c_str());
    return false;
  }
  abi::StatusRegion& s = abi::status_of(*map);
  for (abi::WorkerStatus& w : s.workers) {
    // Counters restart with the process; readers see start_count change.
    std::memset(static_cast<void*>(&w), 0, sizeof w);
  }
  // And so do the scheduling figures (36 MiB, mostly never written: kept sparse).
  zero_sparse(s.backend_live, sizeof s.backend_live + sizeof s.vip_live);
  zero_sparse(s.backend_stats, sizeof s.backend_stats);
  s.header.pid.store(static_cast<uint32_t>(getpid()));
  s.header.worker_count.store(static_cast<uint32_t>(cfg.worker_lcores.size()) + 1);
  s.header.conntrack_capacity.store(capacity);
  s.header.started_realtime_ns.store(abi::realtime_ns());
  s.header.heartbeat_monotonic_ns.store(abi::monotonic_ns());
  s.header.start_count.fetch_add(1);
  return true;
}

// Per port, the ifindex of the kernel interface that holds its address (0: Fulcrum's own
// ARP): the AF_XDP interface itself, or the exception interface. Empty if no port shares.
std::vector<int> kernel_interfaces(const config::DataplaneConfig& cfg) {
  std::vector<int> out(cfg.ports.size(), 0);
  bool any = false;
  for (size_t i = 0; i < cfg.ports.size(); ++i) {
    const config::PortConfig& p = cfg.ports[i];
    if (!config::kernel_owns_address(p.host_sharing)) continue;
    std::string iface = p.host_sharing == config::HostSharing::Xdp ? af_xdp_iface(p.device) : p.kernel_interface;
    out[i] = static_cast<int>(if_nametoindex(iface.c_str()));
    if (out[i] == 0) log("warning", "port %s: no interface %s: its next hops cannot be resolved", p.name.c_str(), iface.c_str());
    any = true;
  }
  return any ? out : std::vector<int>{};
}

// lb-dataplane --detach-xdp: removes Fulcrum's XDP program from every host_sharing = "xdp"
// port (systemd ExecStopPost/ExecStartPre; a killed data plane leaves it attached).
int detach_xdp(const config::DataplaneConfig& cfg) {
  int rc = 0;
  for (const config::PortConfig& p : cfg.ports) {
    if (p.host_sharing != config::HostSharing::Xdp) continue;
    std::string done;
    std::string err = detach_fulcrum_xdp(p, &done);
    if (!err.empty()) {
      log("error", "port %s: %s", p.name.c_str(), err.c_str());
      rc = 1;
    } else if (!done.empty()) {
      log("info", "port %s: %s", p.name.c_str(), done.c_str());
    }
  }
  return rc;
}

// Everything that lives in DPDK memory is created and destroyed in here, so that it is
// gone before rte_eal_cleanup().
int run_with_eal(const config::DataplaneConfig& cfg) {
  const auto workers = static_cast<uint32_t>(cfg.worker_lcores.size());
  rte_mempool* pool = rte_pktmbuf_pool_create("fulcrum_mbufs", cfg.mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
  if (pool == nullptr) {
    log("error", "cannot create %u mbufs: %s (lower dataplane.mbufs or give EAL more memory)", cfg.mbufs, rte_strerror(rte_errno));
    return 1;
  }
  SharedOptions so;
  so.workers = workers;
  so.conntrack_entries = cfg.conntrack_entries;
  so.conntrack_entries6 = cfg.conntrack_entries6;
  so.timeouts = TimeoutsMs{{cfg.timeouts.syn * 1000, cfg.timeouts.established * 1000, cfg.timeouts.closing * 1000,
                            cfg.timeouts.closed * 1000},
                           cfg.timeouts.syn_unanswered * 1000};
  so.flood = FloodOptions{cfg.new_flow_breaker_rate, cfg.embryonic_high_water, cfg.synproxy};
  std::string error;
  std::unique_ptr<Shared> shared = Shared::create(so, &error);
  if (!shared) {
    log("error", "%s", error.c_str());
    return 1;
  }
  shared->pool = pool;
  abi::Mapping status_map;
  if (!init_status(cfg, &status_map, shared->flows().capacity())) return 1;
  shared->status = &abi::status_of(status_map);
  shared->status->header.mbufs_total.store(cfg.mbufs);

  std::vector<PortInfo> ports;
  if (error = start_ports(cfg.ports, workers, pool, &ports); !error.empty()) {
    log("error", "%s", error.c_str());
    return 1;
  }
  ExceptionPath exception_path;  // kernel interfaces of ports with host_sharing tap / virtio_user
  if (error = exception_path.create(cfg.ports, ports, pool); !error.empty()) {
    log("error", "%s", error.c_str());
    exception_path.stop();
    stop_ports(ports);
    return 1;
  }
  for (const PortInfo& p : ports) shared->add_port(p);
  for (size_t i = 0; i < cfg.ports.size(); ++i) {
    if (cfg.ports[i].gateway_be) shared->routes.add(0, 0, static_cast<uint8_t>(i), *cfg.ports[i].gateway_be);
  }
  for (const config::RouteConfig& r : cfg.routes) {
    RouteResult via;
    shared->routes.lookup(r.via_be, &via);
    shared->routes.add(r.prefix.addr_be, r.prefix.length, via.port, r.via_be);
  }
  for (size_t i = 0; i < cfg.ports.size(); ++i) {  // issue 15
    if (cfg.ports[i].gateway6) shared->routes6.add(abi::Ip6{}, 0, static_cast<uint8_t>(i), *cfg.ports[i].gateway6);
  }
  for (const config::Route6Config& r : cfg.routes6) {
    RouteResult6 via;
    shared->routes6.lookup(r.via, &via);
    shared->routes6.add(r.prefix.addr, r.prefix.length, via.port, r.via);
  }
  MainLcore main_lcore(*shared, shared->status->workers[workers], pool);
  // Gateways and routes' next hops are needed whatever the tables say: never forgotten.
  for (const config::PortConfig& p : cfg.ports) {
    if (p.gateway_be) main_lcore.pin(*p.gateway_be);
  }
  for (const config::RouteConfig& r : cfg.routes) main_lcore.pin(r.via_be);
  for (const config::PortConfig& p : cfg.ports) {
    if (p.gateway6) main_lcore.pin6(*p.gateway6);
  }
  for (const config::Route6Config& r : cfg.routes6) main_lcore.pin6(r.via);
  for (const config::Neighbour6Config& n : cfg.neighbours6) {
    MacBytes mac;
    std::copy(n.mac.begin(), n.mac.end(), mac.begin());
    main_lcore.add_static6(n.addr, mac, static_cast<uint8_t>(cfg.port_index(n.port)));
  }
  for (const config::NeighbourConfig& n : cfg.neighbours) {
    MacBytes mac;
    std::copy(n.mac.begin(), n.mac.end(), mac.begin());
    main_lcore.add_static(n.addr_be, mac, static_cast<uint8_t>(cfg.port_index(n.port)));
  }
  // Next hops of ports whose address the kernel keeps: from the kernel's neighbour table.
  KernelNeighbours kernel_neighbours;
  if (std::vector<int> ifindex = kernel_interfaces(cfg); !ifindex.empty()) {
    if (error = kernel_neighbours.open(ifindex); !error.empty()) {
      log("error", "kernel neighbour table: %s", error.c_str());
      return 1;
    }
    main_lcore.use_kernel_neighbours(&kernel_neighbours);
  }
  TablesAttachment attachment(*shared, cfg.shm_tables);
  attachment.check();
  BackendMonitor monitor(*shared->status, workers, shared->status->workers[workers]);
  std::string sample_error;
  ConnSampler conn_sampler(shared->flows(), shared->flows6(), abi::conn_sample_name(cfg.shm_status), &sample_error);
  if (!sample_error.empty()) log("warning", "no connection sampling (lbctl conn list): %s", sample_error.c_str());
  const uint64_t tsc_per_ms = rte_get_tsc_hz() / 1000;

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::vector<std::unique_ptr<Worker>> worker_objs;
  std::vector<WorkerLoopArgs> loop_args(workers);
  for (uint32_t w = 0; w < workers; ++w) {
    worker_objs.push_back(std::make_unique<Worker>(*shared, w, shared->status->workers[w]));
    loop_args[w] = WorkerLoopArgs{shared.get(), worker_objs[w].get(), static_cast<uint16_t>(w), cfg.idle_sleep_us, &g_stop};
    if (int rc = rte_eal_remote_launch(run_worker, &loop_args[w], cfg.worker_lcores[w]); rc != 0) {
      log("error", "cannot launch worker on lcore %u: %s", cfg.worker_lcores[w], rte_strerror(-rc));
      g_stop.store(true);
      break;
    }
  }
  for (const PortInfo& p : ports) {
    log("info", "port %s: dpdk port %u, %02x:%02x:%02x:%02x:%02x:%02x", p.name.c_str(), p.dpdk_port, p.mac[0], p.mac[1],
        p.mac[2], p.mac[3], p.mac[4], p.mac[5]);
  }
  log("info", "running: %u worker(s), %u connection entries, status %s, tables %s", workers,
      shared->flows().capacity(), cfg.shm_status.c_str(), cfg.shm_tables.c_str());

  abi::StatusHeader& hdr = shared->status->header;
  // The main lcore sleeps between rounds: 200 us after it had work, doubling to 2 ms while
  // it has none (ARP and held packets wait at most that long; the heartbeat is far fresher
  // than the 1 s after which the control plane would call the data plane gone).
  // Under a flood (a poll that used its whole budget) it sleeps only 50 us: the main lcore
  // shares its core with the host (the control plane, the routing daemon), and what it cannot
  // take in is a counted drop on the ordinary ring, never on the priority one.
  uint64_t last_attach_check = 0;
  uint32_t sleep_us = 200;
  std::vector<uint32_t> breaker(workers, 0);
  while (!g_stop.load()) {
    uint64_t now_ns = abi::monotonic_ns();
    hdr.heartbeat_monotonic_ns.store(now_ns, std::memory_order_release);
    uint32_t handled = main_lcore.poll(now_ns / 1'000'000);
    monitor.update(shared->tables.load(std::memory_order_acquire), now_ns);  // the schedulers' load figures
    handled += conn_sampler.poll(static_cast<uint32_t>(rte_rdtsc() / tsc_per_ms)) ? 1 : 0;
    handled += exception_path.poll(*shared, shared->status->workers[workers]);
    hdr.mbufs_in_use.store(rte_mempool_in_use_count(pool), std::memory_order_relaxed);
    for (uint32_t w = 0; w < workers; ++w) {
      uint32_t tripped = shared->status->workers[w].breaker_tripped.load(std::memory_order_relaxed);
      if (tripped == breaker[w]) continue;
      breaker[w] = tripped;
      if (tripped) {
        log("warning", "worker %u: more than %u new flows/s: new nat flows go without state, SYN proxy \"auto\" is on",
            w, cfg.new_flow_breaker_rate);
      } else {
        log("info", "worker %u: new-flow rate back below %u/s: state and SYN handling as configured", w, cfg.new_flow_breaker_rate);
      }
    }
    if (now_ns - last_attach_check >= 1'000'000'000ull) {
      attachment.check();
      last_attach_check = now_ns;
    }
    if (handled >= MainLcore::kPollBudget) sleep_us = 50;
    else sleep_us = handled != 0 ? 200 : std::min<uint32_t>(sleep_us * 2, 2000);
    std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
  }
  log("info", "stopping");
  rte_eal_mp_wait_lcore();
  worker_objs.clear();
  stop_ports(ports);
  exception_path.stop();
  hdr.heartbeat_monotonic_ns.store(0);
  hdr.pid.store(0);
  return 0;
}

int run(const config::DataplaneConfig& cfg) {
  std::vector<std::string> args = eal_argv(cfg);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    log("error", "EAL init failed: %s (dataplane.eal_args, dataplane.main_lcore/worker_lcores)", rte_strerror(rte_errno));
    return 1;
  }
  int rc = run_with_eal(cfg);
  if (rc != 0) g_stop.store(true);
  rte_eal_mp_wait_lcore();
  rte_eal_cleanup();
  return rc;
}

}  // namespace
}  // namespace fulcrum::dp

int main(int argc, char** argv) {
  CLI::App app{"Fulcrum data plane: DPDK poll-mode L4 load balancer"};
  std::string config_path;
  bool check_only = false, detach_only = false;
  app.add_option("-c,--config", config_path, "configuration file (its [dataplane] section)")->required();
  app.add_flag("--check", check_only, "validate the [dataplane] section and exit (0 valid, 2 invalid)");
  app.set_version_flag("--version", std::string("lb-dataplane (Fulcrum) ") + FULCRUM_VERSION);
  app.add_flag("--detach-xdp", detach_only,
               "detach Fulcrum's XDP program from the host_sharing = \"xdp\" ports and exit (after a crash)");
  CLI11_PARSE(app, argc, argv);

  fulcrum::config::Errors errors(config_path);
  std::optional<fulcrum::config::DataplaneConfig> cfg = fulcrum::config::load_dataplane(config_path, errors);
  if (!cfg) {
    std::fputs(errors.str().c_str(), stderr);
    return 2;
  }
  if (detach_only) return fulcrum::dp::detach_xdp(*cfg);
  if (check_only) {
    std::printf("%s: [dataplane] is valid\n", config_path.c_str());
    return 0;
  }
  return fulcrum::dp::run(*cfg);
}
