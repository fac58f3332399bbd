#include "operator/notify/dispatcher.h"

#include <fmt/format.h>

#include <random>

#include "operator/common/log.h"
#include "operator/notify/signing.h"

namespace kubegrant::notify {
namespace {

constexpr std::string_view kLogger = "notify";
constexpr std::size_t kSettledMemory = 4096;

std::function<double()> defaultRandom() {
  auto gen = std::make_shared<std::mt19937_64>(std::random_device{}());
  auto mu = std::make_shared<std::mutex>();
  return [gen, mu] {
    std::lock_guard<std::mutex> g(*mu);
    return std::uniform_real_distribution<double>(0.0, 1.0)(*gen);
  };
}

}  // namespace

Dispatcher::Dispatcher(Poster& poster, Clock& clock, DispatcherOptions options)
    : poster_(poster),
      clock_(clock),
      options_(std::move(options)),
      queue_(clock_),
      backoff_(options_.baseDelay, options_.maxDelay) {
  if (!options_.random) options_.random = defaultRandom();
  if (auto* m = options_.metrics) {
    results_ = &m->counter("kubegrant_notifications_total",
                           "Notifications by event and result: delivered (every receiver "
                           "accepted it), failed (a receiver refused it or retries ran out), "
                           "dropped (the queue was full).",
                           {"event", "result"});
    retries_ =
        &m->counter("kubegrant_notification_retries_total",
                    "Delivery attempts that failed and were retried, by receiver.", {"receiver"});
    m->addCollector([this, &g = m->gauge("kubegrant_notification_queue_depth",
                                         "Notification deliveries waiting or retrying.")] {
      g.with().set(static_cast<double>(depth()));
    });
  }
}

Dispatcher::~Dispatcher() { stop(); }

void Dispatcher::count(const std::string& event, const char* result) {
  if (results_) results_->with({event, result}).inc();
}

std::vector<std::string> Dispatcher::enqueueLocked(const std::shared_ptr<Entry>& entry,
                                                   std::vector<Receiver> receivers) {
  std::vector<std::string> keys;
  entry->remaining = receivers.size();
  for (auto& r : receivers) {
    std::string key = entry->notification.id + "|" + r.name;
    if (!deliveries_.emplace(key, Delivery{entry, std::move(r)}).second) {
      --entry->remaining;  // one receiver named twice gets it once
      continue;
    }
    keys.push_back(std::move(key));
  }
  if (entry->notification.subject) busySubjects_.insert(entry->notification.subject->uid);
  return keys;
}

bool Dispatcher::send(Notification n) {
  std::vector<Receiver> receivers;
  if (!options_.defaultUrl.empty()) receivers.push_back({kDefaultReceiver, std::nullopt});
  for (auto& r : n.receivers) receivers.push_back(std::move(r));
  n.receivers.clear();
  if (receivers.empty()) return true;
  std::vector<std::string> keys;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (active_.count(n.id) != 0 || settled_.count(n.id) != 0) return true;
    if (deliveries_.size() + waiting_ + receivers.size() > options_.capacity) {
      count(n.event, "dropped");
      log::error(kLogger, "notification dropped: the delivery queue is full",
                 {{"id", n.id}, {"event", n.event}, {"capacity", options_.capacity}});
      return false;
    }
    auto entry = std::make_shared<Entry>();
    entry->notification = std::move(n);
    active_.insert(entry->notification.id);
    const auto& subject = entry->notification.subject;
    if (subject && busySubjects_.count(subject->uid) != 0) {
      // After the one of this request in flight (settle() queues it).
      waiting_ += receivers.size();
      bySubject_[subject->uid].emplace_back(entry, std::move(receivers));
      return true;
    }
    keys = enqueueLocked(entry, std::move(receivers));
  }
  for (const auto& k : keys) queue_.add(k);
  return true;
}

std::size_t Dispatcher::depth() const {
  std::lock_guard<std::mutex> g(mu_);
  return deliveries_.size() + waiting_;
}

Result<void> Dispatcher::start() {
  for (int i = 0; i < std::max(1, options_.workers); ++i) workers_.emplace_back([this] { work(); });
  return ok();
}

void Dispatcher::stop() {
  queue_.shutdown();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void Dispatcher::work() {
  while (auto key = queue_.get()) {
    attempt(*key);
    queue_.done(*key);
  }
}

void Dispatcher::attempt(const std::string& key) {
  Delivery d;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = deliveries_.find(key);
    if (it == deliveries_.end()) return;
    d = it->second;
  }
  const Notification& n = d.entry->notification;
  auto post = [&](const std::string& url) {
    const std::string ts = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count());
    Headers h{{kIdHeader, n.id}, {kEventHeader, n.event}, {kTimestampHeader, ts}};
    if (!options_.signingKey.empty())
      h.emplace_back(kSignatureHeader, signature(options_.signingKey, ts, n.body));
    return poster_.post(url, n.body, h, options_.timeout);
  };
  Result<void> sent = ok();
  if (!d.receiver.urlSecretRef) {
    sent = post(options_.defaultUrl);
  } else if (!options_.resolveUrl) {
    sent = fail(ErrorCode::Internal, "no resolver for policy receivers");
  } else if (auto url = options_.resolveUrl(*d.receiver.urlSecretRef); !url) {
    const auto& ref = *d.receiver.urlSecretRef;
    // Invalid (a reference the operator must not follow) is final; anything else may pass.
    sent =
        fail(url.error().code == ErrorCode::Invalid ? ErrorCode::Invalid : ErrorCode::Unavailable,
             fmt::format("cannot read the receiver's URL from Secret {}/{} key {}: {}",
                         ref.namespace_, ref.name, ref.key, url.error().message));
  } else {
    sent = post(*url);
  }
  if (sent) {
    backoff_.forget(key);
    settle(key, true);
    return;
  }
  const int attempts = backoff_.numRequeues(key) + 1;
  const bool retryable = sent.error().code == ErrorCode::Unavailable;
  if (!retryable || attempts >= options_.maxAttempts) {
    backoff_.forget(key);
    log::error(kLogger, "notification not delivered",
               {{"id", n.id},
                {"event", n.event},
                {"receiver", d.receiver.name},
                {"attempts", attempts},
                {"error", sent.error().message}});
    settle(key, false);
    return;
  }
  // Full jitter over the upper half: receivers that came back are not hit by every operator
  // replica's retries at the same instant, and the delay still grows.
  const Duration delay = backoff_.when(key);
  const auto jittered = std::chrono::duration_cast<Duration>(
      delay * (0.5 + 0.5 * std::clamp(options_.random(), 0.0, 1.0)));
  queue_.addAfter(key, jittered);
  if (retries_) retries_->with({d.receiver.name}).inc();
  log::warn(kLogger, "notification delivery failed; retrying",
            {{"id", n.id},
             {"event", n.event},
             {"receiver", d.receiver.name},
             {"attempt", attempts},
             {"retryInMs", std::chrono::duration_cast<std::chrono::milliseconds>(jittered).count()},
             {"error", sent.error().message}});
}

void Dispatcher::settle(const std::string& key, bool delivered) {
  std::shared_ptr<Entry> done;
  std::vector<std::string> next;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = deliveries_.find(key);
    if (it == deliveries_.end()) return;
    auto entry = it->second.entry;
    deliveries_.erase(it);
    entry->allDelivered = entry->allDelivered && delivered;
    if (--entry->remaining > 0) return;
    const std::string& id = entry->notification.id;
    active_.erase(id);
    if (settled_.insert(id).second) settledOrder_.push_back(id);
    while (settledOrder_.size() > kSettledMemory) {
      settled_.erase(settledOrder_.front());
      settledOrder_.pop_front();
    }
    // The next notification of the same request, if one waits.
    if (const auto& subject = entry->notification.subject) {
      busySubjects_.erase(subject->uid);
      auto it = bySubject_.find(subject->uid);
      if (it != bySubject_.end()) {
        auto [waitingEntry, receivers] = std::move(it->second.front());
        it->second.pop_front();
        if (it->second.empty()) bySubject_.erase(it);
        waiting_ -= receivers.size();
        next = enqueueLocked(waitingEntry, std::move(receivers));
      }
    }
    done = std::move(entry);
  }
  const Notification& n = done->notification;
  count(n.event, done->allDelivered ? "delivered" : "failed");
  if (done->allDelivered) {
    log::info(kLogger, "notification delivered", {{"id", n.id}, {"event", n.event}});
    if (options_.onDelivered && n.subject) options_.onDelivered(n);
  }
  // Only now the request's next notification: its delivery (on another worker) must not be
  // reported before this one's.
  for (const auto& k : next) queue_.add(k);
}

}  // namespace kubegrant::notify
