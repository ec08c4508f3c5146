// Next hops of ports whose address the host's kernel keeps (host_sharing = "xdp", "tap",
// "virtio_user"), resolved by the kernel and read from its neighbour table over netlink.
//
// Why not Fulcrum's own ARP on such a port: its requests would carry the host's address,
// so the replies are addressed to the host; the XDP program (or the exception path) must
// give those to the kernel, which sent requests of its own, and an XDP program cannot
// clone a frame to both. Asking the kernel (RTM_NEWNEIGH with NTF_USE makes it resolve an
// address, RTM_GETNEIGH reads an entry, RTNLGRP_NEIGH reports every change) keeps one ARP
// speaker per address, never steals the host's ARP, and gives Fulcrum the kernel's view,
// including static entries an operator made with `ip neigh`.
//
// Used by the main lcore only; nothing here blocks (a non-blocking socket, read when
// polled). No DPDK, so it is tested without EAL.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace fulcrum::dp {

class KernelNeighbours {
 public:
  using Mac = std::array<uint8_t, 6>;
  // A usable kernel entry (reachable, stale, delay, probe, permanent) or a failed one.
  struct Entry {
    bool ipv6 = false;      // issue 15: addr6 holds the address, addr_be is 0
    uint8_t addr6[16] = {};
    uint32_t addr_be = 0;
    uint8_t port = 0;       // Fulcrum's port index
    bool usable = false;    // false: the kernel gave up (NUD_FAILED)
    Mac mac{};
  };

  KernelNeighbours() = default;
  ~KernelNeighbours();
  KernelNeighbours(const KernelNeighbours&) = delete;
  KernelNeighbours& operator=(const KernelNeighbours&) = delete;

  // ifindex_by_port[p]: the kernel interface holding port p's address, 0 for ports Fulcrum
  // resolves itself. "" or why the netlink socket could not be opened.
  std::string open(const std::vector<int>& ifindex_by_port);
  bool handles(uint8_t port) const { return port < ifindex_.size() && ifindex_[port] != 0 && fd_ >= 0; }
  // Asks the kernel for addr_be on port's interface: reads its entry, and makes it resolve
  // (or re-confirm) the address. Answers arrive through poll(). False if not sent.
  bool solicit(uint32_t addr_be, uint8_t port);
  // The same for an IPv6 next hop (issue 15): the kernel's neighbour discovery resolves it.
  bool solicit6(const uint8_t* addr16, uint8_t port);
  // Reads every pending message; calls `f` for each neighbour entry of a handled interface.
  // Returns the number of entries reported.
  uint32_t poll(const std::function<void(const Entry&)>& f);

 private:
  bool send(uint16_t type, uint16_t flags, uint8_t ndm_flags, uint8_t family, const void* addr, int ifindex);
  int fd_ = -1;
  uint32_t seq_ = 0;
  std::vector<int> ifindex_;
};

}  // namespace fulcrum::dp
