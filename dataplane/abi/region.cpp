#include "dataplane/abi/region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <new>
#include <utility>

namespace fulcrum::abi {
namespace {

std::string errno_text(const char* what, std::string_view name) {
  return std::string(what) + " " + std::string(name) + ": " + std::strerror(errno);
}

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// What every header check shares: magic, version, header and region sizes, in the order
// that gives the most useful message first.
std::string check_common(uint64_t magic, uint64_t want_magic, uint32_t abi, uint32_t header_size,
                         size_t want_header, uint64_t region_size, size_t want_region,
                         size_t mapped, std::string_view kind, std::string_view name) {
  std::string where = std::string(name) + ": ";
  if (mapped < want_header) {
    return where + "only " + std::to_string(mapped) + " bytes, too small to be a Fulcrum " +
           std::string(kind) + " region";
  }
  if (magic != want_magic) {
    return where + "wrong magic " + hex(magic) + " (expected " + hex(want_magic) +
           "): not a Fulcrum " + std::string(kind) + " region";
  }
  if (abi != kAbiVersion) {
    return where + "ABI version " + std::to_string(abi) + ", this build speaks version " +
           std::to_string(kAbiVersion) +
           ": run lb-dataplane and lb-controlplane from the same release";
  }
  if (header_size != want_header || region_size != want_region || mapped < want_region) {
    return where + "layout mismatch (header " + std::to_string(header_size) + "/" +
           std::to_string(want_header) + " bytes, region " + std::to_string(region_size) + "/" +
           std::to_string(want_region) + " bytes, mapped " + std::to_string(mapped) +
           "): built from different sources";
  }
  return "";
}

int shm_open_checked(std::string_view name, int flags, std::string* error) {
  std::string n(name);
  if (std::string why = check_region_name(n); !why.empty()) {
    *error = why;
    return -1;
  }
  int fd = shm_open(n.c_str(), flags, 0660);
  if (fd < 0) *error = errno_text("cannot open shared memory", name);
  return fd;
}

bool map_fd(int fd, size_t size, int prot, std::string_view name, Mapping* out, std::string* error) {
  struct stat st{};
  if (fstat(fd, &st) != 0) {
    *error = errno_text("cannot stat shared memory", name);
    return false;
  }
  void* addr = mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) {
    *error = errno_text("cannot map shared memory", name);
    return false;
  }
  *out = Mapping(addr, size, st.st_dev, st.st_ino);
  return true;
}

// Opens an existing region: maps what is there (at least a header's worth), then lets
// `check` judge it before the caller may use it.
template <typename Check>
bool open_existing(std::string_view name, Access access, size_t header_size, Check check,
                   Mapping* out, std::string* error) {
  int fd = shm_open_checked(name, access == Access::ReadOnly ? O_RDONLY : O_RDWR, error);
  if (fd < 0) return false;
  struct stat st{};
  fstat(fd, &st);
  size_t size = static_cast<size_t>(st.st_size);
  if (size < header_size) {
    close(fd);
    *error = std::string(name) + ": only " + std::to_string(size) +
             " bytes, too small to be a Fulcrum region";
    return false;
  }
  int prot = access == Access::ReadOnly ? PROT_READ : PROT_READ | PROT_WRITE;
  bool ok = map_fd(fd, size, prot, name, out, error);
  close(fd);
  if (!ok) return false;
  if (std::string why = check(*out); !why.empty()) {
    *error = why;
    *out = Mapping();
    return false;
  }
  return true;
}

// The owner's open: reuse a valid region (readers keep their mapping), replace anything
// else with a fresh one initialised by `init`.
template <typename Check, typename Init>
bool create_region(std::string_view name, size_t size, size_t header_size, Check check, Init init,
                   Mapping* out, bool* created, std::string* error) {
  std::string ignored;
  if (open_existing(name, Access::ReadWrite, header_size, check, out, &ignored)) {
    *created = false;
    return true;
  }
  shm_unlink(std::string(name).c_str());  // absent, or of another ABI: replace it
  int fd = shm_open_checked(name, O_RDWR | O_CREAT | O_EXCL, error);
  if (fd < 0) return false;
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    *error = errno_text("cannot size shared memory", name);
    close(fd);
    shm_unlink(std::string(name).c_str());
    return false;
  }
  bool ok = map_fd(fd, size, PROT_READ | PROT_WRITE, name, out, error);
  close(fd);
  if (!ok) return false;
  init(out->addr());
  *created = true;
  return true;
}

void init_tables(void* mem) {
  auto* region = static_cast<TablesRegion*>(mem);
  TablesHeader& h = region->header;
  // The file is zero-filled by ftruncate; only the non-zero fields need writing. The magic
  // goes last so a reader never accepts a half-initialised header.
  h.abi_version = kAbiVersion;
  h.header_size = sizeof(TablesHeader);
  h.region_size = sizeof(TablesRegion);
  h.slot_size = sizeof(TableSlot);
  h.slot_offset[0] = offsetof(TablesRegion, slots);
  h.slot_offset[1] = offsetof(TablesRegion, slots) + sizeof(TableSlot);
  h.max_vips = kMaxVips;
  h.max_backends = kMaxBackends;
  h.max_snat_addrs = kMaxSnatAddrs;
  h.maglev_pool_entries = kMaglevPoolEntries;
  std::atomic_thread_fence(std::memory_order_release);
  h.magic = kTablesMagic;
}

void init_status(void* mem) {
  auto* region = static_cast<StatusRegion*>(mem);
  StatusHeader& h = region->header;
  h.abi_version = kAbiVersion;
  h.header_size = sizeof(StatusHeader);
  h.region_size = sizeof(StatusRegion);
  h.max_workers = kMaxWorkers;
  h.max_backends = kMaxBackends;
  h.max_vips = kMaxVips;
  h.drop_reason_count = kDropReasonCount;
  h.worker_counter_count = kWorkerCounterCount;
  std::atomic_thread_fence(std::memory_order_release);
  h.magic = kStatusMagic;
}

}  // namespace

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    if (addr_ != nullptr) munmap(addr_, size_);
    addr_ = std::exchange(other.addr_, nullptr);
    size_ = std::exchange(other.size_, 0);
    dev_ = other.dev_;
    ino_ = other.ino_;
  }
  return *this;
}

Mapping::~Mapping() {
  if (addr_ != nullptr) munmap(addr_, size_);
}

bool Mapping::still_named(std::string_view name) const {
  int fd = shm_open(std::string(name).c_str(), O_RDONLY, 0);
  if (fd < 0) return false;
  struct stat st{};
  bool same = fstat(fd, &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_;
  close(fd);
  return same;
}

std::string check_region_name(std::string_view name) {
  if (name.size() < 2 || name.size() > 255 || name[0] != '/' ||
      name.find('/', 1) != std::string_view::npos) {
    return "invalid shared-memory name \"" + std::string(name) +
           "\": must be \"/name\" with no other '/', at most 255 characters";
  }
  return "";
}

std::string check_tables_header(const TablesHeader& h, size_t mapped, std::string_view name) {
  std::string why = check_common(h.magic, kTablesMagic, h.abi_version, h.header_size,
                                 sizeof(TablesHeader), h.region_size, sizeof(TablesRegion), mapped,
                                 "tables", name);
  if (why.empty() && (h.max_vips != kMaxVips || h.max_backends != kMaxBackends ||
                      h.max_snat_addrs != kMaxSnatAddrs || h.maglev_pool_entries != kMaglevPoolEntries ||
                      h.slot_size != sizeof(TableSlot) ||
                      h.slot_offset[0] != offsetof(TablesRegion, slots) ||
                      h.slot_offset[1] != offsetof(TablesRegion, slots) + sizeof(TableSlot))) {
    why = std::string(name) + ": capacities differ from this build's: built from different sources";
  }
  return why;
}

std::string check_status_header(const StatusHeader& h, size_t mapped, std::string_view name) {
  std::string why = check_common(h.magic, kStatusMagic, h.abi_version, h.header_size,
                                 sizeof(StatusHeader), h.region_size, sizeof(StatusRegion), mapped,
                                 "status", name);
  if (why.empty() && (h.max_workers != kMaxWorkers || h.max_backends != kMaxBackends ||
                      h.max_vips != kMaxVips || h.drop_reason_count != kDropReasonCount ||
                      h.worker_counter_count != kWorkerCounterCount)) {
    why = std::string(name) + ": capacities differ from this build's: built from different sources";
  }
  return why;
}

bool open_tables(std::string_view name, Access access, Mapping* out, std::string* error) {
  auto check = [name](const Mapping& m) {
    return check_tables_header(tables_of(m).header, m.size(), name);
  };
  return open_existing(name, access, sizeof(TablesHeader), check, out, error);
}

bool open_status(std::string_view name, Access access, Mapping* out, std::string* error) {
  auto check = [name](const Mapping& m) {
    return check_status_header(status_of(m).header, m.size(), name);
  };
  return open_existing(name, access, sizeof(StatusHeader), check, out, error);
}

bool create_tables(std::string_view name, Mapping* out, bool* created, std::string* error) {
  auto check = [name](const Mapping& m) {
    return check_tables_header(tables_of(m).header, m.size(), name);
  };
  return create_region(name, sizeof(TablesRegion), sizeof(TablesHeader), check, init_tables, out,
                       created, error);
}

bool create_status(std::string_view name, Mapping* out, bool* created, std::string* error) {
  auto check = [name](const Mapping& m) {
    return check_status_header(status_of(m).header, m.size(), name);
  };
  return create_region(name, sizeof(StatusRegion), sizeof(StatusHeader), check, init_status, out,
                       created, error);
}

namespace {

std::string check_conn_sample(const Mapping& m, std::string_view name) {
  const ConnSampleHeader& h = conn_sample_of(m).header;
  if (m.size() < sizeof(ConnSampleRegion) || h.magic != kConnSampleMagic || h.abi_version != kAbiVersion ||
      h.region_size != sizeof(ConnSampleRegion) || h.max_entries != kConnSampleMax) {
    return std::string(name) + ": not a connection-sample region of this build (another release of lb-dataplane?)";
  }
  return "";
}

void init_conn_sample(void* mem) {
  auto* region = static_cast<ConnSampleRegion*>(mem);
  region->header.abi_version = kAbiVersion;
  region->header.max_entries = kConnSampleMax;
  region->header.region_size = sizeof(ConnSampleRegion);
  std::atomic_thread_fence(std::memory_order_release);
  region->header.magic = kConnSampleMagic;
}

}  // namespace

bool create_conn_sample(std::string_view name, Mapping* out, std::string* error) {
  // Always fresh: a request left by the previous data plane must not be answered with
  // this one's table, or wait for an answer that never comes.
  shm_unlink(std::string(name).c_str());
  bool created = false;
  auto check = [name](const Mapping& m) { return check_conn_sample(m, name); };
  return create_region(name, sizeof(ConnSampleRegion), sizeof(ConnSampleHeader), check, init_conn_sample, out,
                       &created, error);
}

bool open_conn_sample(std::string_view name, Mapping* out, std::string* error) {
  auto check = [name](const Mapping& m) { return check_conn_sample(m, name); };
  return open_existing(name, Access::ReadWrite, sizeof(ConnSampleHeader), check, out, error);
}

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace fulcrum::abi
