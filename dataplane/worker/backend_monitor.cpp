#include "dataplane/worker/backend_monitor.h"

#include <algorithm>
#include <cmath>

#include "dataplane/abi/publish.h"

namespace fulcrum::dp {

namespace stat_id = abi::backend_stat;

BackendMonitor::BackendMonitor(abi::StatusRegion& status, uint32_t workers, abi::WorkerStatus& me)
    : status_(status), workers_(std::min(workers, abi::kMaxWorkers)), me_(me), tracks_(abi::kMaxBackends) {}

void BackendMonitor::update(const abi::TablesRegion* tables, uint64_t now_ns) {
  if (last_ns_ != 0 && now_ns - last_ns_ < interval_ns_) return;
  update_now(tables, now_ns);
}

void BackendMonitor::update_now(const abi::TablesRegion* tables, uint64_t now_ns) {
  last_ns_ = now_ns;
  if (tables == nullptr) return;
  const abi::TableView view = abi::begin_burst(*tables, me_);
  if (view.slot == nullptr) return;
  const abi::TableSlot& slot = *view.slot;
  uint32_t backends_seen = 0;
  const uint32_t nv = std::min(slot.hdr.vip_count, abi::kMaxVips);
  for (uint32_t v = 0; v < nv; ++v) {
    const abi::Vip& vip = slot.vips[v];
    if (vip.backend_count > abi::kMaxBackends || vip.backend_first > abi::kMaxBackends - vip.backend_count) continue;
    int64_t vip_open = 0;
    uint64_t vip_weight = 0;
    for (uint32_t b = 0; b < vip.backend_count; ++b) {
      const abi::Backend& be = slot.backends[vip.backend_first + b];
      if (be.id >= abi::kMaxBackends) continue;
      int64_t open = 0;
      uint16_t ramp = 0;
      update_backend(vip, be, now_ns, &open, &ramp);
      ++backends_seen;
      if (be.state == static_cast<uint8_t>(abi::BackendState::Active) && be.weight > 0) {
        vip_open += std::max<int64_t>(open, 0);
        vip_weight += uint64_t{be.weight} * (ramp != 0 ? ramp : 1000);
      }
    }
    abi::VipLive& live = status_.vip_live[vip.vip_id % abi::kMaxVips];
    live.active.store(vip_open, std::memory_order_relaxed);
    live.weight_permille.store(vip_weight, std::memory_order_relaxed);
  }
  // Each round costs a pass over (backends x lcores) counters: large configs go less often.
  interval_ns_ = std::max<uint64_t>(kMinIntervalNs, uint64_t{backends_seen} * workers_ * 50);
}

void BackendMonitor::update_backend(const abi::Vip& vip, const abi::Backend& be, uint64_t now_ns, int64_t* open_out,
                                    uint16_t* ramp_out) {
  const uint16_t id = be.id;
  int64_t open = 0;
  uint64_t samples = 0, us_sum = 0;
  for (uint32_t w = 0; w < workers_; ++w) {
    const abi::BackendStats& s = status_.backend_stats[w][id];
    open += static_cast<int64_t>(status_.workers[w].backend_opened[id].get()) - static_cast<int64_t>(s.c[stat_id::kFinished].get()) +
            static_cast<int64_t>(s.c[stat_id::kRevived].get());
    samples += s.c[stat_id::kConnectSamples].get();
    us_sum += s.c[stat_id::kConnectUsSum].get();
  }
  Track& t = tracks_[id];
  if (!t.known) {
    t = Track{be.addr_be, be.port_be, true, 0, 0, now_ns, now_ns, 0};
  } else if (t.addr_be != be.addr_be || t.port_be != be.port_be) {
    // Another backend on this id (a config change): its own figures from now on.
    t = Track{be.addr_be, be.port_be, true, samples, us_sum, now_ns, now_ns, 0};
  }
  const uint64_t n = samples - t.samples;
  if (n > 0) {
    const double mean = double(us_sum - t.us_sum) / double(n);
    // n samples at alpha 1/8 each: the old figure keeps (7/8)^n.
    t.ewma_us = t.ewma_us == 0 ? mean : mean + (t.ewma_us - mean) * std::pow(7.0 / 8.0, double(n));
    t.last_sample_ns = now_ns;
  } else if (now_ns - t.last_sample_ns > kQuietNs) {
    t.ewma_us *= std::exp2(-double(now_ns - t.last_update_ns) / kDecayHalfLifeNs);
  }
  t.samples = samples;
  t.us_sum = us_sum;
  t.last_update_ns = now_ns;

  uint16_t ramp = 0;  // 0: not ramping, the whole weight
  if ((be.entry_flags & abi::backend_entry::kSlowStart) && vip.slow_start_ms != 0) {
    const auto elapsed = static_cast<int32_t>(static_cast<uint32_t>(now_ns / 1'000'000) - be.up_since_ms);
    if (elapsed < 0) ramp = kMinRampPermille;
    else if (static_cast<uint32_t>(elapsed) < vip.slow_start_ms) {
      ramp = static_cast<uint16_t>(std::max<uint64_t>(kMinRampPermille, uint64_t(elapsed) * 1000 / vip.slow_start_ms));
    }
  }
  abi::BackendLive& live = status_.backend_live[id];
  live.active.store(static_cast<int32_t>(std::clamp<int64_t>(open, 0, INT32_MAX)), std::memory_order_relaxed);
  live.connect_ewma_us.store(static_cast<uint32_t>(std::min(t.ewma_us + 0.5, 4e9)), std::memory_order_relaxed);
  live.ramp_permille.store(ramp, std::memory_order_relaxed);
  *open_out = open;
  *ramp_out = ramp;
}

}  // namespace fulcrum::dp
