// Addresses of the test rig's packet vocabulary: MAC, IPv4 and IPv6 text to bytes and back,
// and the pseudo-header sums TCP/UDP/ICMPv6 checksums start from. Bad text is a bug in a
// test, so it aborts with a message (see packet.h).
#include <arpa/inet.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "tests/rig/packet.h"

namespace fulcrum::test {
namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "fulcrum::test packet builder: %s\n", what.c_str());
  std::abort();
}

}  // namespace

std::string Mac::str() const {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
                b[5]);
  return text;
}

Mac mac(std::string_view text) {
  Mac m;
  bool ok = text.size() == 17;
  for (size_t i = 0; ok && i < 6; ++i) {
    const char* first = text.data() + 3 * i;
    auto [end, err] = std::from_chars(first, first + 2, m.b[i], 16);
    ok = err == std::errc{} && end == first + 2 && (i == 5 || first[2] == ':');
  }
  if (!ok) die("bad MAC address \"" + std::string(text) + "\" (want 02:00:00:00:00:01)");
  return m;
}

uint32_t ip(std::string_view dotted) {
  uint32_t value = 0;
  const char* p = dotted.data();
  const char* end = p + dotted.size();
  for (int i = 0; i < 4; ++i) {
    unsigned octet = 0;
    auto [next, err] = std::from_chars(p, end, octet);
    bool ok = err == std::errc{} && next != p && next - p <= 3 && octet <= 255 &&
              (i == 3 ? next == end : next != end && *next == '.');
    if (!ok) die("bad IPv4 address \"" + std::string(dotted) + "\" (want 198.18.0.10)");
    value = value << 8 | octet;
    p = next + 1;
  }
  return value;
}

std::string ip_str(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string(a >> 16 & 0xff) + "." +
         std::to_string(a >> 8 & 0xff) + "." + std::to_string(a & 0xff);
}

Ip6 ip6(std::string_view text) {
  Ip6 a{};
  std::string copy(text);  // inet_pton wants a terminated string
  if (inet_pton(AF_INET6, copy.c_str(), a.data()) != 1)
    die("bad IPv6 address \"" + copy + "\" (want 2001:db8::1)");
  return a;
}

std::string ip6_str(const Ip6& a) {
  char text[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, a.data(), text, sizeof text);
  return text;
}

uint32_t pseudo_header_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_length) {
  return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + l4_length;
}

// Source, destination, a 32-bit upper-layer length and the next header, as 16-bit words.
uint32_t pseudo_header_sum6(const Ip6& src, const Ip6& dst, uint8_t next_header, uint32_t l4_length) {
  uint32_t sum = 0;
  for (size_t i = 0; i < 16; i += 2) sum += static_cast<uint32_t>(src[i] << 8 | src[i + 1]);
  for (size_t i = 0; i < 16; i += 2) sum += static_cast<uint32_t>(dst[i] << 8 | dst[i + 1]);
  return sum + (l4_length >> 16) + (l4_length & 0xffff) + next_header;
}

}  // namespace fulcrum::test
