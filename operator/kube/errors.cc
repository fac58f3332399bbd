#include "operator/kube/errors.h"

#include <fmt/format.h>

#include <charconv>

namespace kubegrant::kube {

namespace {

int parseRetryAfter(std::string_view header) {
  // Retry-After is delta-seconds from the API server; an HTTP-date form is treated as
  // "retry soon" (1s) rather than parsed, since the API server never sends it.
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  if (header.empty()) return 0;
  int seconds = 0;
  auto [ptr, ec] = std::from_chars(header.data(), header.data() + header.size(), seconds);
  if (ec != std::errc() || ptr != header.data() + header.size()) return 1;
  return seconds < 0 ? 0 : seconds;
}

std::string stringField(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

}  // namespace

ErrorCode codeFor(int httpStatus, std::string_view reason) {
  if (reason == "AlreadyExists") return ErrorCode::AlreadyExists;
  if (reason == "Expired" || reason == "Gone") return ErrorCode::Gone;
  if (reason == "Timeout" || reason == "ServerTimeout") return ErrorCode::Timeout;
  switch (httpStatus) {
    case 400:
      return ErrorCode::BadRequest;
    case 401:
      return ErrorCode::Unauthorized;
    case 403:
      return ErrorCode::Forbidden;
    case 404:
      return ErrorCode::NotFound;
    case 408:
      return ErrorCode::Timeout;
    case 409:
      return ErrorCode::Conflict;
    case 410:
      return ErrorCode::Gone;
    case 422:
      return ErrorCode::Invalid;
    case 429:
      return ErrorCode::TooManyRequests;
    case 504:
      return ErrorCode::Timeout;
    default:
      break;
  }
  if (httpStatus >= 500 && httpStatus <= 599) return ErrorCode::Unavailable;
  if (httpStatus >= 400 && httpStatus <= 499) return ErrorCode::BadRequest;
  return ErrorCode::Internal;
}

Error errorFromStatus(const nlohmann::json& status) {
  Error e;
  int code = 0;
  if (status.is_object()) {
    auto it = status.find("code");
    if (it != status.end() && it->is_number_integer()) code = it->get<int>();
  }
  e.httpStatus = code;
  e.reason = stringField(status, "reason");
  e.message = stringField(status, "message");
  e.code = codeFor(code, e.reason);
  if (status.is_object()) {
    auto details = status.find("details");
    if (details != status.end() && details->is_object()) {
      auto causes = details->find("causes");
      if (causes != details->end() && causes->is_array()) {
        for (const auto& c : *causes) {
          e.causes.push_back(ErrorCause{stringField(c, "reason"), stringField(c, "message"),
                                        stringField(c, "field")});
        }
      }
      auto retry = details->find("retryAfterSeconds");
      if (retry != details->end() && retry->is_number_integer()) {
        e.retryAfterSeconds = retry->get<int>();
      }
    }
  }
  if (e.message.empty()) e.message = fmt::format("API server returned status {}", code);
  return e;
}

Error errorFromResponse(int httpStatus, std::string_view body, std::string_view retryAfterHeader) {
  Error e;
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && stringField(parsed, "kind") == "Status") {
    e = errorFromStatus(parsed);
    e.httpStatus = httpStatus;
    // The HTTP status is authoritative; Status.code can be absent.
    e.code = codeFor(httpStatus, e.reason);
  } else {
    e.httpStatus = httpStatus;
    e.code = codeFor(httpStatus, "");
    std::string text(body.substr(0, 512));
    e.message = text.empty() ? fmt::format("HTTP {}", httpStatus)
                             : fmt::format("HTTP {}: {}", httpStatus, text);
  }
  int retryAfter = parseRetryAfter(retryAfterHeader);
  if (retryAfter > 0) e.retryAfterSeconds = retryAfter;
  return e;
}

}  // namespace kubegrant::kube
