// The connection table: one table shared by all workers.
//
// Why one shared table: a reply (backend -> client) carries none of the addresses the
// request hashed on, so with per-core tables the NIC would have to steer replies to the
// core that saw the SYN, which needs flow-director rules most NICs and every virtual NIC
// here lack. One table lets any worker translate any packet, whichever queue it came on.
//
// Concurrency (see docs/dataplane.md):
//  * Readers (every worker, every packet) never lock: they load index slots with acquire
//    and compare the entry's key.
//  * Each entry belongs to one worker's partition. Only that worker allocates, publishes,
//    expires and frees it, so there is never a race to insert the same flow twice: a
//    worker that misses a flow it does not own hands the packet to the owner.
//  * Index slots are claimed with a CAS, since two workers may insert different flows
//    into the same bucket.
//  * A removed entry is freed only after every worker has passed a quiescent point
//    (rte_rcu_qsbr in the data plane); the table itself leaves that to its caller.
//
// Memory: 32-byte entries plus 64-byte buckets of 7 index slots, one bucket per two
// entries (two keys per connection, index at most 57 % full): 64 bytes per connection at
// power-of-two capacities.
//
// IPv6 (issue 15): a second table of the same design, BasicFlowTable<FlowKey6>, rather
// than one table with 40-byte keys. Widening every key would make the IPv4 entry 80 bytes
// and cost IPv4 its 64-byte budget; two instances of one template keep IPv4 at 64 bytes
// and give IPv6 80-byte entries, 112 bytes per connection (Katran and VPP keep the
// families apart the same way: ../shared/research/wave2-anchors.md §5). A NAT64 connection
// (IPv6 client, IPv4 backend) lives wholly in the IPv6 table, its IPv4 reverse key stored
// IPv4-mapped (::ffff:a.b.c.d), so no entry is ever referenced from the other table.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__AES__) && defined(__SSE4_1__)
#include <smmintrin.h>
#include <wmmintrin.h>
#endif

#include "dataplane/abi/flow_hash.h"
#include "dataplane/abi/ip6.h"

#include "dataplane/core/tcp_state.h"

namespace fulcrum::dp {

// An IPv6 address as it sits in the packet.
using Addr6 = abi::Ip6;

// The 4-tuple of one direction, as it sits in the packet (network byte order).
template <class Addr>
struct BasicFlowKey {
  Addr src_addr;
  Addr dst_addr;
  uint16_t src_port;
  uint16_t dst_port;
  bool operator==(const BasicFlowKey&) const = default;
};
using FlowKey = BasicFlowKey<uint32_t>;
using FlowKey6 = BasicFlowKey<Addr6>;
static_assert(sizeof(FlowKey) == 12);
static_assert(sizeof(FlowKey6) == 36);

namespace conn_flag {
inline constexpr uint8_t kInUse = 0x01;
inline constexpr uint8_t kFullNat = 0x02;
inline constexpr uint8_t kSynproxy = 0x04;   // handshake answered with a cookie: sequence numbers translated
// Scheduling (docs/scheduling.md): holds one of its backend's max_connections while not
// closed; and which attempt of a connection this entry is (0: the first, 1..3: retries on
// other backends after a refusal or no answer).
inline constexpr uint8_t kLimited = 0x08;
inline constexpr uint8_t kAttemptShift = 4;
inline constexpr uint8_t kAttemptMask = 0x30;
// issue 15, IPv6 table only: an IPv6 client with an IPv4 backend (rev holds IPv4-mapped
// addresses); always with kFullNat.
inline constexpr uint8_t kNat64 = 0x40;
}  // namespace conn_flag

// IPv4 entries are 32-byte aligned, two to a cache line; IPv6 entries (80 bytes) are
// 16-byte aligned: padding them to a line would cost 48 bytes per connection for one
// line fetch less on a hit.
template <class Key>
struct alignas(sizeof(Key) == sizeof(FlowKey) ? 32 : 16) BasicConn {
  Key fwd;                           // client -> VIP
  Key rev;                           // backend -> client (nat) or -> SNAT address (fullnat)
  uint16_t backend_id;               // stable id: backend state and counters
  std::atomic<uint8_t> state;        // TcpPhase + conn_state bits, any worker updates it
  uint8_t flags;                     // conn_flag, written by the owner only
  std::atomic<uint32_t> last_seen;   // ms; while the entry is free: next free index

  auto client_addr() const { return fwd.src_addr; }
  auto vip_addr() const { return fwd.dst_addr; }
  uint16_t client_port() const { return fwd.src_port; }
  uint16_t vip_port() const { return fwd.dst_port; }
  auto backend_addr() const { return rev.src_addr; }
  uint16_t backend_port() const { return rev.src_port; }
  auto snat_addr() const { return rev.dst_addr; }   // == client_addr() in nat mode
  uint16_t snat_port() const { return rev.dst_port; }
};
using Conn = BasicConn<FlowKey>;
using Conn6 = BasicConn<FlowKey6>;
static_assert(sizeof(Conn) == 32);
static_assert(sizeof(Conn6) == 80);

struct alignas(64) FlowBucket {
  std::atomic<uint32_t> overflow;    // keys homed here that live in their alternative bucket
  uint32_t reserved;
  std::atomic<uint64_t> slots[7];    // (signature << 32) | (2 * entry + dir + 1); 0 = empty
};
static_assert(sizeof(FlowBucket) == 64);

struct FlowHash {
  uint32_t bucket;
  uint32_t alt;
  uint32_t sig;
  uint32_t owner_bits;   // which worker owns a new flow with this key
};

struct FlowRef {
  static constexpr uint32_t kNone = 0xFFFFFFFFu;
  uint32_t index = kNone;
  Dir dir = Dir::FromClient;
  bool found() const { return index != kNone; }
};

enum class PublishResult { Ok, IndexFull, ReverseConflict };

template <class Key>
class BasicFlowTable {
 public:
  using Entry = BasicConn<Key>;
  static constexpr uint32_t kMaxPartitions = 32;

  struct Sizes {
    uint32_t entries;     // capacity rounded to whole partitions of even size
    uint32_t buckets;     // power of two
    size_t entry_bytes() const { return size_t{entries} * sizeof(Entry); }
    size_t bucket_bytes() const { return size_t{buckets} * sizeof(FlowBucket); }
  };
  static Sizes sizes_for(uint32_t capacity, uint32_t partitions);

  // `entries` and `buckets` must be zeroed memory of Sizes' byte counts, 64-byte aligned.
  // `seed` keys the table's hash (random per start in the data plane): see hash_words().
  BasicFlowTable(Entry* entries, FlowBucket* buckets, Sizes sizes, uint32_t partitions, uint64_t seed);

  uint32_t capacity() const { return sizes_.entries; }
  uint32_t partitions() const { return partitions_; }
  uint32_t partition_of(uint32_t index) const { return index / per_partition_; }
  uint32_t owner_of(const FlowHash& h) const { return h.owner_bits % partitions_; }

  // ---- Any worker
  FlowHash hash(const Key& key) const {
    if constexpr (sizeof(Key) == sizeof(FlowKey)) {
      uint64_t addrs;
      uint32_t ports;
      std::memcpy(&addrs, &key, 8);
      std::memcpy(&ports, reinterpret_cast<const char*>(&key) + 8, 4);
      return hash_words(addrs, ports);
    } else {
      return hash6(key.src_addr, key.dst_addr, uint32_t{key.src_port} | uint32_t{key.dst_port} << 16);
    }
  }
  // The same from the two words as loaded from the packet (source+destination address,
  // source+destination port): a key built from narrower stores and read back as wide
  // words would stall on store forwarding.
  FlowHash hash_words(uint64_t addrs, uint32_t ports) const;
  // IPv6: both addresses as they sit in the packet, and the two ports as one word.
  FlowHash hash6(const Addr6& src, const Addr6& dst, uint32_t ports) const;
  void prefetch(const FlowHash& h) const { __builtin_prefetch(&buckets_[h.bucket], 0, 3); }
  void prefetch_entry(uint32_t index) const { __builtin_prefetch(&entries_[index], 0, 3); }
  // First live entry with this key in either direction, or kNone.
  FlowRef lookup(const Key& key, const FlowHash& h) const;
  // The first slot of the home bucket whose signature matches (0: none): what the burst
  // function prefetches the entry of between reading the bucket and checking the key.
  uint64_t candidate(const FlowHash& h) const;
  static uint32_t entry_of(uint64_t slot) { return (static_cast<uint32_t>(slot) - 1) >> 1; }
  // lookup(), starting with the candidate found earlier: in the common case one key check.
  FlowRef lookup_from(const Key& key, const FlowHash& h, uint64_t candidate) const {
    if (candidate != 0) {
      uint64_t ref = static_cast<uint32_t>(candidate);
      if (key_matches(key, ref)) return FlowRef{static_cast<uint32_t>((ref - 1) >> 1), static_cast<Dir>((ref - 1) & 1)};
    }
    return lookup(key, h);
  }
  Entry& entry(uint32_t index) { return entries_[index]; }
  const Entry& entry(uint32_t index) const { return entries_[index]; }

  // ---- The owning worker only (partition p)
  // A free entry of partition p, or kNone. The caller fills fwd/rev/backend_id/flags.
  uint32_t alloc(uint32_t p);
  // Makes both keys of a filled entry visible; the caller passes the hashes of its fwd and
  // rev keys, which it has already computed (and prefetched the buckets of). On failure
  // nothing is visible any more, but a reader may have glimpsed the forward key: free()
  // the entry only after a grace period.
  PublishResult publish(uint32_t index, const FlowHash& fwd, const FlowHash& rev, uint8_t state, uint32_t now_ms);
  // Marks the entry dead and removes both keys; readers already holding it may still
  // read it until they pass a quiescent point, so free() must wait for that.
  void unpublish(uint32_t index);
  void free(uint32_t index);
  uint32_t in_use(uint32_t p) const { return parts_[p].in_use; }
  uint32_t free_count(uint32_t p) const { return parts_[p].free_count; }
  uint32_t partition_begin(uint32_t p) const { return parts_[p].begin; }
  uint32_t partition_end(uint32_t p) const { return parts_[p].end; }

  // Index occupancy, for the memory documentation and tests.
  double index_load() const;

 private:
  bool insert_key(const FlowHash& h, uint64_t ref);
  bool remove_key(const FlowHash& h, uint64_t ref);
  bool key_matches(const Key& key, uint64_t ref) const {
    uint64_t r = ref - 1;
    const Entry& c = entries_[r >> 1];
    const Key& k = (r & 1) ? c.rev : c.fwd;
    return k == key && (c.state.load(std::memory_order_relaxed) & conn_state::kDead) == 0;
  }
  static uint64_t ref_of(uint32_t index, Dir dir) { return (uint64_t{index} << 1 | static_cast<uint64_t>(dir)) + 1; }

  struct alignas(64) Partition {
    uint32_t begin = 0, end = 0;
    uint32_t free_head = FlowRef::kNone;
    uint32_t free_count = 0;
    uint32_t in_use = 0;
  };

  FlowHash finish(uint64_t a, uint64_t b) const;

  Entry* entries_;
  FlowBucket* buckets_;
  Sizes sizes_;
  uint32_t partitions_;
  uint32_t per_partition_;
  uint32_t bucket_mask_;
#if defined(__AES__) && defined(__SSE4_1__)
  __m128i round_keys_[4];   // whitening key and three AES round keys, from the seed
#else
  abi::HashKey sip_key_;
#endif
  Partition parts_[kMaxPartitions];
};

// The table's hash: keyed, so that nobody who does not know the key (random per start)
// can compute tuples that collide in a bucket, or aim a flood at one worker's partition.
// (A CRC, even seeded, is linear: colliding tuples can be computed without the seed.)
//
// With AES-NI: the 12-byte key, whitened with a 128-bit secret, goes through three AES
// rounds with secret round keys. Two rounds already spread every input bit over the whole
// block; the third is margin. This is aHash's construction: not a PRF in the cryptographic
// sense, but its output cannot be predicted or inverted without the key, which is what a
// hash table under attack needs, at about the cost of the CRC32C it replaces (three
// independent aesenc per packet pipeline across the burst). Without AES-NI: SipHash-1-3.
// One 128-bit result gives the bucket, the signature, the alternative bucket and the owner.
template <class Key>
inline FlowHash BasicFlowTable<Key>::hash_words(uint64_t lo, uint32_t hi) const {
  uint64_t a, b;
#if defined(__AES__) && defined(__SSE4_1__)
  __m128i x = _mm_xor_si128(_mm_set_epi64x(static_cast<int64_t>(hi), static_cast<int64_t>(lo)), round_keys_[0]);
  x = _mm_aesenc_si128(x, round_keys_[1]);
  x = _mm_aesenc_si128(x, round_keys_[2]);
  x = _mm_aesenc_si128(x, round_keys_[3]);
  a = static_cast<uint64_t>(_mm_cvtsi128_si64(x));
  b = static_cast<uint64_t>(_mm_extract_epi64(x, 1));
#else
  uint64_t words[2] = {lo, hi};
  a = abi::siphash<1, 3>(sip_key_, words, 12);
  b = a * 0x9E3779B97F4A7C15ull;
#endif
  return finish(a, b);
}

// IPv6: the same rounds, the key absorbed a block at a time (aHash's construction for longer
// inputs): source, destination, then the ports, each XORed into the state before a round,
// and two more rounds after the last, so the ports pass three rounds as the IPv4 key does.
template <class Key>
inline FlowHash BasicFlowTable<Key>::hash6(const Addr6& src, const Addr6& dst, uint32_t ports) const {
  uint64_t a, b;
#if defined(__AES__) && defined(__SSE4_1__)
  __m128i x = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src.b)), round_keys_[0]);
  x = _mm_aesenc_si128(x, round_keys_[1]);
  x = _mm_aesenc_si128(_mm_xor_si128(x, _mm_loadu_si128(reinterpret_cast<const __m128i*>(dst.b))), round_keys_[2]);
  x = _mm_aesenc_si128(_mm_xor_si128(x, _mm_cvtsi32_si128(static_cast<int>(ports))), round_keys_[3]);
  x = _mm_aesenc_si128(x, round_keys_[1]);
  x = _mm_aesenc_si128(x, round_keys_[2]);
  a = static_cast<uint64_t>(_mm_cvtsi128_si64(x));
  b = static_cast<uint64_t>(_mm_extract_epi64(x, 1));
#else
  unsigned char bytes[36];
  std::memcpy(bytes, src.b, 16);
  std::memcpy(bytes + 16, dst.b, 16);
  std::memcpy(bytes + 32, &ports, 4);
  a = abi::siphash<1, 3>(sip_key_, bytes, sizeof bytes);
  b = a * 0x9E3779B97F4A7C15ull;
#endif
  return finish(a, b);
}

template <class Key>
inline FlowHash BasicFlowTable<Key>::finish(uint64_t a, uint64_t b) const {
  FlowHash h{};
  h.bucket = static_cast<uint32_t>(a) & bucket_mask_;
  h.sig = static_cast<uint32_t>(a >> 32);
  uint32_t alt = static_cast<uint32_t>(b) & bucket_mask_;
  h.alt = alt == h.bucket ? alt ^ 1 : alt;
  h.owner_bits = static_cast<uint32_t>(b >> 32);
  return h;
}

template <class Key>
inline uint64_t BasicFlowTable<Key>::candidate(const FlowHash& h) const {
  const FlowBucket& b = buckets_[h.bucket];
  for (const auto& s : b.slots) {
    uint64_t v = s.load(std::memory_order_acquire);
    if (v != 0 && static_cast<uint32_t>(v >> 32) == h.sig) return v;
  }
  return 0;
}

template <class Key>
inline FlowRef BasicFlowTable<Key>::lookup(const Key& key, const FlowHash& h) const {
  for (uint32_t which = 0; which < 2; ++which) {
    const FlowBucket& b = buckets_[which == 0 ? h.bucket : h.alt];
    for (const auto& s : b.slots) {
      uint64_t v = s.load(std::memory_order_acquire);
      if (v == 0 || static_cast<uint32_t>(v >> 32) != h.sig) continue;
      uint64_t ref = static_cast<uint32_t>(v);
      if (key_matches(key, ref)) return FlowRef{static_cast<uint32_t>((ref - 1) >> 1), static_cast<Dir>((ref - 1) & 1)};
    }
    if (which == 0 && buckets_[h.bucket].overflow.load(std::memory_order_acquire) == 0) break;
  }
  return FlowRef{};
}

using FlowTable = BasicFlowTable<FlowKey>;
using FlowTable6 = BasicFlowTable<FlowKey6>;
extern template class BasicFlowTable<FlowKey>;
extern template class BasicFlowTable<FlowKey6>;

}  // namespace fulcrum::dp
