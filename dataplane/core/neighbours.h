// The neighbour table: written by the main lcore only, read by every worker. One template
// over the address: IPv4 (ARP) and, issue 15, IPv6 (neighbour discovery).
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

#include "dataplane/abi/ip6.h"

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

// How a slot holds its address: one atomic word for IPv4; two for IPv6 (issue 15), read
// under the table's sequence lock like the rest of the slot. The zero address (0.0.0.0,
// ::) marks an empty slot: neither is ever a neighbour.
template <class Addr>
struct NeighAddrSlot;
template <>
struct NeighAddrSlot<uint32_t> {
  std::atomic<uint32_t> a{0};
  uint32_t load() const { return a.load(std::memory_order_relaxed); }
  void store(uint32_t v) { a.store(v, std::memory_order_relaxed); }
  static bool empty(uint32_t v) { return v == 0; }
  static uint32_t hash(uint32_t v) { return v * 2654435761u; }
};
template <>
struct NeighAddrSlot<abi::Ip6> {
  std::atomic<uint64_t> lo{0}, hi{0};
  abi::Ip6 load() const {
    abi::Ip6 v;
    uint64_t l = lo.load(std::memory_order_relaxed), h = hi.load(std::memory_order_relaxed);
    std::memcpy(v.b, &l, 8);
    std::memcpy(v.b + 8, &h, 8);
    return v;
  }
  void store(const abi::Ip6& v) {
    uint64_t l, h;
    std::memcpy(&l, v.b, 8);
    std::memcpy(&h, v.b + 8, 8);
    lo.store(l, std::memory_order_relaxed);
    hi.store(h, std::memory_order_relaxed);
  }
  static bool empty(const abi::Ip6& v) { return v == abi::Ip6{}; }
  static uint32_t hash(const abi::Ip6& v) {
    uint64_t l, h;
    std::memcpy(&l, v.b, 8);
    std::memcpy(&h, v.b + 8, 8);
    return static_cast<uint32_t>(((l * 0x9E3779B97F4A7C15ull) ^ h) * 0x9E3779B97F4A7C15ull >> 32);
  }
};

template <class Addr>
class BasicNeighbourTable {
 public:
  static constexpr uint32_t kSize = 16384;      // power of two: every backend of a full config fits
  static constexpr uint32_t kCapacity = kSize / 2;  // at most half full: probes stay short
  using AddrSlot = NeighAddrSlot<Addr>;

  // ---- Any worker
  // The entry for addr; false if there is none (or the table kept changing under us).
  // *version_out, if given, is the version the answer is valid for (even), or an odd value
  // when no consistent answer was read.
  bool lookup(const Addr& addr, NeighView* out, uint32_t* version_out = nullptr) const {
    for (int attempt = 0; attempt < 16; ++attempt) {
      uint32_t v = version_.load(std::memory_order_acquire);
      if (v & 1) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
        continue;
      }
      const Slot* s = find(addr);
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
  bool set(const Addr& addr, NeighState state, const MacBytes& mac, uint8_t port, uint64_t now_ms);
  bool set_state(const Addr& addr, NeighState state, uint64_t now_ms);
  bool remove(const Addr& addr);
  // The entry's main-lcore bookkeeping, or nullptr.
  NeighMeta* meta(const Addr& addr);
  // Calls f(addr, view, meta) for every entry. f must not add or remove entries; collect
  // addresses and act after the walk.
  template <typename F>
  void for_each(F&& f) {
    for (Slot& s : slots_) {
      Addr a = s.addr.load();
      if (!AddrSlot::empty(a)) f(a, unpack(s.word.load(std::memory_order_relaxed)), s.meta);
    }
  }
  uint32_t size() const { return used_; }
  // The address `set` would evict to make room now (the zero address: none), for tests
  // and the policy.
  Addr eviction_candidate() const;

 private:
  struct Slot {
    AddrSlot addr;
    std::atomic<uint64_t> word{0};   // mac (48 bits) | port << 48 | state << 56
    NeighMeta meta;                  // main lcore only
  };
  static uint64_t pack(NeighState state, const MacBytes& mac, uint8_t port) {
    uint64_t w = 0;
    for (int i = 0; i < 6; ++i) w |= uint64_t{mac[i]} << (8 * i);
    return w | uint64_t{port} << 48 | uint64_t{static_cast<uint8_t>(state)} << 56;
  }
  static NeighView unpack(uint64_t word) {
    NeighView v;
    std::memcpy(v.mac.data(), &word, 6);  // little-endian: bytes 0-5 of the word
    v.port = static_cast<uint8_t>(word >> 48);
    v.state = static_cast<NeighState>(word >> 56);
    return v;
  }
  static uint32_t home(const Addr& addr) { return AddrSlot::hash(addr) >> (32 - 14); }
  static_assert(kSize == 1u << 14, "home() shifts by 32 - 14");
  const Slot* find(const Addr& addr) const {
    if (AddrSlot::empty(addr)) return nullptr;
    uint32_t pos = home(addr);
    for (uint32_t n = 0; n < kSize; ++n, pos = (pos + 1) & (kSize - 1)) {
      Addr a = slots_[pos].addr.load();
      if (a == addr) return &slots_[pos];
      if (AddrSlot::empty(a)) return nullptr;
    }
    return nullptr;
  }
  Slot* find_mut(const Addr& addr) { return const_cast<Slot*>(find(addr)); }
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

using NeighbourTable = BasicNeighbourTable<uint32_t>;
using NeighbourTable6 = BasicNeighbourTable<abi::Ip6>;   // issue 15: NDP
extern template class BasicNeighbourTable<uint32_t>;
extern template class BasicNeighbourTable<abi::Ip6>;

}  // namespace fulcrum::dp
