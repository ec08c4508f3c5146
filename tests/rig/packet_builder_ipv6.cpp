// The builder's IPv6 calls: the IPv6 header, extension headers and ICMPv6. Their encoders live
// with the others in packet_builder.cpp (one serializer walks every layer); this file only
// records layers, so that the builder stays readable.
//
// Extension headers are layers like any other: each one's type announces it to the layer
// before it and its next-header byte comes from the layer after it, so a chain is written in
// wire order (ipv6().hop_by_hop().routing(0, 0).tcp(...)) and malformed chains are one
// override away (ext_next_header(), ipv6_ext() with raw bytes).
#include <cstdio>
#include <cstdlib>

#include "tests/rig/packet.h"

namespace fulcrum::test {
namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "fulcrum::test packet builder: %s\n", what.c_str());
  std::abort();
}

// Hop-by-Hop and Destination Options: next header, length, options, then Pad1 or PadN to a
// multiple of 8 bytes (RFC 8200 §4.2).
Bytes options_body(Bytes options) {
  size_t unpadded = 2 + options.size();
  size_t pad = (8 - unpadded % 8) % 8;
  if (pad == 1) {
    options.push_back(0);  // Pad1
  } else if (pad >= 2) {
    options.push_back(1);  // PadN
    options.push_back(static_cast<uint8_t>(pad - 2));
    options.insert(options.end(), pad - 2, 0);
  }
  size_t units = (2 + options.size()) / 8 - 1;
  if (units > 255) die("extension header options longer than 2046 bytes");
  options.insert(options.begin(), static_cast<uint8_t>(units));  // the length byte first
  return options;
}

}  // namespace

Packet& Packet::ipv6(std::string_view src, std::string_view dst) {
  layer::Ipv6 l;
  l.src = ip6(src);
  l.dst = ip6(dst);
  layers_.emplace_back(std::move(l));
  return *this;
}

Packet& Packet::hop_limit(uint8_t v) {
  last<layer::Ipv6>("hop_limit").hop_limit = v;
  return *this;
}
Packet& Packet::traffic_class(uint8_t v) {
  last<layer::Ipv6>("traffic_class").traffic_class = v;
  return *this;
}
Packet& Packet::flow_label(uint32_t v) {
  if (v > 0xfffff) die("flow_label(): the field has 20 bits");
  last<layer::Ipv6>("flow_label").flow_label = v;
  return *this;
}
Packet& Packet::ip6_payload_length(uint16_t len) {
  last<layer::Ipv6>("ip6_payload_length").payload_length = len;
  return *this;
}
Packet& Packet::ip6_next_header(uint8_t v) {
  last<layer::Ipv6>("ip6_next_header").next_header = v;
  return *this;
}
Packet& Packet::ip6_version(uint8_t v) {
  if (v > 15) die("ip6_version(): the field has 4 bits");
  last<layer::Ipv6>("ip6_version").version = v;
  return *this;
}

Packet& Packet::ipv6_ext(uint8_t type, Bytes body) {
  last<layer::Ipv6>("ipv6_ext");
  layers_.emplace_back(layer::Ipv6Ext{type, std::move(body), {}});
  return *this;
}

Packet& Packet::hop_by_hop(Bytes options) { return ipv6_ext(0, options_body(std::move(options))); }
Packet& Packet::dest_options(Bytes options) { return ipv6_ext(60, options_body(std::move(options))); }

// Length in 8-byte units after the first 8; type-specific data: 4 reserved bytes, then the
// addresses (the layout of type 0, RFC 2460, which types 2 and 4 with no TLVs share).
Packet& Packet::routing(uint8_t routing_type, uint8_t segments_left, const std::vector<std::string_view>& addresses) {
  if (addresses.size() > 127) die("routing(): at most 127 addresses");
  Bytes body{static_cast<uint8_t>(2 * addresses.size()), routing_type, segments_left, 0, 0, 0, 0};
  for (std::string_view a : addresses) {
    Ip6 bytes = ip6(a);
    body.insert(body.end(), bytes.begin(), bytes.end());
  }
  return ipv6_ext(43, std::move(body));
}

Packet& Packet::fragment(uint16_t offset_units, bool more, uint32_t id) {
  if (offset_units > 0x1fff) die("fragment(): at most 0x1fff units of 8 bytes");
  uint16_t field = static_cast<uint16_t>(offset_units << 3 | (more ? 1 : 0));
  return ipv6_ext(44, Bytes{0, static_cast<uint8_t>(field >> 8), static_cast<uint8_t>(field),
                            static_cast<uint8_t>(id >> 24), static_cast<uint8_t>(id >> 16),
                            static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id)});
}

Packet& Packet::ext_next_header(uint8_t v) {
  last<layer::Ipv6Ext>("ext_next_header").next_header = v;
  return *this;
}

Packet& Packet::icmp6(uint8_t type, uint8_t code, uint32_t rest_of_header) {
  last<layer::Ipv6>("icmp6");  // the checksum covers the IPv6 pseudo-header
  layers_.emplace_back(layer::Icmp6{type, code, rest_of_header, {}});
  return *this;
}

Packet& Packet::icmp6_echo(bool request, uint16_t id, uint16_t seq) {
  return icmp6(request ? 128 : 129, 0, static_cast<uint32_t>(id) << 16 | seq);
}

Packet& Packet::icmp6_checksum(uint16_t value) {
  last<layer::Icmp6>("icmp6_checksum").checksum = {value, false};
  return *this;
}

Packet& Packet::bad_icmp6_checksum() {
  last<layer::Icmp6>("bad_icmp6_checksum").checksum = {std::nullopt, true};
  return *this;
}

}  // namespace fulcrum::test
