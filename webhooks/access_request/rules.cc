#include "webhooks/access_request/rules.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "controllers/database/credentials.h"
#include "crds/v1alpha1/duration.h"
#include "crds/v1alpha1/policy.h"
#include "operator/common/time.h"
#include "operator/seal/forms.h"

namespace kubegrant::webhooks::access_request {

namespace {

using nlohmann::json;
using v1alpha1::AccessRequestStatus;
using v1alpha1::Approval;

std::string inQuotes(const std::string& s) { return "\"" + s + "\""; }

std::string joinList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += items[i];
  }
  return out + "]";
}

std::string describeSubjects(const v1alpha1::Subjects& s) {
  std::vector<std::string> parts;
  if (!s.users.empty()) parts.push_back("users " + joinList(s.users));
  if (!s.groups.empty()) parts.push_back("groups " + joinList(s.groups));
  if (parts.empty()) return "nobody";
  return parts.size() == 1 ? parts[0] : parts[0] + " or " + parts[1];
}

json identityJson(const UserInfo& caller) {
  return json{{"username", caller.username}, {"groups", caller.groups}};
}

AccessRequestStatus statusOf(const AccessRequest& r) {
  return r.status.value_or(AccessRequestStatus{});
}

std::string ownedByOperator(const std::string& field) {
  return field +
         ": is owned by the kubegrant operator; approvers may only append to status.approvals";
}

std::string frozen(const std::string& field) {
  return field +
         ": cannot be changed after creation; the only allowed spec change is setting "
         "spec.revoke to true";
}

std::string describeApprovers(const AccessPolicy* policy) {
  return policy ? describeSubjects(policy->spec.approval.approvers) : "policy not found";
}

bool hasDeny(const AccessRequestStatus& s) {
  return std::any_of(s.approvals.begin(), s.approvals.end(),
                     [](const Approval& a) { return a.decision == v1alpha1::Decision::Deny; });
}

// A seal field that verifies, or the message refusing it. A client never writes a seal: with
// sealing on, only the webhook's own verifies; with sealing off, any seal is refused.
std::optional<std::string> checkSeal(const std::string& field, const seal::CanonicalForm& form,
                                     const std::optional<std::string>& value,
                                     const seal::Sealer* sealer) {
  if (sealer == nullptr) {
    if (!value) return std::nullopt;
    return field +
           ": is written by the kubegrant mutating webhook only, and sealing is not configured "
           "on this webhook; leave it out";
  }
  if (!value) {
    return field +
           ": missing; it is stamped by the kubegrant mutating webhook (is the "
           "MutatingWebhookConfiguration installed?)";
  }
  auto v = sealer->verify(form, *value);
  if (v) return std::nullopt;
  if (v.error().code == ErrorCode::Unavailable)
    return field + ": cannot be checked: " + v.error().message;
  return field + ": " + v.error().message +
         "; seals are written by the kubegrant mutating webhook only, never by clients";
}

// The security rule of a create the policy does not allow: asking beyond its scope or duration,
// or not being one of its requesters; "" for an incomplete request (reason, ticket, startAt).
std::string securityRule(const std::vector<v1alpha1::Violation>& violations) {
  for (const auto& v : violations) {
    if (v.field.starts_with("spec.roles") || v.field.starts_with("spec.databases") ||
        v.field == "spec.duration") {
      return std::string(kRuleBeyondPolicy);
    }
    if (v.field == "spec.policy" && v.message.find("is not a requester") != std::string::npos) {
      return std::string(kRuleNotARequester);
    }
  }
  return "";
}

// Why mayApprove() refused `caller`, as a security rule (its checks, in its order).
std::string decisionRule(const AccessPolicy& policy, const AccessRequest& request,
                         const UserInfo& caller) {
  if (request.status && request.status->phase && v1alpha1::isTerminal(*request.status->phase)) {
    return std::string(kRuleDecisionAfterEnd);
  }
  if (request.spec.requester && request.spec.requester->username == caller.username) {
    return std::string(kRuleSelfApproval);
  }
  if (!v1alpha1::isApprover(policy, caller)) return std::string(kRuleNonApprover);
  return std::string(kRuleRepeatDecision);
}

AdmissionResponse refuseSeal(std::string message) {
  if (message.find(": cannot be checked: ") != std::string::npos) {
    return AdmissionResponse::deny(503, "ServiceUnavailable", std::move(message));
  }
  return AdmissionResponse::forbid(std::move(message));
}

std::string tooBig(std::size_t bytes) {
  return fmt::format(
      "metadata: labels, annotations, ownerReferences and finalizers together take {} bytes, "
      "above the limit of {} bytes (32 KiB) for an AccessRequest; remove some",
      bytes, kMaxMetadataBytes);
}

bool sameMetadata(const v1alpha1::ObjectMeta& a, const v1alpha1::ObjectMeta& b) {
  return a.labels == b.labels && a.annotations == b.annotations &&
         a.ownerReferences == b.ownerReferences && a.finalizers == b.finalizers;
}

// An Approve counts for approvalValidFor: given further ahead of startAt than that, it would
// grant long after the approver looked at the request.
std::optional<std::string> approvalTooEarly(const AccessPolicy& policy,
                                            const AccessRequest& request, const Approval& a,
                                            std::optional<TimePoint> now) {
  if (!now || a.decision != v1alpha1::Decision::Approve || !request.spec.startAt) {
    return std::nullopt;
  }
  auto start = parseRfc3339(*request.spec.startAt);
  auto valid = v1alpha1::effectiveApprovalValidFor(policy);
  if (!start || !valid || *start - *now <= *valid) return std::nullopt;
  return fmt::format(
      "too early: an approval counts for approvalValidFor {} (policy {}) and this request "
      "starts at {}; approve from {} on",
      v1alpha1::formatDuration(*valid), policy.metadata.name, *request.spec.startAt,
      formatRfc3339(std::chrono::ceil<std::chrono::seconds>(*start - *valid)));
}

const v1alpha1::DatabaseProfile* findProfile(const v1alpha1::DatabaseTarget& target,
                                             const std::string& name) {
  for (const auto& p : target.spec.profiles) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

}  // namespace

std::size_t metadataBytes(const v1alpha1::ObjectMeta& meta) {
  std::size_t n = 0;
  for (const auto& [k, v] : meta.labels) n += k.size() + v.size();
  for (const auto& [k, v] : meta.annotations) n += k.size() + v.size();
  for (const auto& f : meta.finalizers) n += f.size();
  for (const auto& o : meta.ownerReferences) {
    n += o.apiVersion.size() + o.kind.size() + o.name.size() + o.uid.size() + 16;
  }
  return n;
}

bool sameIdentity(const UserInfo& a, const UserInfo& b) {
  if (a.username != b.username) return false;
  std::set<std::string> ga(a.groups.begin(), a.groups.end());
  std::set<std::string> gb(b.groups.begin(), b.groups.end());
  return ga == gb;
}

AdmissionResponse mutateCreate(const json& object, std::string_view ns, const UserInfo& caller,
                               const seal::Sealer* sealer) {
  auto spec = object.find("spec");
  if (spec == object.end() || !spec->is_object()) return AdmissionResponse::allow();
  AdmissionResponse r = AdmissionResponse::allow();
  auto requester = spec->find("requester");
  // A client-supplied requester is kept; validateCreate rejects it unless it is the caller.
  if (requester == spec->end() || requester->is_null()) {
    r.patch.push_back({"add", "/spec/requester", identityJson(caller)});
  }
  if (sealer == nullptr) return r;
  // The seal is always over the caller: a forged requester then fails twice, and the
  // validating rule names the forgery, not the seal.
  auto typed = v1alpha1::fromJson<AccessRequest>(object);
  if (!typed) return r;  // the validating rule reports what is wrong with the object
  typed->metadata.namespace_ = std::string(ns);
  typed->spec.requester = caller;
  auto sealed = sealer->seal(seal::requesterForm(*typed));
  if (!sealed) {
    return AdmissionResponse::deny(503, "ServiceUnavailable",
                                   "spec.requesterSeal: cannot seal: " + sealed.error().message);
  }
  r.patch.push_back({"add", "/spec/requesterSeal", *sealed});
  return r;
}

AdmissionResponse mutateStatusUpdate(const json& object, const json& oldObject,
                                     const UserInfo& caller, TimePoint now,
                                     const seal::Sealer* sealer) {
  auto approvalsOf = [](const json& obj) -> const json* {
    if (!obj.is_object()) return nullptr;
    auto status = obj.find("status");
    if (status == obj.end() || !status->is_object()) return nullptr;
    auto approvals = status->find("approvals");
    if (approvals == status->end() || !approvals->is_array()) return nullptr;
    return &*approvals;
  };
  const json* approvals = approvalsOf(object);
  if (approvals == nullptr) return AdmissionResponse::allow();
  const json* oldApprovals = approvalsOf(oldObject);
  std::size_t oldCount = oldApprovals ? oldApprovals->size() : 0;

  AdmissionResponse r = AdmissionResponse::allow();
  std::string stamp = formatRfc3339(now);
  std::string uid;
  if (auto meta = object.find("metadata"); meta != object.end() && meta->is_object()) {
    uid = meta->value("uid", "");
  }
  for (std::size_t i = oldCount; i < approvals->size(); ++i) {
    const json& entry = (*approvals)[i];
    if (!entry.is_object()) continue;
    std::string base = "/status/approvals/" + std::to_string(i);
    auto approver = entry.find("approver");
    bool absent = approver == entry.end() || approver->is_null() ||
                  (approver->is_string() && approver->get<std::string>().empty());
    if (absent) r.patch.push_back({"add", base + "/approver", caller.username});
    r.patch.push_back({"add", base + "/approverGroups", caller.groups});
    r.patch.push_back({"add", base + "/time", stamp});
    if (sealer == nullptr) continue;
    // Sealed as stored: what the validating rule (and later the operator) decodes.
    auto typed = v1alpha1::fromJson<Approval>(entry);
    if (!typed) continue;  // the validating rule reports the bad entry
    if (!absent && typed->approver != caller.username) continue;  // refused as forged
    typed->approver = caller.username;
    typed->approverGroups = caller.groups;
    typed->time = parseRfc3339(stamp);
    auto sealed = sealer->seal(seal::approvalForm(uid, *typed));
    if (!sealed) {
      return AdmissionResponse::deny(
          503, "ServiceUnavailable",
          fmt::format("status.approvals[{}].seal: cannot seal: {}", i, sealed.error().message));
    }
    r.patch.push_back({"add", base + "/seal", *sealed});
  }
  return r;
}

std::vector<std::string> explainCreate(const AccessRequest& request, const AccessPolicy& policy) {
  std::vector<std::string> w;
  const auto& spec = request.spec;
  const std::string& name = policy.metadata.name;
  w.push_back(fmt::format("policy {} matched", name));

  UserInfo requester = spec.requester.value_or(UserInfo{});
  const auto& approval = policy.spec.approval;
  if (v1alpha1::isBreakGlass(policy, requester)) {
    w.push_back(fmt::format(
        "break-glass: {} matches approval.autoApprove of policy {}; the request is approved at "
        "once and marked breakGlass in status and audit",
        requester.username, name));
  } else if (approval.required <= 0) {
    w.push_back(fmt::format("no approval needed: policy {} requires 0 approvals", name));
  } else {
    w.push_back(fmt::format(
        "needs {} approval{} from {} (not {}: self-approval never counts); approve with: kubectl "
        "patch areq {} -n {} --subresource=status --type=json -p "
        "'[{{\"op\":\"add\",\"path\":\"/status/approvals/-\",\"value\":{{\"decision\":"
        "\"Approve\"}}}}]'",
        approval.required, approval.required == 1 ? "" : "s", describeSubjects(approval.approvers),
        requester.username, request.metadata.name.empty() ? "<name>" : request.metadata.name,
        request.metadata.namespace_.empty() ? "<namespace>" : request.metadata.namespace_));
  }

  if (auto d = v1alpha1::effectiveDuration(policy, spec)) {
    std::string source = spec.duration ? "requested" : "policy default";
    std::string max = policy.spec.maxDuration ? ", policy maximum " + *policy.spec.maxDuration : "";
    w.push_back(fmt::format(
        "access expires {} after activation ({}{}); the clock starts when access is granted, "
        "not at creation",
        v1alpha1::formatDuration(*d), source, max));
  }
  if (spec.startAt) {
    w.push_back(fmt::format("scheduled start: not granted before {}", *spec.startAt));
  }
  for (const auto& d : spec.databases) {
    w.push_back(fmt::format(
        "spec.databases: a user on {} (profile {}) is issued at activation, its credentials in "
        "Secret {}-{} that only you can read",
        d.target, d.profile, request.metadata.name.empty() ? "<name>" : request.metadata.name,
        d.target));
  }
  for (size_t i = 0; i < spec.rules.size(); ++i) {
    const auto& r = spec.rules[i];
    const bool cluster = r.scope == v1alpha1::RoleScope::Cluster;
    w.push_back(fmt::format(
        "spec.rules[{}]: {} on {} (apiGroups [{}]){} granted through a temporary {} {}, "
        "removed when access ends",
        i, fmt::join(r.verbs, ","), fmt::join(r.resources, ","), fmt::join(r.apiGroups, ","),
        r.resourceNames.empty() ? "" : fmt::format(" named {}", fmt::join(r.resourceNames, ",")),
        cluster ? "ClusterRole" : "Role",
        cluster ? std::string("cluster-wide")
                : fmt::format("in {}", r.namespaces.empty()
                                           ? request.metadata.namespace_
                                           : fmt::format("{}", fmt::join(r.namespaces, ", ")))));
  }
  if (approval.required > 0 && !v1alpha1::isBreakGlass(policy, requester)) {
    if (auto pending = v1alpha1::effectivePendingTimeout(policy)) {
      w.push_back(fmt::format("if not approved within {} the request ends as Expired",
                              v1alpha1::formatDuration(*pending)));
    }
  }
  return w;
}

AdmissionResponse validateCreate(const AccessRequest& request, const AccessPolicy* policy,
                                 const UserInfo& caller, const CreateContext& context) {
  const auto& spec = request.spec;
  if (!spec.requester) {
    return AdmissionResponse::forbid(
        "spec.requester: missing; it is stamped from the caller by the kubegrant mutating "
        "webhook (is the MutatingWebhookConfiguration installed?)");
  }
  if (spec.requester->username != caller.username) {
    return AdmissionResponse::forbid(fmt::format("spec.requester: username {} is not the caller "
                                                 "{}; requests are always made in the "
                                                 "caller's own name (leave spec.requester out)",
                                                 inQuotes(spec.requester->username),
                                                 inQuotes(caller.username)))
        .withRule(std::string(kRuleForgedRequester));
  }
  if (!sameIdentity(*spec.requester, caller)) {
    return AdmissionResponse::forbid(fmt::format("spec.requester.groups: {} are not the caller's "
                                                 "groups {}; leave spec.requester out, it "
                                                 "is stamped from the authenticated user",
                                                 joinList(spec.requester->groups),
                                                 joinList(caller.groups)))
        .withRule(std::string(kRuleForgedRequester));
  }
  if (auto bad = checkSeal("spec.requesterSeal", seal::requesterForm(request), spec.requesterSeal,
                           context.sealer)) {
    auto r = refuseSeal(std::move(*bad));
    if (r.code == 403) r.rule = kRuleForgedRequester;
    return r;
  }
  if (policy == nullptr) {
    return AdmissionResponse::forbid(
        fmt::format("spec.policy: AccessPolicy {} does not exist", inQuotes(spec.policy)));
  }
  auto violations = v1alpha1::checkRequest(*policy, spec, caller, request.metadata.namespace_);
  if (!violations.empty()) {
    return AdmissionResponse::forbid(v1alpha1::describe(violations))
        .withRule(securityRule(violations));
  }
  if (context.targets != nullptr) {
    if (auto bad = checkDatabaseTargets(request, *context.targets)) {
      return AdmissionResponse::forbid(std::move(*bad));
    }
  }
  if (context.now) {
    if (auto v = v1alpha1::checkStartDelay(*policy, spec, *context.now)) {
      return AdmissionResponse::forbid(v1alpha1::describe(*v));
    }
  }
  if (context.openRequests && *context.openRequests >= policy->spec.maxOpenRequests) {
    return AdmissionResponse::forbid(fmt::format(
        "spec.policy: {} already has {} open (Pending, Approved or Active) requests under "
        "policy {}, the maximum its maxOpenRequests allows; revoke or finish one first",
        caller.username, *context.openRequests, policy->metadata.name));
  }
  if (auto bytes = metadataBytes(request.metadata); bytes > kMaxMetadataBytes) {
    return AdmissionResponse::forbid(tooBig(bytes));
  }
  auto warnings = explainCreate(request, *policy);
  if (context.targets != nullptr) {
    for (auto& w : explainDatabases(request, *context.targets)) warnings.push_back(std::move(w));
  }
  return AdmissionResponse::allow(std::move(warnings));
}

AdmissionResponse validateSpecUpdate(const AccessRequest& request, const AccessRequest& old,
                                     const AccessPolicy* policy, const UserInfo& caller,
                                     bool callerIsAdmin) {
  // Checked first: removing the finalizer is how a request would escape verified revocation
  // (delete it, then drop the finalizer, and the operator never confirms the grants are gone).
  auto hasRevokeFinalizer = [](const AccessRequest& r) {
    const auto& f = r.metadata.finalizers;
    return std::find(f.begin(), f.end(), v1alpha1::kRevokeFinalizer) != f.end();
  };
  if (hasRevokeFinalizer(old) && !hasRevokeFinalizer(request)) {
    return AdmissionResponse::forbid(fmt::format("metadata.finalizers: {} may only be removed by "
                                                 "the kubegrant operator, once it has "
                                                 "verified that every grant of this request is "
                                                 "revoked; {} may not remove it (delete the "
                                                 "request or set spec.revoke to true instead)",
                                                 v1alpha1::kRevokeFinalizer, caller.username))
        .withRule(std::string(kRuleFinalizerRemoval));
  }
  std::string requester = old.spec.requester ? old.spec.requester->username : std::string();
  bool isRequester = !requester.empty() && requester == caller.username;
  bool isApprover = policy != nullptr && v1alpha1::isApprover(*policy, caller);
  if (!sameMetadata(request.metadata, old.metadata)) {
    if (!isRequester && !isApprover && !callerIsAdmin) {
      return AdmissionResponse::forbid(
                 fmt::format(
                     "metadata: {} may not change the labels, annotations, ownerReferences or "
                     "finalizers "
                     "of this request; only its requester ({}), an approver of policy {} ({}), the "
                     "kubegrant operator or the admin group may",
                     caller.username, requester.empty() ? "unknown" : requester, old.spec.policy,
                     describeApprovers(policy)))
          .withRule(std::string(kRuleMetadataByOthers));
    }
    auto bytes = metadataBytes(request.metadata);
    if (bytes > kMaxMetadataBytes && bytes > metadataBytes(old.metadata)) {
      return AdmissionResponse::forbid(tooBig(bytes));
    }
  }
  const auto& n = request.spec;
  const auto& o = old.spec;
  if (n.policy != o.policy) return AdmissionResponse::forbid(frozen("spec.policy"));
  if (n.duration != o.duration) return AdmissionResponse::forbid(frozen("spec.duration"));
  if (n.startAt != o.startAt) return AdmissionResponse::forbid(frozen("spec.startAt"));
  if (n.reason != o.reason) return AdmissionResponse::forbid(frozen("spec.reason"));
  if (n.ticket != o.ticket) return AdmissionResponse::forbid(frozen("spec.ticket"));
  if (n.roles != o.roles) return AdmissionResponse::forbid(frozen("spec.roles"));
  if (n.databases != o.databases) return AdmissionResponse::forbid(frozen("spec.databases"));
  if (n.requester != o.requester) return AdmissionResponse::forbid(frozen("spec.requester"));
  if (n.requesterSeal != o.requesterSeal) {
    return AdmissionResponse::forbid(frozen("spec.requesterSeal"));
  }
  if (o.revoke && !n.revoke) {
    return AdmissionResponse::forbid("spec.revoke: cannot be set back to false once true");
  }
  if (!o.revoke && n.revoke) {
    if (!isRequester && !isApprover) {
      return AdmissionResponse::forbid(fmt::format(
          "spec.revoke: {} may not revoke this request; only the requester ({}) or an approver "
          "of policy {} ({}) may",
          caller.username, requester.empty() ? "unknown" : requester, o.policy,
          describeApprovers(policy)));
    }
    return AdmissionResponse::allow(
        {fmt::format("revocation requested by {}: the operator removes every grant of this request",
                     caller.username)});
  }
  return AdmissionResponse::allow();
}

AdmissionResponse validateStatusUpdate(const AccessRequest& request, const AccessRequest& old,
                                       const AccessPolicy* policy, const UserInfo& caller,
                                       const seal::Sealer* sealer, std::optional<TimePoint> now) {
  AccessRequestStatus n = statusOf(request);
  AccessRequestStatus o = statusOf(old);
  if (n.phase != o.phase)
    return AdmissionResponse::forbid(ownedByOperator("status.phase"))
        .withRule(std::string(kRuleStatusTampering));
  if (n.breakGlass != o.breakGlass) {
    return AdmissionResponse::forbid(ownedByOperator("status.breakGlass"))
        .withRule(std::string(kRuleStatusTampering));
  }
  if (n.approvedAt != o.approvedAt) {
    return AdmissionResponse::forbid(ownedByOperator("status.approvedAt"))
        .withRule(std::string(kRuleStatusTampering));
  }
  if (n.activatedAt != o.activatedAt) {
    return AdmissionResponse::forbid(ownedByOperator("status.activatedAt"))
        .withRule(std::string(kRuleStatusTampering));
  }
  if (n.expiresAt != o.expiresAt) {
    return AdmissionResponse::forbid(ownedByOperator("status.expiresAt"))
        .withRule(std::string(kRuleStatusTampering));
  }
  if (n.endedAt != o.endedAt)
    return AdmissionResponse::forbid(ownedByOperator("status.endedAt"))
        .withRule(std::string(kRuleStatusTampering));
  if (n.grants != o.grants)
    return AdmissionResponse::forbid(ownedByOperator("status.grants"))
        .withRule(std::string(kRuleStatusTampering));
  if (n.conditions != o.conditions) {
    return AdmissionResponse::forbid(ownedByOperator("status.conditions"))
        .withRule(std::string(kRuleStatusTampering));
  }
  if (n.observedGeneration != o.observedGeneration) {
    return AdmissionResponse::forbid(ownedByOperator("status.observedGeneration"))
        .withRule(std::string(kRuleStatusTampering));
  }
  if (n.message != o.message)
    return AdmissionResponse::forbid(ownedByOperator("status.message"))
        .withRule(std::string(kRuleStatusTampering));
  if (n.seal != o.seal)
    return AdmissionResponse::forbid(ownedByOperator("status.seal"))
        .withRule(std::string(kRuleStatusTampering));

  if (n.approvals.size() < o.approvals.size()) {
    return AdmissionResponse::forbid(
        "status.approvals: earlier decisions cannot be removed; decisions are append-only");
  }
  for (std::size_t i = 0; i < o.approvals.size(); ++i) {
    if (n.approvals[i] != o.approvals[i]) {
      return AdmissionResponse::forbid(fmt::format(
          "status.approvals[{}]: earlier decisions cannot be changed; decisions are append-only",
          i));
    }
  }
  if (n.approvals.size() == o.approvals.size()) return AdmissionResponse::allow();

  if (policy == nullptr) {
    return AdmissionResponse::forbid(
        fmt::format("spec.policy: AccessPolicy {} does not exist; no decision can be recorded",
                    inQuotes(request.spec.policy)));
  }
  AccessRequest sofar = old;
  if (!sofar.status) sofar.status = AccessRequestStatus{};
  for (std::size_t i = o.approvals.size(); i < n.approvals.size(); ++i) {
    const Approval& a = n.approvals[i];
    std::string approver = a.approver.value_or("");
    if (approver != caller.username) {
      return AdmissionResponse::forbid(
                 fmt::format("status.approvals[{}].approver: {} is not the caller {}; decisions "
                             "are recorded "
                             "under the caller's own name (leave approver out)",
                             i, inQuotes(approver), inQuotes(caller.username)))
          .withRule(std::string(kRuleForgedApprover));
    }
    if (auto v = v1alpha1::mayApprove(*policy, sofar, caller)) {
      return AdmissionResponse::forbid(fmt::format("status.approvals[{}]: {}", i, v->message))
          .withRule(decisionRule(*policy, sofar, caller));
    }
    if (auto early = approvalTooEarly(*policy, request, a, now)) {
      return AdmissionResponse::forbid(fmt::format("status.approvals[{}]: {}", i, *early));
    }
    if (auto bad = checkSeal(fmt::format("status.approvals[{}].seal", i),
                             seal::approvalForm(request.metadata.uid, a), a.seal, sealer)) {
      auto r = refuseSeal(std::move(*bad));
      if (r.code == 403) r.rule = kRuleForgedApprover;
      return r;
    }
    sofar.status->approvals.push_back(a);
  }

  std::vector<std::string> warnings;
  auto tally = v1alpha1::countApprovals(*policy, sofar);
  if (tally.denied) {
    warnings.push_back(fmt::format("request denied by {}", joinList(tally.deniedBy)));
  } else {
    warnings.push_back(fmt::format("approvals: {} of {} required{}", tally.approvals,
                                   tally.required,
                                   tally.satisfied() ? "; the operator grants access now" : ""));
  }
  return AdmissionResponse::allow(std::move(warnings));
}

AdmissionResponse validateDelete(const AccessRequest& old, const AccessPolicy* policy,
                                 const UserInfo& caller, bool callerIsAdmin, TimePoint now) {
  if (callerIsAdmin || old.metadata.deletionTimestamp || caller.username == kNamespaceController) {
    return AdmissionResponse::allow();
  }
  AccessRequestStatus st = statusOf(old);
  std::string requester = old.spec.requester ? old.spec.requester->username : std::string();
  bool isRequester = !requester.empty() && requester == caller.username;
  bool isApprover = policy != nullptr && v1alpha1::isApprover(*policy, caller);
  std::string name = old.metadata.name;
  if (!isRequester && !isApprover) {
    return AdmissionResponse::forbid(fmt::format("metadata: {} may not delete request {}; only its "
                                                 "requester ({}) or an approver of "
                                                 "policy {} ({}) may while it is not ended, and "
                                                 "the kubegrant operator or the admin "
                                                 "group after",
                                                 caller.username, name,
                                                 requester.empty() ? "unknown" : requester,
                                                 old.spec.policy, describeApprovers(policy)))
        .withRule(std::string(kRuleDeleteByOthers));
  }
  bool terminal = st.phase && v1alpha1::isTerminal(*st.phase);
  if (!terminal && !hasDeny(st)) {
    return AdmissionResponse::allow(
        {fmt::format("deleting request {}: the operator removes every grant of it first", name)});
  }
  std::string ended = terminal ? v1alpha1::toString(*st.phase) : "denied";
  std::optional<Duration> retain;
  if (policy != nullptr) {
    if (auto r = v1alpha1::effectiveRetainFor(*policy)) retain = *r;
  }
  if (retain && st.endedAt && now >= *st.endedAt + *retain) return AdmissionResponse::allow();
  std::string until = retain && st.endedAt
                          ? fmt::format("until {} (endedAt + retainFor {} of policy {})",
                                        formatRfc3339(*st.endedAt + *retain),
                                        v1alpha1::formatDuration(*retain), old.spec.policy)
                          : fmt::format("for the retainFor of policy {}", old.spec.policy);
  return AdmissionResponse::forbid(fmt::format(
      "metadata: request {} is {} and is kept as the audit record {}; {} may not delete it "
      "before then (the kubegrant operator deletes it after retainFor; the admin group may "
      "earlier)",
      name, ended, until, caller.username));
}

std::optional<std::string> checkDatabaseTargets(const AccessRequest& request,
                                                const TargetLookup& targets) {
  const auto& dbs = request.spec.databases;
  for (std::size_t i = 0; i < dbs.size(); ++i) {
    auto target = targets.get(dbs[i].target);
    if (!target) {
      return fmt::format(
          "spec.databases[{}].target: DatabaseTarget {} does not exist; a request may only name "
          "an existing target (kubectl get databasetargets)",
          i, inQuotes(dbs[i].target));
    }
    if (findProfile(*target, dbs[i].profile) == nullptr) {
      std::vector<std::string> names;
      for (const auto& p : target->spec.profiles) names.push_back(p.name);
      return fmt::format(
          "spec.databases[{}].profile: DatabaseTarget {} has no profile {}; a request may only "
          "name one of the target's profiles {}",
          i, inQuotes(dbs[i].target), inQuotes(dbs[i].profile), joinList(names));
    }
  }
  return std::nullopt;
}

std::vector<std::string> explainDatabases(const AccessRequest& request,
                                          const TargetLookup& targets) {
  std::vector<std::string> out;
  for (const auto& d : request.spec.databases) {
    auto target = targets.get(d.target);
    if (!target) continue;
    if (const auto* profile = findProfile(*target, d.profile)) {
      out.push_back(database::profileSummary(d.target, *profile));
    }
  }
  return out;
}

}  // namespace kubegrant::webhooks::access_request
