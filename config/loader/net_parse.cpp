#include "config/loader/net_parse.h"

#include <arpa/inet.h>

#include <cstdio>

namespace fulcrum::config {

uint32_t Prefix::mask_be() const {
  return length == 0 ? 0 : htonl(~uint32_t{0} << (32 - length));
}

bool Prefix::contains(uint32_t addr) const { return (addr & mask_be()) == (addr_be & mask_be()); }

std::string Prefix::str() const { return ipv4_str(addr_be) + "/" + std::to_string(length); }

std::string Prefix::network_str() const { return ipv4_str(addr_be & mask_be()) + "/" + std::to_string(length); }

std::optional<uint32_t> parse_ipv4(std::string_view text) {
  // inet_pton(AF_INET) accepts exactly the dotted-decimal form; reject leading zeros too,
  // which other tools read as octal.
  if (text.empty() || text.size() > 15) return std::nullopt;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    bool starts_octet = i == 0 || text[i - 1] == '.';
    if (starts_octet && text[i] == '0' && text[i + 1] != '.') return std::nullopt;
  }
  std::string s(text);
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return a.s_addr;
}

std::optional<Prefix> parse_prefix(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = parse_ipv4(text.substr(0, slash));
  std::string_view len = text.substr(slash + 1);
  if (!addr || len.empty() || len.size() > 2) return std::nullopt;
  int n = 0;
  for (char c : len) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n > 32 || (len.size() == 2 && len[0] == '0')) return std::nullopt;
  return Prefix{*addr, static_cast<uint8_t>(n)};
}

std::optional<abi::Ip6> parse_ipv6(std::string_view text) {
  if (text.empty() || text.size() > 45 || text.find(':') == std::string_view::npos) return std::nullopt;
  std::string s(text);
  abi::Ip6 a{};
  if (inet_pton(AF_INET6, s.c_str(), a.b) != 1) return std::nullopt;
  return a;
}

std::optional<Prefix6> parse_prefix6(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = parse_ipv6(text.substr(0, slash));
  std::string_view len = text.substr(slash + 1);
  if (!addr || len.empty() || len.size() > 3) return std::nullopt;
  int n = 0;
  for (char c : len) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n > 128 || (len.size() > 1 && len[0] == '0')) return std::nullopt;
  return Prefix6{*addr, static_cast<uint8_t>(n)};
}

std::string ipv6_str(const abi::Ip6& addr) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, addr.b, text, sizeof text);
  return text;
}

bool Prefix6::contains(const abi::Ip6& a) const {
  for (int bit = 0; bit < length; bit += 8) {
    int bits = length - bit < 8 ? length - bit : 8;
    uint8_t mask = static_cast<uint8_t>(0xff00 >> bits);
    if ((a.b[bit / 8] & mask) != (addr.b[bit / 8] & mask)) return false;
  }
  return true;
}

std::string Prefix6::str() const { return ipv6_str(addr) + "/" + std::to_string(length); }

std::string Prefix6::network_str() const {
  abi::Ip6 net{};
  for (int bit = 0; bit < length; bit += 8) {
    int bits = length - bit < 8 ? length - bit : 8;
    net.b[bit / 8] = addr.b[bit / 8] & static_cast<uint8_t>(0xff00 >> bits);
  }
  return ipv6_str(net) + "/" + std::to_string(length);
}

bool is_unusable_unicast6(const abi::Ip6& a) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  bool zero_to_14 = true;
  for (int i = 0; i < 15; ++i) zero_to_14 = zero_to_14 && a.b[i] == 0;
  if (zero_to_14 && (a.b[15] == 0 || a.b[15] == 1)) return true;  // :: and ::1
  if (a.b[0] == 0xff) return true;                                  // multicast
  return __builtin_memcmp(a.b, kMapped, 12) == 0;
}

std::optional<Mac> parse_mac(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  Mac mac{};
  for (int i = 0; i < 6; ++i) {
    if (i > 0 && text[3 * i - 1] != ':') return std::nullopt;
    int v = 0;
    for (int j = 0; j < 2; ++j) {
      char c = text[3 * i + j];
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (d < 0) return std::nullopt;
      v = v * 16 + d;
    }
    mac[i] = static_cast<uint8_t>(v);
  }
  return mac;
}

std::string ipv4_str(uint32_t addr_be) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &addr_be, buf, sizeof buf);
  return buf;
}

std::string mac_str(const Mac& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return buf;
}

bool is_valid_label(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  }
  return true;
}

bool is_valid_ifname(std::string_view s) {
  if (s.empty() || s.size() > 15 || s == "." || s == "..") return false;  // IFNAMSIZ - 1
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool is_unusable_unicast(uint32_t addr_be) {
  uint32_t a = ntohl(addr_be);
  uint8_t first = static_cast<uint8_t>(a >> 24);
  return first == 0 || first == 127 || first >= 224;
}

}  // namespace fulcrum::config
