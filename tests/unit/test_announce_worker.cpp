// The announcer's thread (announce_worker.h) against a scripted RouteAnnouncer: the latest
// plan wins, a failed attempt is retried until the daemon takes it, submit_and_wait()
// answers with the daemon's verdict; and the node's drained state survives a restart
// (node_state.h).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "controlplane/announce/announce_worker.h"
#include "controlplane/announce/node_state.h"

namespace fulcrum::cp {
namespace {

using namespace std::chrono_literals;

class ScriptedAnnouncer : public RouteAnnouncer {
 public:
  struct Shared {
    std::mutex mu;
    int failures_left = 0;                          // announce() fails this many times first
    std::vector<std::vector<AnnouncedRoute>> taken; // what the daemon took, in order
    std::atomic<int> calls{0};
  };
  explicit ScriptedAnnouncer(std::shared_ptr<Shared> s) : s_(std::move(s)) {}
  std::string describe() const override { return "scripted"; }
  std::string announce(const std::vector<AnnouncedRoute>& routes) override {
    ++s_->calls;
    std::lock_guard lock(s_->mu);
    if (s_->failures_left > 0) {
      --s_->failures_left;
      return "daemon not running";
    }
    s_->taken.push_back(routes);
    return "";
  }
  DaemonStatus query() override { return DaemonStatus{true, "", "scripted 1.0", true, "up", {}}; }

 private:
  std::shared_ptr<Shared> s_;
};

std::vector<AnnouncedRoute> routes(std::initializer_list<uint32_t> addrs) {
  std::vector<AnnouncedRoute> out;
  for (uint32_t a : addrs) out.push_back({config::IpAddr::from_v4(a), ""});
  return out;
}

bool eventually(const std::function<bool()>& pred) {
  for (int i = 0; i < 200; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

TEST(AnnounceWorker, SubmitAndWaitGetsTheDaemonsAnswer) {
  auto s = std::make_shared<ScriptedAnnouncer::Shared>();
  AnnounceWorker w(std::make_unique<ScriptedAnnouncer>(s), 20ms, 50ms);
  EXPECT_EQ(w.submit_and_wait(routes({1, 2}), 2000ms), "");
  AnnounceWorker::Snapshot snap = w.snapshot();
  EXPECT_EQ(snap.applied, snap.submitted);
  EXPECT_EQ(snap.routes, routes({1, 2}));
  EXPECT_EQ(snap.error, "");
  EXPECT_TRUE(eventually([&] { return w.snapshot().daemon.reachable; })) << "queried when idle";
}

TEST(AnnounceWorker, AFailedAttemptIsRetriedUntilTheDaemonTakesIt) {
  auto s = std::make_shared<ScriptedAnnouncer::Shared>();
  s->failures_left = 3;
  AnnounceWorker w(std::make_unique<ScriptedAnnouncer>(s), 20ms, 1000ms);
  uint64_t seq = w.submit(routes({7}));
  ASSERT_TRUE(eventually([&] { return w.snapshot().applied >= seq; })) << w.snapshot().error;
  EXPECT_GE(s->calls.load(), 4);
  EXPECT_EQ(w.snapshot().error, "") << "cleared by the success";
  std::lock_guard lock(s->mu);
  ASSERT_EQ(s->taken.size(), 1u);
  EXPECT_EQ(s->taken[0], routes({7}));
}

TEST(AnnounceWorker, AFailureIsReportedToTheWaiterAndKept) {
  auto s = std::make_shared<ScriptedAnnouncer::Shared>();
  s->failures_left = 1000;
  AnnounceWorker w(std::make_unique<ScriptedAnnouncer>(s), 20ms, 1000ms);
  EXPECT_EQ(w.submit_and_wait(routes({1}), 2000ms), "daemon not running");
  AnnounceWorker::Snapshot snap = w.snapshot();
  EXPECT_EQ(snap.applied, 0u);
  EXPECT_EQ(snap.error, "daemon not running");
  EXPECT_TRUE(snap.routes.empty()) << "nothing was taken";
}

TEST(AnnounceWorker, TheLatestPlanWins) {
  auto s = std::make_shared<ScriptedAnnouncer::Shared>();
  s->failures_left = 1;  // holds the first attempt back while newer plans arrive
  AnnounceWorker w(std::make_unique<ScriptedAnnouncer>(s), 50ms, 1000ms);
  w.submit(routes({1}));
  w.submit(routes({1, 2}));
  uint64_t last = w.submit({});
  ASSERT_TRUE(eventually([&] { return w.snapshot().applied >= last; }));
  EXPECT_TRUE(w.snapshot().routes.empty());
  std::lock_guard lock(s->mu);
  ASSERT_FALSE(s->taken.empty());
  EXPECT_TRUE(s->taken.back().empty()) << "the withdrawal is what the daemon ends with";
}

TEST(NodeState, DrainedSurvivesARestartAndABadFileIsAnError) {
  char tmpl[] = "/tmp/fulcrum-node-state-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  NodeState a;
  EXPECT_EQ(a.load(dir), "") << "no file: an undrained node";
  EXPECT_FALSE(a.drained);
  a.drained = true;
  a.since_unix_ms = 1234;
  ASSERT_EQ(a.save(dir), "");
  NodeState b;
  ASSERT_EQ(b.load(dir), "");
  EXPECT_TRUE(b.drained);
  EXPECT_EQ(b.since_unix_ms, 1234u);
  std::ofstream(dir + "/node-state.json") << "{\"version\": 1}";
  NodeState c;
  EXPECT_NE(c.load(dir).find("is not a node state file"), std::string::npos);
  std::ofstream(dir + "/node-state.json") << "{\"version\": 2, \"drained\": true}";
  EXPECT_NE(c.load(dir).find("unknown version"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fulcrum::cp
