// Parsing the network values a config holds. Addresses come back in network byte order,
// as the data plane compares them with packet fields.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/abi/ip6.h"

namespace fulcrum::config {

struct Prefix {
  uint32_t addr_be = 0;   // as written (host bits kept: "198.18.1.1/24" is an interface address)
  uint8_t length = 0;
  uint32_t mask_be() const;
  bool contains(uint32_t addr_be) const;
  std::string str() const;          // as written: "198.18.1.1/24"
  std::string network_str() const;  // the subnet: "198.18.1.0/24"
};

// An IPv6 prefix (issue 15), the counterpart of Prefix: host bits kept as written.
struct Prefix6 {
  abi::Ip6 addr{};
  uint8_t length = 0;
  bool contains(const abi::Ip6& a) const;
  std::string str() const;          // "2001:db8:1::1/64"
  std::string network_str() const;  // "2001:db8:1::/64"
};

using Mac = std::array<uint8_t, 6>;

// Dotted quad only ("10.0.0.1"); no shorthand, no leading zeros, no hostnames.
std::optional<uint32_t> parse_ipv4(std::string_view text);
std::optional<Prefix> parse_prefix(std::string_view text);     // "10.0.0.1/24"
// RFC 4291 text forms ("2001:db8::1", "::ffff:198.18.0.1"); no zone ids, no brackets.
std::optional<abi::Ip6> parse_ipv6(std::string_view text);
std::optional<Prefix6> parse_prefix6(std::string_view text);   // "2001:db8::1/64"
std::string ipv6_str(const abi::Ip6& addr);                    // RFC 5952 form
std::optional<Mac> parse_mac(std::string_view text);           // "02:00:00:00:00:01"
std::string ipv4_str(uint32_t addr_be);
std::string mac_str(const Mac& mac);

// Names operators type (ports, VIPs, backends): 1-32 characters of a-z, 0-9, '-', '_'.
bool is_valid_label(std::string_view s);
inline constexpr const char* kLabelRule = "must be 1-32 characters of a-z, 0-9, '-', '_'";

// Linux interface names: 1-15 characters of a-z, A-Z, 0-9, '-', '_', '.' (not "." or "..").
bool is_valid_ifname(std::string_view s);
inline constexpr const char* kIfnameRule = "1-15 characters of a-z, A-Z, 0-9, '-', '_', '.'";

// Addresses a load balancer must never use as a VIP, backend or next hop.
bool is_unusable_unicast(uint32_t addr_be);  // 0.0.0.0/8, 127/8, 224/4 and above
// IPv6: ::, ::1, multicast ff00::/8, IPv4-mapped ::ffff:0:0/96 (a v4 address in v6 form).
bool is_unusable_unicast6(const abi::Ip6& addr);
// fe80::/10: valid on one link only, never a VIP, backend or SNAT address.
inline bool is_link_local6(const abi::Ip6& a) { return a.b[0] == 0xfe && (a.b[1] & 0xc0) == 0x80; }

}  // namespace fulcrum::config
