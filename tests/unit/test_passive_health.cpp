// Passive health's decision (controlplane/service/passive_health.h): a streak of failed
// attempts with no success between, sampled per tick; the cap on ejections per VIP.
#include <gtest/gtest.h>

#include "controlplane/service/passive_health.h"

namespace fulcrum::cp {
namespace {

TEST(PassiveHealth, ConsecutiveFailuresWithoutASuccessEject) {
  PassiveState st;
  AttemptCounters c{100, 0, 0};
  EXPECT_FALSE(observe_attempts(st, c, 5)) << "the first sample is the baseline";
  c.refused += 3;
  EXPECT_FALSE(observe_attempts(st, c, 5));
  c.unanswered += 2;
  EXPECT_TRUE(observe_attempts(st, c, 5)) << "3 refused + 2 unanswered in a row";
  eject(st, 1234, /*checks=*/40);
  EXPECT_TRUE(st.ejected);
  EXPECT_FALSE(may_readmit(st, 41, 41, 2)) << "one check since the ejection";
  EXPECT_FALSE(may_readmit(st, 43, 1, 2)) << "the last check failed";
  EXPECT_TRUE(may_readmit(st, 42, 42, 2)) << "two checks since, both successful";
  EXPECT_EQ(st.ejections, 1u);
  EXPECT_EQ(st.reason, "ejected: 5 connection attempts failed in a row (3 refused, 2 unanswered)");
  readmit(st);
  EXPECT_FALSE(st.ejected);
  EXPECT_FALSE(observe_attempts(st, c, 5)) << "a new streak after readmission";
}

TEST(PassiveHealth, ASuccessBreaksTheStreakAndZeroDisables) {
  PassiveState st;
  AttemptCounters c{0, 0, 0};
  observe_attempts(st, c, 5);
  c.refused += 4;
  EXPECT_FALSE(observe_attempts(st, c, 5));
  c.answered += 1;
  c.refused += 4;
  EXPECT_FALSE(observe_attempts(st, c, 5)) << "a tick with a success resets the streak";
  c.refused += 4;
  EXPECT_FALSE(observe_attempts(st, c, 5));
  c.refused += 1;
  EXPECT_TRUE(observe_attempts(st, c, 5));
  PassiveState off;
  observe_attempts(off, c, 0);
  c.refused += 1000;
  EXPECT_FALSE(observe_attempts(off, c, 0));
}

TEST(PassiveHealth, CountersGoingBackwardsStartAgain) {
  PassiveState st;
  observe_attempts(st, {50, 40, 0}, 5);
  EXPECT_FALSE(observe_attempts(st, {0, 10, 0}, 5)) << "the data plane restarted: a new baseline";
  EXPECT_TRUE(observe_attempts(st, {0, 15, 0}, 5));
}

TEST(PassiveHealth, AtMostAShareOfAVipIsEjected) {
  EXPECT_EQ(max_ejected(3, 50), 1u);
  EXPECT_EQ(max_ejected(1, 50), 0u) << "a VIP's only backend is never ejected at 50 %";
  EXPECT_EQ(max_ejected(10, 34), 3u);
  EXPECT_EQ(max_ejected(4, 100), 4u);
}

}  // namespace
}  // namespace fulcrum::cp
