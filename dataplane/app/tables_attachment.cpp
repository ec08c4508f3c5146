#include "dataplane/app/tables_attachment.h"

#include <rte_rcu_qsbr.h>
#include <signal.h>
#include <sys/mman.h>

#include <cstring>

#include "dataplane/app/log.h"

namespace fulcrum::dp {
namespace {

// The guarded range, and whether the handler had to replace it.
std::atomic<uintptr_t> g_begin{0}, g_end{0};
std::atomic<bool> g_revoked{false};
struct sigaction g_previous {};

void on_sigbus(int sig, siginfo_t* info, void* context) {
  auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  uintptr_t begin = g_begin.load(), end = g_end.load();
  if (begin != 0 && addr >= begin && addr < end) {
    // Zero pages in place of the truncated file (mmap is a plain system call, safe here).
    void* p = mmap(reinterpret_cast<void*>(begin), end - begin, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
      g_revoked.store(true);
      return;  // the faulting read runs again and reads 0
    }
  }
  // Not ours: what would have happened without us.
  sigaction(SIGBUS, &g_previous, nullptr);
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) g_previous.sa_sigaction(sig, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
  }
  raise(SIGBUS);
}

void guard(const abi::Mapping& m) {
  g_begin.store(0);
  g_end.store(reinterpret_cast<uintptr_t>(m.addr()) + m.size());
  g_begin.store(reinterpret_cast<uintptr_t>(m.addr()));
}

}  // namespace

TablesAttachment::TablesAttachment(Shared& shared, std::string name) : shared_(shared), name_(std::move(name)) {
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &g_previous);
}

TablesAttachment::~TablesAttachment() {
  g_begin.store(0);
  sigaction(SIGBUS, &g_previous, nullptr);
}

void TablesAttachment::detach(const char* why) {
  shared_.tables.store(nullptr, std::memory_order_release);
  rte_rcu_qsbr_synchronize(shared_.qsbr, RTE_QSBR_THRID_INVALID);
  g_begin.store(0);
  map_ = abi::Mapping{};
  log("error", "detached from tables %s: %s; VIP traffic is dropped until a valid region is published", name_.c_str(), why);
}

void TablesAttachment::check() {
  if (g_revoked.exchange(false) && map_.valid()) detach("the region was truncated under the data plane (SIGBUS)");
  if (map_.valid() && map_.still_named(name_)) return;
  abi::Mapping next;
  std::string error;
  if (!abi::open_tables(name_, abi::Access::ReadOnly, &next, &error)) {
    if (error != last_error_) log("warning", "no tables yet (%s); VIP traffic is dropped until the control plane publishes", error.c_str());
    last_error_ = error;
    return;
  }
  last_error_.clear();
  guard(next);
  shared_.tables.store(&abi::tables_of(next), std::memory_order_release);
  // Workers may still read the old mapping during their current burst; every one of them
  // passes a quiescent point within a loop, then the old mapping can go.
  rte_rcu_qsbr_synchronize(shared_.qsbr, RTE_QSBR_THRID_INVALID);
  map_ = std::move(next);
  log("info", "attached to tables %s at generation %llu", name_.c_str(),
      static_cast<unsigned long long>(abi::tables_of(map_).header.generation.load()));
}

}  // namespace fulcrum::dp
