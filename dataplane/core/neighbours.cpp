#include "dataplane/core/neighbours.h"

namespace fulcrum::dp {

static_assert((NeighbourTable::kSize & (NeighbourTable::kSize - 1)) == 0);
static_assert(NeighbourTable::kSize == 1u << 14, "home() shifts by 32 - 14");

uint64_t NeighbourTable::pack(NeighState state, const MacBytes& mac, uint8_t port) {
  uint64_t w = 0;
  for (int i = 0; i < 6; ++i) w |= uint64_t{mac[i]} << (8 * i);
  return w | uint64_t{port} << 48 | uint64_t{static_cast<uint8_t>(state)} << 56;
}

uint32_t NeighbourTable::eviction_candidate() const {
  const Slot* oldest = nullptr;
  for (const Slot& s : slots_) {
    if (s.addr_be.load(std::memory_order_relaxed) == 0 || s.meta.pinned) continue;
    if (unpack(s.word.load(std::memory_order_relaxed)).state == NeighState::Static) continue;
    if (oldest == nullptr || s.meta.updated_ms < oldest->meta.updated_ms) oldest = &s;
  }
  return oldest != nullptr ? oldest->addr_be.load(std::memory_order_relaxed) : 0;
}

bool NeighbourTable::set(uint32_t addr_be, NeighState state, const MacBytes& mac, uint8_t port, uint64_t now_ms) {
  if (addr_be == 0) return false;
  const uint64_t word = pack(state, mac, port);
  if (Slot* slot = find_mut(addr_be)) {
    if (slot->word.load(std::memory_order_relaxed) != word) {
      begin_write();
      slot->word.store(word, std::memory_order_relaxed);
      end_write();
    }
    slot->meta.updated_ms = now_ms;
    return true;
  }
  if (used_ >= kCapacity) {
    uint32_t victim = eviction_candidate();
    if (victim == 0) return false;
    remove(victim);
  }
  uint32_t pos = home(addr_be);
  while (slots_[pos].addr_be.load(std::memory_order_relaxed) != 0) pos = (pos + 1) & (kSize - 1);
  Slot& slot = slots_[pos];
  begin_write();
  slot.word.store(word, std::memory_order_relaxed);
  slot.addr_be.store(addr_be, std::memory_order_relaxed);
  end_write();
  slot.meta = NeighMeta{now_ms, 0, false};
  ++used_;
  return true;
}

bool NeighbourTable::set_state(uint32_t addr_be, NeighState state, uint64_t now_ms) {
  Slot* slot = find_mut(addr_be);
  if (slot == nullptr) return false;
  NeighView v = unpack(slot->word.load(std::memory_order_relaxed));
  return set(addr_be, state, v.mac, v.port, now_ms);
}

NeighMeta* NeighbourTable::meta(uint32_t addr_be) {
  Slot* slot = find_mut(addr_be);
  return slot != nullptr ? &slot->meta : nullptr;
}

bool NeighbourTable::remove(uint32_t addr_be) {
  Slot* slot = find_mut(addr_be);
  if (slot == nullptr) return false;
  begin_write();
  erase(*slot);
  end_write();
  --used_;
  return true;
}

// Backward-shift deletion: later members of the probe run move up into the hole when their
// home is not between the hole and where they sit, so that no lookup ever stops at an empty
// slot before reaching its key. No tombstones, so the table never degrades with churn.
void NeighbourTable::erase(Slot& slot) {
  uint32_t hole = static_cast<uint32_t>(&slot - slots_.data());
  uint32_t next = (hole + 1) & (kSize - 1);
  for (;;) {
    uint32_t a = slots_[next].addr_be.load(std::memory_order_relaxed);
    if (a == 0) break;
    uint32_t h = home(a);
    // Does `next`'s home lie cyclically in (hole, next]? Then it must stay.
    bool stays = hole <= next ? (hole < h && h <= next) : (hole < h || h <= next);
    if (!stays) {
      slots_[hole].word.store(slots_[next].word.load(std::memory_order_relaxed), std::memory_order_relaxed);
      slots_[hole].addr_be.store(a, std::memory_order_relaxed);
      slots_[hole].meta = slots_[next].meta;
      hole = next;
    }
    next = (next + 1) & (kSize - 1);
  }
  slots_[hole].addr_be.store(0, std::memory_order_relaxed);
  slots_[hole].word.store(0, std::memory_order_relaxed);
  slots_[hole].meta = NeighMeta{};
}

}  // namespace fulcrum::dp
