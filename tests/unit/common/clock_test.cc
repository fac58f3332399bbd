#include "operator/common/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace kubegrant {
namespace {

TEST(FakeClockTest, MovesOnlyWhenAdvanced) {
  FakeClock clock(TimePoint{} + std::chrono::hours(1));
  auto t0 = clock.now();
  EXPECT_EQ(clock.now(), t0);
  clock.advance(std::chrono::seconds(5));
  EXPECT_EQ(clock.now() - t0, std::chrono::seconds(5));
}

TEST(FakeClockTest, AdvancingPastADeadlineWakesAWaiter) {
  FakeClock clock(TimePoint{});
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> timedOut{false};
  // The deadline is fixed before the waiter starts, so advancing cannot race past it.
  const auto deadline = clock.now() + std::chrono::seconds(30);
  std::thread waiter([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (clock.waitUntil(cv, lock, deadline) != std::cv_status::timeout) {
    }
    timedOut = true;
  });
  clock.advance(std::chrono::seconds(31));
  waiter.join();
  EXPECT_TRUE(timedOut);
}

}  // namespace
}  // namespace kubegrant
