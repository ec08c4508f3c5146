// Active health checks of backends: TCP connect or HTTP request, with rise/fall
// hysteresis, many targets at once from one thread and one epoll set (no thread per check).
//
// The checker owns no event loop of its own: the control plane's loop polls fd() and calls
// run() when it is readable or when next_deadline_ms() comes, so that checks, the lbctl
// socket and signals share one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/loader/lb_config.h"

namespace fulcrum::cp {

enum class Health { Up, Down };

struct HealthEvent {
  uint64_t target;          // the id given to add()
  Health health;            // the new state
  std::string reason;       // why: "connection refused", "timeout after 1000 ms",
                            // "HTTP status 503 (expected 200)", "malformed HTTP response",
                            // "connection closed before a response"; success: "connected", "HTTP 200"
};

struct TargetStatus {
  Health health = Health::Up;
  uint32_t successes_in_a_row = 0;
  uint32_t failures_in_a_row = 0;
  std::string last_result;  // the reason of the latest check, e.g. "connection refused"
  uint64_t last_check_ms = 0;
  uint64_t transitions = 0;
  std::string last_error;   // the reason of the latest failed check ("" if none failed yet)
  uint64_t last_error_ms = 0;
  uint64_t last_change_ms = 0;  // of the latest Up/Down transition (0: none yet)
  uint64_t checks = 0;          // checks completed (those that could not run locally not counted)
};

class HealthChecker {
 public:
  using OnChange = std::function<void(const HealthEvent&)>;

  // `now_ms` is a monotonic clock in ms (injected, so tests can control it if they wish;
  // the control plane passes CLOCK_MONOTONIC). on_change fires once per Up/Down transition,
  // with the reason of the check that caused it; it may call add() and remove().
  // Throws std::system_error if no epoll fd can be created.
  HealthChecker(OnChange on_change, std::function<uint64_t()> now_ms);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Starts checking addr:port (IPv4 or IPv6) (port from check.port if non-zero) every interval.
  // `initial` is the state assumed before any check (the control plane passes Up, so a
  // restart does not take healthy backends out). Ids are the caller's; re-adding an id
  // replaces its target and check but keeps its state.
  // A re-add with the same address, port and check is a no-op (a reload does not restart
  // checks in flight); `initial` only applies to a new id. The first check starts at a
  // deterministic offset within the interval, then every interval (start to start). A
  // check that could not start on time (the loop stalled) waits for its own next grid
  // point instead of starting late with every other overdue check.
  void add(uint64_t id, const config::IpAddr& addr, uint16_t port, const config::HealthCheck& check, Health initial);
  void remove(uint64_t id);                    // closes its check in flight, if any; unknown id: no-op
  const TargetStatus* status(uint64_t id) const;  // nullptr if unknown; valid until remove(id)
  size_t checks_in_flight() const;             // open check sockets (for metrics and tests)

  int fd() const;                       // epoll fd: readable when a check has I/O to do
  uint64_t next_deadline_ms() const;    // when run() must be called at the latest
  void run();                           // non-blocking: does the I/O and timers due now, a bounded
                                        // amount at a time; on_change is only ever called from here

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fulcrum::cp
