// The decoder's IPv6 half (issue 15): the IPv6 header, the extension headers it walks
// (Hop-by-Hop, Routing, Fragment, Destination Options), ICMPv6 with the packet an error
// quotes and the target of neighbour discovery. Tolerant like the rest of the decoder: every
// read is bounds-checked, a short buffer yields a "truncated" note.
#include <algorithm>

#include "tests/rig/packet_decoder_parts.h"

namespace fulcrum::test::decoder {
namespace {

const char* icmp6_type_name(uint8_t t) {
  switch (t) {
    case 1:
      return "dest-unreachable";
    case 2:
      return "packet-too-big";
    case 3:
      return "time-exceeded";
    case 4:
      return "parameter-problem";
    case 128:
      return "echo-request";
    case 129:
      return "echo-reply";
    case 133:
      return "router-solicitation";
    case 134:
      return "router-advertisement";
    case 135:
      return "neighbor-solicitation";
    case 136:
      return "neighbor-advertisement";
    default:
      return nullptr;
  }
}

std::optional<Ip6> ip6_at(View b, size_t at) {
  if (b.size() < 16 || at > b.size() - 16) return std::nullopt;
  Ip6 a;
  std::copy_n(b.begin() + static_cast<std::ptrdiff_t>(at), 16, a.begin());
  return a;
}

void decode_icmp6(View s, const IpContext& ip, Out& o) {
  auto type = u8(s, 0);
  if (type) o.add("icmp6.type", named(num(*type), icmp6_type_name(*type)));
  if (auto code = u8(s, 1)) o.add("icmp6.code", num(*code));
  if (u16(s, 2)) o.add("icmp6.checksum", l4_checksum_text(s, 2, 58, ip));
  auto rest = u32(s, 4);
  if (!rest) return o.truncated("icmp6 header", s.size(), 8);
  std::string text = fmt("0x%08x", *rest);
  if (*type == 128 || *type == 129) text += fmt(" (id %u seq %u)", *rest >> 16, *rest & 0xffff);
  if (*type == 2) text += fmt(" (mtu %u)", *rest);
  o.add("icmp6.rest", text);
  View body = s.subspan(8);
  if (*type < 128 && ip.depth < kMaxNesting) {  // errors quote the packet (RFC 4443 §2.1)
    Out inner = o.nested("icmp6.inner.");
    return decode_ipv6(body, inner, ip.depth + 1);
  }
  if (*type == 135 || *type == 136) {  // neighbour discovery: the target, then options
    auto target = ip6_at(body, 0);
    if (!target) return o.truncated("nd target", body.size(), 16);
    o.add("icmp6.nd_target", ip6_str(*target));
    body = body.subspan(16);
  }
  decode_payload(body, o);
}

// One field per extension header walked: "hop-by-hop 8 bytes 3a00010400000000". A chain
// longer than kMaxExtHeaders is left as payload.
constexpr int kMaxExtHeaders = 8;

std::string ext_text(uint8_t type, View h) {
  std::string text = named(num(type), protocol_name(type)) + fmt(" %zu bytes", h.size());
  if (type == 43) text += fmt(" (routing type %u, segments left %u)", h[2], h[3]);
  if (type == 44) {
    uint16_t field = *u16(h, 2);
    text += fmt(" (offset %u%s, id %u)", field >> 3, field & 1 ? ", MF" : "", *u32(h, 4));
  }
  return text + " " + hex(h);
}

}  // namespace

void decode_ipv6(View b, Out& o, int depth) {
  auto word = u32(b, 0);
  auto payload_len = u16(b, 4);
  auto next = u8(b, 6);
  if (word) {
    unsigned version = *word >> 28;
    o.add("ipv6.version", num(version) + (version != 6 ? " (not 6)" : ""));
    o.add("ipv6.traffic_class", fmt("0x%02x", *word >> 20 & 0xff));
    o.add("ipv6.flow_label", fmt("0x%05x", *word & 0xfffff));
  }
  if (payload_len) o.add("ipv6.payload_length", num(*payload_len) + (*payload_len == 0 ? " (jumbogram?)" : ""));
  if (next) o.add("ipv6.next_header", named(num(*next), protocol_name(*next)));
  if (auto v = u8(b, 7)) o.add("ipv6.hop_limit", num(*v));
  auto src = ip6_at(b, 8), dst = ip6_at(b, 24);
  if (src) o.add("ipv6.src", ip6_str(*src));
  if (dst) o.add("ipv6.dst", ip6_str(*dst));
  if (b.size() < 40) return o.truncated("ipv6 header", b.size(), 40);

  bool cut = size_t{40} + *payload_len > b.size();
  size_t end = cut ? b.size() : 40 + *payload_len;
  View packet = b.first(end);
  size_t at = 40;
  uint8_t proto = *next;
  bool later_fragment = false, fragment = false;
  for (int n = 0; n < kMaxExtHeaders && (proto == 0 || proto == 43 || proto == 60 || proto == 44); ++n) {
    size_t len = proto == 44 ? 8 : 8 * (size_t{u8(packet, at + 1).value_or(0)} + 1);
    if (packet.size() < at + 8 || packet.size() - at < len) {
      o.truncated("ipv6 extension header", packet.size() - std::min(at, packet.size()), len);
      at = packet.size();
      proto = 59;
      break;
    }
    View h = packet.subspan(at, len);
    o.add("ipv6.ext", ext_text(proto, h));
    if (proto == 44) {
      uint16_t field = *u16(h, 2);
      later_fragment = (field >> 3) != 0;
      fragment = true;
    }
    proto = h[0];
    at += len;
    if (later_fragment) break;  // what follows is the middle of another packet's payload
  }
  View body = packet.subspan(at);
  IpContext ip{0, 0, true, *src, *dst, !cut, fragment, depth};
  if (later_fragment) {
    decode_payload(body, o);
  } else if (proto == 6) {
    decode_tcp(body, ip, o);
  } else if (proto == 17) {
    decode_udp(body, ip, o);
  } else if (proto == 58) {
    decode_icmp6(body, ip, o);
  } else if (proto == 41 && depth < kMaxNesting) {
    Out inner = o.nested("ipv6.inner.");
    decode_ipv6(body, inner, depth + 1);
  } else if (proto == 4 && depth < kMaxNesting) {
    Out inner = o.nested("ipv6.inner.");
    decode_ipv4(body, inner, depth + 1);
  } else {
    decode_payload(body, o);
  }
  if (cut) o.truncated("ipv6 payload", b.size() - 40, *payload_len);
  decode_padding(b.subspan(end), o);
}

}  // namespace fulcrum::test::decoder
