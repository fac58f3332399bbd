#pragma once

// The audit trail: one JSON line per lifecycle event of an AccessRequest (requested,
// approved, denied, granted, expired, revoked, failed) with the request, requester,
// approvers, reason, ticket, grants and times, and one per refusal of the webhook. Built from
// the request only: secrets and passwords are never part of a request, so they can never
// reach an audit line.
//
// Tamper-evident: every line carries "seq" and "prev", the SHA-256 of the previous line
// (operator/common/audit_chain.h has the canonical form; `kubectl grant audit verify` checks
// it). The webhook and the controllers write through one AuditLog per process.

#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "crds/v1alpha1/types.h"
#include "operator/common/audit_chain.h"
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

// Where audit lines go. Thread-safe: seq, prev and the write of a line happen under one lock,
// so lines from the webhook's and the controllers' threads form one chain.
class AuditLog {
 public:
  using Sink = std::function<void(std::string_view line)>;
  // Lines go to `sink`, chained on from `head` (a new chain by default).
  explicit AuditLog(Sink sink, audit::ChainHead head = {});
  // Where lines are written: the head advances only past a line that was written.
  using Writer = std::function<Result<void>(std::string_view line)>;
  AuditLog(Writer writer, audit::ChainHead head);

  // "" or "-" = stdout (a new chain per process). Otherwise the file, opened for appending
  // (created 0640 if missing), continues the chain its last line ends (or, when the file is
  // missing or empty, the chain of PATH.1, the rotated file logrotate leaves); a torn or
  // unchained last line starts a new chain, logged as an error (verify reports it).
  // The file is locked (flock, exclusive, non-blocking): a second process (another replica)
  // cannot open it. Rotation by rename (logrotate's default, not copytruncate) is detected on
  // the next write (the path's inode changed or the path is gone): the file is reopened and
  // the chain continues in it.
  [[nodiscard]] static Result<std::unique_ptr<AuditLog>> open(const std::string& path);

  void write(const nlohmann::json& record);
  audit::ChainHead head() const;

 private:
  mutable std::mutex mu_;
  Writer writer_;
  audit::ChainHead head_;
};

}  // namespace kubegrant::controllers::access_request
