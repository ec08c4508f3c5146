// A worker lcore's run-to-completion loop: poll its RX queue on every port and its handoff
// ring, process and dispatch each burst, then housekeeping. Nothing here allocates, logs
// or calls the kernel, except the optional idle sleep when there is no traffic at all.
#pragma once

#include <atomic>
#include <cstdint>

#include "dataplane/worker/worker.h"

namespace fulcrum::dp {

struct WorkerLoopArgs {
  Shared* shared = nullptr;
  Worker* worker = nullptr;
  uint16_t queue = 0;             // RX and TX queue of this worker on every port
  uint32_t idle_sleep_us = 0;
  const std::atomic<bool>* stop = nullptr;
};

// rte_eal_remote_launch() entry point; `arg` is a WorkerLoopArgs.
int run_worker(void* arg);

}  // namespace fulcrum::dp
