#include "controlplane/service/maglev_cache.h"

#include <cstring>

#include "controlplane/maglev/maglev.h"

namespace fulcrum::cp {

std::string MaglevCache::key_of(const VipSpec& v) {
  std::string k;
  auto put = [&k](const void* p, size_t n) { k.append(static_cast<const char*>(p), n); };
  put(&v.maglev_size, sizeof v.maglev_size);
  put(&v.hash_key.k0, sizeof v.hash_key.k0);
  put(&v.hash_key.k1, sizeof v.hash_key.k1);
  for (const BackendSpec& b : v.backends) {
    uint32_t weight = takes_new_flows(b) ? b.weight : 0;
    put(&b.family, sizeof b.family);
    if (b.family == abi::Family::Ipv6) put(b.addr6.b, sizeof b.addr6.b); else put(&b.addr_be, sizeof b.addr_be);
    put(&b.port_be, sizeof b.port_be);
    put(&weight, sizeof weight);
  }
  return k;
}

MaglevCache::Stats MaglevCache::prepare(TableSpec& spec) {
  Stats stats;
  std::unordered_map<std::string, std::shared_ptr<const std::vector<uint16_t>>> used;
  std::vector<MaglevBackend> in;
  for (VipSpec& v : spec.vips) {
    std::string key = key_of(v);
    auto hit = used.find(key);
    if (hit == used.end()) {
      if (auto old = tables_.find(key); old != tables_.end()) {
        hit = used.emplace(key, old->second).first;
        ++stats.reused;
      } else {
        in.clear();
        for (const BackendSpec& b : v.backends) in.push_back(maglev_input(b));
        auto table = std::make_shared<std::vector<uint16_t>>(v.maglev_size);
        if (!build_maglev(in, v.hash_key, std::span<uint16_t>(table->data(), table->size())).empty()) {
          v.prebuilt_maglev = nullptr;
          continue;
        }
        hit = used.emplace(key, std::move(table)).first;
        ++stats.built;
      }
    }
    v.prebuilt_maglev = hit->second;
  }
  tables_ = std::move(used);
  return stats;
}

}  // namespace fulcrum::cp
