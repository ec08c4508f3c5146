// The packet builder: layers are kept as values and encoded only in build(), from the last
// layer to the first, because each header's lengths, next-protocol field and checksum
// depend on what follows it.
#include "tests/rig/packet.h"

#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <utility>

namespace fulcrum::test {
namespace {

[[noreturn]] void die(std::string_view what) {
  std::fprintf(stderr, "fulcrum::test packet builder: %.*s\n", static_cast<int>(what.size()),
               what.data());
  std::abort();
}

// Big-endian appends: every multi-byte field on the wire is in network order.
void put8(Bytes& out, unsigned v) { out.push_back(static_cast<uint8_t>(v)); }
void put16(Bytes& out, unsigned v) {
  put8(out, v >> 8);
  put8(out, v);
}
void put32(Bytes& out, uint32_t v) {
  put16(out, v >> 16);
  put16(out, v & 0xffff);
}
void put(Bytes& out, std::span<const uint8_t> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}
void put(Bytes& out, const Mac& m) { put(out, m.b); }
void set16(Bytes& out, size_t at, uint16_t v) {
  out[at] = static_cast<uint8_t>(v >> 8);
  out[at + 1] = static_cast<uint8_t>(v);
}

uint16_t resolve(const layer::Checksum& rule, uint16_t correct) {
  if (rule.forced) return *rule.forced;
  return rule.bad ? correct ^ 0x0001 : correct;
}

// The ethertype / IP protocol that announces a layer to the one before it.
uint16_t ethertype_of(const layer::Any* next) {
  if (next == nullptr) return 0;
  if (std::holds_alternative<layer::Vlan>(*next)) return 0x8100;
  if (std::holds_alternative<layer::Arp>(*next)) return 0x0806;
  if (std::holds_alternative<layer::Ipv4>(*next)) return 0x0800;
  if (std::holds_alternative<layer::Ipv6>(*next)) return 0x86dd;
  return 0;
}
uint8_t protocol_of(const layer::Any* next) {
  if (next == nullptr) return 0;
  if (std::holds_alternative<layer::Ipv4>(*next)) return 4;
  if (std::holds_alternative<layer::Tcp>(*next)) return 6;
  if (std::holds_alternative<layer::Udp>(*next)) return 17;
  if (std::holds_alternative<layer::Icmp>(*next)) return 1;
  if (std::holds_alternative<layer::Ipv6>(*next)) return 41;
  if (std::holds_alternative<layer::Icmp6>(*next)) return 58;
  if (const auto* ext = std::get_if<layer::Ipv6Ext>(next)) return ext->type;
  return 0;
}

void check_options(const Bytes& options, const char* who) {
  if (options.size() % 4 != 0 || options.size() > 40)
    die(std::string(who) + ": options must be a multiple of 4 bytes, at most 40, got " +
        std::to_string(options.size()));
}

// What encoding one layer needs to know about its surroundings.
struct Context {
  const layer::Any* next;         // the following layer, or nullptr
  const layer::Ipv4* enclosing;   // the closest IP layer before this one, if it is ipv4
  const layer::Ipv6* enclosing6;  // the closest IP layer before this one, if it is ipv6
  std::span<const uint8_t> rest;  // the encoded bytes of every following layer
};

uint16_t length16(size_t n, const char* what) {
  if (n > 0xffff) die(std::string(what) + " longer than 65535 bytes");
  return static_cast<uint16_t>(n);
}

// Header plus rest, summed as two pieces: every header encoded here has an even length.
uint16_t l4_checksum(const Bytes& header, const Context& c, uint8_t proto) {
  uint16_t len = length16(header.size() + c.rest.size(), "l4 segment");
  uint32_t sum = c.enclosing6 != nullptr ? pseudo_header_sum6(c.enclosing6->src, c.enclosing6->dst, proto, len)
                                         : pseudo_header_sum(c.enclosing->src, c.enclosing->dst, proto, len);
  return inet_checksum(c.rest, ~inet_checksum(header, sum) & 0xffff);
}

Bytes encode(const layer::Eth& l, const Context& c) {
  Bytes h;
  put(h, l.dst);
  put(h, l.src);
  put16(h, l.type.value_or(ethertype_of(c.next)));
  return h;
}

Bytes encode(const layer::Vlan& l, const Context& c) {
  Bytes h;
  put16(h, static_cast<unsigned>(l.pcp) << 13 | l.vid);
  put16(h, ethertype_of(c.next));
  return h;
}

Bytes encode(const layer::Arp& l, const Context&) {
  Bytes h;
  put16(h, 1);       // hardware: Ethernet
  put16(h, 0x0800);  // protocol: IPv4
  put8(h, 6);
  put8(h, 4);
  put16(h, l.op);
  put(h, l.sha);
  put32(h, l.spa);
  put(h, l.tha);
  put32(h, l.tpa);
  return h;
}

Bytes encode(const layer::Ipv4& l, const Context& c) {
  size_t header_len = 20 + l.options.size();
  Bytes h;
  put8(h, (l.version.value_or(4) << 4) | (l.ihl.value_or(header_len / 4) & 0x0f));
  put8(h, l.tos);
  put16(h, l.total_length.value_or(length16(header_len + c.rest.size(), "ipv4 packet")));
  put16(h, l.id);
  put16(h, (l.df ? 0x4000u : 0u) | (l.mf ? 0x2000u : 0u) | l.frag_offset);
  put8(h, l.ttl);
  put8(h, l.protocol.value_or(protocol_of(c.next)));
  put16(h, 0);
  put32(h, l.src);
  put32(h, l.dst);
  put(h, l.options);
  set16(h, 10, resolve(l.checksum, inet_checksum(h)));
  return h;
}

Bytes encode(const layer::Tcp& l, const Context& c) {
  size_t header_len = 20 + l.options.size();
  Bytes h;
  put16(h, l.sport);
  put16(h, l.dport);
  put32(h, l.seq);
  put32(h, l.ack);
  put8(h, l.data_offset.value_or(header_len / 4) << 4);
  put8(h, l.flags);
  put16(h, l.window);
  put16(h, 0);
  put16(h, l.urgent);
  put(h, l.options);
  set16(h, 16, resolve(l.checksum, l4_checksum(h, c, 6)));
  return h;
}

Bytes encode(const layer::Udp& l, const Context& c) {
  Bytes h;
  put16(h, l.sport);
  put16(h, l.dport);
  put16(h, length16(8 + c.rest.size(), "udp datagram"));
  put16(h, 0);
  // RFC 768: a computed zero is sent as 0xffff, since 0 means "no checksum"; for the same
  // reason a bad checksum must not come out as 0, which receivers would accept.
  uint16_t correct = l4_checksum(h, c, 17);
  if (correct == 0) correct = 0xffff;
  uint16_t value = resolve(l.checksum, correct);
  if (l.checksum.bad && value == 0) value = correct ^ 0x0002;
  set16(h, 6, value);
  return h;
}

Bytes encode(const layer::Icmp& l, const Context& c) {
  Bytes h;
  put8(h, l.type);
  put8(h, l.code);
  put16(h, 0);
  put32(h, l.rest);
  set16(h, 2, resolve(l.checksum, inet_checksum(c.rest, ~inet_checksum(h) & 0xffff)));
  return h;
}

Bytes encode(const layer::Ipv6& l, const Context& c) {
  Bytes h;
  put32(h, static_cast<uint32_t>(l.version.value_or(6)) << 28 | uint32_t{l.traffic_class} << 20 | l.flow_label);
  put16(h, l.payload_length.value_or(length16(c.rest.size(), "ipv6 payload")));
  put8(h, l.next_header.value_or(protocol_of(c.next)));
  put8(h, l.hop_limit);
  put(h, l.src);
  put(h, l.dst);
  return h;
}

Bytes encode(const layer::Ipv6Ext& l, const Context& c) {
  Bytes h;
  put8(h, l.next_header.value_or(protocol_of(c.next)));
  put(h, l.body);
  return h;
}

Bytes encode(const layer::Icmp6& l, const Context& c) {
  Bytes h;
  put8(h, l.type);
  put8(h, l.code);
  put16(h, 0);
  put32(h, l.rest);
  if (c.enclosing6 == nullptr) die("icmp6() needs an ipv6() layer before it");
  set16(h, 2, resolve(l.checksum, l4_checksum(h, c, 58)));
  return h;
}

Bytes encode(const layer::Raw& l, const Context&) { return l.bytes; }

}  // namespace

// ---- checksums ----

uint16_t inet_checksum(std::span<const uint8_t> bytes, uint32_t partial) {
  uint64_t sum = partial;
  for (size_t i = 0; i + 1 < bytes.size(); i += 2)
    sum += static_cast<uint32_t>(bytes[i] << 8 | bytes[i + 1]);
  if (bytes.size() % 2 != 0) sum += static_cast<uint32_t>(bytes.back() << 8);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}


// ---- builder ----

template <class L>
L& Packet::last(const char* modifier) {
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it)
    if (auto* l = std::get_if<L>(&*it)) return *l;
  const char* kind = std::is_same_v<L, layer::Ipv4>      ? "ipv4"
                     : std::is_same_v<L, layer::Ipv6>    ? "ipv6"
                     : std::is_same_v<L, layer::Ipv6Ext> ? "extension header"
                     : std::is_same_v<L, layer::Tcp>     ? "tcp"
                     : std::is_same_v<L, layer::Udp>     ? "udp"
                     : std::is_same_v<L, layer::Icmp6>   ? "icmp6"
                                                         : "icmp";
  die(std::string(modifier) + "(): there is no " + kind + "() layer before it");
}
// For the IPv6 calls in packet_builder_ipv6.cpp.
template layer::Ipv6& Packet::last<layer::Ipv6>(const char*);
template layer::Ipv6Ext& Packet::last<layer::Ipv6Ext>(const char*);
template layer::Icmp6& Packet::last<layer::Icmp6>(const char*);

// TCP and UDP checksums need an IP layer before them (the pseudo-header).
bool Packet::has_ip_layer() const {
  for (const auto& l : layers_)
    if (std::holds_alternative<layer::Ipv4>(l) || std::holds_alternative<layer::Ipv6>(l)) return true;
  return false;
}

Packet& Packet::eth(Mac src, Mac dst) {
  layers_.emplace_back(layer::Eth{src, dst, {}});
  return *this;
}

Packet& Packet::ethertype(uint16_t type) {
  for (auto& l : layers_)
    if (auto* e = std::get_if<layer::Eth>(&l)) {
      e->type = type;
      return *this;
    }
  die("ethertype() needs an eth() layer");
}

Packet& Packet::vlan(uint16_t vid, uint8_t pcp) {
  if (vid > 0x0fff || pcp > 7) die("vlan(): vid must fit 12 bits and pcp 3 bits");
  layers_.emplace_back(layer::Vlan{vid, pcp});
  return *this;
}

Packet& Packet::arp(uint16_t op, Mac sha, uint32_t spa, Mac tha, uint32_t tpa) {
  layers_.emplace_back(layer::Arp{op, sha, spa, tha, tpa});
  return *this;
}

Packet& Packet::ipv4(uint32_t src, uint32_t dst) {
  layer::Ipv4 l;
  l.src = src;
  l.dst = dst;
  layers_.emplace_back(std::move(l));
  return *this;
}

Packet& Packet::ttl(uint8_t v) {
  last<layer::Ipv4>("ttl").ttl = v;
  return *this;
}
Packet& Packet::ip_id(uint16_t v) {
  last<layer::Ipv4>("ip_id").id = v;
  return *this;
}
Packet& Packet::tos(uint8_t v) {
  last<layer::Ipv4>("tos").tos = v;
  return *this;
}
Packet& Packet::df(bool on) {
  last<layer::Ipv4>("df").df = on;
  return *this;
}
Packet& Packet::mf(bool on) {
  last<layer::Ipv4>("mf").mf = on;
  return *this;
}

Packet& Packet::frag_offset(uint16_t units) {
  if (units > 0x1fff) die("frag_offset(): at most 0x1fff units of 8 bytes");
  last<layer::Ipv4>("frag_offset").frag_offset = units;
  return *this;
}

Packet& Packet::ip_options(Bytes options) {
  check_options(options, "ip_options()");
  last<layer::Ipv4>("ip_options").options = std::move(options);
  return *this;
}

Packet& Packet::ip_protocol(uint8_t proto) {
  last<layer::Ipv4>("ip_protocol").protocol = proto;
  return *this;
}
Packet& Packet::ip_total_length(uint16_t len) {
  last<layer::Ipv4>("ip_total_length").total_length = len;
  return *this;
}

Packet& Packet::ihl(uint8_t v) {
  if (v > 15) die("ihl(): the field has 4 bits");
  last<layer::Ipv4>("ihl").ihl = v;
  return *this;
}

Packet& Packet::ip_version(uint8_t v) {
  if (v > 15) die("ip_version(): the field has 4 bits");
  last<layer::Ipv4>("ip_version").version = v;
  return *this;
}

Packet& Packet::ip_checksum(uint16_t value) {
  last<layer::Ipv4>("ip_checksum").checksum = {value, false};
  return *this;
}

Packet& Packet::bad_ip_checksum() {
  last<layer::Ipv4>("bad_ip_checksum").checksum = {std::nullopt, true};
  return *this;
}

Packet& Packet::tcp(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack) {
  if (!has_ip_layer()) die("tcp(): there is no ipv4() or ipv6() layer before it");
  layer::Tcp l;
  l.sport = sport;
  l.dport = dport;
  l.flags = flags;
  l.seq = seq;
  l.ack = ack;
  layers_.emplace_back(std::move(l));
  return *this;
}

Packet& Packet::window(uint16_t v) {
  last<layer::Tcp>("window").window = v;
  return *this;
}
Packet& Packet::urgent(uint16_t v) {
  last<layer::Tcp>("urgent").urgent = v;
  return *this;
}

Packet& Packet::tcp_options(Bytes options) {
  check_options(options, "tcp_options()");
  last<layer::Tcp>("tcp_options").options = std::move(options);
  return *this;
}

Packet& Packet::data_offset(uint8_t words) {
  if (words > 15) die("data_offset(): the field has 4 bits");
  last<layer::Tcp>("data_offset").data_offset = words;
  return *this;
}

Packet& Packet::tcp_checksum(uint16_t value) {
  last<layer::Tcp>("tcp_checksum").checksum = {value, false};
  return *this;
}

Packet& Packet::bad_tcp_checksum() {
  last<layer::Tcp>("bad_tcp_checksum").checksum = {std::nullopt, true};
  return *this;
}

Packet& Packet::udp(uint16_t sport, uint16_t dport) {
  if (!has_ip_layer()) die("udp(): there is no ipv4() or ipv6() layer before it");
  layers_.emplace_back(layer::Udp{sport, dport, {}});
  return *this;
}

Packet& Packet::udp_checksum(uint16_t value) {
  last<layer::Udp>("udp_checksum").checksum = {value, false};
  return *this;
}

Packet& Packet::bad_udp_checksum() {
  last<layer::Udp>("bad_udp_checksum").checksum = {std::nullopt, true};
  return *this;
}

Packet& Packet::icmp(uint8_t type, uint8_t code, uint32_t rest_of_header) {
  layers_.emplace_back(layer::Icmp{type, code, rest_of_header, {}});
  return *this;
}

Packet& Packet::icmp_echo(bool request, uint16_t id, uint16_t seq) {
  return icmp(request ? 8 : 0, 0, static_cast<uint32_t>(id) << 16 | seq);
}

Packet& Packet::icmp_frag_needed(uint16_t next_hop_mtu) { return icmp(3, 4, next_hop_mtu); }

Packet& Packet::icmp_checksum(uint16_t value) {
  last<layer::Icmp>("icmp_checksum").checksum = {value, false};
  return *this;
}

Packet& Packet::bad_icmp_checksum() {
  last<layer::Icmp>("bad_icmp_checksum").checksum = {std::nullopt, true};
  return *this;
}

Packet& Packet::payload(Bytes bytes) {
  layers_.emplace_back(layer::Raw{std::move(bytes)});
  return *this;
}

Packet& Packet::payload(std::string_view text) { return payload(Bytes(text.begin(), text.end())); }

Packet& Packet::embed(const Packet& inner, size_t max_bytes) {
  Bytes bytes = inner.ip_bytes();
  if (bytes.size() > max_bytes) bytes.resize(max_bytes);
  return payload(std::move(bytes));
}

Packet& Packet::pad_to(size_t frame_len) {
  pad_to_ = frame_len;
  return *this;
}

Bytes Packet::serialize(size_t first_layer) const {
  Bytes tail;
  for (size_t k = layers_.size(); k-- > first_layer;) {
    const layer::Ipv4* enclosing = nullptr;
    const layer::Ipv6* enclosing6 = nullptr;
    for (size_t j = k; j-- > 0;) {
      enclosing = std::get_if<layer::Ipv4>(&layers_[j]);
      enclosing6 = std::get_if<layer::Ipv6>(&layers_[j]);
      if (enclosing != nullptr || enclosing6 != nullptr) break;
    }
    Context c{k + 1 < layers_.size() ? &layers_[k + 1] : nullptr, enclosing, enclosing6, tail};
    Bytes h = std::visit([&](const auto& l) { return encode(l, c); }, layers_[k]);
    put(h, tail);
    tail = std::move(h);
  }
  return tail;
}

Bytes Packet::build() const {
  Bytes frame = serialize(0);
  if (frame.size() < pad_to_) frame.resize(pad_to_, 0);
  return frame;
}

Bytes Packet::ip_bytes() const {
  for (size_t k = 0; k < layers_.size(); ++k)
    if (std::holds_alternative<layer::Ipv4>(layers_[k]) || std::holds_alternative<layer::Ipv6>(layers_[k]))
      return serialize(k);
  die("ip_bytes()/embed(): the packet has no ipv4 or ipv6 layer");
}

Bytes truncate(Bytes frame, size_t len) {
  if (frame.size() > len) frame.resize(len);
  return frame;
}

}  // namespace fulcrum::test
