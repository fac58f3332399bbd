#include "webhooks/access_request/handler.h"

#include <fmt/format.h>

#include <algorithm>

#include "crds/v1alpha1/types.h"
#include "operator/common/log.h"
#include "operator/common/time.h"
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
      "kubegrant webhook is still loading AccessPolicies, AccessRequests and DatabaseTargets; "
      "retry shortly");
}

}  // namespace

AccessRequestAdmission::AccessRequestAdmission(const PolicyLookup& policies, const Clock& clock,
                                               AdmissionOptions options)
    : policies_(policies), clock_(clock), options_(std::move(options)) {
  if (options_.metrics) {
    securityDenials_ = &options_.metrics->counter(
        "kubegrant_webhook_security_denials_total",
        "AccessRequest reviews the webhook refused as a security event, by rule (self-approval, "
        "non-approver, forged-requester, forged-approver, beyond-policy, decision-after-end, "
        "finalizer-removal, ...).",
        {"rule"});
  }
}

bool AccessRequestAdmission::isAdmin(const UserIdentity& user) const {
  for (const auto& g : user.groups) {
    if (std::find(options_.adminGroups.begin(), options_.adminGroups.end(), g) !=
        options_.adminGroups.end()) {
      return true;
    }
  }
  return false;
}

AdmissionResponse AccessRequestAdmission::mutate(const AdmissionRequest& req) const {
  if (auto wrong =
          checkKind(req, v1alpha1::kGroup, v1alpha1::kVersion, v1alpha1::kAccessRequestKind)) {
    return *wrong;
  }
  if (options_.operatorIdentity.matches(req.userInfo)) return AdmissionResponse::allow();
  auto caller = toUserInfo(req.userInfo);
  if (req.operation == Operation::Create && req.subResource.empty()) {
    return access_request::mutateCreate(req.object, req.namespace_, caller, options_.sealer);
  }
  if (req.operation == Operation::Update && req.subResource == "status") {
    return access_request::mutateStatusUpdate(req.object, req.oldObject, caller, clock_.now(),
                                              options_.sealer);
  }
  return AdmissionResponse::allow();
}

std::string fieldOf(std::string_view message) {
  const auto colon = message.find(": ");
  if (colon == std::string_view::npos || colon == 0) return "";
  const std::string_view head = message.substr(0, colon);
  for (char c : head) {
    const bool fieldChar = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '.' || c == '[' || c == ']' || c == '_';
    if (!fieldChar) return "";
  }
  return std::string(head);
}

nlohmann::json refusalRecord(const AdmissionRequest& req, const AdmissionResponse& resp,
                             TimePoint now) {
  // The audit log's shape (controllers/access_request/audit.h): ts, kind, event, request.
  return {{"ts", formatRfc3339Micro(now)},
          {"kind", "kubegrant.audit"},
          {"event", "refused"},
          {"request", {{"namespace", req.namespace_}, {"name", req.name}}},
          {"operation", toString(req.operation)},
          {"subResource", req.subResource},
          {"user", {{"username", req.userInfo.username}, {"groups", req.userInfo.groups}}},
          {"code", resp.code},
          {"field", fieldOf(resp.message)},
          {"message", resp.message},
          {"rule", resp.rule},
          {"dryRun", req.dryRun}};
}

namespace {

std::string policyOf(const AdmissionRequest& req) {
  for (const auto* obj : {&req.object, &req.oldObject}) {
    if (!obj->is_object()) continue;
    auto spec = obj->find("spec");
    if (spec == obj->end() || !spec->is_object()) continue;
    auto p = spec->find("policy");
    if (p != spec->end() && p->is_string()) return p->get<std::string>();
  }
  return "";
}

}  // namespace

notify::Notification securityNotification(const AdmissionRequest& req,
                                          const AdmissionResponse& resp,
                                          std::vector<notify::Receiver> receivers, TimePoint now) {
  const std::string policy = policyOf(req);
  const std::string target =
      req.namespace_.empty() ? req.name : fmt::format("{}/{}", req.namespace_, req.name);
  nlohmann::json body = {
      {"text", fmt::format("[kubegrant SECURITY] {} was refused ({}) on AccessRequest {}{}: {}",
                           req.userInfo.username, resp.rule, target, req.dryRun ? " (dry run)" : "",
                           resp.message)},
      {"event", "security"},
      {"rule", resp.rule},
      {"user", {{"username", req.userInfo.username}, {"groups", req.userInfo.groups}}},
      {"request", {{"namespace", req.namespace_}, {"name", req.name}}},
      {"namespace", req.namespace_},
      {"policy", policy},
      {"operation", toString(req.operation)},
      {"subResource", req.subResource},
      {"message", resp.message},
      {"dryRun", req.dryRun},
      {"time", formatRfc3339(now)},
  };
  notify::Notification n;
  n.id = req.uid + ".security";
  n.event = "security";
  n.body = body.dump();
  n.receivers = std::move(receivers);
  return n;
}

void AccessRequestAdmission::recordDenial(const AdmissionRequest& req,
                                          const AdmissionResponse& resp) const {
  // The audit line first: it is the record; the metric and notification follow from it.
  if (options_.audit) options_.audit(refusalRecord(req, resp, clock_.now()));
  if (resp.rule.empty()) return;
  if (securityDenials_) securityDenials_->with({resp.rule}).inc();
  log::warn("webhook", "security denial",
            {{"rule", resp.rule},
             {"user", req.userInfo.username},
             {"request", req.namespace_ + "/" + req.name},
             {"operation", toString(req.operation)},
             {"subResource", req.subResource}});
  if (!options_.notifications) return;
  std::vector<notify::Receiver> receivers;
  if (auto name = policyOf(req); !name.empty() && policies_.synced()) {
    if (auto policy = policies_.get(name)) {
      for (const auto& r : policy->spec.notify) receivers.push_back({r.name, r.urlSecretRef});
    }
  }
  options_.notifications->send(securityNotification(req, resp, std::move(receivers), clock_.now()));
}

AdmissionResponse AccessRequestAdmission::validate(const AdmissionRequest& req) const {
  AdmissionResponse resp = decide(req);
  // Not the retryable 503s (caches loading): nobody was refused anything yet.
  if (!resp.allowed && resp.code != 503) recordDenial(req, resp);
  return resp;
}

AdmissionResponse AccessRequestAdmission::decide(const AdmissionRequest& req) const {
  if (auto wrong =
          checkKind(req, v1alpha1::kGroup, v1alpha1::kVersion, v1alpha1::kAccessRequestKind)) {
    return *wrong;
  }
  if (options_.operatorIdentity.matches(req.userInfo)) return AdmissionResponse::allow();
  if (!req.subResource.empty() && req.subResource != "status") {
    return AdmissionResponse::allow();
  }
  auto caller = toUserInfo(req.userInfo);
  if (req.operation == Operation::Delete) {
    auto old = v1alpha1::fromJson<AccessRequest>(req.oldObject);
    if (!old) return undecodable("oldObject", old.error());
    if (!policies_.synced()) return notSynced();
    auto policy = policies_.get(old->spec.policy);
    return access_request::validateDelete(*old, policy.get(), caller, isAdmin(req.userInfo),
                                          clock_.now());
  }
  if (req.operation != Operation::Create && req.operation != Operation::Update) {
    return AdmissionResponse::allow();
  }
  auto object = v1alpha1::fromJson<AccessRequest>(req.object);
  if (!object) return undecodable("object", object.error());
  if (object->metadata.namespace_.empty()) object->metadata.namespace_ = req.namespace_;
  if (!policies_.synced()) return notSynced();
  auto policy = policies_.get(object->spec.policy);

  if (req.operation == Operation::Create) {
    if (!req.subResource.empty()) return AdmissionResponse::allow();
    access_request::CreateContext context;
    context.now = clock_.now();
    context.sealer = options_.sealer;
    if (options_.targets != nullptr && !object->spec.databases.empty()) {
      if (!options_.targets->synced()) return notSynced();
      context.targets = options_.targets;
    }
    if (options_.requests != nullptr) {
      if (!options_.requests->synced()) return notSynced();
      context.openRequests = options_.requests->countOpen(object->spec.policy, caller.username);
    }
    return access_request::validateCreate(*object, policy.get(), caller, context);
  }
  auto old = v1alpha1::fromJson<AccessRequest>(req.oldObject);
  if (!old) return undecodable("oldObject", old.error());
  // Decisions and revocation are judged against the policy the request was made under.
  if (old->spec.policy != object->spec.policy) policy = policies_.get(old->spec.policy);
  if (req.subResource == "status") {
    return access_request::validateStatusUpdate(*object, *old, policy.get(), caller,
                                                options_.sealer, clock_.now());
  }
  return access_request::validateSpecUpdate(*object, *old, policy.get(), caller,
                                            isAdmin(req.userInfo));
}

}  // namespace kubegrant::webhooks
