#pragma once

// The admission rules for AccessRequest (API.md, "What the admission webhook enforces"),
// as pure functions of (object, old object, policy, caller, now). No I/O, no clock reads.
//
// Order and split of responsibilities (the API server runs mutating webhooks first):
//   mutating, CREATE         stamps spec.requester from the caller when it is absent. A
//                            client-supplied requester is left as is, and the validating
//                            rule rejects it unless it equals the caller, so the rejection
//                            message comes from one place and dry runs show it too.
//   mutating, UPDATE status  stamps approver, approverGroups and time on newly appended
//                            approvals (approver only when absent: a forged one is left for
//                            the validating rule to reject with a clear message; groups and
//                            time are always overwritten: they are never the client's word).
//   validating, CREATE       policy exists; spec.requester == caller; checkRequest().
//   validating, UPDATE spec  the kubegrant.io/revoke finalizer is not removed (only the
//                            operator may, and its writes never reach these rules); then only
//                            spec.revoke false->true, by the requester or an approver.
//   validating, UPDATE status  only appended approvals, each by the caller, allowed by
//                            mayApprove() (approver of the policy, not the requester, not
//                            decided before, not terminal); operator fields untouched.
// Every message starts with the field it is about.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "crds/v1alpha1/types.h"
#include "operator/common/clock.h"
#include "webhooks/server/admission.h"

namespace kubegrant::webhooks::access_request {

using v1alpha1::AccessPolicy;
using v1alpha1::AccessRequest;
using v1alpha1::UserInfo;

// Identity comparison used for spec.requester: same username, same set of groups.
bool sameIdentity(const UserInfo& a, const UserInfo& b);

// Mutating, CREATE. `object` is the raw request object (so the patch paths are exact).
AdmissionResponse mutateCreate(const nlohmann::json& object, const UserInfo& caller);

// Mutating, UPDATE of the status subresource.
AdmissionResponse mutateStatusUpdate(const nlohmann::json& object, const nlohmann::json& oldObject,
                                     const UserInfo& caller, TimePoint now);

// Validating, CREATE. `policy` is nullptr when spec.policy names no existing policy.
AdmissionResponse validateCreate(const AccessRequest& request, const AccessPolicy* policy,
                                 const UserInfo& caller);

// Validating, UPDATE of the main resource (spec and metadata).
AdmissionResponse validateSpecUpdate(const AccessRequest& request, const AccessRequest& old,
                                     const AccessPolicy* policy, const UserInfo& caller);

// Validating, UPDATE of the status subresource by anyone but the operator.
AdmissionResponse validateStatusUpdate(const AccessRequest& request, const AccessRequest& old,
                                       const AccessPolicy* policy, const UserInfo& caller);

// The warnings an allowed create answers with: the policy matched, the approvals still
// needed and from whom, and the expiry the request will get.
std::vector<std::string> explainCreate(const AccessRequest& request, const AccessPolicy& policy);

}  // namespace kubegrant::webhooks::access_request
