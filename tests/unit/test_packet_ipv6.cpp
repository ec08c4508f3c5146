// The rig's IPv6 vocabulary (issue 15): builder calls for the IPv6 header, extension headers
// and ICMPv6, and the decoder's reading of them, which later golden fixtures compare IPv6
// output packets with.
//
// As in test_packet_builder.cpp, the reference frames were generated once with scapy 2.5.0
// (generator above each), so the IPv6 pseudo-header checksums (RFC 8200 §8.1) are checked
// against an independent implementation without scapy at run time.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/rig/packet.h"

namespace fulcrum::test {
namespace {

const Mac kA = mac("02:00:00:00:00:01");
const Mac kB = mac("02:00:00:00:00:02");
constexpr const char* kClient = "2001:db8:1::2";
constexpr const char* kVip = "2001:db8::10";

Bytes from_hex(std::string_view hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

std::vector<std::string> values(std::span<const uint8_t> frame, std::string_view name) {
  std::vector<std::string> out;
  for (const Field& f : decode(frame))
    if (f.name == name) out.push_back(f.value);
  return out;
}
std::string field(std::span<const uint8_t> frame, std::string_view name) {
  auto all = values(frame, name);
  return all.empty() ? "(absent)" : all.front();
}

Packet client_to_vip() { return Packet().eth(kA, kB).ipv6(kClient, kVip); }

// ---------------------------------------------------------------- reference bytes (scapy)

// Ether(src=A,dst=B)/IPv6(src=C,dst=V,hlim=64)/
//   TCP(sport=40000,dport=80,flags="S",seq=1000,window=65535,options=[("MSS",1440)])
constexpr std::string_view kSyn6 =
    "02000000000202000000000186dd600000000018064020010db8000100000000000000000002"
    "20010db80000000000000000000000109c400050000003e8000000006002ffff9c3d0000020405a0";

// ... IPv6(src=C,dst=V,tc=0xb8,fl=0x12345,hlim=255)/ICMPv6EchoRequest(id=0x1234,seq=7,data=b"ping!")
constexpr std::string_view kEcho6 =
    "02000000000202000000000186dd6b812345000d3aff20010db8000100000000000000000002"
    "20010db8000000000000000000000010800012271234000770696e6721";

// ... IPv6(src=C,dst=V)/IPv6ExtHdrHopByHop()/IPv6ExtHdrDestOpt()/
//   IPv6ExtHdrRouting(addresses=[V],segleft=0)/
//   TCP(sport=40000,dport=443,flags="PA",seq=7,ack=9,window=502)/b"GET /"
constexpr std::string_view kExtChain6 =
    "02000000000202000000000186dd600000000041004020010db8000100000000000000000002"
    "20010db80000000000000000000000103c000104000000002b00010400000000060200000000"
    "000020010db80000000000000000000000109c4001bb0000000700000009501801f6e9db0000"
    "474554202f";

// ... IPv6(src=C,dst=V)/IPv6ExtHdrFragment(offset=0,m=1,id=0xabcdef01)/UDP(sport=5353,dport=53)/b"hello"
constexpr std::string_view kFragment6 =
    "02000000000202000000000186dd6000000000152c4020010db8000100000000000000000002"
    "20010db800000000000000000000001011000001abcdef0114e90035000d4b5f68656c6c6f";

// Ether(src=A,dst="33:33:ff:00:00:10")/IPv6(src="::",dst="ff02::1:ff00:10",hlim=255)/
//   ICMPv6ND_NS(tgt=V)
constexpr std::string_view kDadProbe =
    "3333ff00001002000000000186dd6000000000183aff00000000000000000000000000000000"
    "ff0200000000000000000001ff00001087004ccf0000000020010db8000000000000000000000010";

// Ether(src=B,dst=A)/IPv6(src="2001:db8::1",dst=C)/ICMPv6PacketTooBig(mtu=1280)/
//   raw(IPv6(src=C,dst=V)/TCP(sport=40000,dport=80,flags="A",seq=5000,ack=6000,window=65535)/
//       (b"z"*1400))[:48]
constexpr std::string_view kPacketTooBig =
    "02000000000102000000000286dd6000000000383a4020010db8000000000000000000000001"
    "20010db8000100000000000000000002020025ad0000050060000000058c064020010db80001"
    "0000000000000000000220010db80000000000000000000000109c40005000001388";

// Ether(src=A,dst=B)/Dot1Q(vlan=100,prio=3)/IPv6(src=C,dst=V)/UDP(sport=546,dport=547)/b"x"
constexpr std::string_view kVlanUdp6 =
    "0200000000020200000000018100606486dd600000000009114020010db80001000000000000"
    "0000000220010db8000000000000000000000010022202230009281278";

TEST(Packet6Reference, TcpSynWithMss) {
  EXPECT_TRUE(SamePacket(from_hex(kSyn6), client_to_vip().tcp(40000, 80, tcpflag::SYN, 1000)
                                              .tcp_options({2, 4, 5, 0xa0}).build()));
}

TEST(Packet6Reference, EchoRequestWithTrafficClassAndFlowLabel) {
  Bytes built = client_to_vip().traffic_class(0xb8).flow_label(0x12345).hop_limit(255)
                    .icmp6_echo(true, 0x1234, 7).payload("ping!").build();
  EXPECT_TRUE(SamePacket(from_hex(kEcho6), built));
}

TEST(Packet6Reference, ExtensionHeaderChainWithTcp) {
  Bytes built = client_to_vip().hop_by_hop().dest_options().routing(0, 0, {kVip})
                    .tcp(40000, 443, tcpflag::PSH | tcpflag::ACK, 7, 9).window(502).payload("GET /").build();
  EXPECT_TRUE(SamePacket(from_hex(kExtChain6), built));
}

TEST(Packet6Reference, FragmentHeaderWithUdp) {
  EXPECT_TRUE(SamePacket(from_hex(kFragment6),
                         client_to_vip().fragment(0, true, 0xabcdef01).udp(5353, 53).payload("hello").build()));
}

TEST(Packet6Reference, DuplicateAddressDetectionProbe) {
  Ip6 target = ip6(kVip);
  Bytes built = Packet().eth(kA, mac("33:33:ff:00:00:10")).ipv6("::", "ff02::1:ff00:10").hop_limit(255)
                    .icmp6(135, 0).payload(Bytes(target.begin(), target.end())).build();
  EXPECT_TRUE(SamePacket(from_hex(kDadProbe), built));
}

TEST(Packet6Reference, PacketTooBigEmbeddingTcp) {
  Packet inner = Packet().ipv6(kClient, kVip).tcp(40000, 80, tcpflag::ACK, 5000, 6000)
                     .payload(std::string(1400, 'z'));
  Bytes built = Packet().eth(kB, kA).ipv6("2001:db8::1", kClient).icmp6(2, 0, 1280).embed(inner, 48).build();
  EXPECT_TRUE(SamePacket(from_hex(kPacketTooBig), built));
}

TEST(Packet6Reference, VlanTaggedUdp) {
  EXPECT_TRUE(SamePacket(from_hex(kVlanUdp6), Packet().eth(kA, kB).vlan(100, 3).ipv6(kClient, kVip)
                                                  .udp(546, 547).payload("x").build()));
}

TEST(Packet6Reference, ReferenceFramesDecodeWithEveryChecksumOk) {
  for (auto hex : {kSyn6, kEcho6, kExtChain6, kDadProbe, kPacketTooBig, kVlanUdp6}) {
    int checked = 0;
    for (const Field& f : decode(from_hex(hex))) {
      if (f.name.ends_with(".checksum") && !f.name.starts_with("icmp6.inner.")) {
        EXPECT_TRUE(f.value.ends_with("(ok)")) << f.name << ": " << f.value << " in " << hex;
        ++checked;
      }
    }
    EXPECT_EQ(checked, 1) << hex;
  }
  EXPECT_EQ(field(from_hex(kFragment6), "udp.checksum"), "0x4b5f (unverifiable: fragment)");
}

// ---------------------------------------------------------------- addresses and overrides

TEST(Packet6Addresses, ParseAndPrintRoundTrip) {
  EXPECT_EQ(ip6_str(ip6("2001:DB8:0:0:0:0:0:1")), "2001:db8::1");
  EXPECT_EQ(ip6_str(ip6("::")), "::");
  EXPECT_EQ(ip6_str(ip6("::ffff:198.18.0.1")), "::ffff:198.18.0.1");
  EXPECT_EQ(ip6("fe80::1")[0], 0xfe);
  EXPECT_EQ(ip6("fe80::1")[15], 0x01);
}

TEST(Packet6AddressesDeathTest, BadTextAbortsWithMessage) {
  EXPECT_DEATH(ip6("198.18.0.1"), "bad IPv6 address");
  EXPECT_DEATH(ip6("2001:db8::1::2"), "bad IPv6 address");
  EXPECT_DEATH(ip6(""), "bad IPv6 address");
}

TEST(Packet6Overrides, ForcedFieldsAppearVerbatim) {
  Bytes b = client_to_vip().ip6_version(4).ip6_payload_length(999).ip6_next_header(250).payload("x").build();
  EXPECT_EQ(b[14] >> 4, 4);
  EXPECT_EQ(b[18] << 8 | b[19], 999);
  EXPECT_EQ(b[20], 250);
  EXPECT_EQ(field(b, "ipv6.version"), "4 (not 6)");
  EXPECT_EQ(field(b, "ipv6.payload_length"), "999");
  EXPECT_EQ(values(b, "truncated"), std::vector<std::string>{"ipv6 payload: 1 of 999 bytes"});
  EXPECT_EQ(field(client_to_vip().ip6_payload_length(0).build(), "ipv6.payload_length"), "0 (jumbogram?)");
  // An extension header's next header forced, and one written as raw bytes.
  Bytes e = client_to_vip().hop_by_hop().ext_next_header(59).payload("junk").build();
  EXPECT_EQ(e[54], 59);
  EXPECT_EQ(field(e, "ipv6.ext"), "0 hop-by-hop 8 bytes 3b00010400000000");
  EXPECT_EQ(field(e, "payload"), "6a756e6b");
  Bytes r = client_to_vip().ipv6_ext(60, {1, 1, 4}).build();
  EXPECT_EQ(values(r, "truncated"), std::vector<std::string>{"ipv6 extension header: 4 of 16 bytes"});
}

TEST(Packet6Overrides, OptionsArePaddedToEightBytes) {
  // 2 + n option bytes: Pad1 for one byte short, PadN otherwise.
  EXPECT_EQ(client_to_vip().dest_options(Bytes(5, 0xaa)).build().size(), 54u + 8);
  EXPECT_EQ(client_to_vip().dest_options(Bytes(5, 0xaa)).build()[54 + 7], 0);  // Pad1
  Bytes padn = client_to_vip().hop_by_hop(Bytes{5, 2, 0, 0}).build();
  EXPECT_EQ(Bytes(padn.begin() + 54, padn.end()), (Bytes{0, 0, 5, 2, 0, 0, 1, 0}));
  EXPECT_EQ(client_to_vip().hop_by_hop(Bytes(7, 0xbb)).build().size(), 54u + 16);
}

TEST(Packet6Overrides, BadIcmp6ChecksumIsCorrectValueXorOne) {
  Bytes good = client_to_vip().icmp6_echo(true, 1, 1).build();
  Bytes bad = client_to_vip().icmp6_echo(true, 1, 1).bad_icmp6_checksum().build();
  EXPECT_EQ((good[56] << 8 | good[57]) ^ 1, bad[56] << 8 | bad[57]);
  EXPECT_TRUE(field(bad, "icmp6.checksum").find("(bad, want") != std::string::npos) << field(bad, "icmp6.checksum");
  EXPECT_EQ(field(client_to_vip().icmp6_echo(true, 1, 1).icmp6_checksum(0xbeef).build(), "icmp6.checksum"),
            "0xbeef (bad, want " + field(good, "icmp6.checksum").substr(0, 6) + ")");
}

TEST(Packet6BuilderDeathTest, MisuseAbortsWithMessage) {
  EXPECT_DEATH(Packet().eth(kA, kB).hop_limit(1), "hop_limit\\(\\): there is no ipv6\\(\\) layer");
  EXPECT_DEATH(Packet().eth(kA, kB).icmp6(128, 0), "icmp6\\(\\): there is no ipv6\\(\\) layer");
  EXPECT_DEATH(client_to_vip().ext_next_header(6), "there is no extension header\\(\\) layer");
  EXPECT_DEATH(client_to_vip().flow_label(0x100000), "20 bits");
  EXPECT_DEATH(Packet().eth(kA, kB).ipv4(1, 2).icmp6(1, 0), "no ipv6");
}

// ---------------------------------------------------------------- decoder

TEST(Packet6Decode, DescribesEveryFieldOfAnExtensionChain) {
  EXPECT_EQ(describe(from_hex(kExtChain6)),
            "frame.length: 119\n"
            "eth.dst: 02:00:00:00:00:02\n"
            "eth.src: 02:00:00:00:00:01\n"
            "eth.type: 0x86dd ipv6\n"
            "ipv6.version: 6\n"
            "ipv6.traffic_class: 0x00\n"
            "ipv6.flow_label: 0x00000\n"
            "ipv6.payload_length: 65\n"
            "ipv6.next_header: 0 hop-by-hop\n"
            "ipv6.hop_limit: 64\n"
            "ipv6.src: 2001:db8:1::2\n"
            "ipv6.dst: 2001:db8::10\n"
            "ipv6.ext: 0 hop-by-hop 8 bytes 3c00010400000000\n"
            "ipv6.ext: 60 dest-options 8 bytes 2b00010400000000\n"
            "ipv6.ext: 43 routing 24 bytes (routing type 0, segments left 0) "
            "060200000000000020010db8000000000000000000000010\n"
            "tcp.sport: 40000\n"
            "tcp.dport: 443\n"
            "tcp.seq: 7\n"
            "tcp.ack: 9\n"
            "tcp.data_offset: 5\n"
            "tcp.flags: PSH|ACK\n"
            "tcp.window: 502\n"
            "tcp.checksum: 0xe9db (ok)\n"
            "tcp.urgent: 0\n"
            "payload.length: 5\n"
            "payload: 474554202f\n");
}

TEST(Packet6Decode, IcmpErrorsNeighbourDiscoveryAndFragments) {
  Bytes ptb = from_hex(kPacketTooBig);
  EXPECT_EQ(field(ptb, "icmp6.type"), "2 packet-too-big");
  EXPECT_EQ(field(ptb, "icmp6.rest"), "0x00000500 (mtu 1280)");
  EXPECT_EQ(field(ptb, "icmp6.inner.ipv6.src"), kClient);
  EXPECT_EQ(field(ptb, "icmp6.inner.tcp.dport"), "80");
  EXPECT_EQ(field(ptb, "icmp6.inner.tcp.seq"), "5000");
  Bytes dad = from_hex(kDadProbe);
  EXPECT_EQ(field(dad, "icmp6.type"), "135 neighbor-solicitation");
  EXPECT_EQ(field(dad, "icmp6.nd_target"), kVip);
  EXPECT_EQ(field(dad, "ipv6.src"), "::");
  EXPECT_EQ(field(from_hex(kFragment6), "ipv6.ext"), "44 fragment 8 bytes (offset 0, MF, id 2882400001) 11000001abcdef01");
  Bytes later = client_to_vip().fragment(3, false, 1).payload("rest").build();
  EXPECT_EQ(field(later, "payload"), "72657374") << describe(later);
  EXPECT_EQ(field(later, "udp.sport"), "(absent)");
  EXPECT_EQ(field(from_hex(kEcho6), "icmp6.rest"), "0x12340007 (id 4660 seq 7)");
}

TEST(Packet6Decode, PaddingAndTruncationAtEveryLength) {
  Bytes padded = client_to_vip().icmp6_echo(true, 1, 1).pad_to(70).build();
  EXPECT_EQ(field(padded, "padding.length"), "8");
  EXPECT_EQ(field(padded, "icmp6.checksum").substr(7), "(ok)");
  Bytes frame = from_hex(kExtChain6);
  for (size_t len = 0; len < frame.size(); ++len) {
    Bytes cut = truncate(frame, len);
    EXPECT_FALSE(values(cut, "truncated").empty()) << "at " << len;
    std::string sum = field(cut, "tcp.checksum");
    EXPECT_TRUE(sum == "(absent)" || sum.ends_with("(unverifiable: truncated)")) << len << ": " << sum;
  }
  EXPECT_EQ(values(truncate(frame, 30), "truncated"), std::vector<std::string>{"ipv6 header: 16 of 40 bytes"});
  EXPECT_EQ(values(truncate(frame, 60), "truncated"),
            (std::vector<std::string>{"ipv6 extension header: 6 of 8 bytes", "ipv6 payload: 6 of 65 bytes"}));
}

TEST(Packet6Decode, DiffNamesTheIpv6Field) {
  Bytes want = client_to_vip().tcp(1, 2, tcpflag::SYN).build();
  Bytes got = Packet().eth(kA, kB).ipv6(kClient, "2001:db8::11").tcp(1, 2, tcpflag::SYN).build();
  std::string d = diff(want, got);
  EXPECT_NE(d.find("ipv6.dst: expected 2001:db8::10, got 2001:db8::11"), std::string::npos) << d;
  EXPECT_NE(d.find("tcp.checksum"), std::string::npos) << d;
}

}  // namespace
}  // namespace fulcrum::test
