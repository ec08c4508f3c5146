// The packet decoder: any byte string to named fields, for fixture failure messages and for
// tests that assert on one field.
//
// Why so tolerant: its input is whatever the load balancer under test produced, which may
// be exactly the malformed packet a fixture exists to catch. Every read goes through the
// optional-returning readers below, so a short buffer yields fewer fields and a "truncated"
// note, never an out-of-bounds read. Checksums are judged the way receivers judge them
// (the sum over the covered bytes, checksum included, must be all ones), and the decoder
// recomputes them itself so that it stays an oracle independent of the code under test.
#include "tests/rig/packet.h"
#include "tests/rig/packet_decoder_parts.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <optional>

namespace fulcrum::test {
namespace decoder {

constexpr size_t kPayloadShown = 64;

std::optional<Mac> mac_at(View b, size_t at) {
  if (b.size() < 6 || at > b.size() - 6) return std::nullopt;
  Mac m;
  std::copy_n(b.begin() + static_cast<std::ptrdiff_t>(at), 6, m.b.begin());
  return m;
}

__attribute__((format(printf, 1, 2))) std::string fmt(const char* format, ...) {
  va_list args, again;
  va_start(args, format);
  va_copy(again, args);
  std::string text(static_cast<size_t>(std::max(std::vsnprintf(nullptr, 0, format, args), 0)),
                   '\0');
  std::vsnprintf(text.data(), text.size() + 1, format, again);
  va_end(again);
  va_end(args);
  return text;
}

std::string hex(View b) {
  std::string s;
  for (uint8_t byte : b) s += fmt("%02x", byte);
  return s;
}
std::string hex16(uint16_t v) { return fmt("0x%04x", v); }
std::string num(uint64_t v) { return std::to_string(v); }

std::string named(std::string value, const char* name) {
  return name == nullptr ? value : value + " " + name;
}

const char* ethertype_name(uint16_t t) {
  switch (t) {
    case 0x0800:
      return "ipv4";
    case 0x0806:
      return "arp";
    case 0x8100:
      return "vlan";
    case 0x86dd:
      return "ipv6";
    case 0x88a8:
      return "qinq";
    default:
      return nullptr;
  }
}

const char* protocol_name(uint8_t p) {
  switch (p) {
    case 1:
      return "icmp";
    case 4:
      return "ipip";
    case 6:
      return "tcp";
    case 17:
      return "udp";
    case 41:
      return "ipv6";
    case 0:
      return "hop-by-hop";
    case 43:
      return "routing";
    case 44:
      return "fragment";
    case 50:
      return "esp";
    case 51:
      return "ah";
    case 58:
      return "icmp6";
    case 59:
      return "no-next-header";
    case 60:
      return "dest-options";
    case 47:
      return "gre";
    default:
      return nullptr;
  }
}

const char* icmp_type_name(uint8_t t) {
  switch (t) {
    case 0:
      return "echo-reply";
    case 3:
      return "dest-unreachable";
    case 4:
      return "source-quench";
    case 5:
      return "redirect";
    case 8:
      return "echo-request";
    case 11:
      return "time-exceeded";
    case 12:
      return "parameter-problem";
    default:
      return nullptr;
  }
}

bool is_icmp_error(uint8_t type) {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

// `covered` holds the checksum at `field_at`; `partial` is the pseudo-header sum, if any.
std::string checksum_text(View covered, size_t field_at, uint32_t partial) {
  uint16_t stored = *u16(covered, field_at);
  if (inet_checksum(covered, partial) == 0) return hex16(stored) + " (ok)";
  Bytes zeroed(covered.begin(), covered.end());
  zeroed[field_at] = zeroed[field_at + 1] = 0;
  return hex16(stored) + " (bad, want " + hex16(inet_checksum(zeroed, partial)) + ")";
}

void decode_payload(View p, Out& o) {
  if (p.empty()) return;
  o.add("payload.length", num(p.size()));
  std::string shown = hex(p.first(std::min(p.size(), kPayloadShown)));
  if (p.size() > kPayloadShown) shown += fmt("... (%zu more bytes)", p.size() - kPayloadShown);
  o.add("payload", shown);
}

// Bytes after the end of a packet: Ethernet padding, normally zero.
void decode_padding(View p, Out& o) {
  if (p.empty()) return;
  o.add("padding.length", num(p.size()));
  if (std::any_of(p.begin(), p.end(), [](uint8_t b) { return b != 0; }))
    o.add("padding", hex(p.first(std::min(p.size(), kPayloadShown))));
}

std::string l4_checksum_text(View seg, size_t field_at, uint8_t proto, const IpContext& ip) {
  std::string stored = hex16(*u16(seg, field_at));
  if (!ip.whole) return stored + " (unverifiable: truncated)";
  if (ip.fragment) return stored + " (unverifiable: fragment)";
  if (ip.v6) return checksum_text(seg, field_at, pseudo_header_sum6(ip.src6, ip.dst6, proto, static_cast<uint32_t>(seg.size())));
  auto len = static_cast<uint16_t>(seg.size());
  return checksum_text(seg, field_at, pseudo_header_sum(ip.src, ip.dst, proto, len));
}

std::string tcp_flags_text(uint8_t flags, uint8_t low_nibble_of_offset_byte) {
  static constexpr const char* kNames[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
  std::string s;
  auto append = [&](const std::string& name) { s += (s.empty() ? "" : "|") + name; };
  for (int bit = 0; bit < 8; ++bit)
    if (flags & (1u << bit)) append(kNames[bit]);
  if (low_nibble_of_offset_byte & 0x01) append("NS");
  if (low_nibble_of_offset_byte & 0x0e) append(fmt("RES(0x%x)", low_nibble_of_offset_byte & 0x0e));
  return s.empty() ? "-" : s;
}

// Hex, then the options spelled out: "020405b4 (mss=1460)".
std::string tcp_options_text(View opt) {
  std::string parts;
  auto part = [&](const std::string& p) { parts += (parts.empty() ? "" : " ") + p; };
  for (size_t i = 0; i < opt.size();) {
    uint8_t kind = opt[i];
    if (kind == 0) {
      part("eol");
      break;
    }
    if (kind == 1) {
      part("nop");
      ++i;
      continue;
    }
    auto len = u8(opt, i + 1);
    if (!len || *len < 2 || *len > opt.size() - i) {
      part("malformed");
      break;
    }
    View body = opt.subspan(i + 2, *len - 2u);
    if (kind == 2 && body.size() == 2)
      part("mss=" + num(*u16(body, 0)));
    else if (kind == 3 && body.size() == 1)
      part("wscale=" + num(body[0]));
    else if (kind == 4 && body.empty())
      part("sack_ok");
    else if (kind == 5)
      part("sack");
    else if (kind == 8 && body.size() == 8)
      part(fmt("ts=%u/%u", *u32(body, 0), *u32(body, 4)));
    else
      part("kind" + num(kind));
    i += *len;
  }
  return hex(opt) + " (" + parts + ")";
}


void decode_tcp(View s, const IpContext& ip, Out& o) {
  if (auto v = u16(s, 0)) o.add("tcp.sport", num(*v));
  if (auto v = u16(s, 2)) o.add("tcp.dport", num(*v));
  if (auto v = u32(s, 4)) o.add("tcp.seq", num(*v));
  if (auto v = u32(s, 8)) o.add("tcp.ack", num(*v));
  auto offset_byte = u8(s, 12);
  unsigned words = offset_byte ? *offset_byte >> 4 : 5;
  if (offset_byte) o.add("tcp.data_offset", num(words) + (words < 5 ? " (invalid, < 5)" : ""));
  if (auto v = u8(s, 13)) o.add("tcp.flags", tcp_flags_text(*v, *offset_byte & 0x0f));
  if (auto v = u16(s, 14)) o.add("tcp.window", num(*v));
  if (u16(s, 16)) o.add("tcp.checksum", l4_checksum_text(s, 16, 6, ip));
  if (auto v = u16(s, 18)) o.add("tcp.urgent", num(*v));
  if (s.size() < 20) return o.truncated("tcp header", s.size(), 20);
  size_t header_len = std::max(words, 5u) * 4;
  if (s.size() < header_len) return o.truncated("tcp options", s.size() - 20, header_len - 20);
  if (header_len > 20) o.add("tcp.options", tcp_options_text(s.subspan(20, header_len - 20)));
  decode_payload(s.subspan(header_len), o);
}

void decode_udp(View s, const IpContext& ip, Out& o) {
  if (auto v = u16(s, 0)) o.add("udp.sport", num(*v));
  if (auto v = u16(s, 2)) o.add("udp.dport", num(*v));
  auto length = u16(s, 4);
  bool length_ok = length && *length >= 8 && *length <= s.size();
  if (length) {
    std::string note = *length < 8                       ? " (invalid, < 8)"
                       : *length != s.size() && ip.whole ? fmt(" (ip payload is %zu)", s.size())
                                                         : "";
    o.add("udp.length", num(*length) + note);
  }
  if (auto v = u16(s, 6)) {
    if (*v == 0)
      o.add("udp.checksum", "0x0000 (none)");
    else if (ip.whole && !ip.fragment && !length_ok)
      o.add("udp.checksum", hex16(*v) + " (unverifiable: bad length)");
    else
      o.add("udp.checksum", l4_checksum_text(length_ok ? s.first(*length) : s, 6, 17, ip));
  }
  if (s.size() < 8) return o.truncated("udp header", s.size(), 8);
  decode_payload(s.subspan(8, (length_ok ? *length : s.size()) - 8), o);
}

void decode_icmp(View s, const IpContext& ip, Out& o) {
  auto type = u8(s, 0);
  if (type) o.add("icmp.type", named(num(*type), icmp_type_name(*type)));
  auto code = u8(s, 1);
  if (code) o.add("icmp.code", num(*code) + (*type == 3 && *code == 4 ? " frag-needed" : ""));
  if (auto v = u16(s, 2)) {
    std::string stored = hex16(*v);
    if (!ip.whole)
      o.add("icmp.checksum", stored + " (unverifiable: truncated)");
    else if (ip.fragment)
      o.add("icmp.checksum", stored + " (unverifiable: fragment)");
    else
      o.add("icmp.checksum", checksum_text(s, 2, 0));
  }
  auto rest = u32(s, 4);
  if (!rest) return o.truncated("icmp header", s.size(), 8);
  std::string text = fmt("0x%08x", *rest);
  if (*type == 0 || *type == 8) text += fmt(" (id %u seq %u)", *rest >> 16, *rest & 0xffff);
  if (*type == 3 && *code == 4) text += fmt(" (mtu %u)", *rest & 0xffff);
  o.add("icmp.rest", text);
  if (is_icmp_error(*type) && ip.depth < kMaxNesting) {
    Out inner = o.nested("icmp.inner.");
    decode_ipv4(s.subspan(8), inner, ip.depth + 1);
  } else {
    decode_payload(s.subspan(8), o);
  }
}

std::string ipv4_flags_text(uint16_t flags_and_offset) {
  std::string s;
  if (flags_and_offset & 0x8000) s = "RES";
  if (flags_and_offset & 0x4000) s += s.empty() ? "DF" : "|DF";
  if (flags_and_offset & 0x2000) s += s.empty() ? "MF" : "|MF";
  return s.empty() ? "-" : s;
}

void decode_ipv4(View b, Out& o, int depth) {
  auto first = u8(b, 0);
  unsigned version = first ? *first >> 4 : 4, ihl = first ? *first & 0x0f : 5;
  size_t header_len = std::max(ihl, 5u) * 4;
  auto total = u16(b, 2);
  auto frag = u16(b, 6);
  auto proto = u8(b, 9);
  if (first) {
    o.add("ipv4.version", num(version) + (version != 4 ? " (not 4)" : ""));
    o.add("ipv4.ihl", num(ihl) + (ihl < 5 ? " (invalid, < 5)" : ""));
  }
  if (auto v = u8(b, 1)) o.add("ipv4.tos", fmt("0x%02x", *v));
  if (total)
    o.add("ipv4.total_length",
          num(*total) + (*total < header_len ? " (invalid, < header length)" : ""));
  if (auto v = u16(b, 4)) o.add("ipv4.id", num(*v));
  if (frag) {
    o.add("ipv4.flags", ipv4_flags_text(*frag));
    o.add("ipv4.frag_offset", num(*frag & 0x1fff));
  }
  if (auto v = u8(b, 8)) o.add("ipv4.ttl", num(*v));
  if (proto) o.add("ipv4.protocol", named(num(*proto), protocol_name(*proto)));
  if (auto v = u16(b, 10))
    o.add("ipv4.checksum", b.size() >= header_len ? checksum_text(b.first(header_len), 10, 0)
                                                  : hex16(*v) + " (unverifiable: truncated)");
  auto src = u32(b, 12), dst = u32(b, 16);
  if (src) o.add("ipv4.src", ip_str(*src));
  if (dst) o.add("ipv4.dst", ip_str(*dst));
  if (b.size() < 20) return o.truncated("ipv4 header", b.size(), 20);
  if (b.size() < header_len) return o.truncated("ipv4 options", b.size() - 20, header_len - 20);
  if (header_len > 20) o.add("ipv4.options", hex(b.subspan(20, header_len - 20)));

  // The packet ends at total length, unless that is impossible or past the frame's end.
  bool total_ok = *total >= header_len;
  bool cut = total_ok && *total > b.size();
  size_t end = total_ok && !cut ? *total : b.size();
  View body = b.subspan(header_len, end - header_len);
  IpContext ip{*src, *dst, false, {}, {}, !cut, (*frag & 0x2000) != 0, depth};
  if ((*frag & 0x1fff) != 0) {
    decode_payload(body, o);  // a later fragment: no transport header in it
  } else if (*proto == 6) {
    decode_tcp(body, ip, o);
  } else if (*proto == 17) {
    decode_udp(body, ip, o);
  } else if (*proto == 1) {
    decode_icmp(body, ip, o);
  } else if (*proto == 4 && depth < kMaxNesting) {
    Out inner = o.nested("ipv4.inner.");
    decode_ipv4(body, inner, depth + 1);
  } else if (*proto == 41 && depth < kMaxNesting) {
    Out inner = o.nested("ipv4.inner.");
    decode_ipv6(body, inner, depth + 1);
  } else {
    decode_payload(body, o);
  }
  if (cut) o.truncated("ipv4 payload", b.size() - header_len, *total - header_len);
  decode_padding(b.subspan(end), o);
}

void decode_arp(View b, Out& o) {
  auto htype = u16(b, 0), ptype = u16(b, 2);
  auto hlen = u8(b, 4), plen = u8(b, 5);
  if (!plen) return o.truncated("arp header", b.size(), 28);
  if (*htype != 1 || *ptype != 0x0800 || *hlen != 6 || *plen != 4) {
    o.add("arp.format", fmt("htype %u ptype 0x%04x hlen %u plen %u (not Ethernet/IPv4)", *htype,
                            *ptype, *hlen, *plen));
    return decode_payload(b.subspan(6), o);
  }
  if (auto v = u16(b, 6))
    o.add("arp.op", named(num(*v), *v == 1 ? "request" : *v == 2 ? "reply" : nullptr));
  if (auto v = mac_at(b, 8)) o.add("arp.sha", v->str());
  if (auto v = u32(b, 14)) o.add("arp.spa", ip_str(*v));
  if (auto v = mac_at(b, 18)) o.add("arp.tha", v->str());
  if (auto v = u32(b, 24)) o.add("arp.tpa", ip_str(*v));
  if (b.size() < 28) return o.truncated("arp header", b.size(), 28);
  decode_padding(b.subspan(28), o);
}

void decode_ethernet(View f, Out& o) {
  if (auto v = mac_at(f, 0)) o.add("eth.dst", v->str());
  if (auto v = mac_at(f, 6)) o.add("eth.src", v->str());
  auto type = u16(f, 12);
  if (!type) return o.truncated("eth header", f.size(), 14);
  size_t at = 14;
  for (int tags = 0; (*type == 0x8100 || *type == 0x88a8) && tags < kMaxNesting; ++tags, at += 4) {
    o.add("vlan.tpid", hex16(*type));
    auto tci = u16(f, at);
    if (tci) {
      o.add("vlan.pcp", num(*tci >> 13));
      o.add("vlan.dei", num(*tci >> 12 & 1));
      o.add("vlan.vid", num(*tci & 0x0fff));
    }
    type = u16(f, at + 2);
    if (!type) return o.truncated("vlan tag", f.size() - at, 4);
  }
  o.add("eth.type", named(hex16(*type), ethertype_name(*type)));
  View rest = f.subspan(at);  // at <= size: the ethertype before it was read
  if (*type == 0x0800)
    decode_ipv4(rest, o, 0);
  else if (*type == 0x86dd)
    decode_ipv6(rest, o, 0);
  else if (*type == 0x0806)
    decode_arp(rest, o);
  else
    decode_payload(rest, o);
}

}  // namespace decoder

using namespace decoder;

std::vector<Field> decode(std::span<const uint8_t> frame) {
  std::vector<Field> fields;
  Out o(fields, "");
  o.add("frame.length", num(frame.size()));
  decode_ethernet(frame, o);
  return fields;
}

std::string describe(std::span<const uint8_t> frame) {
  std::string text;
  for (const Field& f : decode(frame)) text += f.name + ": " + f.value + "\n";
  return text;
}

}  // namespace fulcrum::test
