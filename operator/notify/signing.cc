#include "operator/notify/signing.h"

#include <fmt/format.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "operator/seal/seal.h"

namespace kubegrant::notify {
namespace {

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0xf];
  }
  return out;
}

}  // namespace

std::string signature(std::string_view key, std::string_view timestamp, std::string_view body) {
  std::string signed_;
  signed_.reserve(timestamp.size() + 1 + body.size());
  signed_.append(timestamp).append(".").append(body);
  return "v1=" + hex(seal::hmacSha256(key, signed_));
}

Result<void> verifySignature(std::string_view key, std::string_view timestamp,
                             std::string_view body, std::string_view given, TimePoint now,
                             std::chrono::seconds tolerance) {
  long long seconds = 0;
  auto [end, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), seconds);
  if (ec != std::errc() || end != timestamp.data() + timestamp.size()) {
    return fail(ErrorCode::Forbidden, "timestamp is not Unix seconds");
  }
  const auto sent = TimePoint(std::chrono::seconds(seconds));
  if (sent < now - tolerance || sent > now + tolerance) {
    return fail(ErrorCode::Forbidden, "timestamp is outside the accepted window (a replay?)");
  }
  if (!seal::constantTimeEquals(signature(key, timestamp, body), given)) {
    return fail(ErrorCode::Forbidden, "signature does not verify (forged or altered)");
  }
  return ok();
}

Result<std::string> readSigningKey(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return fail(ErrorCode::Invalid, fmt::format("--notify-secret-file: cannot read {}", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string key = ss.str();
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  if (key.size() < 32) {
    return fail(ErrorCode::Invalid,
                fmt::format("--notify-secret-file: {} holds {} bytes; use at least 32 random bytes "
                            "(openssl rand -base64 32)",
                            path, key.size()));
  }
  return key;
}

}  // namespace kubegrant::notify
