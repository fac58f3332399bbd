#include "operator/kubectl_grant/exit_codes.h"

namespace kubegrant::kubectl_grant {

ExitCode exitCodeFor(const Error& error) {
  switch (error.code) {
    case ErrorCode::NotFound:
      return ExitCode::NotFound;
    case ErrorCode::Forbidden:
    case ErrorCode::Unauthorized:
    case ErrorCode::Invalid:
    case ErrorCode::BadRequest:
    case ErrorCode::AlreadyExists:
    case ErrorCode::Conflict:
      return ExitCode::Refused;
    case ErrorCode::Gone:
    case ErrorCode::TooManyRequests:
    case ErrorCode::Unavailable:
    case ErrorCode::Timeout:
    case ErrorCode::Internal:
      return ExitCode::Error;
  }
  return ExitCode::Error;
}

std::optional<ExitCode> exitCodeForPhase(v1alpha1::Phase phase) {
  using v1alpha1::Phase;
  switch (phase) {
    case Phase::Active:
      return ExitCode::Ok;
    case Phase::Denied:
      return ExitCode::Denied;
    case Phase::Expired:
      return ExitCode::Expired;
    case Phase::Failed:
      return ExitCode::Failed;
    case Phase::Revoked:
      return ExitCode::Revoked;
    case Phase::Pending:
    case Phase::Approved:
      return std::nullopt;
  }
  return std::nullopt;
}

std::string exitCodesHelp() {
  return "Exit codes:\n"
         "  0  done (request --wait: the request is Active)\n"
         "  1  error: API server unreachable, bad kubeconfig, unexpected answer\n"
         "  2  bad flags or arguments\n"
         "  3  refused by the API server (admission webhook, RBAC, validation); its message is "
         "shown\n"
         "  4  not found\n"
         "  5  request --wait: Denied\n"
         "  6  request --wait: Expired before approval\n"
         "  7  request --wait: Failed (the operator could not grant it)\n"
         "  8  request --wait: Revoked or deleted while waiting\n"
         "  9  request --wait --timeout: still not Active when the timeout elapsed\n"
         "  10  audit verify: a line was changed, removed, reordered or inserted\n";
}

}  // namespace kubegrant::kubectl_grant
