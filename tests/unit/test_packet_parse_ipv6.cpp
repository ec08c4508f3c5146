// parse_frame() on IPv6 (issue 15): every rule of packet_parse.h's IPv6 paragraph with the
// smallest frame that breaks it, the frames it accepts with the offsets it reports, and no
// read beyond `contiguous` at any cut (each parse runs on an allocation of exactly that many
// bytes, so the ASan build reports any overread).
//
// Frames come from the test rig's builder (tests/rig/packet.h), which shares no code with
// the parser: its IPv6 encoding is checked against scapy's bytes in test_packet_ipv6.cpp.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "tests/unit/parse_helpers.h"
#include "dataplane/core/packet_parse.h"
#include "tests/rig/packet.h"

namespace fulcrum::dp {
namespace {

using abi::DropReason;
using test::Bytes;
using test::Packet;
namespace tcpflag = test::tcpflag;

const test::Mac kSrcMac = test::mac("02:00:00:00:01:02"), kDstMac = test::mac("02:00:00:00:01:01");
constexpr const char* kClient = "2001:db8:1::2";
constexpr const char* kVip = "2001:db8::10";

Packet v6(const char* src = kClient) { return Packet().eth(kSrcMac, kDstMac).ipv6(src, kVip); }

using parse_test::parse_all;
using parse_test::parse_exact;

using parse_test::describe;

struct DropCase {
  const char* name;
  Bytes frame;
  DropReason want;
};

TEST(PacketParseIpv6, EveryIpv6DropReasonWithItsSmallestFrame) {
  const Bytes syn = v6().tcp(40000, 80, tcpflag::SYN).build();  // 74 bytes
  const DropCase cases[] = {
      {"14 bytes of IPv6 ethertype", test::truncate(syn, 14), DropReason::IpTruncated},
      {"53 bytes: IPv6 header one byte short", test::truncate(syn, 53), DropReason::IpTruncated},
      {"version 4 in an IPv6 frame", v6().ip6_version(4).payload(Bytes(1, 0)).build(), DropReason::IpBadVersion},
      {"payload length 0 (jumbogram)", v6().ip6_payload_length(0).build(), DropReason::IpBadTotalLength},
      {"payload length one byte beyond the frame", v6().ip6_payload_length(1).build(), DropReason::IpBadTotalLength},
      {"multicast source", v6("ff02::1").payload(Bytes(1, 0)).build(), DropReason::IpBadSource},
      {"loopback source", v6("::1").payload(Bytes(1, 0)).build(), DropReason::IpBadSource},
      {"v4-mapped source", v6("::ffff:198.18.0.1").payload(Bytes(1, 0)).build(), DropReason::IpBadSource},
      {"unspecified source on TCP", v6("::").tcp(40000, 80, tcpflag::SYN).build(), DropReason::IpBadSource},
      {"unspecified source on UDP", v6("::").udp(546, 547).build(), DropReason::IpBadSource},
      {"fragment header, first fragment", v6().fragment(0, true, 1).build(), DropReason::IpFragment},
      {"atomic fragment (offset 0, no more)", v6().fragment(0, false, 1).build(), DropReason::IpFragment},
      {"later fragment", v6().fragment(1, false, 1).build(), DropReason::IpFragment},
      {"fragment header after a Hop-by-Hop header", v6().hop_by_hop().fragment(0, true, 1).build(), DropReason::IpFragment},
      {"Hop-by-Hop after Destination Options", v6().dest_options().hop_by_hop().build(), DropReason::Ipv6BadExtHeaders},
      {"five extension headers", v6().hop_by_hop().dest_options().routing(0, 0).dest_options().dest_options().build(),
       DropReason::Ipv6BadExtHeaders},
      {"extension header shorter than 8 bytes", v6().ipv6_ext(60, Bytes{0, 1, 0, 0, 0, 0}).build(),
       DropReason::Ipv6BadExtHeaders},
      {"extension header length beyond the packet", v6().ipv6_ext(60, Bytes{1, 1, 4, 0, 0, 0, 0}).build(),
       DropReason::Ipv6BadExtHeaders},
      {"routing header with segments left", v6().routing(0, 1, {kClient}).build(), DropReason::Ipv6RoutingHeader},
      {"TCP with no TCP header", v6().ip6_next_header(6).payload(Bytes(1, 0)).build(), DropReason::TcpTruncated},
      {"TCP header one byte short (payload length 19)",
       v6().ip6_next_header(6).payload(Bytes(syn.begin() + 54, syn.end() - 1)).build(), DropReason::TcpTruncated},
      {"TCP data offset 4", v6().tcp(40000, 80, tcpflag::SYN).data_offset(4).build(), DropReason::TcpBadDataOffset},
      {"TCP data offset 6 beyond the packet", v6().tcp(40000, 80, tcpflag::SYN).data_offset(6).build(),
       DropReason::TcpBadDataOffset},
      {"TCP SYN+FIN", v6().tcp(40000, 80, tcpflag::SYN | tcpflag::FIN).build(), DropReason::TcpBadFlags},
      {"ICMPv6 header one byte short", v6().ip6_next_header(58).payload(Bytes(7, 0)).build(), DropReason::IcmpTruncated},
      {"ICMPv6 from :: one byte short", v6("::").ip6_next_header(58).payload(Bytes(7, 0)).build(),
       DropReason::IcmpTruncated},
  };
  std::set<DropReason> covered;
  for (const DropCase& c : cases) {
    ParsedFrame f = parse_all(c.frame);
    EXPECT_EQ(f.kind, FrameKind::Drop) << c.name << ": got " << describe(f);
    EXPECT_EQ(f.drop, c.want) << c.name << ": got " << describe(f) << ", want " << abi::name_of(c.want);
    covered.insert(c.want);
  }
  EXPECT_EQ(covered.size(), 11u) << "every reason parse_frame() returns for IPv6";
}

struct Accepted {
  const char* name;
  Packet packet;
  FrameKind kind;
  uint16_t ext_bytes;
};

// Each chain the parser walks, in front of TCP and ICMPv6; what it does not walk ends as
// OtherIp6. Offsets, lengths and flags are those of the v4 path, shifted by the chain.
TEST(PacketParseIpv6, AcceptedFramesWithAndWithoutExtensionHeaders) {
  auto tcp = [](Packet p) { return p.tcp(40000, 80, tcpflag::SYN).tcp_options({2, 4, 5, 160}).payload("abc"); };
  auto echo = [](Packet p) { return p.icmp6_echo(true, 1, 2).payload("ping"); };
  const Accepted cases[] = {
      {"TCP", tcp(v6()), FrameKind::Tcp6, 0},
      {"TCP behind Hop-by-Hop", tcp(v6().hop_by_hop()), FrameKind::Tcp6, 8},
      {"TCP behind Destination Options with 10 bytes of options", tcp(v6().dest_options(Bytes{1, 8, 0, 0, 0, 0, 0, 0, 0, 0})),
       FrameKind::Tcp6, 16},
      {"TCP behind a routing header with no segments left", tcp(v6().routing(0, 0, {kClient, kVip})), FrameKind::Tcp6, 40},
      {"TCP behind four extension headers", tcp(v6().hop_by_hop().dest_options().routing(2, 0, {kVip}).dest_options()),
       FrameKind::Tcp6, 8 + 8 + 24 + 8},
      {"ICMPv6 echo", echo(v6()), FrameKind::Icmp6, 0},
      {"ICMPv6 behind Hop-by-Hop (MLD's layout)", echo(v6().hop_by_hop(Bytes{5, 2, 0, 0})), FrameKind::Icmp6, 8},
      {"ICMPv6 neighbour solicitation from :: (DAD)", v6("::").icmp6(135, 0).payload(Bytes(16, 0)), FrameKind::Icmp6, 0},
      {"ICMPv6 behind a routing header with no segments left", echo(v6().routing(0, 0)), FrameKind::Icmp6, 8},
      {"UDP", v6().udp(546, 547), FrameKind::OtherIp6, 0},
      {"UDP behind Destination Options", v6().dest_options().udp(546, 547), FrameKind::OtherIp6, 8},
      {"ESP", v6().ip6_next_header(50).payload(Bytes(16, 7)), FrameKind::OtherIp6, 0},
      {"AH", v6().ipv6_ext(51, Bytes(15, 0)).payload("x"), FrameKind::OtherIp6, 0},
      {"No Next Header behind Hop-by-Hop", v6().hop_by_hop().ext_next_header(59), FrameKind::OtherIp6, 8},
      {"ICMP (v4's protocol 1) in IPv6", v6().ip6_next_header(1).payload(Bytes(8, 0)), FrameKind::OtherIp6, 0},
  };
  for (const Accepted& c : cases) {
    for (bool vlan : {false, true}) {
      Bytes frame = c.packet.build();
      if (vlan) frame.insert(frame.begin() + 12, {0x81, 0x00, 0x00, 0x64});  // the same packet behind one tag
      const uint16_t l3 = vlan ? 18 : 14;
      ParsedFrame f = parse_all(frame);
      ASSERT_EQ(f.kind, c.kind) << c.name << (vlan ? " (VLAN)" : "") << ": " << describe(f);
      EXPECT_EQ(f.l3, l3) << c.name;
      EXPECT_EQ(f.l4, l3 + 40 + c.ext_bytes) << c.name;
      EXPECT_EQ(f.ip_total, frame.size() - l3) << c.name;
      EXPECT_EQ(f.l4_len, frame.size() - l3 - 40 - c.ext_bytes) << c.name;
      EXPECT_EQ(f.ipv6_ext, c.ext_bytes != 0) << c.name;
      EXPECT_FALSE(f.has_options) << c.name;
      if (c.kind == FrameKind::Tcp6) {
        EXPECT_EQ(f.tcp_flags, tcpflag::SYN) << c.name;
        EXPECT_EQ(f.tcp_header_len, 24) << c.name;
      }
    }
  }
}

TEST(PacketParseIpv6, SourcesAtTheEdgesOfTheRefusedRanges) {
  for (const char* bad : {"ff00::", "ff02::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::1", "::ffff:0.0.0.0",
                          "::ffff:255.255.255.255"})
    EXPECT_TRUE(is_bad_source6(test::ip6(bad).data())) << bad;
  for (const char* ok : {"::", "::2", "::fffe:ffff:ffff", "0:0:0:0:1:ffff::", "1::1", "feff:ffff::", "fe80::1",
                         "2001:db8::1", "::1:0:0:1"})
    EXPECT_FALSE(is_bad_source6(test::ip6(ok).data())) << ok;
  // The edge addresses the parser lets through (:: on ICMPv6 only, above).
  for (const char* ok : {"::2", "fe80::1", "feff:ffff::"})
    EXPECT_EQ(parse_all(v6(ok).tcp(1, 2, tcpflag::SYN).build()).kind, FrameKind::Tcp6) << ok;
}

// Ethernet padding after 40 + payload length is not the packet's, and cannot stand in for
// bytes the packet lacks: not for an extension header, not for a TCP header.
TEST(PacketParseIpv6, PaddingBeyondThePayloadLengthIsNotPartOfThePacket) {
  ParsedFrame f = parse_all(v6().icmp6_echo(true, 1, 1).pad_to(100).build());
  ASSERT_EQ(f.kind, FrameKind::Icmp6) << describe(f);
  EXPECT_EQ(f.ip_total, 48);
  EXPECT_EQ(f.l4_len, 8);
  f = parse_all(v6().tcp(1, 2, tcpflag::SYN).pad_to(200).build());
  ASSERT_EQ(f.kind, FrameKind::Tcp6) << describe(f);
  EXPECT_EQ(f.ip_total, 60);
  EXPECT_EQ(f.l4_len, 20);
  // A Destination Options header announcing 16 bytes in an 8-byte packet, padded with 40.
  EXPECT_EQ(parse_all(v6().ipv6_ext(60, Bytes{1, 1, 4, 0, 0, 0, 0}).ext_next_header(59).pad_to(102).build()).drop,
            DropReason::Ipv6BadExtHeaders);
  EXPECT_EQ(parse_all(v6().tcp(1, 2, tcpflag::SYN).data_offset(6).pad_to(80).build()).drop,
            DropReason::TcpBadDataOffset);
  EXPECT_EQ(parse_all(v6().ip6_next_header(58).payload(Bytes(4, 0)).pad_to(80).build()).drop,
            DropReason::IcmpTruncated);
}

// A SYN with two extension headers (Hop-by-Hop 8 bytes, Destination Options 16) and TCP
// options, cut at every byte: as the first segment of a longer frame, and as the whole frame.
TEST(PacketParseIpv6, TruncationAtEveryByteNeverReadsPastContiguous) {
  const Bytes syn = v6().hop_by_hop().dest_options(Bytes{1, 8, 0, 0, 0, 0, 0, 0, 0, 0})
                        .tcp(40000, 80, tcpflag::SYN).tcp_options({2, 4, 5, 160, 1, 1, 4, 2})
                        .payload(Bytes(100, 0x5a)).build();
  const size_t l4 = 14 + 40 + 8 + 16, tcp_end = l4 + 28;
  ASSERT_EQ(syn.size(), tcp_end + 100);
  for (size_t cut = 0; cut <= syn.size(); ++cut) {
    // First segment of `cut` bytes, the frame whole.
    DropReason want = cut < 14 ? DropReason::FrameTooShort
                      : cut < 54 ? DropReason::IpTruncated
                      : cut < l4 ? DropReason::Ipv6BadExtHeaders
                      : cut < l4 + 20 ? DropReason::TcpTruncated
                                      : DropReason::TcpBadDataOffset;
    ParsedFrame f = parse_exact(syn, cut, syn.size());
    if (cut >= tcp_end) {
      EXPECT_EQ(f.kind, FrameKind::Tcp6) << "first segment " << cut << ": " << describe(f);
      EXPECT_EQ(f.l4, l4);
      EXPECT_EQ(f.l4_len, syn.size() - l4);
    } else {
      EXPECT_EQ(f.drop, want) << "first segment " << cut << ": " << describe(f);
    }
    // The frame itself cut: past the IPv6 header, its payload length is beyond the frame.
    if (cut < syn.size()) {
      ParsedFrame g = parse_exact(syn, cut, cut);
      DropReason whole = cut < 14 ? DropReason::FrameTooShort
                         : cut < 54 ? DropReason::IpTruncated
                                    : DropReason::IpBadTotalLength;
      EXPECT_EQ(g.drop, whole) << "frame of " << cut << ": " << describe(g);
    }
  }
}

// Random mutations of valid IPv6 frames: no crash, no overread (ASan build), and every
// accepted frame reports offsets inside what it read.
TEST(PacketParseIpv6, MutatedFramesReportOnlyOffsetsTheyRead) {
  const Bytes bases[] = {
      v6().hop_by_hop().dest_options().routing(0, 0, {kVip}).tcp(1, 2, tcpflag::SYN).payload("data").build(),
      v6().hop_by_hop(Bytes{5, 2, 0, 0}).icmp6(143, 0).payload(Bytes(20, 1)).build(),
      v6().fragment(0, true, 5).tcp(1, 2, tcpflag::SYN).build(),
  };
  std::mt19937 rng(0x1506);
  std::map<std::string, int> outcomes;
  for (int iter = 0; iter < 20000; ++iter) {
    Bytes b = bases[iter % 3];
    for (int k = rng() % 4; k >= 0; --k) {
      // Mostly the header bytes that steer the walk: next headers, lengths, payload length.
      size_t at = rng() % 2 ? 14 + rng() % 60 : rng() % b.size();
      b[at] = rng() % 2 ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>(rng() % 64);
    }
    b.resize(rng() % (b.size() + 1));
    size_t contiguous = rng() % 2 ? b.size() : rng() % (b.size() + 1);
    size_t frame_len = b.size() + (rng() % 4 == 0 ? rng() % 64 : 0);
    ParsedFrame f = parse_exact(b, contiguous, frame_len);
    ++outcomes[describe(f)];
    if (f.kind == FrameKind::Drop || f.kind == FrameKind::Arp) continue;
    ASSERT_TRUE(f.kind == FrameKind::Tcp6 || f.kind == FrameKind::Icmp6 || f.kind == FrameKind::OtherIp6)
        << describe(f);
    ASSERT_GE(f.l4, f.l3 + 40);
    ASSERT_LE(f.l4, std::min(contiguous, b.size()));
    ASSERT_EQ(f.l3 + f.ip_total, f.l4 + f.l4_len);
    ASSERT_LE(f.l3 + size_t{f.ip_total}, frame_len);
    ASSERT_EQ(f.ipv6_ext, f.l4 > f.l3 + 40);
    if (f.kind == FrameKind::Tcp6) {
      ASSERT_LE(f.l4 + size_t{f.tcp_header_len}, std::min(contiguous, b.size()));
    }
    if (f.kind == FrameKind::Icmp6) {
      ASSERT_LE(f.l4 + 8u, std::min(contiguous, b.size()));
    }
  }
  // The mutations reach every outcome of the walk.
  for (const char* o : {"Tcp6", "Icmp6", "OtherIp6", "Drop(ipv6_bad_ext_headers)", "Drop(ipv6_routing_header)",
                        "Drop(ip_fragment)"})
    EXPECT_GT(outcomes[o], 0) << o;
}

}  // namespace
}  // namespace fulcrum::dp
