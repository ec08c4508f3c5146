// Packet builder and decoder for the test rig: the vocabulary of golden packet fixtures
// ({description, input packet, expected verdict, expected output packet}).
//
// Why pure C++ (no DPDK headers): fixtures are written and checked without EAL, and the
// decoder must stay an oracle independent of the data plane's own parsing and checksum code.
// Why the builder computes everything by default but lets each field be forced: most
// fixtures want a correct packet in one line, and the malformed-input fixtures want exactly
// one thing wrong; "bad" checksums are the correct value XOR 1, so they are never right by
// accident.
// Misuse of the builder (a modifier with no layer to modify, options not a multiple of 4,
// unparsable addresses) is a bug in a test, so it aborts with a message instead of
// returning an error every fixture would have to check.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace fulcrum::test {

using Bytes = std::vector<uint8_t>;

struct Mac {
  std::array<uint8_t, 6> b{};
  std::string str() const;  // "02:00:00:00:00:01"
  auto operator<=>(const Mac&) const = default;
};

Mac mac(std::string_view text);        // "02:00:00:00:00:01"; aborts with a message on bad text
uint32_t ip(std::string_view dotted);  // "198.18.0.10" -> host-order uint32; aborts on bad text
std::string ip_str(uint32_t host_order);
using Ip6 = std::array<uint8_t, 16>;     // network order
Ip6 ip6(std::string_view text);          // "2001:db8::1"; aborts on bad text
std::string ip6_str(const Ip6& address);  // RFC 5952 text (inet_ntop)

namespace tcpflag {
inline constexpr uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10, URG = 0x20,
                         ECE = 0x40, CWR = 0x80;
}

// RFC 1071 Internet checksum of `bytes` added to a partial sum (e.g. pseudo_header_sum()),
// folded and complemented: the value to store in a checksum field that was zero while
// summing. Only the last piece summed may have an odd length.
uint16_t inet_checksum(std::span<const uint8_t> bytes, uint32_t partial = 0);
// Partial sum of the IPv4 pseudo-header for TCP/UDP checksums.
uint32_t pseudo_header_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_length);
// Partial sum of the IPv6 pseudo-header (RFC 8200 §8.1) for TCP/UDP/ICMPv6 checksums.
uint32_t pseudo_header_sum6(const Ip6& src, const Ip6& dst, uint8_t next_header, uint32_t l4_length);

// The builder's layers; an implementation detail of Packet, public only so that the
// encoder in packet_builder.cpp can be written as free functions.
namespace layer {
// A checksum is computed unless forced to a value or asked to be wrong; the last call wins.
struct Checksum {
  std::optional<uint16_t> forced;
  bool bad = false;
};
struct Eth {
  Mac src, dst;
  std::optional<uint16_t> type;
};
struct Vlan {
  uint16_t vid = 0;
  uint8_t pcp = 0;
};
struct Arp {
  uint16_t op = 0;
  Mac sha;
  uint32_t spa = 0;
  Mac tha;
  uint32_t tpa = 0;
};
struct Ipv4 {
  uint32_t src = 0, dst = 0;
  uint8_t tos = 0, ttl = 64;
  uint16_t id = 0, frag_offset = 0;
  bool df = true, mf = false;
  Bytes options;
  std::optional<uint8_t> protocol, ihl, version;
  std::optional<uint16_t> total_length;
  Checksum checksum;
};
struct Ipv6 {
  Ip6 src{}, dst{};
  uint8_t traffic_class = 0, hop_limit = 64;
  uint32_t flow_label = 0;
  std::optional<uint8_t> next_header, version;
  std::optional<uint16_t> payload_length;
};
// An IPv6 extension header: `type` announces it to the header before it; `body` is
// everything after its own next-header byte (the length byte included, as given).
struct Ipv6Ext {
  uint8_t type = 0;
  Bytes body;
  std::optional<uint8_t> next_header;
};
struct Tcp {
  uint16_t sport = 0, dport = 0;
  uint8_t flags = 0;
  uint32_t seq = 0, ack = 0;
  uint16_t window = 65535, urgent = 0;
  Bytes options;
  std::optional<uint8_t> data_offset;
  Checksum checksum;
};
struct Udp {
  uint16_t sport = 0, dport = 0;
  Checksum checksum;
};
struct Icmp {
  uint8_t type = 0, code = 0;
  uint32_t rest = 0;
  Checksum checksum;
};
struct Icmp6 {
  uint8_t type = 0, code = 0;
  uint32_t rest = 0;
  Checksum checksum;
};
struct Raw {
  Bytes bytes;
};  // payload, or an embedded packet
using Any = std::variant<Eth, Vlan, Arp, Ipv4, Tcp, Udp, Icmp, Raw, Ipv6, Ipv6Ext, Icmp6>;
}  // namespace layer

// Chainable value-type builder; layers in the order called. build() fills lengths, the
// ethertype / IP protocol from the next layer (0 when the next layer is raw bytes or
// absent), and every checksum, unless overridden.
class Packet {
 public:
  Packet& eth(Mac src, Mac dst);
  Packet& ethertype(uint16_t type);             // force the (outermost) ethertype
  Packet& vlan(uint16_t vid, uint8_t pcp = 0);  // 802.1Q tag after eth
  Packet& arp(uint16_t op, Mac sha, uint32_t spa, Mac tha, uint32_t tpa);  // Ethernet/IPv4 ARP
  // Defaults: version 4, ihl from options, tos 0, id 0, DF set, ttl 64. An ipv4 after an
  // ipv4 is IP-in-IP (protocol 4).
  Packet& ipv4(uint32_t src, uint32_t dst);
  // Modifiers of the most recent ipv4 layer:
  Packet& ttl(uint8_t v);
  Packet& ip_id(uint16_t v);
  Packet& tos(uint8_t v);
  Packet& df(bool on);
  Packet& mf(bool on);
  Packet& frag_offset(uint16_t units_of_8_bytes);
  Packet& ip_options(Bytes options);      // a multiple of 4, at most 40; ihl follows
  Packet& ip_protocol(uint8_t proto);     // force
  Packet& ihl(uint8_t ihl);               // force the field (header length still from options)
  Packet& ip_version(uint8_t v);          // force
  Packet& ip_total_length(uint16_t len);  // force the field
  Packet& ip_checksum(uint16_t value);    // force the field
  Packet& bad_ip_checksum();              // the correct checksum XOR 0x0001
  // Defaults: version 6, traffic class 0, flow label 0, hop limit 64; payload length and next
  // header computed. An ipv6 after an ipv6 is IPv6-in-IPv6 (41).
  Packet& ipv6(std::string_view src, std::string_view dst);
  // Modifiers of the most recent ipv6 layer:
  Packet& hop_limit(uint8_t v);
  Packet& traffic_class(uint8_t v);
  Packet& flow_label(uint32_t v);             // 20 bits
  Packet& ip6_payload_length(uint16_t len);   // force the field
  Packet& ip6_next_header(uint8_t v);         // force the field
  Packet& ip6_version(uint8_t v);             // force
  // Extension headers, after ipv6() and before the transport layer, in wire order; each one's
  // next-header byte comes from the layer after it.
  Packet& ipv6_ext(uint8_t type, Bytes body);  // raw: body after the next-header byte
  Packet& hop_by_hop(Bytes options = {});      // type 0; options padded with Pad1/PadN to 8n
  Packet& dest_options(Bytes options = {});    // type 60; likewise
  Packet& routing(uint8_t routing_type, uint8_t segments_left, const std::vector<std::string_view>& addresses = {});
  Packet& fragment(uint16_t offset_units_of_8, bool more, uint32_t id);  // type 44
  Packet& ext_next_header(uint8_t v);  // force the most recent extension header's next header
  // Window defaults to 65535. TCP and UDP need an IP layer before them (pseudo-header); after
  // ipv6 the IPv6 pseudo-header with the IPv6 header's destination (right unless a routing
  // header has segments left).
  Packet& tcp(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq = 0, uint32_t ack = 0);
  // Modifiers of the most recent tcp layer:
  Packet& window(uint16_t v);
  Packet& urgent(uint16_t v);
  Packet& tcp_options(Bytes options);    // a multiple of 4, at most 40; data offset follows
  Packet& data_offset(uint8_t words);    // force
  Packet& tcp_checksum(uint16_t value);  // force
  Packet& bad_tcp_checksum();
  Packet& udp(uint16_t sport, uint16_t dport);  // length/checksum computed (0 sent as 0xffff)
  Packet& udp_checksum(uint16_t value);         // force (0 = "no checksum")
  Packet& bad_udp_checksum();                   // XOR 1, or XOR 2 where XOR 1 would give 0
  Packet& icmp(uint8_t type, uint8_t code, uint32_t rest_of_header = 0);
  Packet& icmp_echo(bool request, uint16_t id, uint16_t seq);
  Packet& icmp_frag_needed(uint16_t next_hop_mtu);  // type 3 code 4
  Packet& icmp_checksum(uint16_t value);            // force
  Packet& bad_icmp_checksum();
  // ICMPv6 (next header 58; its checksum covers the IPv6 pseudo-header).
  Packet& icmp6(uint8_t type, uint8_t code, uint32_t rest_of_header = 0);
  Packet& icmp6_echo(bool request, uint16_t id, uint16_t seq);  // 128 / 129
  Packet& icmp6_checksum(uint16_t value);                       // force
  Packet& bad_icmp6_checksum();
  Packet& payload(Bytes bytes);
  Packet& payload(std::string_view text);
  // For ICMP errors: append `inner`'s bytes from its IP header on (no L2), cut to max_bytes.
  Packet& embed(const Packet& inner, size_t max_bytes = SIZE_MAX);
  Packet& pad_to(
      size_t frame_len);  // zero Ethernet padding after the IP packet (not in IP total length)

  Bytes build() const;
  Bytes ip_bytes() const;  // from the first IPv4 or IPv6 header on: no L2, no padding

 private:
  template <class L>
  L& last(const char* modifier);
  bool has_ip_layer() const;
  Bytes serialize(size_t first_layer) const;

  std::vector<layer::Any> layers_;
  size_t pad_to_ = 0;
};

Bytes truncate(Bytes frame, size_t len);  // first len bytes (all of them if len is larger)

// Decoder: tolerant of anything (truncated, garbage, wrong lengths); never reads out of
// bounds. Starts with frame.length; optional parts (options, payload, padding, truncated)
// appear only when present. Repeated names (QinQ tags, two "truncated") keep their order.
struct Field {
  std::string name;
  std::string value;
};
std::vector<Field> decode(std::span<const uint8_t> frame);
std::string describe(std::span<const uint8_t> frame);  // one "name: value" per line
// "" when equal; otherwise one line per differing field ("ipv4.dst: expected 198.18.2.11,
// got 198.18.2.12"), fields present in only one packet, and, when all decoded fields agree
// but bytes differ, the differing byte offsets in hex.
std::string diff(std::span<const uint8_t> expected, std::span<const uint8_t> actual);
// For EXPECT_TRUE(SamePacket(want, got)): on failure the message is the diff, then both
// describe()s.
::testing::AssertionResult SamePacket(std::span<const uint8_t> expected,
                                      std::span<const uint8_t> actual);

}  // namespace fulcrum::test
