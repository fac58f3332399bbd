#pragma once

// What one AccessRequest reconcile does to the world, as data: plan() (plan.h) decides the
// effects, in order, and the Executor (executor.h) performs them, stopping at the first
// error. Unit tests assert on the effect list; only the executor talks to the API server.
//
// A new kind of grant (a database user and its Secret, a cluster-scoped binding) is a new
// effect type here plus its Executor::perform overload: the executor's loop stays as it is.

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "controllers/access_request/audit.h"
#include "controllers/access_request/builders.h"
#include "operator/kube/object.h"
#include "operator/notify/notification.h"

namespace kubegrant::controllers::access_request {

// The RoleBinding exists exactly as desired: adopted when it already does, created when it
// does not, replaced when something else holds the name (roleRef is immutable). The API
// server may refuse it for good (Forbidden, missing namespace, invalid): the executor then
// stops and reports the refusal, so nothing more is granted.
struct EnsureRoleBinding {
  DesiredRoleBinding binding;
  bool operator==(const EnsureRoleBinding&) const = default;
};

// The RoleBinding is deleted and verified gone (the DELETE's answer says so; one held by
// someone's finalizer still grants, which is a retryable error). `recorded` = listed in
// status.grants; otherwise it is only a computed name, deleted only when it carries the
// request's uid label.
struct RemoveRoleBinding {
  kube::ObjectKey key;
  bool recorded = false;
  bool operator==(const RemoveRoleBinding&) const = default;
};

// The database part of one spec.databases entry (database_bundle.h): the database user on
// DatabaseTarget `target` under `profile`, valid until `expiresAt`, its Secret
// `<request>-<target>` and the Role that lets the requester get exactly that Secret (the
// RoleBinding to it is an EnsureRoleBinding planned after every database part). `keep`
// (Active): a user that exists stays with its Secret as issued. A target, profile or admin
// Secret that is missing or invalid is a refusal; a database that does not answer is a
// retryable error (after what this activation may have created is removed again).
struct EnsureDatabaseUser {
  std::string target;
  std::string profile;
  TimePoint expiresAt{};
  bool keep = false;
  bool operator==(const EnsureDatabaseUser&) const = default;
};

// The DatabaseTarget's profile changed since the request's user got it (status.grants
// records another profileHash): the provider re-creates the profile's masking views and
// re-applies its grants to the user (CredentialProvider::reapplyProfile), keeping its
// password and open sessions. Planned after the EnsureDatabaseUser of the same target; the
// executor reads the target afresh and emits a Normal Event "DatabaseProfileReapplied". A
// target that no longer has the profile is a retryable error (the next reconcile revokes);
// a profile the database refuses (a table that does not exist) is a refusal.
struct ReapplyDatabaseProfile {
  std::string target;
  std::string profile;
  std::string role;
  bool operator==(const ReapplyDatabaseProfile&) const = default;
};

// The temporary Role (or ClusterRole) of spec.rules exists holding exactly the requested
// rules: created, adopted when it is ours and exact, re-created when ours but altered. One of
// that name that is not ours is refused (never bound to the requester); so is a create the
// API server forbids (RBAC escalation: the operator must hold every permission it puts in a
// role, see operator/deploy/rbac-operator.yaml). Planned before the binding to it.
struct EnsureTemporaryRole {
  DesiredTemporaryRole role;
  bool operator==(const EnsureTemporaryRole&) const = default;
};

// A database Secret, its reader Role or a temporary Role/ClusterRole of spec.rules, deleted
// (and verified gone) when it carries the request's uid label.
enum class LabelledKind { Secret, Role, ClusterRole };
struct RemoveLabelled {
  LabelledKind kind = LabelledKind::Secret;
  kube::ObjectKey key;
  bool operator==(const RemoveLabelled&) const = default;
};

// Every database user of the request is revoked and verified gone (each one tried even when
// another fails). Planned after the Kubernetes parts, so those go on time when a database is
// down; a failure is the retryable error "DatabaseRevocationPending: ...", never terminal,
// and the executor sets the request's condition of that type (True, with the error), emits a
// Warning Event and counts it in kubegrant_database_revocations_pending until the user is gone.
inline constexpr std::string_view kDatabaseRevocationPending = "DatabaseRevocationPending";
struct DatabaseUser {
  std::string target;
  std::string role;
  bool recorded = false;  // listed in status.grants
  bool operator==(const DatabaseUser&) const = default;
};
struct RevokeDatabaseUsers {
  std::vector<DatabaseUser> users;
  bool operator==(const RevokeDatabaseUsers&) const = default;
};

// status is written through the status subresource at the resourceVersion the plan was
// made from: a stale read ends in Conflict, never in a lost update.
struct WriteStatus {
  v1::AccessRequestStatus status;
  bool operator==(const WriteStatus&) const = default;
};

// retainFor elapsed: the request itself is deleted (uid precondition).
struct DeleteRequest {
  bool operator==(const DeleteRequest&) const = default;
};

// One audit line, one Event and one log line about `subject` (the request as the status
// just written describes it).
struct Record {
  AuditEvent event = AuditEvent::Requested;
  v1::AccessRequest subject;
  std::vector<std::string> approvers;
  std::string type;  // Event type: "Normal" or "Warning"
  std::string reason;
  std::string message;
  bool operator==(const Record&) const = default;
};

// Metrics: a phase transition written, and a latency measured up to when it is performed.
struct CountTransition {
  v1::Phase phase = v1::Phase::Pending;
  bool operator==(const CountTransition&) const = default;
};
enum class Latency { ApprovalToActive, ExpiryLag };
struct ObserveLatency {
  Latency metric = Latency::ApprovalToActive;
  TimePoint since{};
  bool operator==(const ObserveLatency&) const = default;
};

// A lifecycle notification handed to the dispatcher (never waits for a receiver); planned
// after the status write that makes it true (notifications.h).
struct Notify {
  notify::Notification notification;
  bool operator==(const Notify&) const = default;
};

using Effect =
    std::variant<EnsureRoleBinding, RemoveRoleBinding, EnsureTemporaryRole, EnsureDatabaseUser,
                 ReapplyDatabaseProfile, RemoveLabelled, RevokeDatabaseUsers, WriteStatus,
                 DeleteRequest, Record, CountTransition, ObserveLatency, Notify>;

// One line per effect, for tests and logs: "ensure RoleBinding payments/kubegrant-...",
// "write status Active", "record granted (Normal Granted)", ...
std::string describe(const Effect& effect);
std::vector<std::string> describe(const std::vector<Effect>& effects);

// The result of plan(): the effects, and when to look at the request again even if nothing
// changes (nullopt = only a change wakes it).
struct Plan {
  std::vector<Effect> effects;
  std::optional<TimePoint> requeueAt;
  // Whether performing it may create a grant (the reconciler then confirms the request
  // with a fresh read from the API server first).
  bool grants() const;
};

// A grant the API server refused for good, as the executor reports it.
struct GrantRefused {
  std::string reason;   // GrantForbidden, NamespaceNotFound, GrantInvalid, Database...
  std::string message;  // actionable, names the binding and the role
  bool operator==(const GrantRefused&) const = default;
};

}  // namespace kubegrant::controllers::access_request
