// lb-loadgen's traffic engine: one thread on one pinned core drives both memif ports,
// playing the clients on one and the backends on the other, and checks every frame that
// comes back.
//
// Phases (each measured on its own):
//   open()         conversations up to the client's ACK for flows 0..F-1 (untimed setup);
//                  it learns each flow's backend from the translated SYN
//   established()  ACKs of established flows in both directions (client -> VIP on the
//                  client port, backend -> client on the backend port), as fast as the rings
//                  take them
//   syn()          SYNs of flows never seen (each one makes the balancer create an entry)
//   connections()  full conversations of 7 packets (SYN, SYN-ACK, ACK, data both ways,
//                  FIN both ways) over a fixed number of slots, each slot starting the next
//                  conversation (a new tuple) when the previous one ended
//   forward()      for a plain forwarder (testpmd): established()'s frames, expected back
//                  unchanged (io) or with only the MACs changed (mac)
//
// Nothing is lost by the generator itself: a frame the ring does not take waits in a
// per-port queue (conversations), or is never generated (throughput phases: offered load
// follows what the balancer takes). Loss is therefore what the balancer dropped: sent minus
// received, after a drain.
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tools/loadgen/frames.h"

namespace fulcrum::loadgen {

struct PhaseResult {
  std::string name;
  uint64_t sent = 0;
  uint64_t received = 0;
  uint64_t conversations = 0;     // connections(): completed; open(): flows opened
  uint64_t stalled = 0;           // conversations restarted after a lost packet
  uint64_t out_of_phase = 0;      // frames that skipped a step of their conversation (a lost one)
  uint64_t tsc = 0;               // duration of the timed part
  double seconds = 0;
  double mpps = 0;                // frames received per second (both directions)
  double per_second = 0;          // conversations per second
  double p50_us = 0, p99_us = 0, p999_us = 0;
};

// Latency of frames whose TCP sequence is a send stamp (TSC >> kStampShift).
class LatencyHistogram {
 public:
  static constexpr unsigned kStampShift = 4;
  static constexpr unsigned kBucketShift = 4;        // a bucket: 2^(4+4) = 256 cycles
  static constexpr uint32_t kBuckets = 1u << 16;
  LatencyHistogram() : counts_(kBuckets + 1, 0) {}
  void add(uint32_t now_stamp, uint32_t stamp) {
    const uint32_t b = (now_stamp - stamp) >> kBucketShift;
    ++counts_[b < kBuckets ? b : kBuckets];
  }
  void clear() { std::fill(counts_.begin(), counts_.end(), 0); }
  // Microseconds below which `q` of the samples lie (upper bound of the bucket).
  double quantile_us(double q, double tsc_hz) const;

 private:
  std::vector<uint64_t> counts_;
};

struct EngineOptions {
  Rig rig;
  uint16_t client_port = 0;      // DPDK port ids
  uint16_t backend_port = 1;
  rte_mempool* pool = nullptr;
  bool forwarder = false;        // the peer is testpmd: frames come back untranslated
  bool forwarder_macs = false;   // ... with other MACs (mac mode): MACs not checked
  uint32_t slots = 256;          // concurrent conversations (a power of two; 2 frames each
                                 // at most in flight on one ring: well under its 1,024)
  uint32_t window = 512;         // throughput phases: frames in flight per direction at most
  double stall_ms = 200;         // a conversation silent this long lost a frame
};

class Engine {
 public:
  explicit Engine(const EngineOptions& o);
  ~Engine();

  PhaseResult open(uint32_t flows);
  PhaseResult established(const std::vector<uint32_t>& order, uint32_t flows, double seconds);
  PhaseResult syn(uint32_t max_flows, double seconds);
  PhaseResult connections(double seconds, uint64_t max_conversations);
  PhaseResult forward(const std::vector<uint32_t>& order, uint32_t flows, double seconds);

  // Frames that failed a check, by reason (Bad::Ok counts nothing).
  const std::array<uint64_t, static_cast<size_t>(Bad::kCount)>& bad() const { return bad_; }
  uint64_t bad_total() const;
  uint64_t other_frames() const { return other_; }   // ARP and other non-IPv4: not ours to check
  uint64_t out_of_phase() const { return out_of_phase_; }
  uint32_t flows_with_backend() const;
  // Called with (phase name, begin=true/false) around each timed part (LB counters).
  std::function<void(const std::string&, bool)> on_timed;

 private:
  struct TxQueue {
    std::vector<rte_mbuf*> q;
    size_t head = 0, count = 0;
  };
  struct Slot {
    uint32_t j;           // flow index of its current conversation
    uint8_t phase;
    uint8_t backend;      // index + 1 (0: not yet known)
    uint16_t sent_at;     // TSC >> 20 of its last frame
  };
  enum class Mode : uint8_t { Idle, Open, Established, Syn, Conversations, Forward };

  rte_mbuf* alloc();
  void enqueue(bool backend_side, const FrameSpec& s);
  void flush();
  size_t queued(bool backend_side) const { return (backend_side ? tx_b_ : tx_a_).count; }
  void poll();                                           // receive and check both ports
  void on_backend_side(rte_mbuf* m, uint32_t stamp_now); // a frame the balancer sent to a backend
  void on_client_side(rte_mbuf* m, uint32_t stamp_now);  // ... to a client
  void on_forwarded(rte_mbuf* m, bool backend_side, uint32_t stamp_now);
  void count_bad(Bad b) { ++bad_[static_cast<size_t>(b)]; }
  bool take(const rte_mbuf* m, const Mac* dst_mac, const Mac* src_mac, uint8_t ttl, Seen* f);
  void drain(double ms);
  PhaseResult finish(const char* name, uint64_t start_tsc, uint64_t end_tsc);

  // Conversations (open() and connections()).
  void start_conversation(uint32_t s, uint32_t j);
  void next_conversation(uint32_t s, bool completed = true);
  void conversation_frame(Space space, uint32_t j, const Seen& f, bool backend_side);
  void scan_stalled();
  FrameSpec client_frame(Space space, uint32_t j, uint8_t flags, uint8_t payload) const;
  FrameSpec backend_frame(Space space, uint32_t j, uint8_t backend, uint8_t flags, uint8_t payload) const;
  uint32_t stamp() const;

  EngineOptions o_;
  Mode mode_ = Mode::Idle;
  TxQueue tx_a_, tx_b_;                 // client side, backend side
  std::vector<uint8_t> flow_backend_;   // established flows: backend index + 1
  std::vector<Slot> slots_;
  uint32_t slot_mask_;
  uint32_t open_limit_ = 0;             // open(): flows to open
  uint64_t open_done_ = 0;
  uint32_t scan_cursor_ = 0;
  uint16_t stall_units_;
  uint64_t sent_ = 0, received_ = 0, conversations_ = 0, stalled_ = 0, out_of_phase_ = 0;
  // Per direction (0: towards the backends, sent on the client port; 1: towards the
  // clients): frames sent, received, and given up as lost by the window (see room()).
  uint64_t sent_dir_[2] = {0, 0}, recv_dir_[2] = {0, 0}, written_off_[2] = {0, 0};
  uint64_t last_rx_tsc_ = 0;
  uint32_t room(int dir);          // frames the window lets us queue in this direction
  uint64_t other_ = 0;
  std::array<uint64_t, static_cast<size_t>(Bad::kCount)> bad_{};
  LatencyHistogram latency_;
  double tsc_hz_;
};

}  // namespace fulcrum::loadgen
