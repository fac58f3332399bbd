#pragma once

// Hands AccessRequest Events to runtime::EventRecorder on a background thread, so a reconcile
// never waits on an Event write (the recorder itself is synchronous and best-effort). Bounded:
// when the API server is slow, the oldest unsent Events are dropped and counted. Paced by a
// token bucket (`qps`, `burst`): when a thousand requests expire at once the API server spends
// itself on the RoleBinding deletes and status writes first; the Events follow (the audit log
// already has every line). On stop, what is queued goes out unpaced, for at most `flushFor`.

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "controllers/access_request/executor.h"
#include "operator/kube/rate_limiter.h"
#include "operator/runtime/event_recorder.h"
#include "operator/runtime/runnable.h"

namespace kubegrant::manager {

class AsyncEventSink final : public runtime::Runnable {
 public:
  // `recorder` must outlive this object.
  // `flushFor`: how long stop() keeps sending what is queued; the rest is dropped (counted
  // and logged), so shutdown never waits long on a slow or unreachable API server.
  AsyncEventSink(runtime::EventRecorder& recorder, Clock& clock, double qps = 20, int burst = 100,
                 size_t maxPending = 10000, Duration flushFor = std::chrono::seconds(2));
  ~AsyncEventSink() override;  // stop()

  // Starts the sending thread; Events recorded before are kept until then.
  Result<void> start() override;
  // Flushes what is queued (for at most flushFor), then joins. Idempotent.
  void stop() override;
  void record(const v1alpha1::AccessRequest& request,
              const controllers::access_request::RequestEvent& event);
  uint64_t dropped() const;

 private:
  // What a queued Event needs of its request: its name, namespace and uid (the involvedObject
  // is built when the Event is sent), not a copy of the object (bench/README.md, issue 15).
  struct Pending {
    std::string name, namespace_, uid;
    runtime::EventType type;
    std::string reason;
    std::string message;
  };
  void run();
  runtime::EventRecorder& recorder_;
  Clock& clock_;
  kube::TokenBucket pace_;
  size_t maxPending_;
  Duration flushFor_;
  TimePoint flushDeadline_{};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> pending_;
  bool stopping_ = false;
  uint64_t dropped_ = 0;
  std::thread thread_;
};

}  // namespace kubegrant::manager
