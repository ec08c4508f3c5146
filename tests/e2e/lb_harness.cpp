#include "tests/e2e/lb_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace fulcrum::test {

std::string built(const std::string& relative) {
  const char* root = std::getenv("FULCRUM_BUILD_ROOT");
  return std::string(root != nullptr ? root : ".") + "/" + relative;
}

ShmNames::ShmNames(const Topology& topo)
    : tables("/" + topo.prefix() + "-tables"), status("/" + topo.prefix() + "-status") {}

ShmNames::~ShmNames() {
  shm_unlink(tables.c_str());
  shm_unlink(status.c_str());
}

namespace {
std::string sharing_keys(const DataplaneOptions& o, const std::string& kernel_if) {
  if (o.host_sharing.empty()) return "";
  std::string keys = "host_sharing = \"" + o.host_sharing + "\"\n";
  if (o.host_sharing != "xdp") keys += "kernel_interface = \"" + kernel_if + "\"\n";
  return keys;
}

// issue 15: a topology made with TopologyOptions::ipv6 gives the ports their IPv6 address.
std::string address6_key(const Topology& topo, const std::string& key) {
  std::string a = topo.value(key);
  return a.empty() ? "" : "address6 = \"" + a + "/64\"\n";
}
}  // namespace

std::string dataplane_toml(const Topology& topo, const ShmNames& shm, const DataplaneOptions& o) {
  std::string q = o.workers > 1 ? (o.driver == "net_af_xdp" ? ",queue_count=" : ",qpairs=") + std::to_string(o.workers) : "";
  std::string workers;
  for (uint32_t w = 0; w < o.workers; ++w) workers += (w ? ", " : "") + std::to_string(1 + w);
  std::ostringstream t;
  t << "[dataplane]\n"
    << "eal_args = [\"--no-huge\", \"-m\", \"512\", \"--no-pci\", \"--file-prefix=" << topo.prefix()
    << "\", \"--log-level=lib.eal:warning\"]\n"
    << "main_lcore = 0\n"
    << "worker_lcores = [" << workers << "]\n"
    << "conntrack_entries = " << o.conntrack_entries << "\n"
    << "idle_sleep_us = " << o.idle_sleep_us << "\n"
    << "shm_tables = \"" << shm.tables << "\"\n"
    << "shm_status = \"" << shm.status << "\"\n\n"
    << "[[dataplane.ports]]\nname = \"client\"\ndevice = \"" << o.driver << "0,iface=" << topo.lb_client_if << q << "\"\n"
    << "address = \"198.18.1.1/24\"\n" << address6_key(topo, "LB_CLIENT_IP6") << sharing_keys(o, "flc") << "\n"
    << "[[dataplane.ports]]\nname = \"backend\"\ndevice = \"" << o.driver << "1,iface=" << topo.lb_backend_if << q << "\"\n"
    << "address = \"198.18.2.1/24\"\n" << address6_key(topo, "LB_BACKEND_IP6") << sharing_keys(o, "flb");
  if (o.closed_timeout_s != 0 || o.closing_timeout_s != 0) {
    t << "\n[dataplane.timeouts]\n";
    if (o.closed_timeout_s != 0) t << "closed = " << o.closed_timeout_s << "\n";
    if (o.closing_timeout_s != 0) t << "closing = " << o.closing_timeout_s << "\n";
  }
  return t.str();
}

Process::Process(const Topology& topo, const std::string& ns, const std::vector<std::string>& argv, const std::string& log_path)
    : log_path_(log_path) {
  (void)topo;
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    std::vector<std::string> full = {"ip", "netns", "exec", ns};
    if (ns.rfind("pid:", 0) == 0) full = {"nsenter", "-t", ns.substr(4), "-m", "-n", "--"};
    full.insert(full.end(), argv.begin(), argv.end());
    std::vector<char*> args;
    for (std::string& a : full) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(full[0].c_str(), args.data());
    _exit(127);
  }
}

Process::~Process() {
  if (pid_ > 0) stop(std::chrono::milliseconds(2000));
}

bool Process::running() {
  if (pid_ <= 0) return false;
  pid_t r = waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int Process::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &status_, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill9();
  return -1;
}

void Process::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitpid(pid_, &status_, 0);
  pid_ = -1;
}

std::string Process::log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::unique_ptr<Process> start_dataplane(const Topology& topo, const std::string& toml, const std::string& name,
                                         const std::string& ns) {
  std::string dir = topo.value("RUN_DIR");
  std::string cfg = dir + "/" + name + ".toml";
  std::ofstream(cfg) << toml;
  return std::make_unique<Process>(topo, ns.empty() ? topo.lb_ns : ns, std::vector<std::string>{built("dataplane/lb-dataplane"), "-c", cfg},
                                   dir + "/" + name + ".log");
}

bool wait_dataplane_ready(const std::string& status_name, uint64_t after_start, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    abi::Mapping m;
    std::string err;
    if (abi::open_status(status_name, abi::Access::ReadOnly, &m, &err)) {
      const abi::StatusRegion& s = abi::status_of(m);
      // Ready: started after `after_start`, alive, and its worker 0 loop is running.
      if (s.header.start_count.load() > after_start && abi::dataplane_alive(s, std::chrono::milliseconds(500)) &&
          s.workers[0].loop_monotonic_ns.load() != 0) {
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TablesPublisher::TablesPublisher(const ShmNames& shm) : shm_(shm) {
  bool created = false;
  std::string err;
  if (!abi::create_tables(shm.tables, &tables_, &created, &err)) ADD_FAILURE() << err;
  writer_ = std::make_unique<abi::TablesWriter>(abi::tables_of(tables_));
}

std::string TablesPublisher::publish(const cp::TableSpec& spec) {
  std::string err;
  if (!status_.valid() || !status_.still_named(shm_.status)) {
    abi::Mapping m;
    if (abi::open_status(shm_.status, abi::Access::ReadOnly, &m, &err)) status_ = std::move(m);
  }
  writer_->set_status(status_.valid() ? &abi::status_of(status_) : nullptr);
  return cp::publish_tables(*writer_, spec).error;
}

std::string http_get(const Topology& topo, const std::string& url, int timeout_s) {
  std::string out;
  int rc = topo.exec(topo.client_ns, "curl -s --max-time " + std::to_string(timeout_s) + " " + url, &out);
  return rc == 0 ? out : "";
}

cp::TableSpec e2e_tables(const Topology& topo) {
  cp::TableSpec spec;
  for (int fullnat = 0; fullnat < 2; ++fullnat) {
    cp::VipSpec v;
    v.addr_be = inet_addr(fullnat ? "198.18.0.20" : "198.18.0.10");
    v.port_be = htons(80);
    v.mode = fullnat ? abi::ForwardMode::FullNat : abi::ForwardMode::Nat;
    v.vip_id = static_cast<uint16_t>(1 + fullnat);
    v.hash_key = abi::HashKey{0xE2E, 0x7E57};
    if (fullnat) v.snat_addrs_be = {inet_addr("198.18.2.100")};
    for (size_t b = 0; b < topo.backends.size(); ++b) {
      v.backends.push_back({inet_addr(topo.backends[b].ip.c_str()), htons(80), static_cast<uint16_t>(1 + b + 100 * fullnat), 1,
                            abi::BackendState::Active});
    }
    spec.vips.push_back(v);
  }
  return spec;
}

std::string socket_path(const Topology& topo) { return topo.value("RUN_DIR") + "/lbctl.sock"; }

// Each lb namespace has its own loopback, so every run can use the same port.
std::string metrics_address(const Topology&) { return "127.0.0.1:19469"; }

std::string full_toml(const Topology& topo, const ShmNames& shm, const DataplaneOptions& dp, const ControlplaneOptions& cp) {
  std::ostringstream t;
  t << dataplane_toml(topo, shm, dp) << "\n[controlplane]\n"
    << "socket = \"" << socket_path(topo) << "\"\n"
    << "socket_mode = \"" << cp.socket_mode << "\"\n"
    << "metrics = \"" << metrics_address(topo) << "\"\n"
    << "state_dir = \"" << topo.value("RUN_DIR") << "/state\"\n"
    << "hash_seed = \"e2e-cluster-seed-0123456789\"\n"
    << "publish_timeout_ms = 500\n";
  for (int fullnat = 0; fullnat < 2; ++fullnat) {
    t << "\n[[vip]]\nname = \"" << (fullnat ? "web-full" : "web") << "\"\n"
      << "address = \"" << (fullnat ? "198.18.0.20" : "198.18.0.10") << "\"\nport = 80\n"
      << "mode = \"" << (fullnat ? "fullnat" : "nat") << "\"\n";
    if (fullnat) t << "snat = [\"198.18.2.100\"]\n";
    t << cp.extra_vip_keys;
    t << "[vip.health]\ntype = \"" << cp.health << "\"\ninterval_ms = " << cp.interval_ms << "\ntimeout_ms = " << cp.timeout_ms
      << "\nrise = " << cp.rise << "\nfall = " << cp.fall << "\n";
    for (const BackendHost& b : topo.backends) {
      t << "[[vip.backends]]\nname = \"" << b.name << "\"\naddress = \"" << b.ip << "\"\nport = 80\n";
    }
  }
  return t.str();
}

std::unique_ptr<Process> start_controlplane(const Topology& topo, const std::string& toml_path, const std::string& name,
                                            const std::string& ns) {
  auto p = std::make_unique<Process>(topo, ns.empty() ? topo.lb_ns : ns, std::vector<std::string>{built("controlplane/lb-controlplane"), "-c", toml_path},
                                     topo.value("RUN_DIR") + "/" + name + ".log");
  wait_until([&] { return lbctl(topo, "status").exit == 0 || !p->running(); }, std::chrono::seconds(10));
  return p;
}

LbctlResult lbctl(const Topology& topo, const std::string& args, bool human) {
  std::string dir = topo.value("RUN_DIR");
  std::string cmd = built("controlplane/lbctl") + " -s " + socket_path(topo) + (human ? " " : " -j ") + args + " >" + dir +
                    "/lbctl.out 2>" + dir + "/lbctl.err";
  LbctlResult r;
  int status = 0;
  run_command(cmd, &status);
  r.exit = status;
  std::ifstream out(dir + "/lbctl.out"), err(dir + "/lbctl.err");
  std::stringstream o, e;
  o << out.rdbuf();
  e << err.rdbuf();
  r.out = o.str();
  r.err = e.str();
  r.json = nlohmann::json::parse(r.out, nullptr, false);
  return r;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

namespace {
template <typename F>
uint64_t sum_status(const std::string& status_name, F f) {
  abi::Mapping m;
  std::string err;
  if (!abi::open_status(status_name, abi::Access::ReadOnly, &m, &err)) return 0;
  uint64_t sum = 0;
  for (const abi::WorkerStatus& w : abi::status_of(m).workers) sum += f(w);
  return sum;
}
}  // namespace

uint64_t status_drops(const std::string& status_name, abi::DropReason r) {
  return sum_status(status_name, [r](const abi::WorkerStatus& w) { return w.drops[static_cast<size_t>(r)].get(); });
}

uint64_t status_counter(const std::string& status_name, abi::WorkerCounter c) {
  return sum_status(status_name, [c](const abi::WorkerStatus& w) { return w.counters[static_cast<size_t>(c)].get(); });
}

}  // namespace fulcrum::test
