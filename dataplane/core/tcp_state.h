// The connection tracker's TCP state machine: pure, one byte of state per connection.
//
// A load balancer sees both directions of a connection only in nat/fullnat mode, and may
// pick a flow up in the middle (after a restart, or from another node). It tracks just
// enough to choose a timeout: embryonic until the handshake completes (or, for a flow
// picked up mid-stream, until the backend answers), established, closing once a FIN is
// seen, closed after a RST or both FINs. The state byte is updated with a CAS, since the
// two directions may be handled by different workers.
//
// Resets are not validated against the sequence window (that would need 8 more bytes per
// entry). Instead a RST closes the entry provisionally and the endpoints judge it: a RST
// that the receiving stack finds out of window is answered with a bare ACK (RFC 5961's
// challenge ACK, which Linux and Windows send), and the connection goes on. Such an ACK
// from the side that received the RST, or more data from the side that supposedly sent
// it, proves the RST was spoofed, and the entry returns to the phase it had. A real reset
// is answered by nothing, and the entry expires after the closed timeout as before.
#pragma once

#include <cstdint>

namespace fulcrum::dp {

enum class TcpPhase : uint8_t { SynSeen = 0, Established = 1, Closing = 2, Closed = 3 };
enum class Dir : uint8_t { FromClient = 0, FromBackend = 1 };

namespace tcp_bit {
inline constexpr uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;
}

// Bits of the state byte besides the phase (bits 0-1).
namespace conn_state {
inline constexpr uint8_t kPhaseMask = 0x03;
inline constexpr uint8_t kFinFromClient = 0x04;
inline constexpr uint8_t kFinFromBackend = 0x08;
inline constexpr uint8_t kSynAckSeen = 0x10;
inline constexpr uint8_t kMidstream = 0x20;   // created without a SYN
inline constexpr uint8_t kRstFromBackend = 0x40;  // closed by a RST the backend side sent (else the client)
inline constexpr uint8_t kDead = 0x80;        // being removed: lookups ignore it
inline constexpr uint8_t kBothFins = kFinFromClient | kFinFromBackend;
}  // namespace conn_state

constexpr TcpPhase phase_of(uint8_t state) { return static_cast<TcpPhase>(state & conn_state::kPhaseMask); }

constexpr uint8_t with_phase(uint8_t state, TcpPhase p) {
  return static_cast<uint8_t>((state & ~conn_state::kPhaseMask) | static_cast<uint8_t>(p));
}

constexpr uint8_t initial_state(bool syn) {
  return syn ? static_cast<uint8_t>(TcpPhase::SynSeen)
             : static_cast<uint8_t>(static_cast<uint8_t>(TcpPhase::SynSeen) | conn_state::kMidstream);
}

// Closed by a RST rather than by both FINs: provisional, see the top of this file.
constexpr bool closed_by_rst(uint8_t state) {
  return phase_of(state) == TcpPhase::Closed && (state & conn_state::kBothFins) != conn_state::kBothFins;
}

// Whether a packet after a RST shows the connection alive: a bare ACK (a challenge ACK)
// from the side the RST went to, or data from the side it claimed to come from. A FIN or
// SYN never counts, and neither does a second RST.
constexpr bool proves_rst_spoofed(uint8_t state, Dir dir, uint8_t flags, bool payload) {
  if (flags & (tcp_bit::RST | tcp_bit::SYN | tcp_bit::FIN)) return false;
  const Dir rst_from = (state & conn_state::kRstFromBackend) ? Dir::FromBackend : Dir::FromClient;
  if (dir != rst_from) return (flags & tcp_bit::ACK) != 0 && !payload;
  return payload;
}

// The phase a connection closed by a spoofed RST returns to, from what the state remembers.
constexpr TcpPhase phase_before_rst(uint8_t state) {
  using namespace conn_state;
  if (state & kBothFins) return TcpPhase::Closing;
  if (state & (kSynAckSeen | kMidstream)) return TcpPhase::Established;
  return TcpPhase::SynSeen;
}

// The state after one packet with `flags` travelling in `dir`; `payload`: it carries data.
constexpr uint8_t tcp_next(uint8_t state, Dir dir, uint8_t flags, bool payload = false) {
  using namespace conn_state;
  if (state & kDead) return state;
  // Closed is where a connection ends: a late FIN must not reopen it with the closing
  // timeout. (A new client SYN on the tuple is a new connection; the worker handles it.)
  // Only a RST's closing can be undone, by proof that the RST was spoofed.
  if (phase_of(state) == TcpPhase::Closed) {
    if (closed_by_rst(state) && proves_rst_spoofed(state, dir, flags, payload)) {
      return with_phase(static_cast<uint8_t>(state & ~kRstFromBackend), phase_before_rst(state));
    }
    return state;
  }
  if (flags & tcp_bit::RST) {
    state = dir == Dir::FromBackend ? static_cast<uint8_t>(state | kRstFromBackend) : static_cast<uint8_t>(state & ~kRstFromBackend);
    return with_phase(state, TcpPhase::Closed);
  }
  if (flags & tcp_bit::FIN) {
    state |= dir == Dir::FromClient ? kFinFromClient : kFinFromBackend;
    bool both = (state & (kFinFromClient | kFinFromBackend)) == (kFinFromClient | kFinFromBackend);
    return with_phase(state, both ? TcpPhase::Closed : TcpPhase::Closing);
  }
  if (phase_of(state) != TcpPhase::SynSeen) return state;
  if (dir == Dir::FromBackend) {
    if ((flags & (tcp_bit::SYN | tcp_bit::ACK)) == (tcp_bit::SYN | tcp_bit::ACK)) return state | kSynAckSeen;
    // A picked-up flow is real once the backend answers it with anything but a reset.
    if ((state & kMidstream) && !(flags & tcp_bit::SYN)) return with_phase(state, TcpPhase::Established);
    return state;
  }
  if ((state & kSynAckSeen) && (flags & tcp_bit::ACK) && !(flags & tcp_bit::SYN)) {
    return with_phase(state, TcpPhase::Established);
  }
  return state;
}

// A client SYN on a connection that has finished starts a new one on the same tuple.
constexpr bool is_new_connection_on_old_tuple(uint8_t state, Dir dir, uint8_t flags) {
  return dir == Dir::FromClient && (flags & (tcp_bit::SYN | tcp_bit::ACK)) == tcp_bit::SYN &&
         phase_of(state) == TcpPhase::Closed;
}

// Connections that have not proven themselves; evicted first when the table is full.
constexpr bool is_embryonic(uint8_t state) { return phase_of(state) == TcpPhase::SynSeen; }

// A connection attempt the backend has not answered at all yet (its own, short timeout).
constexpr bool is_unanswered(uint8_t state) {
  return phase_of(state) == TcpPhase::SynSeen && (state & conn_state::kSynAckSeen) == 0;
}

}  // namespace fulcrum::dp
