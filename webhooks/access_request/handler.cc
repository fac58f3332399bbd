#include "webhooks/access_request/handler.h"

#include <algorithm>

#include "crds/v1alpha1/types.h"
#include "webhooks/access_request/rules.h"

namespace kubegrant::webhooks {

namespace {

using v1alpha1::AccessRequest;

v1alpha1::UserInfo toUserInfo(const UserIdentity& u) { return {u.username, u.groups}; }

AdmissionResponse undecodable(const std::string& which, const Error& e) {
  return AdmissionResponse::invalid(which + " is not a valid AccessRequest: " + e.message);
}

AdmissionResponse notSynced() {
  return AdmissionResponse::deny(
      503, "ServiceUnavailable",
      "kubegrant webhook is still loading AccessPolicies; retry shortly");
}

}  // namespace

bool OperatorIdentity::matches(const UserIdentity& user) const {
  if (std::find(usernames.begin(), usernames.end(), user.username) != usernames.end()) {
    return true;
  }
  for (const auto& g : user.groups) {
    if (std::find(groups.begin(), groups.end(), g) != groups.end()) return true;
  }
  return false;
}

AccessRequestAdmission::AccessRequestAdmission(const PolicyLookup& policies, const Clock& clock,
                                               OperatorIdentity operatorIdentity)
    : policies_(policies), clock_(clock), operator_(std::move(operatorIdentity)) {}

AdmissionResponse AccessRequestAdmission::mutate(const AdmissionRequest& req) const {
  if (auto wrong =
          checkKind(req, v1alpha1::kGroup, v1alpha1::kVersion, v1alpha1::kAccessRequestKind)) {
    return *wrong;
  }
  if (operator_.matches(req.userInfo)) return AdmissionResponse::allow();
  auto caller = toUserInfo(req.userInfo);
  if (req.operation == Operation::Create && req.subResource.empty()) {
    return access_request::mutateCreate(req.object, caller);
  }
  if (req.operation == Operation::Update && req.subResource == "status") {
    return access_request::mutateStatusUpdate(req.object, req.oldObject, caller, clock_.now());
  }
  return AdmissionResponse::allow();
}

AdmissionResponse AccessRequestAdmission::validate(const AdmissionRequest& req) const {
  if (auto wrong =
          checkKind(req, v1alpha1::kGroup, v1alpha1::kVersion, v1alpha1::kAccessRequestKind)) {
    return *wrong;
  }
  if (operator_.matches(req.userInfo)) return AdmissionResponse::allow();
  if (req.operation != Operation::Create && req.operation != Operation::Update) {
    return AdmissionResponse::allow();
  }
  if (!req.subResource.empty() && req.subResource != "status") {
    return AdmissionResponse::allow();
  }
  auto caller = toUserInfo(req.userInfo);
  auto object = v1alpha1::fromJson<AccessRequest>(req.object);
  if (!object) return undecodable("object", object.error());
  if (object->metadata.namespace_.empty()) object->metadata.namespace_ = req.namespace_;
  if (!policies_.synced()) return notSynced();
  auto policy = policies_.get(object->spec.policy);

  if (req.operation == Operation::Create) {
    if (!req.subResource.empty()) return AdmissionResponse::allow();
    return access_request::validateCreate(*object, policy.get(), caller);
  }
  auto old = v1alpha1::fromJson<AccessRequest>(req.oldObject);
  if (!old) return undecodable("oldObject", old.error());
  // Decisions and revocation are judged against the policy the request was made under.
  if (old->spec.policy != object->spec.policy) policy = policies_.get(old->spec.policy);
  if (req.subResource == "status") {
    return access_request::validateStatusUpdate(*object, *old, policy.get(), caller);
  }
  return access_request::validateSpecUpdate(*object, *old, policy.get(), caller);
}

}  // namespace kubegrant::webhooks
