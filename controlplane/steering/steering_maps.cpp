#include "controlplane/steering/steering_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <linux/magic.h>

#include "dataplane/abi/limits.h"

namespace fulcrum::cp {

static_assert(FULCRUM_STEER_MAX_VIPS == abi::kMaxVips, "one steering entry per VIP");
static_assert(FULCRUM_STEER_MAX_BACKENDS == abi::kMaxBackends, "one steering entry per backend");
static_assert(FULCRUM_STEER_MAX_LOCALS >= abi::kMaxLocalAddrs + 8, "VIP and SNAT addresses plus a host address per port");
static_assert(sizeof(fulcrum_l4_key) == 8, "the key the XDP program hashes");
static_assert(FULCRUM_STEER_MAX_LOCALS6 >= abi::kMaxLocalAddrs + 8, "IPv6 VIP and SNAT addresses plus a host address per port");
static_assert(sizeof(fulcrum_l4_key6) == 20 && offsetof(fulcrum_l4_key6, port_be) == 16 && offsetof(fulcrum_l4_key6, proto) == 18,
              "the IPv6 key the XDP program hashes: address, port, proto, pad, no padding");
static_assert(sizeof(fulcrum_addr6) == 16 && sizeof(fulcrum_addr6) == sizeof(abi::Ip6), "an IPv6 address key is its 16 bytes");
static_assert(sizeof(SteeringSpec::Address6) == sizeof(abi::Ip6));

namespace {

constexpr uint8_t kTcp = 6;

fulcrum_l4_key l4_key(const SteeringSpec::Endpoint& e) {
  fulcrum_l4_key k{};
  k.addr_be = e.first;
  k.port_be = e.second;
  k.proto = kTcp;
  return k;
}

fulcrum_l4_key6 l4_key6(const SteeringSpec::Endpoint6& e) {
  fulcrum_l4_key6 k{};
  std::memcpy(k.addr, e.first.data(), 16);
  k.port_be = e.second;
  k.proto = kTcp;
  return k;
}

SteeringSpec::Address6 address6(const abi::Ip6& a) {
  SteeringSpec::Address6 out;
  std::memcpy(out.data(), a.b, 16);
  return out;
}

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// The definition fulcrum_xdp.bpf.c declares; a pin of any other makes libbpf refuse to
// reuse it when net_af_xdp loads the program (tests/xdp checks the two agree).
struct MapDef {
  const char* name;
  bpf_map_type type;
  uint32_t key_size, value_size, max_entries;
};
constexpr MapDef kVips{FULCRUM_STEER_MAP_VIPS, BPF_MAP_TYPE_HASH, sizeof(fulcrum_l4_key), 4, FULCRUM_STEER_MAX_VIPS};
constexpr MapDef kNatBackends{FULCRUM_STEER_MAP_BACKENDS, BPF_MAP_TYPE_HASH, sizeof(fulcrum_l4_key), 4, FULCRUM_STEER_MAX_BACKENDS};
constexpr MapDef kLocals{FULCRUM_STEER_MAP_LOCALS, BPF_MAP_TYPE_HASH, 4, 4, FULCRUM_STEER_MAX_LOCALS};
constexpr MapDef kStats{FULCRUM_STEER_MAP_STATS, BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, FULCRUM_XDP_STAT_COUNT};
constexpr MapDef kVips6{FULCRUM_STEER_MAP_VIPS6, BPF_MAP_TYPE_HASH, sizeof(fulcrum_l4_key6), 4, FULCRUM_STEER_MAX_VIPS};
constexpr MapDef kNatBackends6{FULCRUM_STEER_MAP_BACKENDS6, BPF_MAP_TYPE_HASH, sizeof(fulcrum_l4_key6), 4, FULCRUM_STEER_MAX_BACKENDS};
constexpr MapDef kLocals6{FULCRUM_STEER_MAP_LOCALS6, BPF_MAP_TYPE_HASH, sizeof(fulcrum_addr6), 4, FULCRUM_STEER_MAX_LOCALS6};

// Opens the pinned map, or creates and pins it. Two processes may race to create it (the
// data plane's port start pins the same names): the loser opens the winner's.
int open_or_create(const std::string& dir, const MapDef& def, std::string* error) {
  std::string path = dir + "/" + def.name;
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = bpf_obj_get(path.c_str());
    if (fd >= 0) {
      bpf_map_info info{};
      uint32_t len = sizeof info;
      if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0 || info.type != def.type || info.key_size != def.key_size ||
          info.value_size != def.value_size || info.max_entries != def.max_entries) {
        close(fd);
        *error = path + " is pinned with another layout (left by another Fulcrum version?): remove it (rm " + path +
                 ") while lb-dataplane is stopped";
        return -1;
      }
      return fd;
    }
    if (errno != ENOENT) {
      *error = errno_text("cannot open " + path + " (CAP_BPF or CAP_SYS_ADMIN needed)");
      return -1;
    }
    fd = bpf_map_create(def.type, def.name, def.key_size, def.value_size, def.max_entries, nullptr);
    if (fd < 0) {
      *error = errno_text(std::string("cannot create BPF map ") + def.name + " (CAP_BPF needed)");
      return -1;
    }
    if (bpf_obj_pin(fd, path.c_str()) == 0) return fd;
    int pin_errno = errno;
    close(fd);
    if (pin_errno != EEXIST) {
      errno = pin_errno;
      *error = errno_text("cannot pin " + path);
      return -1;
    }
  }
  *error = path + ": pinned and unpinned again while opening it";
  return -1;
}

// Deletes every key of `fd` for which keep(key) is false. Keys are collected first: deleting
// while walking with get_next_key may restart the walk.
template <typename Key, typename Keep>
std::string delete_stale(int fd, const char* name, Keep keep) {
  std::vector<Key> stale;
  Key key{}, next{};
  Key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (!keep(next)) stale.push_back(next);
    key = next;
    prev = &key;
  }
  for (const Key& k : stale) {
    if (bpf_map_delete_elem(fd, &k) != 0 && errno != ENOENT) return errno_text(std::string("deleting from ") + name);
  }
  return "";
}

}  // namespace

SteeringSpec steering_spec(const TableSpec& tables, const std::vector<uint32_t>& host_addrs_be,
                           const std::vector<abi::Ip6>& host_addrs6) {
  SteeringSpec s;
  for (const VipSpec& v : tables.vips) {
    if (v.family == abi::Family::Ipv6) {
      s.vips6.insert({address6(v.addr6), v.port_be});
      s.locals6[address6(v.addr6)] |= FULCRUM_LOCAL_VIP;
    } else {
      s.vips.insert({v.addr_be, v.port_be});
      s.locals[v.addr_be] |= FULCRUM_LOCAL_VIP;
    }
    // Both pools as given: the table builder keeps the one the backends' family uses (a
    // NAT64 VIP's pool is IPv4).
    for (uint32_t a : v.snat_addrs_be) s.locals[a] |= FULCRUM_LOCAL_SNAT;
    for (const abi::Ip6& a : v.snat_addrs6) s.locals6[address6(a)] |= FULCRUM_LOCAL_SNAT;
    if (v.mode != abi::ForwardMode::Nat) continue;
    // Every listed backend, whatever its state: a drained or down backend's established
    // flows still send replies.
    for (const BackendSpec& b : v.backends) {
      if (b.family == abi::Family::Ipv6) s.nat_backends6.insert({address6(b.addr6), b.port_be});
      else s.nat_backends.insert({b.addr_be, b.port_be});
    }
  }
  for (uint32_t a : host_addrs_be) s.locals[a] |= FULCRUM_LOCAL_HOST;
  for (const abi::Ip6& a : host_addrs6) s.locals6[address6(a)] |= FULCRUM_LOCAL_HOST;
  return s;
}

std::string SteeringMaps::open(const std::string& dir) {
  close_owned();
  struct statfs fs{};
  if (statfs(dir.c_str(), &fs) != 0 || fs.f_type != BPF_FS_MAGIC) {
    return dir + " is not a mounted bpffs (mount -t bpf bpf " + dir +
           "; inside `ip netns exec`, mount it in the same shell that starts both planes)";
  }
  std::string error;
  SteeringFds fds;
  const std::pair<const MapDef*, int*> maps[] = {{&kVips, &fds.vips},       {&kNatBackends, &fds.nat_backends},
                                                 {&kLocals, &fds.locals},   {&kStats, &fds.stats},
                                                 {&kVips6, &fds.vips6},     {&kNatBackends6, &fds.nat_backends6},
                                                 {&kLocals6, &fds.locals6}};
  for (const auto& [def, fd] : maps) {
    *fd = open_or_create(dir, *def, &error);
    if (*fd < 0) {
      for (const auto& [d, opened] : maps) {
        if (*opened >= 0) close(*opened);
      }
      return error;
    }
  }
  use_fds(fds);
  owned_ = true;
  return "";
}

void SteeringMaps::use_fds(const SteeringFds& fds) {
  close_owned();
  fds_ = fds;
  owned_ = false;
}

SteeringMaps::~SteeringMaps() { close_owned(); }

void SteeringMaps::close_owned() {
  if (owned_) {
    for (int fd : {fds_.vips, fds_.nat_backends, fds_.locals, fds_.stats, fds_.vips6, fds_.nat_backends6, fds_.locals6}) {
      if (fd >= 0) close(fd);
    }
  }
  fds_ = SteeringFds{};
  owned_ = false;
}

namespace {

// Adds every entry of `wanted` (key made by make_key, value from value_of) to the map.
template <typename Set, typename MakeKey, typename ValueOf>
std::string add_all(int fd, const char* name, const Set& wanted, MakeKey make_key, ValueOf value_of) {
  for (const auto& e : wanted) {
    auto key = make_key(e);
    uint32_t value = value_of(e);
    if (bpf_map_update_elem(fd, &key, &value, BPF_ANY) != 0) return errno_text(std::string("adding to ") + name);
  }
  return "";
}

}  // namespace

std::string SteeringMaps::sync(const SteeringSpec& spec) {
  if (!is_open()) return "steering maps not open";
  auto one = [](const auto&) { return uint32_t{1}; };
  auto kind = [](const auto& entry) { return entry.second; };
  auto addr_key = [](const auto& entry) { return entry.first; };
  auto addr6_key = [](const auto& entry) {
    fulcrum_addr6 k;
    std::memcpy(k.b, entry.first.data(), 16);
    return k;
  };
  // New entries first, in every map (all are attempted; the first failure is reported),
  // then the stale ones.
  for (std::string e : {add_all(fds_.vips, FULCRUM_STEER_MAP_VIPS, spec.vips, l4_key, one),
                        add_all(fds_.nat_backends, FULCRUM_STEER_MAP_BACKENDS, spec.nat_backends, l4_key, one),
                        add_all(fds_.locals, FULCRUM_STEER_MAP_LOCALS, spec.locals, addr_key, kind),
                        add_all(fds_.vips6, FULCRUM_STEER_MAP_VIPS6, spec.vips6, l4_key6, one),
                        add_all(fds_.nat_backends6, FULCRUM_STEER_MAP_BACKENDS6, spec.nat_backends6, l4_key6, one),
                        add_all(fds_.locals6, FULCRUM_STEER_MAP_LOCALS6, spec.locals6, addr6_key, kind)}) {
    if (!e.empty()) return e;
  }
  auto in = [](const std::set<SteeringSpec::Endpoint>& set) {
    return [&set](const fulcrum_l4_key& k) { return k.proto == kTcp && k.pad == 0 && set.count({k.addr_be, k.port_be}) != 0; };
  };
  auto in6 = [](const std::set<SteeringSpec::Endpoint6>& set) {
    return [&set](const fulcrum_l4_key6& k) {
      SteeringSpec::Address6 a;
      std::memcpy(a.data(), k.addr, 16);
      return k.proto == kTcp && k.pad == 0 && set.count({a, k.port_be}) != 0;
    };
  };
  auto local6 = [&](const fulcrum_addr6& k) {
    SteeringSpec::Address6 a;
    std::memcpy(a.data(), k.b, 16);
    return spec.locals6.count(a) != 0;
  };
  // Evaluated one by one: a failure stops the walk (the next sync repairs the rest).
  if (std::string e = delete_stale<fulcrum_l4_key>(fds_.vips, FULCRUM_STEER_MAP_VIPS, in(spec.vips)); !e.empty()) return e;
  if (std::string e = delete_stale<fulcrum_l4_key>(fds_.nat_backends, FULCRUM_STEER_MAP_BACKENDS, in(spec.nat_backends)); !e.empty()) {
    return e;
  }
  if (std::string e = delete_stale<uint32_t>(fds_.locals, FULCRUM_STEER_MAP_LOCALS, [&](uint32_t a) { return spec.locals.count(a) != 0; });
      !e.empty()) {
    return e;
  }
  if (std::string e = delete_stale<fulcrum_l4_key6>(fds_.vips6, FULCRUM_STEER_MAP_VIPS6, in6(spec.vips6)); !e.empty()) return e;
  if (std::string e = delete_stale<fulcrum_l4_key6>(fds_.nat_backends6, FULCRUM_STEER_MAP_BACKENDS6, in6(spec.nat_backends6));
      !e.empty()) {
    return e;
  }
  return delete_stale<fulcrum_addr6>(fds_.locals6, FULCRUM_STEER_MAP_LOCALS6, local6);
}

XdpStats SteeringMaps::stats() const {
  XdpStats s;
  if (fds_.stats < 0) return s;
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return s;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(cpus));
  for (uint32_t i = 0; i < FULCRUM_XDP_STAT_COUNT; ++i) {
    if (bpf_map_lookup_elem(fds_.stats, &i, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) s.by_action[i] += v;
  }
  return s;
}

}  // namespace fulcrum::cp
