#pragma once

// The controller loop: N worker threads take keys from a rate-limited work queue and call a
// Reconciler, as controller-runtime does. The reconciler owns the retry policy:
//
//  - ok(requeueAfter(d)) -> forget the key's backoff, then addAfter(key, d).
//  - ok(awaitChange())   -> forget the key's backoff; the next event enqueues it again.
//  - any error -> logged, requeued with per-key exponential backoff (5 ms doubling, capped
//    at 30 s), and never sooner than the server's Retry-After when it sent one.
//  - an error the reconciler marked terminal(e) -> logged, backoff forgotten, not retried:
//    only a change to the object (a new event) brings it back (controller-runtime's
//    TerminalError, kube-rs' error_policy).
//  - an exception escaping reconcile() is an error like any other (retried).
// One key is never reconciled by two workers at once (the queue guarantees it).

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "operator/common/clock.h"
#include "operator/common/result.h"
#include "operator/runtime/namespaced_name.h"
#include "operator/runtime/work_queue.h"

namespace kubegrant::runtime {

// What the reconciler wants next. Time-based work (expiry) is a requeueAfter.
class Action {
 public:
  static Action requeueAfter(Duration d) { return Action(d); }
  static Action awaitChange() { return Action(std::nullopt); }

  const std::optional<Duration>& requeueDelay() const { return requeueAfter_; }
  friend bool operator==(const Action&, const Action&) = default;

 private:
  explicit Action(std::optional<Duration> d) : requeueAfter_(d) {}
  std::optional<Duration> requeueAfter_;
};

// Marks `e` as one that retrying cannot fix (see the controller's retry policy above).
inline Error terminal(Error e) {
  e.terminal = true;
  return e;
}

class Reconciler {
 public:
  virtual ~Reconciler() = default;
  // Level-based and idempotent: reads the current state for `request` and moves the world
  // towards what should exist now. Called from worker threads, never twice at once for one
  // key.
  virtual Result<Action> reconcile(const NamespacedName& request) = 0;
};

// A snapshot of the controller's counters (controller-runtime's
// controller_runtime_reconcile_total{result=...}, _errors_total, _time_seconds).
struct ControllerStats {
  uint64_t reconcileTotal = 0;
  uint64_t reconcileSuccess = 0;       // ok(awaitChange())
  uint64_t reconcileRequeueAfter = 0;  // ok(requeueAfter(d))
  uint64_t reconcileErrors = 0;        // retried + terminal
  uint64_t reconcileTerminalErrors = 0;
  std::chrono::microseconds reconcileTimeTotal{0};
  std::chrono::microseconds reconcileTimeMax{0};
  size_t activeWorkers = 0;
};

// Read side of the counters, for a metrics endpoint or a test.
class ControllerMetrics {
 public:
  virtual ~ControllerMetrics() = default;
  virtual ControllerStats stats() const = 0;
};

struct ControllerOptions {
  int workers = 2;
  WorkQueueOptions queue;
};

class Controller final : public ControllerMetrics {
 public:
  // `name` appears in logs. The reconciler and clock must outlive the controller.
  Controller(std::string name, Reconciler& reconciler, Clock& clock,
             ControllerOptions options = {});
  ~Controller() override;  // stops and joins

  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Event handlers enqueue through this (add / addAfter); it is valid before start().
  WorkQueue& queue() { return queue_; }
  void enqueue(const NamespacedName& key) { queue_.add(key); }

  // Starts the worker threads. Call once.
  void start();
  // Shuts the queue down (pending keys are dropped: the next leader or start relists and
  // reconciles everything anyway) and joins the workers after their current reconcile.
  void stop();

  ControllerStats stats() const override;
  const std::string& name() const { return name_; }

 private:
  void worker();
  void processOne(const NamespacedName& key);

  std::string name_;
  Reconciler& reconciler_;
  ControllerOptions options_;
  WorkQueue queue_;
  std::vector<std::thread> workers_;
  bool started_ = false;

  std::atomic<uint64_t> total_{0};
  std::atomic<uint64_t> success_{0};
  std::atomic<uint64_t> requeueAfter_{0};
  std::atomic<uint64_t> errors_{0};
  std::atomic<uint64_t> terminalErrors_{0};
  std::atomic<int64_t> timeTotalUs_{0};
  std::atomic<int64_t> timeMaxUs_{0};
  std::atomic<size_t> active_{0};
};

}  // namespace kubegrant::runtime
