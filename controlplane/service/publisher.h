// Builds and publishes table generations on a thread of its own, so that the control
// plane's loop (lbctl, health checks, signals) never waits for Maglev tables or for a slow
// data-plane worker.
//
// Why a thread: one Maglev table of M = 65537 takes milliseconds to build, a control plane
// may hold 256 of them, and TablesWriter::begin() may wait up to publish_timeout_ms for a
// stuck worker. Done on the loop, a rack of backends failing at once froze lbctl for
// seconds and delayed health checks until healthy backends timed out. The loop now hands a
// TableSpec (a copy, so the model can change meanwhile) to this thread, one job at a time,
// and learns of the result through event_fd(). Coalescing is the loop's business: it
// submits the latest model when the previous job is done.
//
// The thread owns the TablesWriter (the tables region has one writer), the Maglev cache and
// its own mapping of the status region (for the quiescence wait).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "controlplane/service/maglev_cache.h"
#include "controlplane/tables/table_builder.h"
#include "dataplane/abi/region.h"

namespace fulcrum::cp {

class Publisher {
 public:
  enum class Kind {
    Publish,  // build and publish the spec
    Plan,     // only build the Maglev tables (a dry run); the result carries them
  };
  struct Job {
    Kind kind = Kind::Publish;
    uint64_t ticket = 0;   // the caller's; returned in the result
    TableSpec spec;
    std::chrono::milliseconds quiesce_timeout{500};
  };
  struct Result {
    Kind kind = Kind::Publish;
    uint64_t ticket = 0;
    std::string error;     // "" on success
    std::string warning;   // a stuck worker the writer stopped waiting for
    uint64_t generation = 0;
    double build_ms = 0;   // Maglev tables
    double total_ms = 0;   // build + wait + fill + commit
    MaglevCache::Stats tables;
    TableSpec spec;        // Plan: the spec with its tables
  };

  // Called on the publisher's thread with each spec about to be published, before the
  // generation is written (issue 11: the XDP steering maps must steer a new VIP before the
  // data plane serves it).
  using BeforeCommit = std::function<void(const TableSpec&)>;

  // `tables` must outlive the publisher. Throws std::system_error if no eventfd.
  Publisher(abi::TablesRegion& tables, std::string status_name, BeforeCommit before_commit = {});
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  int event_fd() const { return event_fd_; }   // readable when a job has finished
  bool busy() const;                            // a job is queued or running
  void submit(Job job);                         // only when !busy()
  std::optional<Result> take();                 // the finished job's result, once
  Result run_now(Job job);                      // submit and wait (start-up, tests)

 private:
  void thread_main();
  Result execute(Job& job);

  abi::TablesRegion& tables_;
  std::string status_name_;
  BeforeCommit before_commit_;
  abi::Mapping status_;           // the thread's own
  MaglevCache cache_;
  int event_fd_ = -1;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Job> job_;
  std::optional<Result> result_;
  bool running_ = false;          // a job was taken and its result not yet stored
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace fulcrum::cp
