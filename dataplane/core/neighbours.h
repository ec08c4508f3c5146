// The neighbour (ARP) table: written by the main lcore only, read by every worker.
//
// Entries never move and an entry's address never changes once set, so a worker reads a
// slot's address and then its state+MAC word (one 64-bit atomic) without a lock; the
// main lcore publishes a new MAC or state by storing that word. No entry is ever deleted
// (a load balancer has few neighbours: its backends and gateways); unused ones go stale.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>

namespace fulcrum::dp {

using MacBytes = std::array<uint8_t, 6>;

enum class NeighState : uint8_t {
  Incomplete = 0,   // asked, no answer yet
  Reachable = 1,
  Stale = 2,        // usable; the main lcore is re-asking
  Failed = 3,       // did not answer
  Static = 4,       // from the config, never aged
};

struct NeighView {
  NeighState state = NeighState::Incomplete;
  MacBytes mac{};
  uint8_t port = 0;
  bool usable() const { return state == NeighState::Reachable || state == NeighState::Stale || state == NeighState::Static; }
};

class NeighbourTable {
 public:
  static constexpr uint32_t kSize = 4096;   // power of two; at most half used

  // ---- Any worker
  // The entry for addr_be; false if there is none.
  bool lookup(uint32_t addr_be, NeighView* out) const {
    const Slot* s = find(addr_be);
    if (s == nullptr) return false;
    *out = unpack(s->word.load(std::memory_order_acquire));
    return true;
  }

  // ---- Main lcore only
  // Creates (Incomplete) or updates an entry. False if the table is full.
  bool set(uint32_t addr_be, NeighState state, const MacBytes& mac, uint8_t port, uint64_t now_ms);
  bool set_state(uint32_t addr_be, NeighState state, uint64_t now_ms);
  // Calls f(addr_be, view, updated_ms) for every entry (aging, dumps).
  template <typename F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_) {
      uint32_t a = s.addr_be.load(std::memory_order_acquire);
      if (a != 0) f(a, unpack(s.word.load(std::memory_order_acquire)), s.updated_ms);
    }
  }
  uint32_t size() const { return used_; }
  // Bumped whenever an entry's MAC, port or state changes: lets workers cache lookups.
  uint32_t version() const { return version_.load(std::memory_order_acquire); }

 private:
  struct Slot {
    std::atomic<uint32_t> addr_be{0};
    std::atomic<uint64_t> word{0};   // mac (48 bits) | port << 48 | state << 56
    uint64_t updated_ms = 0;         // main lcore only
  };
  static uint64_t pack(NeighState state, const MacBytes& mac, uint8_t port);
  static NeighView unpack(uint64_t word) {
    NeighView v;
    std::memcpy(v.mac.data(), &word, 6);  // little-endian: bytes 0-5 of the word
    v.port = static_cast<uint8_t>(word >> 48);
    v.state = static_cast<NeighState>(word >> 56);
    return v;
  }
  static uint32_t home(uint32_t addr_be) { return (addr_be * 2654435761u) >> (32 - 12); }
  const Slot* find(uint32_t addr_be) const {
    if (addr_be == 0) return nullptr;
    uint32_t pos = home(addr_be);
    for (uint32_t n = 0; n < kSize; ++n, pos = (pos + 1) & (kSize - 1)) {
      uint32_t a = slots_[pos].addr_be.load(std::memory_order_acquire);
      if (a == addr_be) return &slots_[pos];
      if (a == 0) return nullptr;
    }
    return nullptr;
  }
  void store(Slot& slot, uint64_t word);

  std::array<Slot, kSize> slots_{};
  uint32_t used_ = 0;
  std::atomic<uint32_t> version_{0};
};

}  // namespace fulcrum::dp
