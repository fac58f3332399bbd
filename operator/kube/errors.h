#pragma once

// Mapping of API server responses to Error, keeping the server's Status (reason, message,
// details.causes). Pure, so the mapping is unit-tested without a server.

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "operator/common/result.h"

namespace kubegrant::kube {

// Error for a non-2xx response. `body` is the response body (a metav1.Status when the API
// server produced it; anything else is kept as the message). `retryAfterHeader` is the raw
// Retry-After value ("" when absent). 409 maps to AlreadyExists when reason is
// "AlreadyExists", else Conflict; 5xx map to Unavailable except 504 which maps to Timeout.
Error errorFromResponse(int httpStatus, std::string_view body, std::string_view retryAfterHeader);

// Error from a metav1.Status object (as found in watch ERROR events).
Error errorFromStatus(const nlohmann::json& status);

// ErrorCode for an HTTP status and Status.reason (reason may be empty).
ErrorCode codeFor(int httpStatus, std::string_view reason);

}  // namespace kubegrant::kube
