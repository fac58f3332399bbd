#pragma once

// The admission rules for AccessRequest (API.md, "What the admission webhook enforces"),
// as pure functions of (object, old object, policy, caller, now). No I/O, no clock reads.
//
// Order and split of responsibilities (the API server runs mutating webhooks first):
//   mutating, CREATE         stamps spec.requester from the caller when it is absent. A
//                            client-supplied requester is left as is, and the validating
//                            rule rejects it unless it equals the caller, so the rejection
//                            message comes from one place and dry runs show it too. With a
//                            sealer, always (re)writes spec.requesterSeal over the caller.
//   mutating, UPDATE status  stamps approver, approverGroups and time on newly appended
//                            approvals (approver only when absent: a forged one is left for
//                            the validating rule to reject with a clear message; groups and
//                            time are always overwritten: they are never the client's word),
//                            and, with a sealer, the approval's seal.
//   validating, CREATE       policy exists; spec.requester == caller; the requester seal is
//                            the webhook's own (a client-written seal is refused);
//                            checkRequest(); spec.databases targets and profiles exist
//                            (checkDatabaseTargets); maxStartDelay; maxOpenRequests;
//                            metadata size.
//   validating, UPDATE spec  the kubegrant.io/revoke finalizer is not removed (only the
//                            operator may, and its writes never reach these rules); metadata
//                            (labels, annotations, ownerReferences, finalizers) changed only
//                            by the requester, an approver or the admin group, and within
//                            kMaxMetadataBytes; then only spec.revoke false->true, by the
//                            requester or an approver.
//   validating, UPDATE status  only appended approvals, each by the caller, allowed by
//                            mayApprove() (approver of the policy, not the requester, not
//                            decided before, not terminal), not given earlier than
//                            approvalValidFor before startAt, sealed by the webhook;
//                            operator fields (status.seal too) untouched.
//   validating, DELETE       while not ended (no terminal phase, no Deny): the requester or
//                            an approver; an ended request is the audit record: only the
//                            admin group before endedAt + retainFor, its requester and
//                            approvers after.
// The operator's own identity never reaches these rules (handler.h). Every message starts
// with the field it is about.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crds/v1alpha1/types.h"
#include "operator/common/clock.h"
#include "operator/seal/seal.h"
#include "webhooks/access_request/lookup.h"
#include "webhooks/server/admission.h"

namespace kubegrant::webhooks::access_request {

using v1alpha1::AccessPolicy;
using v1alpha1::AccessRequest;
using v1alpha1::UserInfo;

// Security rules (AdmissionResponse::rule): a denial tagged with one is someone trying what
// they may not, counted in kubegrant_webhook_security_denials_total{rule}, written as an audit
// line naming the user and the rule, and sent as a "security" notification (handler.h).
inline constexpr std::string_view kRuleSelfApproval = "self-approval";
inline constexpr std::string_view kRuleNonApprover = "non-approver";
inline constexpr std::string_view kRuleRepeatDecision = "repeat-decision";
inline constexpr std::string_view kRuleDecisionAfterEnd = "decision-after-end";
inline constexpr std::string_view kRuleForgedRequester = "forged-requester";
inline constexpr std::string_view kRuleForgedApprover = "forged-approver";
inline constexpr std::string_view kRuleBeyondPolicy = "beyond-policy";
inline constexpr std::string_view kRuleNotARequester = "not-a-requester";
inline constexpr std::string_view kRuleFinalizerRemoval = "finalizer-removal";
inline constexpr std::string_view kRuleMetadataByOthers = "metadata-by-others";
inline constexpr std::string_view kRuleDeleteByOthers = "delete-by-others";
inline constexpr std::string_view kRuleStatusTampering = "status-tampering";

// Labels, annotations, ownerReferences and finalizers of a request together may take at most
// this many bytes (keys and values; ownerReferences as JSON). Far below what the API server
// accepts in one request, so an AdmissionReview carrying old and new object always stays far
// below the webhook's body limit: no one can pad a request until it cannot be updated.
inline constexpr std::size_t kMaxMetadataBytes = 32 * 1024;

// The bytes kMaxMetadataBytes counts.
std::size_t metadataBytes(const v1alpha1::ObjectMeta& meta);

// Identity comparison used for spec.requester: same username, same set of groups.
bool sameIdentity(const UserInfo& a, const UserInfo& b);

// Mutating, CREATE. `object` is the raw request object (so the patch paths are exact);
// `ns` the namespace of the review. `sealer` nullptr = sealing off.
AdmissionResponse mutateCreate(const nlohmann::json& object, std::string_view ns,
                               const UserInfo& caller, const seal::Sealer* sealer = nullptr);

// Mutating, UPDATE of the status subresource.
AdmissionResponse mutateStatusUpdate(const nlohmann::json& object, const nlohmann::json& oldObject,
                                     const UserInfo& caller, TimePoint now,
                                     const seal::Sealer* sealer = nullptr);

struct CreateContext {
  std::optional<TimePoint> now;          // unset: maxStartDelay not checked
  std::optional<int> openRequests;       // the caller's open requests under the policy
  const seal::Sealer* sealer = nullptr;  // nullptr: sealing off, a client seal is refused
  // The DatabaseTargets spec.databases names; nullptr: targets and profiles not checked.
  const TargetLookup* targets = nullptr;
};

// Validating, CREATE. `policy` is nullptr when spec.policy names no existing policy.
AdmissionResponse validateCreate(const AccessRequest& request, const AccessPolicy* policy,
                                 const UserInfo& caller, const CreateContext& context = {});

// Validating, UPDATE of the main resource (spec and metadata). `callerIsAdmin`: the caller is
// in the configured admin group.
AdmissionResponse validateSpecUpdate(const AccessRequest& request, const AccessRequest& old,
                                     const AccessPolicy* policy, const UserInfo& caller,
                                     bool callerIsAdmin = false);

// Validating, UPDATE of the status subresource by anyone but the operator. `now` unset:
// approvalValidFor not checked.
AdmissionResponse validateStatusUpdate(const AccessRequest& request, const AccessRequest& old,
                                       const AccessPolicy* policy, const UserInfo& caller,
                                       const seal::Sealer* sealer = nullptr,
                                       std::optional<TimePoint> now = std::nullopt);

// The namespace controller (kube-controller-manager with per-controller credentials, the
// default): deleting a namespace deletes its requests, ended ones included. Deleting a
// namespace is an administrator's act; the audit log keeps the records.
inline constexpr std::string_view kNamespaceController =
    "system:serviceaccount:kube-system:namespace-controller";

// Validating, DELETE of `old` (the request being deleted) by anyone but the operator.
AdmissionResponse validateDelete(const AccessRequest& old, const AccessPolicy* policy,
                                 const UserInfo& caller, bool callerIsAdmin, TimePoint now);

// The warnings an allowed create answers with: the policy matched, the approvals still
// needed and from whom, and the expiry the request will get.
std::vector<std::string> explainCreate(const AccessRequest& request, const AccessPolicy& policy);

// spec.databases against the DatabaseTargets (after checkRequest() found each target/profile
// allowed by the policy): the target exists and has the profile. The refusal naming the field
// (spec.databases[i].target or .profile), or nullopt.
std::optional<std::string> checkDatabaseTargets(const AccessRequest& request,
                                                const TargetLookup& targets);

// One warning per spec.databases entry naming what the profile keeps from the user
// (database::profileSummary), e.g. "database orders-db/readonly: withheld
// public.customers.email, public.customers.phone; masked public.customers.name (hash)".
std::vector<std::string> explainDatabases(const AccessRequest& request,
                                          const TargetLookup& targets);

}  // namespace kubegrant::webhooks::access_request
