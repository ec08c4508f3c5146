// Per-VIP Maglev tables kept between publishes, so that a change to one VIP's backends
// rebuilds that VIP's table only.
//
// Why: building one table of M = 65537 costs milliseconds, and a control plane with 256 such
// VIPs that rebuilt them all for every health transition spent its time rebuilding tables
// nothing had changed in. A table depends only on its inputs (size, hash key, and the
// backends' addresses, ports and effective weights in the VIP's order), so those inputs are
// the cache key. Only tables used by the latest spec are kept: memory stays bounded by one
// generation's pool (at most 32 MiB).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "controlplane/tables/table_builder.h"

namespace fulcrum::cp {

class MaglevCache {
 public:
  struct Stats {
    size_t built = 0;    // tables computed by this call
    size_t reused = 0;   // tables taken from the cache
  };

  // Sets prebuilt_maglev of every VIP of `spec`, building the tables the cache lacks, and
  // forgets tables `spec` no longer uses. A VIP whose table cannot be built is left
  // without one: fill_slot() then reports why.
  Stats prepare(TableSpec& spec);
  size_t size() const { return tables_.size(); }

  // The cache key of a VIP: what its table depends on.
  static std::string key_of(const VipSpec& v);

 private:
  std::unordered_map<std::string, std::shared_ptr<const std::vector<uint16_t>>> tables_;
};

}  // namespace fulcrum::cp
