#include "operator/manager/async_event_sink.h"

#include "operator/common/log.h"

namespace kubegrant::manager {

AsyncEventSink::AsyncEventSink(runtime::EventRecorder& recorder, Clock& clock,
                               EventSinkOptions options)
    : recorder_(recorder),
      clock_(clock),
      options_(std::move(options)),
      pace_(clock, options_.qps, options_.burst) {}

Result<void> AsyncEventSink::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  return ok();
}

AsyncEventSink::~AsyncEventSink() { stop(); }

void AsyncEventSink::record(const v1alpha1::AccessRequest& request,
                            const controllers::access_request::RequestEvent& event) {
  Pending p{request.metadata.name,
            request.metadata.namespace_,
            request.metadata.uid,
            event.type == "Warning" ? runtime::EventType::Warning : runtime::EventType::Normal,
            event.reason,
            event.message,
            clock_.now()};
  std::lock_guard<std::mutex> g(mu_);
  if (stopping_) return;
  if (pending_.size() >= options_.maxPending) {
    pending_.pop_front();
    ++dropped_;
  }
  pending_.push_back(std::move(p));
  cv_.notify_one();
}

void AsyncEventSink::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!stopping_) flushDeadline_ = clock_.now() + options_.flushFor;
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

uint64_t AsyncEventSink::dropped() const {
  std::lock_guard<std::mutex> g(mu_);
  return dropped_;
}

uint64_t AsyncEventSink::expired() const {
  std::lock_guard<std::mutex> g(mu_);
  return expired_;
}

size_t AsyncEventSink::pending() const {
  std::lock_guard<std::mutex> g(mu_);
  return pending_.size();
}

void AsyncEventSink::expireLocked(TimePoint now) {
  size_t n = 0;
  while (!pending_.empty() && now - pending_.front().queued > options_.maxAge) {
    pending_.pop_front();
    ++n;
  }
  if (n == 0) return;
  dropped_ += n;
  expired_ += n;
  log::debug(
      "events", "dropping Events that waited too long to be useful",
      {{"dropped", n}, {"maxAgeSeconds", std::chrono::duration<double>(options_.maxAge).count()}});
}

void AsyncEventSink::run() {
  for (;;) {
    Pending p;
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
        if (pending_.empty()) return;  // stopping and flushed
        if (stopping_ && clock_.now() >= flushDeadline_) {
          // Shutdown must not wait on an API server that is slow or gone.
          log::warn("events", "shutting down: dropping Events not sent in time",
                    {{"dropped", pending_.size()}});
          dropped_ += pending_.size();
          pending_.clear();
          return;
        }
        if (stopping_) break;
        expireLocked(clock_.now());
        if (pending_.empty()) continue;
        // Revocations and other reconcile writes first. Asked without the lock held: the
        // predicate takes the work queue's.
        if (options_.yieldTo) {
          lock.unlock();
          const bool yield = options_.yieldTo();
          lock.lock();
          if (yield) {
            if (!stopping_) clock_.waitUntil(cv_, lock, clock_.now() + options_.yieldPoll);
            continue;
          }
        }
        const Duration wait = pace_.tryTake();
        if (wait == Duration::zero()) break;
        // Spurious and early wake-ups (stop(), a new Event) just go round again.
        clock_.waitUntil(cv_, lock, clock_.now() + wait);
      }
      if (pending_.empty()) continue;
      p = std::move(pending_.front());
      pending_.pop_front();
    }
    // Only what an Event's involvedObject needs.
    const kube::Object involved(nlohmann::json{{"apiVersion", std::string(v1alpha1::kApiVersion)},
                                               {"kind", std::string(v1alpha1::kAccessRequestKind)},
                                               {"metadata",
                                                {{"name", std::move(p.name)},
                                                 {"namespace", std::move(p.namespace_)},
                                                 {"uid", std::move(p.uid)}}}});
    recorder_.event(involved, p.type, p.reason, p.message);
  }
}

}  // namespace kubegrant::manager
