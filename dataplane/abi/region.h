// Mapping the shared-memory regions (POSIX shm objects under /dev/shm) and checking that
// what is mapped is what this build expects. Used by both planes and by lbctl.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/abi/conn_sample.h"
#include "dataplane/abi/status.h"
#include "dataplane/abi/tables.h"

namespace fulcrum::abi {

inline constexpr std::string_view kDefaultTablesName = "/fulcrum-tables";
inline constexpr std::string_view kDefaultStatusName = "/fulcrum-status";

// A mapping of a shared-memory object; unmapped on destruction. Move-only.
class Mapping {
 public:
  Mapping() = default;
  Mapping(void* addr, size_t size, uint64_t dev, uint64_t ino) : addr_(addr), size_(size), dev_(dev), ino_(ino) {}
  Mapping(Mapping&& other) noexcept { *this = std::move(other); }
  Mapping& operator=(Mapping&& other) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  bool valid() const { return addr_ != nullptr; }
  void* addr() const { return addr_; }
  size_t size() const { return size_; }
  // Whether `name` still names the object this mapping shows (false once the owner
  // removed and re-created it, e.g. a data plane of another ABI version).
  bool still_named(std::string_view name) const;

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
  uint64_t dev_ = 0, ino_ = 0;
};

enum class Access { ReadOnly, ReadWrite };

// "" if `name` is a valid shm object name ("/name", 2..255 chars, no other '/').
std::string check_region_name(std::string_view name);

// Opens and maps an existing tables/status region after checking its magic, ABI version
// and capacities. On failure returns false and *error says which check failed, in words
// an operator can act on.
bool open_tables(std::string_view name, Access access, Mapping* out, std::string* error);
bool open_status(std::string_view name, Access access, Mapping* out, std::string* error);

// The owner's side: opens the region read-write, creating and initialising it if absent.
// An existing region of another ABI (wrong magic/version/size) is removed and re-created,
// which readers notice through Mapping::still_named(). *created says whether it is new.
bool create_tables(std::string_view name, Mapping* out, bool* created, std::string* error);
bool create_status(std::string_view name, Mapping* out, bool* created, std::string* error);

// The connection-sample region (conn_sample.h): created fresh by the data plane at each
// start, opened read-write by the control plane (it writes the request).
bool create_conn_sample(std::string_view name, Mapping* out, std::string* error);
bool open_conn_sample(std::string_view name, Mapping* out, std::string* error);
inline ConnSampleRegion& conn_sample_of(const Mapping& m) { return *static_cast<ConnSampleRegion*>(m.addr()); }

// Header checks used by the functions above, exposed for tests and for lbctl's dump.
std::string check_tables_header(const TablesHeader& h, size_t mapped_size, std::string_view name);
std::string check_status_header(const StatusHeader& h, size_t mapped_size, std::string_view name);

inline TablesRegion& tables_of(const Mapping& m) { return *static_cast<TablesRegion*>(m.addr()); }
inline StatusRegion& status_of(const Mapping& m) { return *static_cast<StatusRegion*>(m.addr()); }

// CLOCK_MONOTONIC / CLOCK_REALTIME in nanoseconds; the monotonic clock is system-wide, so
// heartbeats written by one process are comparable in another.
uint64_t monotonic_ns();
uint64_t realtime_ns();

}  // namespace fulcrum::abi
