#pragma once

// Per-item exponential backoff, as client-go's ItemExponentialFailureRateLimiter: the n-th
// consecutive failure of an item waits base * 2^(n-1), capped at max. `forget` resets the
// item after a success so one bad spell does not slow it down forever.

#include <chrono>
#include <mutex>
#include <unordered_map>

#include "operator/common/clock.h"

namespace kubegrant::runtime {

template <typename Key, typename Hash = std::hash<Key>>
class ItemExponentialBackoff {
 public:
  static constexpr Duration kDefaultBase = std::chrono::milliseconds(5);
  static constexpr Duration kDefaultMax = std::chrono::seconds(30);

  explicit ItemExponentialBackoff(Duration base = kDefaultBase, Duration max = kDefaultMax)
      : base_(base), max_(max) {}

  // The delay before the next retry of `item`; counts one more failure.
  Duration when(const Key& item) {
    std::lock_guard<std::mutex> g(mu_);
    int exp = failures_[item]++;
    // Doubling past 62 bits would overflow; far beyond any sane cap anyway.
    if (exp >= 62) return max_;
    Duration::rep base = base_.count();
    Duration::rep factor = Duration::rep{1} << exp;
    if (base != 0 && factor > max_.count() / base) return max_;
    Duration d{base * factor};
    return d > max_ ? max_ : d;
  }

  void forget(const Key& item) {
    std::lock_guard<std::mutex> g(mu_);
    failures_.erase(item);
  }

  int numRequeues(const Key& item) const {
    std::lock_guard<std::mutex> g(mu_);
    auto it = failures_.find(item);
    return it == failures_.end() ? 0 : it->second;
  }

 private:
  const Duration base_;
  const Duration max_;
  mutable std::mutex mu_;
  std::unordered_map<Key, int, Hash> failures_;
};

}  // namespace kubegrant::runtime
