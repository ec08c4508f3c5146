// Issue 12's logic apart from BIRD and the data plane: which VIPs a node announces and why
// not (announce_policy), the include file BIRD reads, BIRD's control-socket replies, and the
// fingerprint of a Maglev table that operators compare between nodes.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "controlplane/announce/announce_policy.h"
#include "controlplane/announce/bird_announcer.h"
#include "controlplane/announce/bird_client.h"
#include "controlplane/cluster/table_fingerprint.h"
#include "controlplane/maglev/maglev.h"
#include "config/loader/ip_addr.h"
#include "config/loader/net_parse.h"

namespace fulcrum::cp {
namespace {

uint32_t ip(const char* s) { return inet_addr(s); }
config::IpAddr a4(const char* s) { return config::IpAddr::from_v4(inet_addr(s)); }
config::IpAddr a6(const char* s) { return *config::parse_ip(s); }

NodeFacts healthy_node() {
  NodeFacts n;
  n.dataplane_alive = true;
  n.heartbeat_age_ms = 10;
  n.dataplane_has_tables = true;
  return n;
}

VipFacts vip(const char* name, const char* addr, uint32_t usable, uint32_t min = 1, bool published = true) {
  return VipFacts{name, *config::parse_ip(addr), published, usable, min};
}

// ------------------------------------------------------------------------- policy

TEST(AnnouncePolicy, HealthyVipsAreAnnouncedOneRoutePerAddressSorted) {
  AnnouncePlan p = plan_announcements(healthy_node(), {vip("b", "192.0.2.20", 2), vip("a", "192.0.2.10", 1)});
  ASSERT_EQ(p.routes.size(), 2u);
  EXPECT_EQ(p.routes[0].addr, a4("192.0.2.10"));
  EXPECT_EQ(p.routes[0].comment, "a");
  EXPECT_EQ(p.routes[1].addr, a4("192.0.2.20"));
  for (const VipVerdict& v : p.vips) {
    EXPECT_TRUE(v.wanted && v.announced);
    EXPECT_EQ(v.why_not, "");
  }
}

TEST(AnnouncePolicy, TooFewUsableBackendsWithdrawsThatVipOnly) {
  AnnouncePlan p = plan_announcements(healthy_node(), {vip("web", "192.0.2.10", 1, 2), vip("api", "192.0.2.11", 3, 2)});
  ASSERT_EQ(p.routes.size(), 1u);
  EXPECT_EQ(p.routes[0].addr, a4("192.0.2.11"));
  EXPECT_FALSE(p.vips[0].announced);
  EXPECT_EQ(p.vips[0].why_not, "1 usable backend(s), min_healthy_backends is 2");
  EXPECT_TRUE(p.vips[1].announced);
}

TEST(AnnouncePolicy, AnAddressStaysWhileAnyOfItsVipsMayBeAnnounced) {
  AnnouncePlan p = plan_announcements(healthy_node(), {vip("web", "192.0.2.10", 2), vip("web-tls", "192.0.2.10", 0)});
  ASSERT_EQ(p.routes.size(), 1u);
  EXPECT_EQ(p.routes[0].comment, "web");
  EXPECT_TRUE(p.vips[1].announced);
  EXPECT_FALSE(p.vips[1].wanted);
  EXPECT_NE(p.vips[1].why_not.find("its address stays announced for web"), std::string::npos) << p.vips[1].why_not;
  // Both healthy: one route naming both.
  p = plan_announcements(healthy_node(), {vip("web", "192.0.2.10", 2), vip("web-tls", "192.0.2.10", 2)});
  ASSERT_EQ(p.routes.size(), 1u);
  EXPECT_EQ(p.routes[0].comment, "web, web-tls");
}

TEST(AnnouncePolicy, NodeConditionsWithdrawEverythingWithTheirReason) {
  const std::vector<VipFacts> vips = {vip("web", "192.0.2.10", 3)};
  struct Case {
    NodeFacts node;
    std::string why;
  } cases[] = {
      {[] { NodeFacts n = healthy_node(); n.drained = true; return n; }(), "node drained (lbctl node undrain to announce again)"},
      {[] { NodeFacts n = healthy_node(); n.stopping = true; return n; }(), "the control plane is stopping"},
      {[] { NodeFacts n = healthy_node(); n.dataplane_alive = false; n.heartbeat_age_ms = 1500; return n; }(),
       "data plane not running (last heartbeat 1500 ms ago)"},
      {[] { NodeFacts n; return n; }(), "data plane not running"},
      {[] { NodeFacts n = healthy_node(); n.dataplane_has_tables = false; return n; }(),
       "the data plane has not loaded the tables yet"},
  };
  for (const Case& c : cases) {
    AnnouncePlan p = plan_announcements(c.node, vips);
    EXPECT_TRUE(p.routes.empty()) << c.why;
    EXPECT_EQ(p.vips[0].why_not, c.why);
    EXPECT_FALSE(p.vips[0].announced);
  }
}

TEST(AnnouncePolicy, AVipNotInThePublishedTablesIsNotAnnounced) {
  AnnouncePlan p = plan_announcements(healthy_node(), {vip("new", "192.0.2.30", 0, 1, false)});
  EXPECT_TRUE(p.routes.empty());
  EXPECT_EQ(p.vips[0].why_not, "not in the tables the data plane uses yet");
}

// ----------------------------------------------------------------------- BIRD side

TEST(BirdInclude, CheckLinkRoutesViaTheExceptionInterface) {
  config::BgpConfig cfg;
  cfg.link_interface = "fl-uplink";
  std::string t = render_bird_include(cfg, {{a4("192.0.2.10"), "web, web-tls"}, {a4("192.0.2.11"), "api"}});
  EXPECT_NE(t.find("protocol static fulcrum_vips {\n  ipv4;\n  check link on;"), std::string::npos) << t;
  EXPECT_NE(t.find("  route 192.0.2.10/32 via \"fl-uplink\";  # web, web-tls\n"), std::string::npos) << t;
  EXPECT_NE(t.find("  route 192.0.2.11/32 via \"fl-uplink\";  # api\n"), std::string::npos) << t;
  EXPECT_EQ(t.back(), '\n');
}

TEST(BirdInclude, BlackholeRoutesWithoutALinkInterfaceAndAnEmptyProtocolWhenNothing) {
  config::BgpConfig cfg;
  cfg.protocol = "lb";
  std::string t = render_bird_include(cfg, {{a4("192.0.2.10"), ""}});
  EXPECT_NE(t.find("  route 192.0.2.10/32 blackhole;\n"), std::string::npos) << t;
  EXPECT_EQ(t.find("check link"), std::string::npos);
  t = render_bird_include(cfg, {});
  EXPECT_NE(t.find("protocol static lb {\n  ipv4;\n}\n"), std::string::npos) << "withdrawing all keeps the protocol:\n" << t;
}

// issue 15: IPv6 VIPs are /128 routes in a second static protocol with an ipv6 channel
// (a BIRD 2 static protocol has one channel); an IPv4-only node's file is unchanged.
TEST(BirdInclude, Ipv6VipsGoToTheirOwnStaticProtocolAsSlash128) {
  config::BgpConfig cfg;
  cfg.link_interface = "fl-uplink";
  std::string v4_only = render_bird_include(cfg, {{a4("192.0.2.10"), "web"}});
  EXPECT_EQ(v4_only.find("ipv6"), std::string::npos) << v4_only;
  EXPECT_EQ(bird_protocol6(cfg), "fulcrum_vips6");
  std::string t = render_bird_include(cfg, {{a4("192.0.2.10"), "web"}, {a6("2001:db8::10"), "web6, nat64"}});
  size_t p4 = t.find("protocol static fulcrum_vips {\n  ipv4;\n  check link on;");
  size_t p6 = t.find("protocol static fulcrum_vips6 {\n  ipv6;\n  check link on;");
  ASSERT_NE(p4, std::string::npos) << t;
  ASSERT_NE(p6, std::string::npos) << t;
  size_t r4 = t.find("  route 192.0.2.10/32 via \"fl-uplink\";  # web\n");
  size_t r6 = t.find("  route 2001:db8::10/128 via \"fl-uplink\";  # web6, nat64\n");
  ASSERT_NE(r4, std::string::npos) << t;
  ASSERT_NE(r6, std::string::npos) << t;
  EXPECT_TRUE(p4 < r4 && r4 < p6 && p6 < r6) << "each route in its family's protocol:\n" << t;
  EXPECT_NE(t.find("export where proto = \"fulcrum_vips6\";"), std::string::npos) << t;
  cfg.link_interface = "";
  t = render_bird_include(cfg, {{a6("2001:db8::10"), ""}});
  EXPECT_NE(t.find("  route 2001:db8::10/128 blackhole;\n"), std::string::npos) << t;
  EXPECT_NE(t.find("protocol static fulcrum_vips {\n  ipv4;\n}\n"), std::string::npos) << "the IPv4 one stays, empty:\n" << t;
}

TEST(AnnouncePolicy, Ipv6VipsAreAnnouncedAfterTheIpv4OnesOnePerAddress) {
  AnnouncePlan p = plan_announcements(healthy_node(), {vip("b6", "2001:db8::20", 1), vip("a6", "2001:db8::10", 1),
                                                       vip("v4", "192.0.2.10", 1), vip("a6-tls", "2001:DB8::10", 1)});
  ASSERT_EQ(p.routes.size(), 3u);
  EXPECT_EQ(p.routes[0].addr, a4("192.0.2.10"));
  EXPECT_EQ(p.routes[1].addr, a6("2001:db8::10"));
  EXPECT_EQ(p.routes[1].comment, "a6, a6-tls");
  EXPECT_EQ(p.routes[2].addr, a6("2001:db8::20"));
}

TEST(BirdReplies, CodesContinuationsAndTheEnd) {
  BirdLine l;
  bool final = false;
  ASSERT_TRUE(parse_bird_line("0001 BIRD 2.0.12 ready.", 0, &l, &final));
  EXPECT_EQ(l.code, 1);
  EXPECT_TRUE(final);
  ASSERT_TRUE(parse_bird_line("2002-Name       Proto      Table      State  Since         Info", 0, &l, &final));
  EXPECT_EQ(l.code, 2002);
  EXPECT_FALSE(final);
  ASSERT_TRUE(parse_bird_line(" continued", 1002, &l, &final));
  EXPECT_EQ(l.code, 1002);
  EXPECT_EQ(l.text, "continued");
  EXPECT_FALSE(parse_bird_line("+spontaneous", 0, &l, &final));

  BirdReply table;  // `show protocols X` ends with "0000": a success
  table.lines = {{2002, "Name Proto Table State Since Info"}, {1002, "fulcrum_vips Static master4 up 10:00:00.000"}, {0, ""}};
  EXPECT_TRUE(table.ok());
  BirdReply error;
  error.lines = {{8003, "No protocols match"}};
  EXPECT_FALSE(error.ok());
  EXPECT_EQ(error.message(), "No protocols match");
  BirdReply reconfigured;
  reconfigured.lines = {{3, "Reconfigured"}};
  EXPECT_TRUE(reconfigured.ok());
  EXPECT_FALSE(BirdReply{}.ok());
}

TEST(BirdReplies, ShowProtocolsRows) {
  BirdReply r;
  r.lines = {{2002, "Name       Proto      Table      State  Since         Info"},
             {1002, "device1    Device     ---        up     16:42:56.605  "},
             {1002, "uplink     BGP        ---        up     16:42:57.120  Established   "},
             {1002, "fulcrum_vips Static     master4    up     16:42:56.605  "},
             {0, ""}};
  std::vector<DaemonProtocol> p = parse_bird_protocols(r);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[1].name, "uplink");
  EXPECT_EQ(p[1].proto, "BGP");
  EXPECT_EQ(p[1].state, "up");
  EXPECT_EQ(p[1].info, "Established");
  EXPECT_EQ(p[2].name, "fulcrum_vips");
}

// ---------------------------------------------------------------------- fingerprint

// One VIP's table in a slot, built with the real Maglev builder from `backends` in the
// given order, with backend ids starting at `first_id`.
struct SlotWithVip {
  std::unique_ptr<abi::TableSlot> slot = std::make_unique<abi::TableSlot>();
  abi::Vip* vip = &slot->vips[0];
};

SlotWithVip build(const std::vector<std::pair<const char*, uint16_t>>& backends, abi::HashKey key, uint16_t first_id,
                  uint32_t m = 65537) {
  SlotWithVip s;
  s.slot->hdr.vip_count = 1;
  s.vip->backend_first = 0;
  s.vip->backend_count = static_cast<uint32_t>(backends.size());
  s.vip->maglev_offset = 0;
  s.vip->maglev_size = m;
  s.vip->hash_key[0] = key.k0;
  s.vip->hash_key[1] = key.k1;
  std::vector<MaglevBackend> mb;
  for (size_t i = 0; i < backends.size(); ++i) {
    abi::Backend& b = s.slot->backends[i];
    b.addr_be = ip(backends[i].first);
    b.port_be = htons(backends[i].second);
    b.id = static_cast<uint16_t>(first_id + i);
    b.weight = 1;
    b.state = static_cast<uint8_t>(abi::BackendState::Active);
    mb.push_back({b.addr_be, b.port_be, 1});
  }
  EXPECT_EQ(build_maglev(mb, key, std::span<uint16_t>(s.slot->maglev, m)), "");
  return s;
}

TEST(TableFingerprint, SameSetSameSeedSameFingerprintWhateverTheOrderAndIds) {
  const abi::HashKey key{0x1234, 0x5678};
  SlotWithVip a = build({{"10.0.0.1", 80}, {"10.0.0.2", 80}, {"10.0.0.3", 80}}, key, 1);
  SlotWithVip b = build({{"10.0.0.3", 80}, {"10.0.0.1", 80}, {"10.0.0.2", 80}}, key, 40);
  uint64_t fa = table_fingerprint(*a.slot, *a.vip);
  EXPECT_NE(fa, 0u);
  EXPECT_EQ(fa, table_fingerprint(*b.slot, *b.vip)) << "another node listing the backends otherwise, with other ids";
  EXPECT_EQ(fa, table_fingerprint(*a.slot, *a.vip)) << "stable";
  EXPECT_EQ(fingerprint_text(fa).size(), 16u);
}

TEST(TableFingerprint, AnythingThatMovesAFlowChangesIt) {
  const abi::HashKey key{0x1234, 0x5678};
  uint64_t base = [&] {
    SlotWithVip s = build({{"10.0.0.1", 80}, {"10.0.0.2", 80}, {"10.0.0.3", 80}}, key, 1);
    return table_fingerprint(*s.slot, *s.vip);
  }();
  SlotWithVip other_seed = build({{"10.0.0.1", 80}, {"10.0.0.2", 80}, {"10.0.0.3", 80}}, {0x1234, 0x5679}, 1);
  EXPECT_NE(table_fingerprint(*other_seed.slot, *other_seed.vip), base) << "another cluster seed";
  SlotWithVip one_down = build({{"10.0.0.1", 80}, {"10.0.0.2", 80}}, key, 1);
  EXPECT_NE(table_fingerprint(*one_down.slot, *one_down.vip), base) << "a backend one node does not use";
  SlotWithVip other_port = build({{"10.0.0.1", 80}, {"10.0.0.2", 80}, {"10.0.0.3", 8080}}, key, 1);
  EXPECT_NE(table_fingerprint(*other_port.slot, *other_port.vip), base);
  SlotWithVip smaller = build({{"10.0.0.1", 80}, {"10.0.0.2", 80}, {"10.0.0.3", 80}}, key, 1, 65521);
  EXPECT_NE(table_fingerprint(*smaller.slot, *smaller.vip), base) << "another table size";
  SlotWithVip edited = build({{"10.0.0.1", 80}, {"10.0.0.2", 80}, {"10.0.0.3", 80}}, key, 1);
  edited.slot->maglev[777] = static_cast<uint16_t>((edited.slot->maglev[777] + 1) % 3);
  EXPECT_NE(table_fingerprint(*edited.slot, *edited.vip), base) << "one slot";
}

// issue 15: IPv6 backends are ordered and hashed by their 16-byte addresses; two that
// differ only above the low 32 bits give different fingerprints.
SlotWithVip build6(const std::vector<const char*>& backends, abi::HashKey key, uint16_t first_id) {
  SlotWithVip s;
  s.slot->hdr.vip_count = 1;
  s.vip->backend_count = static_cast<uint32_t>(backends.size());
  s.vip->maglev_size = 4099;
  s.vip->backend_family = static_cast<uint8_t>(abi::Family::Ipv6);
  s.vip->hash_key[0] = key.k0;
  s.vip->hash_key[1] = key.k1;
  std::vector<MaglevBackend> mb;
  for (size_t i = 0; i < backends.size(); ++i) {
    abi::Backend& b = s.slot->backends[i];
    b.port_be = htons(80);
    b.id = static_cast<uint16_t>(first_id + i);
    s.slot->backend_addr6[i] = *config::parse_ipv6(backends[i]);
    MaglevBackend m;
    m.family = abi::Family::Ipv6;
    m.addr6 = s.slot->backend_addr6[i];
    m.port_be = b.port_be;
    m.weight = 1;
    mb.push_back(m);
  }
  EXPECT_EQ(build_maglev(mb, key, std::span<uint16_t>(s.slot->maglev, 4099)), "");
  return s;
}

TEST(TableFingerprint, Ipv6BackendsByTheirFullAddresses) {
  const abi::HashKey key{0x1234, 0x5678};
  SlotWithVip a = build6({"2001:db8:2::11", "2001:db8:2::12", "2001:db8:2::13"}, key, 1);
  SlotWithVip b = build6({"2001:db8:2::13", "2001:db8:2::11", "2001:db8:2::12"}, key, 30);
  uint64_t fa = table_fingerprint(*a.slot, *a.vip);
  EXPECT_NE(fa, 0u);
  EXPECT_EQ(fa, table_fingerprint(*b.slot, *b.vip)) << "order and ids do not matter";
  SlotWithVip other = build6({"2001:db8:3::11", "2001:db8:3::12", "2001:db8:3::13"}, key, 1);
  EXPECT_NE(table_fingerprint(*other.slot, *other.vip), fa) << "same low 32 bits, another prefix";
}

TEST(TableFingerprint, ACorruptVipGivesZero) {
  SlotWithVip s = build({{"10.0.0.1", 80}}, {1, 2}, 1);
  s.vip->maglev_offset = abi::kMaglevPoolEntries;
  EXPECT_EQ(table_fingerprint(*s.slot, *s.vip), 0u);
  s.vip->maglev_offset = 0;
  s.vip->backend_count = abi::kMaxBackends + 1;
  EXPECT_EQ(table_fingerprint(*s.slot, *s.vip), 0u);
}

}  // namespace
}  // namespace fulcrum::cp
