#include "dataplane/abi/publish.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace fulcrum::abi {

bool dataplane_alive(const StatusRegion& status, std::chrono::milliseconds stale) {
  uint64_t beat = status.header.heartbeat_monotonic_ns.load(std::memory_order_acquire);
  uint64_t now = monotonic_ns();
  if (beat == 0 || now - beat > static_cast<uint64_t>(stale.count()) * 1'000'000ull) return false;
  pid_t pid = static_cast<pid_t>(status.header.pid.load(std::memory_order_relaxed));
  return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

std::string TablesWriter::stragglers(uint64_t generation) const {
  if (status_ == nullptr || !dataplane_alive(*status_, options_.heartbeat_stale)) return "";
  std::string out;
  for (uint32_t w = 0; w < kMaxWorkers; ++w) {
    const WorkerStatus& ws = status_->workers[w];
    if (ws.online.load(std::memory_order_seq_cst) == 0) continue;
    uint64_t seen = ws.seen_generation.load(std::memory_order_seq_cst);
    if (seen >= generation) continue;
    if (!out.empty()) out += ", ";
    out += "worker " + std::to_string(w) + " (lcore " + std::to_string(ws.lcore_id) +
           ") still on generation " + std::to_string(seen);
  }
  return out;
}

TableSlot& TablesWriter::begin(std::string* warning) {
  uint64_t current = generation();
  TableSlot& slot = tables_.slots[(current + 1) & 1];
  // Workers that loaded `current` read the other slot; only one still on an older
  // generation can be reading this one.
  auto deadline = std::chrono::steady_clock::now() + options_.quiesce_timeout;
  std::string late = stragglers(current);
  while (!late.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    late = stragglers(current);
  }
  if (warning != nullptr) {
    *warning = late.empty() ? "" : late + " after " + std::to_string(options_.quiesce_timeout.count()) +
                                       " ms; publishing anyway (a stalled worker discards its racing burst)";
  }
  // Odd: being written. Whatever parity a previous writer left (one killed between begin()
  // and commit() leaves it odd), the next odd value is stored, so commit() always ends even.
  uint64_t seq = slot.hdr.write_seq.load(std::memory_order_relaxed);
  slot.hdr.write_seq.store((seq + 1) | 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  slot.hdr.generation = current + 1;
  slot.hdr.vip_count = 0;
  slot.hdr.backend_count = 0;
  slot.hdr.maglev_used = 0;
  open_slot_ = &slot;
  return slot;
}

uint64_t TablesWriter::commit() {
  TableSlot& slot = *open_slot_;
  open_slot_ = nullptr;
  uint64_t next = slot.hdr.generation;
  slot.hdr.published_realtime_ns = realtime_ns();
  // Everything written into the slot happens-before the even write_seq and the flip.
  slot.hdr.write_seq.store((slot.hdr.write_seq.load(std::memory_order_relaxed) | 1) + 1, std::memory_order_release);
  tables_.header.publish_monotonic_ns.store(monotonic_ns(), std::memory_order_relaxed);
  tables_.header.publish_realtime_ns.store(slot.hdr.published_realtime_ns, std::memory_order_relaxed);
  tables_.header.writer_pid.store(static_cast<uint32_t>(getpid()), std::memory_order_relaxed);
  tables_.header.generation.store(next, std::memory_order_seq_cst);
  return next;
}

void TablesWriter::abandon() {
  if (open_slot_ == nullptr) return;
  open_slot_->hdr.generation = 0;
  open_slot_->hdr.write_seq.store((open_slot_->hdr.write_seq.load(std::memory_order_relaxed) | 1) + 1,
                                  std::memory_order_release);
  open_slot_ = nullptr;
}

}  // namespace fulcrum::abi
