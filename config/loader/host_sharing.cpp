#include "config/loader/host_sharing.h"

#include "config/loader/dataplane_config.h"
#include "config/loader/section.h"

namespace fulcrum::config {
namespace {

constexpr size_t kIfNameMax = 15;  // IFNAMSIZ - 1

}  // namespace

std::string_view host_sharing_name(HostSharing h) {
  switch (h) {
    case HostSharing::None: return "none";
    case HostSharing::Xdp: return "xdp";
    case HostSharing::Tap: return "tap";
    case HostSharing::VirtioUser: return "virtio_user";
  }
  return "none";
}

void parse_host_sharing(Section& p, PortConfig& port) {
  auto mode = p.string("host_sharing");
  auto iface = p.string("kernel_interface");
  if (mode) {
    bool known = false;
    for (HostSharing h : {HostSharing::None, HostSharing::Xdp, HostSharing::Tap, HostSharing::VirtioUser}) {
      if (*mode == host_sharing_name(h)) {
        port.host_sharing = h;
        known = true;
      }
    }
    if (!known) p.error("host_sharing", "\"" + *mode + "\" is not one of \"none\", \"xdp\", \"tap\", \"virtio_user\"");
  }
  const bool af_xdp = port.device.rfind("net_af_xdp", 0) == 0;
  if (port.host_sharing == HostSharing::Xdp) {
    if (!port.device.empty() && !af_xdp) {
      p.error("host_sharing", "\"xdp\" needs a net_af_xdp device (e.g. \"net_af_xdp0,iface=eth1\"); for a PCI NIC or "
                              "net_af_packet use \"tap\" or \"virtio_user\"");
    } else if (port.device.find("xdp_prog=") != std::string::npos) {
      p.error("device", "xdp_prog= is set by lb-dataplane for host_sharing = \"xdp\" (Fulcrum's own XDP program); remove it");
    }
  }
  if (has_exception_path(port.host_sharing) && af_xdp) {
    p.error("host_sharing", "a net_af_xdp port shares its NIC with host_sharing = \"xdp\", not through an exception interface");
  }
  if (iface) {
    if (!has_exception_path(port.host_sharing)) {
      p.error("kernel_interface", "only for host_sharing = \"tap\" or \"virtio_user\" (with \"xdp\" the kernel keeps the "
                                  "AF_XDP interface itself)");
    } else if (!is_valid_ifname(*iface)) {
      p.error("kernel_interface", "\"" + *iface + "\" is not an interface name (" + kIfnameRule + ")");
    } else {
      port.kernel_interface = *iface;
    }
  } else if (has_exception_path(port.host_sharing)) {
    port.kernel_interface = ("fl-" + port.name).substr(0, kIfNameMax);
  }
}

}  // namespace fulcrum::config
