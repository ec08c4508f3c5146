// See engine.h. The receive handlers check every frame before anything else looks at it.
#include "tools/loadgen/engine.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <cmath>

namespace fulcrum::loadgen {
namespace {

constexpr uint16_t kBurst = 32;
constexpr size_t kQueueCap = 1u << 16;

// Where a conversation is: what its slot waits for next.
enum Phase : uint8_t {
  kIdle = 0,
  kWaitSyn,      // backend side: the client's SYN, translated
  kWaitSynAck,   // client side: the backend's SYN-ACK
  kWaitAck,      // backend side: the client's ACK
  kWaitData,     // backend side: the client's request
  kWaitReply,    // client side: the backend's answer
  kWaitFinC,     // backend side: the client's FIN
  kWaitFinB,     // client side: the backend's FIN
};

inline uint16_t now16() { return static_cast<uint16_t>(rte_rdtsc() >> 20); }

}  // namespace

double LatencyHistogram::quantile_us(double q, double tsc_hz) const {
  uint64_t total = 0;
  for (uint64_t c : counts_) total += c;
  if (total == 0) return 0;
  const auto want = static_cast<uint64_t>(std::ceil(q * double(total)));
  uint64_t seen = 0;
  for (uint32_t b = 0; b <= kBuckets; ++b) {
    seen += counts_[b];
    if (seen >= want) {
      const double cycles = double(uint64_t{b + 1} << (kBucketShift + kStampShift));
      return cycles / tsc_hz * 1e6;
    }
  }
  return 0;
}

Engine::Engine(const EngineOptions& o) : o_(o), slots_(o.slots), slot_mask_(o.slots - 1) {
  tsc_hz_ = double(rte_get_tsc_hz());
  stall_units_ = static_cast<uint16_t>(std::max(1.0, o.stall_ms / 1000.0 * tsc_hz_ / double(1u << 20)));
  tx_a_.q.resize(kQueueCap);
  tx_b_.q.resize(kQueueCap);
}

Engine::~Engine() {
  for (TxQueue* t : {&tx_a_, &tx_b_}) {
    for (size_t k = 0; k < t->count; ++k) rte_pktmbuf_free(t->q[(t->head + k) % kQueueCap]);
  }
}

uint32_t Engine::stamp() const { return static_cast<uint32_t>(rte_rdtsc() >> LatencyHistogram::kStampShift); }

uint64_t Engine::bad_total() const {
  uint64_t n = 0;
  for (uint64_t b : bad_) n += b;
  return n;
}

uint32_t Engine::flows_with_backend() const {
  uint32_t n = 0;
  for (uint8_t b : flow_backend_) n += b != 0;
  return n;
}

rte_mbuf* Engine::alloc() {
  rte_mbuf* m = rte_pktmbuf_alloc(o_.pool);
  if (m == nullptr) {
    std::fprintf(stderr, "lb-loadgen: mbuf pool exhausted\n");
    std::abort();
  }
  return m;
}

void Engine::enqueue(bool backend_side, const FrameSpec& s) {
  TxQueue& t = backend_side ? tx_b_ : tx_a_;
  if (t.count == kQueueCap) {
    std::fprintf(stderr, "lb-loadgen: transmit queue overflow\n");
    std::abort();
  }
  rte_mbuf* m = alloc();
  write_frame(m, s);
  t.q[(t.head + t.count) % kQueueCap] = m;
  ++t.count;
}

void Engine::flush() {
  for (int side = 0; side < 2; ++side) {
    TxQueue& t = side ? tx_b_ : tx_a_;
    const uint16_t port = side ? o_.backend_port : o_.client_port;
    while (t.count > 0) {
      const auto n = static_cast<uint16_t>(std::min<size_t>({t.count, kBurst, kQueueCap - t.head}));
      const uint16_t sent = rte_eth_tx_burst(port, 0, &t.q[t.head], n);
      sent_ += sent;
      sent_dir_[side] += sent;
      t.head = (t.head + sent) % kQueueCap;
      t.count -= sent;
      if (sent < n) break;  // the ring is full: the rest waits for the next round
    }
  }
}

void Engine::poll() {
  rte_mbuf* pkts[kBurst];
  for (int side = 0; side < 2; ++side) {
    // Until the ring is empty (up to 8 bursts): what waits here holds the balancer's
    // transmit ring, which drops when full.
    for (int round = 0; round < 8; ++round) {
      const uint16_t n = rte_eth_rx_burst(side ? o_.backend_port : o_.client_port, 0, pkts, kBurst);
      if (n == 0) break;
      const uint32_t now = stamp();
      const uint64_t before = received_;
      for (uint16_t i = 0; i < n; ++i) {
        if (mode_ == Mode::Forward) on_forwarded(pkts[i], side == 1, now);
        else if (side == 1) on_backend_side(pkts[i], now);
        else on_client_side(pkts[i], now);
      }
      recv_dir_[side == 1 ? 0 : 1] += received_ - before;
      last_rx_tsc_ = rte_rdtsc();
      rte_pktmbuf_free_bulk(pkts, n);
      if (n < kBurst) break;
    }
  }
}

// A window per direction keeps at most o_.window frames in flight, so neither the
// balancer's receive ring nor its transmit ring (our receive ring) can overflow: loss is
// then the balancer's own drops. Frames lost there would close the window for good, so
// when nothing has arrived for 20 ms whatever is in flight is written off (it is counted as
// loss at the end all the same: sent minus received).
uint32_t Engine::room(int dir) {
  uint64_t in_flight = sent_dir_[dir] + queued(dir == 1) - recv_dir_[dir] - written_off_[dir];
  if (in_flight >= o_.window && rte_rdtsc() - last_rx_tsc_ > static_cast<uint64_t>(0.02 * tsc_hz_)) {
    written_off_[dir] += in_flight;
    in_flight = 0;
  }
  return in_flight >= o_.window ? 0 : static_cast<uint32_t>(o_.window - in_flight);
}

// Decodes a received frame and checks its MACs and TTL: true if it is a well-formed IPv4
// TCP frame to check further; otherwise it has been counted (other traffic, or bad).
bool Engine::take(const rte_mbuf* m, const Mac* dst_mac, const Mac* src_mac, uint8_t ttl, Seen* f) {
  const Bad b = decode(m, dst_mac, src_mac, f);
  if (b == Bad::NotIpv4) {
    ++other_;
    return false;
  }
  if (b == Bad::Ok && f->ttl == ttl) return true;
  count_bad(b != Bad::Ok ? b : Bad::Ttl);
  return false;
}

// A frame the balancer sent towards a backend: from a client (its own address and port),
// to one of the backends on the backend port, TTL decremented, checksums right.
void Engine::on_backend_side(rte_mbuf* m, uint32_t now) {
  Seen f;
  if (!take(m, &o_.rig.lg_backend_mac, &o_.rig.lb_backend_mac, 63, &f)) return;
  Space space;
  uint32_t j;
  const uint32_t backend = f.dst - o_.rig.first_backend;
  if (f.dport != o_.rig.backend_port || !index_of(f.src, f.sport, &space, &j) || f.ack != j) return count_bad(Bad::Tuple);
  if (backend >= o_.rig.backends) return count_bad(Bad::Backend);
  ++received_;
  latency_.add(now, f.seq);
  if (mode_ == Mode::Syn) {
    if (space != Space::Syn || f.flags != tcpf::SYN) count_bad(Bad::Unexpected);
    return;
  }
  if (mode_ == Mode::Established) {
    if (space != Space::Established || f.flags != tcpf::ACK || j >= flow_backend_.size()) return count_bad(Bad::Unexpected);
    if (flow_backend_[j] != backend + 1) count_bad(Bad::Backend);
    return;
  }
  // Conversations: the backend is learned from the SYN and must stay the same.
  Slot& s = slots_[j & slot_mask_];
  if (s.j != j || s.phase == kIdle) return;  // a conversation given up as stalled: late, not wrong
  if (s.phase == kWaitSyn && f.flags == tcpf::SYN) {
    s.backend = static_cast<uint8_t>(backend + 1);
    if (space == Space::Established) flow_backend_[j] = s.backend;
  } else if (s.backend != backend + 1) {
    return count_bad(Bad::Backend);
  }
  conversation_frame(space, j, f, true);
}

// A frame the balancer sent towards a client: from the VIP, to the client's address and
// port, on the client port.
void Engine::on_client_side(rte_mbuf* m, uint32_t now) {
  Seen f;
  if (!take(m, &o_.rig.lg_client_mac, &o_.rig.lb_client_mac, 63, &f)) return;
  Space space;
  uint32_t j;
  if (f.src != o_.rig.vip || f.sport != o_.rig.vip_port || !index_of(f.dst, f.dport, &space, &j) || f.ack != j) {
    return count_bad(Bad::Tuple);
  }
  ++received_;
  latency_.add(now, f.seq);
  if (mode_ == Mode::Established) {
    if (space != Space::Established || f.flags != tcpf::ACK) count_bad(Bad::Unexpected);
    return;
  }
  if (mode_ == Mode::Syn) return count_bad(Bad::Unexpected);
  Slot& s = slots_[j & slot_mask_];
  if (s.j != j || s.phase == kIdle) return;
  conversation_frame(space, j, f, false);
}

// testpmd: what went out on one port comes back on the other, IP and TCP untouched.
void Engine::on_forwarded(rte_mbuf* m, bool backend_side, uint32_t now) {
  Seen f;
  if (!take(m, nullptr, nullptr, 64, &f)) return;
  Space space;
  uint32_t j;
  const bool ok = backend_side
                      ? f.dst == o_.rig.vip && f.dport == o_.rig.vip_port && index_of(f.src, f.sport, &space, &j)
                      : f.sport == o_.rig.backend_port && index_of(f.dst, f.dport, &space, &j) &&
                            f.src == o_.rig.first_backend + j % o_.rig.backends;
  if (!ok || f.ack != j || f.flags != tcpf::ACK) return count_bad(Bad::Tuple);
  ++received_;
  latency_.add(now, f.seq);
}

FrameSpec Engine::client_frame(Space space, uint32_t j, uint8_t flags, uint8_t payload) const {
  return FrameSpec{&o_.rig.lb_client_mac, &o_.rig.lg_client_mac, client_addr(space, j), o_.rig.vip, client_port(j),
                   o_.rig.vip_port, stamp(), j, flags, payload};
}

FrameSpec Engine::backend_frame(Space space, uint32_t j, uint8_t backend, uint8_t flags, uint8_t payload) const {
  return FrameSpec{&o_.rig.lb_backend_mac, &o_.rig.lg_backend_mac, o_.rig.first_backend + backend, client_addr(space, j),
                   o_.rig.backend_port, client_port(j), stamp(), j, flags, payload};
}

void Engine::start_conversation(uint32_t s, uint32_t j) {
  Slot& slot = slots_[s];
  slot.j = j;
  slot.backend = 0;
  slot.phase = kWaitSyn;
  slot.sent_at = now16();
  const Space space = mode_ == Mode::Open ? Space::Established : Space::Conn;
  if (space == Space::Established) flow_backend_[j] = 0;
  enqueue(false, client_frame(space, j, tcpf::SYN, 0));
}

void Engine::next_conversation(uint32_t s, bool completed) {
  Slot& slot = slots_[s];
  slot.phase = kIdle;
  if (mode_ == Mode::Open) {
    const uint64_t next = uint64_t{slot.j} + slots_.size();
    if (next < open_limit_) start_conversation(s, static_cast<uint32_t>(next));
  } else if (mode_ == Mode::Conversations && (open_limit_ > 0 || !completed)) {
    if (completed) --open_limit_;  // conversations still to start; a failed one is replaced
    start_conversation(s, (slot.j + static_cast<uint32_t>(slots_.size())) & (kMaxIndex - 1));
  }
}

void Engine::conversation_frame(Space space, uint32_t j, const Seen& f, bool backend_side) {
  const uint32_t s = j & slot_mask_;
  Slot& slot = slots_[s];
  const bool full = space == Space::Conn;
  const uint8_t pa = tcpf::PSH | tcpf::ACK, fa = tcpf::FIN | tcpf::ACK;
  auto expect = [&](bool side, uint8_t flags, bool data) {
    return backend_side == side && f.flags == flags && (f.payload != 0) == data;
  };
  switch (slot.phase) {
    case kWaitSyn:
      if (!expect(true, tcpf::SYN, false)) break;
      enqueue(true, backend_frame(space, j, slot.backend - 1, tcpf::SYN | tcpf::ACK, 0));
      slot.phase = kWaitSynAck;
      slot.sent_at = now16();
      return;
    case kWaitSynAck:
      if (!expect(false, tcpf::SYN | tcpf::ACK, false)) break;
      enqueue(false, client_frame(space, j, tcpf::ACK, 0));
      if (full) enqueue(false, client_frame(space, j, pa, kDataBytes));
      slot.phase = kWaitAck;
      slot.sent_at = now16();
      return;
    case kWaitAck:
      if (!expect(true, tcpf::ACK, false)) break;
      if (!full) {
        ++open_done_;
        return next_conversation(s);
      }
      slot.phase = kWaitData;
      return;
    case kWaitData:
      if (!expect(true, pa, true)) break;
      enqueue(true, backend_frame(space, j, slot.backend - 1, pa, kDataBytes));
      slot.phase = kWaitReply;
      slot.sent_at = now16();
      return;
    case kWaitReply:
      if (!expect(false, pa, true)) break;
      enqueue(false, client_frame(space, j, fa, 0));
      slot.phase = kWaitFinC;
      slot.sent_at = now16();
      return;
    case kWaitFinC:
      if (!expect(true, fa, false)) break;
      enqueue(true, backend_frame(space, j, slot.backend - 1, fa, 0));
      slot.phase = kWaitFinB;
      slot.sent_at = now16();
      return;
    case kWaitFinB:
      if (!expect(false, fa, false)) break;
      ++conversations_;
      return next_conversation(s);
    default:
      break;
  }
  // A frame of this conversation, but not the one its step waits for: one before it was
  // lost (e.g. the ACK dropped, the request that follows it arrived). The conversation is
  // given up; a frame that no step of a conversation sends is a translation error.
  const bool known = f.flags == tcpf::SYN || f.flags == (tcpf::SYN | tcpf::ACK) || f.flags == tcpf::ACK ||
                     f.flags == pa || f.flags == fa;
  if (!known) return count_bad(Bad::Flags);
  ++out_of_phase_;
  ++stalled_;
  if (mode_ == Mode::Open) start_conversation(s, j);
  else next_conversation(s, false);
}

void Engine::scan_stalled() {
  const uint16_t now = now16();
  for (uint32_t k = 0; k < 64; ++k) {
    const uint32_t s = scan_cursor_;
    scan_cursor_ = (scan_cursor_ + 1) & slot_mask_;
    Slot& slot = slots_[s];
    if (slot.phase == kIdle || static_cast<uint16_t>(now - slot.sent_at) <= stall_units_) continue;
    ++stalled_;
    if (mode_ == Mode::Open) start_conversation(s, slot.j);  // the flow must be opened all the same
    else next_conversation(s, false);
  }
}

void Engine::drain(double ms) {
  const uint64_t until = rte_rdtsc() + static_cast<uint64_t>(ms / 1000.0 * tsc_hz_);
  while (rte_rdtsc() < until) {
    poll();
    flush();
  }
}

PhaseResult Engine::finish(const char* name, uint64_t start, uint64_t end) {
  PhaseResult r;
  r.name = name;
  r.sent = sent_;
  r.received = received_;
  r.conversations = mode_ == Mode::Open ? open_done_ : conversations_;
  r.stalled = stalled_;
  r.out_of_phase = out_of_phase_;
  r.tsc = end - start;
  r.seconds = double(r.tsc) / tsc_hz_;
  r.p50_us = latency_.quantile_us(0.50, tsc_hz_);
  r.p99_us = latency_.quantile_us(0.99, tsc_hz_);
  r.p999_us = latency_.quantile_us(0.999, tsc_hz_);
  sent_ = received_ = conversations_ = stalled_ = open_done_ = out_of_phase_ = 0;
  for (int d = 0; d < 2; ++d) sent_dir_[d] = recv_dir_[d] = written_off_[d] = 0;
  latency_.clear();
  mode_ = Mode::Idle;
  return r;
}

PhaseResult Engine::open(uint32_t flows) {
  mode_ = Mode::Open;
  flow_backend_.assign(flows, 0);
  open_limit_ = flows;
  const uint32_t k = std::min<uint32_t>(flows, static_cast<uint32_t>(slots_.size()));
  for (auto& s : slots_) s = Slot{0, kIdle, 0, 0};
  const uint64_t start = rte_rdtsc();
  // Generous: a busy machine may run the balancer slowly; a stuck one fails the phase.
  const uint64_t give_up = start + static_cast<uint64_t>((30.0 + flows / 50000.0) * tsc_hz_);
  uint32_t started = 0;
  while (open_done_ < flows && rte_rdtsc() < give_up) {
    for (uint32_t n = 0; n < 64 && started < k; ++n, ++started) start_conversation(started, started);
    poll();
    flush();
    scan_stalled();
  }
  const uint64_t end = rte_rdtsc();
  drain(20);
  PhaseResult r = finish("open", start, end);
  r.per_second = double(r.conversations) / r.seconds;
  return r;
}

PhaseResult Engine::established(const std::vector<uint32_t>& order, uint32_t flows, double seconds) {
  drain(5);
  mode_ = Mode::Established;
  size_t pos_a = 0, pos_b = order.size() / 2;
  const uint64_t budget = static_cast<uint64_t>(seconds * tsc_hz_);
  if (on_timed) on_timed("established", true);
  const uint64_t start = rte_rdtsc();
  uint64_t now = start, rx_at_end = 0;
  while (now - start < budget) {
    poll();
    for (int side = 0; side < 2; ++side) {
      if (queued(side == 1) >= kBurst || room(side) < kBurst) continue;
      size_t& pos = side ? pos_b : pos_a;
      for (uint16_t i = 0; i < kBurst; ++i) {
        const uint32_t j = order[pos] % flows;
        pos = pos + 1 == order.size() ? 0 : pos + 1;
        const uint8_t backend = flow_backend_[j];
        if (backend == 0) continue;  // never opened (reported by open())
        enqueue(side == 1, side ? backend_frame(Space::Established, j, backend - 1, tcpf::ACK, 0)
                                : client_frame(Space::Established, j, tcpf::ACK, 0));
      }
    }
    flush();
    now = rte_rdtsc();
  }
  rx_at_end = received_;
  if (on_timed) on_timed("established", false);
  for (TxQueue* t : {&tx_a_, &tx_b_}) {  // unsent frames were never offered
    for (; t->count > 0; --t->count, t->head = (t->head + 1) % kQueueCap) rte_pktmbuf_free(t->q[t->head]);
  }
  drain(30);
  PhaseResult r = finish("established", start, now);
  r.mpps = double(rx_at_end) / r.seconds / 1e6;
  return r;
}

PhaseResult Engine::syn(uint32_t max_flows, double seconds) {
  drain(5);
  mode_ = Mode::Syn;
  const uint64_t budget = static_cast<uint64_t>(seconds * tsc_hz_);
  uint32_t j = 0;
  if (on_timed) on_timed("syn", true);
  const uint64_t start = rte_rdtsc();
  uint64_t now = start;
  while (now - start < budget && (j < max_flows || tx_a_.count > 0)) {
    poll();
    if (queued(false) < kBurst && room(0) >= kBurst) {
      for (uint16_t i = 0; i < kBurst && j < max_flows; ++i, ++j) enqueue(false, client_frame(Space::Syn, j, tcpf::SYN, 0));
    }
    flush();
    now = rte_rdtsc();
  }
  // Until the SYNs in flight came out (the rate counts what the balancer forwarded).
  const uint64_t settle = now + static_cast<uint64_t>(0.01 * tsc_hz_);
  while (received_ < sent_ && now < settle) {
    poll();
    now = rte_rdtsc();
  }
  const uint64_t rx_at_end = received_;
  if (on_timed) on_timed("syn", false);
  for (; tx_a_.count > 0; --tx_a_.count, tx_a_.head = (tx_a_.head + 1) % kQueueCap) rte_pktmbuf_free(tx_a_.q[tx_a_.head]);
  drain(30);
  PhaseResult r = finish("syn", start, now);
  r.mpps = double(rx_at_end) / r.seconds / 1e6;
  return r;
}

PhaseResult Engine::connections(double seconds, uint64_t max_conversations) {
  drain(5);
  mode_ = Mode::Conversations;
  for (auto& s : slots_) s = Slot{0, kIdle, 0, 0};
  const auto k = static_cast<uint32_t>(std::min<uint64_t>(slots_.size(), max_conversations));
  open_limit_ = static_cast<uint32_t>(std::min<uint64_t>(max_conversations - k, 0xFFFFFFFFu));
  const uint64_t budget = static_cast<uint64_t>(seconds * tsc_hz_);
  if (on_timed) on_timed("connections", true);
  const uint64_t start = rte_rdtsc();
  uint64_t now = start, done_at_end = 0;
  uint32_t started = 0, rounds = 0;
  auto busy = [&] {
    for (const Slot& s : slots_) {
      if (s.phase != kIdle) return true;
    }
    return false;
  };
  for (;;) {
    for (uint32_t n = 0; n < 64 && started < k; ++n, ++started) start_conversation(started, started);
    poll();
    flush();
    scan_stalled();
    now = rte_rdtsc();
    if (now - start >= budget) break;
    if (started == k && open_limit_ == 0 && ++rounds % 1024 == 0 && !busy()) break;  // all asked for are done
  }
  done_at_end = conversations_;
  if (on_timed) on_timed("connections", false);
  open_limit_ = 0;  // let the conversations under way finish, start none
  const uint64_t settle = now + static_cast<uint64_t>(0.5 * tsc_hz_);
  while (busy() && rte_rdtsc() < settle) {
    poll();
    flush();
    scan_stalled();
  }
  drain(20);
  PhaseResult r = finish("connections", start, now);
  r.per_second = double(done_at_end) / r.seconds;
  r.mpps = double(done_at_end) * 7 / r.seconds / 1e6;
  return r;
}

PhaseResult Engine::forward(const std::vector<uint32_t>& order, uint32_t flows, double seconds) {
  drain(5);
  mode_ = Mode::Forward;
  size_t pos_a = 0, pos_b = order.size() / 2;
  const uint64_t budget = static_cast<uint64_t>(seconds * tsc_hz_);
  if (on_timed) on_timed("forward", true);
  const uint64_t start = rte_rdtsc();
  uint64_t now = start;
  while (now - start < budget) {
    poll();
    for (int side = 0; side < 2; ++side) {
      if (queued(side == 1) >= kBurst || room(side) < kBurst) continue;
      size_t& pos = side ? pos_b : pos_a;
      for (uint16_t i = 0; i < kBurst; ++i) {
        const uint32_t j = order[pos] % flows;
        pos = pos + 1 == order.size() ? 0 : pos + 1;
        const auto backend = static_cast<uint8_t>(j % o_.rig.backends);
        enqueue(side == 1, side ? backend_frame(Space::Established, j, backend, tcpf::ACK, 0)
                                : client_frame(Space::Established, j, tcpf::ACK, 0));
      }
    }
    flush();
    now = rte_rdtsc();
  }
  const uint64_t rx_at_end = received_;
  if (on_timed) on_timed("forward", false);
  for (TxQueue* t : {&tx_a_, &tx_b_}) {
    for (; t->count > 0; --t->count, t->head = (t->head + 1) % kQueueCap) rte_pktmbuf_free(t->q[t->head]);
  }
  drain(30);
  PhaseResult r = finish("forward", start, now);
  r.mpps = double(rx_at_end) / r.seconds / 1e6;
  return r;
}

}  // namespace fulcrum::loadgen
