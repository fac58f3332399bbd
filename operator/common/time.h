#pragma once

// RFC 3339 timestamps as Kubernetes writes them ("2026-11-29T10:02:11Z"; fractional
// seconds accepted on input, as in metav1.MicroTime).

#include <optional>
#include <string>
#include <string_view>

#include "operator/common/clock.h"

namespace kubegrant {

// Formats in UTC with second precision ("Z" suffix), as metav1.Time does.
std::string formatRfc3339(TimePoint t);
// Formats in UTC with microsecond precision, as metav1.MicroTime does.
std::string formatRfc3339Micro(TimePoint t);
// Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)". nullopt on anything else.
std::optional<TimePoint> parseRfc3339(std::string_view s);

}  // namespace kubegrant
