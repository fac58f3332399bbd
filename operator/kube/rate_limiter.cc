#include "operator/kube/rate_limiter.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>

namespace kubegrant::kube {

TokenBucket::TokenBucket(Clock& clock, double qps, int burst)
    : clock_(clock),
      qps_(qps),
      burst_(std::max(1, burst)),
      tokens_(std::max(1, burst)),
      last_(clock.now()) {}

void TokenBucket::refillLocked(TimePoint now) {
  if (now <= last_) return;
  double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
  last_ = now;
}

Duration TokenBucket::tryTake() {
  if (qps_ <= 0) return Duration::zero();
  std::lock_guard lock(mu_);
  refillLocked(clock_.now());
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return Duration::zero();
  }
  double missing = 1.0 - tokens_;
  auto wait = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(missing / qps_));
  return std::max(wait, Duration(1));
}

bool TokenBucket::take(std::stop_token stop) {
  std::mutex waitMu;
  std::condition_variable cv;
  // Notifying under the mutex pairs with the check below, so a stop is never missed.
  std::stop_callback onStop(stop, [&] {
    std::lock_guard lock(waitMu);
    cv.notify_all();
  });
  while (true) {
    Duration wait = tryTake();
    if (wait == Duration::zero()) return true;
    std::unique_lock lock(waitMu);
    if (stop.stop_requested()) return false;
    clock_.waitUntil(cv, lock, clock_.now() + wait);
  }
}

}  // namespace kubegrant::kube
