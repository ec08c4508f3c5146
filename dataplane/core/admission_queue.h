// A worker's handshakes in the order it admitted them, so that table pressure evicts the
// oldest half-open connection first (docs/dataplane.md, "Table pressure").
//
// Why a queue and not a scan by age: under a SYN flood the table's embryonic entries are
// all young (a 60,000/s flood renews a 64k-entry table in about a second), so any age
// threshold low enough to find victims also takes a legitimate handshake that is merely
// slower than the threshold, and a scan in index order takes whichever it meets first.
// Taking exactly the oldest gives every handshake the longest life the table allows:
// about (free entries) / (flood rate).
//
// A record is (entry index, tag of the entry's client key). Records are never removed when
// their connection completes or closes: eviction pops and skips records whose entry is no
// longer the same embryonic connection (the tag tells a reused index apart). When the ring
// is full the oldest record is dropped; that connection still expires by its timeout.
//
// Fixed memory (8 bytes per entry of the partition), no allocation after construction,
// owner worker only.
#pragma once

#include <bit>
#include <cstdint>
#include <vector>

#include "dataplane/abi/tables.h"
#include "dataplane/core/flow_table.h"

namespace fulcrum::dp {

class AdmissionQueue {
 public:
  struct Record {
    uint32_t index;
    uint32_t tag;
  };

  explicit AdmissionQueue(uint32_t capacity) : ring_(std::bit_ceil(capacity < 2 ? 2u : capacity)), mask_(ring_.size() - 1) {}

  // What identifies an entry's connection beyond its index (the index is reused).
  static uint32_t tag_of(const FlowKey& client_key) {
    return client_key.src_addr ^ (uint32_t{client_key.src_port} << 16 | client_key.dst_port) ^ client_key.dst_addr * 0x9E3779B1u;
  }

  // issue 15: the same for an IPv6 client key (the IPv6 table keeps its own queue).
  static uint32_t tag_of(const FlowKey6& client_key) {
    const uint64_t f = abi::ip6_fold(client_key.src_addr) ^ (abi::ip6_fold(client_key.dst_addr) * 0x9E3779B97F4A7C15ull);
    return static_cast<uint32_t>(f ^ (f >> 32)) ^ (uint32_t{client_key.src_port} << 16 | client_key.dst_port);
  }

  void push(uint32_t index, uint32_t tag) {
    if (size() == ring_.size()) ++head_;  // full: the oldest record goes
    ring_[tail_++ & mask_] = Record{index, tag};
  }
  bool empty() const { return head_ == tail_; }
  uint32_t size() const { return tail_ - head_; }
  uint32_t capacity() const { return static_cast<uint32_t>(ring_.size()); }
  const Record& front() const { return ring_[head_ & mask_]; }
  void pop() { ++head_; }

 private:
  std::vector<Record> ring_;
  uint32_t mask_;
  uint32_t head_ = 0;  // free-running; the difference is the size
  uint32_t tail_ = 0;
};

}  // namespace fulcrum::dp
