// The neighbour (ARP) table: written by the main lcore only, read by every worker.
//
// Open addressing with linear probing, at most half full. Entries can be removed (garbage
// collection, eviction when full) with backward-shift deletion, which moves other entries:
// the main lcore therefore writes under a sequence lock (`version_` odd while it changes
// the table), and a worker's lookup retries when the version moved under it. Workers look
// up only when their per-worker next-hop cache misses, and the version also tells them when
// that cache is stale, so the retry costs nothing in the steady state.
//
// What to keep, forget or re-ask is the main lcore's policy (main_lcore.h); this table
// keeps the facts it needs for that: when an entry was last updated and last confirmed by
// its owner, and whether it is pinned (a gateway, a route's next hop, a backend: never
// garbage-collected).
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
  Stale = 2,        // usable; not confirmed for a while (pinned ones are re-asked)
  Failed = 3,       // did not answer
  Static = 4,       // from the config, never aged
};

struct NeighView {
  NeighState state = NeighState::Incomplete;
  MacBytes mac{};
  uint8_t port = 0;
  bool usable() const { return state == NeighState::Reachable || state == NeighState::Stale || state == NeighState::Static; }
};

// What the main lcore keeps per entry besides the view (never read by workers).
struct NeighMeta {
  uint64_t updated_ms = 0;     // last state change
  uint64_t confirmed_ms = 0;   // last time its owner answered or spoke ARP with this MAC
  bool pinned = false;         // next hop the configuration or tables need: never collected
};

class NeighbourTable {
 public:
  static constexpr uint32_t kSize = 16384;      // power of two: every backend of a full config fits
  static constexpr uint32_t kCapacity = kSize / 2;  // at most half full: probes stay short

  // ---- Any worker
  // The entry for addr_be; false if there is none (or the table kept changing under us).
  // *version_out, if given, is the version the answer is valid for (even), or an odd value
  // when no consistent answer was read.
  bool lookup(uint32_t addr_be, NeighView* out, uint32_t* version_out = nullptr) const {
    for (int attempt = 0; attempt < 16; ++attempt) {
      uint32_t v = version_.load(std::memory_order_acquire);
      if (v & 1) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
        continue;
      }
      const Slot* s = find(addr_be);
      uint64_t word = s != nullptr ? s->word.load(std::memory_order_relaxed) : 0;
      std::atomic_thread_fence(std::memory_order_acquire);
      if (version_.load(std::memory_order_relaxed) != v) continue;
      if (version_out != nullptr) *version_out = v;
      if (s == nullptr) return false;
      *out = unpack(word);
      return true;
    }
    if (version_out != nullptr) *version_out = 1;
    return false;
  }
  // Bumped (by two) whenever an entry's MAC, port or state changes or an entry comes or
  // goes: lets workers cache lookups. Odd while the main lcore is changing the table.
  uint32_t version() const { return version_.load(std::memory_order_acquire); }

  // ---- Main lcore only
  // Creates or updates an entry. When the table is full, the least recently updated entry
  // that is neither static nor pinned makes room; false (nothing changed) if there is none.
  bool set(uint32_t addr_be, NeighState state, const MacBytes& mac, uint8_t port, uint64_t now_ms);
  bool set_state(uint32_t addr_be, NeighState state, uint64_t now_ms);
  bool remove(uint32_t addr_be);
  // The entry's main-lcore bookkeeping, or nullptr.
  NeighMeta* meta(uint32_t addr_be);
  // Calls f(addr_be, view, meta) for every entry. f must not add or remove entries; collect
  // addresses and act after the walk.
  template <typename F>
  void for_each(F&& f) {
    for (Slot& s : slots_) {
      uint32_t a = s.addr_be.load(std::memory_order_relaxed);
      if (a != 0) f(a, unpack(s.word.load(std::memory_order_relaxed)), s.meta);
    }
  }
  uint32_t size() const { return used_; }
  // The address `set` would evict to make room now (0: none), for tests and the policy.
  uint32_t eviction_candidate() const;

 private:
  struct Slot {
    std::atomic<uint32_t> addr_be{0};
    std::atomic<uint64_t> word{0};   // mac (48 bits) | port << 48 | state << 56
    NeighMeta meta;                  // main lcore only
  };
  static uint64_t pack(NeighState state, const MacBytes& mac, uint8_t port);
  static NeighView unpack(uint64_t word) {
    NeighView v;
    std::memcpy(v.mac.data(), &word, 6);  // little-endian: bytes 0-5 of the word
    v.port = static_cast<uint8_t>(word >> 48);
    v.state = static_cast<NeighState>(word >> 56);
    return v;
  }
  static uint32_t home(uint32_t addr_be) { return (addr_be * 2654435761u) >> (32 - 14); }
  const Slot* find(uint32_t addr_be) const {
    if (addr_be == 0) return nullptr;
    uint32_t pos = home(addr_be);
    for (uint32_t n = 0; n < kSize; ++n, pos = (pos + 1) & (kSize - 1)) {
      uint32_t a = slots_[pos].addr_be.load(std::memory_order_relaxed);
      if (a == addr_be) return &slots_[pos];
      if (a == 0) return nullptr;
    }
    return nullptr;
  }
  Slot* find_mut(uint32_t addr_be) { return const_cast<Slot*>(find(addr_be)); }
  void begin_write() {
    version_.store(version_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // odd
    std::atomic_thread_fence(std::memory_order_release);
  }
  void end_write() { version_.store(version_.load(std::memory_order_relaxed) + 1, std::memory_order_release); }
  void erase(Slot& slot);   // inside begin_write/end_write

  std::array<Slot, kSize> slots_{};
  uint32_t used_ = 0;
  std::atomic<uint32_t> version_{0};
};

}  // namespace fulcrum::dp
