// Parsing the network values a config holds. Addresses come back in network byte order,
// as the data plane compares them with packet fields.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fulcrum::config {

struct Prefix {
  uint32_t addr_be = 0;   // as written (host bits kept: "198.18.1.1/24" is an interface address)
  uint8_t length = 0;
  uint32_t mask_be() const;
  bool contains(uint32_t addr_be) const;
  std::string str() const;          // as written: "198.18.1.1/24"
  std::string network_str() const;  // the subnet: "198.18.1.0/24"
};

using Mac = std::array<uint8_t, 6>;

// Dotted quad only ("10.0.0.1"); no shorthand, no leading zeros, no hostnames.
std::optional<uint32_t> parse_ipv4(std::string_view text);
std::optional<Prefix> parse_prefix(std::string_view text);     // "10.0.0.1/24"
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

}  // namespace fulcrum::config
