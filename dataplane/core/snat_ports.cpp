#include "dataplane/core/snat_ports.h"

#include <arpa/inet.h>

#include <cstdlib>
#include <new>

namespace fulcrum::dp {

void SnatPorts::Free::operator()(uint64_t* p) const { std::free(p); }

SnatPorts::SnatPorts(uint32_t worker, uint32_t workers, uint32_t max_pools)
    : worker_(worker), workers_(workers == 0 ? 1 : workers), max_pools_(max_pools == 0 ? 1 : max_pools) {
  if (worker_ >= workers_) worker_ = workers_ - 1;  // a caller bug must not hand out another worker's ports
  uint32_t total = 65536 - kFirstPort;
  share_ = total / workers_ + (worker_ < total % workers_ ? 1 : 0);
  words_ = (share_ + 63) / 64;
  pools_.resize(max_pools_);
  index_.assign(size_t{max_pools_} * 2, 0);
  // calloc: the kernel maps zero pages on first touch, so untouched pools cost nothing.
  bits_.reset(static_cast<uint64_t*>(std::calloc(size_t{max_pools_} * words_, sizeof(uint64_t))));
  if (!bits_) throw std::bad_alloc();
}

SnatPorts::~SnatPorts() = default;

uint16_t SnatPorts::port_of(uint32_t slot) const {
  return htons(static_cast<uint16_t>(kFirstPort + slot * workers_ + worker_));
}

bool SnatPorts::slot_of(uint16_t port, uint32_t* slot) const {
  if (port < kFirstPort || (port - kFirstPort) % workers_ != worker_) return false;
  *slot = (port - kFirstPort) / workers_;
  return *slot < share_;
}

uint32_t SnatPorts::home(const Key& k) const {
  uint64_t h = (uint64_t{k.snat_be} << 32 | k.backend_be) * 0x9E3779B97F4A7C15ull;
  h ^= (h >> 29) ^ (uint64_t{k.backend_port_be} * 0xC2B2AE3D27D4EB4Full);
  h *= 0xBF58476D1CE4E5B9ull;
  return static_cast<uint32_t>((h >> 32) % index_.size());
}

int SnatPorts::find(const Key& k) const {
  const size_t n = index_.size();
  for (size_t pos = home(k), probes = 0; probes < n; pos = pos + 1 == n ? 0 : pos + 1, ++probes) {
    uint32_t e = index_[pos];
    if (e == 0) return -1;
    if (pools_[e - 1].key == k) return static_cast<int>(e - 1);
  }
  return -1;
}

void SnatPorts::index_insert(uint32_t pool) {
  const size_t n = index_.size();
  size_t pos = home(pools_[pool].key);
  while (index_[pos] != 0) pos = pos + 1 == n ? 0 : pos + 1;
  index_[pos] = pool + 1;
}

// Backward-shift deletion (see NeighbourTable::erase): no tombstones.
void SnatPorts::index_erase(uint32_t pool) {
  const size_t n = index_.size();
  size_t hole = home(pools_[pool].key);
  while (index_[hole] != pool + 1) hole = hole + 1 == n ? 0 : hole + 1;
  for (size_t next = hole + 1 == n ? 0 : hole + 1; index_[next] != 0; next = next + 1 == n ? 0 : next + 1) {
    size_t h = home(pools_[index_[next] - 1].key);
    bool stays = hole <= next ? (hole < h && h <= next) : (hole < h || h <= next);
    if (!stays) {
      index_[hole] = index_[next];
      hole = next;
    }
  }
  index_[hole] = 0;
}

int SnatPorts::take_pool(const Key& k) {
  uint32_t p;
  if (next_fresh_ < max_pools_) {
    p = next_fresh_++;
  } else {
    // Every pool has been keyed once: reuse one with no port in use (the config's pairs
    // change with reloads). A rotating scan, only when a new pair first appears.
    uint32_t n = 0;
    for (; n < max_pools_; ++n) {
      p = recycle_cursor_;
      recycle_cursor_ = recycle_cursor_ + 1 == max_pools_ ? 0 : recycle_cursor_ + 1;
      if (pools_[p].used == 0) break;
    }
    if (n == max_pools_) return -1;
    if (pools_[p].keyed) {
      index_erase(p);
      --keyed_;
    }
  }
  Pool& pool = pools_[p];
  pool = Pool{k, 0, 0, true};
  // The bits past the share in the last word are marked used, so the scan never offers them.
  uint64_t* b = bits(p);
  for (uint32_t w = 0; w < words_; ++w) b[w] = 0;
  if (share_ % 64 != 0) b[words_ - 1] = ~uint64_t{0} << (share_ % 64);
  index_insert(p);
  ++keyed_;
  return static_cast<int>(p);
}

uint16_t SnatPorts::alloc(const Key& k, uint32_t hint) {
  int found = find(k);
  if (found < 0) found = take_pool(k);
  if (found < 0) return 0;
  Pool& pool = pools_[static_cast<uint32_t>(found)];
  if (pool.used == share_) return 0;
  uint64_t* b = bits(static_cast<uint32_t>(found));
  // From the rotating cursor (moved by the hint), the first free bit, a word at a time.
  uint32_t start = (pool.cursor + hint % 64) % share_;
  uint32_t w = start / 64;
  uint64_t free_bits = ~b[w] & (~uint64_t{0} << (start % 64));
  for (uint32_t n = 0; n <= words_; ++n) {
    if (free_bits != 0) {
      uint32_t slot = w * 64 + static_cast<uint32_t>(__builtin_ctzll(free_bits));
      b[w] |= uint64_t{1} << (slot % 64);
      ++pool.used;
      pool.cursor = slot + 1 == share_ ? 0 : slot + 1;
      return port_of(slot);
    }
    w = w + 1 == words_ ? 0 : w + 1;
    free_bits = ~b[w];
  }
  return 0;
}

void SnatPorts::release(const Key& k, uint16_t port_be) {
  int found = find(k);
  uint32_t slot;
  if (found < 0 || !slot_of(ntohs(port_be), &slot)) return;
  uint64_t* b = bits(static_cast<uint32_t>(found));
  uint64_t bit = uint64_t{1} << (slot % 64);
  if (b[slot / 64] & bit) {
    b[slot / 64] &= ~bit;
    --pools_[static_cast<uint32_t>(found)].used;
  }
}

uint32_t SnatPorts::in_use(const Key& k) const {
  int found = find(k);
  return found < 0 ? 0 : pools_[static_cast<uint32_t>(found)].used;
}

}  // namespace fulcrum::dp
