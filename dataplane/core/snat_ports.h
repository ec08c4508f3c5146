// One worker's share of the fullnat source ports, per (SNAT address, backend).
//
// A fullnat connection is told apart on the backend side by (backend address:port, SNAT
// address:port), so one SNAT address offers its 64,512 ports (1024-65535) to every backend
// separately. Pools are therefore kept per (SNAT address, backend address, backend port):
// a SYN flood that pins ports towards one backend cannot take them from the others, and a
// busy site needs fewer SNAT addresses. The config bounds the number of such pairs
// (abi::kMaxSnatPools), so no pool is ever refused for lack of room.
//
// Ports are split between workers by number (port % workers == worker): each worker
// allocates from its own bitmaps without ever talking to another, and no two workers can
// hand out the same port. The connection's owner allocated its port and frees it.
//
// Allocation scans 64-bit words from a rotating cursor (a freed port is not handed out
// again at once, so a late packet of the old connection finds no flow rather than a new
// one). Memory: kMaxSnatPools x 8 KiB over all workers, taken from the kernel lazily
// (calloc), so only pools in use cost resident memory.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace fulcrum::dp {

class SnatPorts {
 public:
  static constexpr uint16_t kFirstPort = 1024;

  struct Key {
    uint32_t snat_be;
    uint32_t backend_be;
    uint16_t backend_port_be;
    bool operator==(const Key&) const = default;
  };

  SnatPorts(uint32_t worker, uint32_t workers, uint32_t max_pools);
  ~SnatPorts();
  SnatPorts(const SnatPorts&) = delete;
  SnatPorts& operator=(const SnatPorts&) = delete;

  // A free port (network order) of this worker's share towards k, or 0 if the share is used
  // up (or, never with a config the loader accepted, no pool is free). `hint` spreads the
  // starting point.
  uint16_t alloc(const Key& k, uint32_t hint);
  void release(const Key& k, uint16_t port_be);
  uint32_t in_use(const Key& k) const;
  uint32_t share() const { return share_; }   // ports per pool for this worker
  uint32_t pools_in_use() const { return keyed_; }

 private:
  struct Pool {
    Key key{};
    uint32_t used = 0;
    uint32_t cursor = 0;
    bool keyed = false;
  };
  uint64_t* bits(uint32_t pool) { return bits_.get() + size_t{pool} * words_; }
  int find(const Key& k) const;       // pool index or -1
  int take_pool(const Key& k);        // a pool keyed to k (a free one, or one with no port in use)
  void index_insert(uint32_t pool);
  void index_erase(uint32_t pool);
  uint32_t home(const Key& k) const;
  uint16_t port_of(uint32_t slot) const;
  bool slot_of(uint16_t port_host, uint32_t* slot) const;

  uint32_t worker_, workers_, share_, words_, max_pools_;
  std::vector<Pool> pools_;
  std::vector<uint32_t> index_;       // open addressing: pool + 1, 0 = empty; 2 x max_pools
  struct Free { void operator()(uint64_t* p) const; };
  std::unique_ptr<uint64_t[], Free> bits_;
  uint32_t keyed_ = 0;
  uint32_t next_fresh_ = 0;           // pools never keyed yet: [next_fresh_, max_pools_)
  uint32_t recycle_cursor_ = 0;
};

}  // namespace fulcrum::dp
