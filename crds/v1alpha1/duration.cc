#include "crds/v1alpha1/duration.h"

#include <fmt/format.h>

#include <cstdint>
#include <limits>

namespace kubegrant::v1alpha1 {
namespace {

constexpr int64_t kNs = 1;
constexpr int64_t kUs = 1000 * kNs;
constexpr int64_t kMs = 1000 * kUs;
constexpr int64_t kSec = 1000 * kMs;
constexpr int64_t kMin = 60 * kSec;
constexpr int64_t kHour = 60 * kMin;
constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// The scale of a unit written exactly as `unit`, or 0 when unknown.
int64_t unitScale(std::string_view unit) {
  struct Unit {
    std::string_view text;
    int64_t scale;
  };
  static constexpr Unit kUnits[] = {
      {"ns", kNs},
      {"us", kUs},
      {"\xC2\xB5s", kUs} /* µs */,
      {"\xCE\xBCs", kUs} /* μs */,
      {"ms", kMs},
      {"s", kSec},
      {"m", kMin},
      {"h", kHour},
  };
  for (const auto& u : kUnits) {
    if (unit == u.text) return u.scale;
  }
  return 0;
}

std::unexpected<Error> invalid(std::string_view text, std::string_view why) {
  return fail(ErrorCode::Invalid, fmt::format("invalid duration \"{}\": {} (use Go-style "
                                              "durations such as 90m, 2h, 1h30m)",
                                              text, why));
}

}  // namespace

Result<Duration> parseDuration(std::string_view text) {
  if (text.empty()) return invalid(text, "empty");
  size_t i = 0;
  uint64_t total = 0;
  while (i < text.size()) {
    if (!isDigit(text[i])) {
      if (text[i] == '-') return invalid(text, "negative durations are not allowed");
      if (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r') {
        return invalid(text, "whitespace is not allowed");
      }
      return invalid(text, fmt::format("expected a number at position {}", i));
    }
    // Integer part, with overflow detection.
    uint64_t whole = 0;
    bool overflow = false;
    while (i < text.size() && isDigit(text[i])) {
      if (whole > (kMax - (text[i] - '0')) / 10) overflow = true;
      if (!overflow) whole = whole * 10 + static_cast<uint64_t>(text[i] - '0');
      ++i;
    }
    // Fraction, kept as digits scaled later (at most 18 significant digits matter).
    uint64_t frac = 0;
    uint64_t fracScale = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      if (i >= text.size() || !isDigit(text[i])) return invalid(text, "expected digits after '.'");
      while (i < text.size() && isDigit(text[i])) {
        if (fracScale < 1000000000000000000ULL) {
          frac = frac * 10 + static_cast<uint64_t>(text[i] - '0');
          fracScale *= 10;
        }
        ++i;
      }
    }
    if (i >= text.size()) return invalid(text, "missing unit (ns, us, ms, s, m, h)");
    // As Go: the unit is everything up to the next digit or '.'.
    size_t end = i;
    while (end < text.size() && !isDigit(text[end]) && text[end] != '.') ++end;
    std::string_view unit = text.substr(i, end - i);
    if (unit.find_first_of(" \t\r\n") != std::string_view::npos) {
      return invalid(text, "whitespace is not allowed");
    }
    const int64_t scale = unitScale(unit);
    if (scale == 0) {
      return invalid(text, fmt::format("unknown unit \"{}\" (use ns, us, ms, s, m, h)", unit));
    }
    i = end;
    if (overflow) return invalid(text, "out of range");
    const uint64_t uscale = static_cast<uint64_t>(scale);
    if (whole > kMax / uscale) return invalid(text, "out of range");
    uint64_t value = whole * uscale;
    // frac / fracScale * scale, computed without overflow: scale <= 3.6e12, frac < 1e18.
    long double fracNs =
        static_cast<long double>(frac) * static_cast<long double>(uscale) / fracScale;
    uint64_t fracPart = static_cast<uint64_t>(fracNs);
    if (value > kMax - fracPart) return invalid(text, "out of range");
    value += fracPart;
    if (total > kMax - value) return invalid(text, "out of range");
    total += value;
  }
  return Duration(static_cast<int64_t>(total));
}

std::string formatDuration(Duration d) {
  int64_t ns = d.count();
  if (ns == 0) return "0s";
  std::string sign;
  uint64_t u;
  if (ns < 0) {
    sign = "-";
    u = static_cast<uint64_t>(-(ns + 1)) + 1;  // safe for INT64_MIN
  } else {
    u = static_cast<uint64_t>(ns);
  }
  // Writes value/unitScale as a decimal with trailing zeros of the fraction removed.
  auto decimal = [](uint64_t v, uint64_t unitScale, std::string_view unit) {
    std::string out = std::to_string(v / unitScale);
    uint64_t rest = v % unitScale;
    if (rest != 0) {
      std::string digits = std::to_string(rest);
      std::string frac =
          std::string(std::to_string(unitScale).size() - 1 - digits.size(), '0') + digits;
      while (!frac.empty() && frac.back() == '0') frac.pop_back();
      out += "." + frac;
    }
    out += unit;
    return out;
  };
  if (u < static_cast<uint64_t>(kUs)) return sign + std::to_string(u) + "ns";
  if (u < static_cast<uint64_t>(kMs)) return sign + decimal(u, kUs, "us");
  if (u < static_cast<uint64_t>(kSec)) return sign + decimal(u, kMs, "ms");
  std::string out = sign;
  uint64_t hours = u / kHour;
  uint64_t minutes = (u % kHour) / kMin;
  uint64_t secNs = u % kMin;
  if (hours) out += std::to_string(hours) + "h";
  if (minutes) out += std::to_string(minutes) + "m";
  if (secNs) out += decimal(secNs, kSec, "s");
  return out;
}

}  // namespace kubegrant::v1alpha1
