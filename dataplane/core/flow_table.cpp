#include "dataplane/core/flow_table.h"

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#endif

namespace fulcrum::dp {
namespace {

uint32_t next_pow2(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

// Two 32-bit hashes of the 12-byte key. CRC32C is one instruction per 8 bytes; its two
// uses read the words in different orders, which makes them different linear maps of the
// key, so the signature adds 32 bits the bucket index does not already fix. (CRC is not a
// PRF: someone who wants to can craft colliding tuples; all they get is their own flows
// forwarded without state once a bucket pair fills up. Flow -> backend choice uses
// SipHash, see abi/flow_hash.h.)
inline void crc_pair(const FlowKey& key, uint32_t seed, uint32_t* h1, uint32_t* h2) {
  uint64_t lo;
  uint32_t hi;
  std::memcpy(&lo, &key, 8);
  std::memcpy(&hi, reinterpret_cast<const char*>(&key) + 8, 4);
#if defined(__SSE4_2__)
  *h1 = _mm_crc32_u32(static_cast<uint32_t>(_mm_crc32_u64(seed, lo)), hi);
  *h2 = static_cast<uint32_t>(_mm_crc32_u64(_mm_crc32_u32(~seed, hi), lo));
#else
  uint64_t a = (lo ^ seed) * 0x9E3779B97F4A7C15ull ^ (uint64_t{hi} * 0xC2B2AE3D27D4EB4Full);
  a ^= a >> 29;
  a *= 0xBF58476D1CE4E5B9ull;
  *h1 = static_cast<uint32_t>(a >> 32);
  *h2 = static_cast<uint32_t>(a);
#endif
}

constexpr uint32_t sig_of(uint64_t slot) { return static_cast<uint32_t>(slot >> 32); }
constexpr uint32_t ref_part(uint64_t slot) { return static_cast<uint32_t>(slot); }

}  // namespace

FlowTable::Sizes FlowTable::sizes_for(uint32_t capacity, uint32_t partitions) {
  if (partitions == 0) partitions = 1;
  uint32_t per = (capacity + partitions - 1) / partitions;
  per = (per + 1) & ~1u;  // even: two entries per cache line never span two owners
  Sizes s{};
  s.entries = per * partitions;
  s.buckets = next_pow2(s.entries / 2 < 2 ? 2 : s.entries / 2);
  return s;
}

FlowTable::FlowTable(Conn* entries, FlowBucket* buckets, Sizes sizes, uint32_t partitions, uint32_t seed)
    : entries_(entries), buckets_(buckets), sizes_(sizes), partitions_(partitions == 0 ? 1 : partitions),
      per_partition_(sizes.entries / partitions_), bucket_mask_(sizes.buckets - 1), seed_(seed) {
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

FlowHash FlowTable::hash(const FlowKey& key) const {
  uint32_t h1, h2;
  crc_pair(key, seed_, &h1, &h2);
  FlowHash h{};
  h.bucket = h1 & bucket_mask_;
  h.sig = h2;
  uint32_t alt = (h2 ^ (h1 >> 7) ^ (h2 >> 13)) & bucket_mask_;
  h.alt = alt == h.bucket ? alt ^ 1 : alt;
  h.owner_bits = h1 >> 16 ^ h2;
  return h;
}

bool FlowTable::key_matches(const FlowKey& key, uint64_t ref) const {
  uint64_t r = ref - 1;
  const Conn& c = entries_[r >> 1];
  const FlowKey& k = (r & 1) ? c.rev : c.fwd;
  return k == key && (c.state.load(std::memory_order_relaxed) & conn_state::kDead) == 0;
}

uint32_t FlowTable::candidate(const FlowHash& h) const {
  const FlowBucket& b = buckets_[h.bucket];
  for (const auto& s : b.slots) {
    uint64_t v = s.load(std::memory_order_acquire);
    if (v != 0 && sig_of(v) == h.sig) return (ref_part(v) - 1) >> 1;
  }
  return FlowRef::kNone;
}

FlowRef FlowTable::lookup(const FlowKey& key, const FlowHash& h) const {
  for (uint32_t which = 0; which < 2; ++which) {
    const FlowBucket& b = buckets_[which == 0 ? h.bucket : h.alt];
    for (const auto& s : b.slots) {
      uint64_t v = s.load(std::memory_order_acquire);
      if (v == 0 || sig_of(v) != h.sig) continue;
      uint64_t ref = ref_part(v);
      if (key_matches(key, ref)) {
        return FlowRef{static_cast<uint32_t>((ref - 1) >> 1), static_cast<Dir>((ref - 1) & 1)};
      }
    }
    if (which == 0 && buckets_[h.bucket].overflow.load(std::memory_order_acquire) == 0) break;
  }
  return FlowRef{};
}

bool FlowTable::insert_key(const FlowKey& key, uint64_t ref) {
  FlowHash h = hash(key);
  uint64_t value = uint64_t{h.sig} << 32 | ref;
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
  if (try_bucket(buckets_[h.bucket])) return true;
  // Announce the overflow before the key appears in the alternative bucket, so a reader
  // that finds the home bucket without it knows to look there.
  buckets_[h.bucket].overflow.fetch_add(1, std::memory_order_seq_cst);
  if (try_bucket(buckets_[h.alt])) return true;
  buckets_[h.bucket].overflow.fetch_sub(1, std::memory_order_release);
  return false;
}

bool FlowTable::remove_key(const FlowKey& key, uint64_t ref) {
  FlowHash h = hash(key);
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

uint32_t FlowTable::alloc(uint32_t p) {
  Partition& part = parts_[p];
  uint32_t index = part.free_head;
  if (index == FlowRef::kNone) return index;
  part.free_head = entries_[index].last_seen.load(std::memory_order_relaxed);
  --part.free_count;
  Conn& c = entries_[index];
  c.flags = conn_flag::kInUse;
  c.state.store(conn_state::kDead, std::memory_order_relaxed);  // invisible until published
  return index;
}

PublishResult FlowTable::publish(uint32_t index, uint8_t state, uint32_t now_ms) {
  Conn& c = entries_[index];
  FlowHash rh = hash(c.rev);
  if (lookup(c.rev, rh).found()) return PublishResult::ReverseConflict;
  c.last_seen.store(now_ms, std::memory_order_relaxed);
  c.state.store(state, std::memory_order_release);
  if (!insert_key(c.fwd, ref_of(index, Dir::FromClient))) {
    c.state.store(conn_state::kDead, std::memory_order_relaxed);
    return PublishResult::IndexFull;
  }
  if (!insert_key(c.rev, ref_of(index, Dir::FromBackend))) {
    c.state.store(conn_state::kDead, std::memory_order_relaxed);
    remove_key(c.fwd, ref_of(index, Dir::FromClient));
    return PublishResult::IndexFull;
  }
  ++parts_[partition_of(index)].in_use;
  return PublishResult::Ok;
}

void FlowTable::unpublish(uint32_t index) {
  Conn& c = entries_[index];
  c.state.fetch_or(conn_state::kDead, std::memory_order_release);
  remove_key(c.fwd, ref_of(index, Dir::FromClient));
  remove_key(c.rev, ref_of(index, Dir::FromBackend));
  --parts_[partition_of(index)].in_use;
}

void FlowTable::free(uint32_t index) {
  Partition& part = parts_[partition_of(index)];
  Conn& c = entries_[index];
  c.flags = 0;
  c.last_seen.store(part.free_head, std::memory_order_relaxed);
  part.free_head = index;
  ++part.free_count;
}

double FlowTable::index_load() const {
  uint64_t used = 0;
  for (uint32_t b = 0; b < sizes_.buckets; ++b) {
    for (const auto& s : buckets_[b].slots) used += s.load(std::memory_order_relaxed) != 0;
  }
  return double(used) / (double(sizes_.buckets) * 7.0);
}

}  // namespace fulcrum::dp
