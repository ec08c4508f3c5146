// Unit tests of the data plane's DPDK-free core: checksum deltas, the TCP phase machine,
// frame parsing, routes, the neighbour table and the SNAT port shares.
//
// Every expectation is computed independently of the code under test: checksums by a
// byte-wise RFC 1071 sum over big-endian words, frames by a local builder that writes
// each header field by offset, so neither side vouches for itself.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/parse_helpers.h"
#include "dataplane/core/checksum.h"
#include "dataplane/core/neighbours.h"
#include "dataplane/core/packet_parse.h"
#include "dataplane/core/routes.h"
#include "dataplane/core/snat_ports.h"
#include "dataplane/core/tcp_state.h"

namespace fulcrum::dp {
namespace {

using Bytes = std::vector<uint8_t>;
using abi::DropReason;

// ------------------------------------------------------------------ byte helpers

uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return htonl(uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d);
}

void put16(uint8_t* p, uint16_t host) {
  p[0] = static_cast<uint8_t>(host >> 8);
  p[1] = static_cast<uint8_t>(host);
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// The field exactly as it sits in memory (what CsumDelta is documented to take).
uint16_t raw16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
uint32_t raw32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
void set_raw16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
void set_raw32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

// RFC 1071, written out independently of checksum.h: the one's-complement sum of
// big-endian 16-bit words (an odd last byte padded with zero), folded, complemented.
// Returns the checksum as a host-order value, to be stored big-endian.
uint32_t rfc1071_sum(const uint8_t* p, size_t len, uint32_t sum = 0) {
  for (size_t i = 0; i < len; i += 2) {
    uint32_t hi = p[i];
    uint32_t lo = i + 1 < len ? p[i + 1] : 0;
    sum += hi << 8 | lo;
  }
  return sum;
}
uint16_t rfc1071_finish(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xFFFF);
}

// ================================================================== checksum

constexpr size_t kIp = 0;  // offsets inside a bare IPv4+TCP packet

struct IpTcp {
  Bytes b;
  size_t ihl = 20;
  size_t tcp() const { return kIp + ihl; }
  size_t tcp_len() const { return b.size() - tcp(); }
};

uint16_t reference_ip_csum(const IpTcp& p) {
  Bytes h(p.b.begin(), p.b.begin() + static_cast<long>(p.ihl));
  h[10] = h[11] = 0;
  return rfc1071_finish(rfc1071_sum(h.data(), h.size()));
}

uint16_t reference_tcp_csum(const IpTcp& p) {
  Bytes seg(p.b.begin() + static_cast<long>(p.tcp()), p.b.end());
  seg[16] = seg[17] = 0;
  uint8_t pseudo[12];
  std::memcpy(pseudo, &p.b[12], 8);  // source and destination addresses
  pseudo[8] = 0;
  pseudo[9] = 6;
  put16(pseudo + 10, static_cast<uint16_t>(seg.size()));
  return rfc1071_finish(rfc1071_sum(seg.data(), seg.size(), rfc1071_sum(pseudo, 12)));
}

IpTcp random_packet(std::mt19937& rng) {
  std::uniform_int_distribution<int> byte(0, 255);
  IpTcp p;
  p.ihl = 20 + 4 * (rng() % 4 == 0 ? rng() % 11 : 0);  // a quarter carry options
  size_t payload = rng() % 65;                        // odd lengths included
  p.b.resize(p.ihl + 20 + payload);
  for (auto& x : p.b) x = static_cast<uint8_t>(byte(rng));
  p.b[0] = static_cast<uint8_t>(0x40 | p.ihl / 4);
  put16(&p.b[2], static_cast<uint16_t>(p.b.size()));
  p.b[9] = 6;
  p.b[p.tcp() + 12] = 0x50;
  put16(&p.b[10], reference_ip_csum(p));
  put16(&p.b[p.tcp() + 16], reference_tcp_csum(p));
  return p;
}

TEST(Checksum, FullSumMatchesRfc1071ReferenceOnRandomBuffers) {
  std::mt19937 rng(1071);
  for (int iter = 0; iter < 3000; ++iter) {
    Bytes buf(rng() % 100);
    for (auto& x : buf) x = static_cast<uint8_t>(rng());
    uint16_t want = rfc1071_finish(rfc1071_sum(buf.data(), buf.size()));
    uint8_t got[2];
    set_raw16(got, csum_finish(csum_partial(buf.data(), buf.size())));
    ASSERT_EQ(get16(got), want) << "buffer of " << buf.size() << " bytes, iteration " << iter;
  }
}

TEST(Checksum, RandomHeaderRewritesMatchFullRecomputation) {
  std::mt19937 rng(20240601);
  int zeros = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    IpTcp p = random_packet(rng);
    uint8_t* ip = &p.b[kIp];
    uint8_t* tcp = &p.b[p.tcp()];
    ASSERT_EQ(csum_finish(csum_partial(ip, p.ihl)), 0) << "generator produced a bad IP checksum";

    // What a fullnat rewrite changes, chosen at random (each field sometimes unchanged).
    uint32_t new_src = rng() % 5 == 0 ? raw32(ip + 12) : static_cast<uint32_t>(rng());
    uint32_t new_dst = rng() % 5 == 0 ? raw32(ip + 16) : static_cast<uint32_t>(rng());
    uint16_t new_sport = rng() % 5 == 0 ? raw16(tcp) : static_cast<uint16_t>(rng());
    uint16_t new_dport = rng() % 5 == 0 ? raw16(tcp + 2) : static_cast<uint16_t>(rng());
    uint8_t new_ttl = rng() % 2 == 0 ? static_cast<uint8_t>(ip[8] - 1) : static_cast<uint8_t>(rng());
    if (iter % 8 == 0) {
      // RFC 1624's case on purpose: pick the destination's last word so that the rewritten
      // IP header sums to 0xFFFF (recomputed checksum 0x0000, never 0xFFFF), then the
      // destination port likewise for TCP.
      IpTcp q = p;
      set_raw32(&q.b[12], new_src);
      set_raw32(&q.b[16], new_dst);
      q.b[8] = new_ttl;
      q.b[18] = q.b[19] = 0;
      put16(&q.b[18], reference_ip_csum(q));
      new_dst = raw32(&q.b[16]);
      set_raw16(&q.b[q.tcp()], new_sport);
      q.b[q.tcp() + 2] = q.b[q.tcp() + 3] = 0;
      put16(&q.b[q.tcp() + 2], reference_tcp_csum(q));
      new_dport = raw16(&q.b[q.tcp() + 2]);
    }

    CsumDelta addrs, ports, ttl;
    addrs.replace32(raw32(ip + 12), new_src);
    addrs.replace32(raw32(ip + 16), new_dst);
    ports.replace16(raw16(tcp), new_sport);
    ports.replace16(raw16(tcp + 2), new_dport);
    uint16_t old_ttl_word = raw16(ip + 8);  // TTL shares its 16-bit word with the protocol
    uint8_t ttl_word[2] = {new_ttl, ip[9]};
    ttl.replace16(old_ttl_word, raw16(ttl_word));

    CsumDelta ip_delta = addrs;
    ip_delta.add(ttl);
    CsumDelta tcp_delta = addrs;
    tcp_delta.add(ports);
    uint16_t ip_csum = ip_delta.apply(raw16(ip + 10));
    uint16_t tcp_csum = tcp_delta.apply(raw16(tcp + 16));

    set_raw32(ip + 12, new_src);
    set_raw32(ip + 16, new_dst);
    set_raw16(tcp, new_sport);
    set_raw16(tcp + 2, new_dport);
    ip[8] = new_ttl;
    set_raw16(ip + 10, ip_csum);
    set_raw16(tcp + 16, tcp_csum);

    ASSERT_EQ(get16(ip + 10), reference_ip_csum(p)) << "IP checksum, iteration " << iter;
    ASSERT_EQ(get16(tcp + 16), reference_tcp_csum(p)) << "TCP checksum, iteration " << iter;
    if (iter % 8 == 0) {
      ASSERT_EQ(get16(ip + 10), 0x0000) << "iteration " << iter;
      ASSERT_EQ(get16(tcp + 16), 0x0000) << "iteration " << iter;
    }
    zeros += get16(ip + 10) == 0;
  }
  EXPECT_GE(zeros, 5000 / 8);
}

// RFC 1624 section 4: the other header words sum to 0xCD7A, m = 0x5555 becomes
// m' = 0x3285. HC = 0xDD2F; recomputation gives 0x0000, and eqn. 3 must too (eqn. 2 of
// RFC 1141 gives 0xFFFF, the wrong zero).
TEST(Checksum, Rfc1624ExampleGivesPositiveZero) {
  CsumDelta d;
  d.replace16(0x5555, 0x3285);
  EXPECT_EQ(d.apply(0xDD2F), 0x0000);

  // The same as bytes in a header, byte order as stored, checked against recomputation.
  uint8_t words[6];
  put16(words, 0xCD7A);
  put16(words + 2, 0x5555);
  put16(words + 4, 0xDD2F);
  ASSERT_EQ(rfc1071_finish(rfc1071_sum(words, 6)), 0) << "the RFC's header is consistent";
  CsumDelta stored;
  uint8_t new_m[2];
  put16(new_m, 0x3285);
  stored.replace16(raw16(words + 2), raw16(new_m));
  uint16_t hc = stored.apply(raw16(words + 4));
  put16(words + 2, 0x3285);
  set_raw16(words + 4, hc);
  EXPECT_EQ(get16(words + 4), 0x0000);
  EXPECT_EQ(get16(words + 4), rfc1071_finish(rfc1071_sum(words, 4)));
}

TEST(Checksum, NoReplacementLeavesChecksumAlone) {
  CsumDelta none;
  for (uint32_t c : {0x0000u, 0x1234u, 0xFFFEu}) EXPECT_EQ(none.apply(static_cast<uint16_t>(c)), c);
  CsumDelta same;
  same.replace32(0xC0A80001, 0xC0A80001);
  same.replace16(0x1F90, 0x1F90);
  EXPECT_EQ(same.apply(0x1234), 0x1234);
}

// ================================================================== tcp_state

namespace cs = conn_state;
namespace tb = tcp_bit;
constexpr uint8_t kSyn = static_cast<uint8_t>(TcpPhase::SynSeen);
constexpr uint8_t kEst = static_cast<uint8_t>(TcpPhase::Established);
constexpr uint8_t kClosing = static_cast<uint8_t>(TcpPhase::Closing);
constexpr uint8_t kClosed = static_cast<uint8_t>(TcpPhase::Closed);
constexpr Dir C = Dir::FromClient;
constexpr Dir B = Dir::FromBackend;

struct Step {
  const char* name;
  uint8_t state;
  Dir dir;
  uint8_t flags;
  uint8_t want;
};

std::string state_str(uint8_t s) {
  static const char* phases[] = {"SynSeen", "Established", "Closing", "Closed"};
  std::string out = phases[s & cs::kPhaseMask];
  if (s & cs::kFinFromClient) out += "|FinC";
  if (s & cs::kFinFromBackend) out += "|FinB";
  if (s & cs::kSynAckSeen) out += "|SynAck";
  if (s & cs::kMidstream) out += "|Mid";
  if (s & cs::kDead) out += "|Dead";
  if (s & cs::kRstFromBackend) out += "|RstB";
  return out;
}

TEST(TcpState, InitialStates) {
  EXPECT_EQ(initial_state(true), kSyn);
  EXPECT_EQ(initial_state(false), kSyn | cs::kMidstream);
  EXPECT_TRUE(is_embryonic(initial_state(true)));
  EXPECT_TRUE(is_embryonic(initial_state(false)));
}

TEST(TcpState, TransitionTable) {
  const uint8_t SA = cs::kSynAckSeen, FC = cs::kFinFromClient, FB = cs::kFinFromBackend, MID = cs::kMidstream;
  const uint8_t RB = cs::kRstFromBackend;
  const Step steps[] = {
      // Three-way handshake.
      {"backend SYN-ACK is remembered", kSyn, B, tb::SYN | tb::ACK, kSyn | SA},
      {"client ACK after SYN-ACK establishes", kSyn | SA, C, tb::ACK, kEst | SA},
      {"client data+ACK after SYN-ACK establishes", kSyn | SA, C, tb::ACK | tb::PSH, kEst | SA},
      {"client ACK without a SYN-ACK stays embryonic", kSyn, C, tb::ACK, kSyn},
      {"client SYN retransmit stays embryonic", kSyn, C, tb::SYN, kSyn},
      {"client SYN retransmit after SYN-ACK stays", kSyn | SA, C, tb::SYN, kSyn | SA},
      {"client SYN+ACK does not establish", kSyn | SA, C, tb::SYN | tb::ACK, kSyn | SA},
      {"backend bare SYN (simultaneous open) ignored", kSyn, B, tb::SYN, kSyn},
      {"backend ACK without SYN on a SYN flow stays", kSyn, B, tb::ACK, kSyn},
      {"backend SYN-ACK retransmit", kSyn | SA, B, tb::SYN | tb::ACK, kSyn | SA},
      // Established traffic changes nothing.
      {"established client data", kEst | SA, C, tb::ACK | tb::PSH, kEst | SA},
      {"established backend data", kEst | SA, B, tb::ACK, kEst | SA},
      {"established stray SYN", kEst | SA, C, tb::SYN, kEst | SA},
      // Close from the client first, then the backend.
      {"client FIN -> closing", kEst | SA, C, tb::FIN | tb::ACK, kClosing | SA | FC},
      {"client FIN retransmit", kClosing | SA | FC, C, tb::FIN | tb::ACK, kClosing | SA | FC},
      {"backend ACK of the FIN", kClosing | SA | FC, B, tb::ACK, kClosing | SA | FC},
      {"backend FIN -> closed", kClosing | SA | FC, B, tb::FIN | tb::ACK, kClosed | SA | FC | FB},
      {"last ACK after both FINs", kClosed | SA | FC | FB, C, tb::ACK, kClosed | SA | FC | FB},
      // Close from the backend first.
      {"backend FIN -> closing", kEst | SA, B, tb::FIN | tb::ACK, kClosing | SA | FB},
      {"client FIN -> closed", kClosing | SA | FB, C, tb::FIN | tb::ACK, kClosed | SA | FC | FB},
      // A FIN before the handshake completed.
      {"client FIN on embryonic", kSyn, C, tb::FIN, kClosing | FC},
      {"backend FIN on embryonic", kSyn | SA, B, tb::FIN | tb::ACK, kClosing | SA | FB},
      // Resets from either side, in every phase.
      {"client RST in SynSeen", kSyn, C, tb::RST, kClosed},
      {"backend RST in SynSeen (refused)", kSyn, B, tb::RST | tb::ACK, kClosed | RB},
      {"client RST established", kEst | SA, C, tb::RST, kClosed | SA},
      {"backend RST established", kEst | SA, B, tb::RST | tb::ACK, kClosed | SA | RB},
      {"client RST while closing", kClosing | SA | FC, C, tb::RST, kClosed | SA | FC},
      {"backend RST while closing", kClosing | SA | FB, B, tb::RST, kClosed | SA | FB | RB},
      {"RST+FIN counts as RST", kEst | SA, C, tb::RST | tb::FIN, kClosed | SA},
      {"RST on closed", kClosed | SA | FC | FB, B, tb::RST, kClosed | SA | FC | FB},
      // Mid-stream pickup: embryonic until the backend answers.
      {"mid-stream: client data keeps it embryonic", kSyn | MID, C, tb::ACK | tb::PSH, kSyn | MID},
      {"mid-stream: client ACK keeps it embryonic", kSyn | MID, C, tb::ACK, kSyn | MID},
      {"mid-stream: backend ACK establishes", kSyn | MID, B, tb::ACK, kEst | MID},
      {"mid-stream: backend data establishes", kSyn | MID, B, tb::ACK | tb::PSH, kEst | MID},
      {"mid-stream: backend RST closes", kSyn | MID, B, tb::RST, kClosed | MID | RB},
      {"mid-stream: backend RST+ACK closes", kSyn | MID, B, tb::RST | tb::ACK, kClosed | MID | RB},
      {"mid-stream: backend bare SYN is no answer", kSyn | MID, B, tb::SYN, kSyn | MID},
      {"mid-stream: backend SYN-ACK is a handshake", kSyn | MID, B, tb::SYN | tb::ACK, kSyn | MID | SA},
      {"mid-stream: then client ACK establishes", kSyn | MID | SA, C, tb::ACK, kEst | MID | SA},
      {"mid-stream: backend FIN", kSyn | MID, B, tb::FIN | tb::ACK, kClosing | MID | FB},
      {"mid-stream established: data", kEst | MID, C, tb::ACK, kEst | MID},
      {"client RST after backend RST", kClosed | SA | RB, C, tb::RST, kClosed | SA | RB},
  };
  for (const Step& s : steps) {
    uint8_t got = tcp_next(s.state, s.dir, s.flags);
    EXPECT_EQ(got, s.want) << s.name << ": " << state_str(s.state) << " + flags 0x" << std::hex << int{s.flags}
                           << (s.dir == C ? " from client" : " from backend") << " -> " << state_str(got)
                           << ", want " << state_str(s.want);
  }
}

TEST(TcpState, FullSequences) {
  auto run = [](uint8_t s, std::initializer_list<std::pair<Dir, uint8_t>> pkts) {
    for (auto [d, f] : pkts) s = tcp_next(s, d, f);
    return s;
  };
  // Handshake, data, client close, backend close.
  uint8_t s = run(initial_state(true), {{C, tb::SYN}, {B, tb::SYN | tb::ACK}, {C, tb::ACK}});
  EXPECT_EQ(phase_of(s), TcpPhase::Established);
  EXPECT_FALSE(is_embryonic(s));
  s = run(s, {{C, tb::PSH | tb::ACK}, {B, tb::ACK}, {C, tb::FIN | tb::ACK}});
  EXPECT_EQ(phase_of(s), TcpPhase::Closing);
  s = run(s, {{B, tb::ACK}, {B, tb::FIN | tb::ACK}, {C, tb::ACK}});
  EXPECT_EQ(phase_of(s), TcpPhase::Closed);
  // Simultaneous close: both FINs cross on the wire, then both ACKs.
  s = run(initial_state(true), {{B, tb::SYN | tb::ACK}, {C, tb::ACK}, {C, tb::FIN | tb::ACK},
                                {B, tb::FIN | tb::ACK}, {C, tb::ACK}, {B, tb::ACK}});
  EXPECT_EQ(s, kClosed | cs::kSynAckSeen | cs::kFinFromClient | cs::kFinFromBackend);
  // Picked up mid-stream, the client keeps talking: never established by itself.
  s = run(initial_state(false), {{C, tb::ACK}, {C, tb::ACK | tb::PSH}, {C, tb::ACK}});
  EXPECT_TRUE(is_embryonic(s));
  s = tcp_next(s, B, tb::ACK);
  EXPECT_EQ(phase_of(s), TcpPhase::Established);
}

// Exhaustive properties over every state byte, direction and flag combination.
TEST(TcpState, ExhaustiveProperties) {
  for (int st = 0; st < 256; ++st) {
    for (Dir d : {C, B}) {
      for (int fl = 0; fl < 64; ++fl) {
        const auto s = static_cast<uint8_t>(st);
        const auto f = static_cast<uint8_t>(fl);
        uint8_t n = tcp_next(s, d, f);
        SCOPED_TRACE(state_str(s) + " flags " + std::to_string(fl) + (d == C ? " C" : " B"));
        if (s & cs::kDead) {
          ASSERT_EQ(n, s) << "a dead entry must never change";
          continue;
        }
        // Only phase bits change; the flag bits only accumulate (but for the RST's direction,
        // which a later RST or a revival rewrites).
        const uint8_t kept = static_cast<uint8_t>(~(cs::kPhaseMask | cs::kRstFromBackend));
        ASSERT_EQ(n & s & kept, s & kept) << "a state bit was cleared";
        ASSERT_EQ(n & cs::kDead, 0) << "tcp_next never marks an entry dead";
        if (f & tb::RST) {
          ASSERT_EQ(phase_of(n), TcpPhase::Closed);
        }
        if (phase_of(n) == TcpPhase::Established && phase_of(s) != TcpPhase::Established &&
            phase_of(s) != TcpPhase::Closed) {
          // Established only through a proven handshake or a backend answer.
          bool client_ack = d == C && (n & cs::kSynAckSeen) && (f & tb::ACK) && !(f & tb::SYN);
          bool backend_answer = d == B && (s & cs::kMidstream) && !(f & tb::SYN);
          ASSERT_TRUE(client_ack || backend_answer);
        }
        bool want_new = d == C && (f & tb::SYN) && !(f & tb::ACK) && phase_of(s) == TcpPhase::Closed;
        ASSERT_EQ(is_new_connection_on_old_tuple(s, d, f), want_new);
        ASSERT_EQ(is_embryonic(s), phase_of(s) == TcpPhase::SynSeen);
      }
    }
  }
}

TEST(TcpState, NewConnectionOnOldTupleOnlyForClientSynOnClosed) {
  EXPECT_TRUE(is_new_connection_on_old_tuple(kClosed, C, tb::SYN));
  EXPECT_TRUE(is_new_connection_on_old_tuple(kClosed | cs::kFinFromClient | cs::kFinFromBackend, C, tb::SYN));
  EXPECT_TRUE(is_new_connection_on_old_tuple(kClosed | cs::kMidstream, C, tb::SYN | tb::PSH));
  EXPECT_FALSE(is_new_connection_on_old_tuple(kClosed, C, tb::SYN | tb::ACK));
  EXPECT_FALSE(is_new_connection_on_old_tuple(kClosed, B, tb::SYN));
  EXPECT_FALSE(is_new_connection_on_old_tuple(kClosed, C, tb::ACK));
  EXPECT_FALSE(is_new_connection_on_old_tuple(kClosing | cs::kFinFromClient, C, tb::SYN));
  EXPECT_FALSE(is_new_connection_on_old_tuple(kEst, C, tb::SYN));
  EXPECT_FALSE(is_new_connection_on_old_tuple(kSyn, C, tb::SYN));
}

// Closed is where a connection ends: only a new client SYN (a new connection on the same
// tuple, handled by the caller) leaves it, or proof that the RST which closed it was spoofed
// (a bare ACK from the other side, or data from the RST's own side). A late FIN must not
// reopen it with the long closing timeout.
TEST(TcpState, ClosedIsTerminal) {
  for (int st = 0; st < 256; ++st) {
    const auto s = static_cast<uint8_t>(st);
    if (phase_of(s) != TcpPhase::Closed || (s & cs::kDead)) continue;
    for (Dir d : {C, B}) {
      for (int fl = 0; fl < 64; ++fl) {
        for (bool payload : {false, true}) {
        uint8_t n = tcp_next(s, d, static_cast<uint8_t>(fl), payload);
        if (closed_by_rst(s) && !(fl & (tb::RST | tb::SYN | tb::FIN))) continue;  // revival, tested below
        if (phase_of(n) != TcpPhase::Closed) {
          ADD_FAILURE() << "regression: tcp_state.h tcp_next(): a connection closed by a RST goes back to Closing on a "
                          "later FIN (" << state_str(s) << " + FIN from " << (d == C ? "client" : "backend")
                       << " -> " << state_str(n) << "), so it gets the 120 s closing timeout instead of the "
                          "10 s closed one. Fix: return `state` unchanged when phase_of(state) == Closed, "
                          "before the FIN branch.";
        }
        }
      }
    }
  }
}

// A spoofed RST closes the entry only provisionally: the endpoint that receives it answers a
// RST outside its window with a bare challenge ACK (RFC 5961), and data keeps coming from
// the side the RST claimed to come from; either proves the RST false.
TEST(TcpState, SpoofedRstIsUndoneByTheEndpointsReaction) {
  const uint8_t SA = cs::kSynAckSeen, FC = cs::kFinFromClient;
  const uint8_t est = kEst | SA;
  // A RST "from the client" (spoofed) reaches the backend, which answers with a challenge ACK.
  uint8_t s = tcp_next(est, C, tb::RST);
  ASSERT_TRUE(closed_by_rst(s));
  EXPECT_EQ(tcp_next(s, B, tb::ACK, false), est) << "challenge ACK from the backend revives";
  EXPECT_EQ(tcp_next(s, B, tb::ACK | tb::PSH, true), s) << "backend data in flight after a real RST does not";
  EXPECT_EQ(tcp_next(s, C, tb::ACK | tb::PSH, true), est) << "the 'resetting' client goes on sending data";
  EXPECT_EQ(tcp_next(s, C, tb::ACK, false), s) << "a bare ACK from the RST's own side proves nothing";
  EXPECT_EQ(tcp_next(s, B, tb::FIN | tb::ACK, false), s) << "a FIN never revives";
  EXPECT_EQ(tcp_next(s, B, tb::RST, false), s);
  // A RST "from the backend" (spoofed towards the client): the client's challenge ACK.
  s = tcp_next(est, B, tb::RST | tb::ACK);
  ASSERT_TRUE(s & cs::kRstFromBackend);
  EXPECT_EQ(tcp_next(s, C, tb::ACK, false), est);
  EXPECT_EQ(tcp_next(s, B, tb::ACK, true), est);
  // The phase comes back: closing keeps its FIN, an unanswered attempt stays embryonic.
  EXPECT_EQ(tcp_next(tcp_next(kClosing | SA | FC, C, tb::RST), B, tb::ACK), kClosing | SA | FC);
  EXPECT_EQ(tcp_next(tcp_next(kSyn, C, tb::RST), C, tb::ACK | tb::PSH, true), kSyn);
  // Closed by both FINs: nothing revives it.
  const uint8_t fins = kClosed | SA | cs::kBothFins;
  EXPECT_EQ(tcp_next(fins, B, tb::ACK, false), fins);
  EXPECT_EQ(tcp_next(fins, C, tb::ACK, true), fins);
}

// ================================================================== packet_parse

// A frame built field by field: Ethernet (optional 802.1Q), IPv4, then TCP, ICMP or raw.
struct FrameSpec {
  uint16_t ethertype = ethertype::kIpv4;
  bool vlan = false;
  uint8_t version = 4;
  uint8_t ihl_words = 5;
  uint8_t proto = 6;
  uint32_t src = ip4(198, 18, 0, 10);
  uint32_t dst = ip4(198, 18, 1, 1);
  uint16_t frag = 0x4000;  // DF
  uint8_t ttl = 64;
  int total_override = -1;
  bool bad_ip_csum = false;
  size_t l4_bytes = 20;    // bytes after the IP header (TCP header + payload etc.)
  uint8_t tcp_doff_words = 5;
  uint8_t tcp_flags = tb::SYN;
  size_t pad = 0;          // Ethernet padding after the IP packet
  bool stop_after_eth = false;
};

Bytes build(const FrameSpec& s) {
  Bytes f(s.vlan ? 18 : 14, 0);
  for (int i = 0; i < 6; ++i) f[i] = 0x02, f[6 + i] = static_cast<uint8_t>(0x10 + i);
  if (s.vlan) {
    put16(&f[12], ethertype::kVlan);
    put16(&f[14], 0x0064);
    put16(&f[16], s.ethertype);
  } else {
    put16(&f[12], s.ethertype);
  }
  if (s.stop_after_eth) return f;
  const size_t l3 = f.size();
  const size_t ihl = s.ihl_words * 4u;
  const size_t hdr = std::max<size_t>(ihl, 20);
  f.resize(l3 + hdr + s.l4_bytes + s.pad, 0);
  uint8_t* ip = &f[l3];
  ip[0] = static_cast<uint8_t>(s.version << 4 | s.ihl_words);
  put16(ip + 2, static_cast<uint16_t>(s.total_override >= 0 ? s.total_override : hdr + s.l4_bytes));
  put16(ip + 4, 0x1234);
  put16(ip + 6, s.frag);
  ip[8] = s.ttl;
  ip[9] = s.proto;
  std::memcpy(ip + 12, &s.src, 4);
  std::memcpy(ip + 16, &s.dst, 4);
  for (size_t i = 20; i < hdr; ++i) ip[i] = i == 20 ? 0x94 : (i == 21 ? 0x04 : 0);  // router alert, then EOL
  uint16_t c = rfc1071_finish(rfc1071_sum(ip, ihl >= 20 ? ihl : 20));
  put16(ip + 10, s.bad_ip_csum ? static_cast<uint16_t>(c ^ 0x0101) : c);
  uint8_t* l4 = ip + hdr;
  if (s.proto == 6 && s.l4_bytes >= 14) {
    put16(l4, 40000);
    put16(l4 + 2, 80);
    l4[12] = static_cast<uint8_t>(s.tcp_doff_words << 4);
    l4[13] = s.tcp_flags;
  } else if (s.proto == 1 && s.l4_bytes >= 1) {
    l4[0] = 8;  // echo request
  }
  return f;
}

using parse_test::parse_all;
using parse_test::parse_exact;

using parse_test::describe;

Bytes truncated(Bytes b, size_t n) {
  b.resize(n);
  return b;
}

struct DropCase {
  const char* name;
  Bytes frame;
  DropReason want;
};

TEST(PacketParse, EveryDropReasonWithItsSmallestFrame) {
  auto spec = [](auto&& tweak) {
    FrameSpec s;
    tweak(s);
    return build(s);
  };
  const DropCase cases[] = {
      {"empty frame", Bytes{}, DropReason::FrameTooShort},
      {"13 bytes: no full Ethernet header", truncated(build({}), 13), DropReason::FrameTooShort},
      {"17 bytes: 802.1Q tag cut short", truncated(spec([](FrameSpec& s) { s.vlan = true; }), 17),
       DropReason::FrameTooShort},
      {"14 bytes of LLDP ethertype",
       spec([](FrameSpec& s) { s.ethertype = 0x88CC, s.stop_after_eth = true; }), DropReason::UnknownEthertype},
      {"stacked 802.1Q tags are not accepted",
       spec([](FrameSpec& s) { s.vlan = true, s.ethertype = ethertype::kVlan, s.stop_after_eth = true; }),
       DropReason::UnknownEthertype},
      {"14 bytes of IPv4 ethertype", spec([](FrameSpec& s) { s.stop_after_eth = true; }), DropReason::IpTruncated},
      {"33 bytes: IPv4 header one byte short", truncated(build({}), 33), DropReason::IpTruncated},
      {"options announced beyond the frame (IHL 6, 34 bytes)",
       truncated(spec([](FrameSpec& s) { s.ihl_words = 6, s.l4_bytes = 0; }), 34), DropReason::IpTruncated},
      {"version 6 in an IPv4 frame", spec([](FrameSpec& s) { s.version = 6, s.l4_bytes = 0; }),
       DropReason::IpBadVersion},
      {"IHL 4", spec([](FrameSpec& s) { s.ihl_words = 4, s.l4_bytes = 0; }), DropReason::IpBadIhl},
      {"IHL 0", spec([](FrameSpec& s) { s.ihl_words = 0, s.l4_bytes = 0; }), DropReason::IpBadIhl},
      {"total length one byte beyond the frame",
       spec([](FrameSpec& s) { s.l4_bytes = 0, s.total_override = 21; }), DropReason::IpBadTotalLength},
      {"total length below the header", spec([](FrameSpec& s) { s.l4_bytes = 0, s.total_override = 19; }),
       DropReason::IpBadTotalLength},
      {"total length below the options",
       spec([](FrameSpec& s) { s.ihl_words = 6, s.l4_bytes = 0, s.total_override = 20; }),
       DropReason::IpBadTotalLength},
      {"header checksum wrong", spec([](FrameSpec& s) { s.l4_bytes = 0, s.bad_ip_csum = true; }),
       DropReason::IpBadChecksum},
      {"source 0.0.0.0", spec([](FrameSpec& s) { s.l4_bytes = 0, s.src = 0; }), DropReason::IpBadSource},
      {"source 127.0.0.1", spec([](FrameSpec& s) { s.l4_bytes = 0, s.src = ip4(127, 0, 0, 1); }),
       DropReason::IpBadSource},
      {"source 224.0.0.5", spec([](FrameSpec& s) { s.l4_bytes = 0, s.src = ip4(224, 0, 0, 5); }),
       DropReason::IpBadSource},
      {"source 255.255.255.255", spec([](FrameSpec& s) { s.l4_bytes = 0, s.src = ip4(255, 255, 255, 255); }),
       DropReason::IpBadSource},
      {"more-fragments flag", spec([](FrameSpec& s) { s.l4_bytes = 0, s.frag = 0x2000; }), DropReason::IpFragment},
      {"fragment offset 1 (8 bytes)", spec([](FrameSpec& s) { s.l4_bytes = 0, s.frag = 0x0001; }),
       DropReason::IpFragment},
      {"last fragment with DF", spec([](FrameSpec& s) { s.l4_bytes = 0, s.frag = 0x4000 | 0x1FFF; }),
       DropReason::IpFragment},
      {"TCP with no TCP header (34 bytes)", spec([](FrameSpec& s) { s.l4_bytes = 0; }), DropReason::TcpTruncated},
      {"TCP header one byte short (53 bytes)", spec([](FrameSpec& s) { s.l4_bytes = 19; }),
       DropReason::TcpTruncated},
      {"TCP data offset 4", spec([](FrameSpec& s) { s.tcp_doff_words = 4; }), DropReason::TcpBadDataOffset},
      {"TCP data offset 0", spec([](FrameSpec& s) { s.tcp_doff_words = 0; }), DropReason::TcpBadDataOffset},
      {"TCP data offset 6 beyond the packet", spec([](FrameSpec& s) { s.tcp_doff_words = 6; }),
       DropReason::TcpBadDataOffset},
      {"TCP data offset 6 beyond the IP total length (padding does not count)",
       spec([](FrameSpec& s) { s.tcp_doff_words = 6, s.pad = 6; }), DropReason::TcpBadDataOffset},
      {"TCP SYN+FIN", spec([](FrameSpec& s) { s.tcp_flags = tb::SYN | tb::FIN; }), DropReason::TcpBadFlags},
      {"TCP SYN+RST", spec([](FrameSpec& s) { s.tcp_flags = tb::SYN | tb::RST | tb::ACK; }),
       DropReason::TcpBadFlags},
      {"TCP no flags (null scan)", spec([](FrameSpec& s) { s.tcp_flags = 0; }), DropReason::TcpBadFlags},
      {"TCP only ECE+CWR", spec([](FrameSpec& s) { s.tcp_flags = 0xC0; }), DropReason::TcpBadFlags},
      {"ICMP with no header (34 bytes)", spec([](FrameSpec& s) { s.proto = 1, s.l4_bytes = 0; }),
       DropReason::IcmpTruncated},
      {"ICMP header one byte short (41 bytes)", spec([](FrameSpec& s) { s.proto = 1, s.l4_bytes = 7; }),
       DropReason::IcmpTruncated},
  };
  std::set<DropReason> covered;
  for (const DropCase& c : cases) {
    ParsedFrame f = parse_all(c.frame);
    EXPECT_EQ(f.kind, FrameKind::Drop) << c.name << ": got " << describe(f);
    EXPECT_EQ(f.drop, c.want) << c.name << ": got " << describe(f) << ", want " << abi::name_of(c.want);
    covered.insert(c.want);
  }
  EXPECT_EQ(covered.size(), 13u) << "every reason parse_frame() returns";
}

// One byte more than the smallest failing frame (or the flaw fixed) and the frame passes:
// each refusal above is about the flaw it names, not a side effect of the frame's size.
TEST(PacketParse, SmallestAcceptedFrames) {
  FrameSpec tcp;
  ParsedFrame f = parse_all(build(tcp));
  ASSERT_EQ(f.kind, FrameKind::Tcp) << describe(f);
  EXPECT_EQ(build(tcp).size(), 54u);
  EXPECT_EQ(f.l3, 14);
  EXPECT_EQ(f.l4, 34);
  EXPECT_EQ(f.ip_total, 40);
  EXPECT_EQ(f.l4_len, 20);
  EXPECT_EQ(f.tcp_flags, tb::SYN);
  EXPECT_EQ(f.tcp_header_len, 20);
  EXPECT_FALSE(f.has_options);

  FrameSpec icmp;
  icmp.proto = 1;
  icmp.l4_bytes = 8;
  f = parse_all(build(icmp));
  ASSERT_EQ(f.kind, FrameKind::Icmp) << describe(f);
  EXPECT_EQ(f.l4_len, 8);

  FrameSpec udp;
  udp.proto = 17;
  udp.l4_bytes = 0;
  f = parse_all(build(udp));
  EXPECT_EQ(f.kind, FrameKind::OtherIp) << describe(f);

  // ARP is located, not validated: the main lcore checks its length (ArpMalformed).
  FrameSpec arp;
  arp.ethertype = ethertype::kArp;
  arp.stop_after_eth = true;
  f = parse_all(build(arp));
  EXPECT_EQ(f.kind, FrameKind::Arp) << describe(f);
  EXPECT_EQ(f.l3, 14);
  arp.vlan = true;
  f = parse_all(build(arp));
  EXPECT_EQ(f.kind, FrameKind::Arp) << describe(f);
  EXPECT_EQ(f.l3, 18);

  // DF alone is not a fragment; URG alone is a flag a real stack may send.
  FrameSpec urg;
  urg.tcp_flags = 0x20;
  EXPECT_EQ(parse_all(build(urg)).kind, FrameKind::Tcp);
  FrameSpec nodf;
  nodf.frag = 0;
  EXPECT_EQ(parse_all(build(nodf)).kind, FrameKind::Tcp);

  // Source addresses at the edges of the refused ranges.
  for (uint32_t src : {ip4(1, 0, 0, 0), ip4(126, 255, 255, 255), ip4(128, 0, 0, 0), ip4(223, 255, 255, 255)}) {
    FrameSpec s;
    s.src = src;
    EXPECT_EQ(parse_all(build(s)).kind, FrameKind::Tcp);
    EXPECT_FALSE(is_bad_source(src));
  }
  for (uint32_t src : {ip4(0, 255, 255, 255), ip4(127, 1, 2, 3), ip4(239, 1, 1, 1), ip4(240, 0, 0, 1)})
    EXPECT_TRUE(is_bad_source(src));
}

TEST(PacketParse, BadChecksumAcceptedWhenTheNicVerifiedIt) {
  FrameSpec s;
  s.bad_ip_csum = true;
  Bytes b = build(s);
  EXPECT_EQ(parse_exact(b, b.size(), b.size(), false).drop, DropReason::IpBadChecksum);
  EXPECT_EQ(parse_exact(b, b.size(), b.size(), true).kind, FrameKind::Tcp);
}

TEST(PacketParse, VlanTagShiftsEveryOffset) {
  FrameSpec s;
  s.vlan = true;
  s.tcp_doff_words = 8;
  s.l4_bytes = 32 + 5;
  s.tcp_flags = tb::ACK | tb::PSH;
  Bytes b = build(s);
  ParsedFrame f = parse_all(b);
  ASSERT_EQ(f.kind, FrameKind::Tcp) << describe(f);
  EXPECT_EQ(f.l3, 18);
  EXPECT_EQ(f.l4, 38);
  EXPECT_EQ(f.ip_total, 20 + 37);
  EXPECT_EQ(f.l4_len, 37);
  EXPECT_EQ(f.tcp_header_len, 32);
  EXPECT_EQ(f.tcp_flags, tb::ACK | tb::PSH);
  // A VLAN frame cut inside its IPv4 header.
  EXPECT_EQ(parse_all(truncated(b, 18 + 19)).drop, DropReason::IpTruncated);
}

TEST(PacketParse, IpOptionsAreLocatedByIhlAndFlagged) {
  for (uint8_t words = 6; words <= 15; ++words) {
    FrameSpec s;
    s.ihl_words = words;
    Bytes b = build(s);
    ParsedFrame f = parse_all(b);
    ASSERT_EQ(f.kind, FrameKind::Tcp) << "IHL " << int{words} << ": " << describe(f);
    EXPECT_TRUE(f.has_options);
    EXPECT_EQ(f.l4, 14 + words * 4);
    EXPECT_EQ(f.l4_len, 20);
    EXPECT_EQ(f.ip_total, words * 4 + 20);
  }
  FrameSpec s;
  s.ihl_words = 6;
  s.vlan = true;
  ParsedFrame f = parse_all(build(s));
  ASSERT_EQ(f.kind, FrameKind::Tcp);
  EXPECT_EQ(f.l4, 18 + 24);
}

TEST(PacketParse, EthernetPaddingBeyondTotalLengthIsNotPartOfThePacket) {
  FrameSpec s;        // 40-byte SYN in a minimum-size 60-byte frame
  s.pad = 6;
  Bytes b = build(s);
  ASSERT_EQ(b.size(), 60u);
  ParsedFrame f = parse_all(b);
  ASSERT_EQ(f.kind, FrameKind::Tcp) << describe(f);
  EXPECT_EQ(f.ip_total, 40);
  EXPECT_EQ(f.l4_len, 20);

  FrameSpec icmp;     // 28-byte echo request padded to 60
  icmp.proto = 1;
  icmp.l4_bytes = 8;
  icmp.pad = 60 - 42;
  f = parse_all(build(icmp));
  ASSERT_EQ(f.kind, FrameKind::Icmp) << describe(f);
  EXPECT_EQ(f.l4_len, 8);

  // Padding cannot make up for a short ICMP header either.
  icmp.l4_bytes = 4;
  icmp.pad = 22;
  EXPECT_EQ(parse_all(build(icmp)).drop, DropReason::IcmpTruncated);
}

TEST(PacketParse, HeadersSplitAcrossSegmentsNeverReadPastContiguous) {
  FrameSpec s;
  s.l4_bytes = 20 + 1400;  // a full-size segment
  Bytes b = build(s);
  const size_t len = b.size();
  // Headers complete in the first segment: accepted, whatever the rest holds.
  EXPECT_EQ(parse_exact(b, 54, len).kind, FrameKind::Tcp);
  EXPECT_EQ(parse_exact(b, 128, len).l4_len, 1420);
  // Cut inside each header: refused, and the copy is exactly `contiguous` bytes long.
  EXPECT_EQ(parse_exact(b, 0, len).drop, DropReason::FrameTooShort);
  EXPECT_EQ(parse_exact(b, 13, len).drop, DropReason::FrameTooShort);
  EXPECT_EQ(parse_exact(b, 14, len).drop, DropReason::IpTruncated);
  EXPECT_EQ(parse_exact(b, 33, len).drop, DropReason::IpTruncated);
  EXPECT_EQ(parse_exact(b, 34, len).drop, DropReason::TcpTruncated);
  EXPECT_EQ(parse_exact(b, 53, len).drop, DropReason::TcpTruncated);

  // TCP options in the second segment.
  FrameSpec opts = s;
  opts.tcp_doff_words = 10;
  Bytes o = build(opts);
  EXPECT_EQ(parse_exact(o, 74, len).kind, FrameKind::Tcp);
  EXPECT_EQ(parse_exact(o, 73, len).drop, DropReason::TcpBadDataOffset);

  // IPv4 options in the second segment.
  FrameSpec ipopts = s;
  ipopts.ihl_words = 15;
  Bytes i = build(ipopts);
  EXPECT_EQ(parse_exact(i, 14 + 59, i.size()).drop, DropReason::IpTruncated);
  EXPECT_EQ(parse_exact(i, 14 + 60 + 20, i.size()).kind, FrameKind::Tcp);

  // ICMP header split.
  FrameSpec icmp = s;
  icmp.proto = 1;
  Bytes c = build(icmp);
  EXPECT_EQ(parse_exact(c, 41, c.size()).drop, DropReason::IcmpTruncated);
  EXPECT_EQ(parse_exact(c, 42, c.size()).kind, FrameKind::Icmp);

  // `contiguous` larger than the frame is clamped to the frame: bytes beyond frame_len are
  // not the packet's (the total length below claims 6 bytes the frame does not have).
  FrameSpec over;
  over.total_override = 46;
  Bytes v = build(over);
  v.resize(200, 0xAB);
  EXPECT_EQ(parse_frame(v.data(), 200, 54, false).drop, DropReason::IpBadTotalLength);
  EXPECT_EQ(parse_frame(v.data(), 200, 60, false).kind, FrameKind::Tcp);
}

// Invariants of any accepted frame: every offset it reports lies inside what was read.
void check_invariants(const ParsedFrame& f, size_t contiguous, size_t frame_len) {
  contiguous = std::min(contiguous, frame_len);
  if (f.kind == FrameKind::Drop) {
    ASSERT_LT(static_cast<size_t>(f.drop), abi::kDropReasonCount);
    return;
  }
  ASSERT_TRUE(f.l3 == 14 || f.l3 == 18);
  if (f.kind == FrameKind::Arp) return;
  const bool v6 = f.kind == FrameKind::Tcp6 || f.kind == FrameKind::Icmp6 || f.kind == FrameKind::OtherIp6;
  if (v6) {  // the extension headers walked lie in the first segment (test_packet_parse_ipv6.cpp)
    ASSERT_GE(f.l4, f.l3 + 40);
    ASSERT_EQ(f.ipv6_ext, f.l4 > f.l3 + 40);
    ASSERT_FALSE(f.has_options);
  } else {
    ASSERT_GE(f.l4, f.l3 + 20);
    ASSERT_LE(f.l4, f.l3 + 60);
    ASSERT_EQ(f.has_options, f.l4 > f.l3 + 20);
    ASSERT_FALSE(f.ipv6_ext);
  }
  ASSERT_LE(f.l4, contiguous);
  ASSERT_EQ(f.l3 + f.ip_total, f.l4 + f.l4_len);
  ASSERT_LE(f.l3 + size_t{f.ip_total}, frame_len);
  if (f.kind == FrameKind::Tcp || f.kind == FrameKind::Tcp6) {
    ASSERT_GE(f.tcp_header_len, 20);
    ASSERT_LE(f.tcp_header_len, f.l4_len);
    ASSERT_LE(f.l4 + size_t{f.tcp_header_len}, contiguous);
  }
  if (f.kind == FrameKind::Icmp || f.kind == FrameKind::Icmp6) {
    ASSERT_GE(f.l4_len, 8);
    ASSERT_LE(f.l4 + 8u, contiguous);
  }
}

TEST(PacketParse, FuzzNeverCrashesAndReportsOnlyOffsetsItRead) {
  std::mt19937 rng(0xF0CC);
  std::map<std::string, int> outcomes;
  FrameSpec base_spec;
  base_spec.l4_bytes = 20 + 40;
  const Bytes base = build(base_spec);
  for (int iter = 0; iter < 20000; ++iter) {
    Bytes b;
    if (iter % 2 == 0) {  // pure noise
      b.resize(rng() % 201);
      for (auto& x : b) x = static_cast<uint8_t>(rng());
      if (b.size() >= 14 && rng() % 2) put16(&b[12], rng() % 3 ? ethertype::kIpv4 : ethertype::kVlan);
      if (b.size() >= 18 && get16(&b[12]) == ethertype::kVlan && rng() % 2) put16(&b[16], ethertype::kIpv4);
    } else {  // a valid frame with a few bytes flipped, cut at a random length
      b = base;
      b.resize(rng() % 201, 0);
      for (int k = rng() % 4; k >= 0 && !b.empty(); --k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
      if (b.size() >= 34 && rng() % 2) {  // keep the IP checksum right to get past it
        size_t l3 = 14, ihl = (b[l3] & 0x0F) * 4u;
        if (ihl >= 20 && l3 + ihl <= b.size()) {
          b[l3 + 10] = b[l3 + 11] = 0;
          put16(&b[l3 + 10], rfc1071_finish(rfc1071_sum(&b[l3], ihl)));
        }
      }
    }
    size_t frame_len = b.size() + (rng() % 4 == 0 ? rng() % 64 : 0);
    size_t contiguous = b.size() == 0 ? 0 : rng() % (b.size() + 1);
    if (rng() % 2) contiguous = b.size();
    ParsedFrame f = parse_exact(b, contiguous, frame_len, rng() % 8 == 0);
    check_invariants(f, contiguous, frame_len);
    if (HasFatalFailure()) {
      ADD_FAILURE() << "iteration " << iter << ", " << b.size() << " bytes, contiguous " << contiguous
                    << ", frame_len " << frame_len << ": " << describe(f);
      return;
    }
    ++outcomes[describe(f)];
  }
  // The mutated frames must reach deep into the parser, not just bounce off the length checks.
  EXPECT_GT(outcomes["Tcp"], 100);
  EXPECT_GT(outcomes["Drop(tcp_bad_flags)"] + outcomes["Drop(tcp_bad_data_offset)"], 10);
  EXPECT_GT(outcomes["Drop(ip_bad_checksum)"], 100);
}

// ================================================================== routes

struct RouteSpec {
  uint32_t prefix;
  uint8_t length;
  uint8_t port;
  uint32_t via;
};

TEST(Routes, LongestPrefixWinsWhateverTheInsertionOrder) {
  std::vector<RouteSpec> specs = {
      {ip4(0, 0, 0, 0), 0, 0, ip4(198, 18, 0, 1)},      // default via the client side
      {ip4(10, 0, 0, 0), 8, 1, ip4(198, 18, 2, 254)},   // via a router
      {ip4(10, 1, 0, 0), 16, 2, ip4(198, 18, 3, 254)},
      {ip4(10, 1, 2, 0), 24, 3, 0},                     // connected
      {ip4(10, 1, 2, 99), 32, 4, ip4(198, 18, 4, 1)},   // host route
  };
  std::vector<int> order = {0, 1, 2, 3, 4};
  int permutations = 0;
  do {
    RouteTable t;
    for (int i : order) ASSERT_TRUE(t.add(specs[i].prefix, specs[i].length, specs[i].port, specs[i].via));
    ASSERT_EQ(t.size(), 5u);
    struct Probe {
      uint32_t dst;
      uint8_t port;
      uint32_t next_hop;
    };
    const Probe probes[] = {
        {ip4(10, 1, 2, 99), 4, ip4(198, 18, 4, 1)},
        {ip4(10, 1, 2, 98), 3, ip4(10, 1, 2, 98)},
        {ip4(10, 1, 2, 100), 3, ip4(10, 1, 2, 100)},
        {ip4(10, 1, 3, 1), 2, ip4(198, 18, 3, 254)},
        {ip4(10, 1, 255, 255), 2, ip4(198, 18, 3, 254)},
        {ip4(10, 2, 0, 1), 1, ip4(198, 18, 2, 254)},
        {ip4(10, 255, 255, 255), 1, ip4(198, 18, 2, 254)},
        {ip4(11, 0, 0, 1), 0, ip4(198, 18, 0, 1)},
        {ip4(9, 255, 255, 255), 0, ip4(198, 18, 0, 1)},
    };
    for (const Probe& p : probes) {
      RouteResult r;
      ASSERT_TRUE(t.lookup(p.dst, &r));
      ASSERT_EQ(r.port, p.port) << "dst " << std::hex << ntohl(p.dst);
      ASSERT_EQ(r.next_hop_be, p.next_hop) << "dst " << std::hex << ntohl(p.dst);
    }
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(permutations, 120);
}

TEST(Routes, NoRouteWithoutDefault) {
  RouteTable t;
  RouteResult r;
  EXPECT_FALSE(t.lookup(ip4(10, 0, 0, 1), &r));
  ASSERT_TRUE(t.add(ip4(198, 18, 1, 0), 24, 0, 0));
  EXPECT_FALSE(t.lookup(ip4(198, 18, 2, 1), &r));
  EXPECT_TRUE(t.lookup(ip4(198, 18, 1, 255), &r));
}

TEST(Routes, DefaultRouteCatchesEverything) {
  RouteTable t;
  ASSERT_TRUE(t.add(0, 0, 2, ip4(198, 18, 0, 1)));
  for (uint32_t dst : {ip4(0, 0, 0, 1), ip4(8, 8, 8, 8), ip4(255, 255, 255, 254)}) {
    RouteResult r;
    ASSERT_TRUE(t.lookup(dst, &r));
    EXPECT_EQ(r.port, 2);
    EXPECT_EQ(r.next_hop_be, ip4(198, 18, 0, 1));
  }
}

TEST(Routes, ConnectedNextHopIsTheDestinationAndHostBitsAreIgnored) {
  RouteTable t;
  ASSERT_TRUE(t.add(ip4(198, 18, 1, 1), 24, 5, 0));  // the port's own address, as configured
  RouteResult r;
  ASSERT_TRUE(t.lookup(ip4(198, 18, 1, 77), &r));
  EXPECT_EQ(r.port, 5);
  EXPECT_EQ(r.next_hop_be, ip4(198, 18, 1, 77));
  EXPECT_FALSE(t.lookup(ip4(198, 18, 2, 1), &r));
}

TEST(Routes, EqualPrefixesFirstAddedWins) {
  RouteTable t;
  ASSERT_TRUE(t.add(ip4(10, 0, 0, 0), 8, 1, ip4(198, 18, 0, 1)));
  ASSERT_TRUE(t.add(ip4(10, 0, 0, 0), 8, 2, ip4(198, 18, 0, 2)));
  RouteResult r;
  ASSERT_TRUE(t.lookup(ip4(10, 9, 9, 9), &r));
  EXPECT_EQ(r.port, 1);
}

TEST(Routes, FullTableRefusesAndKeepsWhatItHas) {
  RouteTable t;
  for (uint32_t i = 0; i < RouteTable::kMaxRoutes; ++i)
    ASSERT_TRUE(t.add(ip4(10, static_cast<uint8_t>(i), 0, 0), 16, static_cast<uint8_t>(i % 8), 0)) << i;
  EXPECT_EQ(t.size(), RouteTable::kMaxRoutes);
  EXPECT_FALSE(t.add(0, 0, 0, ip4(198, 18, 0, 1)));
  EXPECT_FALSE(t.add(ip4(11, 0, 0, 0), 32, 0, 0));
  EXPECT_EQ(t.size(), RouteTable::kMaxRoutes);
  RouteResult r;
  EXPECT_FALSE(t.lookup(ip4(8, 8, 8, 8), &r)) << "the refused default route must not be there";
  ASSERT_TRUE(t.lookup(ip4(10, 47, 1, 1), &r));
  EXPECT_EQ(r.port, 47 % 8);
  EXPECT_FALSE(t.add(ip4(10, 0, 0, 0), 33, 0, 0));
}

TEST(Routes, PrefixLengthAbove32Refused) {
  RouteTable t;
  EXPECT_FALSE(t.add(ip4(10, 0, 0, 0), 33, 0, 0));
  EXPECT_EQ(t.size(), 0u);
}

// ================================================================== neighbours

MacBytes mac_of(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e, uint8_t f) { return {a, b, c, d, e, f}; }

TEST(Neighbours, SetLookupUpdateAndState) {
  NeighbourTable t;
  NeighView v;
  const uint32_t a = ip4(198, 18, 2, 11);
  EXPECT_FALSE(t.lookup(a, &v));
  ASSERT_TRUE(t.set(a, NeighState::Incomplete, MacBytes{}, 1, 100));
  ASSERT_TRUE(t.lookup(a, &v));
  EXPECT_EQ(v.state, NeighState::Incomplete);
  EXPECT_FALSE(v.usable());
  EXPECT_EQ(v.port, 1);
  EXPECT_EQ(t.size(), 1u);

  const MacBytes m = mac_of(0x02, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE);
  ASSERT_TRUE(t.set(a, NeighState::Reachable, m, 1, 200));
  ASSERT_TRUE(t.lookup(a, &v));
  EXPECT_EQ(v.state, NeighState::Reachable);
  EXPECT_EQ(v.mac, m);
  EXPECT_TRUE(v.usable());
  EXPECT_EQ(t.size(), 1u) << "an update does not add an entry";

  ASSERT_TRUE(t.set_state(a, NeighState::Stale, 300));
  ASSERT_TRUE(t.lookup(a, &v));
  EXPECT_EQ(v.state, NeighState::Stale);
  EXPECT_EQ(v.mac, m) << "set_state keeps the MAC";
  EXPECT_EQ(v.port, 1) << "set_state keeps the port";
  EXPECT_TRUE(v.usable());
  ASSERT_TRUE(t.set_state(a, NeighState::Failed, 400));
  ASSERT_TRUE(t.lookup(a, &v));
  EXPECT_FALSE(v.usable());

  ASSERT_TRUE(t.set(a, NeighState::Static, mac_of(2, 0, 0, 0, 0, 9), 3, 500));
  ASSERT_TRUE(t.lookup(a, &v));
  EXPECT_EQ(v.port, 3);
  EXPECT_TRUE(v.usable());

  EXPECT_FALSE(t.set_state(ip4(198, 18, 2, 12), NeighState::Reachable, 1)) << "unknown address";
  EXPECT_FALSE(t.set(0, NeighState::Static, m, 0, 1)) << "0.0.0.0 is the empty-slot marker";
  EXPECT_FALSE(t.lookup(0, &v));
}

TEST(Neighbours, ForEachVisitsEveryEntryWithItsTime) {
  NeighbourTable t;
  std::map<uint32_t, std::pair<uint8_t, uint64_t>> want;
  for (uint32_t i = 1; i <= 300; ++i) {
    uint32_t a = htonl(0x0A000000 + i * 7919);
    ASSERT_TRUE(t.set(a, NeighState::Reachable, mac_of(2, 0, 0, 0, 0, static_cast<uint8_t>(i)),
                      static_cast<uint8_t>(i % 4), i * 10));
    want[a] = {static_cast<uint8_t>(i % 4), i * 10};
  }
  ASSERT_TRUE(t.set_state(htonl(0x0A000000 + 5 * 7919), NeighState::Stale, 99999));
  want[htonl(0x0A000000 + 5 * 7919)].second = 99999;
  std::map<uint32_t, std::pair<uint8_t, uint64_t>> seen;
  t.for_each([&](uint32_t a, const NeighView& v, const NeighMeta& meta) {
    EXPECT_TRUE(seen.emplace(a, std::pair{v.port, meta.updated_ms}).second) << "visited twice";
  });
  EXPECT_EQ(seen, want);
  EXPECT_EQ(t.size(), 300u);
}

// Full (half the slots), a new neighbour takes the place of the least recently updated one
// that is neither static nor pinned; with none such, it is refused and nothing changes.
TEST(Neighbours, FullTableEvictsTheOldestUnpinnedEntry) {
  NeighbourTable t;
  uint32_t i = 1;
  for (; t.size() < NeighbourTable::kCapacity; ++i)
    ASSERT_TRUE(t.set(htonl(i), NeighState::Reachable, MacBytes{}, 0, 1000 + i)) << i;
  t.meta(htonl(1))->pinned = true;                                   // oldest, but pinned
  ASSERT_TRUE(t.set(htonl(2), NeighState::Static, MacBytes{}, 0, 1002));  // next, but static
  EXPECT_EQ(t.eviction_candidate(), htonl(3));
  ASSERT_TRUE(t.set(htonl(i), NeighState::Incomplete, MacBytes{}, 0, 99999));
  EXPECT_EQ(t.size(), NeighbourTable::kCapacity);
  NeighView v;
  EXPECT_FALSE(t.lookup(htonl(3), &v)) << "the oldest unpinned, non-static entry made room";
  for (uint32_t k = 1; k <= i; ++k) {
    if (k != 3) {
      ASSERT_TRUE(t.lookup(htonl(k), &v)) << k;
    }
  }
  // Everything pinned or static: refused.
  NeighbourTable full;
  for (uint32_t k = 1; full.size() < NeighbourTable::kCapacity; ++k) {
    ASSERT_TRUE(full.set(htonl(k), NeighState::Static, MacBytes{}, 0, 0));
  }
  EXPECT_FALSE(full.set(htonl(0x0A0A0A0A), NeighState::Incomplete, MacBytes{}, 0, 0));
  EXPECT_FALSE(full.lookup(htonl(0x0A0A0A0A), &v));
}

// Removal shifts later members of a probe run back; against a map oracle, after random
// inserts and removals, every present key is found with its own value and no absent key is.
TEST(Neighbours, RandomInsertAndRemoveAgreeWithAMap) {
  NeighbourTable t;
  std::map<uint32_t, uint8_t> oracle;
  std::mt19937 rng(11);
  for (int step = 0; step < 200000; ++step) {
    // Few distinct keys clustered in a few homes: long probe runs, many shifts.
    uint32_t a = htonl(0x0A000000u + (rng() % 3000) * 4096u + (rng() % 3));
    if (rng() % 3 == 0) {
      EXPECT_EQ(t.remove(a), oracle.erase(a) == 1);
    } else if (oracle.size() < NeighbourTable::kCapacity || oracle.count(a)) {
      uint8_t port = static_cast<uint8_t>(rng() % 8);
      ASSERT_TRUE(t.set(a, NeighState::Reachable, MacBytes{}, port, step));
      oracle[a] = port;
    }
    if (step % 5000 == 0) {
      ASSERT_EQ(t.size(), oracle.size());
      for (auto [addr, port] : oracle) {
        NeighView v;
        ASSERT_TRUE(t.lookup(addr, &v)) << step;
        ASSERT_EQ(v.port, port);
      }
    }
  }
}

// Workers cache next hops while version() is unchanged: every change of a MAC, port or
// state must bump it.
TEST(Neighbours, VersionChangesWithEveryVisibleChange) {
  NeighbourTable t;
  const uint32_t a = ip4(198, 18, 2, 11);
  const MacBytes m = mac_of(2, 0, 0, 0, 0, 0x0b);
  uint32_t v = t.version();
  ASSERT_TRUE(t.set(a, NeighState::Incomplete, MacBytes{}, 1, 0));
  EXPECT_NE(t.version(), v) << "new entry";
  v = t.version();
  ASSERT_TRUE(t.set(a, NeighState::Reachable, m, 1, 1));
  EXPECT_NE(t.version(), v) << "MAC and state";
  v = t.version();
  ASSERT_TRUE(t.set(a, NeighState::Reachable, m, 2, 2));
  EXPECT_NE(t.version(), v) << "port only";
  v = t.version();
  ASSERT_TRUE(t.set(a, NeighState::Reachable, mac_of(2, 0, 0, 0, 0, 0x0c), 2, 3));
  EXPECT_NE(t.version(), v) << "MAC only";
  v = t.version();
  ASSERT_TRUE(t.set_state(a, NeighState::Stale, 4));
  EXPECT_NE(t.version(), v) << "state only";
  v = t.version();
  ASSERT_TRUE(t.set(ip4(198, 18, 2, 12), NeighState::Static, m, 1, 5));
  EXPECT_NE(t.version(), v) << "another entry";
}

// The writer encodes, in every MAC it writes, the address it is for and a version; a
// reader must only ever see a (MAC, port) the writer wrote for that very address, with a
// version no older than the last it saw. Meanwhile other entries come and go, so removals
// shift tracked entries under the reader: the sequence lock must hide every move.
TEST(Neighbours, ConcurrentReaderSeesOnlyWrittenValues) {
  constexpr uint32_t kAddrs = 1000;
  constexpr uint32_t kRounds = 3000;  // versions fit the MAC's last 16 bits
  NeighbourTable t;
  auto addr_of = [](uint32_t i) { return htonl(0x0A000001u + i * 37u); };
  auto port_of = [](uint32_t i) { return static_cast<uint8_t>(i % 7); };
  std::vector<std::atomic<uint32_t>> written(kAddrs);  // highest version written (or about to be)
  std::atomic<bool> started{false}, done{false};
  uint64_t reads = 0, hits = 0, gave_up = 0;
  std::string failure;
  auto churn_of = [](uint32_t i) { return htonl(0x0B000001u + i * 41u); };

  std::thread reader([&] {
    std::vector<uint32_t> last(kAddrs, 0);
    std::vector<bool> seen(kAddrs, false);
    std::mt19937 rng(7);
    while (failure.empty()) {
      bool last_pass = done.load(std::memory_order_acquire);
      for (int k = 0; k < 256 && failure.empty(); ++k) {
        uint32_t i = rng() % kAddrs;
        NeighView v;
        uint32_t seen_version = 0;
        bool found = t.lookup(addr_of(i), &v, &seen_version);
        uint32_t high = written[i].load(std::memory_order_acquire);
        ++reads;
        if (!found && (seen_version & 1)) {
          ++gave_up;  // the writer never paused: no consistent read (a worker would hold the packet)
          continue;
        }
        if (!found) {
          if (seen[i]) failure = "entry " + std::to_string(i) + " vanished";
          continue;
        }
        ++hits;
        seen[i] = true;
        uint32_t a = addr_of(i);
        uint32_t version = uint32_t{v.mac[4]} << 8 | v.mac[5];
        if (std::memcmp(v.mac.data(), &a, 4) != 0) failure = "MAC of another address for entry " + std::to_string(i);
        else if (v.port != port_of(i)) failure = "wrong port for entry " + std::to_string(i);
        else if (version == 0 || version > high) failure = "version never written for entry " + std::to_string(i);
        else if (version < last[i]) failure = "version went backwards for entry " + std::to_string(i);
        else if (static_cast<uint8_t>(v.state) > 4) failure = "state never written";
        last[i] = version;
      }
      started.store(true, std::memory_order_release);
      if (last_pass) break;
    }
  });
  while (!started.load(std::memory_order_acquire)) std::this_thread::yield();

  bool writer_ok = true;
  for (uint32_t round = 0; round < kRounds && writer_ok; ++round) {
    for (uint32_t i = 0; i < kAddrs && writer_ok; ++i) {
      const uint32_t a = addr_of(i);
      if (round % 3 == 2) {  // state only: the MAC of the previous round stays
        writer_ok = t.set_state(a, round % 2 ? NeighState::Stale : NeighState::Failed, round);
        continue;
      }
      const uint32_t version = round + 1;
      written[i].store(version, std::memory_order_release);
      MacBytes m;
      std::memcpy(m.data(), &a, 4);
      m[4] = static_cast<uint8_t>(version >> 8);
      m[5] = static_cast<uint8_t>(version);
      writer_ok = t.set(a, round == 0 ? NeighState::Incomplete : NeighState::Reachable, m, port_of(i), round);
    }
    for (uint32_t c = 0; c < 600; ++c) {
      if ((c + round) % 2) t.remove(churn_of(c));
      else t.set(churn_of(c), NeighState::Reachable, MacBytes{}, 0, round);
    }
  }
  for (uint32_t c = 0; c < 600; ++c) t.remove(churn_of(c));
  done.store(true, std::memory_order_release);
  reader.join();
  EXPECT_TRUE(writer_ok);
  EXPECT_EQ(failure, "");
  EXPECT_EQ(t.size(), kAddrs);
  EXPECT_GT(hits, 0u);
  std::printf("[          ] neighbour reader: %llu lookups, %llu found, %llu without a consistent read, during %u writes\n",
              static_cast<unsigned long long>(reads), static_cast<unsigned long long>(hits),
              static_cast<unsigned long long>(gave_up), kAddrs * kRounds);
}

// ================================================================== snat_ports

SnatPorts::Key pair_key(uint32_t snat, uint8_t backend) { return {snat, ip4(198, 18, 2, backend), htons(80)}; }

TEST(SnatPorts, WorkersShareEveryPortExactlyOnce) {
  const SnatPorts::Key k = pair_key(ip4(198, 18, 9, 1), 11);
  for (uint32_t workers : {1u, 2u, 3u, 5u, 8u, 31u}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    std::vector<int> owner(65536, -1);
    uint32_t total = 0;
    for (uint32_t w = 0; w < workers; ++w) {
      SnatPorts s(w, workers, 4);
      uint32_t got = 0;
      for (uint32_t hint = 0;; hint = hint * 1103515245u + 12345u) {
        uint16_t port_be = s.alloc(k, hint);
        if (port_be == 0) break;
        uint16_t port = ntohs(port_be);
        ASSERT_GE(port, 1024) << "worker " << w;
        ASSERT_EQ(owner[port], -1) << "port " << port << " handed out by workers " << owner[port] << " and " << w;
        owner[port] = static_cast<int>(w);
        ++got;
        ASSERT_LE(got, s.share());
      }
      EXPECT_EQ(got, s.share()) << "worker " << w << " must get its whole share";
      EXPECT_EQ(s.in_use(k), s.share());
      EXPECT_EQ(s.alloc(k, 0), 0) << "share used up";
      uint32_t expect_share = (65536 - 1024) / workers + (w < (65536 - 1024) % workers ? 1 : 0);
      EXPECT_EQ(s.share(), expect_share);
      total += got;
    }
    EXPECT_EQ(total, 65536u - 1024u) << "every port 1024..65535, none twice";
    for (int p = 1024; p < 65536; ++p) ASSERT_NE(owner[p], -1) << "port " << p << " never handed out";
  }
}

TEST(SnatPorts, ReleaseMakesAPortReusable) {
  const SnatPorts::Key k = pair_key(ip4(198, 18, 9, 1), 11);
  SnatPorts s(1, 4, 4);
  std::vector<uint16_t> ports;
  for (uint16_t p; (p = s.alloc(k, 0)) != 0;) ports.push_back(p);
  ASSERT_EQ(ports.size(), s.share());
  uint16_t freed = ports[1234];
  s.release(k, freed);
  EXPECT_EQ(s.in_use(k), s.share() - 1);
  EXPECT_EQ(s.alloc(k, 99), freed) << "the only free port";
  EXPECT_EQ(s.alloc(k, 0), 0);
  // Releasing what is not ours, twice, or on an unknown pair changes nothing.
  s.release(k, htons(1024));                               // worker 0's port
  s.release(k, htons(80));                                 // below the range
  s.release(pair_key(ip4(198, 18, 9, 2), 11), freed);     // another SNAT address
  s.release(pair_key(ip4(198, 18, 9, 1), 12), freed);      // another backend
  EXPECT_EQ(s.in_use(k), s.share());
  s.release(k, freed);
  s.release(k, freed);
  EXPECT_EQ(s.in_use(k), s.share() - 1);
}

TEST(SnatPorts, FreedPortIsNotHandedOutAgainAtOnce) {
  const SnatPorts::Key k = pair_key(ip4(198, 18, 9, 1), 11);
  SnatPorts s(0, 2, 4);
  for (uint32_t hint : {0u, 1u, 63u, 64u, 12345u}) {
    uint16_t p = s.alloc(k, hint);
    ASSERT_NE(p, 0);
    s.release(k, p);
    std::set<uint16_t> next;
    for (int n = 0; n < 100; ++n) {
      uint16_t q = s.alloc(k, hint + static_cast<uint32_t>(n));
      ASSERT_NE(q, 0);
      EXPECT_NE(q, p) << "port " << ntohs(p) << " reused " << n + 1 << " allocations after its release";
      next.insert(q);
    }
    EXPECT_EQ(next.size(), 100u);
    for (uint16_t q : next) s.release(k, q);
  }
  EXPECT_EQ(s.in_use(k), 0u);
}

// The point of per-backend pools: ports pinned towards one backend (a slow SYN flood) leave
// every port free towards the others, on the same SNAT address.
TEST(SnatPorts, BackendsOfOneSnatAddressHaveTheirOwnPorts) {
  SnatPorts s(0, 1, 8);
  const uint32_t snat = ip4(198, 18, 9, 1);
  std::set<uint16_t> flood;
  for (uint16_t p; (p = s.alloc(pair_key(snat, 11), 7)) != 0;) flood.insert(p);
  EXPECT_EQ(flood.size(), 64512u);
  EXPECT_EQ(s.alloc(pair_key(snat, 11), 7), 0) << "this backend's share is used up";
  std::set<uint16_t> other;
  for (uint16_t p; (p = s.alloc(pair_key(snat, 12), 7)) != 0;) other.insert(p);
  EXPECT_EQ(other.size(), 64512u) << "another backend gets all 64,512 ports of the same address";
  SnatPorts::Key other_port{snat, ip4(198, 18, 2, 11), htons(8080)};
  EXPECT_NE(s.alloc(other_port, 0), 0) << "another port of the same backend host too";
  EXPECT_NE(s.alloc(pair_key(ip4(198, 18, 9, 2), 11), 0), 0) << "and another SNAT address";
  EXPECT_EQ(s.pools_in_use(), 4u);
}

// Pools are bounded (the config checks the number of pairs); a pool with no port in use is
// given to a new pair (SNAT addresses and backends change with reloads).
TEST(SnatPorts, PoolLimitAndReuseOfIdlePools) {
  SnatPorts s(0, 2, 16);
  std::vector<std::pair<SnatPorts::Key, uint16_t>> held;
  for (uint8_t b = 0; b < 16; ++b) {
    SnatPorts::Key k = pair_key(ip4(198, 18, 10, 1), static_cast<uint8_t>(10 + b));
    uint16_t p = s.alloc(k, 0);
    ASSERT_NE(p, 0) << "pair " << int{b};
    held.emplace_back(k, p);
  }
  const SnatPorts::Key extra = pair_key(ip4(198, 18, 11, 1), 11);
  EXPECT_EQ(s.alloc(extra, 0), 0) << "a 17th pair while all 16 pools hold ports";
  for (auto& [k, p] : held) EXPECT_NE(s.alloc(k, 0), 0) << "known pairs keep working";
  for (auto& [k, p] : held) {
    s.release(k, p);
    s.release(k, static_cast<uint16_t>(0));
  }
  // Free everything of the fifth pair.
  SnatPorts::Key idle = held[4].first;
  for (uint32_t port = 1024; port < 65536; ++port) s.release(idle, htons(static_cast<uint16_t>(port)));
  ASSERT_EQ(s.in_use(idle), 0u);
  uint16_t p = s.alloc(extra, 0);
  EXPECT_NE(p, 0) << "an idle pool makes room for the new pair";
  EXPECT_EQ(s.in_use(extra), 1u);
  EXPECT_EQ(s.in_use(idle), 0u);
  EXPECT_EQ(s.pools_in_use(), 16u);
  for (size_t i = 0; i < held.size(); ++i) {
    if (i != 4) {
      EXPECT_EQ(s.in_use(held[i].first), 1u) << i;
    }
  }
}

}  // namespace
}  // namespace fulcrum::dp
