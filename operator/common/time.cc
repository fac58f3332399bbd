#include "operator/common/time.h"

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <limits>

namespace kubegrant {
namespace {

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

std::string formatWith(TimePoint t, bool micro) {
  auto secs = std::chrono::floor<std::chrono::seconds>(t);
  std::time_t tt = WallClock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  if (micro) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long long>(us));
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
  return buf;
}

}  // namespace

std::string formatRfc3339(TimePoint t) { return formatWith(t, false); }
std::string formatRfc3339Micro(TimePoint t) { return formatWith(t, true); }

std::optional<TimePoint> parseRfc3339(std::string_view s) {
  int year, mon, day, hour, min, sec;
  if (s.size() < 20) return std::nullopt;
  if (!digits(s, 0, 4, year) || s[4] != '-' || !digits(s, 5, 2, mon) || s[7] != '-' ||
      !digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, hour) ||
      s[13] != ':' || !digits(s, 14, 2, min) || s[16] != ':' || !digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
    return std::nullopt;
  }
  size_t pos = 19;
  long long nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    long long scale = 100000000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (scale > 0) {
        nanos += (s[pos] - '0') * scale;
        scale /= 10;
      }
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  if (pos >= s.size()) return std::nullopt;
  int offsetSeconds = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offsetSeconds = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  std::time_t tt = timegm(&tm);
  // timegm normalizes out-of-range days (Feb 31): reject those instead of shifting.
  std::tm back{};
  gmtime_r(&tt, &back);
  if (back.tm_mday != day && sec != 60) return std::nullopt;
  // system_clock counts int64 nanoseconds: only about 1677..2262 is representable, and
  // converting a time outside that range overflows (undefined behaviour, found by fuzzing
  // the admission webhook with a 4-digit year like 7407).
  constexpr std::time_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / 1000000000 - 1;
  if (tt - offsetSeconds > kMaxSeconds || tt - offsetSeconds < -kMaxSeconds) return std::nullopt;
  auto tp = WallClock::from_time_t(tt - offsetSeconds);
  return tp + std::chrono::duration_cast<WallClock::duration>(std::chrono::nanoseconds(nanos));
}

}  // namespace kubegrant
