#pragma once

// Hands AccessRequest Events to runtime::EventRecorder on a background thread, so a reconcile
// never waits on an Event write (the recorder itself is synchronous and best-effort).
//
//  - Lowest priority: while `yieldTo` says higher-priority API work is due or running (the
//    operator passes the controller's timed work: an expiry's RoleBinding DELETE and status
//    write, WorkQueue::dueWorkPending), no Event is sent; they follow once that work is done.
//    When a thousand requests expire at once the API server spends itself on the
//    revocations first (the audit log already has every line).
//  - Paced by a token bucket (`qps`, `burst`) besides.
//  - Bounded in count and in age: when `maxPending` are queued the oldest is dropped; an Event
//    that waited longer than `maxAge` is dropped unsent (it no longer tells `kubectl describe`
//    anything timely). Both are counted (dropped(), expired()).
//  - On stop, what is queued goes out unpaced and without yielding, for at most `flushFor`.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "controllers/access_request/executor.h"
#include "operator/kube/rate_limiter.h"
#include "operator/runtime/event_recorder.h"
#include "operator/runtime/runnable.h"

namespace kubegrant::manager {

struct EventSinkOptions {
  double qps = 20;
  int burst = 100;
  // ~0.3 KiB each while queued. 4,096 hold a burst of 1,000 expiries' and approvals' Events
  // several times over; at 20/s the last of them is sent within maxAge.
  size_t maxPending = 4096;
  Duration maxAge = std::chrono::minutes(5);
  // How long stop() keeps sending what is queued; the rest is dropped (counted and logged),
  // so shutdown never waits long on a slow or unreachable API server.
  Duration flushFor = std::chrono::seconds(2);
  // True while higher-priority API work is due or in flight; Events wait meanwhile,
  // re-asking every `yieldPoll`. Empty = never yield.
  std::function<bool()> yieldTo;
  Duration yieldPoll = std::chrono::milliseconds(20);
};

class AsyncEventSink final : public runtime::Runnable {
 public:
  // `recorder` must outlive this object.
  AsyncEventSink(runtime::EventRecorder& recorder, Clock& clock, EventSinkOptions options = {});
  ~AsyncEventSink() override;  // stop()

  // Starts the sending thread; Events recorded before are kept until then.
  Result<void> start() override;
  // Flushes what is queued (for at most flushFor), then joins. Idempotent.
  void stop() override;
  void record(const v1alpha1::AccessRequest& request,
              const controllers::access_request::RequestEvent& event);
  // Events not sent, for any reason (queue full, too old, shutdown).
  uint64_t dropped() const;
  // Of those, the ones dropped because they waited longer than maxAge.
  uint64_t expired() const;
  size_t pending() const;

 private:
  // What a queued Event needs of its request: its name, namespace and uid (the involvedObject
  // is built when the Event is sent), not a copy of the object (bench/README.md, issue 15).
  struct Pending {
    std::string name, namespace_, uid;
    runtime::EventType type;
    std::string reason;
    std::string message;
    TimePoint queued{};
  };
  void run();
  // Drops the queued Events older than maxAge (they are in queue order).
  void expireLocked(TimePoint now);
  runtime::EventRecorder& recorder_;
  Clock& clock_;
  const EventSinkOptions options_;
  kube::TokenBucket pace_;
  TimePoint flushDeadline_{};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> pending_;
  bool stopping_ = false;
  uint64_t dropped_ = 0;
  uint64_t expired_ = 0;
  std::thread thread_;
};

}  // namespace kubegrant::manager
