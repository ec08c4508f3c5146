#include "config/loader/ip_addr.h"

#include <algorithm>

#include "config/loader/net_parse.h"

namespace fulcrum::config {

bool IpAddr::empty() const {
  if (!is_v6()) return v4_be == 0;
  return std::all_of(std::begin(v6.b), std::end(v6.b), [](uint8_t x) { return x == 0; });
}

std::string IpAddr::str() const { return is_v6() ? ipv6_str(v6) : ipv4_str(v4_be); }

std::optional<IpAddr> parse_ip(std::string_view text) {
  if (text.find(':') != std::string_view::npos) {
    if (auto a = parse_ipv6(text)) return IpAddr::from_v6(*a);
    return std::nullopt;
  }
  if (auto a = parse_ipv4(text)) return IpAddr::from_v4(*a);
  return std::nullopt;
}

std::string endpoint_str(const IpAddr& addr, uint16_t port) {
  if (addr.is_v6()) return "[" + addr.str() + "]:" + std::to_string(port);
  return addr.str() + ":" + std::to_string(port);
}

std::optional<std::pair<IpAddr, uint16_t>> parse_endpoint(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) return std::nullopt;  // brackets are for IPv6 only
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;  // v6 needs brackets
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || port[0] == '0' ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  unsigned long p = std::stoul(std::string(port));
  if (p > 65535) return std::nullopt;
  auto a = parse_ip(host);
  if (!a) return std::nullopt;
  return std::pair{*a, static_cast<uint16_t>(p)};
}

std::optional<EndpointRef> parse_endpoint_ref(std::string_view text) {
  if (auto e = parse_endpoint(text)) return EndpointRef{e->first, e->second};
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (auto a = parse_ip(text)) return EndpointRef{*a, std::nullopt};
  return std::nullopt;
}

}  // namespace fulcrum::config
