#include "operator/runtime/event_recorder.h"

#include <gtest/gtest.h>

#include "operator/common/clock.h"
#include "operator/runtime/testing/fake_client.h"
#include "operator/runtime/testing/fake_event_recorder.h"

namespace kubegrant::runtime {
namespace {

using namespace std::chrono_literals;
using testing::FakeClient;

const TimePoint kStart = WallClock::from_time_t(1'800'000'000);

kube::Object accessRequest(const std::string& name, const std::string& uid) {
  kube::Object o;
  o.setApiVersionKind(kube::resources::accessRequests());
  o.setNamespace("payments");
  o.setName(name);
  o.body["metadata"]["uid"] = uid;
  return o;
}

std::vector<kube::Object> events(FakeClient& client) {
  return client.list(kube::resources::events(), "payments")->items;
}

TEST(EventRecorder, WritesACoreEventOnTheInvolvedObject) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  EventRecorderOptions opts;
  opts.instance = "pod-1";
  KubeEventRecorder rec(client, clock, opts);
  rec.event(accessRequest("req-1", "u-1"), EventType::Normal, "Approved", "approved by bob");
  auto evs = events(client);
  ASSERT_EQ(evs.size(), 1u);
  const auto& e = evs[0].body;
  EXPECT_EQ(e["type"], "Normal");
  EXPECT_EQ(e["reason"], "Approved");
  EXPECT_EQ(e["message"], "approved by bob");
  EXPECT_EQ(e["count"], 1);
  EXPECT_EQ(e["reportingComponent"], "kubegrant-operator");
  EXPECT_EQ(e["source"]["component"], "kubegrant-operator");
  EXPECT_EQ(e["involvedObject"]["kind"], "AccessRequest");
  EXPECT_EQ(e["involvedObject"]["name"], "req-1");
  EXPECT_EQ(e["involvedObject"]["uid"], "u-1");
  EXPECT_EQ(e["firstTimestamp"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(e["lastTimestamp"], "2027-01-15T08:00:00Z");
}

TEST(EventRecorder, RepeatsWithinTheWindowPatchCountAndLastTimestamp) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  KubeEventRecorder rec(client, clock);
  auto obj = accessRequest("req-1", "u-1");
  rec.event(obj, EventType::Warning, "GrantFailed", "database unreachable");
  clock.advance(1min);
  rec.event(obj, EventType::Warning, "GrantFailed", "database unreachable");
  clock.advance(1min);
  rec.event(obj, EventType::Warning, "GrantFailed", "database unreachable");
  auto evs = events(client);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].body["count"], 3);
  EXPECT_EQ(evs[0].body["firstTimestamp"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(evs[0].body["lastTimestamp"], "2027-01-15T08:02:00Z");
  int creates = 0, patches = 0;
  for (const auto& a : client.writes()) {
    creates += a.verb == "create";
    patches += a.verb == "patch";
  }
  EXPECT_EQ(creates, 1);
  EXPECT_EQ(patches, 2);
}

TEST(EventRecorder, DifferentMessagesObjectsOrExpiredWindowsMakeNewEvents) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  EventRecorderOptions opts;
  opts.aggregationWindow = 10min;
  KubeEventRecorder rec(client, clock, opts);
  auto a = accessRequest("req-1", "u-1");
  auto b = accessRequest("req-2", "u-2");
  rec.event(a, EventType::Normal, "Granted", "granted until 10:00");
  rec.event(a, EventType::Normal, "Granted", "granted until 11:00");
  rec.event(b, EventType::Normal, "Granted", "granted until 10:00");
  rec.event(a, EventType::Warning, "Granted", "granted until 10:00");
  clock.advance(11min);
  rec.event(a, EventType::Normal, "Granted", "granted until 10:00");
  EXPECT_EQ(events(client).size(), 5u);
}

TEST(EventRecorder, AWriteFailureIsSwallowedAndTheNextEventStillGoesOut) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  bool down = true;
  client.addReactor([&](const testing::FakeAction&) -> std::optional<Error> {
    if (down) return makeError(ErrorCode::Unavailable, "down");
    return std::nullopt;
  });
  KubeEventRecorder rec(client, clock);
  rec.event(accessRequest("req-1", "u-1"), EventType::Normal, "Approved", "x");
  down = false;
  rec.event(accessRequest("req-1", "u-1"), EventType::Normal, "Approved", "x");
  auto evs = events(client);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].body["count"], 1);
}

TEST(EventRecorder, AnAggregatedEventThatWasDeletedIsCreatedAgain) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  KubeEventRecorder rec(client, clock);
  auto obj = accessRequest("req-1", "u-1");
  rec.event(obj, EventType::Normal, "Expired", "access expired");
  auto first = events(client).at(0);
  ASSERT_TRUE(client.remove(kube::resources::events(), first.key()));
  rec.event(obj, EventType::Normal, "Expired", "access expired");
  EXPECT_EQ(events(client).size(), 1u);
}

TEST(EventRecorder, LongMessagesAreTruncated) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  KubeEventRecorder rec(client, clock);
  rec.event(accessRequest("req-1", "u-1"), EventType::Normal, "Long", std::string(5000, 'x'));
  auto msg = events(client).at(0).body["message"].get<std::string>();
  EXPECT_EQ(msg.size(), 1024u);
  EXPECT_EQ(msg.substr(1021), "...");
}

}  // namespace
}  // namespace kubegrant::runtime

namespace kubegrant::runtime {
namespace {

TEST(FakeEventRecorder, RemembersEventsInOrderForAssertions) {
  testing::FakeEventRecorder rec;
  EventRecorder& r = rec;
  r.event(accessRequest("req-1", "u-1"), EventType::Normal, "Approved", "approved by bob");
  r.event(accessRequest("req-1", "u-1"), EventType::Warning, "GrantFailed", "db down");
  EXPECT_EQ(rec.strings(), (std::vector<std::string>{"Normal Approved approved by bob",
                                                     "Warning GrantFailed db down"}));
  EXPECT_EQ(rec.events()[0].object, "payments/req-1");
}

}  // namespace
}  // namespace kubegrant::runtime
