#pragma once

// Client-side token bucket (client-go's QPS/burst): `burst` requests may go at once, then
// `qps` per second. Thread-safe; uses the injected Clock so tests never sleep.

#include <mutex>
#include <stop_token>

#include "operator/common/clock.h"

namespace kubegrant::kube {

class TokenBucket {
 public:
  // qps <= 0 disables limiting.
  TokenBucket(Clock& clock, double qps, int burst);

  // Takes one token if available now; otherwise returns how long until one is.
  // Returns Duration::zero() when a token was taken.
  Duration tryTake();
  // Blocks until a token is taken or `stop` is requested (returns false then).
  bool take(std::stop_token stop = {});

 private:
  void refillLocked(TimePoint now);
  Clock& clock_;
  double qps_;
  double burst_;
  std::mutex mu_;
  double tokens_;
  TimePoint last_;
};

}  // namespace kubegrant::kube
