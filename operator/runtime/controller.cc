#include "operator/runtime/controller.h"

#include <exception>

#include "operator/common/log.h"

namespace kubegrant::runtime {

Controller::Controller(std::string name, Reconciler& reconciler, Clock& clock,
                       ControllerOptions options)
    : name_(std::move(name)),
      reconciler_(reconciler),
      options_(options),
      queue_(clock, options.queue) {}

Controller::~Controller() { stop(); }

void Controller::start() {
  if (started_) return;
  started_ = true;
  int n = options_.workers < 1 ? 1 : options_.workers;
  log::info("controller", "starting workers", {{"controller", name_}, {"workers", n}});
  for (int i = 0; i < n; ++i) workers_.emplace_back([this] { worker(); });
}

void Controller::stop() {
  queue_.shutdown();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void Controller::worker() {
  while (auto key = queue_.get()) {
    processOne(*key);
    queue_.done(*key);
  }
}

void Controller::processOne(const NamespacedName& key) {
  ++active_;
  // Reconcile duration is a measurement of real work, so it uses the steady clock rather
  // than the injected (possibly fake) one.
  auto start = std::chrono::steady_clock::now();
  Result<Action> result = [&]() -> Result<Action> {
    try {
      return reconciler_.reconcile(key);
    } catch (const std::exception& e) {
      return fail(ErrorCode::Internal, std::string("reconcile threw: ") + e.what());
    } catch (...) {
      return fail(ErrorCode::Internal, "reconcile threw a non-standard exception");
    }
  }();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  timeTotalUs_ += us;
  int64_t prevMax = timeMaxUs_.load();
  while (us > prevMax && !timeMaxUs_.compare_exchange_weak(prevMax, us)) {
  }

  // Counters move after the queue actions so an observer that sees the count also sees
  // the requeue it caused.
  if (result) {
    queue_.forget(key);
    if (const auto& delay = result->requeueDelay()) {
      queue_.addAfter(key, *delay);
      ++requeueAfter_;
    } else {
      ++success_;
    }
  } else if (const Error& err = result.error(); !err.terminal) {
    // The server's Retry-After (429, or a 5xx under load) is a floor for the backoff.
    queue_.addRateLimited(key, std::chrono::seconds(err.retryAfterSeconds));
    log::warn("controller", "reconcile failed, will retry",
              {{"controller", name_},
               {"request", key.toString()},
               {"error", err.describe()},
               {"retries", queue_.numRequeues(key)}});
    ++errors_;
  } else {
    log::error("controller", "reconcile failed with a terminal error, not retrying",
               {{"controller", name_}, {"request", key.toString()}, {"error", err.describe()}});
    queue_.forget(key);
    ++terminalErrors_;
    ++errors_;
  }
  --active_;
  ++total_;
}

ControllerStats Controller::stats() const {
  ControllerStats s;
  s.reconcileTotal = total_.load();
  s.reconcileSuccess = success_.load();
  s.reconcileRequeueAfter = requeueAfter_.load();
  s.reconcileErrors = errors_.load();
  s.reconcileTerminalErrors = terminalErrors_.load();
  s.reconcileTimeTotal = std::chrono::microseconds(timeTotalUs_.load());
  s.reconcileTimeMax = std::chrono::microseconds(timeMaxUs_.load());
  s.activeWorkers = active_.load();
  return s;
}

}  // namespace kubegrant::runtime
