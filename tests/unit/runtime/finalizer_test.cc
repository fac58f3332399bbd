#include "operator/runtime/finalizer.h"

#include <gtest/gtest.h>

#include "operator/common/clock.h"
#include "operator/runtime/testing/fake_client.h"

namespace kubegrant::runtime {
namespace {

using testing::FakeClient;

const TimePoint kStart = WallClock::from_time_t(1'800'000'000);
const kube::ResourceRef kConfigMaps = kube::resources::configMaps();
constexpr const char* kOurs = "kubegrant.io/revoke-grants";
constexpr const char* kForeign = "example.com/backup";

kube::Object configMap(std::vector<std::string> finalizers) {
  kube::Object o;
  o.setNamespace("payments");
  o.setName("req-1");
  if (!finalizers.empty()) o.setFinalizers(finalizers);
  return o;
}

struct Calls {
  int apply = 0;
  int cleanup = 0;
  Result<void> cleanupResult = ok();
};

Result<Action> run(FakeClient& client, const kube::Object& obj, Calls& calls) {
  return reconcileWithFinalizer(
      client, kConfigMaps, obj, kOurs,
      [&](const kube::Object&) -> Result<Action> {
        ++calls.apply;
        return Action::requeueAfter(std::chrono::minutes(5));
      },
      [&](const kube::Object&) -> Result<void> {
        ++calls.cleanup;
        return calls.cleanupResult;
      });
}

kube::Object current(FakeClient& client) {
  return *client.peek(kConfigMaps, {"payments", "req-1"});
}

TEST(Finalizer, AddsItsFinalizerFirstAndAppliesNothingYet) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  auto obj = client.seed(kConfigMaps, configMap({}));
  Calls calls;
  auto r = run(client, obj, calls);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, Action::awaitChange());
  EXPECT_EQ(calls.apply, 0);
  EXPECT_EQ(current(client).finalizers(), std::vector<std::string>{kOurs});
  auto writes = client.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].verb, "patch");
  EXPECT_EQ(writes[0].patchType, kube::PatchType::Json);
  // Guarded: with no finalizers yet, the resourceVersion pins the object.
  EXPECT_EQ(writes[0].body[0]["op"], "test");

  // The next reconcile (object now carries the finalizer) applies.
  r = run(client, current(client), calls);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, Action::requeueAfter(std::chrono::minutes(5)));
  EXPECT_EQ(calls.apply, 1);
}

TEST(Finalizer, AddingKeepsAnotherPartysFinalizer) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  auto obj = client.seed(kConfigMaps, configMap({kForeign}));
  Calls calls;
  ASSERT_TRUE(run(client, obj, calls));
  EXPECT_EQ(current(client).finalizers(), (std::vector<std::string>{kForeign, kOurs}));
}

TEST(Finalizer, AddingFailsRetryablyWhenTheFinalizersChangedSinceTheRead) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  auto stale = client.seed(kConfigMaps, configMap({kForeign}));
  // Another party replaces its finalizer after our read.
  ASSERT_TRUE(client.patch(kConfigMaps, {"payments", "req-1"}, kube::PatchType::Merge,
                           {{"metadata", {{"finalizers", {"example.com/other"}}}}}));
  Calls calls;
  auto r = run(client, stale, calls);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::Conflict);
  EXPECT_TRUE(r.error().retryable());
  EXPECT_EQ(current(client).finalizers(), std::vector<std::string>{"example.com/other"});
  EXPECT_EQ(calls.apply, 0);
}

TEST(Finalizer, DeletionRunsCleanupThenRemovesOnlyOurFinalizer) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  client.seed(kConfigMaps, configMap({kForeign, kOurs}));
  ASSERT_TRUE(client.remove(kConfigMaps, {"payments", "req-1"}));
  auto deleting = current(client);
  ASSERT_TRUE(deleting.isBeingDeleted());
  client.clearActions();
  Calls calls;
  auto r = run(client, deleting, calls);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(calls.cleanup, 1);
  EXPECT_EQ(calls.apply, 0);
  EXPECT_EQ(current(client).finalizers(), std::vector<std::string>{kForeign})
      << "the object stays until the other party is done";
  auto writes = client.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].body,
            (nlohmann::json::array(
                {{{"op", "test"}, {"path", "/metadata/finalizers/1"}, {"value", kOurs}},
                 {{"op", "remove"}, {"path", "/metadata/finalizers/1"}}})));
}

TEST(Finalizer, RemovingTheLastFinalizerLetsTheObjectGo) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  client.seed(kConfigMaps, configMap({kOurs}));
  ASSERT_TRUE(client.remove(kConfigMaps, {"payments", "req-1"}));
  Calls calls;
  ASSERT_TRUE(run(client, current(client), calls));
  EXPECT_FALSE(client.peek(kConfigMaps, {"payments", "req-1"}).has_value());
}

TEST(Finalizer, AFailedCleanupKeepsTheFinalizerAndReturnsTheError) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  client.seed(kConfigMaps, configMap({kOurs}));
  ASSERT_TRUE(client.remove(kConfigMaps, {"payments", "req-1"}));
  client.clearActions();
  Calls calls;
  calls.cleanupResult = fail(ErrorCode::Unavailable, "database unreachable");
  auto r = run(client, current(client), calls);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::Unavailable);
  EXPECT_TRUE(client.writes().empty());
  EXPECT_EQ(current(client).finalizers(), std::vector<std::string>{kOurs});
}

TEST(Finalizer, RemovalFailsRetryablyWhenAnotherFinalizerWasRemovedBeforeOurs) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  client.seed(kConfigMaps, configMap({kForeign, kOurs}));
  ASSERT_TRUE(client.remove(kConfigMaps, {"payments", "req-1"}));
  auto stale = current(client);
  // The other party finishes first: our entry moves from index 1 to 0.
  ASSERT_TRUE(client.patch(
      kConfigMaps, {"payments", "req-1"}, kube::PatchType::Json,
      nlohmann::json::array({{{"op", "remove"}, {"path", "/metadata/finalizers/0"}}})));
  Calls calls;
  auto r = run(client, stale, calls);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::Conflict);
  EXPECT_EQ(current(client).finalizers(), std::vector<std::string>{kOurs});
  // Retrying from a fresh read succeeds.
  ASSERT_TRUE(run(client, current(client), calls));
  EXPECT_FALSE(client.peek(kConfigMaps, {"payments", "req-1"}).has_value());
}

TEST(Finalizer, ADeletingObjectWithoutOurFinalizerIsLeftAlone) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  client.seed(kConfigMaps, configMap({kForeign}));
  ASSERT_TRUE(client.remove(kConfigMaps, {"payments", "req-1"}));
  client.clearActions();
  Calls calls;
  auto r = run(client, current(client), calls);
  ASSERT_TRUE(r);
  EXPECT_EQ(calls.cleanup, 0);
  EXPECT_EQ(calls.apply, 0);
  EXPECT_TRUE(client.writes().empty());
}

}  // namespace
}  // namespace kubegrant::runtime
