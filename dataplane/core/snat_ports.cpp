#include "dataplane/core/snat_ports.h"

#include <arpa/inet.h>

namespace fulcrum::dp {

SnatPorts::SnatPorts(uint32_t worker, uint32_t workers)
    : worker_(worker), workers_(workers == 0 ? 1 : workers) {
  if (worker_ >= workers_) worker_ = workers_ - 1;  // a caller bug must not hand out another worker's ports
  uint32_t total = 65536 - kFirstPort;
  share_ = total / workers_ + (worker_ < total % workers_ ? 1 : 0);
  pools_.resize(kMaxAddrs);
  for (Pool& p : pools_) p.bits.assign((share_ + 63) / 64, 0);
}

uint16_t SnatPorts::port_of(uint32_t slot) const {
  return htons(static_cast<uint16_t>(kFirstPort + slot * workers_ + worker_));
}

bool SnatPorts::slot_of(uint16_t port, uint32_t* slot) const {
  if (port < kFirstPort || (port - kFirstPort) % workers_ != worker_) return false;
  *slot = (port - kFirstPort) / workers_;
  return *slot < share_;
}

SnatPorts::Pool* SnatPorts::find(uint32_t addr_be, bool create) {
  for (Pool& p : pools_) {
    if (p.addr_be == addr_be) return &p;
  }
  if (!create) return nullptr;
  // SNAT addresses change with the config: a pool with no port in use is free to serve
  // another address (empty pools first, so a recently used address keeps its cursor).
  Pool* idle = nullptr;
  for (Pool& p : pools_) {
    if (p.addr_be == 0) {
      p.addr_be = addr_be;
      return &p;
    }
    if (p.used == 0 && idle == nullptr) idle = &p;
  }
  if (idle != nullptr) idle->addr_be = addr_be;
  return idle;
}

uint16_t SnatPorts::alloc(uint32_t addr_be, uint32_t hint) {
  Pool* pool = find(addr_be, true);
  if (pool == nullptr || pool->used == share_) return 0;
  // Start from a rotating cursor (moved by the hint) so a freed port is not reused at
  // once: a late packet of the old connection then finds no flow instead of a new one.
  uint32_t start = (pool->cursor + hint % 64) % share_;
  for (uint32_t n = 0; n < share_; ++n) {
    uint32_t slot = start + n;
    if (slot >= share_) slot -= share_;
    uint64_t& word = pool->bits[slot / 64];
    uint64_t bit = uint64_t{1} << (slot % 64);
    if ((word & bit) == 0) {
      word |= bit;
      ++pool->used;
      pool->cursor = slot + 1 == share_ ? 0 : slot + 1;
      return port_of(slot);
    }
  }
  return 0;
}

void SnatPorts::release(uint32_t addr_be, uint16_t port_be) {
  Pool* pool = find(addr_be, false);
  uint32_t slot;
  if (pool == nullptr || !slot_of(ntohs(port_be), &slot)) return;
  uint64_t bit = uint64_t{1} << (slot % 64);
  if (pool->bits[slot / 64] & bit) {
    pool->bits[slot / 64] &= ~bit;
    --pool->used;
  }
}

uint32_t SnatPorts::in_use(uint32_t addr_be) const {
  for (const Pool& p : pools_) {
    if (p.addr_be == addr_be) return p.used;
  }
  return 0;
}

}  // namespace fulcrum::dp
