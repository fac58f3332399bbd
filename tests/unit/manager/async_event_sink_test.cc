#include "operator/manager/async_event_sink.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "operator/common/time.h"
#include "operator/runtime/testing/fake_event_recorder.h"
#include "operator/runtime/work_queue.h"
#include "tests/unit/access_request/fixtures.h"

namespace kubegrant::manager {
namespace {

using namespace std::chrono_literals;
namespace ar = controllers::access_request;

// Waits (real time, bounded) until the recorder has `n` events; returns how many it has.
size_t waitForEvents(const runtime::testing::FakeEventRecorder& rec, size_t n) {
  for (int i = 0; i < 400 && rec.events().size() < n; ++i) std::this_thread::sleep_for(5ms);
  return rec.events().size();
}

v1alpha1::AccessRequest request() {
  return *v1alpha1::fromJson<v1alpha1::AccessRequest>(ar::testing::makeRequest());
}

TEST(AsyncEventSinkTest, SendsABurstThenPacesTheRestByTheClock) {
  FakeClock clock(*parseRfc3339("2026-11-29T10:00:00Z"));
  runtime::testing::FakeEventRecorder rec;
  AsyncEventSink sink(rec, clock, {.qps = 1, .burst = 2});
  ASSERT_TRUE(sink.start());
  for (int i = 0; i < 5; ++i) sink.record(request(), {"Normal", "Expired", std::to_string(i)});
  EXPECT_EQ(waitForEvents(rec, 2), 2u);
  std::this_thread::sleep_for(50ms);  // real time does not refill a fake clock's bucket
  EXPECT_EQ(rec.events().size(), 2u);
  clock.advance(1s);
  EXPECT_EQ(waitForEvents(rec, 3), 3u);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(rec.events().size(), 3u);
  // Stopping flushes what is left without waiting for tokens, in order.
  sink.stop();
  ASSERT_EQ(rec.events().size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(rec.events()[i].message, std::to_string(i));
  EXPECT_EQ(sink.dropped(), 0u);
}

TEST(AsyncEventSinkTest, DropsTheOldestWhenTheQueueIsFull) {
  FakeClock clock(*parseRfc3339("2026-11-29T10:00:00Z"));
  runtime::testing::FakeEventRecorder rec;
  AsyncEventSink sink(rec, clock, {.qps = 1, .burst = 1, .maxPending = 2});
  ASSERT_TRUE(sink.start());
  sink.record(request(), {"Normal", "Requested", "a"});
  ASSERT_EQ(waitForEvents(rec, 1), 1u);  // the one token
  for (const char* m : {"b", "c", "d"}) sink.record(request(), {"Normal", "Expired", m});
  sink.stop();
  EXPECT_EQ(rec.strings(), (std::vector<std::string>{"Normal Requested a", "Normal Expired c",
                                                     "Normal Expired d"}));
  EXPECT_EQ(sink.dropped(), 1u);
}

// An API server that takes a second per Event (or times out): each send moves the clock.
class SlowRecorder final : public runtime::EventRecorder {
 public:
  explicit SlowRecorder(FakeClock& clock) : clock_(clock) {}
  void event(const kube::Object& involved, runtime::EventType type, std::string_view reason,
             std::string_view message) override {
    clock_.advance(1s);
    inner_.event(involved, type, reason, message);
  }
  runtime::testing::FakeEventRecorder inner_;

 private:
  FakeClock& clock_;
};

TEST(AsyncEventSinkTest, StopGivesUpOnWhatIsNotSentWithinTheFlushTime) {
  FakeClock clock(*parseRfc3339("2026-11-29T10:00:00Z"));
  SlowRecorder rec(clock);
  // One token, then none for 1,000 s: nothing more goes out before stop().
  AsyncEventSink sink(rec, clock, {.qps = 0.001, .burst = 1, .maxPending = 100, .flushFor = 3s});
  ASSERT_TRUE(sink.start());
  sink.record(request(), {"Normal", "Expired", "first"});
  ASSERT_EQ(waitForEvents(rec.inner_, 1), 1u);  // the one token; the clock is now +1 s
  for (int i = 0; i < 20; ++i) sink.record(request(), {"Normal", "Expired", std::to_string(i)});
  sink.stop();  // deadline: +1 s + 3 s; each send takes 1 s
  EXPECT_EQ(rec.inner_.events().size(), 1u + 3u);
  EXPECT_EQ(sink.dropped(), 17u);
}

TEST(AsyncEventSinkTest, WaitsWhileTimedWorkIsDueOrInFlight) {
  FakeClock clock(*parseRfc3339("2026-11-29T10:00:00Z"));
  runtime::testing::FakeEventRecorder rec;
  // A controller's queue with a request whose expiry is due in 1 s.
  runtime::WorkQueue queue(clock);
  queue.addAfter({"team-a", "expiring"}, 1s);
  AsyncEventSink sink(
      rec, clock, {.qps = 100, .burst = 100, .yieldTo = [&] { return queue.dueWorkPending(); }});
  ASSERT_TRUE(sink.start());
  // Work added by events (a create) does not hold Events back.
  queue.add({"team-a", "created"});
  sink.record(request(), {"Normal", "Requested", "0"});
  EXPECT_EQ(waitForEvents(rec, 1), 1u);
  auto created = queue.get();
  ASSERT_EQ(created, (runtime::NamespacedName{"team-a", "created"}));

  clock.advance(1s);  // the expiry is due, not yet handed out
  for (int i = 1; i <= 3; ++i) sink.record(request(), {"Normal", "Approved", std::to_string(i)});
  clock.advance(20ms);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(rec.events().size(), 1u) << "due work goes first";
  // Handed to a worker: in flight, the Events still wait for its DELETE and status write.
  auto expiring = queue.get();
  ASSERT_EQ(expiring, (runtime::NamespacedName{"team-a", "expiring"}));
  clock.advance(20ms);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(rec.events().size(), 1u) << "in-flight work goes first";
  queue.done(*created);  // the create's reconcile ending changes nothing
  clock.advance(20ms);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(rec.events().size(), 1u);
  queue.done(*expiring);
  clock.advance(20ms);
  EXPECT_EQ(waitForEvents(rec, 4), 4u);
  EXPECT_EQ(sink.dropped(), 0u);
}

TEST(AsyncEventSinkTest, DropsAndCountsEventsThatWaitedLongerThanMaxAge) {
  FakeClock clock(*parseRfc3339("2026-11-29T10:00:00Z"));
  runtime::testing::FakeEventRecorder rec;
  std::atomic<bool> busy = true;
  AsyncEventSink sink(rec, clock, {.maxAge = 60s, .yieldTo = [&] { return busy.load(); }});
  ASSERT_TRUE(sink.start());
  for (const char* m : {"old-1", "old-2"}) sink.record(request(), {"Normal", "Approved", m});
  clock.advance(40s);
  sink.record(request(), {"Normal", "Expired", "recent"});
  EXPECT_EQ(sink.pending(), 3u);
  clock.advance(21s);  // old-1 and old-2 have waited 61 s, "recent" 21 s
  busy = false;
  clock.advance(20ms);
  EXPECT_EQ(waitForEvents(rec, 1), 1u);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(rec.strings(), (std::vector<std::string>{"Normal Expired recent"}));
  EXPECT_EQ(sink.expired(), 2u);
  EXPECT_EQ(sink.dropped(), 2u);
  EXPECT_EQ(sink.pending(), 0u);
}

TEST(AsyncEventSinkTest, IsBoundedInCountWhileItYields) {
  FakeClock clock(*parseRfc3339("2026-11-29T10:00:00Z"));
  runtime::testing::FakeEventRecorder rec;
  std::atomic<bool> busy = true;
  AsyncEventSink sink(rec, clock, {.maxPending = 100, .yieldTo = [&] { return busy.load(); }});
  ASSERT_TRUE(sink.start());
  for (int i = 0; i < 250; ++i) sink.record(request(), {"Normal", "Approved", std::to_string(i)});
  EXPECT_EQ(sink.pending(), 100u);
  EXPECT_EQ(sink.dropped(), 150u);
  EXPECT_EQ(sink.expired(), 0u);
  busy = false;
  clock.advance(20ms);
  EXPECT_EQ(waitForEvents(rec, 100), 100u);
  EXPECT_EQ(rec.events().front().message, "150") << "the newest are kept";
}

}  // namespace
}  // namespace kubegrant::manager
