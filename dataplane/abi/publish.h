// The table publish protocol between the control plane (one writer) and the data-plane
// workers (readers), across two processes.
//
//   writer: wait until no live worker may still read the inactive slot (every online
//           worker has seen the current generation), bump the slot's write_seq to odd,
//           fill the slot, bump write_seq to even, then store generation + 1 (which makes
//           that slot active).
//   worker: once per burst, load the generation, store it as its seen_generation (its
//           quiescent state), read the slot generation & 1; at the end of the burst,
//           check that the slot's write_seq did not move.
//
// This is rte_rcu_qsbr's idea (a reader reports the version it has moved past) with the
// token in shared memory, so neither process has to trust the other's allocator. A
// stopped or dead data plane cannot block the writer: a stale heartbeat means no live
// readers, and a live-but-stuck worker is waited for only up to a timeout, after which the
// writer goes ahead and reports it. The write_seq check is what makes going ahead safe:
// the stuck worker, when it resumes, discards the burst that raced with the writer.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "dataplane/abi/region.h"

namespace fulcrum::abi {

struct PublishOptions {
  std::chrono::milliseconds quiesce_timeout{500};   // wait this long for a live worker
  std::chrono::milliseconds heartbeat_stale{1000};  // a data plane silent this long is gone
};

// True if the data plane behind `status` is running: its heartbeat is fresh and its pid
// exists. A SIGSTOPped data plane goes stale and counts as not running.
bool dataplane_alive(const StatusRegion& status, std::chrono::milliseconds stale);

class TablesWriter {
 public:
  explicit TablesWriter(TablesRegion& tables, PublishOptions options = {})
      : tables_(tables), options_(options) {}

  // The status region may appear (data plane started) or go away later; null = none.
  void set_status(const StatusRegion* status) { status_ = status; }

  // Makes the inactive slot writable and returns it, cleared of its previous contents'
  // header counts. Waits for live workers to leave it; if one does not within the timeout,
  // goes ahead and describes the straggler in *warning (else leaves it empty).
  TableSlot& begin(std::string* warning);

  // Publishes the slot returned by begin(): seals it and flips the active generation.
  // Returns the new generation.
  uint64_t commit();

  // Gives up the slot returned by begin() without publishing (the builder failed). The slot
  // was never active, so no reader saw it.
  void abandon();

  uint64_t generation() const { return tables_.header.generation.load(std::memory_order_acquire); }

 private:
  // "" when every live worker has seen `generation`, else who has not.
  std::string stragglers(uint64_t generation) const;

  TablesRegion& tables_;
  const StatusRegion* status_ = nullptr;
  PublishOptions options_;
  TableSlot* open_slot_ = nullptr;
};

// What a worker holds for the duration of one burst.
struct TableView {
  const TableSlot* slot = nullptr;   // null: nothing published (or a slot being rewritten)
  uint64_t generation = 0;
  uint64_t write_seq = 0;
};

// A worker's start of burst. `me` is the worker's own status entry (its quiescent state).
inline TableView begin_burst(const TablesRegion& tables, WorkerStatus& me) {
  TableView view;
  view.generation = tables.header.generation.load(std::memory_order_acquire);
  // seq_cst pairs with the writer's seq_cst reads of online/seen: either the writer sees
  // this worker's report, or this worker sees the writer's newer generation.
  me.seen_generation.store(view.generation, std::memory_order_seq_cst);
  if (view.generation == 0) return view;
  const TableSlot& slot = tables.slots[view.generation & 1];
  view.write_seq = slot.hdr.write_seq.load(std::memory_order_acquire);
  if ((view.write_seq & 1) == 0 && slot.hdr.generation == view.generation) view.slot = &slot;
  return view;
}

// A worker's end of burst: false if the slot was rewritten while the burst used it (only
// possible after the worker stalled past the writer's timeout); the burst must be dropped.
inline bool burst_still_valid(const TableView& view) {
  if (view.slot == nullptr) return true;
  std::atomic_thread_fence(std::memory_order_acquire);
  return view.slot->hdr.write_seq.load(std::memory_order_relaxed) == view.write_seq;
}

// Marks a worker as taking part in the protocol; call before its first begin_burst().
inline void worker_online(const TablesRegion& tables, WorkerStatus& me) {
  me.seen_generation.store(tables.header.generation.load(std::memory_order_acquire),
                           std::memory_order_seq_cst);
  me.online.store(1, std::memory_order_seq_cst);
  // Re-read after announcing: a flip the first read missed is now either seen here or
  // waited for by the writer.
  me.seen_generation.store(tables.header.generation.load(std::memory_order_seq_cst),
                           std::memory_order_seq_cst);
}

inline void worker_offline(WorkerStatus& me) { me.online.store(0, std::memory_order_seq_cst); }

}  // namespace fulcrum::abi
