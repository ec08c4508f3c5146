// Which backends a connection attempt has already tried, for connect_retries
// (docs/scheduling.md, "Retry on failure").
//
// Why a side table: the connection entry is full (32 bytes, 64 per connection with the
// index). It keeps the attempt number (two spare bits of its flags) and its current
// backend; the backends tried before that are needed only by the few attempts that retry
// a second time. They live here, per owning worker, keyed by the flow's hash: 4,096 slots
// of 16 bytes (64 KiB a worker, nothing per connection). A slot is reused by a later retry
// whose hash lands on it, so under more than ~4,000 retries in flight at once on one
// worker an attempt may forget its oldest tries: it then still never returns to its
// current backend, and its attempt number still bounds the retries.
#pragma once

#include <cstdint>

#include "dataplane/core/scheduler.h"

namespace fulcrum::dp {

class RetryMemory {
 public:
  static constexpr uint32_t kSlots = 4096;
  // A client retries a SYN after 1, 3 and 7 s (RFC 6298's 1 s initial RTO, doubling): a
  // record older than this belongs to an attempt that is over.
  static constexpr uint32_t kKeepMs = 30'000;

  // The backends the attempt of flow (sig, tag: FlowHash::sig, owner_bits) tried before its
  // current one, added to `out`.
  void recall(uint32_t sig, uint32_t tag, uint32_t now_ms, sched::Tried& out) const {
    const Slot& s = slots_[index(tag)];
    if (s.n == 0 || s.sig != sig || now_ms - s.since_ms > kKeepMs) return;
    for (uint8_t k = 0; k < s.n && k < kKept; ++k) out.add(s.ids[k]);
  }
  // Records `tried` (all but the backend the attempt goes to now, which its entry keeps).
  void remember(uint32_t sig, uint32_t tag, uint32_t now_ms, const sched::Tried& tried, uint16_t current) {
    Slot& s = slots_[index(tag)];
    s = Slot{sig, now_ms, {}, 0, 0};
    for (uint8_t k = 0; k < tried.n && s.n < kKept; ++k) {
      if (tried.ids[k] != current) s.ids[s.n++] = tried.ids[k];
    }
  }

 private:
  static constexpr uint8_t kKept = 3;  // abi::kMaxConnectRetries
  // A slot is chosen by the flow hash's tag bits and checked by its 32-bit signature: two
  // flows of one worker share a record only if 44 bits of their hashes agree.
  struct Slot {
    uint32_t sig;
    uint32_t since_ms;
    uint16_t ids[kKept];
    uint8_t n;
    uint8_t reserved;
  };
  static_assert(sizeof(Slot) == 16);
  static uint32_t index(uint32_t tag) { return (tag * 0x9E3779B1u) >> 20; }
  static_assert(kSlots == 1u << 12, "index() keeps the top 12 bits");
  Slot slots_[kSlots] = {};
};

}  // namespace fulcrum::dp
