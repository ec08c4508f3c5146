// The main lcore's use of the kernel's neighbour table (issue 11): for a port whose
// address the kernel keeps, request() asks the kernel (KernelNeighbours::solicit) instead
// of sending ARP, and what the kernel reports is learned here. See kernel_neighbours.h for
// why Fulcrum does not ARP on an address it shares with the host.
#include <cstring>

#include "dataplane/worker/main_lcore.h"

namespace fulcrum::dp {

void MainLcore::learn_from_kernel(const KernelNeighbours::Entry& e, uint64_t now_ms, MainOutput& out) {
  if (e.ipv6) {  // issue 15: the same for IPv6 next hops, resolved by the kernel's NDP
    abi::Ip6 addr;
    std::memcpy(addr.b, e.addr6, 16);
    NeighView known6;
    if (!shared_.neighbours6.lookup(addr, &known6) || known6.state == NeighState::Static || !e.usable) return;
    shared_.neighbours6.set(addr, NeighState::Reachable, e.mac, e.port, now_ms);
    if (auto* meta = shared_.neighbours6.meta(addr)) meta->confirmed_ms = now_ms;
    if (Resolving6* r = resolving6(addr)) *r = Resolving6{};
    release_held6(addr, out);
    return;
  }
  // Only next hops Fulcrum uses (it created them when it first asked): the host's other
  // neighbours are none of its business and would only fill the table.
  NeighView known;
  if (!shared_.neighbours.lookup(e.addr_be, &known) || known.state == NeighState::Static) return;
  // A kernel that gave up is not final for Fulcrum: its own retries (kTries) decide Failed,
  // and each retry asks the kernel again.
  if (!e.usable) return;
  // The kernel validated the answer (its own ARP): its MAC is taken as it is, also when it
  // changed, which Fulcrum's ARP policy would question (main_lcore_neighbours.cpp).
  shared_.neighbours.set(e.addr_be, NeighState::Reachable, e.mac, e.port, now_ms);
  if (auto* meta = shared_.neighbours.meta(e.addr_be)) meta->confirmed_ms = now_ms;
  if (Resolving* r = resolving(e.addr_be)) *r = Resolving{};
  release_held(e.addr_be, out);
}

}  // namespace fulcrum::dp
