// Ports with host_sharing = "xdp" (issue 11): net_af_xdp with Fulcrum's own XDP program.
//
// Why through net_af_xdp's xdp_prog devarg and not a libbpf loader of our own: DPDK 22.11's
// PMD either loads the program it is given (plain libbpf; it fills that object's xsks_map
// with its sockets) or libxdp's redirect-everything default; it cannot use a program
// someone else attached. So lb-dataplane only picks the object and checks what the PMD
// would trip over: a program already attached (the PMD attaches with UPDATE_IF_NOEXIST, so
// the program a crashed data plane left behind would block every restart) and a missing
// bpffs (the steering maps are pinned by name under /sys/fs/bpf, the root the PMD's libbpf
// uses). DPDK 24.07's use_pinned_map would let an outside loader own the program: the
// upgrade path, see docs/operations.md.
#pragma once

#include <string>

#include "config/loader/dataplane_config.h"

namespace fulcrum::dp {

// The program's name in the kernel (bpftool prog show): how a stale one is recognised.
inline constexpr const char* kXdpProgramName = "fulcrum_steer";

// The compiled XDP object: $FULCRUM_XDP_OBJECT, else next to the binary in a build tree
// (dataplane/xdp/fulcrum_xdp.o), else the installed one. "" if none exists.
std::string xdp_object_path();

// The interface named by iface= in net_af_xdp devargs ("" if none).
std::string af_xdp_iface(const std::string& devargs);

// Before probing: refuses if another program than Fulcrum's is attached, detaches
// Fulcrum's own left by a data plane that died, checks the bpffs, and returns the devargs
// with xdp_prog= added in *devargs. "" or what is wrong and what to do.
std::string prepare_xdp_port(const config::PortConfig& port, std::string* devargs);

// Detaches Fulcrum's program from the port's interface, if it is attached (systemd
// ExecStopPost / ExecStartPre: lb-dataplane --detach-xdp). "" or the error.
std::string detach_fulcrum_xdp(const config::PortConfig& port, std::string* what_was_done);

}  // namespace fulcrum::dp
