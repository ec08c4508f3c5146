#include "controlplane/maglev/maglev.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

namespace fulcrum::cp {
namespace {

// One weighted backend during a build, in canonical (address, port) order. 24 bytes, so
// the active list the fill loop compacts each round stays small.
struct Turn {
  uint32_t next;          // next slot of its permutation to look at
  uint32_t skip;
  uint32_t remaining;     // slots still to claim (quota - claimed)
  uint32_t input_index;   // position in the caller's span: what the table stores
  uint32_t weight;
  uint32_t credit = 0;
};

// The fraction of the table filled with rank-synchronous turns before switching to the
// paper's walk-ahead turns (see maglev.h).
constexpr uint32_t kRankSyncPerMille = 990;

// Slot occupancy, one bit per slot: the fill loop's hot data. 82 KiB for M = 655373, so
// it stays in L2 where the 16-bit table would not.
class Occupancy {
 public:
  explicit Occupancy(uint32_t size) : words_((size + 63) / 64, 0) {}
  bool taken(uint32_t slot) const { return (words_[slot >> 6] >> (slot & 63)) & 1; }
  void take(uint32_t slot) { words_[slot >> 6] |= uint64_t{1} << (slot & 63); }

 private:
  std::vector<uint64_t> words_;
};

inline uint32_t advance(uint32_t slot, uint32_t skip, uint32_t size) {
  slot += skip;
  return slot >= size ? slot - size : slot;
}

bool canonical_less(const MaglevBackend& a, const MaglevBackend& b) {
  if (a.family != b.family) return a.family < b.family;
  if (a.family == abi::Family::Ipv6) {
    int c = std::memcmp(a.addr6.b, b.addr6.b, 16);
    if (c != 0) return c < 0;
    return ntohs(a.port_be) < ntohs(b.port_be);
  }
  uint32_t aa = ntohl(a.addr_be), ba = ntohl(b.addr_be);
  if (aa != ba) return aa < ba;
  return ntohs(a.port_be) < ntohs(b.port_be);
}

// Largest-remainder apportionment of `size` slots by weight; ties go to the earlier
// backend in canonical order, so the result depends only on the set.
void apportion(std::vector<Turn>& turns, uint32_t size) {
  uint64_t total = 0;
  for (const Turn& t : turns) total += t.weight;
  std::vector<std::pair<uint64_t, uint32_t>> remainders;  // (remainder, position)
  uint64_t given = 0;
  for (uint32_t i = 0; i < turns.size(); ++i) {
    uint64_t share = uint64_t{size} * turns[i].weight;  // < 2^24 * 2^32: no overflow
    turns[i].remaining = static_cast<uint32_t>(share / total);
    given += turns[i].remaining;
    remainders.emplace_back(share % total, i);
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (uint64_t k = 0; given < size; ++k, ++given) turns[remainders[k].second].remaining += 1;
}

// Phase 1: rounds of rank-synchronous turns. Each round a backend earns credit equal to its
// weight and takes one turn per max_weight of credit (the heaviest backend turns every
// round); a turn looks at one permutation entry and claims it if free. Backends leave the
// active list, keeping their order, when they reach their quota. Returns slots filled.
uint32_t fill_rank_synchronous(std::vector<Turn>& active, uint32_t max_weight, uint32_t limit,
                               Occupancy& used, std::span<uint16_t> table) {
  const auto size = static_cast<uint32_t>(table.size());
  uint32_t filled = 0;
  size_t count = active.size();
  while (filled < limit && count > 0) {
    size_t kept = 0;
    for (size_t k = 0; k < count; ++k) {
      Turn t = active[k];
      for (t.credit += t.weight; t.credit >= max_weight && t.remaining > 0; t.credit -= max_weight) {
        uint32_t slot = t.next;
        t.next = advance(t.next, t.skip, size);
        if (!used.taken(slot)) {
          used.take(slot);
          table[slot] = static_cast<uint16_t>(t.input_index);
          --t.remaining;
          ++filled;
        }
      }
      if (t.remaining > 0) active[kept++] = t;
    }
    count = kept;
  }
  active.resize(count);
  return filled;
}

// Phase 2: the paper's turns: a turn walks ahead to the next free slot of the backend's
// permutation and claims it. Ends with the table full, since the quotas sum to M.
void fill_walk_ahead(std::vector<Turn>& active, uint32_t max_weight, uint32_t filled,
                     Occupancy& used, std::span<uint16_t> table) {
  const auto size = static_cast<uint32_t>(table.size());
  while (filled < size) {
    for (Turn& t : active) {
      for (t.credit += t.weight; t.credit >= max_weight && t.remaining > 0; t.credit -= max_weight) {
        uint32_t slot = t.next;
        while (used.taken(slot)) slot = advance(slot, t.skip, size);
        used.take(slot);
        table[slot] = static_cast<uint16_t>(t.input_index);
        t.next = advance(slot, t.skip, size);
        --t.remaining;
        ++filled;
      }
    }
  }
}

}  // namespace

std::string build_maglev(std::span<const MaglevBackend> backends, abi::HashKey key,
                         std::span<uint16_t> table) {
  const uint64_t size64 = table.size();
  if (std::string why = check_maglev_size(size64); !why.empty()) return why;
  const auto size = static_cast<uint32_t>(size64);
  if (backends.size() >= abi::kNoBackend) {
    return "too many backends for one VIP (" + std::to_string(backends.size()) + ", at most " +
           std::to_string(abi::kNoBackend - 1) + ")";
  }

  std::vector<uint32_t> order(backends.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return canonical_less(backends[a], backends[b]);
  });

  std::vector<Turn> turns;
  uint32_t max_weight = 0;
  for (uint32_t idx : order) {
    const MaglevBackend& b = backends[idx];
    if (b.weight == 0) continue;
    uint64_t h = b.family == abi::Family::Ipv6 ? abi::backend_hash6(key, b.addr6.b, b.port_be)
                                               : abi::backend_hash(key, b.addr_be, b.port_be);
    Turn t{};
    t.input_index = idx;
    t.weight = b.weight;
    t.next = static_cast<uint32_t>((h & 0xFFFF'FFFFu) % size);      // offset
    t.skip = static_cast<uint32_t>((h >> 32) % (size - 1)) + 1;     // 1 .. M-1, coprime to M
    turns.push_back(t);
    max_weight = std::max(max_weight, t.weight);
  }
  std::fill(table.begin(), table.end(), abi::kNoBackend);
  if (turns.empty()) return "";
  if (turns.size() > size) {
    return std::to_string(turns.size()) + " weighted backends do not fit a Maglev table of " +
           std::to_string(size) + " slots (use at least 100 slots per backend)";
  }
  apportion(turns, size);

  Occupancy used(size);
  uint32_t limit = static_cast<uint32_t>(uint64_t{size} * kRankSyncPerMille / 1000);
  uint32_t filled = fill_rank_synchronous(turns, max_weight, limit, used, table);
  fill_walk_ahead(turns, max_weight, filled, used, table);
  return "";
}

}  // namespace fulcrum::cp
