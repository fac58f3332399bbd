#pragma once

// An injectable time source. Everything that depends on time (expiry, backoff, leases,
// delayed requeues) takes a Clock& so tests can use FakeClock and never sleep.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace kubegrant {

using WallClock = std::chrono::system_clock;
using TimePoint = WallClock::time_point;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;

  // Blocks on `cv` until notified or until `deadline` on this clock. Returns like
  // condition_variable::wait_until. A FakeClock wakes such waiters when it is advanced.
  virtual std::cv_status waitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                                   TimePoint deadline) = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return WallClock::now(); }
  std::cv_status waitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                           TimePoint deadline) override;
};

// A clock that moves only when told to. Waiters registered through waitUntil are woken
// (spuriously, as condition variables allow) whenever the time is set or advanced.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start) : now_(start) {}
  TimePoint now() const override;
  std::cv_status waitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                           TimePoint deadline) override;
  void advance(Duration d);
  void set(TimePoint t);

 private:
  void wakeAll();
  mutable std::mutex mu_;
  TimePoint now_;
  std::vector<std::condition_variable*> waiters_;
};

}  // namespace kubegrant
