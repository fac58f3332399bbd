#pragma once

// Typed C++ mirrors of the kubegrant.io/v1alpha1 CRDs (crds/*.yaml is the schema's source of
// truth; field names follow /work/shared/design/API.md) and their JSON codec.
//
// Representation rules (so every caller reads the same thing the same way):
// - A scalar the schema leaves optional and without default is std::optional: absent stays
//   absent through a round trip.
// - A scalar with a schema default (DatabaseTarget port/sslMode, AccessPolicy requireReason,
//   approval.required, AccessRequest revoke) is a plain value holding that default, so an
//   object decoded from a local file and the same object read back from the API server agree.
// - Lists and maps are plain containers; empty ones are omitted on output, except
//   AccessRequestStatus::approvals, which is always written (as []) so that approvers can
//   JSON-patch "/status/approvals/-".
// - Durations in specs stay strings (as the user wrote them) so a bad value can be reported
//   with its field by the policy checks instead of failing the whole decode; use
//   crds/v1alpha1/duration.h to parse them. Times are TimePoint (RFC 3339 UTC on the wire,
//   second precision on output, as metav1.Time).
// - Decoding ignores unknown fields (the API server prunes them anyway; this keeps an older
//   operator working against a newer CRD) and never emits them: output is canonical.
//   Missing required fields, wrong JSON types and unknown enum values are errors whose
//   message starts with the field path, e.g. "spec.roles[0].kind: ...".

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "operator/common/clock.h"
#include "operator/common/result.h"

namespace kubegrant::v1alpha1 {

inline constexpr std::string_view kGroup = "kubegrant.io";
inline constexpr std::string_view kVersion = "v1alpha1";
inline constexpr std::string_view kApiVersion = "kubegrant.io/v1alpha1";
inline constexpr std::string_view kAccessPolicyKind = "AccessPolicy";
inline constexpr std::string_view kDatabaseTargetKind = "DatabaseTarget";
inline constexpr std::string_view kAccessRequestKind = "AccessRequest";
// REST resource (plural) names, for building API paths.
inline constexpr std::string_view kAccessPolicyResource = "accesspolicies";
inline constexpr std::string_view kDatabaseTargetResource = "databasetargets";
inline constexpr std::string_view kAccessRequestResource = "accessrequests";
// Finalizer on every AccessRequest: grants are removed before the object goes away.
inline constexpr std::string_view kRevokeFinalizer = "kubegrant.io/revoke";

// ---------------------------------------------------------------------------------------
// Shared pieces

// The authenticated identity of a caller (AdmissionReview userInfo), and the shape of
// AccessRequest spec.requester.
struct UserInfo {
  std::string username;
  std::vector<std::string> groups;
  bool operator==(const UserInfo&) const = default;
};

struct OwnerReference {
  std::string apiVersion;
  std::string kind;
  std::string name;
  std::string uid;
  std::optional<bool> controller;
  std::optional<bool> blockOwnerDeletion;
  bool operator==(const OwnerReference&) const = default;
};

// The subset of metav1.ObjectMeta kubegrant reads or writes. Empty strings mean "unset" and
// are omitted on output (as Go's omitempty). managedFields and other fields are dropped:
// write with patches, or with an update whose omitted managedFields the server keeps.
struct ObjectMeta {
  std::string name;
  std::string generateName;  // prefix for a server-generated name when name is empty
  std::string namespace_;    // "namespace" on the wire; empty for cluster-scoped objects
  std::string uid;
  std::string resourceVersion;
  std::optional<int64_t> generation;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<std::string> finalizers;
  std::optional<TimePoint> creationTimestamp;
  std::optional<TimePoint> deletionTimestamp;
  std::vector<OwnerReference> ownerReferences;
  bool operator==(const ObjectMeta&) const = default;
};

// metav1.Condition.
struct Condition {
  std::string type;    // e.g. "Approved", "Granted"
  std::string status;  // "True" | "False" | "Unknown"
  std::optional<int64_t> observedGeneration;
  TimePoint lastTransitionTime{};
  std::string reason;  // CamelCase, e.g. "AwaitingApproval"
  std::string message;
  bool operator==(const Condition&) const = default;
};

// A set of users and groups (requesters, approvers, break-glass requesters).
struct Subjects {
  std::vector<std::string> users;
  std::vector<std::string> groups;
  bool operator==(const Subjects&) const = default;
};

enum class RoleKind { Role, ClusterRole };
const char* toString(RoleKind kind);
std::optional<RoleKind> parseRoleKind(std::string_view s);

// Where a requested role applies: Namespace (a RoleBinding in each namespace, the default) or
// Cluster (a ClusterRoleBinding of a ClusterRole the policy lists in spec.clusterRoles).
enum class RoleScope { Namespace, Cluster };
const char* toString(RoleScope scope);
std::optional<RoleScope> parseRoleScope(std::string_view s);

// ---------------------------------------------------------------------------------------
// AccessPolicy (cluster-scoped, short name apol)

// A role a policy allows to be granted (bound with a RoleBinding in each namespace).
struct PolicyRole {
  RoleKind kind = RoleKind::ClusterRole;
  std::string name;
  bool operator==(const PolicyRole&) const = default;
};

// Escalation verbs of RBAC: an ad hoc rule may carry them only when a policy rule names them
// explicitly (a "*" in the policy's verbs does not count).
inline constexpr const char* kEscalationVerbs[] = {"escalate", "bind", "impersonate"};

// One ad hoc rule a policy allows (spec.rules): RBAC resource-rule fields, and where it may
// apply. A request's rule must lie within the union of these (checkRequest).
struct PolicyRule {
  std::vector<std::string> apiGroups;      // "" = the core group; "*" = any group
  std::vector<std::string> resources;      // "pods", "pods/log"; "*" = any resource
  std::vector<std::string> verbs;          // "get", "list", ...; "*" = any verb
  std::vector<std::string> resourceNames;  // empty = any name
  // Namespace: granted by a temporary Role in the request's namespaces; Cluster: by a
  // temporary ClusterRole bound cluster-wide.
  RoleScope scope = RoleScope::Namespace;
  bool operator==(const PolicyRule&) const = default;
};

// Database profiles a policy allows on one DatabaseTarget.
struct PolicyDatabase {
  std::string target;                 // DatabaseTarget name
  std::vector<std::string> profiles;  // profile names within that target
  bool operator==(const PolicyDatabase&) const = default;
};

struct ApprovalRule {
  Subjects approvers;
  int32_t required = 1;  // distinct approvals needed; 0 = none (schema default 1, minimum 0)
  // Break-glass: requesters matching these are approved at once and marked breakGlass.
  // Matching autoApprove also makes a caller a requester of the policy.
  std::optional<Subjects> autoApprove;
  bool operator==(const ApprovalRule&) const = default;
};

// One key of a Secret (a credential the policy names without holding it).
struct SecretKeyReference {
  std::string namespace_;  // "namespace" on the wire
  std::string name;
  std::string key;
  bool operator==(const SecretKeyReference&) const = default;
};

// A receiver of the notifications about this policy's requests: its webhook URL is a
// credential, so it lives in a Secret the operator reads when it delivers.
struct NotifyReceiver {
  std::string name;  // shown in logs and metrics, never the URL
  SecretKeyReference urlSecretRef;
  bool operator==(const NotifyReceiver&) const = default;
};

struct AccessPolicySpec {
  Subjects requesters;                  // required
  std::vector<std::string> namespaces;  // where access may be granted
  std::vector<PolicyRole> roles;
  // ClusterRoles that may be granted cluster-wide (a ClusterRoleBinding), by name: what a
  // request's `scope: Cluster` roles may name. Empty = the policy is namespaced only.
  std::vector<std::string> clusterRoles;
  // Ad hoc rules a request may pick from (spec.rules of a request); empty = none.
  std::vector<PolicyRule> rules;
  std::vector<PolicyDatabase> databases;
  std::optional<std::string> defaultDuration;  // Go duration; see effectiveDuration()
  std::optional<std::string> maxDuration;
  std::optional<std::string> pendingTimeout;  // default 24h
  std::optional<std::string> retainFor;       // default 720h
  bool requireReason = false;
  std::optional<std::string> ticketPattern;  // ECMAScript regex; spec.ticket must match
  // Open (Pending, Approved, Active) requests one requester may have under this policy.
  int32_t maxOpenRequests = 5;                  // schema default 5, minimum 1
  std::optional<std::string> maxStartDelay;     // how far ahead spec.startAt may be; default 168h
  std::optional<std::string> approvalValidFor;  // an Approve counts this long; default 24h
  ApprovalRule approval;                        // required
  std::vector<NotifyReceiver> notify;  // besides --notify-url, which gets every notification
  bool operator==(const AccessPolicySpec&) const = default;
};

// Written by nobody yet; reserved for a future policy status controller.
struct AccessPolicyStatus {
  std::optional<int64_t> observedGeneration;
  std::vector<Condition> conditions;
  bool operator==(const AccessPolicyStatus&) const = default;
};

struct AccessPolicy {
  ObjectMeta metadata;
  AccessPolicySpec spec;
  std::optional<AccessPolicyStatus> status;
  bool operator==(const AccessPolicy&) const = default;
};

// ---------------------------------------------------------------------------------------
// DatabaseTarget (cluster-scoped, short name dbt)

enum class DatabaseEngine { Postgres };
const char* toString(DatabaseEngine engine);
std::optional<DatabaseEngine> parseDatabaseEngine(std::string_view s);

struct SecretReference {
  std::string namespace_;  // "namespace" on the wire
  std::string name;
  bool operator==(const SecretReference&) const = default;
};

// How a masked column is served (DatabaseTarget profile grants, maskColumns).
enum class MaskFunction {
  Redact,   // the constant ***
  Partial,  // all but the last 4 characters replaced by *
  Email,    // first letter + ***@domain
  Hash,     // SHA-256 hex of the text value: stable and joinable, not readable
  Null,     // always NULL
};
const char* toString(MaskFunction mask);  // "redact", "partial", "email", "hash", "null"
std::optional<MaskFunction> parseMaskFunction(std::string_view s);

// One GRANT statement's worth: privileges on tables of a schema.
struct TableGrant {
  std::string schema;
  std::vector<std::string> tables;  // "*" = every table in the schema
  std::vector<std::string>
      privileges;  // SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER
  // table -> columns never granted (PII). Only column-level grants are then issued for it.
  std::map<std::string, std::vector<std::string>> excludeColumns;
  // table -> column -> masking function: served through an operator-owned view instead.
  std::map<std::string, std::map<std::string, MaskFunction>> maskColumns;
  bool operator==(const TableGrant&) const = default;
};

struct DatabaseProfile {
  std::string name;
  std::vector<TableGrant> grants;
  bool operator==(const DatabaseProfile&) const = default;
};

struct DatabaseTargetSpec {
  DatabaseEngine engine = DatabaseEngine::Postgres;
  std::string host;
  int32_t port = 5432;  // schema default 5432
  std::string database;
  std::string sslMode = "require";         // libpq sslmode; schema default "require"
  SecretReference adminSecretRef;          // keys: username, password
  std::optional<int32_t> connectionLimit;  // per issued user
  // Secret with key ca.crt: the CA that signed the server certificate (sslMode verify-*).
  std::optional<SecretReference> caSecretRef;
  bool auditStatements = false;  // issued roles get log_statement = all; schema default false
  std::vector<DatabaseProfile> profiles;
  bool operator==(const DatabaseTargetSpec&) const = default;
};

struct DatabaseTargetStatus {
  std::optional<int64_t> observedGeneration;
  std::vector<Condition> conditions;
  bool operator==(const DatabaseTargetStatus&) const = default;
};

struct DatabaseTarget {
  ObjectMeta metadata;
  DatabaseTargetSpec spec;
  std::optional<DatabaseTargetStatus> status;
  bool operator==(const DatabaseTarget&) const = default;
};

// ---------------------------------------------------------------------------------------
// AccessRequest (namespaced, short name areq)

enum class Phase { Pending, Approved, Active, Denied, Expired, Revoked, Failed };
const char* toString(Phase phase);
std::optional<Phase> parsePhase(std::string_view s);
// Denied, Expired, Revoked, Failed: never grant again.
bool isTerminal(Phase phase);

enum class Decision { Approve, Deny };
const char* toString(Decision decision);
std::optional<Decision> parseDecision(std::string_view s);

enum class GrantKind { RoleBinding, Secret, DatabaseUser, ClusterRoleBinding, Role, ClusterRole };
const char* toString(GrantKind kind);
std::optional<GrantKind> parseGrantKind(std::string_view s);

struct RequestedRole {
  RoleKind kind = RoleKind::ClusterRole;
  std::string name;
  std::vector<std::string> namespaces;  // empty = the request's own namespace (Namespace scope)
  // Cluster: kind must be ClusterRole, namespaces empty; bound by a ClusterRoleBinding.
  RoleScope scope = RoleScope::Namespace;
  bool operator==(const RequestedRole&) const = default;
};

// Ad hoc rules a request asks for (spec.rules): granted through a temporary Role per
// namespace (scope Namespace) or one temporary ClusterRole (scope Cluster) holding exactly
// these rules, bound to the requester and removed at the end.
struct RequestedRule {
  std::vector<std::string> apiGroups;
  std::vector<std::string> resources;
  std::vector<std::string> verbs;
  std::vector<std::string> resourceNames;  // empty = any name (only if the policy's rule allows)
  std::vector<std::string> namespaces;     // Namespace scope; empty = the request's own namespace
  RoleScope scope = RoleScope::Namespace;
  bool operator==(const RequestedRule&) const = default;
};

struct RequestedDatabase {
  std::string target;
  std::string profile;
  bool operator==(const RequestedDatabase&) const = default;
};

struct AccessRequestSpec {
  std::string policy;                   // required: AccessPolicy name
  std::optional<std::string> duration;  // Go duration; default from the policy
  std::optional<std::string> startAt;   // RFC 3339; kept as text so checkRequest can report it
  std::optional<std::string> reason;
  std::optional<std::string> ticket;
  std::vector<RequestedRole> roles;
  std::vector<RequestedRule> rules;
  std::vector<RequestedDatabase> databases;
  bool revoke = false;                // may only go false -> true (CEL rule in the CRD)
  std::optional<UserInfo> requester;  // stamped by the admission webhook at creation
  // The webhook's seal over the requester and this spec (operator/seal/forms.h): the operator
  // believes only a requester whose seal verifies.
  std::optional<std::string> requesterSeal;
  bool operator==(const AccessRequestSpec&) const = default;
};

struct Approval {
  std::optional<std::string> approver;  // stamped by the webhook from the authenticated user
  // The approver's groups when deciding, stamped by the webhook with approver: lets
  // countApprovals() re-check group-based approvers against the policy as it is now.
  std::vector<std::string> approverGroups;
  Decision decision = Decision::Approve;
  std::optional<std::string> comment;
  std::optional<TimePoint> time;  // stamped by the webhook
  // The webhook's seal over (request UID, approver, groups, decision, comment, time): only
  // a decision whose seal verifies counts.
  std::optional<std::string> seal;
  bool operator==(const Approval&) const = default;
};

// Something the operator created for a request, so that it can be removed.
struct Grant {
  GrantKind kind = GrantKind::RoleBinding;
  std::string namespace_;  // RoleBinding, Secret ("namespace" on the wire); "" when cluster-scoped
  std::string name;        // object name, or the database role name for DatabaseUser
  std::string target;      // DatabaseUser: the DatabaseTarget name
  // DatabaseUser: profile name and the fingerprint (database::profileHash) of the profile's
  // definition as last applied to the user, so that a DatabaseTarget change re-applies it.
  // Empty for other kinds (and for users issued before it was recorded).
  std::string profile;
  std::string profileHash;
  bool operator==(const Grant&) const = default;
};

struct AccessRequestStatus {
  std::optional<Phase> phase;
  std::optional<bool> breakGlass;
  std::vector<Approval> approvals;  // always written, [] when empty
  std::optional<TimePoint> approvedAt;
  std::optional<TimePoint> activatedAt;
  std::optional<TimePoint> expiresAt;  // activatedAt + duration: the single source of truth
  std::optional<TimePoint> endedAt;
  std::vector<Grant> grants;
  std::vector<Condition> conditions;
  std::optional<int64_t> observedGeneration;
  std::optional<std::string> message;
  // The operator's seal over its own transitions (phase, times, breakGlass, grants); a
  // status whose seal does not verify was written by someone else and is treated as tampering.
  std::optional<std::string> seal;
  bool operator==(const AccessRequestStatus&) const = default;
};

struct AccessRequest {
  ObjectMeta metadata;
  AccessRequestSpec spec;
  std::optional<AccessRequestStatus> status;
  bool operator==(const AccessRequest&) const = default;
};

// ---------------------------------------------------------------------------------------
// JSON codec. fromJson never throws; errors are ErrorCode::Invalid with a message that
// starts with the offending field path. toJson output of a top-level kind carries
// apiVersion and kind.

template <typename T>
[[nodiscard]] Result<T> fromJson(const nlohmann::json& j);
template <>
[[nodiscard]] Result<AccessPolicy> fromJson<AccessPolicy>(const nlohmann::json& j);
template <>
[[nodiscard]] Result<DatabaseTarget> fromJson<DatabaseTarget>(const nlohmann::json& j);
template <>
[[nodiscard]] Result<AccessRequest> fromJson<AccessRequest>(const nlohmann::json& j);
template <>
[[nodiscard]] Result<AccessRequestStatus> fromJson<AccessRequestStatus>(const nlohmann::json& j);
template <>
[[nodiscard]] Result<Approval> fromJson<Approval>(const nlohmann::json& j);
template <>
[[nodiscard]] Result<ObjectMeta> fromJson<ObjectMeta>(const nlohmann::json& j);
template <>
[[nodiscard]] Result<UserInfo> fromJson<UserInfo>(const nlohmann::json& j);

// Parses JSON text; a syntax error is ErrorCode::Invalid "invalid JSON: <parser detail>".
[[nodiscard]] Result<nlohmann::json> parseJsonText(std::string_view text);

// parseJsonText, then fromJson<T>.
template <typename T>
[[nodiscard]] Result<T> fromJsonText(std::string_view text) {
  auto j = parseJsonText(text);
  if (!j) return std::unexpected(std::move(j.error()));
  return fromJson<T>(*j);
}

nlohmann::json toJson(const AccessPolicy& policy);
nlohmann::json toJson(const DatabaseTarget& target);
nlohmann::json toJson(const AccessRequest& request);
nlohmann::json toJson(const ObjectMeta& meta);
nlohmann::json toJson(const AccessRequestSpec& spec);
nlohmann::json toJson(const AccessRequestStatus& status);  // for status updates / patches
nlohmann::json toJson(const Approval& approval);
nlohmann::json toJson(const Grant& grant);
nlohmann::json toJson(const Condition& condition);
nlohmann::json toJson(const UserInfo& user);

}  // namespace kubegrant::v1alpha1
