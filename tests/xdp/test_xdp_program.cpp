// Golden tests of Fulcrum's XDP program (dataplane/xdp/fulcrum_xdp.bpf.c), run by the
// kernel on crafted frames with BPF_PROG_TEST_RUN: no NIC, no namespace, no DPDK. IPv4,
// ARP and the maps' life cycle here; IPv6 and NDP in test_xdp_program_ipv6.cpp. The maps
// are filled by the control plane's own SteeringMaps from a TableSpec, so the test covers
// that translation too (see xdp_test_program.h for how a redirect is observed).
#include <arpa/inet.h>
#include <sched.h>
#include <sys/mount.h>

#include "tests/xdp/xdp_test_program.h"

namespace fulcrum::test {
namespace {

using cp::SteeringMaps;

const Mac kClientMac = mac("02:00:00:00:00:01");
const Mac kLbMac = mac("02:00:00:00:00:0a");
const Mac kBackendMac = mac("02:00:00:00:00:0b");
constexpr uint8_t kTcp = 6;

uint32_t be(const char* dotted) { return htonl(ip(dotted)); }

// nat VIP 198.18.0.10:80 over 198.18.2.11:8080 and .12:8080; fullnat VIP 198.18.0.20:443
// over .13:8443 with SNAT 198.18.2.100. The host keeps 198.18.1.1 and 198.18.2.1.
cp::TableSpec tables(bool with_second_nat_vip = false) {
  cp::TableSpec spec;
  cp::VipSpec nat;
  nat.addr_be = be("198.18.0.10");
  nat.port_be = htons(80);
  nat.backends = {{be("198.18.2.11"), htons(8080), 1, 1, abi::BackendState::Active},
                  {be("198.18.2.12"), htons(8080), 2, 1, abi::BackendState::Down}};
  spec.vips.push_back(nat);
  cp::VipSpec full;
  full.addr_be = be("198.18.0.20");
  full.port_be = htons(443);
  full.mode = abi::ForwardMode::FullNat;
  full.vip_id = 1;
  full.snat_addrs_be = {be("198.18.2.100")};
  full.backends = {{be("198.18.2.13"), htons(8443), 3, 1, abi::BackendState::Active}};
  spec.vips.push_back(full);
  if (with_second_nat_vip) {
    cp::VipSpec extra = nat;
    extra.addr_be = be("198.18.0.30");
    extra.vip_id = 2;
    extra.backends = {{be("198.18.2.14"), htons(80), 4, 1, abi::BackendState::Active}};
    spec.vips.push_back(extra);
  }
  return spec;
}
const std::vector<uint32_t> kHostAddrs = {be("198.18.1.1"), be("198.18.2.1")};

Packet from_client() { return Packet().eth(kClientMac, kLbMac); }
Packet from_backend() { return Packet().eth(kBackendMac, kLbMac); }

std::vector<Golden> golden_cases() {
  const uint8_t S = tcpflag::SYN, A = tcpflag::ACK;
  Packet quoted_to_backend = Packet().ipv4(ip("198.18.1.2"), ip("198.18.2.11")).tcp(40000, 8080, A);
  Packet quoted_from_vip = Packet().ipv4(ip("198.18.0.10"), ip("198.18.1.2")).tcp(80, 40000, A);
  Packet quoted_host = Packet().ipv4(ip("198.18.1.1"), ip("198.18.1.2")).tcp(179, 40000, A);
  return {
      // Redirected: what the data plane must see.
      {"SYN to the nat VIP", from_client().ipv4(ip("198.18.1.2"), ip("198.18.0.10")).tcp(40000, 80, S).build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_VIP},
      {"SYN to the fullnat VIP", from_client().ipv4(ip("198.18.1.2"), ip("198.18.0.20")).tcp(40000, 443, S).build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_VIP},
      {"VIP traffic with an 802.1Q tag", from_client().vlan(7).ipv4(ip("198.18.1.2"), ip("198.18.0.10")).tcp(40000, 80, A).build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_VIP},
      {"nat reply from a backend address:port", from_backend().ipv4(ip("198.18.2.11"), ip("198.18.1.2")).tcp(8080, 40000, S | A).build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_NAT_REPLY},
      {"nat reply from a down backend (its flows live on)",
       from_backend().ipv4(ip("198.18.2.12"), ip("198.18.1.2")).tcp(8080, 40000, A).build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_NAT_REPLY},
      {"fullnat reply to the SNAT address", from_backend().ipv4(ip("198.18.2.13"), ip("198.18.2.100")).tcp(8443, 1024, A).build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_SNAT},
      {"ping of a VIP", from_client().ipv4(ip("198.18.1.2"), ip("198.18.0.10")).icmp_echo(true, 1, 1).build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_ICMP},
      {"ping of the SNAT address", from_backend().ipv4(ip("198.18.2.13"), ip("198.18.2.100")).icmp_echo(true, 1, 1).build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_ICMP},
      {"fragmentation needed from the backend side, about a packet to a nat backend",
       from_backend().ipv4(ip("198.18.2.254"), ip("198.18.1.2")).icmp_frag_needed(1400).embed(quoted_to_backend, 28).build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_ICMP},
      {"unreachable from the client side, about a reply from the VIP",
       from_client().ipv4(ip("198.18.1.254"), ip("198.18.0.10")).icmp(3, 1).embed(quoted_from_vip, 28).build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_ICMP},
      {"time exceeded quoting a VIP reply, sent to the client's address",
       from_client().ipv4(ip("198.18.1.254"), ip("198.18.1.2")).icmp(11, 0).embed(quoted_from_vip, 28).build(), XDP_REDIRECT,
       FULCRUM_XDP_REDIRECT_ICMP},
      {"ARP request for a VIP", from_client().arp(1, kClientMac, ip("198.18.1.2"), Mac{}, ip("198.18.0.10")).build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_ARP},
      {"ARP request for the SNAT address", from_backend().arp(1, kBackendMac, ip("198.18.2.13"), Mac{}, ip("198.18.2.100")).build(),
       XDP_REDIRECT, FULCRUM_XDP_REDIRECT_ARP},

      // Passed: the host's.
      {"SSH to the host address", from_client().ipv4(ip("198.18.1.2"), ip("198.18.1.1")).tcp(40000, 22, S).build(), XDP_PASS,
       FULCRUM_XDP_PASS_HOST},
      {"BGP to the host address, TTL 1", from_client().ipv4(ip("198.18.1.2"), ip("198.18.1.1")).ttl(1).tcp(40000, 179, S).build(),
       XDP_PASS, FULCRUM_XDP_PASS_HOST},
      {"health-check answer from a nat backend's address:port to the host address",
       from_backend().ipv4(ip("198.18.2.11"), ip("198.18.2.1")).tcp(8080, 50000, S | A).build(), XDP_PASS, FULCRUM_XDP_PASS_HOST},
      {"a VIP address on another port", from_client().ipv4(ip("198.18.1.2"), ip("198.18.0.10")).tcp(40000, 22, S).build(),
       XDP_PASS, FULCRUM_XDP_PASS_HOST},
      {"a backend address on another port", from_backend().ipv4(ip("198.18.2.11"), ip("198.18.1.2")).tcp(22, 40000, A).build(),
       XDP_PASS, FULCRUM_XDP_PASS_HOST},
      {"UDP to a VIP", from_client().ipv4(ip("198.18.1.2"), ip("198.18.0.10")).udp(40000, 80).build(), XDP_PASS,
       FULCRUM_XDP_PASS_HOST},
      {"ping of the host address", from_client().ipv4(ip("198.18.1.2"), ip("198.18.1.1")).icmp_echo(true, 1, 1).build(), XDP_PASS,
       FULCRUM_XDP_PASS_HOST},
      {"unreachable about the host's own BGP session",
       from_client().ipv4(ip("198.18.1.254"), ip("198.18.1.1")).icmp(3, 3).embed(quoted_host, 28).build(), XDP_PASS,
       FULCRUM_XDP_PASS_HOST},
      {"ARP request for the host address", from_client().arp(1, kClientMac, ip("198.18.1.2"), Mac{}, ip("198.18.1.1")).build(),
       XDP_PASS, FULCRUM_XDP_PASS_ARP},
      {"ARP reply to the host (the kernel asked)", from_client().arp(2, kClientMac, ip("198.18.1.2"), kLbMac, ip("198.18.1.1")).build(),
       XDP_PASS, FULCRUM_XDP_PASS_ARP},
      {"ARP reply naming a VIP as target (nobody asked)",
       from_client().arp(2, kClientMac, ip("198.18.1.2"), kLbMac, ip("198.18.0.10")).build(), XDP_PASS, FULCRUM_XDP_PASS_ARP},
      {"an IPv6 ethertype over an IP version 0 header", from_client().ethertype(0x86DD).payload(Bytes(40, 0)).build(), XDP_PASS,
       FULCRUM_XDP_PASS_MALFORMED},
      {"LLDP", Packet().eth(kClientMac, mac("01:80:c2:00:00:0e")).ethertype(0x88CC).payload(Bytes(30, 0)).build(), XDP_PASS,
       FULCRUM_XDP_PASS_OTHER},
      {"a fragment to a VIP", from_client().ipv4(ip("198.18.1.2"), ip("198.18.0.10")).frag_offset(10).payload(Bytes(16, 0)).ip_protocol(kTcp).build(),
       XDP_PASS, FULCRUM_XDP_PASS_MALFORMED},
      {"a frame cut inside the TCP header", truncate(from_client().ipv4(ip("198.18.1.2"), ip("198.18.0.10")).tcp(40000, 80, S).build(), 40),
       XDP_PASS, FULCRUM_XDP_PASS_MALFORMED},
      // (BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header.)
      {"an IPv4 ethertype and nothing after it", truncate(from_client().ipv4(ip("198.18.1.2"), ip("198.18.0.10")).build(), 14),
       XDP_PASS, FULCRUM_XDP_PASS_MALFORMED},
      {"IPv4 header length below 20", from_client().ipv4(ip("198.18.1.2"), ip("198.18.0.10")).ihl(4).tcp(40000, 80, S).build(),
       XDP_PASS, FULCRUM_XDP_PASS_MALFORMED},
  };
}

TEST_F(XdpProgram, GoldenFramesRedirectedOrPassed) {
  LoadedProgram prog;
  ASSERT_EQ(prog.load(true), "");
  ASSERT_EQ(prog.maps().sync(cp::steering_spec(tables(), kHostAddrs)), "");
  expect_goldens(prog, golden_cases());
}

// A reload: a VIP added is steered by the next sync, one removed is passed again, and the
// SNAT address of a removed fullnat VIP goes back to the kernel.
TEST_F(XdpProgram, SyncFollowsTheTables) {
  LoadedProgram prog;
  ASSERT_EQ(prog.load(true), "");
  Bytes syn_new = from_client().ipv4(ip("198.18.1.2"), ip("198.18.0.30")).tcp(40000, 80, tcpflag::SYN).build();
  Bytes snat_reply = from_backend().ipv4(ip("198.18.2.13"), ip("198.18.2.100")).tcp(8443, 1024, tcpflag::ACK).build();
  ASSERT_EQ(prog.maps().sync(cp::steering_spec(tables(false), kHostAddrs)), "");
  EXPECT_EQ(prog.run(syn_new).action, uint32_t{XDP_PASS});
  ASSERT_EQ(prog.maps().sync(cp::steering_spec(tables(true), kHostAddrs)), "");
  EXPECT_EQ(prog.run(syn_new).action, uint32_t{XDP_REDIRECT}) << "a VIP added by a sync is steered";
  cp::TableSpec only_nat = tables(true);
  only_nat.vips.erase(only_nat.vips.begin() + 1);  // the fullnat VIP
  only_nat.vips.erase(only_nat.vips.begin());      // the first nat VIP
  ASSERT_EQ(prog.maps().sync(cp::steering_spec(only_nat, kHostAddrs)), "");
  EXPECT_EQ(prog.run(from_client().ipv4(ip("198.18.1.2"), ip("198.18.0.10")).tcp(40000, 80, tcpflag::SYN).build()).action,
            uint32_t{XDP_PASS})
      << "a removed VIP goes back to the kernel";
  EXPECT_EQ(prog.run(snat_reply).action, uint32_t{XDP_PASS}) << "a removed VIP's SNAT address goes back to the kernel";
  EXPECT_EQ(prog.run(syn_new).action, uint32_t{XDP_REDIRECT});
}

// The data plane died: its socket left xsks_map, so VIP traffic reaches the kernel.
TEST_F(XdpProgram, WithoutASocketVipTrafficGoesToTheKernel) {
  LoadedProgram prog;
  ASSERT_EQ(prog.load(false), "");
  ASSERT_EQ(prog.maps().sync(cp::steering_spec(tables(), kHostAddrs)), "");
  LoadedProgram::Run r = prog.run(from_client().ipv4(ip("198.18.1.2"), ip("198.18.0.10")).tcp(40000, 80, tcpflag::SYN).build());
  EXPECT_EQ(r.action, uint32_t{XDP_PASS});
  EXPECT_EQ(r.stat, FULCRUM_XDP_REDIRECT_VIP);
  EXPECT_TRUE(r.no_socket);
}

// The maps the control plane creates and pins must be the ones net_af_xdp's libbpf
// reuses when it loads the program: same type, key, value, size, flags. Checked in a
// private bpffs, in a private mount namespace.
TEST_F(XdpProgram, ControlPlaneMapsAreReusedByTheProgramsLoad) {
  if (unshare(CLONE_NEWNS) != 0) GTEST_SKIP() << "cannot unshare the mount namespace: " << std::strerror(errno);
  ASSERT_EQ(mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << std::strerror(errno);
  char dir[] = "/tmp/fulcrum-bpffs-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  ASSERT_EQ(mount("bpf", dir, "bpf", 0, nullptr), 0) << std::strerror(errno);
  {
    SteeringMaps maps;
    ASSERT_EQ(maps.open(dir), "");
    ASSERT_EQ(maps.sync(cp::steering_spec(tables(), kHostAddrs)), "");

    LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = dir);
    bpf_object* obj = bpf_object__open_file(object_path().c_str(), &opts);
    ASSERT_NE(obj, nullptr);
    EXPECT_EQ(bpf_object__load(obj), 0) << "libbpf refused the pinned maps (definitions differ)";
    for (const char* name : {FULCRUM_STEER_MAP_VIPS, FULCRUM_STEER_MAP_BACKENDS, FULCRUM_STEER_MAP_LOCALS, FULCRUM_STEER_MAP_STATS,
                             FULCRUM_STEER_MAP_VIPS6, FULCRUM_STEER_MAP_BACKENDS6, FULCRUM_STEER_MAP_LOCALS6}) {
      int pinned = bpf_obj_get((std::string(dir) + "/" + name).c_str());
      ASSERT_GE(pinned, 0) << name;
      bpf_map_info a{}, b{};
      uint32_t la = sizeof a, lb = sizeof b;
      ASSERT_EQ(bpf_obj_get_info_by_fd(pinned, &a, &la), 0);
      ASSERT_EQ(bpf_obj_get_info_by_fd(bpf_map__fd(bpf_object__find_map_by_name(obj, name)), &b, &lb), 0);
      EXPECT_EQ(a.id, b.id) << name << ": the program got a map of its own instead of the pinned one";
      close(pinned);
    }
    // The program sees what the control plane wrote.
    struct fulcrum_l4_key k{be("198.18.0.10"), htons(80), kTcp, 0};
    uint32_t v = 0;
    EXPECT_EQ(bpf_map_lookup_elem(bpf_map__fd(bpf_object__find_map_by_name(obj, FULCRUM_STEER_MAP_VIPS)), &k, &v), 0);
    bpf_object__close(obj);
    // A second open (a restarted control plane) finds the same maps and their content.
    SteeringMaps again;
    ASSERT_EQ(again.open(dir), "");
  }
  umount2(dir, MNT_DETACH);
  rmdir(dir);
}

TEST_F(XdpProgram, OpenRefusesWhatIsNotABpffs) {
  SteeringMaps maps;
  std::string err = maps.open("/tmp");
  EXPECT_NE(err.find("not a mounted bpffs"), std::string::npos) << err;
}

}  // namespace
}  // namespace fulcrum::test
