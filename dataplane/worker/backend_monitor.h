// The main lcore's summary of what every lcore counted per backend, published about every
// millisecond in the status region (StatusRegion::backend_live, vip_live) for the workers'
// schedulers and for the control plane:
//
//  * open connections: sum over lcores of opened - finished + revived (each lcore counts
//    what it saw; a connection opened on one lcore may close on another, so only the sum
//    is meaningful). One load per candidate for a scheduler instead of a sum over lcores.
//  * the SYN->SYN-ACK time, an EWMA with alpha 1/8 per sample (TCP's SRTT), from the
//    lcores' sample sums. A backend that gets no new samples (because it is slow and so
//    chosen no more) sees its figure halve every 500 ms once 100 ms passed without one, so
//    that it is tried again: a backend that recovered is found out, one that did not is
//    measured again and loses.
//  * slow start: the share of its weight a backend that joined or recovered has now,
//    linear over the VIP's slow_start_ms from 10 % (Envoy's min_weight_percent default).
//  * per VIP: the open connections and weight of the backends taking new flows (the mean
//    load of maglev_bounded).
//
// Pure logic over the shared-memory structures (no DPDK): the fixtures call update() with
// the time they want.
#pragma once

#include <cstdint>
#include <vector>

#include "dataplane/abi/status.h"
#include "dataplane/abi/tables.h"

namespace fulcrum::dp {

class BackendMonitor {
 public:
  static constexpr uint64_t kMinIntervalNs = 1'000'000;
  static constexpr uint64_t kQuietNs = 100'000'000;       // no sample this long: the figure decays
  static constexpr double kDecayHalfLifeNs = 500'000'000;
  static constexpr uint16_t kMinRampPermille = 100;

  // `me`: the main lcore's status entry (its place in the table protocol).
  BackendMonitor(abi::StatusRegion& status, uint32_t workers, abi::WorkerStatus& me);

  // At most every kMinIntervalNs (more for large configs): re-sums the figures of the
  // backends in the current tables. `now_ns`: CLOCK_MONOTONIC.
  void update(const abi::TablesRegion* tables, uint64_t now_ns);
  // The same, whenever called (tests).
  void update_now(const abi::TablesRegion* tables, uint64_t now_ns);

 private:
  struct Track {
    uint32_t addr_be = 0;
    uint16_t port_be = 0;
    bool known = false;
    uint64_t samples = 0, us_sum = 0;
    uint64_t last_sample_ns = 0, last_update_ns = 0;
    double ewma_us = 0;
  };
  void update_backend(const abi::Vip& vip, const abi::Backend& be, uint64_t now_ns, int64_t* open_out, uint16_t* ramp_out);

  abi::StatusRegion& status_;
  uint32_t workers_;
  abi::WorkerStatus& me_;
  std::vector<Track> tracks_;     // by backend id
  uint64_t last_ns_ = 0;
  uint64_t interval_ns_ = kMinIntervalNs;
};

}  // namespace fulcrum::dp
