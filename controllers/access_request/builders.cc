#include "controllers/access_request/builders.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <map>

#include "crds/v1alpha1/duration.h"
#include "crds/v1alpha1/policy.h"
#include "operator/common/time.h"

namespace kubegrant::controllers::access_request {
namespace {

constexpr size_t kMaxNameLength = 63;
constexpr std::string_view kNamePrefix = "kubegrant-";

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// Lower-case, [a-z0-9-] only, no leading/trailing '-', at most `max` chars.
std::string sanitize(std::string_view in, size_t max) {
  std::string out;
  for (char c : in) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    out += ok ? c : '-';
  }
  if (out.size() > max) out.resize(max);
  while (!out.empty() && out.back() == '-') out.pop_back();
  while (!out.empty() && out.front() == '-') out.erase(out.begin());
  return out;
}

TimePoint seconds(TimePoint t) { return std::chrono::floor<std::chrono::seconds>(t); }

std::string joinQuoted(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

std::string describeSubjects(const v1::Subjects& s) {
  std::vector<std::string> parts;
  if (!s.groups.empty())
    parts.push_back(
        fmt::format("group{} {}", s.groups.size() > 1 ? "s" : "", joinQuoted(s.groups)));
  if (!s.users.empty())
    parts.push_back(fmt::format("user{} {}", s.users.size() > 1 ? "s" : "", joinQuoted(s.users)));
  if (parts.empty()) return "nobody (the policy lists no approvers)";
  return fmt::format("{}", fmt::join(parts, " or "));
}

std::string commentsOf(const v1::AccessRequest& request, const std::vector<std::string>& who,
                       v1::Decision decision) {
  std::vector<std::string> parts;
  if (!request.status) return {};
  for (const auto& a : request.status->approvals) {
    if (a.decision != decision || !a.approver) continue;
    if (std::find(who.begin(), who.end(), *a.approver) == who.end()) continue;
    if (a.comment && !a.comment->empty())
      parts.push_back(fmt::format("{}: \"{}\"", *a.approver, *a.comment));
  }
  return parts.empty() ? std::string() : fmt::format(" ({})", fmt::join(parts, "; "));
}

std::string grantNames(const std::vector<v1::Grant>& grants) {
  std::vector<std::string> names;
  for (const auto& g : grants) {
    if (g.kind == v1::GrantKind::RoleBinding) {
      names.push_back(fmt::format("RoleBinding {}/{}", g.namespace_, g.name));
    } else if (g.kind == v1::GrantKind::ClusterRoleBinding) {
      names.push_back(fmt::format("ClusterRoleBinding {}", g.name));
    } else if (g.kind == v1::GrantKind::Secret) {
      names.push_back(fmt::format("Secret {}/{}", g.namespace_, g.name));
    } else if (g.kind == v1::GrantKind::Role) {
      names.push_back(fmt::format("Role {}/{}", g.namespace_, g.name));
    } else if (g.kind == v1::GrantKind::ClusterRole) {
      names.push_back(fmt::format("ClusterRole {}", g.name));
    } else {
      names.push_back(fmt::format("DatabaseUser {}/{}", g.target, g.name));
    }
  }
  return fmt::format("{}", fmt::join(names, ", "));
}

v1::Condition condition(std::string_view type, bool status, std::string reason,
                        std::string message) {
  v1::Condition c;
  c.type = std::string(type);
  c.status = status ? "True" : "False";
  c.reason = std::move(reason);
  c.message = std::move(message);
  return c;
}

}  // namespace

const char* toString(Step step) {
  switch (step) {
    case Step::None:
      return "None";
    case Step::Activate:
      return "Activate";
    case Step::EnsureGrants:
      return "EnsureGrants";
    case Step::RemoveGrants:
      return "RemoveGrants";
    case Step::Delete:
      return "Delete";
  }
  return "None";
}

std::string roleBindingName(std::string_view requestUid, std::string_view requestName,
                            v1::RoleKind roleKind, std::string_view roleName) {
  std::string key = fmt::format("{}/{}/{}", requestUid, v1::toString(roleKind), roleName);
  std::string hash = fmt::format("{:016x}", fnv1a(key));
  // kubegrant-<req>-<role>-<hash16>: 10 + req + 1 + role + 1 + 16 <= 63.
  const size_t budget = kMaxNameLength - kNamePrefix.size() - 1 - 1 - hash.size();
  std::string role = sanitize(roleName, budget / 2);
  std::string req = sanitize(requestName, budget - role.size());
  if (role.size() + req.size() < budget) role = sanitize(roleName, budget - req.size());
  std::string name(kNamePrefix);
  if (!req.empty()) name += req + "-";
  if (!role.empty()) name += role + "-";
  name += hash;
  return name;
}

std::vector<DesiredRoleBinding> desiredRoleBindings(const v1::AccessRequest& request) {
  std::vector<DesiredRoleBinding> out;
  if (!request.spec.requester || request.spec.requester->username.empty()) return out;
  for (const auto& role : request.spec.roles) {
    std::vector<std::string> namespaces = role.namespaces;
    if (role.scope == v1::RoleScope::Cluster) {
      namespaces = {""};  // one ClusterRoleBinding
    } else if (namespaces.empty()) {
      namespaces.push_back(request.metadata.namespace_);
    }
    for (const auto& ns : namespaces) {
      DesiredRoleBinding rb;
      rb.namespace_ = ns;
      rb.roleKind = role.kind;
      rb.roleName = role.name;
      rb.user = request.spec.requester->username;
      rb.name = roleBindingName(request.metadata.uid, request.metadata.name, role.kind, role.name);
      out.push_back(std::move(rb));
    }
  }
  for (const auto& temporary : desiredTemporaryRoles(request)) {
    DesiredRoleBinding rb;
    rb.namespace_ = temporary.namespace_;
    rb.roleKind = isClusterRole(temporary) ? v1::RoleKind::ClusterRole : v1::RoleKind::Role;
    rb.roleName = temporary.name;
    rb.name = temporary.name;  // a role and its binding share the name (different kinds)
    rb.user = request.spec.requester->username;
    out.push_back(std::move(rb));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.namespace_, a.name) < std::tie(b.namespace_, b.name);
  });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const auto& a, const auto& b) {
                          return a.namespace_ == b.namespace_ && a.name == b.name;
                        }),
            out.end());
  return out;
}

nlohmann::json roleBindingJson(const DesiredRoleBinding& rb, const v1::AccessRequest& request) {
  nlohmann::json j;
  j["apiVersion"] = "rbac.authorization.k8s.io/v1";
  j["kind"] = bindingKind(rb);
  j["metadata"]["name"] = rb.name;
  if (!isClusterBinding(rb)) j["metadata"]["namespace"] = rb.namespace_;
  j["metadata"]["labels"][std::string(kManagedByLabel)] = kManagedByValue;
  j["metadata"]["labels"][std::string(kRequestUidLabel)] = request.metadata.uid;
  j["metadata"]["annotations"][std::string(kRequestNameAnnotation)] = request.metadata.name;
  j["metadata"]["annotations"][std::string(kRequestNamespaceAnnotation)] =
      request.metadata.namespace_;
  j["roleRef"] = {
      {"apiGroup", kRbacApiGroup}, {"kind", v1::toString(rb.roleKind)}, {"name", rb.roleName}};
  j["subjects"] =
      nlohmann::json::array({{{"apiGroup", kRbacApiGroup}, {"kind", "User"}, {"name", rb.user}}});
  return j;
}

std::vector<DesiredTemporaryRole> desiredTemporaryRoles(const v1::AccessRequest& request) {
  std::map<std::string, DesiredTemporaryRole> byNamespace;
  if (!request.spec.requester || request.spec.requester->username.empty()) return {};
  for (const auto& rule : request.spec.rules) {
    std::vector<std::string> namespaces = rule.namespaces;
    if (rule.scope == v1::RoleScope::Cluster) {
      namespaces = {""};
    } else if (namespaces.empty()) {
      namespaces.push_back(request.metadata.namespace_);
    }
    v1::RequestedRule only = rule;
    only.namespaces.clear();
    only.scope = v1::RoleScope::Namespace;
    for (const auto& ns : namespaces) {
      auto& role = byNamespace[ns];
      if (role.name.empty()) {
        role.namespace_ = ns;
        role.name = roleBindingName(request.metadata.uid, request.metadata.name,
                                    ns.empty() ? v1::RoleKind::ClusterRole : v1::RoleKind::Role,
                                    kTemporaryRoleName);
      }
      if (std::find(role.rules.begin(), role.rules.end(), only) == role.rules.end())
        role.rules.push_back(only);
    }
  }
  std::vector<DesiredTemporaryRole> out;
  for (auto& [ns, role] : byNamespace) out.push_back(std::move(role));
  return out;
}

nlohmann::json temporaryRoleJson(const DesiredTemporaryRole& role,
                                 const v1::AccessRequest& request) {
  nlohmann::json j;
  j["apiVersion"] = "rbac.authorization.k8s.io/v1";
  j["kind"] = isClusterRole(role) ? "ClusterRole" : "Role";
  j["metadata"]["name"] = role.name;
  if (!isClusterRole(role)) j["metadata"]["namespace"] = role.namespace_;
  j["metadata"]["labels"][std::string(kManagedByLabel)] = kManagedByValue;
  j["metadata"]["labels"][std::string(kRequestUidLabel)] = request.metadata.uid;
  j["metadata"]["annotations"][std::string(kRequestNameAnnotation)] = request.metadata.name;
  j["metadata"]["annotations"][std::string(kRequestNamespaceAnnotation)] =
      request.metadata.namespace_;
  j["rules"] = nlohmann::json::array();
  for (const auto& r : role.rules) {
    nlohmann::json rule = {
        {"apiGroups", r.apiGroups}, {"resources", r.resources}, {"verbs", r.verbs}};
    if (!r.resourceNames.empty()) rule["resourceNames"] = r.resourceNames;
    j["rules"].push_back(std::move(rule));
  }
  return j;
}

v1::Grant grantFor(const DesiredTemporaryRole& role) {
  v1::Grant g;
  g.kind = isClusterRole(role) ? v1::GrantKind::ClusterRole : v1::GrantKind::Role;
  g.namespace_ = role.namespace_;
  g.name = role.name;
  return g;
}

bool roleBindingMatches(const nlohmann::json& existing, const DesiredRoleBinding& rb,
                        const v1::AccessRequest& request) {
  auto str = [](const nlohmann::json& j, const char* k) -> std::string {
    if (!j.is_object() || !j.contains(k) || !j[k].is_string()) return {};
    return j[k].get<std::string>();
  };
  if (!existing.is_object()) return false;
  const auto meta = existing.value("metadata", nlohmann::json::object());
  const auto labels = meta.value("labels", nlohmann::json::object());
  if (str(labels, std::string(kRequestUidLabel).c_str()) != request.metadata.uid) return false;
  const auto roleRef = existing.value("roleRef", nlohmann::json::object());
  if (str(roleRef, "kind") != v1::toString(rb.roleKind) || str(roleRef, "name") != rb.roleName)
    return false;
  const auto subjects = existing.value("subjects", nlohmann::json::array());
  if (!subjects.is_array() || subjects.size() != 1) return false;
  return str(subjects[0], "kind") == "User" && str(subjects[0], "name") == rb.user;
}

v1::Grant grantFor(const DesiredRoleBinding& rb) {
  v1::Grant g;
  g.kind = bindingGrantKind(rb.namespace_);
  g.namespace_ = rb.namespace_;
  g.name = rb.name;
  return g;
}

const char* bindingKind(const DesiredRoleBinding& rb) {
  return isClusterBinding(rb) ? "ClusterRoleBinding" : "RoleBinding";
}

v1::GrantKind bindingGrantKind(std::string_view namespace_) {
  return namespace_.empty() ? v1::GrantKind::ClusterRoleBinding : v1::GrantKind::RoleBinding;
}

std::string approvalsNeededMessage(const v1::AccessPolicy& policy, int remaining) {
  return fmt::format("needs {} more approval{} from {}", remaining, remaining == 1 ? "" : "s",
                     describeSubjects(policy.spec.approval.approvers));
}

void setCondition(std::vector<v1::Condition>& conditions, v1::Condition c) {
  for (auto& existing : conditions) {
    if (existing.type != c.type) continue;
    if (existing.status == c.status) c.lastTransitionTime = existing.lastTransitionTime;
    existing = std::move(c);
    return;
  }
  conditions.push_back(std::move(c));
}

const v1::DatabaseProfile* findProfile(const v1::DatabaseTarget& target, std::string_view name) {
  for (const auto& p : target.spec.profiles) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

Decision decide(const v1::AccessRequest& request, const v1::AccessPolicy* policy, TimePoint now,
                const DatabaseTargets& targets) {
  Decision p;
  const v1::AccessRequestStatus empty;
  const v1::AccessRequestStatus& st = request.status ? *request.status : empty;
  const v1::Phase cur = st.phase.value_or(v1::Phase::Pending);
  const std::string& policyName = request.spec.policy;
  p.breakGlass = st.breakGlass.value_or(false);

  auto end = [&](v1::Phase phase, std::string reason, std::string message) {
    p.step = Step::RemoveGrants;
    p.phase = phase;
    p.reason = std::move(reason);
    p.message = std::move(message);
    return p;
  };

  if (request.metadata.deletionTimestamp) {
    if (v1::isTerminal(cur)) {
      p.step = Step::RemoveGrants;
      p.phase = cur;
      p.reason = "Deleted";
      p.message = st.message.value_or("");
      return p;
    }
    return end(v1::Phase::Revoked, "Deleted",
               cur == v1::Phase::Active
                   ? "access revoked: the request was deleted; every grant was removed"
                   : "the request was deleted before access was granted");
  }

  if (v1::isTerminal(cur)) {
    p.step = Step::None;
    p.phase = cur;
    p.message = st.message.value_or("");
    Duration retain = v1::kDefaultRetainFor;
    if (policy) {
      if (auto r = v1::effectiveRetainFor(*policy)) retain = *r;
    }
    std::optional<TimePoint> base = st.endedAt ? st.endedAt : request.metadata.creationTimestamp;
    if (base) {
      TimePoint deadline = *base + std::chrono::duration_cast<WallClock::duration>(retain);
      if (now >= deadline) {
        p.step = Step::Delete;
        p.reason = "Retained";
        p.message = fmt::format("deleted after retainFor ({})", v1::formatDuration(retain));
      } else {
        p.requeueAt = deadline;
      }
    }
    return p;
  }

  // Pending, Approved or Active from here on.
  if (request.spec.revoke) {
    return end(v1::Phase::Revoked, "RevokeRequested",
               cur == v1::Phase::Active
                   ? "access revoked early (spec.revoke); every grant was removed"
                   : "withdrawn (spec.revoke) before access was granted");
  }
  if (!policy) {
    return end(
        v1::Phase::Revoked, "PolicyDeleted",
        fmt::format("{}: AccessPolicy {} was deleted",
                    cur == v1::Phase::Active ? "access revoked" : "request ended", policyName));
  }
  if (!request.spec.requester || request.spec.requester->username.empty()) {
    return end(v1::Phase::Failed, "NoRequester",
               "spec.requester is not set: create requests through the API server with the "
               "kubegrant admission webhook installed, which records the requester");
  }
  const v1::UserInfo& requester = *request.spec.requester;
  auto violations = v1::checkRequest(*policy, request.spec, requester, request.metadata.namespace_);
  if (!violations.empty()) {
    return end(
        v1::Phase::Revoked, "PolicyChanged",
        fmt::format("{}: AccessPolicy {} (generation {}) no longer allows this request: {}",
                    cur == v1::Phase::Active ? "access revoked" : "request ended", policyName,
                    policy->metadata.generation.value_or(0), v1::describe(violations)));
  }
  // Live targets, like live policies: granted access to a profile the target no longer has
  // ends. (Before activation a missing target or profile is the executor's refusal: Failed.)
  for (const auto& db : request.spec.databases) {
    auto it = targets.find(db.target);
    if (cur != v1::Phase::Active || it == targets.end()) continue;
    if (!it->second) {
      return end(v1::Phase::Revoked, "DatabaseTargetDeleted",
                 fmt::format("access revoked: DatabaseTarget {} was deleted", db.target));
    }
    if (!findProfile(*it->second, db.profile)) {
      return end(v1::Phase::Revoked, "DatabaseTargetChanged",
                 fmt::format("access revoked: DatabaseTarget {} (generation {}) no longer has "
                             "profile {}",
                             db.target, it->second->metadata.generation.value_or(0), db.profile));
    }
  }

  const auto tally = v1::countApprovals(*policy, request);
  const bool breakGlassNow = v1::isBreakGlass(*policy, requester);
  if (tally.denied) {
    p.approvers = tally.deniedBy;
    std::string who = fmt::format("{}", fmt::join(tally.deniedBy, ", "));
    std::string comments = commentsOf(request, tally.deniedBy, v1::Decision::Deny);
    if (cur == v1::Phase::Pending) {
      return end(v1::Phase::Denied, "Denied", fmt::format("denied by {}{}", who, comments));
    }
    return end(v1::Phase::Revoked, "Denied",
               fmt::format("access revoked: denied by {}{}", who, comments));
  }
  p.approvers = tally.approvers;

  const bool approved = breakGlassNow || p.breakGlass || tally.satisfied();
  // A break-glass approval stands only while the policy still names the requester in
  // autoApprove; otherwise the regular approvals must carry the request.
  const bool stillApproved = breakGlassNow || tally.satisfied();
  if (!approved || (cur != v1::Phase::Pending && !stillApproved)) {
    if (cur != v1::Phase::Pending) {
      return end(v1::Phase::Revoked, "PolicyChanged",
                 fmt::format("access revoked: AccessPolicy {} changed and the approvals no longer "
                             "satisfy it ({})",
                             policyName, approvalsNeededMessage(*policy, tally.remaining)));
    }
    auto timeout = v1::effectivePendingTimeout(*policy);
    Duration pendingTimeout = timeout ? *timeout : v1::kDefaultPendingTimeout;
    std::optional<TimePoint> deadline;
    if (request.metadata.creationTimestamp) {
      deadline = *request.metadata.creationTimestamp +
                 std::chrono::duration_cast<WallClock::duration>(pendingTimeout);
    }
    if (deadline && now >= *deadline) {
      return end(v1::Phase::Expired, "PendingTimeout",
                 fmt::format("not approved within pendingTimeout ({}) of AccessPolicy {}; no "
                             "access was granted",
                             v1::formatDuration(pendingTimeout), policyName));
    }
    p.step = Step::None;
    p.phase = v1::Phase::Pending;
    p.reason = "AwaitingApproval";
    p.message =
        fmt::format("waiting for approval: {}", approvalsNeededMessage(*policy, tally.remaining));
    if (tally.approvals > 0)
      p.message += fmt::format(" (approved so far by {})", fmt::join(tally.approvers, ", "));
    if (deadline) p.message += fmt::format("; ends unapproved at {}", formatRfc3339(*deadline));
    p.requeueAt = deadline;
    return p;
  }

  if (cur == v1::Phase::Pending) {
    p.approvedNow = true;
    if (breakGlassNow) p.breakGlass = true;
  }

  auto duration = v1::effectiveDuration(*policy, request.spec);
  if (!duration) {
    return end(v1::Phase::Failed, "InvalidDuration",
               fmt::format("cannot compute the access duration: {}", duration.error().message));
  }
  p.duration = *duration;

  if (cur == v1::Phase::Active) {
    std::optional<TimePoint> expiresAt = st.expiresAt;
    if (!expiresAt && st.activatedAt) expiresAt = v1::expiryFor(*st.activatedAt, p.duration);
    if (!expiresAt || now >= *expiresAt) {
      return end(v1::Phase::Expired, "Expired",
                 fmt::format("access expired at {}; every grant was removed",
                             expiresAt ? formatRfc3339(*expiresAt) : std::string("(unknown)")));
    }
    p.step = Step::EnsureGrants;
    p.phase = v1::Phase::Active;
    p.reason = "Granted";
    p.requeueAt = expiresAt;
    return p;
  }

  // Approved (now or earlier), not active yet.
  if (request.spec.startAt) {
    auto startAt = parseRfc3339(*request.spec.startAt);
    if (startAt && *startAt > now) {
      p.step = Step::None;
      p.phase = v1::Phase::Approved;
      p.reason = "Scheduled";
      p.message = fmt::format("approved; access starts at {} and lasts {}", formatRfc3339(*startAt),
                              v1::formatDuration(p.duration));
      p.requeueAt = *startAt;
      return p;
    }
  }
  p.step = Step::Activate;
  p.phase = v1::Phase::Active;
  p.reason = "Granted";
  return p;
}

namespace {

// The Approved condition for the status after `p`.
std::optional<v1::Condition> approvedCondition(const v1::AccessRequestStatus& st,
                                               const Decision& p) {
  if (p.phase == v1::Phase::Pending) {
    return condition(kConditionApproved, false, "AwaitingApproval", p.message);
  }
  if (p.phase == v1::Phase::Denied) {
    return condition(kConditionApproved, false, "Denied", p.message);
  }
  if (p.reason == "PendingTimeout") {
    return condition(kConditionApproved, false, "PendingTimeout", p.message);
  }
  if (p.phase == v1::Phase::Approved || p.phase == v1::Phase::Active) {
    if (p.breakGlass) {
      return condition(kConditionApproved, true, "BreakGlass",
                       "approved automatically: the requester is in the policy's autoApprove "
                       "(break-glass)");
    }
    if (p.approvers.empty()) {
      return condition(kConditionApproved, true, "NoApprovalRequired",
                       "approved automatically: the policy requires no approval");
    }
    return condition(kConditionApproved, true, "Approved",
                     fmt::format("approved by {}", fmt::join(p.approvers, ", ")));
  }
  // Other terminal outcomes keep whatever was true about the approval; a request that ends
  // before any approval says so.
  if (!st.approvedAt && !p.approvedNow) {
    return condition(kConditionApproved, false, p.reason, p.message);
  }
  return std::nullopt;
}

}  // namespace

v1::AccessRequestStatus nextStatus(const v1::AccessRequest& request, const Decision& p,
                                   const std::vector<v1::Grant>& grants, TimePoint now) {
  v1::AccessRequestStatus st = request.status.value_or(v1::AccessRequestStatus{});
  const TimePoint t = seconds(now);
  const auto generation = request.metadata.generation;
  st.phase = p.phase;
  st.observedGeneration = generation;
  st.breakGlass = p.breakGlass || st.breakGlass.value_or(false);
  if (p.approvedNow && !st.approvedAt) st.approvedAt = t;

  auto keepOthers = [&](std::vector<v1::Grant> rbs) {
    // The same object (kind, namespace, name, target) is listed once, as `grants` says now
    // (a DatabaseUser's profileHash changes when its profile is re-applied).
    auto same = [](const v1::Grant& a, const v1::Grant& b) {
      return a.kind == b.kind && a.namespace_ == b.namespace_ && a.name == b.name &&
             a.target == b.target;
    };
    for (const auto& g : st.grants) {
      const bool binding =
          g.kind == v1::GrantKind::RoleBinding || g.kind == v1::GrantKind::ClusterRoleBinding;
      if (!binding &&
          std::none_of(rbs.begin(), rbs.end(), [&](const v1::Grant& r) { return same(r, g); })) {
        rbs.push_back(g);
      }
    }
    return rbs;
  };

  std::string message = p.message;
  switch (p.step) {
    case Step::Activate:
      st.activatedAt = t;
      st.expiresAt = v1::expiryFor(t, p.duration);
      st.grants = keepOthers(grants);
      break;
    case Step::EnsureGrants:
      st.grants = keepOthers(grants);
      break;
    case Step::RemoveGrants:
      if (!st.endedAt) st.endedAt = t;
      if (!st.grants.empty() && message.find("grant") == std::string::npos) {
        message += fmt::format(" (removed {})", grantNames(st.grants));
      }
      st.grants.clear();
      break;
    case Step::None:
    case Step::Delete:
      break;
  }
  if (p.phase == v1::Phase::Active) {
    std::string how = p.breakGlass ? "break-glass, approved automatically"
                      : p.approvers.empty()
                          ? "no approval required"
                          : fmt::format("approved by {}", fmt::join(p.approvers, ", "));
    message = fmt::format("access granted until {} ({}): {}",
                          st.expiresAt ? formatRfc3339(*st.expiresAt) : std::string("?"), how,
                          grantNames(st.grants));
  }
  if (p.step != Step::Delete && !message.empty()) st.message = message;

  if (auto c = approvedCondition(st, p)) {
    c->observedGeneration = generation;
    c->lastTransitionTime = t;
    setCondition(st.conditions, std::move(*c));
  }
  v1::Condition granted;
  if (p.phase == v1::Phase::Active) {
    granted = condition(kConditionGranted, true, "Granted", st.message.value_or(""));
  } else {
    granted =
        condition(kConditionGranted, false, p.reason.empty() ? std::string("NotGranted") : p.reason,
                  st.message.value_or(""));
  }
  granted.observedGeneration = generation;
  granted.lastTransitionTime = t;
  setCondition(st.conditions, std::move(granted));
  return st;
}

std::optional<TimePoint> nextRequeue(const Decision& decision,
                                     const v1::AccessRequestStatus& status,
                                     const v1::AccessPolicy* policy) {
  if (decision.requeueAt) return decision.requeueAt;
  const v1::Phase phase = status.phase.value_or(v1::Phase::Pending);
  if (phase == v1::Phase::Active && status.expiresAt) return status.expiresAt;
  if (v1::isTerminal(phase) && status.endedAt && decision.step != Step::Delete) {
    Duration retain = v1::kDefaultRetainFor;
    if (policy) {
      if (auto r = v1::effectiveRetainFor(*policy)) retain = *r;
    }
    return *status.endedAt + std::chrono::duration_cast<WallClock::duration>(retain);
  }
  return std::nullopt;
}

v1::AccessRequestStatus failedStatus(const v1::AccessRequest& request, std::string reason,
                                     std::string message, TimePoint now) {
  Decision p;
  p.step = Step::RemoveGrants;
  p.phase = v1::Phase::Failed;
  p.reason = std::move(reason);
  p.message = std::move(message);
  p.breakGlass = request.status && request.status->breakGlass.value_or(false);
  return nextStatus(request, p, {}, now);
}

}  // namespace kubegrant::controllers::access_request
