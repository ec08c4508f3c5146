// The scheduling keys of [[vip]] and [[vip.backends]] (config/loader/scheduling_config.h):
// defaults, every value read, and each bad value reported at its key with advice.
#include <gtest/gtest.h>
#include <toml++/toml.h>

#include <string>
#include <vector>

#include "config/loader/lb_config.h"
#include "tests/unit/config_snippets.h"

namespace fulcrum::config {
namespace {

const std::string kHead = snippets::kTwoPortsHead + R"([[vip]]
name = "web"
address = "198.18.0.10"
port = 80
)";
const std::string kBackend = R"([[vip.backends]]
address = "198.18.2.11"
port = 80
)";

std::optional<LbConfig> parse(const std::string& text, std::vector<std::string>* errors) {
  Errors e("test.toml");
  std::optional<LbConfig> cfg;
  try {
    toml::table root = toml::parse(text);
    cfg = parse_config(root, "test.toml", e);
  } catch (const toml::parse_error& err) {
    ADD_FAILURE() << err.what();
  }
  for (const ConfigError& c : e.list()) errors->push_back(c.str());
  return cfg;
}

TEST(SchedulingConfig, Defaults) {
  std::vector<std::string> errors;
  auto cfg = parse(kHead + kBackend, &errors);
  ASSERT_TRUE(cfg) << (errors.empty() ? "" : errors[0]);
  const Scheduling& s = cfg->vips[0].scheduling;
  EXPECT_EQ(s.scheduler, SchedulerKind::Maglev);
  EXPECT_EQ(s.on_full, OnFull::Drop);
  EXPECT_EQ(s.connect_retries, 2u);
  EXPECT_EQ(s.slow_start_s, 0u);
  EXPECT_EQ(s.passive.consecutive_failures, 5u);
  EXPECT_EQ(s.passive.max_ejected_percent, 50u);
  EXPECT_EQ(cfg->vips[0].backends[0].limits, BackendLimits{});
}

TEST(SchedulingConfig, EveryKeyIsRead) {
  std::vector<std::string> errors;
  auto cfg = parse(kHead + R"(scheduler = "maglev_bounded"
balance_factor = 150
on_full = "reset"
connect_retries = 3
slow_start_s = 30
[vip.passive]
consecutive_failures = 7
max_ejected_percent = 34
[[vip.backends]]
address = "198.18.2.11"
port = 80
max_connections = 50
max_new_conn_rate = 1000
)", &errors);
  ASSERT_TRUE(cfg) << (errors.empty() ? "" : errors[0]);
  const Scheduling& s = cfg->vips[0].scheduling;
  EXPECT_EQ(s.scheduler, SchedulerKind::MaglevBounded);
  EXPECT_EQ(s.balance_factor, 150u);
  EXPECT_EQ(s.on_full, OnFull::Reset);
  EXPECT_EQ(s.connect_retries, 3u);
  EXPECT_EQ(s.slow_start_s, 30u);
  EXPECT_EQ(s.passive.consecutive_failures, 7u);
  EXPECT_EQ(s.passive.max_ejected_percent, 34u);
  const BackendLimits& l = cfg->vips[0].backends[0].limits;
  EXPECT_EQ(l.max_connections, 50u);
  EXPECT_EQ(l.max_new_conn_rate, 1000u);
  EXPECT_EQ(l.new_conn_burst, 100u) << "rate / 10 by default";
  for (const char* name : {"maglev", "maglev_bounded", "round_robin", "weighted_round_robin", "least_conn", "fastest"}) {
    std::vector<std::string> e;
    auto c = parse(kHead + "scheduler = \"" + name + "\"\n" + kBackend, &e);
    ASSERT_TRUE(c) << name;
    EXPECT_STREQ(scheduler_name(c->vips[0].scheduling.scheduler), name);
  }
}

TEST(SchedulingConfig, BadValuesAreReportedAtTheirKey) {
  struct Case {
    std::string add, want;
  };
  const std::vector<Case> cases = {
      {"scheduler = \"leastconn\"\n",
       "test.toml:16:13: vip[0].scheduler: \"leastconn\" is not a scheduler: use \"maglev\", \"maglev_bounded\", "
       "\"round_robin\", \"weighted_round_robin\", \"least_conn\" or \"fastest\""},
      {"balance_factor = 99\nscheduler = \"maglev_bounded\"\n",
       "test.toml:16:18: vip[0].balance_factor: 99 is out of range (100 .. 1000)"},
      {"scheduler = \"least_conn\"\nbalance_factor = 150\n",
       "test.toml:17:18: vip[0].balance_factor: is only used by scheduler = \"maglev_bounded\" (the percentage of the "
       "mean load a backend may hold); remove it or change the scheduler"},
      {"balance_factor = 150\n",
       "test.toml:16:18: vip[0].balance_factor: is only used by scheduler = \"maglev_bounded\", and this VIP uses the "
       "default \"maglev\"; add scheduler = \"maglev_bounded\" or remove balance_factor"},
      {"on_full = \"queue\"\n", "test.toml:16:11: vip[0].on_full: \"queue\" is not a policy: use \"drop\" or \"reset\""},
      {"connect_retries = 4\n", "test.toml:16:19: vip[0].connect_retries: 4 is out of range (0 .. 3)"},
      {"slow_start_s = -1\n", "test.toml:16:16: vip[0].slow_start_s: -1 is out of range (0 .. 3600)"},
      {"[vip.passive]\nmax_ejected_percent = 101\n",
       "test.toml:17:23: vip[0].passive.max_ejected_percent: 101 is out of range (0 .. 100)"},
      {"[vip.passive]\nconsecutive = 3\n",
       "test.toml:17:1: vip[0].passive.consecutive: unknown key (known keys here: consecutive_failures, max_ejected_percent)"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> errors;
    auto cfg = parse(kHead + c.add + kBackend, &errors);
    EXPECT_FALSE(cfg) << c.add;
    EXPECT_EQ(errors, std::vector<std::string>{c.want}) << c.add;
  }
  std::vector<std::string> errors;
  EXPECT_FALSE(parse(kHead + kBackend + "new_conn_burst = 5\n", &errors));
  EXPECT_EQ(errors, std::vector<std::string>{"test.toml:19:18: vip[0].backends[0].new_conn_burst: has no effect without "
                                             "max_new_conn_rate (the rate it is the burst of)"});
  errors.clear();
  EXPECT_FALSE(parse(kHead + kBackend + "max_connections = -5\n", &errors));
  EXPECT_EQ(errors, std::vector<std::string>{"test.toml:19:19: vip[0].backends[0].max_connections: -5 is out of range (0 .. 100000000)"});
}

}  // namespace
}  // namespace fulcrum::config
