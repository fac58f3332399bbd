#include "webhooks/access_request/rules.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "crds/v1alpha1/duration.h"
#include "crds/v1alpha1/policy.h"
#include "operator/common/time.h"

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

}  // namespace

bool sameIdentity(const UserInfo& a, const UserInfo& b) {
  if (a.username != b.username) return false;
  std::set<std::string> ga(a.groups.begin(), a.groups.end());
  std::set<std::string> gb(b.groups.begin(), b.groups.end());
  return ga == gb;
}

AdmissionResponse mutateCreate(const json& object, const UserInfo& caller) {
  auto spec = object.find("spec");
  if (spec == object.end() || !spec->is_object()) return AdmissionResponse::allow();
  auto requester = spec->find("requester");
  if (requester != spec->end() && !requester->is_null()) {
    // A client-supplied requester is kept; validateCreate rejects it unless it is the caller.
    return AdmissionResponse::allow();
  }
  AdmissionResponse r = AdmissionResponse::allow();
  r.patch.push_back({"add", "/spec/requester", identityJson(caller)});
  return r;
}

AdmissionResponse mutateStatusUpdate(const json& object, const json& oldObject,
                                     const UserInfo& caller, TimePoint now) {
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
  for (std::size_t i = oldCount; i < approvals->size(); ++i) {
    const json& entry = (*approvals)[i];
    if (!entry.is_object()) continue;
    std::string base = "/status/approvals/" + std::to_string(i);
    auto approver = entry.find("approver");
    if (approver == entry.end() || approver->is_null() ||
        (approver->is_string() && approver->get<std::string>().empty())) {
      r.patch.push_back({"add", base + "/approver", caller.username});
    }
    r.patch.push_back({"add", base + "/approverGroups", caller.groups});
    r.patch.push_back({"add", base + "/time", stamp});
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
        "Secret {}-{} that only you can read; the target and profile are checked then",
        d.target, d.profile, request.metadata.name.empty() ? "<name>" : request.metadata.name,
        d.target));
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
                                 const UserInfo& caller) {
  const auto& spec = request.spec;
  if (!spec.requester) {
    return AdmissionResponse::forbid(
        "spec.requester: missing; it is stamped from the caller by the kubegrant mutating "
        "webhook (is the MutatingWebhookConfiguration installed?)");
  }
  if (spec.requester->username != caller.username) {
    return AdmissionResponse::forbid(fmt::format(
        "spec.requester: username {} is not the caller {}; requests are always made in the "
        "caller's own name (leave spec.requester out)",
        inQuotes(spec.requester->username), inQuotes(caller.username)));
  }
  if (!sameIdentity(*spec.requester, caller)) {
    return AdmissionResponse::forbid(fmt::format(
        "spec.requester.groups: {} are not the caller's groups {}; leave spec.requester out, it "
        "is stamped from the authenticated user",
        joinList(spec.requester->groups), joinList(caller.groups)));
  }
  if (policy == nullptr) {
    return AdmissionResponse::forbid(
        fmt::format("spec.policy: AccessPolicy {} does not exist", inQuotes(spec.policy)));
  }
  auto violations = v1alpha1::checkRequest(*policy, spec, caller, request.metadata.namespace_);
  if (!violations.empty()) return AdmissionResponse::forbid(v1alpha1::describe(violations));
  return AdmissionResponse::allow(explainCreate(request, *policy));
}

AdmissionResponse validateSpecUpdate(const AccessRequest& request, const AccessRequest& old,
                                     const AccessPolicy* policy, const UserInfo& caller) {
  // Checked first: removing the finalizer is how a request would escape verified revocation
  // (delete it, then drop the finalizer, and the operator never confirms the grants are gone).
  auto hasRevokeFinalizer = [](const AccessRequest& r) {
    const auto& f = r.metadata.finalizers;
    return std::find(f.begin(), f.end(), v1alpha1::kRevokeFinalizer) != f.end();
  };
  if (hasRevokeFinalizer(old) && !hasRevokeFinalizer(request)) {
    return AdmissionResponse::forbid(fmt::format(
        "metadata.finalizers: {} may only be removed by the kubegrant operator, once it has "
        "verified that every grant of this request is revoked; {} may not remove it (delete the "
        "request or set spec.revoke to true instead)",
        v1alpha1::kRevokeFinalizer, caller.username));
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
  if (o.revoke && !n.revoke) {
    return AdmissionResponse::forbid("spec.revoke: cannot be set back to false once true");
  }
  if (!o.revoke && n.revoke) {
    std::string requester = o.requester ? o.requester->username : std::string();
    bool isRequester = !requester.empty() && requester == caller.username;
    bool isApprover = policy != nullptr && v1alpha1::isApprover(*policy, caller);
    if (!isRequester && !isApprover) {
      return AdmissionResponse::forbid(fmt::format(
          "spec.revoke: {} may not revoke this request; only the requester ({}) or an approver "
          "of policy {} ({}) may",
          caller.username, requester.empty() ? "unknown" : requester, o.policy,
          policy ? describeSubjects(policy->spec.approval.approvers) : "policy not found"));
    }
    return AdmissionResponse::allow(
        {fmt::format("revocation requested by {}: the operator removes every grant of this request",
                     caller.username)});
  }
  return AdmissionResponse::allow();
}

AdmissionResponse validateStatusUpdate(const AccessRequest& request, const AccessRequest& old,
                                       const AccessPolicy* policy, const UserInfo& caller) {
  AccessRequestStatus n = statusOf(request);
  AccessRequestStatus o = statusOf(old);
  if (n.phase != o.phase) return AdmissionResponse::forbid(ownedByOperator("status.phase"));
  if (n.breakGlass != o.breakGlass) {
    return AdmissionResponse::forbid(ownedByOperator("status.breakGlass"));
  }
  if (n.approvedAt != o.approvedAt) {
    return AdmissionResponse::forbid(ownedByOperator("status.approvedAt"));
  }
  if (n.activatedAt != o.activatedAt) {
    return AdmissionResponse::forbid(ownedByOperator("status.activatedAt"));
  }
  if (n.expiresAt != o.expiresAt) {
    return AdmissionResponse::forbid(ownedByOperator("status.expiresAt"));
  }
  if (n.endedAt != o.endedAt) return AdmissionResponse::forbid(ownedByOperator("status.endedAt"));
  if (n.grants != o.grants) return AdmissionResponse::forbid(ownedByOperator("status.grants"));
  if (n.conditions != o.conditions) {
    return AdmissionResponse::forbid(ownedByOperator("status.conditions"));
  }
  if (n.observedGeneration != o.observedGeneration) {
    return AdmissionResponse::forbid(ownedByOperator("status.observedGeneration"));
  }
  if (n.message != o.message) return AdmissionResponse::forbid(ownedByOperator("status.message"));

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
      return AdmissionResponse::forbid(fmt::format(
          "status.approvals[{}].approver: {} is not the caller {}; decisions are recorded "
          "under the caller's own name (leave approver out)",
          i, inQuotes(approver), inQuotes(caller.username)));
    }
    if (auto v = v1alpha1::mayApprove(*policy, sofar, caller)) {
      return AdmissionResponse::forbid(fmt::format("status.approvals[{}]: {}", i, v->message));
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

}  // namespace kubegrant::webhooks::access_request
