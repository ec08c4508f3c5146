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
