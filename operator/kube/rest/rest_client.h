#pragma once

// Client over HTTPS with cpprestsdk. This header exposes no cpprestsdk type: only
// rest/*.cc include it.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "operator/common/clock.h"
#include "operator/common/result.h"
#include "operator/kube/client.h"
#include "operator/kube/config.h"

namespace kubegrant::kube::rest {

struct RestOptions {
  double qps = 50;  // client-side token bucket; <= 0 disables
  int burst = 100;
  std::chrono::milliseconds timeout{30000};       // every non-watch request
  std::chrono::seconds watchTimeoutMargin{30};    // added to a watch's timeoutSeconds
  std::int64_t defaultWatchTimeoutSeconds = 300;  // when WatchOptions::timeoutSeconds = 0
  // Retries of idempotent requests (GET, PUT, DELETE) when the server asks: 429, or a 5xx
  // with Retry-After. POST and PATCH are never retried.
  int maxRetries = 3;
  std::chrono::seconds maxRetryAfter{10};  // caps a server-sent Retry-After
  std::string userAgent = "kubegrant";
  Clock* clock = nullptr;  // nullptr = system clock
  // Called with each warning the API server sends on a successful request (admission
  // webhooks' warnings, deprecations: `Warning: 299` headers), on the calling thread before
  // the call returns, as client-go's WarningHandler. Empty = warnings are dropped.
  std::function<void(const std::string&)> onWarning;
};

// Builds a client. Fails (Invalid) on an unusable config: bad PEM, missing server,
// insecure TLS without permission. One keep-alive connection pool per client.
[[nodiscard]] Result<std::unique_ptr<Client>> makeRestClient(const ClusterConfig& config,
                                                             const RestOptions& options = {});

}  // namespace kubegrant::kube::rest
