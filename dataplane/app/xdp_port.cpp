#include "dataplane/app/xdp_port.h"

#include "dataplane/app/log.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#ifndef FULCRUM_XDP_OBJECT_INSTALLED
#error "meson defines FULCRUM_XDP_OBJECT_INSTALLED"
#endif

namespace fulcrum::dp {
namespace {

constexpr const char* kPmdBpffs = "/sys/fs/bpf";

bool readable(const std::string& path) { return !path.empty() && access(path.c_str(), R_OK) == 0; }

// The attached XDP program's id and name on ifindex (0 / "" when none).
std::string attached_program(int ifindex, uint32_t* id, std::string* name) {
  *id = 0;
  name->clear();
  if (bpf_xdp_query_id(ifindex, 0, id) != 0) return std::string("cannot query XDP programs: ") + std::strerror(errno);
  if (*id == 0) return "";
  int fd = bpf_prog_get_fd_by_id(*id);
  if (fd < 0) return std::string("cannot open XDP program ") + std::to_string(*id) + ": " + std::strerror(errno);
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) *name = info.name;
  close(fd);
  return "";
}

}  // namespace

std::string xdp_object_path() {
  if (const char* env = std::getenv("FULCRUM_XDP_OBJECT"); env != nullptr && *env != '\0') return readable(env) ? env : "";
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    std::string dir(exe, static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    if (std::string built = dir + "/xdp/fulcrum_xdp.o"; readable(built)) return built;
  }
  return readable(FULCRUM_XDP_OBJECT_INSTALLED) ? FULCRUM_XDP_OBJECT_INSTALLED : "";
}

std::string af_xdp_iface(const std::string& devargs) {
  size_t pos = 0;
  while ((pos = devargs.find(',', pos)) != std::string::npos) {
    ++pos;
    if (devargs.compare(pos, 6, "iface=") == 0) return devargs.substr(pos + 6, devargs.find(',', pos) - pos - 6);
  }
  return "";
}

std::string detach_fulcrum_xdp(const config::PortConfig& port, std::string* done) {
  std::string iface = af_xdp_iface(port.device);
  int ifindex = iface.empty() ? 0 : static_cast<int>(if_nametoindex(iface.c_str()));
  if (ifindex == 0) return "no interface \"" + iface + "\" in this network namespace (device = \"" + port.device + "\")";
  uint32_t id = 0;
  std::string name;
  if (std::string err = attached_program(ifindex, &id, &name); !err.empty()) return iface + ": " + err;
  if (id == 0 || name != kXdpProgramName) return "";
  if (bpf_xdp_detach(ifindex, 0, nullptr) != 0) return iface + ": cannot detach XDP program " + std::to_string(id) + ": " + std::strerror(errno);
  *done = "detached Fulcrum's XDP program (id " + std::to_string(id) + ") from " + iface;
  return "";
}

std::string prepare_xdp_port(const config::PortConfig& port, std::string* devargs) {
  std::string object = xdp_object_path();
  if (object.empty()) {
    return std::string("Fulcrum's XDP program not found (looked at $FULCRUM_XDP_OBJECT, next to lb-dataplane, ") +
           FULCRUM_XDP_OBJECT_INSTALLED + "): install it with `meson install`, or set FULCRUM_XDP_OBJECT";
  }
  struct statfs fs{};
  if (statfs(kPmdBpffs, &fs) != 0 || fs.f_type != BPF_FS_MAGIC) {
    return std::string(kPmdBpffs) + " is not a bpffs: mount it (mount -t bpf bpf /sys/fs/bpf); under `ip netns exec`, "
           "mount it in the same shell that starts lb-dataplane and lb-controlplane (netns exec remounts /sys)";
  }
  std::string iface = af_xdp_iface(port.device);
  int ifindex = iface.empty() ? 0 : static_cast<int>(if_nametoindex(iface.c_str()));
  if (ifindex == 0) return "no interface \"" + iface + "\" in this network namespace";
  uint32_t id = 0;
  std::string name;
  if (std::string err = attached_program(ifindex, &id, &name); !err.empty()) return iface + ": " + err + " (CAP_BPF, CAP_NET_ADMIN needed)";
  if (id != 0 && name != kXdpProgramName) {
    return iface + " already has an XDP program (id " + std::to_string(id) + ", \"" + name +
           "\") that is not Fulcrum's; host_sharing = \"xdp\" needs the interface to itself: detach it "
           "(ip link set dev " + iface + " xdp off) if nothing needs it";
  }
  if (id != 0) {
    // Left by a data plane that was killed: the PMD would fail to attach over it.
    std::string done;
    if (std::string err = detach_fulcrum_xdp(port, &done); !err.empty()) return err;
    log("warning", "%s: a data plane died without detaching it", done.c_str());
  }
  *devargs = port.device + ",xdp_prog=" + object;
  return "";
}

}  // namespace fulcrum::dp
