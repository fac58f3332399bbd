#include "operator/runtime/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <thread>
#include <vector>

#include "operator/common/clock.h"

namespace kubegrant::runtime {
namespace {

using namespace std::chrono_literals;

const TimePoint kStart = WallClock::from_time_t(1'800'000'000);

NamespacedName key(std::string name) { return {"ns", std::move(name)}; }

// get() that fails the test instead of hanging forever.
std::optional<NamespacedName> getWithin(WorkQueue& q, std::chrono::milliseconds limit = 2000ms) {
  auto f = std::async(std::launch::async, [&] { return q.get(); });
  if (f.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "get() did not return within " << limit.count() << " ms";
    q.shutdown();
  }
  return f.get();
}

TEST(WorkQueue, AnItemAddedTwiceWhileQueuedIsHandedOutOnce) {
  FakeClock clock(kStart);
  WorkQueue q(clock);
  q.add(key("a"));
  q.add(key("b"));
  q.add(key("a"));
  EXPECT_EQ(q.len(), 2u);
  EXPECT_EQ(getWithin(q), key("a"));
  EXPECT_EQ(getWithin(q), key("b"));
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueue, AnItemAddedWhileProcessingIsQueuedAgainOnlyAfterDone) {
  FakeClock clock(kStart);
  WorkQueue q(clock);
  q.add(key("a"));
  auto got = getWithin(q);
  ASSERT_EQ(got, key("a"));
  q.add(key("a"));
  q.add(key("a"));
  EXPECT_EQ(q.len(), 0u) << "must not be handed out while in flight";
  q.done(key("a"));
  EXPECT_EQ(q.len(), 1u);
  EXPECT_EQ(getWithin(q), key("a"));
  q.done(key("a"));
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueue, DoneWithoutANewAddDoesNotRequeue) {
  FakeClock clock(kStart);
  WorkQueue q(clock);
  q.add(key("a"));
  ASSERT_EQ(getWithin(q), key("a"));
  q.done(key("a"));
  EXPECT_EQ(q.len(), 0u);
  EXPECT_EQ(q.numProcessing(), 0u);
}

TEST(WorkQueue, DelayedItemsBecomeReadyInDueTimeOrderOnTheInjectedClock) {
  FakeClock clock(kStart);
  WorkQueue q(clock);
  q.addAfter(key("late"), 30s);
  q.addAfter(key("early"), 10s);
  q.addAfter(key("middle"), 20s);
  q.addAfter(key("middle-too"), 20s);
  EXPECT_EQ(q.len(), 0u);
  EXPECT_EQ(q.numWaiting(), 4u);

  clock.advance(9s);
  auto pending = std::async(std::launch::async, [&] { return q.get(); });
  EXPECT_EQ(pending.wait_for(100ms), std::future_status::timeout) << "nothing is due yet";
  clock.advance(1s);
  ASSERT_EQ(pending.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(pending.get(), key("early"));

  clock.advance(25s);
  EXPECT_EQ(getWithin(q), key("middle"));
  EXPECT_EQ(getWithin(q), key("middle-too"));
  EXPECT_EQ(getWithin(q), key("late"));
}

TEST(WorkQueue, AddAfterKeepsTheEarlierDueTimeOfAKeyAlreadyWaiting) {
  FakeClock clock(kStart);
  WorkQueue q(clock);
  q.addAfter(key("a"), 10s);
  q.addAfter(key("a"), 60s);  // ignored: a is already due earlier
  EXPECT_EQ(q.numWaiting(), 1u);
  clock.advance(10s);
  EXPECT_EQ(getWithin(q), key("a"));
  q.done(key("a"));

  q.addAfter(key("b"), 60s);
  q.addAfter(key("b"), 5s);  // moves b earlier
  EXPECT_EQ(q.numWaiting(), 1u);
  clock.advance(5s);
  EXPECT_EQ(getWithin(q), key("b"));
}

TEST(WorkQueue, AddAfterWithAZeroDelayIsAPlainAdd) {
  FakeClock clock(kStart);
  WorkQueue q(clock);
  q.addAfter(key("a"), 0s);
  EXPECT_EQ(q.len(), 1u);
}

TEST(WorkQueue, ADueDelayedItemIsDeduplicatedAgainstTheSameQueuedItem) {
  FakeClock clock(kStart);
  WorkQueue q(clock);
  q.addAfter(key("a"), 1s);
  q.add(key("a"));
  clock.advance(2s);
  EXPECT_EQ(getWithin(q), key("a"));
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueue, RateLimitedRetriesBackOffExponentiallyFromFiveMillisecondsCappedAtThirtySeconds) {
  FakeClock clock(kStart);
  WorkQueue q(clock);
  std::vector<Duration> expected = {5ms,    10ms,   20ms,   40ms,    80ms,    160ms, 320ms, 640ms,
                                    1280ms, 2560ms, 5120ms, 10240ms, 20480ms, 30s,   30s,   30s};
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(q.numRequeues(key("a")), static_cast<int>(i));
    q.addRateLimited(key("a"));
    clock.advance(expected[i] - 1ms);
    EXPECT_EQ(q.len(), 0u);
    auto pending = std::async(std::launch::async, [&] { return q.get(); });
    EXPECT_EQ(pending.wait_for(20ms), std::future_status::timeout) << "ready 1 ms too early";
    clock.advance(1ms);
    ASSERT_EQ(pending.wait_for(2s), std::future_status::ready);
    EXPECT_EQ(pending.get(), key("a"));
    q.done(key("a"));
  }
}

TEST(WorkQueue, ForgetResetsTheBackoffOfOneKeyOnly) {
  FakeClock clock(kStart);
  WorkQueue q(clock);
  for (int i = 0; i < 3; ++i) {
    q.addRateLimited(key("a"));
    q.addRateLimited(key("b"));
  }
  EXPECT_EQ(q.numRequeues(key("a")), 3);
  q.forget(key("a"));
  EXPECT_EQ(q.numRequeues(key("a")), 0);
  EXPECT_EQ(q.numRequeues(key("b")), 3);
}

TEST(ItemExponentialBackoff, HugeFailureCountsStayAtTheCap) {
  ItemExponentialBackoff<int> backoff(5ms, 30s);
  Duration last{};
  for (int i = 0; i < 200; ++i) last = backoff.when(1);
  EXPECT_EQ(last, Duration(30s));
  EXPECT_EQ(backoff.numRequeues(1), 200);
}

TEST(WorkQueue, GetBlocksUntilAnItemIsAdded) {
  FakeClock clock(kStart);
  WorkQueue q(clock);
  auto pending = std::async(std::launch::async, [&] { return q.get(); });
  EXPECT_EQ(pending.wait_for(50ms), std::future_status::timeout);
  q.add(key("a"));
  ASSERT_EQ(pending.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(pending.get(), key("a"));
}

TEST(WorkQueue, ShutdownWakesEveryBlockedGetterAndIgnoresLaterAdds) {
  FakeClock clock(kStart);
  WorkQueue q(clock);
  q.addAfter(key("later"), 1h);
  std::vector<std::future<std::optional<NamespacedName>>> getters;
  for (int i = 0; i < 4; ++i)
    getters.push_back(std::async(std::launch::async, [&] { return q.get(); }));
  std::this_thread::sleep_for(20ms);
  q.shutdown();
  for (auto& g : getters) {
    ASSERT_EQ(g.wait_for(2s), std::future_status::ready);
    EXPECT_EQ(g.get(), std::nullopt);
  }
  q.add(key("a"));
  EXPECT_EQ(q.len(), 0u);
  EXPECT_EQ(q.get(), std::nullopt);
}

TEST(WorkQueue, ShutdownWithDrainWaitsForInFlightAndReadyItems) {
  FakeClock clock(kStart);
  WorkQueue q(clock);
  q.add(key("a"));
  q.add(key("b"));
  auto inFlight = q.get();
  ASSERT_EQ(inFlight, key("a"));
  q.addAfter(key("delayed"), 1h);

  std::atomic<bool> drained{false};
  std::thread drainer([&] {
    q.shutdownWithDrain();
    drained = true;
  });
  std::this_thread::sleep_for(30ms);
  EXPECT_FALSE(drained) << "a is still in flight and b is ready";
  q.add(key("c"));  // ignored after shutdown
  q.done(key("a"));
  EXPECT_EQ(getWithin(q), key("b"));
  std::this_thread::sleep_for(30ms);
  EXPECT_FALSE(drained) << "b is in flight";
  q.done(key("b"));
  drainer.join();
  EXPECT_TRUE(drained);
  EXPECT_EQ(q.get(), std::nullopt) << "c was added after shutdown; delayed items are dropped";
}

TEST(WorkQueue, ShutdownAfterShutdownWithDrainStopsWaitingForStuckWorkers) {
  FakeClock clock(kStart);
  WorkQueue q(clock);
  q.add(key("stuck"));
  ASSERT_EQ(q.get(), key("stuck"));
  std::thread drainer([&] { q.shutdownWithDrain(); });
  std::this_thread::sleep_for(20ms);
  q.shutdown();
  drainer.join();
}

// Several workers hammer a few keys that are re-added constantly; at no moment may two
// workers hold the same key, and every key added after its last processing started is
// processed again.
TEST(WorkQueue, NoKeyIsEverProcessedByTwoWorkersAtOnceUnderStress) {
  SystemClock clock;
  WorkQueue q(clock);
  constexpr int kKeys = 5;
  constexpr int kWorkers = 6;
  std::array<std::atomic<int>, kKeys> holders{};
  std::array<std::atomic<int>, kKeys> processed{};
  std::atomic<int> overlaps{0};
  std::atomic<bool> producing{true};

  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&] {
      while (auto k = q.get()) {
        int i = std::stoi(k->name);
        if (holders[i].fetch_add(1) != 0) ++overlaps;
        std::this_thread::yield();
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        holders[i].fetch_sub(1);
        ++processed[i];
        q.done(*k);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < 3; ++p) {
    producers.emplace_back([&, p] {
      int n = 0;
      while (producing) {
        int i = (n++ + p) % kKeys;
        if (n % 7 == 0) {
          q.addAfter(NamespacedName{"ns", std::to_string(i)}, std::chrono::microseconds(100));
        } else {
          q.add(NamespacedName{"ns", std::to_string(i)});
        }
        if (n % 16 == 0) std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    });
  }
  std::this_thread::sleep_for(500ms);
  producing = false;
  for (auto& t : producers) t.join();
  // A final add of every key must lead to one more processing each.
  std::array<int, kKeys> before{};
  std::this_thread::sleep_for(20ms);
  for (int i = 0; i < kKeys; ++i) {
    before[i] = processed[i].load();
    q.add(NamespacedName{"ns", std::to_string(i)});
  }
  q.shutdownWithDrain();
  q.shutdown();
  for (auto& t : workers) t.join();
  EXPECT_EQ(overlaps.load(), 0);
  for (int i = 0; i < kKeys; ++i) {
    EXPECT_GT(processed[i].load(), before[i]) << "key " << i << " lost its final add";
    EXPECT_GT(processed[i].load(), 10) << "key " << i << " was barely processed";
  }
}

TEST(WorkQueue, TimedWorkIsPendingFromItsDueTimeUntilDoneAndEventWorkIsNot) {
  FakeClock clock(kStart);
  WorkQueue q(clock);
  const NamespacedName expiring{"ns", "expiring"}, created{"ns", "created"};
  q.add(created);
  EXPECT_FALSE(q.dueWorkPending()) << "added by an event";
  q.addAfter(expiring, 1s);
  EXPECT_FALSE(q.dueWorkPending()) << "not due yet";
  clock.advance(1s);
  EXPECT_TRUE(q.dueWorkPending()) << "due, not yet handed out";
  EXPECT_EQ(q.get(), created);
  EXPECT_EQ(q.get(), expiring);
  EXPECT_TRUE(q.dueWorkPending()) << "in flight";
  q.done(created);
  EXPECT_TRUE(q.dueWorkPending());
  q.add(expiring);  // an event while it runs: the run still to come may be the timed one
  q.done(expiring);
  EXPECT_TRUE(q.dueWorkPending());
  EXPECT_EQ(q.get(), expiring);
  q.done(expiring);
  EXPECT_FALSE(q.dueWorkPending());
}

TEST(WorkQueue, HasWaitingWorkWhileAKeyIsReadyOrDueButNotForKeysInFlight) {
  FakeClock clock(kStart);
  WorkQueue q(clock);
  const NamespacedName a{"ns", "a"}, b{"ns", "b"};
  EXPECT_FALSE(q.hasWaitingWork());
  q.add(a);
  EXPECT_TRUE(q.hasWaitingWork()) << "ready";
  EXPECT_EQ(q.get(), a);
  EXPECT_FALSE(q.hasWaitingWork()) << "in flight is not waiting";
  q.addAfter(b, 1s);
  EXPECT_FALSE(q.hasWaitingWork()) << "not due yet";
  clock.advance(1s);
  EXPECT_TRUE(q.hasWaitingWork()) << "due, not yet promoted";
  q.add(a);  // while a is in flight: ready again only after done()
  q.done(a);
  EXPECT_EQ(q.get(), a);
  EXPECT_TRUE(q.hasWaitingWork()) << "b, promoted";
  EXPECT_EQ(q.get(), b);
  EXPECT_FALSE(q.hasWaitingWork());
  q.done(a);
  q.done(b);
}

}  // namespace
}  // namespace kubegrant::runtime
