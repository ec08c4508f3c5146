#include "controlplane/steering/steering_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <linux/magic.h>

#include "dataplane/abi/limits.h"

namespace fulcrum::cp {

static_assert(FULCRUM_STEER_MAX_VIPS == abi::kMaxVips, "one steering entry per VIP");
static_assert(FULCRUM_STEER_MAX_BACKENDS == abi::kMaxBackends, "one steering entry per backend");
static_assert(FULCRUM_STEER_MAX_LOCALS >= abi::kMaxLocalAddrs + 8, "VIP and SNAT addresses plus a host address per port");
static_assert(sizeof(fulcrum_l4_key) == 8, "the key the XDP program hashes");

namespace {

constexpr uint8_t kTcp = 6;

fulcrum_l4_key l4_key(const SteeringSpec::Endpoint& e) {
  fulcrum_l4_key k{};
  k.addr_be = e.first;
  k.port_be = e.second;
  k.proto = kTcp;
  return k;
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

SteeringSpec steering_spec(const TableSpec& tables, const std::vector<uint32_t>& host_addrs_be) {
  SteeringSpec s;
  for (const VipSpec& v : tables.vips) {
    // issue 15: the XDP maps are IPv4 only (IPv6 steering is another change); an IPv6 VIP
    // contributes only its IPv4 SNAT addresses (NAT64), where its backends' replies arrive.
    if (v.family == abi::Family::Ipv6) {
      for (uint32_t a : v.snat_addrs_be) s.locals[a] |= FULCRUM_LOCAL_SNAT;
      continue;
    }
    s.vips.insert({v.addr_be, v.port_be});
    s.locals[v.addr_be] |= FULCRUM_LOCAL_VIP;
    for (uint32_t a : v.snat_addrs_be) s.locals[a] |= FULCRUM_LOCAL_SNAT;
    if (v.mode != abi::ForwardMode::Nat) continue;
    // Every listed backend, whatever its state: a drained or down backend's established
    // flows still send replies.
    for (const BackendSpec& b : v.backends) {
      if (b.family == abi::Family::Ipv4) s.nat_backends.insert({b.addr_be, b.port_be});
    }
  }
  for (uint32_t a : host_addrs_be) s.locals[a] |= FULCRUM_LOCAL_HOST;
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
  int fds[4];
  const MapDef* defs[4] = {&kVips, &kNatBackends, &kLocals, &kStats};
  for (int i = 0; i < 4; ++i) {
    fds[i] = open_or_create(dir, *defs[i], &error);
    if (fds[i] < 0) {
      for (int j = 0; j < i; ++j) close(fds[j]);
      return error;
    }
  }
  use_fds(fds[0], fds[1], fds[2], fds[3]);
  owned_ = true;
  return "";
}

void SteeringMaps::use_fds(int vips_fd, int nat_backends_fd, int locals_fd, int stats_fd) {
  close_owned();
  vips_fd_ = vips_fd;
  nat_backends_fd_ = nat_backends_fd;
  locals_fd_ = locals_fd;
  stats_fd_ = stats_fd;
  owned_ = false;
}

SteeringMaps::~SteeringMaps() { close_owned(); }

void SteeringMaps::close_owned() {
  if (owned_) {
    for (int fd : {vips_fd_, nat_backends_fd_, locals_fd_, stats_fd_}) {
      if (fd >= 0) close(fd);
    }
  }
  vips_fd_ = nat_backends_fd_ = locals_fd_ = stats_fd_ = -1;
  owned_ = false;
}

std::string SteeringMaps::sync(const SteeringSpec& spec) {
  if (!is_open()) return "steering maps not open";
  const uint32_t one = 1;
  for (const auto& e : spec.vips) {
    fulcrum_l4_key k = l4_key(e);
    if (bpf_map_update_elem(vips_fd_, &k, &one, BPF_ANY) != 0) return errno_text("adding a VIP to " FULCRUM_STEER_MAP_VIPS);
  }
  for (const auto& e : spec.nat_backends) {
    fulcrum_l4_key k = l4_key(e);
    if (bpf_map_update_elem(nat_backends_fd_, &k, &one, BPF_ANY) != 0) {
      return errno_text("adding a backend to " FULCRUM_STEER_MAP_BACKENDS);
    }
  }
  for (const auto& [addr, kind] : spec.locals) {
    if (bpf_map_update_elem(locals_fd_, &addr, &kind, BPF_ANY) != 0) {
      return errno_text("adding an address to " FULCRUM_STEER_MAP_LOCALS);
    }
  }
  auto in = [](const std::set<SteeringSpec::Endpoint>& set) {
    return [&set](const fulcrum_l4_key& k) { return k.proto == kTcp && k.pad == 0 && set.count({k.addr_be, k.port_be}) != 0; };
  };
  if (std::string e = delete_stale<fulcrum_l4_key>(vips_fd_, FULCRUM_STEER_MAP_VIPS, in(spec.vips)); !e.empty()) return e;
  if (std::string e = delete_stale<fulcrum_l4_key>(nat_backends_fd_, FULCRUM_STEER_MAP_BACKENDS, in(spec.nat_backends)); !e.empty()) {
    return e;
  }
  return delete_stale<uint32_t>(locals_fd_, FULCRUM_STEER_MAP_LOCALS,
                                [&](uint32_t a) { return spec.locals.count(a) != 0; });
}

XdpStats SteeringMaps::stats() const {
  XdpStats s;
  if (stats_fd_ < 0) return s;
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return s;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(cpus));
  for (uint32_t i = 0; i < FULCRUM_XDP_STAT_COUNT; ++i) {
    if (bpf_map_lookup_elem(stats_fd_, &i, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) s.by_action[i] += v;
  }
  return s;
}

}  // namespace fulcrum::cp
