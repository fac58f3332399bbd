#include "operator/kube/rate_limiter.h"

#include <gtest/gtest.h>

#include <thread>

namespace kubegrant::kube {
namespace {

using namespace std::chrono_literals;

TEST(TokenBucket, AllowsABurstThenQpsPerSecond) {
  FakeClock clock(TimePoint{} + 1000s);
  TokenBucket bucket(clock, 10, 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(bucket.tryTake(), Duration::zero()) << i;
  Duration wait = bucket.tryTake();
  EXPECT_GT(wait, 99ms);
  EXPECT_LE(wait, 100ms);
  clock.advance(100ms);
  EXPECT_EQ(bucket.tryTake(), Duration::zero());
  EXPECT_NE(bucket.tryTake(), Duration::zero());
  clock.advance(10s);  // refills to the burst, not beyond
  for (int i = 0; i < 3; ++i) EXPECT_EQ(bucket.tryTake(), Duration::zero()) << i;
  EXPECT_NE(bucket.tryTake(), Duration::zero());
}

TEST(TokenBucket, NonPositiveQpsDisablesLimiting) {
  FakeClock clock(TimePoint{});
  TokenBucket bucket(clock, 0, 1);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(bucket.tryTake(), Duration::zero());
}

TEST(TokenBucket, TakeWaitsForTheClockAndStopsOnRequest) {
  FakeClock clock(TimePoint{} + 1s);
  TokenBucket bucket(clock, 1, 1);
  ASSERT_TRUE(bucket.take());
  std::atomic<bool> taken{false};
  std::thread waiter([&] { taken = bucket.take(); });
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(taken.load());
  clock.advance(1s);
  waiter.join();
  EXPECT_TRUE(taken.load());

  std::stop_source stop;
  std::atomic<int> result{-1};
  std::thread stopped([&] { result = bucket.take(stop.get_token()) ? 1 : 0; });
  std::this_thread::sleep_for(20ms);
  stop.request_stop();
  stopped.join();
  EXPECT_EQ(result.load(), 0);
}

}  // namespace
}  // namespace kubegrant::kube
