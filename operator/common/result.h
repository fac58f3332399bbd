#pragma once

// Errors as values. No exception crosses a module boundary: adapters (cpprestsdk, libpq,
// nlohmann, yaml-cpp) catch and convert into Error, and callers decide by code.

#include <expected>
#include <string>
#include <utility>
#include <vector>

namespace kubegrant {

enum class ErrorCode {
  NotFound,
  AlreadyExists,
  Conflict,
  Forbidden,
  Unauthorized,
  Invalid,
  BadRequest,
  Gone,
  TooManyRequests,
  Unavailable,
  Timeout,
  Internal,
};

const char* toString(ErrorCode code);

// One field-level cause, as in the API server's Status.details.causes.
struct ErrorCause {
  std::string reason;  // e.g. "FieldValueInvalid"
  std::string message;
  std::string field;  // e.g. "spec.duration"
};

struct Error {
  ErrorCode code = ErrorCode::Internal;
  std::string message;             // what a user can act on
  std::string reason;              // the API server's Status.reason when known
  int httpStatus = 0;              // 0 when the error did not come from HTTP
  std::vector<ErrorCause> causes;  // field causes when known
  int retryAfterSeconds = 0;       // from Retry-After when the server sent one
  // Set by a reconciler for an error that retrying cannot fix (controller-runtime's
  // TerminalError): the controller logs it and waits for the object to change.
  bool terminal = false;

  // Transient by its code (the world may change by itself). The controller does not decide by
  // this: it retries every error its reconciler did not mark terminal.
  bool retryable() const;
  std::string describe() const;  // "Conflict: <message>"
};

inline Error makeError(ErrorCode code, std::string message) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  return e;
}

template <typename T>
using Result = std::expected<T, Error>;

// Result<void> helper for success.
inline Result<void> ok() { return {}; }

inline std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected(makeError(code, std::move(message)));
}

inline std::unexpected<Error> fail(Error e) { return std::unexpected(std::move(e)); }

}  // namespace kubegrant
