#include "dataplane/core/kernel_neighbours.h"

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace fulcrum::dp {

KernelNeighbours::~KernelNeighbours() {
  if (fd_ >= 0) close(fd_);
}

std::string KernelNeighbours::open(const std::vector<int>& ifindex_by_port) {
  ifindex_ = ifindex_by_port;
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) return std::string("netlink socket: ") + std::strerror(errno);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = RTMGRP_NEIGH;  // every change of the kernel's neighbour table
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string err = std::string("netlink bind: ") + std::strerror(errno);
    close(fd_);
    fd_ = -1;
    return err;
  }
  // A burst of neighbour changes must not overflow the socket while the main lcore sleeps.
  int size = 1 << 20;
  setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  return "";
}

bool KernelNeighbours::send(uint16_t type, uint16_t flags, uint8_t ndm_flags, uint8_t family, const void* addr,
                            int ifindex) {
  struct {
    nlmsghdr nh;
    ndmsg ndm;
    rtattr dst_attr;
    uint8_t dst[16];
  } req{};
  const uint32_t addr_len = family == AF_INET6 ? 16 : 4;
  const auto len = static_cast<uint32_t>(offsetof(decltype(req), dst) + addr_len);
  req.nh.nlmsg_len = len;
  req.nh.nlmsg_type = type;
  req.nh.nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
  req.nh.nlmsg_seq = ++seq_;
  req.ndm.ndm_family = family;
  req.ndm.ndm_ifindex = ifindex;
  req.ndm.ndm_flags = ndm_flags;
  req.dst_attr.rta_type = NDA_DST;
  req.dst_attr.rta_len = static_cast<uint16_t>(RTA_LENGTH(addr_len));
  std::memcpy(req.dst, addr, addr_len);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  return sendto(fd_, &req, len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) == static_cast<ssize_t>(len);
}

bool KernelNeighbours::solicit(uint32_t addr_be, uint8_t port) {
  if (!handles(port)) return false;
  // The entry as it is now (a reachable entry changes no state when used, so it would never
  // be reported otherwise), then NTF_USE: the kernel resolves a missing or stale entry as
  // if it had a packet to send, and reports the result.
  bool read = send(RTM_GETNEIGH, 0, 0, AF_INET, &addr_be, ifindex_[port]);
  bool use = send(RTM_NEWNEIGH, NLM_F_CREATE, NTF_USE, AF_INET, &addr_be, ifindex_[port]);
  return read || use;
}

bool KernelNeighbours::solicit6(const uint8_t* addr16, uint8_t port) {
  if (!handles(port)) return false;
  bool read = send(RTM_GETNEIGH, 0, 0, AF_INET6, addr16, ifindex_[port]);
  bool use = send(RTM_NEWNEIGH, NLM_F_CREATE, NTF_USE, AF_INET6, addr16, ifindex_[port]);
  return read || use;
}

uint32_t KernelNeighbours::poll(const std::function<void(const Entry&)>& f) {
  if (fd_ < 0) return 0;
  alignas(nlmsghdr) char buf[16384];
  uint32_t reported = 0;
  for (;;) {
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EAGAIN: nothing more; ENOBUFS: lost messages, later solicits repair it
    auto len = static_cast<uint32_t>(n);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_type != RTM_NEWNEIGH || nh->nlmsg_len < NLMSG_LENGTH(sizeof(ndmsg))) continue;
      auto* ndm = static_cast<ndmsg*>(NLMSG_DATA(nh));
      if (ndm->ndm_family != AF_INET && ndm->ndm_family != AF_INET6) continue;
      int port = -1;
      for (size_t p = 0; p < ifindex_.size(); ++p) {
        if (ifindex_[p] != 0 && ifindex_[p] == ndm->ndm_ifindex) port = static_cast<int>(p);
      }
      if (port < 0) continue;
      Entry e;
      e.port = static_cast<uint8_t>(port);
      e.ipv6 = ndm->ndm_family == AF_INET6;
      bool have_dst = false, have_mac = false;
      int attr_len = static_cast<int>(nh->nlmsg_len - NLMSG_LENGTH(sizeof(ndmsg)));
      for (auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(ndm) + NLMSG_ALIGN(sizeof(ndmsg)));
           RTA_OK(a, attr_len); a = RTA_NEXT(a, attr_len)) {
        if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == (e.ipv6 ? 16u : 4u)) {
          std::memcpy(e.ipv6 ? static_cast<void*>(e.addr6) : static_cast<void*>(&e.addr_be), RTA_DATA(a), RTA_PAYLOAD(a));
          have_dst = true;
        } else if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
          std::memcpy(e.mac.data(), RTA_DATA(a), 6);
          have_mac = true;
        }
      }
      if (!have_dst) continue;
      constexpr uint16_t kUsable = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP;
      if ((ndm->ndm_state & kUsable) != 0 && have_mac) {
        e.usable = true;
      } else if ((ndm->ndm_state & NUD_FAILED) == 0) {
        continue;  // incomplete, or none: the kernel is still asking
      }
      f(e);
      ++reported;
    }
  }
  return reported;
}

}  // namespace fulcrum::dp
