#include "webhooks/policy/policy_admission.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "crds/v1alpha1/policy.h"
#include "crds/v1alpha1/types.h"

namespace kubegrant::webhooks {

namespace {

bool writes(const AdmissionRequest& req) {
  return (req.operation == Operation::Create || req.operation == Operation::Update) &&
         req.subResource.empty();
}

}  // namespace

AdmissionResponse validateAccessPolicy(const AdmissionRequest& req,
                                       const v1alpha1::SecretNamespaces& secrets) {
  if (auto wrong =
          checkKind(req, v1alpha1::kGroup, v1alpha1::kVersion, v1alpha1::kAccessPolicyKind)) {
    return *wrong;
  }
  if (!writes(req)) return AdmissionResponse::allow();
  auto policy = v1alpha1::fromJson<v1alpha1::AccessPolicy>(req.object);
  if (!policy) {
    return AdmissionResponse::invalid("object is not a valid AccessPolicy: " +
                                      policy.error().message);
  }
  auto violations = v1alpha1::validatePolicy(*policy);
  std::ranges::move(v1alpha1::checkSecretNamespaces(*policy, secrets),
                    std::back_inserter(violations));
  if (!violations.empty()) return AdmissionResponse::invalid(v1alpha1::describe(violations));

  std::vector<std::string> warnings;
  const auto& approval = policy->spec.approval;
  if (approval.required == 0) {
    warnings.push_back(fmt::format(
        "spec.approval.required is 0: requests under policy {} are approved without review",
        policy->metadata.name));
  }
  if (approval.autoApprove &&
      (!approval.autoApprove->users.empty() || !approval.autoApprove->groups.empty())) {
    warnings.push_back(
        "spec.approval.autoApprove is set: those requesters get access at once (break-glass), "
        "marked breakGlass in status and audit");
  }
  return AdmissionResponse::allow(std::move(warnings));
}

AdmissionResponse validateDatabaseTarget(const AdmissionRequest& req,
                                         const v1alpha1::SecretNamespaces& secrets) {
  if (auto wrong =
          checkKind(req, v1alpha1::kGroup, v1alpha1::kVersion, v1alpha1::kDatabaseTargetKind)) {
    return *wrong;
  }
  if (!writes(req)) return AdmissionResponse::allow();
  auto target = v1alpha1::fromJson<v1alpha1::DatabaseTarget>(req.object);
  if (!target) {
    return AdmissionResponse::invalid("object is not a valid DatabaseTarget: " +
                                      target.error().message);
  }
  auto violations = v1alpha1::validateDatabaseTarget(*target);
  std::ranges::move(v1alpha1::checkSecretNamespaces(*target, secrets),
                    std::back_inserter(violations));
  if (!violations.empty()) return AdmissionResponse::invalid(v1alpha1::describe(violations));
  std::vector<std::string> warnings;
  if (target->spec.sslMode == "disable" || target->spec.sslMode == "allow" ||
      target->spec.sslMode == "prefer") {
    warnings.push_back(fmt::format("spec.sslMode is {}: issued credentials may travel unencrypted",
                                   target->spec.sslMode));
  }
  if ((target->spec.sslMode == "verify-ca" || target->spec.sslMode == "verify-full") &&
      !target->spec.caSecretRef) {
    warnings.push_back(fmt::format(
        "spec.sslMode is {} without spec.caSecretRef: the server certificate must chain to the "
        "system CAs, and issued Secrets carry no ca.crt",
        target->spec.sslMode));
  }
  return AdmissionResponse::allow(std::move(warnings));
}

}  // namespace kubegrant::webhooks
