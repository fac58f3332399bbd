#include "operator/runtime/controller.h"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "operator/common/clock.h"

namespace kubegrant::runtime {
namespace {

using namespace std::chrono_literals;

const TimePoint kStart = WallClock::from_time_t(1'800'000'000);

// Answers each reconcile with the next scripted result (the last one repeats) and records
// the calls.
class ScriptedReconciler : public Reconciler {
 public:
  explicit ScriptedReconciler(std::vector<Result<Action>> script) : script_(std::move(script)) {}

  Result<Action> reconcile(const NamespacedName& request) override {
    std::lock_guard<std::mutex> g(mu_);
    calls_.push_back(request);
    size_t i = std::min(calls_.size() - 1, script_.size() - 1);
    return script_[i];
  }
  size_t calls() const {
    std::lock_guard<std::mutex> g(mu_);
    return calls_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<Result<Action>> script_;
  std::vector<NamespacedName> calls_;
};

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 3000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

const NamespacedName kKey{"payments", "req-1"};

TEST(Controller, ARetryableErrorRequeuesWithBackoffUntilSuccess) {
  FakeClock clock(kStart);
  ScriptedReconciler r({fail(ErrorCode::Conflict, "stale"), fail(ErrorCode::Unavailable, "down"),
                        Action::awaitChange()});
  Controller c("test", r, clock, ControllerOptions{.workers = 2, .queue = {}});
  c.start();
  c.enqueue(kKey);
  ASSERT_TRUE(eventually([&] { return c.stats().reconcileTotal == 1; }));
  EXPECT_EQ(c.queue().numWaiting(), 1u);
  EXPECT_EQ(c.queue().numRequeues(kKey), 1);

  clock.advance(4ms);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(r.calls(), 1u) << "first retry waits 5 ms";
  clock.advance(1ms);
  ASSERT_TRUE(eventually([&] { return c.stats().reconcileTotal == 2; }));
  EXPECT_EQ(c.queue().numRequeues(kKey), 2);

  clock.advance(9ms);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(r.calls(), 2u) << "second retry waits 10 ms";
  clock.advance(1ms);
  ASSERT_TRUE(eventually([&] { return c.stats().reconcileTotal == 3; }));

  auto s = c.stats();
  EXPECT_EQ(s.reconcileErrors, 2u);
  EXPECT_EQ(s.reconcileTerminalErrors, 0u);
  EXPECT_EQ(s.reconcileSuccess, 1u);
  EXPECT_EQ(c.queue().numRequeues(kKey), 0) << "success forgets the backoff";
  EXPECT_EQ(c.queue().numWaiting(), 0u);
  c.stop();
}

TEST(Controller, AnErrorOfAnyCodeIsRetriedUnlessMarkedTerminal) {
  // A Forbidden while RBAC caches settle, a NotFound of something about to appear: the
  // controller does not guess from the code, the reconciler decides.
  for (ErrorCode code : {ErrorCode::Forbidden, ErrorCode::NotFound, ErrorCode::Invalid}) {
    FakeClock clock(kStart);
    ScriptedReconciler r({fail(code, "transient"), Action::awaitChange()});
    Controller c("test", r, clock);
    c.start();
    c.enqueue(kKey);
    ASSERT_TRUE(eventually([&] { return c.stats().reconcileTotal == 1; }));
    EXPECT_EQ(c.queue().numRequeues(kKey), 1) << toString(code);
    clock.advance(5ms);
    ASSERT_TRUE(eventually([&] { return c.stats().reconcileTotal == 2; })) << toString(code);
    EXPECT_EQ(c.stats().reconcileTerminalErrors, 0u);
    c.stop();
  }
}

TEST(Controller, RetryAfterFromTheServerIsTheFloorOfTheBackoff) {
  FakeClock clock(kStart);
  Error throttled = makeError(ErrorCode::TooManyRequests, "slow down");
  throttled.retryAfterSeconds = 3;
  ScriptedReconciler r({std::unexpected(throttled), Action::awaitChange()});
  Controller c("test", r, clock);
  c.start();
  c.enqueue(kKey);
  ASSERT_TRUE(eventually([&] { return c.stats().reconcileTotal == 1; }));
  clock.advance(3s - 1ms);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(r.calls(), 1u) << "not before the 3 s the server asked for";
  clock.advance(1ms);
  ASSERT_TRUE(eventually([&] { return c.stats().reconcileTotal == 2; }));
  c.stop();
}

TEST(Controller, ATerminalErrorIsNotRetried) {
  FakeClock clock(kStart);
  ScriptedReconciler r({std::unexpected(terminal(makeError(ErrorCode::Invalid, "malformed")))});
  Controller c("test", r, clock);
  c.start();
  c.enqueue(kKey);
  ASSERT_TRUE(eventually([&] { return c.stats().reconcileTotal == 1; }));
  EXPECT_EQ(c.queue().numWaiting(), 0u);
  EXPECT_EQ(c.queue().len(), 0u);
  EXPECT_EQ(c.queue().numRequeues(kKey), 0);
  clock.advance(1h);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(r.calls(), 1u);
  auto s = c.stats();
  EXPECT_EQ(s.reconcileErrors, 1u);
  EXPECT_EQ(s.reconcileTerminalErrors, 1u);

  // A new event brings it back.
  c.enqueue(kKey);
  ASSERT_TRUE(eventually([&] { return r.calls() == 2; }));
  c.stop();
}

TEST(Controller, RequeueAfterForgetsTheBackoffAndRequeuesAtThatTime) {
  FakeClock clock(kStart);
  ScriptedReconciler r(
      {fail(ErrorCode::Timeout, "slow"), Action::requeueAfter(10min), Action::awaitChange()});
  Controller c("test", r, clock);
  c.start();
  c.enqueue(kKey);
  ASSERT_TRUE(eventually([&] { return c.stats().reconcileTotal == 1; }));
  clock.advance(5ms);
  ASSERT_TRUE(eventually([&] { return c.stats().reconcileTotal == 2; }));
  EXPECT_EQ(c.queue().numRequeues(kKey), 0);
  EXPECT_EQ(c.queue().numWaiting(), 1u);
  clock.advance(10min - 1s);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(r.calls(), 2u);
  clock.advance(1s);
  ASSERT_TRUE(eventually([&] { return c.stats().reconcileTotal == 3; }));
  EXPECT_EQ(c.stats().reconcileRequeueAfter, 1u);
  c.stop();
}

TEST(Controller, AnExceptionFromTheReconcilerIsARetryableError) {
  FakeClock clock(kStart);
  struct Throwing : Reconciler {
    Result<Action> reconcile(const NamespacedName&) override { throw std::runtime_error("boom"); }
  } r;
  Controller c("test", r, clock);
  c.start();
  c.enqueue(kKey);
  ASSERT_TRUE(eventually([&] { return c.stats().reconcileTotal == 1; }));
  EXPECT_EQ(c.queue().numRequeues(kKey), 1);
  EXPECT_EQ(c.stats().reconcileErrors, 1u);
  c.stop();
}

TEST(Controller, StopReturnsWhileKeysAreStillDelayed) {
  FakeClock clock(kStart);
  ScriptedReconciler r({Action::requeueAfter(1h)});
  auto c = std::make_unique<Controller>("test", r, clock);
  c->start();
  c->enqueue(kKey);
  ASSERT_TRUE(eventually([&] { return c->stats().reconcileTotal == 1; }));
  auto started = std::chrono::steady_clock::now();
  c.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
}

}  // namespace
}  // namespace kubegrant::runtime
