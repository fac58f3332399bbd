#pragma once

// Adapts AdmissionReviews for kubegrant.io/v1alpha1 AccessRequests to the pure rules in
// rules.h: decodes the typed objects, looks the policy up (cache, never the API server), picks
// the rule by operation and subresource, and lets the operator's own identity through.

#include <string>
#include <vector>

#include "operator/common/clock.h"
#include "webhooks/access_request/policy_lookup.h"
#include "webhooks/server/admission.h"

namespace kubegrant::webhooks {

// The operator's own identity: its writes are never second-guessed (the webhook
// configurations also exclude it with matchConditions, so it never waits for the webhook).
// By default: the local user of `make run` and the tests, and the in-cluster ServiceAccount
// kubegrant-system/kubegrant-operator (render-webhooks.sh --service-account
// kubegrant-system/kubegrant-operator), so the server agrees with the matchConditions in both.
struct OperatorIdentity {
  std::vector<std::string> usernames = {
      "kubegrant-operator", "system:serviceaccount:kubegrant-system:kubegrant-operator"};
  std::vector<std::string> groups = {"kubegrant:operators"};
  bool matches(const UserIdentity& user) const;
};

class AccessRequestAdmission {
 public:
  // `policies` and `clock` must outlive this object.
  AccessRequestAdmission(const PolicyLookup& policies, const Clock& clock,
                         OperatorIdentity operatorIdentity = {});

  AdmissionResponse mutate(const AdmissionRequest& request) const;
  AdmissionResponse validate(const AdmissionRequest& request) const;

 private:
  const PolicyLookup& policies_;
  const Clock& clock_;
  OperatorIdentity operator_;
};

}  // namespace kubegrant::webhooks
