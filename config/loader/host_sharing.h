// How a [[dataplane.ports]] port shares its NIC with the host's kernel (issue 11): the keys
// host_sharing and kernel_interface. Kept apart from dataplane_config.cpp, which only calls
// parse_host_sharing() for each port.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fulcrum::config {

class Section;

enum class HostSharing : uint8_t {
  None,        // the data plane owns the port and its address (ARP, ping answered by it)
  Xdp,         // net_af_xdp with Fulcrum's XDP program: only Fulcrum's traffic leaves the kernel
  Tap,         // any PMD, plus a net_tap kernel interface carrying everything else
  VirtioUser,  // the same with virtio_user + vhost-net (needs /dev/vhost-net)
};

std::string_view host_sharing_name(HostSharing h);
// The kernel keeps the port's address: Fulcrum must not answer ARP or ping for it, and it
// learns next hops from the kernel's neighbour table.
inline bool kernel_owns_address(HostSharing h) { return h != HostSharing::None; }
// An exception interface (tap or virtio_user) exists for the port.
inline bool has_exception_path(HostSharing h) { return h == HostSharing::Tap || h == HostSharing::VirtioUser; }

struct PortConfig;
// Reads host_sharing and kernel_interface of one port table into `port` (whose name and
// device are already parsed), reporting bad values at their keys.
void parse_host_sharing(Section& p, PortConfig& port);

}  // namespace fulcrum::config
