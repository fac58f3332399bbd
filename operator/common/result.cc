#include "operator/common/result.h"

namespace kubegrant {

const char* toString(ErrorCode code) {
  switch (code) {
    case ErrorCode::NotFound:
      return "NotFound";
    case ErrorCode::AlreadyExists:
      return "AlreadyExists";
    case ErrorCode::Conflict:
      return "Conflict";
    case ErrorCode::Forbidden:
      return "Forbidden";
    case ErrorCode::Unauthorized:
      return "Unauthorized";
    case ErrorCode::Invalid:
      return "Invalid";
    case ErrorCode::BadRequest:
      return "BadRequest";
    case ErrorCode::Gone:
      return "Gone";
    case ErrorCode::TooManyRequests:
      return "TooManyRequests";
    case ErrorCode::Unavailable:
      return "Unavailable";
    case ErrorCode::Timeout:
      return "Timeout";
    case ErrorCode::Internal:
      return "Internal";
  }
  return "Unknown";
}

bool Error::retryable() const {
  switch (code) {
    case ErrorCode::Conflict:
    case ErrorCode::TooManyRequests:
    case ErrorCode::Unavailable:
    case ErrorCode::Timeout:
    case ErrorCode::Internal:
    case ErrorCode::Gone:
      return true;
    default:
      return false;
  }
}

std::string Error::describe() const {
  std::string out = toString(code);
  if (!message.empty()) {
    out += ": ";
    out += message;
  }
  return out;
}

}  // namespace kubegrant
