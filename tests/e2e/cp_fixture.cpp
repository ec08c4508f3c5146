#include "tests/e2e/cp_fixture.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "dataplane/abi/dump.h"
#include "dataplane/abi/publish.h"

namespace fulcrum::test {

using namespace std::chrono_literals;

std::unique_ptr<Topology> CpTest::topo_;

FakeDataplane::FakeDataplane(const std::string& status_name, const std::string& tables_name, uint32_t lcores)
    : tables_name_(tables_name) {
  bool created = false;
  std::string err;
  if (!abi::create_status(status_name, &map_, &created, &err)) {
    ADD_FAILURE() << err;
    return;
  }
  abi::StatusRegion& s = status();
  s.header.pid.store(static_cast<uint32_t>(getpid()));
  s.header.worker_count.store(lcores);
  s.header.conntrack_capacity.store(65536);
  for (uint32_t i = 0; i < lcores; ++i) {
    s.workers[i].lcore_id = i + 1 == lcores ? 0 : i + 1;
    s.workers[i].role = i + 1 == lcores ? 1 : 0;
  }
  s.header.heartbeat_monotonic_ns.store(abi::monotonic_ns());
  if (!abi::create_conn_sample(abi::conn_sample_name(status_name), &conns_, &err)) ADD_FAILURE() << err;
  s.header.start_count.fetch_add(1);
  thread_ = std::thread([this, lcores] {
    abi::Mapping tables;
    std::string e;
    while (!stop_) {
      abi::StatusRegion& st = status();
      st.header.heartbeat_monotonic_ns.store(abi::monotonic_ns());
      if (!tables.valid()) {
        if (abi::open_tables(tables_name_, abi::Access::ReadOnly, &tables, &e)) {
          for (uint32_t i = 0; i < lcores; ++i) abi::worker_online(abi::tables_of(tables), st.workers[i]);
        }
      } else {
        for (uint32_t i = 0; i < lcores; ++i) {
          if (static_cast<int>(i) == stuck_.load()) continue;
          abi::begin_burst(abi::tables_of(tables), st.workers[i]);
          st.workers[i].loop_monotonic_ns.store(abi::monotonic_ns());
        }
      }
      if (conns_.valid()) {
        abi::ConnSampleRegion& c = abi::conn_sample_of(conns_);
        uint64_t want = c.request.seq.load(std::memory_order_acquire);
        if (want != c.response.seq.load()) {
          c.response.count = 0;
          c.response.matched = 0;
          c.response.scanned = 65536;
          c.response.in_use = 0;
          c.response.seq.store(want, std::memory_order_release);
        }
      }
      std::this_thread::sleep_for(2ms);
    }
    for (uint32_t i = 0; i < lcores; ++i) abi::worker_offline(status().workers[i]);
  });
}

FakeDataplane::~FakeDataplane() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (map_.valid()) status().header.heartbeat_monotonic_ns.store(0);
}

void CpTest::SetUpTestSuite() {
  if (!netns_unavailable_reason().empty()) return;
  std::string why;
  topo_ = Topology::create({3, TopologyOptions::Mode::Router, 1}, &why);
  if (!topo_) ADD_FAILURE() << why;
}

void CpTest::TearDownTestSuite() { topo_.reset(); }

void CpTest::SetUp() {
  if (std::string why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_TRUE(topo_);
  static int counter = 0;
  index_ = ++counter;
  dir_ = topo_->value("RUN_DIR") + "/t" + std::to_string(index_);
  mkdir(dir_.c_str(), 0755);
  config_path_ = dir_ + "/lb.toml";
  socket_ = dir_ + "/lbctl.sock";
  state_dir_ = dir_ + "/state";
  metrics_ = "127.0.0.1:" + std::to_string(19500 + index_);
  shm_tables_ = "/" + topo_->prefix() + "-t" + std::to_string(index_) + "-tables";
  shm_status_ = "/" + topo_->prefix() + "-t" + std::to_string(index_) + "-status";
  write_config();
}

void CpTest::TearDown() {
  if (cp_) cp_->stop();
  if (HasFailure() && cp_) std::printf("--- lb-controlplane log:\n%s\n", cp_->log().c_str());
  cp_.reset();
  for (const std::string& n : {shm_tables_, shm_status_, shm_tables_ + ".lock", abi::conn_sample_name(shm_status_)}) {
    shm_unlink(n.c_str());
  }
}

std::string CpTest::config_text(const ControlplaneOptions& o, const std::string& extra) const {
  ShmNames names(*topo_);
  names.tables = shm_tables_;
  names.status = shm_status_;
  std::ostringstream t;
  t << dataplane_toml(*topo_, names, DataplaneOptions{}) << "\n[controlplane]\n"
    << "socket = \"" << socket_ << "\"\n"
    << "socket_mode = \"" << o.socket_mode << "\"\n"
    << "metrics = \"" << metrics_ << "\"\n"
    << "state_dir = \"" << state_dir_ << "\"\n"
    << "hash_seed = \"e2e-cluster-seed-0123456789\"\n"
    << "publish_timeout_ms = 500\n";
  names.tables.clear();  // ShmNames' destructor would unlink them
  names.status.clear();
  for (int fullnat = 0; fullnat < 2; ++fullnat) {
    t << "\n[[vip]]\nname = \"" << (fullnat ? "web-full" : "web") << "\"\n"
      << "address = \"" << (fullnat ? "198.18.0.20" : "198.18.0.10") << "\"\nport = 80\n"
      << "mode = \"" << (fullnat ? "fullnat" : "nat") << "\"\n";
    if (fullnat) t << "snat = [\"198.18.2.100\"]\n";
    t << o.extra_vip_keys;
    t << "[vip.health]\ntype = \"" << o.health << "\"\ninterval_ms = " << o.interval_ms << "\ntimeout_ms = " << o.timeout_ms
      << "\nrise = " << o.rise << "\nfall = " << o.fall << "\n";
    for (const BackendHost& b : topo_->backends) {
      t << "[[vip.backends]]\nname = \"" << b.name << "\"\naddress = \"" << b.ip << "\"\nport = 80\n";
    }
  }
  t << extra;
  return t.str();
}

void CpTest::write_config(const ControlplaneOptions& o, const std::string& extra) { write_text(config_text(o, extra)); }

void CpTest::write_text(const std::string& text) {
  std::string tmp = config_path_ + ".tmp";
  std::ofstream(tmp) << text;
  rename(tmp.c_str(), config_path_.c_str());
}

bool CpTest::start(const std::vector<std::string>& args, const std::vector<std::string>& prefix) {
  std::vector<std::string> argv = prefix;
  argv.push_back(built("controlplane/lb-controlplane"));
  argv.push_back("-c");
  argv.push_back(config_path_);
  argv.insert(argv.end(), args.begin(), args.end());
  cp_ = std::make_unique<Process>(*topo_, topo_->lb_ns, argv, dir_ + "/cp.log");
  return wait_until([&] { return ctl("status").exit == 0 || !cp_->running(); }, 10s) && cp_->running();
}

LbctlResult CpTest::ctl(const std::string& args, bool human) const {
  std::string cmd = built("controlplane/lbctl") + " -s " + socket_ + (human ? " " : " -j ") + args + " >" + dir_ +
                    "/lbctl.out 2>" + dir_ + "/lbctl.err";
  LbctlResult r;
  run_command(cmd, &r.exit);
  std::ifstream out(dir_ + "/lbctl.out"), err(dir_ + "/lbctl.err");
  std::stringstream o, e;
  o << out.rdbuf();
  e << err.rdbuf();
  r.out = o.str();
  r.err = e.str();
  r.json = nlohmann::json::parse(r.out, nullptr, false);
  return r;
}

CpTest::Published CpTest::published(const char* vip_addr) const {
  Published p;
  abi::Mapping m;
  std::string err;
  if (!abi::open_tables(shm_tables_, abi::Access::ReadOnly, &m, &err)) return p;
  const abi::TablesRegion& t = abi::tables_of(m);
  p.generation = t.header.generation.load();
  const abi::TableSlot& slot = t.slots[p.generation & 1];
  int vi = abi::find_vip(slot, inet_addr(vip_addr), htons(80), abi::kProtoTcp);
  if (vi < 0) return p;
  const abi::Vip& v = slot.vips[vi];
  for (uint32_t b = 0; b < v.backend_count; ++b) {
    const abi::Backend& be = slot.backends[v.backend_first + b];
    p.backends[abi::format_endpoint(be.addr_be, be.port_be)] = {be.id, static_cast<abi::BackendState>(be.state)};
  }
  p.maglev.assign(slot.maglev + v.maglev_offset, slot.maglev + v.maglev_offset + v.maglev_size);
  return p;
}

nlohmann::json CpTest::backend(const std::string& vip, const std::string& endpoint) const {
  LbctlResult r = ctl("backend list " + vip);
  if (r.json.is_array()) {
    for (const nlohmann::json& b : r.json) {
      if (b["backend"] == endpoint) return b;
    }
  }
  return nlohmann::json();
}

bool CpTest::wait_healthy(std::chrono::milliseconds timeout) const {
  return wait_until(
      [&] {
        LbctlResult r = ctl("backend list");
        if (!r.json.is_array() || r.json.empty()) return false;
        for (const nlohmann::json& b : r.json) {
          if (b["health_reason"] != "HTTP 200" && b["health_reason"] != "connected") return false;
        }
        return true;
      },
      timeout);
}

std::string CpTest::raw_request(const std::string& bytes, int timeout_ms) const {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_.c_str(), sizeof addr.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "";
  }
  (void)!write(fd, bytes.data(), bytes.size());
  shutdown(fd, SHUT_WR);
  std::string in;
  pollfd p{fd, POLLIN, 0};
  while (in.find('\n') == std::string::npos && poll(&p, 1, timeout_ms) > 0) {
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    in.append(buf, size_t(n));
  }
  close(fd);
  return in;
}

uint64_t cpu_ms(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return (utime + stime) * 1000 / uint64_t(sysconf(_SC_CLK_TCK));
}

}  // namespace fulcrum::test
