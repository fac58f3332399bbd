#include "operator/runtime/manager.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <mutex>

#include "operator/common/clock.h"
#include "operator/runtime/testing/fake_client.h"
#include "tests/unit/runtime/test_util.h"

namespace kubegrant::runtime {
namespace {

using namespace std::chrono_literals;
using testing::FakeClient;
using testutil::advanceUntil;
using testutil::eventually;

const TimePoint kStart = WallClock::from_time_t(1'800'000'000);
const kube::ResourceRef kConfigMaps = kube::resources::configMaps();
const kube::ResourceRef kLeases = kube::resources::leases();

class RecordingReconciler : public Reconciler {
 public:
  Result<Action> reconcile(const NamespacedName& key) override {
    std::lock_guard<std::mutex> g(mu_);
    keys_.push_back(key.toString());
    return Action::awaitChange();
  }
  std::vector<std::string> keys() const {
    std::lock_guard<std::mutex> g(mu_);
    return keys_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> keys_;
};

kube::Object configMap(const std::string& ns, const std::string& name) {
  kube::Object o;
  o.setNamespace(ns);
  o.setName(name);
  return o;
}

kube::Object lease(const std::string& holder, TimePoint renew) {
  kube::Object o;
  o.setNamespace("kubegrant-system");
  o.setName("kubegrant-operator");
  o.body["spec"] = KubeLeaseLock::specFromRecord({holder, 15, renew, renew, 0});
  return o;
}

ManagerOptions options(std::string identity) {
  ManagerOptions o;
  o.identity = std::move(identity);
  return o;
}

// One replica, no leader election.
ManagerOptions alone() {
  ManagerOptions o;
  o.leaderElection = false;
  return o;
}

TEST(Manager, ControllersStartOnlyOnceThisProcessLeadsAndStopReleasesTheLease) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  client.seed(kLeases, lease("other-replica", kStart));
  client.seed(kConfigMaps, configMap("payments", "req-1"));
  Manager mgr(client, clock, options("me"));
  RecordingReconciler rec;
  Controller& ctl = mgr.addController("configmaps", rec);
  mgr.informer(kConfigMaps).addEventHandler(enqueueObject(ctl.queue()));
  auto run = std::async(std::launch::async, [&] { return mgr.run(); });

  ASSERT_TRUE(eventually([&] { return mgr.informer(kConfigMaps).hasSynced(); }));
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(rec.keys().empty()) << "another replica holds the lease";
  EXPECT_FALSE(mgr.leading());

  // The other replica stops renewing: after the lease duration this one takes over.
  ASSERT_TRUE(advanceUntil(clock, 500ms, 20s, [&] { return mgr.leading(); }));
  ASSERT_TRUE(eventually([&] { return rec.keys().size() == 1; }));
  EXPECT_EQ(rec.keys()[0], "payments/req-1");
  EXPECT_EQ(client.peek(kLeases, {"kubegrant-system", "kubegrant-operator"})
                ->body["spec"]["holderIdentity"],
            "me");

  mgr.stop();
  ASSERT_EQ(run.wait_for(5s), std::future_status::ready);
  auto r = run.get();
  EXPECT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(client.peek(kLeases, {"kubegrant-system", "kubegrant-operator"})
                ->body["spec"]["holderIdentity"],
            "")
      << "released on a clean stop";
}

TEST(Manager, LosingTheLeaseEndsRunWithAnError) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  Manager mgr(client, clock, options("me"));
  RecordingReconciler rec;
  mgr.addController("noop", rec);
  auto run = std::async(std::launch::async, [&] { return mgr.run(); });
  ASSERT_TRUE(eventually([&] { return mgr.leading(); }));
  // Someone else writes the lease (as if this process had been partitioned away).
  ASSERT_TRUE(client.patch(kLeases, {"kubegrant-system", "kubegrant-operator"},
                           kube::PatchType::Merge, {{"spec", {{"holderIdentity", "intruder"}}}}));
  ASSERT_TRUE(advanceUntil(clock, 500ms, 5s,
                           [&] { return run.wait_for(0s) == std::future_status::ready; }));
  auto r = run.get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Unavailable);
  EXPECT_FALSE(mgr.leading());
}

TEST(Manager, ACacheThatCannotSyncEndsRunWithATimeout) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  client.addReactor([](const testing::FakeAction& a) -> std::optional<Error> {
    if (a.verb == "list") return makeError(ErrorCode::Forbidden, "configmaps is forbidden");
    return std::nullopt;
  });
  ManagerOptions opts = options("me");
  opts.cacheSyncTimeout = 200ms;
  Manager mgr(client, clock, opts);
  mgr.informer(kConfigMaps);
  auto r = mgr.run();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Timeout);
}

TEST(Manager, WithoutLeaderElectionControllersStartAtOnce) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  client.seed(kConfigMaps, configMap("payments", "req-1"));
  Manager mgr(client, clock, alone());
  RecordingReconciler rec;
  Controller& ctl = mgr.addController("configmaps", rec);
  mgr.informer(kConfigMaps).addEventHandler(enqueueObject(ctl.queue()));
  EXPECT_EQ(&mgr.informer(kConfigMaps), &mgr.informer(kConfigMaps)) << "informers are shared";
  auto run = std::async(std::launch::async, [&] { return mgr.run(); });
  ASSERT_TRUE(eventually([&] { return rec.keys().size() == 1; }));
  mgr.stop();
  EXPECT_TRUE(run.get().has_value());
  EXPECT_FALSE(client.peek(kLeases, {"kubegrant-system", "kubegrant-operator"}).has_value());
}

TEST(Manager, AnInvalidLeaderElectionConfigurationIsRefused) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  Manager mgr(client, clock, options(""));  // no identity
  auto r = mgr.run();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Invalid);
}

TEST(Manager, ControllersStartOnlyAfterEveryCacheSynced) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  client.seed(kConfigMaps, configMap("payments", "req-1"));
  // The second cache cannot list yet (RBAC not in place, API server busy, ...).
  std::atomic<bool> secretsListable{false};
  client.addReactor([&](const testing::FakeAction& a) -> std::optional<Error> {
    if (a.verb == "list" && a.resource == "secrets" && !secretsListable) {
      return makeError(ErrorCode::Unavailable, "not yet");
    }
    return std::nullopt;
  });
  Manager mgr(client, clock, alone());
  RecordingReconciler rec;
  Controller& ctl = mgr.addController("configmaps", rec);
  mgr.informer(kConfigMaps).addEventHandler(enqueueObject(ctl.queue()));
  mgr.informer(kube::resources::secrets());
  auto run = std::async(std::launch::async, [&] { return mgr.run(); });

  ASSERT_TRUE(eventually([&] { return mgr.informer(kConfigMaps).hasSynced(); }));
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(rec.keys().empty()) << "a reconcile ran on a partly cold cache";
  std::string why;
  EXPECT_FALSE(mgr.ready(&why));
  EXPECT_EQ(why, "cache of secrets not synced");

  secretsListable = true;
  ASSERT_TRUE(advanceUntil(clock, 1s, 60s, [&] { return rec.keys().size() == 1; }));
  EXPECT_TRUE(mgr.ready());
  mgr.stop();
  EXPECT_TRUE(run.get().has_value());
}

// Records starts and stops into a shared log.
class LoggingRunnable : public Runnable {
 public:
  LoggingRunnable(std::string name, std::vector<std::string>& log, std::mutex& mu)
      : name_(std::move(name)), log_(log), mu_(mu) {}
  Result<void> start() override {
    std::lock_guard<std::mutex> g(mu_);
    log_.push_back("start " + name_);
    return ok();
  }
  void stop() override {
    std::lock_guard<std::mutex> g(mu_);
    log_.push_back("stop " + name_);
  }

 private:
  std::string name_;
  std::vector<std::string>& log_;
  std::mutex& mu_;
};

TEST(Manager, RunnablesStartInOrderAndStopInReverseWithLeaderOnlyOnesFirst) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  std::vector<std::string> log;
  std::mutex mu;
  Manager mgr(client, clock, alone());
  mgr.informer(kConfigMaps);
  mgr.add(std::make_unique<LoggingRunnable>("webhook", log, mu), RunOn::EveryReplica);
  mgr.add(std::make_unique<LoggingRunnable>("sweep", log, mu), RunOn::Leader);
  mgr.add(std::make_unique<LoggingRunnable>("events", log, mu), RunOn::EveryReplica);
  auto run = std::async(std::launch::async, [&] { return mgr.run(); });
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> g(mu);
    return log.size() == 3;
  }));
  mgr.stop();
  ASSERT_TRUE(run.get().has_value());
  EXPECT_EQ(log, (std::vector<std::string>{"start webhook", "start events", "start sweep",
                                           "stop sweep", "stop events", "stop webhook"}));
}

TEST(Manager, ARunnableThatCannotStartEndsRunWithItsError) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  struct Broken : Runnable {
    Result<void> start() override { return fail(ErrorCode::Unavailable, "port 9443 in use"); }
    void stop() override { ADD_FAILURE() << "stopped without having started"; }
  };
  Manager mgr(client, clock, alone());
  mgr.add(std::make_unique<Broken>(), RunOn::EveryReplica);
  auto r = mgr.run();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "port 9443 in use");
}

TEST(Manager, SigtermEndsRunCleanly) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  auto signals = StopSignals::block();  // this test process: SIGTERM only reaches the fd
  ASSERT_TRUE(signals) << signals.error().describe();
  Manager mgr(client, clock, alone());
  RecordingReconciler rec;
  mgr.addController("noop", rec);
  mgr.informer(kConfigMaps);
  auto run = std::async(std::launch::async, [&] { return mgr.run(&*signals); });
  ASSERT_TRUE(eventually([&] { return mgr.leading(); }));
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  ASSERT_EQ(run.wait_for(5s), std::future_status::ready);
  auto r = run.get();
  EXPECT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_FALSE(mgr.leading());
}

TEST(Manager, ProbesAndMetricsAreServedOnTheirPorts) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  ManagerOptions opts = alone();
  opts.healthAddr = "127.0.0.1:0";
  opts.metricsAddr = "127.0.0.1:0";
  Manager mgr(client, clock, opts);
  RecordingReconciler rec;
  mgr.addController("noop", rec);
  mgr.informer(kConfigMaps);
  mgr.addReadyzCheck("webhook", [] { return fail(ErrorCode::Unavailable, "port closed"); });
  auto run = std::async(std::launch::async, [&] { return mgr.run(); });
  ASSERT_TRUE(eventually([&] { return mgr.leading(); }));
  EXPECT_NE(mgr.healthPort(), 0);
  EXPECT_NE(mgr.metricsPort(), 0);
  std::string why;
  EXPECT_FALSE(mgr.ready(&why));
  EXPECT_EQ(why, "webhook: port closed");
  auto text = mgr.metrics().render();
  EXPECT_NE(text.find("kubegrant_informer_synced{resource=\"configmaps\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("kubegrant_leader 1"), std::string::npos) << text;
  mgr.stop();
  EXPECT_TRUE(run.get().has_value());
}

}  // namespace
}  // namespace kubegrant::runtime
