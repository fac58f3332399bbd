#pragma once

// Go/Kubernetes-style duration strings ("90m", "2h", "1h30m", "1.5h", "300ms").
//
// Accepted: one or more <decimal number><unit> pairs, unit one of ns, us, µs (U+00B5),
// μs (U+03BC), ms, s, m, h; a decimal number is digits with an optional ".digits" part. This
// is Go's time.ParseDuration minus signs, bare "0", ".5h" / "5.h" forms and anything
// outside int64 nanoseconds (about 2562047h), and it matches the CRD schema pattern
// ^([0-9]+(\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))+$ exactly. No whitespace anywhere.

#include <string>
#include <string_view>

#include "operator/common/clock.h"
#include "operator/common/result.h"

namespace kubegrant::v1alpha1 {

// The regular expression the CRDs use for every duration field (kept in sync by a test).
inline constexpr std::string_view kDurationPattern =
    "^([0-9]+(\\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))+$";

// Parses a duration. Errors are ErrorCode::Invalid with a message that quotes the input and
// says what is wrong ("missing unit", "unknown unit \"d\"", "out of range", ...), meant to
// be prefixed with the field name by the caller.
[[nodiscard]] Result<Duration> parseDuration(std::string_view text);

// Formats canonically and SHORT (not Go's "1h30m0s"): hours, minutes and seconds with zero
// parts left out ("1h30m", "2h", "1h0m5s" becomes "1h5s", "45s", "1m30.5s"); below one
// second the largest fitting unit with a fraction ("300ms", "1.5us", "42ns"); zero is "0s";
// negative values get a leading "-". Every non-negative output parses back to the same
// value, and formatting is idempotent through parse.
std::string formatDuration(Duration d);

}  // namespace kubegrant::v1alpha1
