#pragma once

// The audit trail: one JSON line per lifecycle event of an AccessRequest (requested,
// approved, denied, granted, expired, revoked, failed) with the request, requester,
// approvers, reason, ticket, grants and times. Built from the request only: secrets and
// passwords are never part of a request, so they can never reach an audit line.

#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "crds/v1alpha1/types.h"
#include "operator/common/clock.h"
#include "operator/common/result.h"

namespace kubegrant::controllers::access_request {

enum class AuditEvent { Requested, Approved, Denied, Granted, Expired, Revoked, Failed };

// "requested", "approved", ...
const char* toString(AuditEvent event);

// The audit record for `event` on `request` (its status as just written) at `now`.
// `approvers` are the approvers whose decisions counted (or who denied).
nlohmann::json auditRecord(AuditEvent event, const v1alpha1::AccessRequest& request,
                           const std::vector<std::string>& approvers, TimePoint now);

// Where audit lines go. Thread-safe; each record is written as one line and flushed.
class AuditLog {
 public:
  using Sink = std::function<void(std::string_view line)>;
  explicit AuditLog(Sink sink) : sink_(std::move(sink)) {}

  // "" or "-" = stdout; otherwise the file is opened for appending (created if missing).
  [[nodiscard]] static Result<std::unique_ptr<AuditLog>> open(const std::string& path);

  void write(const nlohmann::json& record);

 private:
  std::mutex mu_;
  Sink sink_;
};

}  // namespace kubegrant::controllers::access_request
