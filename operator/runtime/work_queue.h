#pragma once

// A de-duplicating, delaying, rate-limited work queue with client-go's semantics.
//
// Guarantees:
//  - De-duplication: a key added several times while it waits is handed out once.
//  - Never two workers on one key: a key added while it is being processed is remembered
//    ("dirty") and queued again only when the worker calls done(key).
//  - Delays: addAfter(key, d) makes the key ready at clock.now() + d; ready keys are handed
//    out in the order they became due. A key already waiting keeps the earlier due time.
//    Time comes from the injected Clock, so a FakeClock drives delays in tests.
//  - Rate limiting: addRateLimited(key) waits base * 2^(failures) (5 ms doubling, capped at
//    30 s by default) per key, or a given floor (a server's Retry-After) when longer; forget(key)
//    resets that count, numRequeues(key) reads it.
//  - get() blocks until a key is ready or the queue shuts down (then it returns nullopt).
//  - shutdown(): adds are ignored from now on and every get() returns nullopt at once; keys
//    being processed may still call done(). shutdownWithDrain(): adds are ignored, keys
//    already ready are still handed out, and the call returns once nothing is ready or in
//    flight (workers must keep calling get()/done() meanwhile); delayed keys are dropped.
//
// No background thread: the getters themselves wait for the earliest due time.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "operator/common/clock.h"
#include "operator/runtime/namespaced_name.h"
#include "operator/runtime/rate_limiter.h"

namespace kubegrant::runtime {

struct WorkQueueOptions {
  Duration baseDelay = std::chrono::milliseconds(5);
  Duration maxDelay = std::chrono::seconds(30);
};

template <typename Key, typename Hash = std::hash<Key>>
class BasicWorkQueue {
 public:
  explicit BasicWorkQueue(Clock& clock, WorkQueueOptions options = {})
      : clock_(clock), backoff_(options.baseDelay, options.maxDelay) {}

  BasicWorkQueue(const BasicWorkQueue&) = delete;
  BasicWorkQueue& operator=(const BasicWorkQueue&) = delete;

  void add(const Key& key) {
    std::lock_guard<std::mutex> g(mu_);
    addLocked(key);
  }

  void addAfter(const Key& key, Duration delay) {
    if (delay <= Duration::zero()) return add(key);
    std::lock_guard<std::mutex> g(mu_);
    if (shuttingDown_) return;
    TimePoint due = clock_.now() + std::chrono::duration_cast<WallClock::duration>(delay);
    auto it = waitingByKey_.find(key);
    if (it != waitingByKey_.end()) {
      if (it->second->first <= due) return;
      waiting_.erase(it->second);
      waitingByKey_.erase(it);
    }
    waitingByKey_.emplace(key, waiting_.emplace(due, key));
    // A getter may be sleeping until a later deadline; let it recompute.
    cv_.notify_all();
  }

  // Requeues `key` after its next backoff step, or after `atLeast` when that is longer.
  void addRateLimited(const Key& key, Duration atLeast = Duration::zero()) {
    addAfter(key, std::max(backoff_.when(key), atLeast));
  }
  void forget(const Key& key) { backoff_.forget(key); }
  int numRequeues(const Key& key) const { return backoff_.numRequeues(key); }

  // Blocks until a key is ready (and marks it in flight) or the queue shuts down.
  std::optional<Key> get() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (shuttingDown_ && !drain_) return std::nullopt;
      promoteDueLocked();
      if (!queue_.empty()) {
        Key key = std::move(queue_.front());
        queue_.pop_front();
        dirty_.erase(key);
        processing_.insert(key);
        return key;
      }
      if (shuttingDown_) {
        drainCv_.notify_all();
        return std::nullopt;
      }
      if (waiting_.empty()) {
        cv_.wait(lock);
      } else {
        clock_.waitUntil(cv_, lock, waiting_.begin()->first);
      }
    }
  }

  // Marks `key` finished; if it was added meanwhile it becomes ready again.
  void done(const Key& key) {
    std::lock_guard<std::mutex> g(mu_);
    processing_.erase(key);
    if (dirty_.count(key) != 0) {
      // Queued again meanwhile: if it was timed work, that may be the run still to come, so it
      // stays timed until then.
      queue_.push_back(key);
      cv_.notify_one();
    } else {
      timed_.erase(key);
    }
    if (processing_.empty()) drainCv_.notify_all();
  }

  void shutdown() {
    std::lock_guard<std::mutex> g(mu_);
    shuttingDown_ = true;
    drain_ = false;
    cv_.notify_all();
    drainCv_.notify_all();
  }

  void shutdownWithDrain() {
    std::unique_lock<std::mutex> lock(mu_);
    shuttingDown_ = true;
    drain_ = true;
    waiting_.clear();
    waitingByKey_.clear();
    cv_.notify_all();
    drainCv_.wait(lock, [&] { return !drain_ || (processing_.empty() && queue_.empty()); });
  }

  bool shuttingDown() const {
    std::lock_guard<std::mutex> g(mu_);
    return shuttingDown_;
  }
  // Keys ready to be handed out (not counting delayed or in-flight keys).
  size_t len() const {
    std::lock_guard<std::mutex> g(mu_);
    return queue_.size();
  }
  size_t numWaiting() const {
    std::lock_guard<std::mutex> g(mu_);
    return waiting_.size();
  }
  size_t numProcessing() const {
    std::lock_guard<std::mutex> g(mu_);
    return processing_.size();
  }
  // True while some key waits to be handed out: ready, or delayed and now due (what a worker
  // could take next).
  bool hasWaitingWork() const {
    std::lock_guard<std::mutex> g(mu_);
    return !queue_.empty() || (!waiting_.empty() && waiting_.begin()->first <= clock_.now());
  }
  // True while work that was scheduled for a time (addAfter, addRateLimited: an expiry, a
  // timeout, a retry) is due and not yet handed out, ready, or in flight until done(): what
  // lower-priority work (Events) waits for. Keys added by events (add) do not count, so a
  // storm of creates does not hold that work back for its whole length.
  bool dueWorkPending() const {
    std::lock_guard<std::mutex> g(mu_);
    return !timed_.empty() || (!waiting_.empty() && waiting_.begin()->first <= clock_.now());
  }

 private:
  void addLocked(const Key& key) {
    if (shuttingDown_) return;
    if (!dirty_.insert(key).second) return;
    if (processing_.count(key) != 0) return;  // queued again by done()
    queue_.push_back(key);
    cv_.notify_one();
  }

  void promoteDueLocked() {
    if (waiting_.empty()) return;
    TimePoint now = clock_.now();
    size_t promoted = 0;
    while (!waiting_.empty() && waiting_.begin()->first <= now) {
      auto node = waiting_.extract(waiting_.begin());
      waitingByKey_.erase(node.mapped());
      timed_.insert(node.mapped());
      addLocked(node.mapped());
      ++promoted;
    }
    if (promoted > 1) cv_.notify_all();
  }

  Clock& clock_;
  ItemExponentialBackoff<Key, Hash> backoff_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable drainCv_;
  std::deque<Key> queue_;
  std::unordered_set<Key, Hash> dirty_;
  std::unordered_set<Key, Hash> processing_;
  std::unordered_set<Key, Hash> timed_;  // promoted from waiting_, until done()
  // Due time -> key; a multimap keeps insertion order among equal due times.
  std::multimap<TimePoint, Key> waiting_;
  std::unordered_map<Key, typename std::multimap<TimePoint, Key>::iterator, Hash> waitingByKey_;
  bool shuttingDown_ = false;
  bool drain_ = false;
};

using WorkQueue = BasicWorkQueue<NamespacedName, NamespacedNameHash>;

}  // namespace kubegrant::runtime
