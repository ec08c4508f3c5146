// [controlplane.bgp] and the per-VIP min_healthy_backends (issue 12): defaults, values, the
// errors an operator sees, and which keys a reload cannot apply.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader/lb_config.h"
#include "tests/unit/temp_config_files.h"
#include "tests/unit/config_snippets.h"

namespace fulcrum::config {
namespace {

const std::string kHead = snippets::kTwoPortsHead;

std::string vip(const std::string& extra = "") {
  return "[[vip]]\nname = \"web\"\naddress = \"198.18.0.10\"\nport = 80\n" + extra +
         "[[vip.backends]]\naddress = \"198.18.2.11\"\nport = 80\n[[vip.backends]]\naddress = \"198.18.2.12\"\nport = 80\n";
}

class BgpConfig_ : public test::TempConfigFiles {
 protected:
  std::optional<LbConfig> load(const std::string& bgp, const std::string& vips, std::string* errors_out) {
    std::string path = write("bgp", kHead + bgp + vips);
    Errors errors(path);
    std::optional<LbConfig> cfg = load_config(path, errors);
    *errors_out = errors.str();
    return cfg;
  }
};

TEST_F(BgpConfig_, AbsentMeansNoAnnouncer) {
  std::string err;
  auto cfg = load("", vip(), &err);
  ASSERT_TRUE(cfg) << err;
  EXPECT_FALSE(cfg->controlplane.bgp.has_value());
}

TEST_F(BgpConfig_, DefaultsOfAnEmptyTable) {
  std::string err;
  auto cfg = load("[controlplane.bgp]\n", vip(), &err);
  ASSERT_TRUE(cfg) << err;
  ASSERT_TRUE(cfg->controlplane.bgp.has_value());
  const BgpConfig& b = *cfg->controlplane.bgp;
  EXPECT_EQ(b.daemon, "bird");
  EXPECT_EQ(b.socket, "/run/bird/bird.ctl");
  EXPECT_EQ(b.include_file, "/run/fulcrum/bird-vips.conf");
  EXPECT_EQ(b.protocol, "fulcrum_vips");
  EXPECT_EQ(b.link_interface, "");
  EXPECT_EQ(b.min_healthy_backends, 1u);
  EXPECT_TRUE(b.withdraw_on_exit);
  EXPECT_EQ(cfg->min_healthy_backends(cfg->vips[0]), 1u);
}

TEST_F(BgpConfig_, EveryKeyAndThePerVipOverride) {
  std::string err;
  auto cfg = load("[controlplane.bgp]\ndaemon = \"bird\"\nsocket = \"/run/bird/site.ctl\"\ninclude_file = \"/etc/bird/fulcrum.conf\"\n"
                  "protocol = \"lb_vips2\"\nlink_interface = \"fl-uplink\"\nmin_healthy_backends = 2\nwithdraw_on_exit = false\n",
                  vip("min_healthy_backends = 1\n") + "[[vip]]\nname = \"api\"\naddress = \"198.18.0.11\"\nport = 80\n"
                  "[[vip.backends]]\naddress = \"198.18.2.21\"\nport = 80\n[[vip.backends]]\naddress = \"198.18.2.22\"\nport = 80\n",
                  &err);
  ASSERT_TRUE(cfg) << err;
  const BgpConfig& b = *cfg->controlplane.bgp;
  EXPECT_EQ(b.socket, "/run/bird/site.ctl");
  EXPECT_EQ(b.include_file, "/etc/bird/fulcrum.conf");
  EXPECT_EQ(b.protocol, "lb_vips2");
  EXPECT_EQ(b.link_interface, "fl-uplink");
  EXPECT_EQ(b.min_healthy_backends, 2u);
  EXPECT_FALSE(b.withdraw_on_exit);
  EXPECT_EQ(cfg->min_healthy_backends(cfg->vips[0]), 1u) << "the VIP's own value wins";
  EXPECT_EQ(cfg->min_healthy_backends(cfg->vips[1]), 2u) << "else [controlplane.bgp]'s";
}

TEST_F(BgpConfig_, BadValuesAreReportedAtTheirKeys) {
  struct Case {
    std::string bgp, vips, expected;
  };
  const std::vector<Case> cases = {
      {"daemon = \"gobgp\"\n", vip(), "controlplane.bgp.daemon: \"gobgp\" is not supported: only \"bird\" (BIRD 2)"},
      {"socket = \"bird.ctl\"\n", vip(), "controlplane.bgp.socket: \"bird.ctl\" must be an absolute path"},
      {"include_file = \"/etc/bird/\"\n", vip(), "names a directory"},
      {"include_file = \"/etc/bird/a\\\"b.conf\"\n", vip(), "must not contain"},
      {"socket = \"/run/x\"\ninclude_file = \"/run/x\"\n", vip(), "is the same path as socket"},
      {"protocol = \"9vips\"\n", vip(), "controlplane.bgp.protocol: \"9vips\" is not a BIRD protocol name"},
      {"protocol = \"vips-1\"\n", vip(), "is not a BIRD protocol name"},
      {"link_interface = \"a-very-long-interface\"\n", vip(), "controlplane.bgp.link_interface: \"a-very-long-interface\" is not an interface name"},
      {"min_healthy_backends = 0\n", vip(), "controlplane.bgp.min_healthy_backends"},
      {"withdraw_on_exit = 1\n", vip(), "controlplane.bgp.withdraw_on_exit"},
      {"neighbour = \"10.0.0.1\"\n", vip(), "neighbour"},
      {"", vip("min_healthy_backends = 3\n"), "3 is more than this VIP's 2 backend(s): it would never be announced"},
      {"min_healthy_backends = 3\n", vip(), "vip[0].backends: 2 backend(s), fewer than controlplane.bgp.min_healthy_backends (3)"},
  };
  for (const Case& c : cases) {
    std::string err;
    auto cfg = load("[controlplane.bgp]\n" + c.bgp, c.vips, &err);
    EXPECT_FALSE(cfg) << c.bgp << c.vips;
    EXPECT_NE(err.find(c.expected), std::string::npos) << "expected \"" << c.expected << "\" in:\n" << err;
  }
}

TEST_F(BgpConfig_, AVipMayLowerTheSitesMinimumOrHaveNoBackendsYet) {
  std::string err;
  auto cfg = load("[controlplane.bgp]\nmin_healthy_backends = 3\n",
                  vip("min_healthy_backends = 2\n") + "[[vip]]\nname = \"new\"\naddress = \"198.18.0.11\"\nport = 80\n", &err);
  ASSERT_TRUE(cfg) << err;
  EXPECT_EQ(cfg->min_healthy_backends(cfg->vips[0]), 2u);
  EXPECT_EQ(cfg->min_healthy_backends(cfg->vips[1]), 3u);
}

TEST_F(BgpConfig_, PerVipMinimumWithoutBgpIsAnError) {
  std::string err;
  auto cfg = load("", vip("min_healthy_backends = 1\n"), &err);
  EXPECT_FALSE(cfg);
  EXPECT_NE(err.find("has no effect without [controlplane.bgp]"), std::string::npos) << err;
}

TEST(BgpRestartKeys, OnlyTheAnnouncersIdentityNeedsARestart) {
  BgpConfig a, b;
  std::vector<std::string> keys;
  bgp_restart_keys(a, b, &keys);
  EXPECT_TRUE(keys.empty());
  b.min_healthy_backends = 3;  // applied by a reload: the policy reads it on every tick
  b.withdraw_on_exit = false;
  bgp_restart_keys(a, b, &keys);
  EXPECT_TRUE(keys.empty());
  b.socket = "/run/other.ctl";
  b.link_interface = "fl-x";
  bgp_restart_keys(a, b, &keys);
  EXPECT_EQ(keys, (std::vector<std::string>{"controlplane.bgp.socket", "controlplane.bgp.link_interface"}));
  keys.clear();
  bgp_restart_keys(a, std::nullopt, &keys);
  EXPECT_EQ(keys, (std::vector<std::string>{"controlplane.bgp"}));
}

}  // namespace
}  // namespace fulcrum::config
