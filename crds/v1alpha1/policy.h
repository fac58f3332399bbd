#pragma once

// The pure policy evaluation shared by the admission webhook and the controllers: no I/O,
// no clock reads (times are parameters), no exceptions. The webhook uses it to reject with a
// clear message; the controller uses the same functions to decide phase transitions and to
// re-check live requests when a policy changes, so both always agree.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crds/v1alpha1/types.h"
#include "operator/common/clock.h"
#include "operator/common/result.h"

namespace kubegrant::v1alpha1 {

// Applied when a policy leaves the field out.
inline constexpr Duration kDefaultRequestDuration = std::chrono::hours(1);
inline constexpr Duration kDefaultPendingTimeout = std::chrono::hours(24);
inline constexpr Duration kDefaultRetainFor = std::chrono::hours(720);
inline constexpr Duration kDefaultMaxStartDelay = std::chrono::hours(168);
inline constexpr Duration kDefaultApprovalValidFor = std::chrono::hours(24);

// One broken rule. `field` is a path into the object being checked ("spec.roles[0].name",
// "spec.duration", "status.approvals"); `message` is a full sentence for a user that names
// the rule and the policy, e.g.
//   role ClusterRole/admin is not allowed by policy payments-oncall (allowed: ClusterRole/view,
//   Role/pod-debugger)
struct Violation {
  std::string field;
  std::string message;
  bool operator==(const Violation&) const = default;
};

// "field: message" for one, "; "-joined for several ("" for none).
std::string describe(const Violation& v);
std::string describe(const std::vector<Violation>& vs);

// True when the user is listed in subjects.users or one of the user's groups is in
// subjects.groups. Exact, case-sensitive matching; no wildcards.
bool matches(const Subjects& subjects, const UserInfo& user);

// Who may create requests under the policy: spec.requesters, plus break-glass
// (approval.autoApprove) subjects.
bool isRequester(const AccessPolicy& policy, const UserInfo& user);
// Who may approve or deny under the policy (approval.approvers). Says nothing about
// self-approval: see mayApprove().
bool isApprover(const AccessPolicy& policy, const UserInfo& user);
// Break-glass: the requester matches approval.autoApprove, so the request is approved at
// once (and must be marked status.breakGlass).
bool isBreakGlass(const AccessPolicy& policy, const UserInfo& requester);

// Everything wrong with `spec` as a request by `caller` in namespace `requestNamespace`
// under `policy` (empty = allowed). Checks, each with its own Violation:
//  - spec.policy names this policy;
//  - the caller is a requester (isRequester);
//  - every role (kind/name) is in policy.roles, each namespace (default: requestNamespace)
//    in policy.namespaces;
//  - every database target/profile is allowed by policy.databases;
//  - at least one role or database is requested;
//  - spec.duration (if set) parses, is > 0 and <= the policy's maximum (when the policy has
//    one); an unparsable policy duration is reported as a violation on spec.policy;
//  - spec.reason is non-blank when requireReason;
//  - spec.ticket is present and fully matches ticketPattern (std::regex ECMAScript) when
//    set; an invalid pattern is a violation on spec.policy;
//  - spec.startAt (if set) is RFC 3339.
// Does NOT compare spec.requester with the caller (the webhook does, it knows the identity);
// the controller re-checks live requests by passing *spec.requester as `caller`.
std::vector<Violation> checkRequest(const AccessPolicy& policy, const AccessRequestSpec& spec,
                                    const UserInfo& caller, std::string_view requestNamespace);

// Whether `approver` may add a decision to `request` (as it is BEFORE the new decision).
// nullopt = allowed. Otherwise a Violation on "status.approvals" saying why: the request
// is in a terminal phase, the approver is the requester (never self), is not an approver of
// the policy, or has already decided on this request.
std::optional<Violation> mayApprove(const AccessPolicy& policy, const AccessRequest& request,
                                    const UserInfo& approver);

struct ApprovalTally {
  int approvals = 0;                   // distinct valid Approve decisions
  int required = 0;                    // policy.spec.approval.required
  int remaining = 0;                   // max(0, required - approvals)
  bool denied = false;                 // a valid Deny exists
  std::vector<std::string> deniedBy;   // distinct approvers whose Deny counted
  std::vector<std::string> approvers;  // distinct approvers whose Approve counted, in order
  // Decisions that did not count, one sentence each ("approval by alice ignored: ...").
  std::vector<std::string> ignored;
  // Enough approvals and no denial. (Break-glass is separate: see isBreakGlass.)
  bool satisfied() const { return !denied && remaining == 0; }
};

// Counts status.approvals under the policy AS IT IS NOW: an entry counts only when it has an
// approver, the approver is not the requester (spec.requester.username), and the approver
// matches approval.approvers now (by username, or by the approverGroups stamped at decision
// time). Each approver counts once; an approver with both an Approve and a Deny counts as a
// Deny. Any counted Deny makes the tally denied.
ApprovalTally countApprovals(const AccessPolicy& policy, const AccessRequest& request);

// The requested duration: spec.duration, else the policy's defaultDuration, else the shorter
// of kDefaultRequestDuration (1h) and the policy's maxDuration. Invalid (with the field) when
// the chosen string does not parse or is not positive. Does not check the maximum: that is
// checkRequest's job.
[[nodiscard]] Result<Duration> effectiveDuration(const AccessPolicy& policy,
                                                 const AccessRequestSpec& spec);
// policy.pendingTimeout / retainFor or their defaults; Invalid when set but unparsable.
[[nodiscard]] Result<Duration> effectivePendingTimeout(const AccessPolicy& policy);
[[nodiscard]] Result<Duration> effectiveRetainFor(const AccessPolicy& policy);
// policy.maxStartDelay (how far ahead spec.startAt may be) / approvalValidFor (how long an
// Approve decision counts before the request is active) or their defaults (168h, 24h).
[[nodiscard]] Result<Duration> effectiveMaxStartDelay(const AccessPolicy& policy);
[[nodiscard]] Result<Duration> effectiveApprovalValidFor(const AccessPolicy& policy);
// spec.startAt at most maxStartDelay after `reference` (the creation time). nullopt = fine.
std::optional<Violation> checkStartDelay(const AccessPolicy& policy, const AccessRequestSpec& spec,
                                         TimePoint reference);
// Open: Pending (or not yet seen by the operator), Approved or Active, and not being deleted.
// What maxOpenRequests counts.
bool isOpen(const AccessRequest& request);
// When access granted at `activatedAt` for `duration` ends: activatedAt + duration, truncated
// to whole seconds (status times are second precision on the wire, so the stored value and
// the in-memory value are the same instant). Saturates at the clock's maximum instead of
// overflowing. `duration` must not be negative (parseDuration never returns one).
TimePoint expiryFor(TimePoint activatedAt, Duration duration);

// Schema-level sanity of a policy (the AccessPolicy webhook): every duration parses and is
// positive, maxDuration >= defaultDuration, approval.required >= 0, a required > 0 has at
// least one approver, ticketPattern compiles, no empty names in lists.
std::vector<Violation> validatePolicy(const AccessPolicy& policy);
// Sanity of a DatabaseTarget: host/database/adminSecretRef set, port 1..65535,
// connectionLimit >= 1 when set, profile names unique and non-empty, each grant has a schema,
// tables and known privileges (SELECT INSERT UPDATE DELETE TRUNCATE REFERENCES TRIGGER);
// maskColumns only with privileges [SELECT], on tables the grant names (not "*"), at least one
// column per table, and no column both excluded and masked.
std::vector<Violation> validateDatabaseTarget(const DatabaseTarget& target);

// The namespaces whose Secrets AccessPolicies and DatabaseTargets may name
// (--secret-namespace). The operator may read any Secret (it must, to hand out the credential
// Secrets it creates), so a policy or target author could otherwise make it read, and use, a
// Secret they cannot read themselves: a notification URL or database credentials from another
// team's namespace (a confused deputy). Empty = no restriction.
struct SecretNamespaces {
  std::vector<std::string> allowed;
  bool allows(std::string_view ns) const;
};
// One Violation per Secret reference outside `scope`: spec.notify[i].urlSecretRef.namespace of
// a policy; spec.adminSecretRef.namespace and spec.caSecretRef.namespace of a target.
std::vector<Violation> checkSecretNamespaces(const AccessPolicy& policy,
                                             const SecretNamespaces& scope);
std::vector<Violation> checkSecretNamespaces(const DatabaseTarget& target,
                                             const SecretNamespaces& scope);

}  // namespace kubegrant::v1alpha1
