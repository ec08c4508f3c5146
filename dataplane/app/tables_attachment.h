// Keeps Shared::tables pointing at the control plane's current tables region: maps it when
// it appears, again when the control plane replaced it (another ABI, say), and lets go of
// it when it was truncated under us.
//
// Why the SIGBUS guard: the region is a file in /dev/shm mapped at its full size. A writer
// that ftruncate()s it (only a malicious or broken one: the control plane unlinks and
// re-creates instead) would make the next read of a page past the new end raise SIGBUS
// in a worker. The handler replaces the whole mapping with zero pages, so the read returns
// 0 (no generation: the burst's slot check fails and it is discarded), and flags it; the
// main loop then detaches (after a grace period) and waits for a region that passes the
// checks again. One process-wide guard: there is one tables mapping at a time.
#pragma once

#include <atomic>
#include <string>

#include "dataplane/abi/region.h"
#include "dataplane/worker/shared.h"

namespace fulcrum::dp {

class TablesAttachment {
 public:
  TablesAttachment(Shared& shared, std::string name);
  ~TablesAttachment();

  // Once a second from the main loop: (re)attach, or detach after a truncation.
  void check();

 private:
  void detach(const char* why);

  Shared& shared_;
  std::string name_;
  abi::Mapping map_;
  std::string last_error_;
};

}  // namespace fulcrum::dp
