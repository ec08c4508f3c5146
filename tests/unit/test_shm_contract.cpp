// The shared-memory contract: header checks, region ownership, and the publish protocol
// exercised by two real processes (fork): a writer publishing thousands of generations while
// a reader, acting like a data-plane worker, checks every snapshot it uses.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "dataplane/abi/publish.h"
#include "dataplane/abi/region.h"

namespace fulcrum::abi {
namespace {

using namespace std::chrono_literals;

// Unique region names per test, removed afterwards.
class ShmNames {
 public:
  explicit ShmNames(const char* tag)
      : tables_("/fulcrum-test-" + std::to_string(getpid()) + "-" + tag + "-t"),
        status_("/fulcrum-test-" + std::to_string(getpid()) + "-" + tag + "-s") {}
  ~ShmNames() {
    shm_unlink(tables_.c_str());
    shm_unlink(status_.c_str());
  }
  const std::string& tables() const { return tables_; }
  const std::string& status() const { return status_; }

 private:
  std::string tables_, status_;
};

// ---- What the writer puts in each generation, and how the reader checks it. Every value
// is derived from the generation, so a torn slot (parts of two generations) cannot pass.
constexpr uint32_t kMaglevSize = 251;

uint32_t vips_for(uint64_t g) { return 1 + g % 4; }
uint32_t backends_for(uint64_t g, uint32_t v) { return 1 + (g + v) % 7; }
uint32_t backend_addr(uint64_t g, uint32_t v, uint32_t b) { return htonl(0x0A000000u | ((g * 31 + v * 7 + b) & 0xFFFFFF)); }

void write_generation(TableSlot& slot, uint64_t g) {
  uint32_t nb = 0, nm = 0;
  std::memset(slot.vip_index, 0, sizeof slot.vip_index);
  for (uint32_t v = 0; v < vips_for(g); ++v) {
    Vip& vip = slot.vips[v];
    vip = Vip{};
    vip.addr_be = htonl(0xC6120000u + v);
    vip.port_be = htons(80);
    vip.proto = kProtoTcp;
    vip.vip_id = static_cast<uint16_t>(v);
    vip.backend_first = nb;
    vip.backend_count = backends_for(g, v);
    vip.maglev_offset = nm;
    vip.maglev_size = kMaglevSize;
    vip.hash_key[0] = g;
    for (uint32_t b = 0; b < vip.backend_count; ++b) {
      Backend& be = slot.backends[nb + b];
      be = Backend{};
      be.addr_be = backend_addr(g, v, b);
      be.port_be = htons(8080);
      be.id = static_cast<uint16_t>(nb + b);
      be.weight = static_cast<uint16_t>(g);
    }
    for (uint32_t e = 0; e < kMaglevSize; ++e) {
      slot.maglev[nm + e] = static_cast<uint16_t>((g + e) % vip.backend_count);
    }
    nb += vip.backend_count;
    nm += kMaglevSize;
    ASSERT_TRUE(add_vip_to_index(slot, v));
  }
  slot.hdr.vip_count = vips_for(g);
  slot.hdr.backend_count = nb;
  slot.hdr.maglev_used = nm;
}

// "" if the slot holds exactly generation g, else the first inconsistency.
std::string check_generation(const TableSlot& slot, uint64_t g) {
  if (slot.hdr.generation != g) return "slot generation " + std::to_string(slot.hdr.generation);
  if (slot.hdr.vip_count != vips_for(g)) return "vip_count";
  uint32_t nb = 0;
  for (uint32_t v = 0; v < slot.hdr.vip_count; ++v) {
    const Vip& vip = slot.vips[v];
    if (vip.hash_key[0] != g || vip.backend_count != backends_for(g, v) || vip.backend_first != nb) return "vip fields";
    if (find_vip(slot, vip.addr_be, vip.port_be, kProtoTcp) != static_cast<int>(v)) return "vip index";
    for (uint32_t b = 0; b < vip.backend_count; ++b) {
      const Backend& be = slot.backends[nb + b];
      if (be.addr_be != backend_addr(g, v, b) || be.weight != static_cast<uint16_t>(g)) return "backend fields";
    }
    for (uint32_t e = 0; e < kMaglevSize; ++e) {
      if (slot.maglev[vip.maglev_offset + e] != (g + e) % vip.backend_count) return "maglev entry";
    }
    nb += vip.backend_count;
  }
  return "";
}

void become_dataplane(StatusRegion& status) {
  status.header.pid.store(static_cast<uint32_t>(getpid()));
  status.header.heartbeat_monotonic_ns.store(monotonic_ns());
}

// ---- Header checks

TEST(ShmContract, RefusesWrongMagicWithAMessageSayingSo) {
  ShmNames names("magic");
  Mapping m;
  bool created = false;
  std::string err;
  ASSERT_TRUE(create_tables(names.tables(), &m, &created, &err)) << err;
  EXPECT_TRUE(created);
  tables_of(m).header.magic = 0x1234;
  Mapping r;
  EXPECT_FALSE(open_tables(names.tables(), Access::ReadOnly, &r, &err));
  EXPECT_NE(err.find("wrong magic"), std::string::npos) << err;
  EXPECT_NE(err.find(names.tables()), std::string::npos) << err;
}

TEST(ShmContract, RefusesWrongAbiVersionWithAMessageSayingWhich) {
  ShmNames names("abi");
  Mapping m;
  bool created = false;
  std::string err;
  ASSERT_TRUE(create_status(names.status(), &m, &created, &err)) << err;
  status_of(m).header.abi_version = kAbiVersion + 1;
  Mapping r;
  EXPECT_FALSE(open_status(names.status(), Access::ReadOnly, &r, &err));
  EXPECT_NE(err.find("ABI version " + std::to_string(kAbiVersion + 1)), std::string::npos) << err;
  EXPECT_NE(err.find("speaks version " + std::to_string(kAbiVersion)), std::string::npos) << err;
}

TEST(ShmContract, RefusesTooSmallAndMissingRegions) {
  ShmNames names("small");
  int fd = shm_open(names.tables().c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 16), 0);
  close(fd);
  Mapping r;
  std::string err;
  EXPECT_FALSE(open_tables(names.tables(), Access::ReadOnly, &r, &err));
  EXPECT_NE(err.find("too small"), std::string::npos) << err;
  EXPECT_FALSE(open_status(names.status(), Access::ReadOnly, &r, &err));
  EXPECT_NE(err.find("No such file"), std::string::npos) << err;
  EXPECT_NE(check_region_name("no-slash"), "");
  EXPECT_NE(check_region_name("/a/b"), "");
  EXPECT_EQ(check_region_name("/fulcrum-tables"), "");
}

TEST(ShmContract, OwnerReusesAValidRegionAndReplacesAForeignOne) {
  ShmNames names("owner");
  Mapping a, b;
  bool created = false;
  std::string err;
  ASSERT_TRUE(create_tables(names.tables(), &a, &created, &err));
  ASSERT_TRUE(created);
  tables_of(a).header.generation.store(41);
  ASSERT_TRUE(create_tables(names.tables(), &b, &created, &err));
  EXPECT_FALSE(created);  // a restarted control plane keeps the region the data plane maps
  EXPECT_EQ(tables_of(b).header.generation.load(), 41u);
  EXPECT_TRUE(a.still_named(names.tables()));

  tables_of(b).header.abi_version = 999;  // as if written by another release
  Mapping c;
  ASSERT_TRUE(create_tables(names.tables(), &c, &created, &err));
  EXPECT_TRUE(created);
  EXPECT_EQ(tables_of(c).header.generation.load(), 0u);
  EXPECT_FALSE(a.still_named(names.tables()));  // readers notice and re-open
}

// ---- Protocol, one process

TEST(ShmContract, WriterNeverWaitsForADeadOrAbsentDataPlane) {
  ShmNames names("dead");
  Mapping t, s;
  bool created;
  std::string err, warning;
  ASSERT_TRUE(create_tables(names.tables(), &t, &created, &err));
  ASSERT_TRUE(create_status(names.status(), &s, &created, &err));
  StatusRegion& status = status_of(s);
  status.workers[0].online.store(1);  // a worker that was online when its process died
  status.header.pid.store(static_cast<uint32_t>(getpid()));
  status.header.heartbeat_monotonic_ns.store(monotonic_ns() - 10'000'000'000ull);  // 10 s stale
  TablesWriter writer(tables_of(t), PublishOptions{500ms, 1000ms});
  writer.set_status(&status);
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t g = 1; g <= 100; ++g) {
    write_generation(writer.begin(&warning), g);
    EXPECT_EQ(writer.commit(), g);
    EXPECT_EQ(warning, "");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 200ms);
}

TEST(ShmContract, StuckLiveWorkerDelaysByTheTimeoutOnlyAndDiscardsItsRacingBurst) {
  ShmNames names("stuck");
  Mapping t, s;
  bool created;
  std::string err, warning;
  ASSERT_TRUE(create_tables(names.tables(), &t, &created, &err));
  ASSERT_TRUE(create_status(names.status(), &s, &created, &err));
  TablesRegion& tables = tables_of(t);
  StatusRegion& status = status_of(s);
  become_dataplane(status);
  TablesWriter writer(tables, PublishOptions{100ms, 5000ms});
  writer.set_status(&status);
  write_generation(writer.begin(&warning), 1);
  writer.commit();

  WorkerStatus& worker = status.workers[3];
  worker.lcore_id = 7;
  worker_online(tables, worker);
  TableView view = begin_burst(tables, worker);  // holds generation 1, then stalls
  ASSERT_NE(view.slot, nullptr);
  EXPECT_EQ(check_generation(*view.slot, 1), "");

  // Generation 2 goes to the other slot: no wait.
  auto t0 = std::chrono::steady_clock::now();
  write_generation(writer.begin(&warning), 2);
  writer.commit();
  EXPECT_EQ(warning, "");
  EXPECT_TRUE(burst_still_valid(view));
  // Generation 3 reuses the stalled worker's slot: the writer waits 100 ms, goes ahead,
  // says who it gave up on, and the worker's burst is detected as raced.
  status.header.heartbeat_monotonic_ns.store(monotonic_ns());
  write_generation(writer.begin(&warning), 3);
  writer.commit();
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 100ms);
  EXPECT_LT(waited, 400ms);
  EXPECT_NE(warning.find("worker 3 (lcore 7) still on generation 1"), std::string::npos) << warning;
  EXPECT_FALSE(burst_still_valid(view));

  // Once it moves on, it sees generation 3, whole.
  view = begin_burst(tables, worker);
  ASSERT_NE(view.slot, nullptr);
  EXPECT_EQ(view.generation, 3u);
  EXPECT_EQ(check_generation(*view.slot, 3), "");
  EXPECT_TRUE(burst_still_valid(view));
}

TEST(ShmContract, AbandonedSlotIsNeverVisible) {
  ShmNames names("abandon");
  Mapping t;
  bool created;
  std::string err, warning;
  ASSERT_TRUE(create_tables(names.tables(), &t, &created, &err));
  TablesWriter writer(tables_of(t));
  write_generation(writer.begin(&warning), 1);
  writer.commit();
  writer.begin(&warning).vips[0].addr_be = 0xdeadbeef;  // builder fails half way
  writer.abandon();
  EXPECT_EQ(writer.generation(), 1u);
  WorkerStatus me{};
  TableView view = begin_burst(tables_of(t), me);
  ASSERT_NE(view.slot, nullptr);
  EXPECT_EQ(check_generation(*view.slot, 1), "");
  write_generation(writer.begin(&warning), 2);
  EXPECT_EQ(writer.commit(), 2u);
}

// A control plane killed between begin() and commit() leaves that slot's write_seq odd.
// Every later generation must still be usable, whichever slot it lands in.
TEST(ShmContract, WriterKilledMidPublishLeavesEveryLaterGenerationUsable) {
  ShmNames names("killed");
  Mapping t;
  bool created;
  std::string err, warning;
  ASSERT_TRUE(create_tables(names.tables(), &t, &created, &err));
  {
    TablesWriter first(tables_of(t));
    write_generation(first.begin(&warning), 1);
    first.commit();
    first.begin(&warning).vips[0].addr_be = 0xdeadbeef;  // ... and the process dies here
  }
  for (int crash = 0; crash < 3; ++crash) {
    TablesWriter writer(tables_of(t));  // the restarted control plane
    for (int k = 0; k < 6; ++k) {
      uint64_t g = writer.generation() + 1;
      write_generation(writer.begin(&warning), g);
      ASSERT_EQ(writer.commit(), g);
      WorkerStatus me{};
      TableView view = begin_burst(tables_of(t), me);
      ASSERT_NE(view.slot, nullptr) << "generation " << g << " unusable (write_seq "
                                    << tables_of(t).slots[g & 1].hdr.write_seq.load() << ")";
      EXPECT_EQ(check_generation(*view.slot, g), "");
      EXPECT_TRUE(burst_still_valid(view));
    }
    writer.begin(&warning);  // killed again, with the other slot open this time
  }
}

// ---- Protocol, two processes

struct ReaderReport {
  uint64_t bursts = 0;
  uint64_t generations_seen = 0;
  uint64_t inconsistent = 0;   // a snapshot used although torn: must stay 0
  uint64_t discarded = 0;      // bursts whose slot was rewritten (detected, not used)
  uint64_t last_generation = 0;
  char first_problem[128] = {};
};

// The child: a data-plane worker in miniature. Loops until told to stop (by the writer's
// final generation), heartbeat and quiescent state included.
[[noreturn]] void run_reader(const std::string& tables_name, const std::string& status_name,
                             uint64_t final_generation, int report_fd) {
  Mapping t, s;
  std::string err;
  ReaderReport report;
  if (!open_tables(tables_name, Access::ReadOnly, &t, &err) ||
      !open_status(status_name, Access::ReadWrite, &s, &err)) {
    std::snprintf(report.first_problem, sizeof report.first_problem, "%s", err.c_str());
    (void)!write(report_fd, &report, sizeof report);
    _exit(1);
  }
  const TablesRegion& tables = tables_of(t);
  StatusRegion& status = status_of(s);
  WorkerStatus& me = status.workers[0];
  status.header.pid.store(static_cast<uint32_t>(getpid()));
  worker_online(tables, me);
  uint64_t last = 0;
  while (last < final_generation) {
    status.header.heartbeat_monotonic_ns.store(monotonic_ns());
    TableView view = begin_burst(tables, me);
    ++report.bursts;
    if (view.slot == nullptr) continue;
    std::string problem = check_generation(*view.slot, view.generation);
    if (!burst_still_valid(view)) {
      ++report.discarded;  // the check above may have seen a torn slot; it is not used
      continue;
    }
    if (!problem.empty()) {
      if (report.inconsistent++ == 0)
        std::snprintf(report.first_problem, sizeof report.first_problem, "gen %llu: %s",
                      static_cast<unsigned long long>(view.generation), problem.c_str());
    }
    if (view.generation != last) ++report.generations_seen;
    last = view.generation;
  }
  report.last_generation = last;
  worker_offline(me);
  (void)!write(report_fd, &report, sizeof report);
  _exit(0);
}

class TwoProcesses : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    bool created;
    ASSERT_TRUE(create_tables(names_.tables(), &tables_map_, &created, &err)) << err;
    ASSERT_TRUE(create_status(names_.status(), &status_map_, &created, &err)) << err;
  }
  pid_t start_reader(uint64_t final_generation) {
    EXPECT_EQ(pipe(pipe_), 0);
    pid_t pid = fork();
    if (pid == 0) {
      close(pipe_[0]);
      run_reader(names_.tables(), names_.status(), final_generation, pipe_[1]);
    }
    close(pipe_[1]);
    // Wait until the reader is online, so the writer has someone to wait for.
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (status().workers[0].online.load() == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    return pid;
  }
  ReaderReport finish_reader(pid_t pid) {
    ReaderReport report;
    EXPECT_EQ(read(pipe_[0], &report, sizeof report), static_cast<ssize_t>(sizeof report));
    close(pipe_[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << report.first_problem;
    return report;
  }
  TablesRegion& tables() { return tables_of(tables_map_); }
  StatusRegion& status() { return status_of(status_map_); }

  ShmNames names_{"two"};
  Mapping tables_map_, status_map_;
  int pipe_[2] = {-1, -1};
};

TEST_F(TwoProcesses, ReaderNeverUsesAHalfWrittenOrReusedSlot) {
  constexpr uint64_t kGenerations = 5000;
  pid_t reader = start_reader(kGenerations);
  TablesWriter writer(tables(), PublishOptions{2000ms, 2000ms});
  writer.set_status(&status());
  std::string warning;
  uint64_t warnings = 0;
  for (uint64_t g = 1; g <= kGenerations; ++g) {
    write_generation(writer.begin(&warning), g);
    ASSERT_EQ(writer.commit(), g);
    warnings += !warning.empty();
  }
  ReaderReport r = finish_reader(reader);
  EXPECT_EQ(r.inconsistent, 0u) << r.first_problem;
  EXPECT_EQ(r.discarded, 0u);  // a live reader is always waited for
  EXPECT_EQ(warnings, 0u);
  EXPECT_EQ(r.last_generation, kGenerations);
  EXPECT_GT(r.generations_seen, kGenerations / 10);  // it really kept up, not just the last one
  std::printf("reader: %llu bursts, %llu distinct generations used, 0 inconsistent\n",
              static_cast<unsigned long long>(r.bursts), static_cast<unsigned long long>(r.generations_seen));
}

TEST_F(TwoProcesses, StoppedReaderDoesNotBlockTheWriter) {
  constexpr uint64_t kGenerations = 400;
  pid_t reader = start_reader(kGenerations);
  TablesWriter writer(tables(), PublishOptions{200ms, 300ms});
  writer.set_status(&status());
  std::string warning;
  for (uint64_t g = 1; g <= 100; ++g) {
    write_generation(writer.begin(&warning), g);
    writer.commit();
  }
  ASSERT_EQ(kill(reader, SIGSTOP), 0);
  // While it is stopped: at most one timeout before its heartbeat goes stale, then no wait.
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t g = 101; g <= 300; ++g) {
    write_generation(writer.begin(&warning), g);
    writer.commit();
  }
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 1500ms) << "200 publishes against a stopped reader";
  ASSERT_EQ(kill(reader, SIGCONT), 0);
  for (uint64_t g = 301; g <= kGenerations; ++g) {
    write_generation(writer.begin(&warning), g);
    writer.commit();
  }
  ReaderReport r = finish_reader(reader);
  EXPECT_EQ(r.inconsistent, 0u) << r.first_problem;  // whatever raced was discarded
  EXPECT_EQ(r.last_generation, kGenerations);
  std::printf("stopped reader: 200 publishes took %lld ms, reader discarded %llu raced bursts\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()),
              static_cast<unsigned long long>(r.discarded));
}

}  // namespace
}  // namespace fulcrum::abi
