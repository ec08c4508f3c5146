#include "dataplane/core/flow_table.h"

namespace fulcrum::dp {
namespace {

uint32_t next_pow2(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

}  // namespace

template <class Key>
typename BasicFlowTable<Key>::Sizes BasicFlowTable<Key>::sizes_for(uint32_t capacity, uint32_t partitions) {
  if (partitions == 0) partitions = 1;
  if (partitions > kMaxPartitions) partitions = kMaxPartitions;
  uint32_t per = (capacity + partitions - 1) / partitions;
  per = (per + 1) & ~1u;  // even: two entries per cache line never span two owners
  Sizes s{};
  s.entries = per * partitions;
  s.buckets = next_pow2(s.entries / 2 < 2 ? 2 : s.entries / 2);
  return s;
}

template <class Key>
BasicFlowTable<Key>::BasicFlowTable(Entry* entries, FlowBucket* buckets, Sizes sizes, uint32_t partitions, uint64_t seed)
    : entries_(entries), buckets_(buckets), sizes_(sizes),
      partitions_(partitions == 0 ? 1 : partitions > kMaxPartitions ? kMaxPartitions : partitions),
      per_partition_(sizes.entries / partitions_), bucket_mask_(sizes.buckets - 1) {
  // Expand the seed into the hash's secrets (splitmix64: every output bit depends on it).
  uint64_t state = seed;
  auto next = [&state] {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
#if defined(__AES__) && defined(__SSE4_1__)
  for (__m128i& k : round_keys_) {
    uint64_t lo = next(), hi = next();
    k = _mm_set_epi64x(static_cast<int64_t>(hi), static_cast<int64_t>(lo));
  }
#else
  sip_key_ = abi::HashKey{next(), next()};
#endif
  for (uint32_t p = 0; p < partitions_; ++p) {
    Partition& part = parts_[p];
    part.begin = p * per_partition_;
    part.end = part.begin + per_partition_;
    // Free list threaded through last_seen, lowest index first.
    for (uint32_t i = part.end; i-- > part.begin;) {
      entries_[i].flags = 0;
      entries_[i].last_seen.store(part.free_head, std::memory_order_relaxed);
      part.free_head = i;
    }
    part.free_count = per_partition_;
  }
}

// Placement: a key stays in its home bucket while that holds fewer than 4 keys (so most
// lookups read one bucket); past that it goes to the emptier of its two buckets. Filling
// a table to capacity (57 % of index slots) then leaves 15 % of keys in their alternative
// bucket and refuses none, where home-first-always refused 0.15 % (two-choice balancing;
// measured over 2M random keys).
template <class Key>
bool BasicFlowTable<Key>::insert_key(const FlowHash& h, uint64_t ref) {
  const uint64_t value = uint64_t{h.sig} << 32 | ref;
  auto used = [](const FlowBucket& b) {
    uint32_t n = 0;
    for (const auto& s : b.slots) n += s.load(std::memory_order_relaxed) != 0;
    return n;
  };
  auto try_bucket = [&](FlowBucket& b) {
    for (auto& s : b.slots) {
      uint64_t expected = 0;
      if (s.load(std::memory_order_relaxed) == 0 &&
          s.compare_exchange_strong(expected, value, std::memory_order_release, std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  };
  // Announce the overflow before the key appears in the alternative bucket, so a reader
  // that finds the home bucket without it knows to look there.
  auto try_alt = [&] {
    buckets_[h.bucket].overflow.fetch_add(1, std::memory_order_seq_cst);
    if (try_bucket(buckets_[h.alt])) return true;
    buckets_[h.bucket].overflow.fetch_sub(1, std::memory_order_release);
    return false;
  };
  FlowBucket& home = buckets_[h.bucket];
  const uint32_t home_used = used(home);
  if (home_used >= 4 && used(buckets_[h.alt]) < home_used) return try_alt() || try_bucket(home);
  return try_bucket(home) || try_alt();
}

template <class Key>
bool BasicFlowTable<Key>::remove_key(const FlowHash& h, uint64_t ref) {
  uint64_t value = uint64_t{h.sig} << 32 | ref;
  for (uint32_t which = 0; which < 2; ++which) {
    FlowBucket& b = buckets_[which == 0 ? h.bucket : h.alt];
    for (auto& s : b.slots) {
      uint64_t expected = value;
      if (s.load(std::memory_order_relaxed) == value &&
          s.compare_exchange_strong(expected, 0, std::memory_order_release, std::memory_order_relaxed)) {
        if (which == 1) buckets_[h.bucket].overflow.fetch_sub(1, std::memory_order_release);
        return true;
      }
    }
  }
  return false;
}

template <class Key>
uint32_t BasicFlowTable<Key>::alloc(uint32_t p) {
  Partition& part = parts_[p];
  uint32_t index = part.free_head;
  if (index == FlowRef::kNone) return index;
  part.free_head = entries_[index].last_seen.load(std::memory_order_relaxed);
  --part.free_count;
  Entry& c = entries_[index];
  c.flags = conn_flag::kInUse;
  c.state.store(conn_state::kDead, std::memory_order_relaxed);  // invisible until published
  return index;
}

template <class Key>
PublishResult BasicFlowTable<Key>::publish(uint32_t index, const FlowHash& fwd, const FlowHash& rev, uint8_t state,
                                 uint32_t now_ms) {
  Entry& c = entries_[index];
  if (lookup(c.rev, rev).found()) return PublishResult::ReverseConflict;
  c.last_seen.store(now_ms, std::memory_order_relaxed);
  c.state.store(state, std::memory_order_release);
  if (!insert_key(fwd, ref_of(index, Dir::FromClient))) {
    c.state.store(conn_state::kDead, std::memory_order_relaxed);
    return PublishResult::IndexFull;
  }
  if (!insert_key(rev, ref_of(index, Dir::FromBackend))) {
    c.state.store(conn_state::kDead, std::memory_order_relaxed);
    remove_key(fwd, ref_of(index, Dir::FromClient));
    return PublishResult::IndexFull;
  }
  ++parts_[partition_of(index)].in_use;
  return PublishResult::Ok;
}

template <class Key>
void BasicFlowTable<Key>::unpublish(uint32_t index) {
  Entry& c = entries_[index];
  c.state.fetch_or(conn_state::kDead, std::memory_order_release);
  remove_key(hash(c.fwd), ref_of(index, Dir::FromClient));
  remove_key(hash(c.rev), ref_of(index, Dir::FromBackend));
  --parts_[partition_of(index)].in_use;
}

template <class Key>
void BasicFlowTable<Key>::free(uint32_t index) {
  Partition& part = parts_[partition_of(index)];
  Entry& c = entries_[index];
  c.flags = 0;
  c.last_seen.store(part.free_head, std::memory_order_relaxed);
  part.free_head = index;
  ++part.free_count;
}

template <class Key>
double BasicFlowTable<Key>::index_load() const {
  uint64_t used = 0;
  for (uint32_t b = 0; b < sizes_.buckets; ++b) {
    for (const auto& s : buckets_[b].slots) used += s.load(std::memory_order_relaxed) != 0;
  }
  return double(used) / (double(sizes_.buckets) * 7.0);
}

template class BasicFlowTable<FlowKey>;
template class BasicFlowTable<FlowKey6>;

}  // namespace fulcrum::dp
