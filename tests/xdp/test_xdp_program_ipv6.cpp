// Golden tests of Fulcrum's XDP program for IPv6 (issue 15): what is steered to the data
// plane (TCP to an IPv6 VIP, nat replies from IPv6 backends, fullnat replies to IPv6 SNAT
// addresses, NAT64 replies to an IPv4 SNAT address, ICMPv6 echo and errors, neighbour
// discovery about VIP and SNAT addresses) and what stays with the kernel (the host's own
// IPv6 and its NDP, unrelated IPv6, source routes, fragments, malformed and truncated
// headers). Same method as test_xdp_program.cpp: BPF_PROG_TEST_RUN on crafted frames, maps
// filled by the control plane's SteeringMaps from a TableSpec with IPv6 VIPs.
#include <arpa/inet.h>

#include "tests/xdp/xdp_test_program.h"

namespace fulcrum::test {
namespace {

const Mac kClientMac = mac("02:00:00:00:00:01");
const Mac kLbMac = mac("02:00:00:00:00:0a");
const Mac kBackendMac = mac("02:00:00:00:00:0b");
constexpr uint8_t kNeighbourSolicitation = 135, kNeighbourAdvertisement = 136;

abi::Ip6 a6(const char* text) {
  abi::Ip6 out;
  Ip6 bytes = ip6(text);
  std::memcpy(out.b, bytes.data(), 16);
  return out;
}

cp::BackendSpec backend6(const char* addr, uint16_t port, uint16_t id, abi::BackendState state = abi::BackendState::Active) {
  cp::BackendSpec b;
  b.family = abi::Family::Ipv6;
  b.addr6 = a6(addr);
  b.port_be = htons(port);
  b.id = id;
  b.state = state;
  return b;
}

cp::VipSpec vip6(const char* addr, uint16_t port, uint16_t id, abi::ForwardMode mode) {
  cp::VipSpec v;
  v.family = abi::Family::Ipv6;
  v.addr6 = a6(addr);
  v.port_be = htons(port);
  v.vip_id = id;
  v.mode = mode;
  return v;
}

// nat VIP [2001:db8::10]:80 over [2001:db8:2::11]:8080 and ::12 (down); fullnat VIP
// [2001:db8::20]:443 over [2001:db8:2::13]:8443 with SNAT 2001:db8:2::100; NAT64 VIP
// [2001:db8::40]:80 over 198.18.2.15:80 with SNAT 198.18.2.101. The host keeps
// 2001:db8:1::1 and 2001:db8:2::1 (and 198.18.1.1).
cp::TableSpec tables6(bool with_fullnat = true) {
  cp::TableSpec spec;
  cp::VipSpec nat = vip6("2001:db8::10", 80, 0, abi::ForwardMode::Nat);
  nat.backends = {backend6("2001:db8:2::11", 8080, 1), backend6("2001:db8:2::12", 8080, 2, abi::BackendState::Down)};
  spec.vips.push_back(nat);
  if (with_fullnat) {
    cp::VipSpec full = vip6("2001:db8::20", 443, 1, abi::ForwardMode::FullNat);
    full.snat_addrs6 = {a6("2001:db8:2::100")};
    full.backends = {backend6("2001:db8:2::13", 8443, 3)};
    spec.vips.push_back(full);
  }
  cp::VipSpec nat64 = vip6("2001:db8::40", 80, 2, abi::ForwardMode::FullNat);
  nat64.snat_addrs_be = {htonl(ip("198.18.2.101"))};
  nat64.backends = {{htonl(ip("198.18.2.15")), htons(80), 4, 1, abi::BackendState::Active}};
  spec.vips.push_back(nat64);
  return spec;
}
const std::vector<uint32_t> kHostAddrs = {htonl(ip("198.18.1.1"))};
const std::vector<abi::Ip6> kHostAddrs6 = {a6("2001:db8:1::1"), a6("2001:db8:2::1")};

Packet from_client() { return Packet().eth(kClientMac, kLbMac); }
Packet from_backend() { return Packet().eth(kBackendMac, kLbMac); }

Bytes address_bytes(const char* text) {
  Ip6 a = ip6(text);
  return Bytes(a.begin(), a.end());
}
// A neighbour solicitation or advertisement about `target` (no options: they do not steer).
Packet ndp(Packet p, uint8_t type, const char* target) { return p.icmp6(type, 0, 0).payload(address_bytes(target)); }

// The five-byte extension header chain the data plane accepts at most: HBH, DestOpts,
// Routing (segments left 0), DestOpts; a fifth is malformed.
Packet with_longest_chain(Packet p) { return p.hop_by_hop().dest_options().routing(4, 0).dest_options(); }

std::vector<Golden> golden_cases6() {
  const uint8_t S = tcpflag::SYN, A = tcpflag::ACK;
  const char* client = "2001:db8:1::2";
  Packet quoted_to_backend = Packet().ipv6(client, "2001:db8:2::11").tcp(40000, 8080, A);
  Packet quoted_from_vip = Packet().ipv6("2001:db8::10", client).tcp(80, 40000, A);
  Packet quoted_host = Packet().ipv6("2001:db8:1::1", client).tcp(179, 40000, A);
  return {
      // Redirected: what the data plane must see.
      {"SYN to the nat VIP", from_client().ipv6(client, "2001:db8::10").tcp(40000, 80, S).build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_VIP},
      {"SYN to the fullnat VIP", from_client().ipv6(client, "2001:db8::20").tcp(40000, 443, S).build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_VIP},
      {"SYN to the NAT64 VIP", from_client().ipv6(client, "2001:db8::40").tcp(40000, 80, S).build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_VIP},
      {"VIP traffic with an 802.1Q tag", from_client().vlan(7).ipv6(client, "2001:db8::10").tcp(40000, 80, A).build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_VIP},
      {"nat reply from a backend address:port", from_backend().ipv6("2001:db8:2::11", client).tcp(8080, 40000, S | A).build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_NAT_REPLY},
      {"nat reply from a down backend (its flows live on)", from_backend().ipv6("2001:db8:2::12", client).tcp(8080, 40000, A).build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_NAT_REPLY},
      {"fullnat reply to the IPv6 SNAT address", from_backend().ipv6("2001:db8:2::13", "2001:db8:2::100").tcp(8443, 1024, A).build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_SNAT},
      {"NAT64 reply to the IPv4 SNAT address",
       from_backend().ipv4(ip("198.18.2.15"), ip("198.18.2.101")).tcp(80, 1024, A).build(), XDP_REDIRECT, FULCRUM_XDP_REDIRECT_SNAT},
      {"echo request to a VIP", from_client().ipv6(client, "2001:db8::10").icmp6_echo(true, 1, 1).build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_ICMP},
      {"echo request to the SNAT address", from_backend().ipv6("2001:db8:2::13", "2001:db8:2::100").icmp6_echo(true, 1, 1).build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_ICMP},
      {"packet too big from the backend side, about a packet to a nat backend",
       from_backend().ipv6("2001:db8:2::fe", client).icmp6(2, 0, 1280).embed(quoted_to_backend, 48).build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_ICMP},
      {"unreachable from the client side, about a reply from the VIP, sent to the client's address",
       from_client().ipv6("2001:db8:1::fe", client).icmp6(1, 3).embed(quoted_from_vip, 48).build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_ICMP},
      {"time exceeded addressed to a VIP", from_client().ipv6("2001:db8:1::fe", "2001:db8::10").icmp6(3, 0).embed(quoted_to_backend).build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_ICMP},
      {"solicitation for a VIP (solicited-node group)",
       ndp(from_client().ipv6(client, "ff02::1:ff00:10").hop_limit(255), kNeighbourSolicitation, "2001:db8::10").build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_NDP},
      {"solicitation for the SNAT address",
       ndp(from_backend().ipv6("2001:db8:2::13", "ff02::1:ff00:100").hop_limit(255), kNeighbourSolicitation, "2001:db8:2::100").build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_NDP},
      {"unicast solicitation for a VIP (reachability probe)",
       ndp(from_client().ipv6(client, "2001:db8::10").hop_limit(255), kNeighbourSolicitation, "2001:db8::10").build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_NDP},
      {"duplicate address detection for a VIP (from ::)",
       ndp(from_client().ipv6("::", "ff02::1:ff00:10").hop_limit(255), kNeighbourSolicitation, "2001:db8::10").build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_NDP},
      {"advertisement answering a solicitation sent from a VIP",
       ndp(from_backend().ipv6("2001:db8:2::13", "2001:db8::10").hop_limit(255), kNeighbourAdvertisement, "2001:db8:2::13").build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_NDP},
      {"advertisement by another node claiming a VIP",
       ndp(from_client().ipv6(client, "ff02::1").hop_limit(255), kNeighbourAdvertisement, "2001:db8::10").build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_NDP},
      {"SYN to a VIP behind hop-by-hop and destination options",
       from_client().ipv6(client, "2001:db8::10").hop_by_hop().dest_options().tcp(40000, 80, S).build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_VIP},
      {"SYN to a VIP behind the longest accepted chain (4 headers)",
       with_longest_chain(from_client().ipv6(client, "2001:db8::10")).tcp(40000, 80, S).build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_VIP},
      {"nat reply behind a 24-byte destination options header",
       from_backend().ipv6("2001:db8:2::11", client).dest_options(Bytes{1, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
           .tcp(8080, 40000, A).build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_NAT_REPLY},
      {"echo request to a VIP behind destination options",
       from_client().ipv6(client, "2001:db8::10").dest_options().icmp6_echo(true, 1, 1).build(), XDP_REDIRECT, FULCRUM_XDP_REDIRECT_ICMP},

      // Passed: the host's, and what is no one's.
      {"SSH to the host address", from_client().ipv6(client, "2001:db8:1::1").tcp(40000, 22, S).build(), XDP_PASS, FULCRUM_XDP_PASS_HOST},
      {"BGP to the host address, hop limit 1", from_client().ipv6(client, "2001:db8:1::1").hop_limit(1).tcp(40000, 179, S).build(),
       XDP_PASS, FULCRUM_XDP_PASS_HOST},
      {"health-check answer from a nat backend's address:port to the host address",
       from_backend().ipv6("2001:db8:2::11", "2001:db8:2::1").tcp(8080, 50000, S | A).build(), XDP_PASS, FULCRUM_XDP_PASS_HOST},
      {"a VIP address on another port", from_client().ipv6(client, "2001:db8::10").tcp(40000, 22, S).build(), XDP_PASS,
       FULCRUM_XDP_PASS_HOST},
      {"a backend address on another port", from_backend().ipv6("2001:db8:2::11", client).tcp(22, 40000, A).build(), XDP_PASS,
       FULCRUM_XDP_PASS_HOST},
      {"an IPv4 VIP's address and port in IPv6 clothes", from_client().ipv6(client, "::ffff:198.18.0.10").tcp(40000, 80, S).build(),
       XDP_PASS, FULCRUM_XDP_PASS_HOST},
      {"UDP to a VIP", from_client().ipv6(client, "2001:db8::10").udp(40000, 80).build(), XDP_PASS, FULCRUM_XDP_PASS_HOST},
      {"unrelated IPv6 TCP", from_client().ipv6(client, "2001:db8:9::9").tcp(40000, 80, S).build(), XDP_PASS, FULCRUM_XDP_PASS_HOST},
      {"echo request to the host address", from_client().ipv6(client, "2001:db8:1::1").icmp6_echo(true, 1, 1).build(), XDP_PASS,
       FULCRUM_XDP_PASS_HOST},
      {"echo reply to a VIP (the data plane sends no pings)", from_client().ipv6(client, "2001:db8::10").icmp6_echo(false, 1, 1).build(),
       XDP_PASS, FULCRUM_XDP_PASS_HOST},
      {"unreachable about the host's own BGP session",
       from_client().ipv6("2001:db8:1::fe", client).icmp6(1, 4).embed(quoted_host, 48).build(), XDP_PASS, FULCRUM_XDP_PASS_HOST},
      {"packet too big to the host address, quoting a VIP reply",
       from_client().ipv6("2001:db8:1::fe", "2001:db8:1::1").icmp6(2, 0, 1280).embed(quoted_from_vip, 48).build(), XDP_PASS,
       FULCRUM_XDP_PASS_HOST},
      {"router advertisement", from_client().ipv6("fe80::1", "ff02::1").hop_limit(255).icmp6(134, 0).payload(Bytes(8, 0)).build(),
       XDP_PASS, FULCRUM_XDP_PASS_HOST},
      {"solicitation for the host address",
       ndp(from_client().ipv6(client, "ff02::1:ff00:1").hop_limit(255), kNeighbourSolicitation, "2001:db8:1::1").build(), XDP_PASS,
       FULCRUM_XDP_PASS_NDP},
      {"solicitation for the host address sent to a VIP (the target decides)",
       ndp(from_client().ipv6(client, "2001:db8::10").hop_limit(255), kNeighbourSolicitation, "2001:db8:1::1").build(), XDP_PASS,
       FULCRUM_XDP_PASS_NDP},
      {"advertisement answering the host's solicitation of a backend",
       ndp(from_backend().ipv6("2001:db8:2::11", "2001:db8:2::1").hop_limit(255), kNeighbourAdvertisement, "2001:db8:2::11").build(),
       XDP_PASS, FULCRUM_XDP_PASS_NDP},
      {"solicitation for another node's address",
       ndp(from_client().ipv6(client, "ff02::1:ff00:9").hop_limit(255), kNeighbourSolicitation, "2001:db8:1::9").build(), XDP_PASS,
       FULCRUM_XDP_PASS_NDP},
      {"a source route through this node to a VIP (segments left 1)",
       from_client().ipv6(client, "2001:db8::10").routing(4, 1, {"2001:db8::10"}).tcp(40000, 80, S).build(), XDP_PASS,
       FULCRUM_XDP_PASS_HOST},
      {"ESP to a VIP", from_client().ipv6(client, "2001:db8::10").ip6_next_header(50).payload(Bytes(24, 0)).build(), XDP_PASS,
       FULCRUM_XDP_PASS_HOST},

      // Passed as malformed: the kernel judges.
      {"a first fragment to a VIP", from_client().ipv6(client, "2001:db8::10").fragment(0, true, 7).tcp(40000, 80, S).build(), XDP_PASS,
       FULCRUM_XDP_PASS_MALFORMED},
      {"an atomic fragment to a VIP", from_client().ipv6(client, "2001:db8::10").fragment(0, false, 7).tcp(40000, 80, S).build(),
       XDP_PASS, FULCRUM_XDP_PASS_MALFORMED},
      {"hop-by-hop after destination options", from_client().ipv6(client, "2001:db8::10").dest_options().hop_by_hop().tcp(40000, 80, S).build(),
       XDP_PASS, FULCRUM_XDP_PASS_MALFORMED},
      {"five extension headers", with_longest_chain(from_client().ipv6(client, "2001:db8::10")).dest_options().tcp(40000, 80, S).build(),
       XDP_PASS, FULCRUM_XDP_PASS_MALFORMED},
      {"an extension header longer than the packet",
       from_client().ipv6(client, "2001:db8::10").ipv6_ext(60, Bytes{8, 0, 0, 0, 0, 0, 0}).tcp(40000, 80, S).build(), XDP_PASS,
       FULCRUM_XDP_PASS_MALFORMED},
      {"payload length 0 (a jumbogram)", from_client().ipv6(client, "2001:db8::10").ip6_payload_length(0).tcp(40000, 80, S).build(),
       XDP_PASS, FULCRUM_XDP_PASS_MALFORMED},
      {"payload length beyond the frame", from_client().ipv6(client, "2001:db8::10").ip6_payload_length(21).tcp(40000, 80, S).build(),
       XDP_PASS, FULCRUM_XDP_PASS_MALFORMED},
      {"a TCP header beyond the payload length, inside Ethernet padding",
       from_client().ipv6(client, "2001:db8::10").ip6_payload_length(12).tcp(40000, 80, S).build(), XDP_PASS, FULCRUM_XDP_PASS_MALFORMED},
      {"IP version 4 under the IPv6 ethertype",
       from_client().ipv6(client, "2001:db8::10").ip6_version(4).tcp(40000, 80, S).build(), XDP_PASS, FULCRUM_XDP_PASS_MALFORMED},
      {"an IPv6 ethertype and nothing after it", truncate(from_client().ipv6(client, "2001:db8::10").tcp(40000, 80, S).build(), 14),
       XDP_PASS, FULCRUM_XDP_PASS_MALFORMED},
      {"a solicitation whose payload length ends before its target (the rest is padding)",
       ndp(from_client().ipv6(client, "ff02::1:ff00:10").hop_limit(255), kNeighbourSolicitation, "2001:db8::10")
           .ip6_payload_length(8)
           .build(),
       XDP_PASS, FULCRUM_XDP_PASS_MALFORMED},
      {"an extension header beyond the payload length (the rest is padding)",
       from_client().ipv6(client, "2001:db8::10").hop_by_hop().tcp(40000, 80, S).ip6_payload_length(4).build(), XDP_PASS,
       FULCRUM_XDP_PASS_MALFORMED},
      {"a solicitation cut before its target",
       from_client().ipv6(client, "ff02::1:ff00:10").hop_limit(255).icmp6(kNeighbourSolicitation, 0).payload(Bytes(8, 0)).build(),
       XDP_PASS, FULCRUM_XDP_PASS_MALFORMED},
  };
}

class XdpProgramIpv6 : public XdpProgram {};

TEST_F(XdpProgramIpv6, GoldenFramesRedirectedOrPassed) {
  LoadedProgram prog;
  ASSERT_EQ(prog.load(true), "");
  ASSERT_EQ(prog.maps().sync(cp::steering_spec(tables6(), kHostAddrs, kHostAddrs6)), "");
  expect_goldens(prog, golden_cases6());
}

// Every cut of a steered frame, from the bare Ethernet header to one byte short, is passed
// to the kernel as malformed (never redirected, never another counter). Twice: as cut (the
// payload length then runs past the frame), and with the payload length rewritten to end
// where the cut does, which takes each cut past the first check to the bounds check of the
// header it falls in (extension header, TCP, ICMPv6, NDP target).
TEST_F(XdpProgramIpv6, TruncatedAtEveryByteIsPassedAsMalformed) {
  LoadedProgram prog;
  ASSERT_EQ(prog.load(true), "");
  ASSERT_EQ(prog.maps().sync(cp::steering_spec(tables6(), kHostAddrs, kHostAddrs6)), "");
  const char* client = "2001:db8:1::2";
  std::vector<std::pair<const char*, Bytes>> frames = {
      {"SYN to a VIP", from_client().ipv6(client, "2001:db8::10").tcp(40000, 80, tcpflag::SYN).build()},
      {"SYN behind 4 extension headers",
       with_longest_chain(from_client().vlan(7).ipv6(client, "2001:db8::10")).tcp(40000, 80, tcpflag::SYN).build()},
      {"solicitation for a VIP",
       ndp(from_client().ipv6(client, "ff02::1:ff00:10").hop_limit(255), kNeighbourSolicitation, "2001:db8::10").build()},
      {"echo request to a VIP", from_client().ipv6(client, "2001:db8::10").icmp6_echo(true, 1, 1).build()},
  };
  for (const auto& [what, frame] : frames) {
    ASSERT_EQ(prog.run(frame).action, uint32_t{XDP_REDIRECT}) << what << " whole";
    const size_t l3 = frame[12] == 0x81 ? 18 : 14;
    for (size_t len = 14; len < frame.size(); ++len) {
      Bytes cut = truncate(frame, len);
      for (bool consistent : {false, true}) {
        if (consistent) {
          if (len < l3 + 40) continue;
          cut[l3 + 4] = static_cast<uint8_t>((len - l3 - 40) >> 8);
          cut[l3 + 5] = static_cast<uint8_t>(len - l3 - 40);
        }
        LoadedProgram::Run r = prog.run(cut);
        EXPECT_EQ(r.action, uint32_t{XDP_PASS}) << what << " cut to " << len << " bytes" << (consistent ? ", length rewritten" : "");
        EXPECT_EQ(r.stat, FULCRUM_XDP_PASS_MALFORMED)
            << what << " cut to " << len << " bytes" << (consistent ? ", length rewritten" : "") << ": " << stat_name(r.stat);
      }
    }
  }
}

// A reload: an IPv6 VIP added is steered by the next sync, one removed is passed again, and
// the IPv6 SNAT address of a removed fullnat VIP goes back to the kernel, its NDP too.
TEST_F(XdpProgramIpv6, SyncFollowsTheTables) {
  LoadedProgram prog;
  ASSERT_EQ(prog.load(true), "");
  const char* client = "2001:db8:1::2";
  Bytes syn_fullnat = from_client().ipv6(client, "2001:db8::20").tcp(40000, 443, tcpflag::SYN).build();
  Bytes snat_reply = from_backend().ipv6("2001:db8:2::13", "2001:db8:2::100").tcp(8443, 1024, tcpflag::ACK).build();
  Bytes snat_solicitation =
      ndp(from_backend().ipv6("2001:db8:2::13", "ff02::1:ff00:100").hop_limit(255), kNeighbourSolicitation, "2001:db8:2::100").build();
  ASSERT_EQ(prog.maps().sync(cp::steering_spec(tables6(false), kHostAddrs, kHostAddrs6)), "");
  EXPECT_EQ(prog.run(syn_fullnat).action, uint32_t{XDP_PASS});
  EXPECT_EQ(prog.run(snat_solicitation).action, uint32_t{XDP_PASS});
  ASSERT_EQ(prog.maps().sync(cp::steering_spec(tables6(true), kHostAddrs, kHostAddrs6)), "");
  EXPECT_EQ(prog.run(syn_fullnat).action, uint32_t{XDP_REDIRECT}) << "a VIP added by a sync is steered";
  EXPECT_EQ(prog.run(snat_reply).action, uint32_t{XDP_REDIRECT});
  EXPECT_EQ(prog.run(snat_solicitation).action, uint32_t{XDP_REDIRECT});
  ASSERT_EQ(prog.maps().sync(cp::steering_spec(tables6(false), kHostAddrs, kHostAddrs6)), "");
  EXPECT_EQ(prog.run(syn_fullnat).action, uint32_t{XDP_PASS}) << "a removed VIP goes back to the kernel";
  EXPECT_EQ(prog.run(snat_reply).action, uint32_t{XDP_PASS}) << "a removed VIP's SNAT address goes back to the kernel";
  EXPECT_EQ(prog.run(snat_solicitation).action, uint32_t{XDP_PASS});
  EXPECT_EQ(prog.run(from_client().ipv6(client, "2001:db8::10").tcp(40000, 80, tcpflag::SYN).build()).action, uint32_t{XDP_REDIRECT})
      << "a VIP in both generations stays steered";
}

// The control plane's translation of a TableSpec: families kept apart, NAT64's IPv4 pool,
// every nat backend whatever its state, host addresses marked.
TEST(SteeringSpecIpv6, FamiliesGoToTheirOwnMaps) {
  cp::SteeringSpec s = cp::steering_spec(tables6(), kHostAddrs, kHostAddrs6);
  auto addr = [](const char* text) {
    cp::SteeringSpec::Address6 out;
    Ip6 b = ip6(text);
    std::copy(b.begin(), b.end(), out.begin());
    return out;
  };
  EXPECT_EQ(s.vips.size(), 0u);
  EXPECT_EQ(s.vips6.size(), 3u);
  EXPECT_EQ(s.vips6.count({addr("2001:db8::40"), htons(80)}), 1u);
  EXPECT_EQ(s.nat_backends6.size(), 2u) << "the nat VIP's two backends, the down one included";
  EXPECT_EQ(s.nat_backends.size(), 0u) << "NAT64 is fullnat: its IPv4 backend's replies come to the SNAT address";
  EXPECT_EQ(s.locals.at(htonl(ip("198.18.2.101"))), FULCRUM_LOCAL_SNAT);
  EXPECT_EQ(s.locals.at(htonl(ip("198.18.1.1"))), FULCRUM_LOCAL_HOST);
  EXPECT_EQ(s.locals6.at(addr("2001:db8::10")), FULCRUM_LOCAL_VIP);
  EXPECT_EQ(s.locals6.at(addr("2001:db8:2::100")), FULCRUM_LOCAL_SNAT);
  EXPECT_EQ(s.locals6.at(addr("2001:db8:2::1")), FULCRUM_LOCAL_HOST);
  EXPECT_EQ(s.locals6.size(), 6u);
}

}  // namespace
}  // namespace fulcrum::test
