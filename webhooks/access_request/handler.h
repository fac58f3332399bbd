#pragma once

// Adapts AdmissionReviews for kubegrant.io/v1alpha1 AccessRequests to the pure rules in
// rules.h: decodes the typed objects, looks the policy up (cache, never the API server), picks
// the rule by operation and subresource, and lets the operator's own identity through.

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "operator/common/clock.h"
#include "operator/common/metrics.h"
#include "operator/notify/notification.h"
#include "operator/seal/seal.h"
#include "webhooks/access_request/lookup.h"
#include "webhooks/access_request/request_lookup.h"
#include "webhooks/server/admission.h"

namespace kubegrant::webhooks {

// The operator's own identity: one configured username (--operator-identity, or the
// in-cluster ServiceAccount), the same value render-webhooks.sh puts in the matchConditions
// and render-rbac.sh binds, so its writes never wait for the webhook and are never
// second-guessed by it. No group is ever trusted (a group name is an identity provider's to
// hand out). Empty: nobody is trusted.
struct OperatorIdentity {
  std::string username;
  bool matches(const UserIdentity& user) const {
    return !username.empty() && user.username == username;
  }
};

struct AdmissionOptions {
  OperatorIdentity operatorIdentity;
  // Members may delete any request and change any request's metadata (never its decisions).
  std::vector<std::string> adminGroups;
  // Seals the requester and approvals it stamps, and verifies them; nullptr = sealing off
  // (every client-written seal is then refused). Must outlive the admission.
  const seal::Sealer* sealer = nullptr;
  // For maxOpenRequests; nullptr = not counted. Must outlive the admission.
  const RequestLookup* requests = nullptr;
  // Receives refusalRecord() of every AccessRequest the validating webhook refuses (not the
  // retryable 503s): the operator writes it to the audit log. Must be thread-safe.
  std::function<void(const nlohmann::json&)> audit;
  // The DatabaseTargets spec.databases names (target and profile must exist); nullptr = not
  // checked. Must outlive the admission.
  const TargetLookup* targets = nullptr;
  // A denial with a security rule (AdmissionResponse::rule, rules.h) is also sent here as a
  // "security" notification (securityNotification()); nullptr = not sent. Must outlive this.
  notify::Sink* notifications = nullptr;
  // kubegrant_webhook_security_denials_total{rule}; nullptr = not counted.
  metrics::Registry* metrics = nullptr;
};

// The field a refusal's message names first ("spec.approvals[1].approver: ..." names
// "spec.approvals[1].approver"; rules.cc's messages all begin so), "" when it names none.
std::string fieldOf(std::string_view message);

// The audit line of a refused review, in the audit log's shape (kind kubegrant.audit, event
// "refused", request namespace/name, ts) with who (user), what (operation, subResource), the
// HTTP code, the field (fieldOf the message), the message naming the rule, its security rule
// ("" when none), and dryRun.
nlohmann::json refusalRecord(const AdmissionRequest& request, const AdmissionResponse& response,
                             TimePoint now);

// The "security" notification of a denial with a security rule: id "<review uid>.security",
// a Slack/Mattermost `text` naming the user, the rule and the request, and the structured
// fields (event, rule, user, request, namespace, policy, operation, message, dryRun, time).
// `receivers`: the policy's, when it is known.
notify::Notification securityNotification(const AdmissionRequest& request,
                                          const AdmissionResponse& response,
                                          std::vector<notify::Receiver> receivers, TimePoint now);

class AccessRequestAdmission {
 public:
  // `policies` and `clock` must outlive this object.
  AccessRequestAdmission(const PolicyLookup& policies, const Clock& clock,
                         AdmissionOptions options = {});

  AdmissionResponse mutate(const AdmissionRequest& request) const;
  AdmissionResponse validate(const AdmissionRequest& request) const;

 private:
  AdmissionResponse decide(const AdmissionRequest& request) const;
  bool isAdmin(const UserIdentity& user) const;
  // The one place a refusal is recorded: its audit line, and for a security rule the metric,
  // the warning log and the notification.
  void recordDenial(const AdmissionRequest& request, const AdmissionResponse& response) const;

  const PolicyLookup& policies_;
  const Clock& clock_;
  AdmissionOptions options_;
  metrics::Family<metrics::Counter>* securityDenials_ = nullptr;
};

}  // namespace kubegrant::webhooks
