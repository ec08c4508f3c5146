#include "dataplane/core/neighbours.h"

namespace fulcrum::dp {

static_assert((NeighbourTable::kSize & (NeighbourTable::kSize - 1)) == 0);
static_assert(NeighbourTable::kSize == 1u << 12, "home() shifts by 32 - 12");

uint64_t NeighbourTable::pack(NeighState state, const MacBytes& mac, uint8_t port) {
  uint64_t w = 0;
  for (int i = 0; i < 6; ++i) w |= uint64_t{mac[i]} << (8 * i);
  return w | uint64_t{port} << 48 | uint64_t{static_cast<uint8_t>(state)} << 56;
}

void NeighbourTable::store(Slot& slot, uint64_t word) {
  if (slot.word.load(std::memory_order_relaxed) == word) return;
  slot.word.store(word, std::memory_order_release);
  version_.fetch_add(1, std::memory_order_release);
}

bool NeighbourTable::set(uint32_t addr_be, NeighState state, const MacBytes& mac, uint8_t port, uint64_t now_ms) {
  if (addr_be == 0) return false;
  Slot* slot = const_cast<Slot*>(find(addr_be));
  if (slot == nullptr) {
    if (used_ >= kSize / 2) return false;  // keep probes short
    uint32_t pos = home(addr_be);
    while (slots_[pos].addr_be.load(std::memory_order_relaxed) != 0) pos = (pos + 1) & (kSize - 1);
    slot = &slots_[pos];
    slot->word.store(pack(state, mac, port), std::memory_order_relaxed);
    slot->updated_ms = now_ms;
    slot->addr_be.store(addr_be, std::memory_order_release);  // visible only when complete
    version_.fetch_add(1, std::memory_order_release);
    ++used_;
    return true;
  }
  store(*slot, pack(state, mac, port));
  slot->updated_ms = now_ms;
  return true;
}

bool NeighbourTable::set_state(uint32_t addr_be, NeighState state, uint64_t now_ms) {
  Slot* slot = const_cast<Slot*>(find(addr_be));
  if (slot == nullptr) return false;
  NeighView v = unpack(slot->word.load(std::memory_order_relaxed));
  store(*slot, pack(state, v.mac, v.port));
  slot->updated_ms = now_ms;
  return true;
}

}  // namespace fulcrum::dp
