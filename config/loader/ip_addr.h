// One address value for everything the config names that may be IPv4 or IPv6 (issue 15):
// VIPs, backends, SNAT addresses, health-check sources. One type instead of parallel
// v4/v6 fields, so that every comparison, map key and message handles both families
// and the compiler finds the places that only knew IPv4. The family follows the text:
// "198.18.0.10" is IPv4, "2001:db8::10" is IPv6.
#pragma once

#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/abi/ip6.h"

namespace fulcrum::config {

enum class IpFamily : uint8_t { V4 = 0, V6 = 1 };

struct IpAddr {
  IpFamily family = IpFamily::V4;
  uint32_t v4_be = 0;  // family V4, network order
  abi::Ip6 v6{};       // family V6

  static IpAddr from_v4(uint32_t addr_be) { return {IpFamily::V4, addr_be, {}}; }
  static IpAddr from_v6(const abi::Ip6& a) { return {IpFamily::V6, 0, a}; }

  bool is_v6() const { return family == IpFamily::V6; }
  // The unset value (0.0.0.0 or ::): no valid VIP, backend or SNAT address is either.
  bool empty() const;
  std::string str() const;  // "198.18.0.10", "2001:db8::10" (RFC 5952)
  const char* family_name() const { return is_v6() ? "IPv6" : "IPv4"; }

  bool operator==(const IpAddr& o) const { return family == o.family && v4_be == o.v4_be && v6 == o.v6; }
  std::strong_ordering operator<=>(const IpAddr& o) const {
    if (auto c = family <=> o.family; c != 0) return c;
    if (auto c = v4_be <=> o.v4_be; c != 0) return c;
    return std::memcmp(v6.b, o.v6.b, sizeof v6.b) <=> 0;
  }
};

// "198.18.0.10" or "2001:db8::10"; nothing if it is neither.
std::optional<IpAddr> parse_ip(std::string_view text);
// "198.18.0.10:80", "[2001:db8::10]:80" (RFC 5952 section 6 / RFC 3986 brackets).
std::string endpoint_str(const IpAddr& addr, uint16_t port);
// The inverse of endpoint_str(): "a.b.c.d:port" or "[v6]:port", port 1..65535.
std::optional<std::pair<IpAddr, uint16_t>> parse_endpoint(std::string_view text);
// What an operator typed for a backend (lbctl): "addr:port", "[v6]:port", or the address
// alone ("2001:db8::11" or "[2001:db8::11]"). Nothing if it is none of these.
struct EndpointRef {
  IpAddr addr;
  std::optional<uint16_t> port;  // none: any port of that address
  bool matches(const IpAddr& a, uint16_t p) const { return addr == a && (!port || *port == p); }
};
std::optional<EndpointRef> parse_endpoint_ref(std::string_view text);

}  // namespace fulcrum::config
