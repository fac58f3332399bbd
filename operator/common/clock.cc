#include "operator/common/clock.h"

#include <algorithm>

namespace kubegrant {

std::cv_status SystemClock::waitUntil(std::condition_variable& cv,
                                      std::unique_lock<std::mutex>& lock, TimePoint deadline) {
  return cv.wait_until(lock, deadline);
}

TimePoint FakeClock::now() const {
  std::lock_guard<std::mutex> g(mu_);
  return now_;
}

std::cv_status FakeClock::waitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                                    TimePoint deadline) {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (now_ >= deadline) return std::cv_status::timeout;
    waiters_.push_back(&cv);
  }
  // Real time bounds the wait so a missed notification can never hang a test; the caller
  // re-checks its predicate and the fake time after waking.
  cv.wait_for(lock, std::chrono::milliseconds(50));
  std::lock_guard<std::mutex> g(mu_);
  auto it = std::find(waiters_.begin(), waiters_.end(), &cv);
  if (it != waiters_.end()) waiters_.erase(it);
  return now_ >= deadline ? std::cv_status::timeout : std::cv_status::no_timeout;
}

void FakeClock::advance(Duration d) {
  {
    std::lock_guard<std::mutex> g(mu_);
    now_ += std::chrono::duration_cast<WallClock::duration>(d);
  }
  wakeAll();
}

void FakeClock::set(TimePoint t) {
  {
    std::lock_guard<std::mutex> g(mu_);
    now_ = t;
  }
  wakeAll();
}

void FakeClock::wakeAll() {
  std::vector<std::condition_variable*> ws;
  {
    std::lock_guard<std::mutex> g(mu_);
    ws = waiters_;
  }
  for (auto* cv : ws) cv->notify_all();
}

}  // namespace kubegrant
