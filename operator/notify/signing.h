#pragma once

// How a receiver knows a notification is kubegrant's and fresh (--notify-secret-file).
//
// Every POST carries:
//   X-Kubegrant-Id:         the notification's stable id (drop one seen before: retries and
//                           restarts deliver at least once, so duplicates happen)
//   X-Kubegrant-Event:      created, approved, denied, active, breakglass, expiring, ended,
//                           security
//   X-Kubegrant-Timestamp:  Unix seconds when this attempt was sent
//   X-Kubegrant-Signature:  "v1=" + lower-case hex HMAC-SHA256(key, timestamp + "." + body)
// (the signature headers only with a key). A receiver recomputes the HMAC over the raw body
// with the shared key, compares in constant time, and rejects a timestamp more than five
// minutes from its clock: a forgery fails the HMAC, a replay of an old POST fails the window,
// and a replay inside the window repeats an id the receiver has already seen.

#include <chrono>
#include <string>
#include <string_view>

#include "operator/common/clock.h"
#include "operator/common/result.h"

namespace kubegrant::notify {

inline constexpr const char* kIdHeader = "X-Kubegrant-Id";
inline constexpr const char* kEventHeader = "X-Kubegrant-Event";
inline constexpr const char* kTimestampHeader = "X-Kubegrant-Timestamp";
inline constexpr const char* kSignatureHeader = "X-Kubegrant-Signature";
inline constexpr std::chrono::seconds kDefaultTolerance{300};

// "v1=<hex>" over `timestamp` + "." + `body`.
std::string signature(std::string_view key, std::string_view timestamp, std::string_view body);

// What a receiver does (and what the tests do): Forbidden naming the reason when the signature
// does not verify or the timestamp is outside `tolerance` of `now`.
[[nodiscard]] Result<void> verifySignature(std::string_view key, std::string_view timestamp,
                                           std::string_view body, std::string_view signature,
                                           TimePoint now,
                                           std::chrono::seconds tolerance = kDefaultTolerance);

// Reads --notify-secret-file: the key is the file's content without trailing newlines.
// Invalid when it is shorter than 32 bytes (a short key is guessable).
[[nodiscard]] Result<std::string> readSigningKey(const std::string& path);

}  // namespace kubegrant::notify
