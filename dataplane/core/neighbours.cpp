#include "dataplane/core/neighbours.h"

namespace fulcrum::dp {

template <class Addr>
Addr BasicNeighbourTable<Addr>::eviction_candidate() const {
  const Slot* oldest = nullptr;
  for (const Slot& s : slots_) {
    if (AddrSlot::empty(s.addr.load()) || s.meta.pinned) continue;
    if (unpack(s.word.load(std::memory_order_relaxed)).state == NeighState::Static) continue;
    if (oldest == nullptr || s.meta.updated_ms < oldest->meta.updated_ms) oldest = &s;
  }
  return oldest != nullptr ? oldest->addr.load() : Addr{};
}

template <class Addr>
bool BasicNeighbourTable<Addr>::set(const Addr& addr, NeighState state, const MacBytes& mac, uint8_t port,
                                    uint64_t now_ms) {
  if (AddrSlot::empty(addr)) return false;
  const uint64_t word = pack(state, mac, port);
  if (Slot* slot = find_mut(addr)) {
    if (slot->word.load(std::memory_order_relaxed) != word) {
      begin_write();
      slot->word.store(word, std::memory_order_relaxed);
      end_write();
    }
    slot->meta.updated_ms = now_ms;
    return true;
  }
  if (used_ >= kCapacity) {
    Addr victim = eviction_candidate();
    if (AddrSlot::empty(victim)) return false;
    remove(victim);
  }
  uint32_t pos = home(addr);
  while (!AddrSlot::empty(slots_[pos].addr.load())) pos = (pos + 1) & (kSize - 1);
  Slot& slot = slots_[pos];
  begin_write();
  slot.word.store(word, std::memory_order_relaxed);
  slot.addr.store(addr);
  end_write();
  slot.meta = NeighMeta{now_ms, 0, false};
  ++used_;
  return true;
}

template <class Addr>
bool BasicNeighbourTable<Addr>::set_state(const Addr& addr, NeighState state, uint64_t now_ms) {
  Slot* slot = find_mut(addr);
  if (slot == nullptr) return false;
  NeighView v = unpack(slot->word.load(std::memory_order_relaxed));
  return set(addr, state, v.mac, v.port, now_ms);
}

template <class Addr>
NeighMeta* BasicNeighbourTable<Addr>::meta(const Addr& addr) {
  Slot* slot = find_mut(addr);
  return slot != nullptr ? &slot->meta : nullptr;
}

template <class Addr>
bool BasicNeighbourTable<Addr>::remove(const Addr& addr) {
  Slot* slot = find_mut(addr);
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
template <class Addr>
void BasicNeighbourTable<Addr>::erase(Slot& slot) {
  uint32_t hole = static_cast<uint32_t>(&slot - slots_.data());
  uint32_t next = (hole + 1) & (kSize - 1);
  for (;;) {
    Addr a = slots_[next].addr.load();
    if (AddrSlot::empty(a)) break;
    uint32_t h = home(a);
    // Does `next`'s home lie cyclically in (hole, next]? Then it must stay.
    bool stays = hole <= next ? (hole < h && h <= next) : (hole < h || h <= next);
    if (!stays) {
      slots_[hole].word.store(slots_[next].word.load(std::memory_order_relaxed), std::memory_order_relaxed);
      slots_[hole].addr.store(a);
      slots_[hole].meta = slots_[next].meta;
      hole = next;
    }
    next = (next + 1) & (kSize - 1);
  }
  slots_[hole].addr.store(Addr{});
  slots_[hole].word.store(0, std::memory_order_relaxed);
  slots_[hole].meta = NeighMeta{};
}

template class BasicNeighbourTable<uint32_t>;
template class BasicNeighbourTable<abi::Ip6>;

}  // namespace fulcrum::dp
