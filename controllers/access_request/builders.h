#pragma once

// Pure builders of the AccessRequest controller: from (request, policy, now) they decide
// what should exist and what the status should say. No I/O, no clock reads, no exceptions;
// plan() (plan.h) turns a decision into effects, and only the executor (executor.h) talks to
// the API server.

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crds/v1alpha1/types.h"
#include "operator/common/clock.h"

namespace kubegrant::controllers::access_request {

namespace v1 = kubegrant::v1alpha1;

// Labels and annotations on everything the operator creates for a request. Revocation and
// the orphan sweep find objects by these labels, never through ownerReferences (there may be
// no garbage collector, and a cascade is not a verified revocation).
inline constexpr std::string_view kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr std::string_view kManagedByValue = "kubegrant";
inline constexpr std::string_view kRequestUidLabel = "kubegrant.io/request-uid";
inline constexpr std::string_view kRequestNameAnnotation = "kubegrant.io/request-name";
inline constexpr std::string_view kRequestNamespaceAnnotation = "kubegrant.io/request-namespace";
inline constexpr std::string_view kRbacApiGroup = "rbac.authorization.k8s.io";

// Condition types written on every request.
inline constexpr std::string_view kConditionApproved = "Approved";
inline constexpr std::string_view kConditionGranted = "Granted";

// One RoleBinding the request should have while Active: binds `user` (a User subject, and
// nothing else) to role kind/name in `namespace_`. An empty `namespace_` is a cluster-scoped
// binding: a ClusterRoleBinding of a ClusterRole (spec.roles[].scope Cluster), named, labelled
// and verified exactly like a RoleBinding.
struct DesiredRoleBinding {
  std::string namespace_;
  std::string name;
  v1::RoleKind roleKind = v1::RoleKind::ClusterRole;
  std::string roleName;
  std::string user;
  bool operator==(const DesiredRoleBinding&) const = default;
};

// Deterministic, DNS-1123 label-safe (<= 63 chars) RoleBinding name for one (request, role):
// "kubegrant-<request>-<role>-<hash16>", where the parts are lower-cased, sanitised and
// shortened to fit (readability only), and hash16 is 64 bits of FNV-1a over the request's
// UID and the role's kind and name. The UID is the API server's (random, never the client's),
// so no request can be crafted to take another's binding name (issue 11: the name-based
// 32-bit hash could be); a Role and a ClusterRole of the same name never collide either.
std::string roleBindingName(std::string_view requestUid, std::string_view requestName,
                            v1::RoleKind roleKind, std::string_view roleName);

// One RoleBinding per (role, namespace) of spec.roles (namespaces default to the request's
// own), one ClusterRoleBinding (namespace "") per role of scope Cluster, and one binding per
// temporary role of spec.rules (desiredTemporaryRoles), for spec.requester.username. Empty when the
// requester is unknown. Sorted and de-duplicated.
std::vector<DesiredRoleBinding> desiredRoleBindings(const v1::AccessRequest& request);

// The RoleBinding object (rbac.authorization.k8s.io/v1) for `rb`, labelled with
// managed-by and the request uid, annotated with the request's namespace/name.
nlohmann::json roleBindingJson(const DesiredRoleBinding& rb, const v1::AccessRequest& request);

// The temporary role of spec.rules (issue 16) in one namespace: a Role holding exactly the
// request's Namespace-scope rules that apply there, or, with namespace_ "", the ClusterRole
// holding exactly its Cluster-scope rules. Named like its binding (roleBindingName over the
// request UID and the reserved name "kubegrant:rules"), labelled like every grant, and bound
// to the requester by a binding of the same name (part of desiredRoleBindings()).
inline constexpr std::string_view kTemporaryRoleName = "kubegrant:rules";
struct DesiredTemporaryRole {
  std::string namespace_;  // "" = a ClusterRole
  std::string name;
  std::vector<v1::RequestedRule> rules;  // their RBAC fields; namespaces and scope are spent
  bool operator==(const DesiredTemporaryRole&) const = default;
};
inline bool isClusterRole(const DesiredTemporaryRole& r) { return r.namespace_.empty(); }
// One per namespace with Namespace-scope rules (default: the request's own) and one
// ClusterRole when there are Cluster-scope rules; sorted. Empty when the requester is unknown.
std::vector<DesiredTemporaryRole> desiredTemporaryRoles(const v1::AccessRequest& request);
// The Role or ClusterRole object (rbac.authorization.k8s.io/v1) for `role`.
nlohmann::json temporaryRoleJson(const DesiredTemporaryRole& role,
                                 const v1::AccessRequest& request);
// Its entry in status.grants (kind Role or ClusterRole).
v1::Grant grantFor(const DesiredTemporaryRole& role);

// Whether an existing RoleBinding (JSON as read from the API server) is exactly `rb` for this
// request: same roleRef, the single User subject, and our request-uid label. An existing
// object that is not is replaced (roleRef is immutable), never trusted.
bool roleBindingMatches(const nlohmann::json& existing, const DesiredRoleBinding& rb,
                        const v1::AccessRequest& request);

v1::Grant grantFor(const DesiredRoleBinding& rb);

// Whether `rb` is a ClusterRoleBinding (cluster-scoped: no namespace).
inline bool isClusterBinding(const DesiredRoleBinding& rb) { return rb.namespace_.empty(); }
// "RoleBinding" or "ClusterRoleBinding", for messages and the object's kind.
const char* bindingKind(const DesiredRoleBinding& rb);
// The grant kind of a binding key recorded in status.grants: "" namespace = cluster-scoped.
v1::GrantKind bindingGrantKind(std::string_view namespace_);

// What a reconcile should do for a request now.
enum class Step {
  None,          // only (possibly) write the status
  Activate,      // create the grants, then write Active
  EnsureGrants,  // Active: keep the grants in place
  RemoveGrants,  // delete every grant, verify it is gone, then write the terminal status
  Delete,        // retainFor elapsed: delete the request (its finalizer removes grants)
};

const char* toString(Step step);

struct Decision {
  Step step = Step::None;
  v1::Phase phase = v1::Phase::Pending;  // the phase to write once the step succeeded
  // Short CamelCase cause ("AwaitingApproval", "Approved", "Expired", "PolicyChanged", ...),
  // used as condition reason and Event reason.
  std::string reason;
  std::string message;  // status.message: the whole story of this phase in one sentence
  bool breakGlass = false;
  bool approvedNow = false;            // set approvedAt (and the Approved condition) now
  std::vector<std::string> approvers;  // whose approvals counted (or who denied)
  Duration duration{};                 // Activate: how long access lasts
  std::optional<TimePoint> requeueAt;  // when the world changes by itself next
};

// What the reconciler read of the DatabaseTargets that spec.databases names: target name ->
// the target, or nullptr when the API server says it does not exist. A name not in the map
// was not read, and nothing is decided about it (no revocation, no re-apply).
using DatabaseTargets = std::map<std::string, std::shared_ptr<const v1::DatabaseTarget>>;

// The profile `name` of `target`, or nullptr.
const v1::DatabaseProfile* findProfile(const v1::DatabaseTarget& target, std::string_view name);

// Decides the next step for `request` (which carries the finalizer already) under `policy`
// (nullptr = the policy does not exist) at `now`. See the lifecycle in API.md:
//  - deletion -> RemoveGrants, Revoked;
//  - terminal phases never grant again; retainFor after endedAt -> Delete;
//  - spec.revoke, a deleted policy, a policy that no longer allows the request, or a Deny
//    while Approved/Active -> RemoveGrants, Revoked (message names the cause);
//  - Pending: any Deny -> Denied; break-glass, required 0 or enough approvals -> approved;
//    pendingTimeout after creation -> Expired with no access; otherwise wait;
//  - approved: startAt in the future -> Approved and wait; else Activate;
//  - Active, and a DatabaseTarget of spec.databases (as read into `targets`) was deleted or no
//    longer has the requested profile -> RemoveGrants, Revoked (reason DatabaseTargetDeleted or
//    DatabaseTargetChanged, the message names the target and profile);
//  - Active: expiresAt reached -> RemoveGrants, Expired; else EnsureGrants until expiresAt.
Decision decide(const v1::AccessRequest& request, const v1::AccessPolicy* policy, TimePoint now,
                const DatabaseTargets& targets = {});

// The status to write once `decision`'s step succeeded at `now`, starting from the current one
// (kept as is where the decision says nothing, so a no-op reconcile writes nothing). `grants` is
// what exists for the request after the step (Activate/EnsureGrants: the RoleBindings; after
// RemoveGrants the previous list is kept as the record of what was granted). Conditions keep
// their lastTransitionTime unless their status changes.
v1::AccessRequestStatus nextStatus(const v1::AccessRequest& request, const Decision& decision,
                                   const std::vector<v1::Grant>& grants, TimePoint now);

// When the request must be looked at again even if nothing else changes: the decision's own
// time (pendingTimeout, startAt, expiresAt), else the new status's expiresAt (just
// activated) or endedAt + retainFor (just ended). nullopt = only a change wakes it.
std::optional<TimePoint> nextRequeue(const Decision& decision,
                                     const v1::AccessRequestStatus& status,
                                     const v1::AccessPolicy* policy);

// A Failed status (nothing left granted) with an actionable message.
v1::AccessRequestStatus failedStatus(const v1::AccessRequest& request, std::string reason,
                                     std::string message, TimePoint now);

// Sets (or replaces) a condition; lastTransitionTime changes only with the status.
void setCondition(std::vector<v1::Condition>& conditions, v1::Condition c);

// Human text for a tally ("needs 1 more approval from groups [payments-leads]").
std::string approvalsNeededMessage(const v1::AccessPolicy& policy, int remaining);

}  // namespace kubegrant::controllers::access_request
