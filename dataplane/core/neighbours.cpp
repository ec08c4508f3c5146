#include "dataplane/core/neighbours.h"

namespace fulcrum::dp {

static_assert((NeighbourTable::kSize & (NeighbourTable::kSize - 1)) == 0);
static_assert(NeighbourTable::kSize == 1u << 12, "home() shifts by 32 - 12");

uint64_t NeighbourTable::pack(NeighState state, const MacBytes& mac, uint8_t port) {
  uint64_t w = 0;
  for (int i = 0; i < 6; ++i) w |= uint64_t{mac[i]} << (8 * i);
  return w | uint64_t{port} << 48 | uint64_t{static_cast<uint8_t>(state)} << 56;
}

NeighView NeighbourTable::unpack(uint64_t w) {
  NeighView v;
  for (int i = 0; i < 6; ++i) v.mac[i] = static_cast<uint8_t>(w >> (8 * i));
  v.port = static_cast<uint8_t>(w >> 48);
  v.state = static_cast<NeighState>(w >> 56);
  return v;
}

const NeighbourTable::Slot* NeighbourTable::find(uint32_t addr_be) const {
  if (addr_be == 0) return nullptr;
  uint32_t pos = home(addr_be);
  for (uint32_t n = 0; n < kSize; ++n, pos = (pos + 1) & (kSize - 1)) {
    uint32_t a = slots_[pos].addr_be.load(std::memory_order_acquire);
    if (a == addr_be) return &slots_[pos];
    if (a == 0) return nullptr;
  }
  return nullptr;
}

bool NeighbourTable::lookup(uint32_t addr_be, NeighView* out) const {
  const Slot* s = find(addr_be);
  if (s == nullptr) return false;
  *out = unpack(s->word.load(std::memory_order_acquire));
  return true;
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
    ++used_;
    return true;
  }
  slot->word.store(pack(state, mac, port), std::memory_order_release);
  slot->updated_ms = now_ms;
  return true;
}

bool NeighbourTable::set_state(uint32_t addr_be, NeighState state, uint64_t now_ms) {
  Slot* slot = const_cast<Slot*>(find(addr_be));
  if (slot == nullptr) return false;
  NeighView v = unpack(slot->word.load(std::memory_order_relaxed));
  slot->word.store(pack(state, v.mac, v.port), std::memory_order_release);
  slot->updated_ms = now_ms;
  return true;
}

}  // namespace fulcrum::dp
