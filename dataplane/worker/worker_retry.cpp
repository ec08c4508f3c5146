// Retry on failure (docs/scheduling.md, "Retry on failure"): a connection attempt that its
// backend refuses (a RST answering the SYN) or never answers moves to another backend, up
// to the VIP's connect_retries times, never to a backend it has tried. One mechanism with
// the re-pick of an attempt whose backend went down or away (which needs no budget: that
// backend is gone for everyone).
//
//  * A RST answering the SYN (no SYN-ACK seen) is not forwarded while retries are left:
//    the entry closes as refused, and the client, which never learnt of it, retransmits
//    its SYN (after its RTO, 1 s), which then goes to another backend.
//  * A client SYN on an attempt still unanswered after kRetryAfterMs (a retransmission:
//    duplicates arrive sooner) goes to another backend; the unanswered try is counted.
//  * Once the backend's SYN-ACK has been seen, nothing is retried: the connection is that
//    backend's (resending the SYN elsewhere could only produce a second, conflicting
//    handshake; Calico learnt this the hard way, felix #2675).
// A retried attempt is a new entry on the same tuple: the old one is retired, the new
// choice made by the VIP's scheduler without the backends tried, and the attempt number
// kept in the entry's flags (the earlier tries in RetryMemory).
//
// The SYN-ACK is also where the backend's connect time is measured (the SYN clock in
// Shared) and its answered attempts counted, for the `fastest` scheduler and passive health.
#include "dataplane/worker/worker_internal.h"

namespace fulcrum::dp {

using abi::WorkerCounter;
namespace stat_id = abi::backend_stat;

namespace {

// A client's SYN retransmission comes after its RTO (1 s, RFC 6298); something sooner is a
// duplicate, not a sign that the backend does not answer.
constexpr uint32_t kRetryAfterMs = 200;

uint8_t attempt_of(const Conn& c) { return (c.flags & conn_flag::kAttemptMask) >> conn_flag::kAttemptShift; }

// Closed by the backend's RST before it answered the SYN: refused.
bool refused(uint8_t state) {
  return closed_by_rst(state) && (state & conn_state::kRstFromBackend) &&
         !(state & (conn_state::kSynAckSeen | conn_state::kMidstream));
}

}  // namespace

uint8_t Worker::connect_retries_of(const Conn& c) const {
  if (view_.slot == nullptr) return 0;
  int vi = abi::find_vip(*view_.slot, c.vip_addr(), c.vip_port(), abi::kProtoTcp);
  if (vi < 0) return 0;
  return std::min<uint8_t>(view_.slot->vips[vi].connect_retries, abi::kMaxConnectRetries);
}

// For a client's SYN (without ACK) on an entry: what it starts. No side effects (a worker
// that does not own the entry hands the packet to the owner, which decides again).
Worker::SynRestart Worker::syn_restart(const Conn& c, uint8_t state, uint32_t now_ms) const {
  const bool proxied = (c.flags & conn_flag::kSynproxy) != 0;
  if (phase_of(state) == TcpPhase::Closed) {
    if (!proxied && refused(state) && attempt_of(c) < connect_retries_of(c)) return SynRestart::RetryRefused;
    return SynRestart::NewConnection;
  }
  if (proxied || !is_unanswered(state) || view_.slot == nullptr || c.backend_id >= abi::kMaxBackends) return SynRestart::None;
  // Its backend went down or away: a new choice, rather than following a dead backend for
  // as long as the client retries (whatever the budget).
  if (abi::unusable_for_new_connections(view_.slot->backend_flags[c.backend_id])) return SynRestart::RetryBackendGone;
  const auto waited = static_cast<int32_t>(now_ms - c.last_seen.load(std::memory_order_relaxed));
  if (!(state & conn_state::kMidstream) && waited >= static_cast<int32_t>(kRetryAfterMs) && attempt_of(c) < connect_retries_of(c)) {
    return SynRestart::RetryUnanswered;
  }
  return SynRestart::None;
}

// The owner, about to retire the entry of an attempt that goes elsewhere: what the new
// choice must avoid, and what the old backend did.
void Worker::begin_retry(Pending& p, const Conn& c, SynRestart why, uint32_t now_ms) {
  p.attempt = static_cast<uint8_t>(std::min<int>(attempt_of(c) + 1, abi::kMaxConnectRetries));
  p.tried = sched::Tried{};
  retry_memory_->recall(p.h.sig, p.h.owner_bits, now_ms, p.tried);
  p.tried.add(c.backend_id);
  if (why == SynRestart::RetryUnanswered) stat(c.backend_id, stat_id::kUnanswered);
  stat(c.backend_id, stat_id::kRetriedAway);
  count(WorkerCounter::SynRepicked);
}

// A backend's packet on an attempt it has not answered yet. A SYN-ACK is counted (and
// timed); a RST is counted as a refusal and, while the attempt has retries left, kept from
// the client (true: the packet is used up).
bool Worker::backend_answers_attempt(Pending& p, Conn& c, uint32_t index, BurstOutput& out, uint32_t now_ms) {
  const uint8_t state = c.state.load(std::memory_order_relaxed);
  if (!is_unanswered(state) || (state & conn_state::kMidstream) || c.backend_id >= abi::kMaxBackends) return false;
  const uint8_t flags = p.f.tcp_flags;
  if ((flags & (tcp_bit::SYN | tcp_bit::ACK)) == (tcp_bit::SYN | tcp_bit::ACK)) {
    note_syn_ack(c, index);
    return false;
  }
  if (!(flags & tcp_bit::RST)) return false;
  stat(c.backend_id, stat_id::kRefused);
  if (attempt_of(c) >= connect_retries_of(c)) return false;  // forwarded: the client sees the refusal
  touch(c, Dir::FromBackend, flags, false, now_ms);           // closed, refused: the next SYN retries
  count(WorkerCounter::ConnectRefused);
  set_verdict(out, p.i, Verdict::Kind::Consumed);
  return true;
}

// The backend answered: one more answered attempt, and its connect time if the SYN clock
// still holds this entry's SYN.
void Worker::note_syn_ack(const Conn& c, uint32_t index) {
  stat(c.backend_id, stat_id::kSynAcks);
  const uint64_t v = shared_.syn_clock[shared_.syn_clock_slot(index)].load(std::memory_order_relaxed);
  if (static_cast<uint32_t>(v >> 32) != index + 1) return;
  const uint32_t ticks = static_cast<uint32_t>(burst_tsc_ >> Shared::kSynClockShift) - static_cast<uint32_t>(v);
  const uint64_t us = (uint64_t{ticks} << Shared::kSynClockShift) * 1'000'000 / tsc_hz_;
  stat(c.backend_id, stat_id::kConnectSamples);
  stat(c.backend_id, stat_id::kConnectUsSum, us);
  for (uint32_t b = 0; b < stat_id::kHistogramBuckets; ++b) {
    if (us <= stat_id::kConnectBucketUs[b]) {
      stat(c.backend_id, stat_id::kHistogram + b);
      break;
    }
  }
}

}  // namespace fulcrum::dp
