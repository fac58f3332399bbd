#pragma once

// Delivers notifications (notification.h) to their receivers: the operator-wide --notify-url
// and the policy receivers each notification names.
//
// Guarantees:
//  - send() never blocks (a reconcile or an admission review never waits for a receiver): it
//    queues one delivery per receiver and returns. The queue is bounded (`capacity`
//    deliveries, waiting or retrying); beyond it a notification is dropped, counted in
//    kubegrant_notifications_total{result="dropped"} and logged.
//  - In order per subject: a lifecycle notification of a request waits until the previous one
//    of that request is settled (delivered or given up), so a receiver sees created, approved,
//    active, ..., ended in that order even when one of them needed retries.
//  - A notification whose id is queued, in flight or settled recently is not queued again, so
//    a reconcile that plans it again before its delivery is recorded sends nothing twice.
//  - Retries: a network error, a timeout, 408, 429 or a 5xx is retried with exponential backoff
//    (runtime::ItemExponentialBackoff, base..max) and full jitter over its upper half, at most
//    `maxAttempts` attempts in all; any other 4xx is final. Each attempt is signed afresh
//    (signing.h) with the key, if any.
//  - When every receiver accepted a notification that has a subject, onDelivered is called
//    (the operator records the event on the request, so a restart does not send it again);
//    one that failed is not recorded, and a restarted operator sends it again (at least once).
//  - Logs and metrics name the receiver, never its URL (a webhook URL is a credential).
//  - stop() ends the workers; what is still queued is not sent by this process.

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "operator/common/clock.h"
#include "operator/common/metrics.h"
#include "operator/common/result.h"
#include "operator/notify/notification.h"
#include "operator/runtime/rate_limiter.h"
#include "operator/runtime/runnable.h"
#include "operator/runtime/work_queue.h"

namespace kubegrant::notify {

using Headers = std::vector<std::pair<std::string, std::string>>;

// One HTTP POST. ok = the receiver answered 2xx. Unavailable = worth retrying (network error,
// timeout, 408, 429, 5xx); any other error code is final. Messages never contain the URL.
class Poster {
 public:
  virtual ~Poster() = default;
  [[nodiscard]] virtual Result<void> post(const std::string& url, const std::string& body,
                                          const Headers& headers, Duration timeout) = 0;
};

// The URL of a policy receiver, read from its Secret. An error is retried like a failed POST,
// but Invalid (a reference the operator must not follow) is final.
using UrlResolver = std::function<Result<std::string>(const v1alpha1::SecretKeyReference&)>;

struct DispatcherOptions {
  std::string defaultUrl;  // --notify-url; "" = policy receivers only
  std::string signingKey;  // --notify-secret-file's key; "" = unsigned
  std::size_t capacity = 1024;
  int maxAttempts = 12;
  Duration baseDelay = std::chrono::seconds(1);
  Duration maxDelay = std::chrono::seconds(60);
  Duration timeout = std::chrono::seconds(10);
  int workers = 2;
  UrlResolver resolveUrl;                                // required for policy receivers
  std::function<void(const Notification&)> onDelivered;  // may be empty
  metrics::Registry* metrics = nullptr;                  // may be null
  // A number in [0, 1) for the jitter; default: a PRNG seeded from std::random_device.
  std::function<double()> random;
};

class Dispatcher final : public Sink, public runtime::Runnable {
 public:
  // `poster` and `clock` (and the registry) must outlive this.
  Dispatcher(Poster& poster, Clock& clock, DispatcherOptions options);
  ~Dispatcher() override;

  bool send(Notification notification) override;
  Result<void> start() override;
  void stop() override;

  // Deliveries waiting or retrying (the kubegrant_notification_queue_depth gauge).
  std::size_t depth() const;

 private:
  struct Entry {
    Notification notification;
    std::size_t remaining = 0;
    bool allDelivered = true;
  };
  struct Delivery {
    std::shared_ptr<Entry> entry;
    Receiver receiver;
  };
  // Queues the deliveries of `entry`; returns their keys (to add to queue_ unlocked).
  std::vector<std::string> enqueueLocked(const std::shared_ptr<Entry>& entry,
                                         std::vector<Receiver> receivers);
  void work();
  // One attempt of `key`: true = settled (delivered or given up), false = retry later.
  void attempt(const std::string& key);
  void settle(const std::string& key, bool delivered);
  void count(const std::string& event, const char* result);

  Poster& poster_;
  Clock& clock_;
  DispatcherOptions options_;
  runtime::BasicWorkQueue<std::string> queue_;
  runtime::ItemExponentialBackoff<std::string> backoff_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Delivery> deliveries_;  // key: id + "|" + receiver name
  std::unordered_set<std::string> active_;                // notification ids not settled
  std::unordered_set<std::string> settled_;               // recently settled ids ...
  std::deque<std::string> settledOrder_;                  // ... oldest first, bounded
  // Per subject uid: the notifications waiting for the one in flight, with their receivers.
  std::unordered_map<std::string,
                     std::deque<std::pair<std::shared_ptr<Entry>, std::vector<Receiver>>>>
      bySubject_;
  std::unordered_set<std::string> busySubjects_;  // a notification of it is in flight
  std::size_t waiting_ = 0;                       // deliveries held in bySubject_
  std::vector<std::thread> workers_;
  metrics::Family<metrics::Counter>* results_ = nullptr;
  metrics::Family<metrics::Counter>* retries_ = nullptr;
};

}  // namespace kubegrant::notify
