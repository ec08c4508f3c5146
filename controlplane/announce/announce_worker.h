// Talks to the routing daemon on a thread of its own, so that the control plane's loop
// (lbctl, health checks, publishing) never waits for BIRD.
//
// The loop hands in the routes it wants announced (submit(), latest wins: a plan that is
// superseded before the thread gets to it is never sent) and reads what the daemon took
// (snapshot()). A failed attempt (BIRD not running yet, restarting, refusing its config) is
// retried every retry interval until it succeeds or a newer plan replaces it, and each
// distinct failure is logged once. Every query interval, when idle, the thread also asks
// the daemon for its sessions, for `lbctl status`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/announce/route_announcer.h"

namespace fulcrum::cp {

class AnnounceWorker {
 public:
  struct Snapshot {
    uint64_t submitted = 0;               // seq of the latest plan handed in
    uint64_t applied = 0;                 // seq of the latest plan the daemon took (0: none yet)
    uint64_t failed = 0;                  // seq of the latest plan an attempt failed for
    std::vector<AnnouncedRoute> routes;   // what the daemon announces for us (as of `applied`)
    std::string error;                    // the latest attempt's error; "" after a success
    uint64_t applied_unix_ms = 0, error_unix_ms = 0;
    uint64_t attempts = 0;
    DaemonStatus daemon;                  // the latest query
    uint64_t daemon_unix_ms = 0;
  };

  explicit AnnounceWorker(std::unique_ptr<RouteAnnouncer> announcer,
                          std::chrono::milliseconds retry = std::chrono::milliseconds(1000),
                          std::chrono::milliseconds query = std::chrono::milliseconds(2000));
  ~AnnounceWorker();   // stops the thread; announces nothing more (withdrawal is the caller's)
  AnnounceWorker(const AnnounceWorker&) = delete;
  AnnounceWorker& operator=(const AnnounceWorker&) = delete;

  const std::string& describe() const { return describe_; }
  uint64_t submit(std::vector<AnnouncedRoute> routes);  // the plan's seq
  Snapshot snapshot() const;
  // Submits and waits until the daemon took the plan, or the attempt failed, or `timeout`.
  // "" or why not.
  std::string submit_and_wait(std::vector<AnnouncedRoute> routes, std::chrono::milliseconds timeout);

 private:
  void thread_main();

  std::unique_ptr<RouteAnnouncer> announcer_;
  std::string describe_;
  const std::chrono::milliseconds retry_, query_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<AnnouncedRoute> pending_;
  uint64_t attempted_ = 0;                // seq of the latest plan tried
  std::chrono::steady_clock::time_point retry_at_{}, query_at_{};
  std::string last_logged_;               // the error last logged, to log each one once
  Snapshot snap_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace fulcrum::cp
