// The decoder's parts that packet_decoder.cpp (Ethernet, ARP, IPv4, TCP, UDP, ICMP) and
// packet_decoder_ipv6.cpp (IPv6, extension headers, ICMPv6) share. Internal to the rig.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tests/rig/packet.h"

namespace fulcrum::test::decoder {

using View = std::span<const uint8_t>;

// ICMP errors and IP-in-IP nest packets; garbage could nest them as deep as it likes.
constexpr int kMaxNesting = 4;

// Bounds-checked big-endian reads: nullopt past the end.
inline std::optional<uint8_t> u8(View b, size_t at) {
  if (at >= b.size()) return std::nullopt;
  return b[at];
}
inline std::optional<uint16_t> u16(View b, size_t at) {
  if (b.size() < 2 || at > b.size() - 2) return std::nullopt;
  return static_cast<uint16_t>(b[at] << 8 | b[at + 1]);
}
inline std::optional<uint32_t> u32(View b, size_t at) {
  auto hi = u16(b, at), lo = u16(b, at + 2);
  if (!hi || !lo) return std::nullopt;
  return static_cast<uint32_t>(*hi) << 16 | *lo;
}
__attribute__((format(printf, 1, 2))) std::string fmt(const char* format, ...);
std::string hex(View b);
std::string hex16(uint16_t v);
std::string num(uint64_t v);
std::string named(std::string value, const char* name);  // "6 tcp", or the value alone
const char* protocol_name(uint8_t p);                    // IP protocol / IPv6 next header

// Collects fields under a prefix ("icmp.inner." for the packet inside an ICMP error).
class Out {
 public:
  Out(std::vector<Field>& fields, std::string prefix)
      : fields_(fields), prefix_(std::move(prefix)) {}
  void add(std::string_view name, std::string value) {
    fields_.push_back({prefix_ + std::string(name), std::move(value)});
  }
  void truncated(const char* what, size_t have, size_t need) {
    add("truncated", fmt("%s: %zu of %zu bytes", what, have, need));
  }
  Out nested(std::string_view more) const { return Out(fields_, prefix_ + std::string(more)); }

 private:
  std::vector<Field>& fields_;
  std::string prefix_;
};

// What a transport header needs from the IP header around it.
struct IpContext {
  uint32_t src, dst;  // IPv4
  bool v6;
  Ip6 src6, dst6;     // IPv6
  bool whole;     // the IP payload is complete per total length
  bool fragment;  // MF set: the transport checksum covers bytes not in this packet
  int depth;
};

std::string l4_checksum_text(View seg, size_t field_at, uint8_t proto, const IpContext& ip);
void decode_payload(View p, Out& o);
void decode_padding(View p, Out& o);
void decode_tcp(View s, const IpContext& ip, Out& o);
void decode_udp(View s, const IpContext& ip, Out& o);
void decode_ipv4(View b, Out& o, int depth);
void decode_ipv6(View b, Out& o, int depth);  // packet_decoder_ipv6.cpp

}  // namespace fulcrum::test::decoder
