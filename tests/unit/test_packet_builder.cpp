// Tests of the rig's packet builder and decoder, which every golden packet fixture trusts.
//
// The reference frames below were generated once with scapy 2.5.0 (the generator is in the
// comment above each frame), so the builder's bytes and checksums are checked against an
// independent implementation without needing scapy at test run time. Overrides are checked
// on the raw bytes as well as through the decoder, so that neither half vouches for itself.
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/rig/packet.h"

namespace fulcrum::test {
namespace {

const Mac kClientMac = mac("02:00:00:00:00:01");
const Mac kLbMac = mac("02:00:00:00:00:02");
const uint32_t kClient = ip("198.18.0.10");
const uint32_t kVip = ip("198.18.1.1");
const Bytes kMss1460 = {0x02, 0x04, 0x05, 0xb4};

// Offsets in an untagged Ethernet/IPv4 (no options)/TCP frame.
constexpr size_t kIpAt = 14, kTcpAt = 34;

Bytes from_hex(std::string_view hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

// Every value decoded under `name`, in order.
std::vector<std::string> values(std::span<const uint8_t> frame, std::string_view name) {
  std::vector<std::string> out;
  for (const Field& f : decode(frame))
    if (f.name == name) out.push_back(f.value);
  return out;
}

// The first value decoded under `name`, or "(absent)".
std::string field(std::span<const uint8_t> frame, std::string_view name) {
  auto all = values(frame, name);
  return all.empty() ? "(absent)" : all.front();
}

uint16_t be16_at(const Bytes& b, size_t at) {
  return static_cast<uint16_t>(b[at] << 8 | b[at + 1]);
}
std::string hex16(uint16_t v) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%04x", v);
  return text;
}

Packet client_to_vip() { return Packet().eth(kClientMac, kLbMac).ipv4(kClient, kVip); }
Packet syn() { return client_to_vip().tcp(40000, 80, tcpflag::SYN, 1000); }

// ---------------------------------------------------------------- reference bytes (scapy)

// Ether(src=A,dst=B)/IP(src=C,dst=V,id=0,flags="DF",ttl=64)/
//   TCP(sport=40000,dport=80,flags="S",seq=1000,window=65535,options=[("MSS",1460)])
constexpr std::string_view kSynWithMss =
    "02000000000202000000000108004500002c000040004006ad9cc612000ac612"
    "01019c400050000003e8000000006002ffff6a7e0000020405b4";

// ... IP(..., id=0x1234)/TCP(sport=40000,dport=80,flags="PA",seq=1001,ack=2002,window=502)/
//   b"GET / HTTP/1.1\r\n\r\n"
constexpr std::string_view kTcpWithPayload =
    "02000000000202000000000108004500003a1234400040069b5ac612000ac612"
    "01019c400050000003e9000007d2501801f699a80000474554202f2048545450"
    "2f312e310d0a0d0a";

// ... IP(...)/ICMP(type=8,id=0x1234,seq=7)/b"ping!"   (odd length: checksum pads with zero)
constexpr std::string_view kIcmpEchoRequest =
    "020000000002020000000001080045000021000040004001adacc612000ac612"
    "01010800e5f31234000770696e6721";

// Ether(src=A,dst="ff:ff:ff:ff:ff:ff")/ARP(op=1,hwsrc=A,psrc=C,hwdst=0,pdst="198.18.0.1")/
//   Padding(18 zero bytes)
constexpr std::string_view kArpRequest =
    "ffffffffffff02000000000108060001080006040001020000000001c612000a"
    "000000000000c6120001000000000000000000000000000000000000";

// Ether(src=B,dst=A)/IP(src="198.18.0.1",dst=C,id=0x55,flags=0,ttl=255)/
//   ICMP(type=3,code=4,nexthopmtu=1400)/
//   raw(IP(src=C,dst=V,id=0,flags="DF")/TCP(sport=40000,dport=80,flags="A",seq=5000,ack=6000,
//       window=65535)/(b"z"*1400))[:28]
constexpr std::string_view kIcmpFragNeeded =
    "02000000000102000000000208004500003800550000ff012f40c6120001c612"
    "000a0304476b00000578450005a0000040004006a828c612000ac61201019c40"
    "005000001388";

// Ether(src=A,dst=B)/Dot1Q(vlan=100,prio=3)/IP(...)/
//   TCP(sport=40000,dport=443,flags="A",seq=7,ack=9,window=65535)/b"x"
constexpr std::string_view kVlanTcp =
    "02000000000202000000000181006064080045000029000040004006ad9fc612"
    "000ac61201019c4001bb00000007000000095010ffff0c98000078";

// ... IP(..., tos=0x10,id=0xbeef,flags=0,ttl=1,options=[IPOption_Router_Alert()])/
//   UDP(sport=5353,dport=53)/b"hello"
constexpr std::string_view kIpOptionsUdp =
    "020000000002020000000001080046100025beef00000111d894c612000ac612"
    "01019404000014e90035000d19b468656c6c6f";

// Ether(src=A,dst=B)/IP(src="198.18.100.1",dst="198.18.2.11",id=0,flags="DF")/IP(...)/
//   TCP(sport=40000,dport=80,flags="S",seq=1,window=65535)
constexpr std::string_view kIpInIpTcp =
    "02000000000202000000000108004500003c000040004004488dc6126401c612"
    "020b45000028000040004006ada0c612000ac61201019c400050000000010000"
    "00005002ffff86210000";

TEST(PacketReference, TcpSynWithMss) {
  EXPECT_TRUE(SamePacket(from_hex(kSynWithMss), syn().tcp_options(kMss1460).build()));
}

TEST(PacketReference, TcpSegmentWithPayload) {
  Bytes built = client_to_vip()
                    .ip_id(0x1234)
                    .tcp(40000, 80, tcpflag::PSH | tcpflag::ACK, 1001, 2002)
                    .window(502)
                    .payload("GET / HTTP/1.1\r\n\r\n")
                    .build();
  EXPECT_TRUE(SamePacket(from_hex(kTcpWithPayload), built));
}

TEST(PacketReference, IcmpEchoRequestWithOddLengthPayload) {
  EXPECT_TRUE(SamePacket(from_hex(kIcmpEchoRequest),
                         client_to_vip().icmp_echo(true, 0x1234, 7).payload("ping!").build()));
}

TEST(PacketReference, ArpRequestPaddedToMinimumFrame) {
  Bytes built = Packet()
                    .eth(kClientMac, mac("ff:ff:ff:ff:ff:ff"))
                    .arp(1, kClientMac, kClient, Mac{}, ip("198.18.0.1"))
                    .pad_to(60)
                    .build();
  EXPECT_TRUE(SamePacket(from_hex(kArpRequest), built));
}

TEST(PacketReference, IcmpFragNeededEmbeddingTcp) {
  Packet inner = client_to_vip().tcp(40000, 80, tcpflag::ACK, 5000, 6000).payload(Bytes(1400, 'z'));
  Bytes built = Packet()
                    .eth(kLbMac, kClientMac)
                    .ipv4(ip("198.18.0.1"), kClient)
                    .ip_id(0x55)
                    .df(false)
                    .ttl(255)
                    .icmp_frag_needed(1400)
                    .embed(inner, 28)
                    .build();
  EXPECT_TRUE(SamePacket(from_hex(kIcmpFragNeeded), built));
}

TEST(PacketReference, VlanTaggedTcp) {
  Bytes built = Packet()
                    .eth(kClientMac, kLbMac)
                    .vlan(100, 3)
                    .ipv4(kClient, kVip)
                    .tcp(40000, 443, tcpflag::ACK, 7, 9)
                    .payload("x")
                    .build();
  EXPECT_TRUE(SamePacket(from_hex(kVlanTcp), built));
}

TEST(PacketReference, Ipv4WithOptionsCarryingUdp) {
  Bytes built = client_to_vip()
                    .tos(0x10)
                    .ip_id(0xbeef)
                    .df(false)
                    .ttl(1)
                    .ip_options({0x94, 0x04, 0x00, 0x00})  // router alert
                    .udp(5353, 53)
                    .payload("hello")
                    .build();
  EXPECT_TRUE(SamePacket(from_hex(kIpOptionsUdp), built));
}

TEST(PacketReference, IpInIpUsesInnerAddressesForTcpPseudoHeader) {
  Bytes built = Packet()
                    .eth(kClientMac, kLbMac)
                    .ipv4(ip("198.18.100.1"), ip("198.18.2.11"))
                    .ipv4(kClient, kVip)
                    .tcp(40000, 80, tcpflag::SYN, 1)
                    .build();
  EXPECT_TRUE(SamePacket(from_hex(kIpInIpTcp), built));
}

TEST(PacketReference, ReferenceFramesDecodeWithEveryChecksumOk) {
  for (auto hex : {kSynWithMss, kTcpWithPayload, kIcmpEchoRequest, kIcmpFragNeeded, kVlanTcp,
                   kIpOptionsUdp, kIpInIpTcp}) {
    for (const Field& f : decode(from_hex(hex))) {
      if (f.name.ends_with(".checksum") && !f.name.starts_with("icmp.inner.")) {
        EXPECT_TRUE(f.value.ends_with("(ok)")) << f.name << ": " << f.value << " in " << hex;
      }
    }
  }
}

// ---------------------------------------------------------------- addresses and checksums

TEST(PacketAddresses, ParseAndPrintRoundTrip) {
  EXPECT_EQ(mac("02:00:00:0a:ff:01").str(), "02:00:00:0a:ff:01");
  EXPECT_EQ(mac("AA:BB:CC:DD:EE:FF").str(), "aa:bb:cc:dd:ee:ff");
  EXPECT_LT(mac("02:00:00:00:00:01"), mac("02:00:00:00:00:02"));
  EXPECT_EQ(ip("198.18.0.10"), 0xc612000au);
  EXPECT_EQ(ip("0.0.0.0"), 0u);
  EXPECT_EQ(ip("255.255.255.255"), 0xffffffffu);
  EXPECT_EQ(ip_str(0xc612000a), "198.18.0.10");
}

TEST(PacketAddressesDeathTest, BadTextAbortsWithMessage) {
  EXPECT_DEATH(mac("02:00:00:00:00"), "bad MAC address");
  EXPECT_DEATH(mac("02:00:00:00:00:0g"), "bad MAC address");
  EXPECT_DEATH(mac("02-00-00-00-00-01"), "bad MAC address");
  EXPECT_DEATH(ip("198.18.0"), "bad IPv4 address");
  EXPECT_DEATH(ip("198.18.0.256"), "bad IPv4 address");
  EXPECT_DEATH(ip("198.18.0.1 "), "bad IPv4 address");
  EXPECT_DEATH(ip("198..0.1"), "bad IPv4 address");
  EXPECT_DEATH(ip("-1.18.0.1"), "bad IPv4 address");
  EXPECT_DEATH(ip(""), "bad IPv4 address");
}

TEST(PacketChecksum, MatchesRfc1071Example) {
  // RFC 1071 section 3: these bytes sum to 0xddf2, so the checksum is its complement.
  EXPECT_EQ(inet_checksum(Bytes{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}), 0x220d);
  // An odd final byte counts as the high byte of a zero-padded word.
  EXPECT_EQ(inet_checksum(Bytes{0x01}), 0xfeff);
}

// ---------------------------------------------------------------- overrides

TEST(PacketOverrides, BadIpChecksumIsCorrectValueXorOne) {
  Bytes good = syn().build(), bad = syn().bad_ip_checksum().build();
  uint16_t want = be16_at(good, kIpAt + 10);
  EXPECT_EQ(be16_at(bad, kIpAt + 10), want ^ 1);
  bad[kIpAt + 10] = good[kIpAt + 10];
  bad[kIpAt + 11] = good[kIpAt + 11];
  EXPECT_EQ(bad, good) << "nothing but the checksum may change";
  EXPECT_EQ(field(syn().bad_ip_checksum().build(), "ipv4.checksum"),
            hex16(want ^ 1) + " (bad, want " + hex16(want) + ")");
}

TEST(PacketOverrides, BadTcpChecksumIsCorrectValueXorOne) {
  Bytes good = syn().payload("abc").build(), bad = syn().payload("abc").bad_tcp_checksum().build();
  uint16_t want = be16_at(good, kTcpAt + 16);
  EXPECT_EQ(be16_at(bad, kTcpAt + 16), want ^ 1);
  EXPECT_EQ(field(bad, "tcp.checksum"), hex16(want ^ 1) + " (bad, want " + hex16(want) + ")");
  EXPECT_EQ(field(bad, "ipv4.checksum"), field(good, "ipv4.checksum"));
}

TEST(PacketOverrides, BadIcmpChecksumDecodesAsBad) {
  Bytes bad = client_to_vip().icmp_echo(true, 1, 2).bad_icmp_checksum().build();
  EXPECT_TRUE(field(bad, "icmp.checksum").find("(bad, want ") != std::string::npos);
}

TEST(PacketOverrides, BadUdpChecksumDecodesAsBad) {
  Bytes bad = client_to_vip().udp(1, 2).payload("q").bad_udp_checksum().build();
  EXPECT_TRUE(field(bad, "udp.checksum").find("(bad, want ") != std::string::npos);
}

TEST(PacketOverrides, BadUdpChecksumIsNeverZeroWhichWouldMeanNone) {
  // Find a datagram whose correct checksum is 0x0001, so that XOR 1 would give 0.
  for (unsigned word = 0; word <= 0xffff; ++word) {
    Bytes two = {static_cast<uint8_t>(word >> 8), static_cast<uint8_t>(word)};
    Bytes good = client_to_vip().udp(1, 2).payload(two).build();
    if (be16_at(good, kTcpAt + 6) != 0x0001) continue;
    Bytes bad = client_to_vip().udp(1, 2).payload(two).bad_udp_checksum().build();
    EXPECT_NE(be16_at(bad, kTcpAt + 6), 0);
    EXPECT_EQ(field(bad, "udp.checksum"), hex16(be16_at(bad, kTcpAt + 6)) + " (bad, want 0x0001)");
    return;
  }
  FAIL() << "no two-byte payload gives checksum 0x0001";
}

TEST(PacketOverrides, UdpChecksumComputedAsZeroIsSentAsAllOnes) {
  for (unsigned word = 0; word <= 0xffff; ++word) {
    Bytes two = {static_cast<uint8_t>(word >> 8), static_cast<uint8_t>(word)};
    Bytes frame = client_to_vip().udp(1, 2).payload(two).build();
    EXPECT_NE(be16_at(frame, kTcpAt + 6), 0) << "payload word " << word;
    if (be16_at(frame, kTcpAt + 6) == 0xffff) {
      EXPECT_EQ(field(frame, "udp.checksum"), "0xffff (ok)");
      return;
    }
  }
  FAIL() << "no two-byte payload gives checksum 0xffff";
}

TEST(PacketOverrides, ForcedChecksumsAppearVerbatim) {
  Bytes ip_forced = syn().ip_checksum(0xdead).build();
  EXPECT_EQ(be16_at(ip_forced, kIpAt + 10), 0xdead);
  EXPECT_TRUE(field(ip_forced, "ipv4.checksum").starts_with("0xdead (bad, want 0x"));

  Bytes tcp_forced = syn().tcp_checksum(0xbeef).build();
  EXPECT_EQ(be16_at(tcp_forced, kTcpAt + 16), 0xbeef);
  EXPECT_TRUE(field(tcp_forced, "tcp.checksum").starts_with("0xbeef (bad, want 0x"));

  Bytes icmp_forced = client_to_vip().icmp(8, 0).icmp_checksum(0x1234).build();
  EXPECT_EQ(be16_at(icmp_forced, kTcpAt + 2), 0x1234);
  EXPECT_TRUE(field(icmp_forced, "icmp.checksum").starts_with("0x1234 (bad, want 0x"));

  Bytes udp_none = client_to_vip().udp(1, 2).udp_checksum(0).build();
  EXPECT_EQ(field(udp_none, "udp.checksum"), "0x0000 (none)");
}

TEST(PacketOverrides, LastChecksumCallWins) {
  Bytes good = syn().build();
  EXPECT_EQ(syn().bad_ip_checksum().ip_checksum(0x1111).build()[kIpAt + 10], 0x11);
  EXPECT_EQ(syn().ip_checksum(0x1111).bad_ip_checksum().build()[kIpAt + 11], good[kIpAt + 11] ^ 1);
}

TEST(PacketOverrides, Ipv4FieldModifiers) {
  Bytes f = syn().ttl(3).ip_id(0xabcd).tos(0xb8).df(false).mf(true).build();
  EXPECT_EQ(f[kIpAt + 8], 3);
  EXPECT_EQ(be16_at(f, kIpAt + 4), 0xabcd);
  EXPECT_EQ(f[kIpAt + 1], 0xb8);
  EXPECT_EQ(be16_at(f, kIpAt + 6), 0x2000);
  EXPECT_EQ(field(f, "ipv4.ttl"), "3");
  EXPECT_EQ(field(f, "ipv4.id"), "43981");
  EXPECT_EQ(field(f, "ipv4.tos"), "0xb8");
  EXPECT_EQ(field(f, "ipv4.flags"), "MF");
  EXPECT_EQ(field(f, "ipv4.checksum").substr(7), "(ok)");
  EXPECT_EQ(field(f, "tcp.checksum").substr(7), "(unverifiable: fragment)");

  EXPECT_EQ(field(syn().build(), "ipv4.flags"), "DF");
  EXPECT_EQ(field(syn().mf(true).build(), "ipv4.flags"), "DF|MF");
  EXPECT_EQ(field(syn().df(false).build(), "ipv4.flags"), "-");
}

TEST(PacketOverrides, LaterFragmentCarriesNoTransportHeader) {
  Bytes f = syn().frag_offset(185).build();
  EXPECT_EQ(be16_at(f, kIpAt + 6), 0x4000 | 185);
  EXPECT_EQ(field(f, "ipv4.frag_offset"), "185");
  EXPECT_EQ(field(f, "tcp.sport"), "(absent)");
  EXPECT_EQ(field(f, "payload.length"), "20");
}

TEST(PacketOverrides, ForcedIhlVersionProtocolAndTotalLength) {
  Bytes ihl = syn().ihl(4).build();
  EXPECT_EQ(ihl[kIpAt], 0x44);
  EXPECT_EQ(field(ihl, "ipv4.ihl"), "4 (invalid, < 5)");
  EXPECT_EQ(ihl.size(), syn().build().size()) << "the header is still 20 bytes";

  Bytes version = syn().ip_version(6).build();
  EXPECT_EQ(version[kIpAt], 0x65);
  EXPECT_EQ(field(version, "ipv4.version"), "6 (not 4)");
  EXPECT_EQ(field(version, "ipv4.checksum").substr(7), "(ok)") << "computed over the forced field";

  Bytes proto = syn().ip_protocol(17).build();
  EXPECT_EQ(proto[kIpAt + 9], 17);
  EXPECT_EQ(field(proto, "ipv4.protocol"), "17 udp");
  EXPECT_EQ(field(proto, "udp.sport"), "40000");

  Bytes too_long = syn().ip_total_length(1000).build();
  EXPECT_EQ(be16_at(too_long, kIpAt + 2), 1000);
  EXPECT_EQ(field(too_long, "ipv4.checksum").substr(7), "(ok)");
  EXPECT_EQ(values(too_long, "truncated"),
            std::vector<std::string>{"ipv4 payload: 20 of 980 bytes"});
  EXPECT_EQ(field(too_long, "tcp.checksum").substr(7), "(unverifiable: truncated)");

  Bytes too_short = syn().ip_total_length(30).build();
  EXPECT_EQ(field(too_short, "padding.length"), "10");
  EXPECT_EQ(values(too_short, "truncated"), std::vector<std::string>{"tcp header: 10 of 20 bytes"});

  Bytes below_header = syn().ip_total_length(12).build();
  EXPECT_EQ(field(below_header, "ipv4.total_length"), "12 (invalid, < header length)");
  EXPECT_EQ(field(below_header, "tcp.sport"), "40000");
}

TEST(PacketOverrides, ForcedEthertype) {
  Bytes f = syn().ethertype(0x86dd).build();
  EXPECT_EQ(be16_at(f, 12), 0x86dd);
  EXPECT_EQ(field(f, "eth.type"), "0x86dd ipv6");
  EXPECT_EQ(field(f, "ipv4.version"), "(absent)");
  EXPECT_EQ(field(f, "ipv6.version"), "4 (not 6)");  // the IPv4 header read as IPv6
}

TEST(PacketOverrides, RawBytesAfterAHeaderAreAnnouncedAsZero) {
  Bytes f = client_to_vip().payload("?").build();
  EXPECT_EQ(f[kIpAt + 9], 0) << "ip protocol";
  EXPECT_EQ(field(f, "payload"), "3f");
  Bytes l2 = Packet().eth(kClientMac, kLbMac).payload("?").build();
  EXPECT_EQ(be16_at(l2, 12), 0) << "ethertype";
}

TEST(PacketOverrides, TcpFieldModifiers) {
  Bytes f = client_to_vip()
                .tcp(1, 2, tcpflag::URG | tcpflag::ACK | tcpflag::ECE | tcpflag::CWR, 7, 8)
                .window(1234)
                .urgent(99)
                .build();
  EXPECT_EQ(be16_at(f, kTcpAt + 14), 1234);
  EXPECT_EQ(be16_at(f, kTcpAt + 18), 99);
  EXPECT_EQ(field(f, "tcp.window"), "1234");
  EXPECT_EQ(field(f, "tcp.urgent"), "99");
  EXPECT_EQ(field(f, "tcp.flags"), "ACK|URG|ECE|CWR");
  EXPECT_EQ(field(f, "tcp.checksum").substr(7), "(ok)");
}

TEST(PacketOverrides, ForcedDataOffset) {
  Bytes small = syn().data_offset(4).build();
  EXPECT_EQ(small[kTcpAt + 12], 0x40);
  EXPECT_EQ(field(small, "tcp.data_offset"), "4 (invalid, < 5)");
  EXPECT_EQ(field(small, "tcp.checksum").substr(7), "(ok)");

  Bytes large = syn().data_offset(15).payload("abcd").build();
  EXPECT_EQ(large[kTcpAt + 12], 0xf0);
  EXPECT_EQ(values(large, "truncated"), std::vector<std::string>{"tcp options: 4 of 40 bytes"});
}

TEST(PacketOverrides, OptionsSetHeaderLengthsAndDecode) {
  Bytes opts = {0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x08, 0x04, 0x02, 0x00, 0x00};
  Bytes f = client_to_vip()
                .ip_options({0x94, 0x04, 0, 0})
                .tcp(1, 2, tcpflag::SYN)
                .tcp_options(opts)
                .build();
  EXPECT_EQ(f[kIpAt] & 0x0f, 6);
  EXPECT_EQ(f[kTcpAt + 4 + 12] >> 4, 8);
  EXPECT_EQ(field(f, "ipv4.options"), "94040000");
  EXPECT_EQ(field(f, "tcp.options"),
            "020405b40103030804020000 (mss=1460 nop wscale=8 sack_ok eol)");
  EXPECT_EQ(field(f, "tcp.checksum").substr(7), "(ok)");
  EXPECT_EQ(field(f, "ipv4.checksum").substr(7), "(ok)");
}

TEST(PacketOverrides, PaddingIsOutsideTheIpPacket) {
  Bytes unpadded = syn().build();
  Bytes padded = syn().pad_to(64).build();
  ASSERT_EQ(padded.size(), 64u);
  EXPECT_TRUE(std::equal(unpadded.begin(), unpadded.end(), padded.begin()));
  EXPECT_TRUE(std::all_of(padded.begin() + 54, padded.end(), [](uint8_t b) { return b == 0; }));
  EXPECT_EQ(field(padded, "padding.length"), "10");
  EXPECT_EQ(field(padded, "ipv4.total_length"), "40");
  EXPECT_EQ(syn().pad_to(10).build(), unpadded) << "pad_to never shortens";
}

TEST(PacketOverrides, IpBytesStartAtIpv4AndExcludePadding) {
  Bytes frame = syn().pad_to(64).build();
  Bytes ip = syn().pad_to(64).ip_bytes();
  EXPECT_EQ(ip, Bytes(frame.begin() + kIpAt, frame.begin() + 54));
}

TEST(PacketOverrides, TruncateKeepsThePrefix) {
  Bytes frame = syn().build();
  EXPECT_EQ(truncate(frame, 20), Bytes(frame.begin(), frame.begin() + 20));
  EXPECT_EQ(truncate(frame, 1000), frame);
  EXPECT_TRUE(truncate(frame, 0).empty());
}

TEST(PacketBuilderDeathTest, MisuseAbortsWithMessage) {
  EXPECT_DEATH(Packet().eth(kClientMac, kLbMac).ttl(1), "ttl\\(\\): there is no ipv4\\(\\) layer");
  EXPECT_DEATH(Packet().eth(kClientMac, kLbMac).tcp(1, 2, 0),
               "tcp\\(\\): there is no ipv4\\(\\) or ipv6\\(\\) layer");
  EXPECT_DEATH(client_to_vip().window(1), "window\\(\\): there is no tcp\\(\\) layer");
  EXPECT_DEATH(client_to_vip().ip_options({1, 2, 3}), "multiple of 4");
  EXPECT_DEATH(syn().tcp_options(Bytes(44, 1)), "multiple of 4 bytes, at most 40");
  EXPECT_DEATH(Packet().eth(kClientMac, kLbMac).vlan(4096), "12 bits");
  EXPECT_DEATH(syn().frag_offset(0x2000), "0x1fff");
  EXPECT_DEATH(Packet().embed(Packet().eth(kClientMac, kLbMac)), "no ipv4 or ipv6 layer");
}

// ---------------------------------------------------------------- decoder

TEST(PacketDecode, DescribesEveryFieldOfASyn) {
  EXPECT_EQ(describe(from_hex(kSynWithMss)),
            "frame.length: 58\n"
            "eth.dst: 02:00:00:00:00:02\n"
            "eth.src: 02:00:00:00:00:01\n"
            "eth.type: 0x0800 ipv4\n"
            "ipv4.version: 4\n"
            "ipv4.ihl: 5\n"
            "ipv4.tos: 0x00\n"
            "ipv4.total_length: 44\n"
            "ipv4.id: 0\n"
            "ipv4.flags: DF\n"
            "ipv4.frag_offset: 0\n"
            "ipv4.ttl: 64\n"
            "ipv4.protocol: 6 tcp\n"
            "ipv4.checksum: 0xad9c (ok)\n"
            "ipv4.src: 198.18.0.10\n"
            "ipv4.dst: 198.18.1.1\n"
            "tcp.sport: 40000\n"
            "tcp.dport: 80\n"
            "tcp.seq: 1000\n"
            "tcp.ack: 0\n"
            "tcp.data_offset: 6\n"
            "tcp.flags: SYN\n"
            "tcp.window: 65535\n"
            "tcp.checksum: 0x6a7e (ok)\n"
            "tcp.urgent: 0\n"
            "tcp.options: 020405b4 (mss=1460)\n");
}

TEST(PacketDecode, VlanArpAndPayload) {
  Bytes vlan = from_hex(kVlanTcp);
  EXPECT_EQ(field(vlan, "vlan.tpid"), "0x8100");
  EXPECT_EQ(field(vlan, "vlan.pcp"), "3");
  EXPECT_EQ(field(vlan, "vlan.vid"), "100");
  EXPECT_EQ(field(vlan, "eth.type"), "0x0800 ipv4");
  EXPECT_EQ(field(vlan, "payload.length"), "1");
  EXPECT_EQ(field(vlan, "payload"), "78");

  Bytes arp = from_hex(kArpRequest);
  EXPECT_EQ(field(arp, "arp.op"), "1 request");
  EXPECT_EQ(field(arp, "arp.sha"), "02:00:00:00:00:01");
  EXPECT_EQ(field(arp, "arp.spa"), "198.18.0.10");
  EXPECT_EQ(field(arp, "arp.tha"), "00:00:00:00:00:00");
  EXPECT_EQ(field(arp, "arp.tpa"), "198.18.0.1");
  EXPECT_EQ(field(arp, "padding.length"), "18");
}

TEST(PacketDecode, LongPayloadIsShownCut) {
  Bytes f = syn().payload(Bytes(100, 0xab)).build();
  EXPECT_EQ(field(f, "payload.length"), "100");
  std::string first_64;
  for (int i = 0; i < 64; ++i) first_64 += "ab";
  EXPECT_EQ(field(f, "payload"), first_64 + "... (36 more bytes)");
}

TEST(PacketDecode, IcmpEchoAndFragNeeded) {
  Bytes echo = from_hex(kIcmpEchoRequest);
  EXPECT_EQ(field(echo, "icmp.type"), "8 echo-request");
  EXPECT_EQ(field(echo, "icmp.rest"), "0x12340007 (id 4660 seq 7)");
  EXPECT_EQ(field(echo, "payload"), "70696e6721");

  Bytes frag = from_hex(kIcmpFragNeeded);
  EXPECT_EQ(field(frag, "icmp.type"), "3 dest-unreachable");
  EXPECT_EQ(field(frag, "icmp.code"), "4 frag-needed");
  EXPECT_EQ(field(frag, "icmp.rest"), "0x00000578 (mtu 1400)");
  EXPECT_EQ(field(frag, "icmp.checksum"), "0x476b (ok)");
  EXPECT_EQ(field(frag, "icmp.inner.ipv4.src"), "198.18.0.10");
  EXPECT_EQ(field(frag, "icmp.inner.ipv4.total_length"), "1440");
  EXPECT_EQ(field(frag, "icmp.inner.ipv4.checksum"), "0xa828 (ok)");
  EXPECT_EQ(field(frag, "icmp.inner.tcp.sport"), "40000");
  EXPECT_EQ(field(frag, "icmp.inner.tcp.dport"), "80");
  EXPECT_EQ(field(frag, "icmp.inner.tcp.seq"), "5000");
  EXPECT_EQ(field(frag, "icmp.inner.tcp.ack"), "(absent)");
  EXPECT_EQ(
      values(frag, "icmp.inner.truncated"),
      (std::vector<std::string>{"tcp header: 8 of 20 bytes", "ipv4 payload: 8 of 1420 bytes"}));
  EXPECT_EQ(field(frag, "truncated"), "(absent)") << "the outer packet is whole";
}

TEST(PacketDecode, InnerTcpChecksumOfAnIcmpErrorIsUnverifiable) {
  Packet inner = client_to_vip().tcp(40000, 80, tcpflag::ACK).payload(Bytes(100, 'z'));
  Bytes f = client_to_vip().icmp_frag_needed(1400).embed(inner, 48).build();
  EXPECT_EQ(field(f, "icmp.inner.tcp.checksum").substr(7), "(unverifiable: truncated)");
  EXPECT_EQ(field(f, "icmp.inner.payload.length"), "8");
  Bytes whole = client_to_vip().icmp_frag_needed(1400).embed(inner).build();
  EXPECT_EQ(field(whole, "icmp.inner.tcp.checksum").substr(7), "(ok)");
  EXPECT_EQ(field(whole, "icmp.inner.truncated"), "(absent)");
}

TEST(PacketDecode, IpInIp) {
  Bytes f = from_hex(kIpInIpTcp);
  EXPECT_EQ(field(f, "ipv4.protocol"), "4 ipip");
  EXPECT_EQ(field(f, "ipv4.inner.ipv4.dst"), "198.18.1.1");
  EXPECT_EQ(field(f, "ipv4.inner.tcp.checksum"), "0x8621 (ok)");
}

// A VLAN-tagged TCP segment with options and payload, truncated at every length.
TEST(PacketDecode, TruncationAtEveryLengthIsReported) {
  Bytes frame = Packet()
                    .eth(kClientMac, kLbMac)
                    .vlan(7)
                    .ipv4(kClient, kVip)
                    .ip_options({0x01, 0x01, 0x01, 0x00})
                    .tcp(1, 2, tcpflag::ACK)
                    .tcp_options(kMss1460)
                    .payload("hello")
                    .build();
  ASSERT_EQ(frame.size(), 18u + 24 + 24 + 5);
  for (size_t len = 0; len < frame.size(); ++len) {
    Bytes cut = truncate(frame, len);
    EXPECT_FALSE(values(cut, "truncated").empty()) << "at " << len;
    EXPECT_EQ(field(cut, "frame.length"), std::to_string(len));
    for (const char* name : {"tcp.checksum", "ipv4.checksum"}) {
      std::string v = field(cut, name);
      EXPECT_TRUE(v == "(absent)" || v.ends_with("(unverifiable: truncated)") ||
                  (std::string(name) == "ipv4.checksum" && len >= 42 && v.ends_with("(ok)")))
          << name << " at " << len << ": " << v;
    }
  }
  auto truncated_at = [&](size_t len) { return values(truncate(frame, len), "truncated"); };
  using V = std::vector<std::string>;
  EXPECT_EQ(truncated_at(0), V{"eth header: 0 of 14 bytes"});
  EXPECT_EQ(truncated_at(10), V{"eth header: 10 of 14 bytes"});
  EXPECT_EQ(truncated_at(14), V{"vlan tag: 0 of 4 bytes"});
  EXPECT_EQ(truncated_at(16), V{"vlan tag: 2 of 4 bytes"});
  EXPECT_EQ(truncated_at(18), V{"ipv4 header: 0 of 20 bytes"});
  EXPECT_EQ(truncated_at(32), V{"ipv4 header: 14 of 20 bytes"});
  EXPECT_EQ(truncated_at(38), V{"ipv4 options: 0 of 4 bytes"});
  EXPECT_EQ(truncated_at(42), (V{"tcp header: 0 of 20 bytes", "ipv4 payload: 0 of 29 bytes"}));
  EXPECT_EQ(truncated_at(62), (V{"tcp options: 0 of 4 bytes", "ipv4 payload: 20 of 29 bytes"}));
  EXPECT_EQ(truncated_at(66), V{"ipv4 payload: 24 of 29 bytes"});
  EXPECT_EQ(field(truncate(frame, 66), "tcp.options"), "020405b4 (mss=1460)");
}

TEST(PacketDecode, TruncatedArpAndIcmp) {
  Bytes arp = from_hex(kArpRequest);
  for (size_t len = 14; len < 42; ++len)
    EXPECT_EQ(field(truncate(arp, len), "truncated"),
              "arp header: " + std::to_string(len - 14) + " of 28 bytes");
  Bytes echo = from_hex(kIcmpEchoRequest);
  EXPECT_EQ(values(truncate(echo, 38), "truncated"),
            (std::vector<std::string>{"icmp header: 4 of 8 bytes", "ipv4 payload: 4 of 13 bytes"}));
  EXPECT_EQ(field(truncate(echo, 38), "icmp.checksum"), "0xe5f3 (unverifiable: truncated)");
}

// ---------------------------------------------------------------- diff and SamePacket

TEST(PacketDiff, EqualPacketsHaveNoDiff) {
  EXPECT_EQ(diff(syn().build(), syn().build()), "");
  EXPECT_EQ(diff(Bytes{}, Bytes{}), "");
  EXPECT_TRUE(SamePacket(syn().build(), syn().build()));
}

TEST(PacketDiff, ChangedFieldsAreNamed) {
  auto to = [](const char* dst) {
    return Packet().eth(kClientMac, kLbMac).ipv4(kClient, ip(dst)).tcp(1, 80, 0).build();
  };
  std::string d = diff(to("198.18.2.11"), to("198.18.2.12"));
  EXPECT_NE(d.find("ipv4.dst: expected 198.18.2.11, got 198.18.2.12\n"), std::string::npos) << d;
  EXPECT_NE(d.find("ipv4.checksum: expected "), std::string::npos) << d;

  d = diff(syn().build(), client_to_vip().tcp(40000, 8080, tcpflag::SYN, 1000).build());
  EXPECT_NE(d.find("tcp.dport: expected 80, got 8080\n"), std::string::npos) << d;

  d = diff(syn().build(), syn().ttl(63).build());
  EXPECT_NE(d.find("ipv4.ttl: expected 64, got 63\n"), std::string::npos) << d;

  Bytes good = syn().build();
  uint16_t want = be16_at(good, kTcpAt + 16);
  std::string line = "tcp.checksum: expected " + hex16(want) + " (ok), got " + hex16(want ^ 1) +
                     " (bad, want " + hex16(want) + ")\n";
  EXPECT_EQ(diff(good, syn().bad_tcp_checksum().build()), line);
}

TEST(PacketDiff, FieldsInOnlyOnePacketAreListed) {
  std::string d = diff(syn().build(), syn().tcp_options(kMss1460).build());
  EXPECT_NE(d.find("tcp.options: only in actual (020405b4 (mss=1460))\n"), std::string::npos) << d;
  d = diff(syn().payload("x").build(), syn().build());
  EXPECT_NE(d.find("payload: only in expected (78)\n"), std::string::npos) << d;
  d = diff(syn().build(), Packet()
                              .eth(kClientMac, kLbMac)
                              .vlan(5)
                              .ipv4(kClient, kVip)
                              .tcp(40000, 80, tcpflag::SYN, 1000)
                              .build());
  EXPECT_NE(d.find("vlan.vid: only in actual (5)\n"), std::string::npos) << d;
}

TEST(PacketDiff, RepeatedFieldsAreMatchedByOccurrence) {
  auto qinq = [](uint16_t inner_vid) {
    return Packet()
        .eth(kClientMac, kLbMac)
        .ethertype(0x88a8)
        .vlan(100)
        .vlan(inner_vid)
        .ipv4(kClient, kVip)
        .build();
  };
  EXPECT_EQ(values(qinq(200), "vlan.tpid"), (std::vector<std::string>{"0x88a8", "0x8100"}));
  EXPECT_EQ(diff(qinq(200), qinq(201)), "vlan.vid #2: expected 200, got 201\n");
}

TEST(PacketDiff, BytesBeyondDecodedFieldsAreListedByOffset) {
  // The same word value moved within the payload past the 64 bytes shown: the checksum
  // and every decoded field stay the same.
  Bytes moved(100, 0);
  moved[80] = 1;
  Bytes want = syn().payload(moved).build();
  std::swap(moved[80], moved[90]);
  Bytes got = syn().payload(moved).build();
  EXPECT_EQ(diff(want, got), "bytes differ at offsets 0x0086 0x0090 (2 in all)\n");
}

TEST(PacketDiff, NonZeroPaddingIsShown) {
  Bytes want = syn().pad_to(60).build();
  Bytes got = want;
  got[59] = 0xee;
  EXPECT_EQ(diff(want, got), "padding: only in actual (0000000000ee)\n");
}

TEST(PacketDiff, SamePacketFailureNamesTheField) {
  ::testing::AssertionResult r = SamePacket(syn().build(), syn().ttl(63).build());
  ASSERT_FALSE(r);
  std::string message = r.message();
  EXPECT_NE(message.find("ipv4.ttl: expected 64, got 63"), std::string::npos) << message;
  EXPECT_NE(message.find("--- expected\n"), std::string::npos) << message;
  EXPECT_NE(message.find("--- actual\n"), std::string::npos) << message;
  EXPECT_NE(message.find("ipv4.ttl: 63\n"), std::string::npos) << message;
}

// ---------------------------------------------------------------- decoder robustness

// Everything the decoder offers, exercised on one input; sanitizer builds catch bad reads.
void decode_everything(const Bytes& frame, const Bytes& other) {
  std::vector<Field> fields = decode(frame);
  ASSERT_FALSE(fields.empty());
  ASSERT_EQ(fields.front().name, "frame.length");
  EXPECT_FALSE(describe(frame).empty());
  EXPECT_FALSE(diff(frame, other).empty() && frame != other);
  EXPECT_EQ(diff(frame, frame), "");
}

TEST(PacketDecodeRobustness, RandomBytes) {
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<size_t> length(0, 200);
  Bytes reference = syn().build();
  for (int i = 0; i < 4000; ++i) {
    Bytes frame(length(rng));
    std::generate(frame.begin(), frame.end(), [&] { return static_cast<uint8_t>(byte(rng)); });
    decode_everything(frame, reference);
  }
}

// Random bytes behind a plausible start reach the deeper decoders, which pure noise rarely does.
TEST(PacketDecodeRobustness, RandomBytesBehindValidHeaders) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<size_t> length(0, 200);
  const std::vector<Bytes> prefixes = {
      from_hex("0200000000020200000000010800"),                      // eth / ipv4
      from_hex("0200000000020200000000010806"),                      // eth / arp
      from_hex("02000000000202000000000181000064"),                  // eth / vlan / ...
      from_hex("020000000002020000000001080045"),                    // ipv4, ihl 5
      from_hex("0200000000020200000000010800450000"),                // ... and a short total length
      from_hex("02000000000202000000000108004500ffff000000000006"),  // ipv4 / tcp
      from_hex("02000000000202000000000108004500ffff000000000011"),  // ipv4 / udp
      from_hex("02000000000202000000000108004500ffff000000000001"),  // ipv4 / icmp
      from_hex("02000000000202000000000108004500ffff000000000004"),  // ipv4 / ipip
  };
  for (int i = 0; i < 4000; ++i) {
    Bytes frame = prefixes[static_cast<size_t>(i) % prefixes.size()];
    size_t extra = length(rng);
    for (size_t k = 0; k < extra; ++k) frame.push_back(static_cast<uint8_t>(byte(rng)));
    decode_everything(frame, prefixes[0]);
  }
}

TEST(PacketDecodeRobustness, MutatedReferenceFrames) {
  std::mt19937 rng(99);
  const std::vector<Bytes> frames = {from_hex(kSynWithMss),      from_hex(kTcpWithPayload),
                                     from_hex(kIcmpEchoRequest), from_hex(kArpRequest),
                                     from_hex(kIcmpFragNeeded),  from_hex(kVlanTcp),
                                     from_hex(kIpOptionsUdp),    from_hex(kIpInIpTcp)};
  for (int i = 0; i < 4000; ++i) {
    const Bytes& original = frames[static_cast<size_t>(i) % frames.size()];
    Bytes frame = original;
    for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips)
      frame[rng() % frame.size()] = static_cast<uint8_t>(rng());
    frame = truncate(frame, rng() % (frame.size() + 1));
    decode_everything(frame, original);
  }
}

}  // namespace
}  // namespace fulcrum::test
