#include "controllers/access_request/plan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <set>

#include "controllers/access_request/database_bundle.h"
#include "controllers/database/credentials.h"
#include "controllers/database/sql.h"
#include "crds/v1alpha1/policy.h"

namespace kubegrant::controllers::access_request {
namespace {

v1::Phase phaseOf(const v1::AccessRequest& r) {
  return r.status && r.status->phase ? *r.status->phase : v1::Phase::Pending;
}

std::optional<AuditEvent> endEvent(v1::Phase phase) {
  switch (phase) {
    case v1::Phase::Denied:
      return AuditEvent::Denied;
    case v1::Phase::Expired:
      return AuditEvent::Expired;
    case v1::Phase::Revoked:
      return AuditEvent::Revoked;
    case v1::Phase::Failed:
      return AuditEvent::Failed;
    default:
      return std::nullopt;
  }
}

// Every grant the request may have: those recorded in status.grants, and those its spec
// names deterministically (an interrupted activation may have created them). Kubernetes
// first (RoleBindings, then each database Secret and its reader Role), so they go on time
// even when a database is down; then every database user.
void removeAll(const v1::AccessRequest& request, std::vector<Effect>& out) {
  std::map<kube::ObjectKey, bool> targets;    // key -> recorded in status.grants
  std::map<std::string, DatabaseUser> users;  // target -> user
  for (const auto& d : request.spec.databases) {
    users[d.target] = {d.target, database::roleNameFor(request.metadata.uid, d.target), false};
  }
  if (request.status) {
    for (const auto& g : request.status->grants) {
      if (g.kind == v1::GrantKind::RoleBinding) targets[{g.namespace_, g.name}] = true;
      if (g.kind == v1::GrantKind::ClusterRoleBinding) targets[{"", g.name}] = true;
      if (g.kind == v1::GrantKind::DatabaseUser) users[g.target] = {g.target, g.name, true};
    }
  }
  for (const auto& rb : desiredRoleBindings(request))
    targets.try_emplace({rb.namespace_, rb.name}, false);
  for (const auto& d : request.spec.databases) {
    const auto rb = secretReaderBinding(request, d.target);
    targets.try_emplace({rb.namespace_, rb.name}, false);
  }
  for (const auto& [key, recorded] : targets) out.push_back(RemoveRoleBinding{key, recorded});
  // The temporary roles of spec.rules, once nothing binds them.
  std::set<std::pair<LabelledKind, kube::ObjectKey>> temporary;
  for (const auto& role : desiredTemporaryRoles(request)) {
    temporary.insert({isClusterRole(role) ? LabelledKind::ClusterRole : LabelledKind::Role,
                      {role.namespace_, role.name}});
  }
  if (request.status) {
    for (const auto& g : request.status->grants) {
      if (g.kind == v1::GrantKind::Role)
        temporary.insert({LabelledKind::Role, {g.namespace_, g.name}});
      if (g.kind == v1::GrantKind::ClusterRole)
        temporary.insert({LabelledKind::ClusterRole, {"", g.name}});
    }
  }
  for (const auto& [kind, key] : temporary) out.push_back(RemoveLabelled{kind, key});
  if (users.empty()) return;
  const std::string& ns = request.metadata.namespace_;
  RevokeDatabaseUsers revoke;
  for (auto& [target, user] : users) {
    out.push_back(RemoveLabelled{
        LabelledKind::Secret, {ns, database::connectionSecretName(request.metadata.name, target)}});
    out.push_back(RemoveLabelled{LabelledKind::Role, {ns, secretReaderRoleName(request, target)}});
    revoke.users.push_back(std::move(user));
  }
  out.push_back(std::move(revoke));
}

// The DatabaseUser grant recorded for `target`, or nullptr.
const v1::Grant* recordedUser(const v1::AccessRequest& request, const std::string& target) {
  if (!request.status) return nullptr;
  for (const auto& g : request.status->grants) {
    if (g.kind == v1::GrantKind::DatabaseUser && g.target == target) return &g;
  }
  return nullptr;
}

// The grants of Activate/EnsureGrants, database parts first: until the RoleBindings exist the
// requester can read neither a database Secret nor anything else, so a failure on the way
// leaves no access behind.
void ensureAll(const v1::AccessRequest& request, const Decision& d, TimePoint now,
               const DatabaseTargets& targets, std::vector<Effect>& out,
               std::vector<v1::Grant>& grants) {
  auto bindings = desiredRoleBindings(request);
  if (!request.spec.databases.empty()) {
    const bool keep = d.step == Step::EnsureGrants;
    const TimePoint expiresAt = keep && request.status && request.status->expiresAt
                                    ? *request.status->expiresAt
                                    : v1::expiryFor(now, d.duration);
    for (const auto& db : request.spec.databases) {
      const std::string role = database::roleNameFor(request.metadata.uid, db.target);
      out.push_back(EnsureDatabaseUser{db.target, db.profile, expiresAt, keep});
      v1::Grant user{v1::GrantKind::DatabaseUser, "", role, db.target};
      user.profile = db.profile;
      const v1::Grant* recorded = recordedUser(request, db.target);
      if (recorded) user.profileHash = recorded->profileHash;
      auto t = targets.find(db.target);
      const v1::DatabaseProfile* profile =
          t != targets.end() && t->second ? findProfile(*t->second, db.profile) : nullptr;
      if (profile) {
        const std::string hash = database::profileHash(*t->second, *profile);
        // An issued user (kept) whose profile changed since: re-applied in place. A user issued
        // now gets the profile as it is.
        if (keep && user.profileHash != hash) {
          out.push_back(ReapplyDatabaseProfile{db.target, db.profile, role});
        }
        user.profileHash = hash;
      }
      grants.push_back(std::move(user));
      grants.push_back({v1::GrantKind::Secret, request.metadata.namespace_,
                        database::connectionSecretName(request.metadata.name, db.target), ""});
      bindings.push_back(secretReaderBinding(request, db.target));
    }
  }
  // A temporary role exists before the binding that hands it to the requester.
  for (auto& role : desiredTemporaryRoles(request)) {
    grants.push_back(grantFor(role));
    out.push_back(EnsureTemporaryRole{std::move(role)});
  }
  for (auto& rb : bindings) {
    grants.push_back(grantFor(rb));
    out.push_back(EnsureRoleBinding{std::move(rb)});
  }
}

// What to tell once `after` (the request with its new status) is written.
void announce(const v1::AccessRequest& before, const v1::AccessRequest& after, const Decision& d,
              std::vector<Effect>& out) {
  const v1::Phase from = phaseOf(before);
  const v1::Phase to = phaseOf(after);
  const bool first = !before.status || !before.status->phase;
  if (first) {
    out.push_back(Record{AuditEvent::Requested,
                         after,
                         {},
                         "Normal",
                         "Requested",
                         fmt::format("{} requested access under AccessPolicy {}",
                                     before.spec.requester ? before.spec.requester->username : "?",
                                     before.spec.policy)});
  }
  if (from != to) out.push_back(CountTransition{to});
  const std::string& message = after.status->message ? *after.status->message : d.message;
  const bool wasApproved = before.status && before.status->approvedAt.has_value();
  if (!wasApproved && after.status->approvedAt) {
    std::string how = d.breakGlass ? "approved automatically (break-glass)"
                      : d.approvers.empty()
                          ? "approved automatically (the policy requires no approval)"
                          : fmt::format("approved by {}", fmt::join(d.approvers, ", "));
    out.push_back(Record{AuditEvent::Approved, after, d.approvers,
                         d.breakGlass ? "Warning" : "Normal",
                         d.breakGlass ? "BreakGlass" : "Approved", how});
  }
  if (from != to && to == v1::Phase::Active) {
    out.push_back(Record{AuditEvent::Granted, after, d.approvers, "Normal", "Granted", message});
  } else if (from != to) {
    if (auto e = endEvent(to)) {
      // The audit line of an ending names what was removed (the new status no longer lists
      // it) and who approved the access that is ending, from the recorded decisions.
      v1::AccessRequest ended = after;
      if (before.status) ended.status->grants = before.status->grants;
      std::vector<std::string> approvers = d.approvers;
      if (approvers.empty()) {
        for (const auto& a : after.status->approvals) {
          if (a.decision == v1::Decision::Approve && a.approver &&
              std::find(approvers.begin(), approvers.end(), *a.approver) == approvers.end()) {
            approvers.push_back(*a.approver);
          }
        }
      }
      out.push_back(Record{*e, std::move(ended), std::move(approvers),
                           to == v1::Phase::Expired ? "Normal" : "Warning",
                           d.reason.empty() ? v1::toString(to) : d.reason, message});
    }
  }
  if (d.step == Step::Activate && after.status->approvedAt) {
    out.push_back(ObserveLatency{Latency::ApprovalToActive, *after.status->approvedAt});
  }
  if (to == v1::Phase::Expired && from == v1::Phase::Active && before.status &&
      before.status->expiresAt) {
    out.push_back(ObserveLatency{Latency::ExpiryLag, *before.status->expiresAt});
  }
}

// The status write and what to tell about it, unless nothing changed.
void writeStatus(const v1::AccessRequest& request, const Decision& d,
                 v1::AccessRequestStatus status, std::vector<Effect>& out) {
  const bool first = !request.status || !request.status->phase;
  if (!first && request.status && status == *request.status) return;
  v1::AccessRequest after = request;
  after.status = status;
  out.push_back(WriteStatus{std::move(status)});
  announce(request, after, d, out);
}

// The request as it is once `effects` are performed: with the status they write, if any.
v1::AccessRequest after(const v1::AccessRequest& request, const std::vector<Effect>& effects) {
  v1::AccessRequest out = request;
  for (const auto& e : effects) {
    if (const auto* w = std::get_if<WriteStatus>(&e)) out.status = w->status;
  }
  return out;
}

void addNotifications(const v1::AccessRequest& request, const v1::AccessPolicy* policy,
                      TimePoint now, const NotifyContext* notify, Plan& out) {
  if (notify == nullptr) return;
  planNotifications(after(request, out.effects), policy, now, *notify, out.effects, out.requeueAt);
}

}  // namespace

Plan plan(const v1::AccessRequest& request, const v1::AccessPolicy* policy, TimePoint now,
          const DatabaseTargets& targets, const NotifyContext* notify) {
  const Decision d = decide(request, policy, now, targets);
  Plan out;
  std::vector<v1::Grant> grants;
  switch (d.step) {
    case Step::Activate:
    case Step::EnsureGrants:
      ensureAll(request, d, now, targets, out.effects, grants);
      break;
    case Step::RemoveGrants:
      removeAll(request, out.effects);
      break;
    case Step::Delete:
      out.effects.push_back(DeleteRequest{});
      return out;
    case Step::None:
      break;
  }
  if (v1::isTerminal(phaseOf(request))) {
    out.requeueAt = d.requeueAt;
    addNotifications(request, policy, now, notify, out);
    return out;
  }
  v1::AccessRequestStatus status = nextStatus(request, d, grants, now);
  if (!request.metadata.deletionTimestamp) out.requeueAt = nextRequeue(d, status, policy);
  writeStatus(request, d, std::move(status), out.effects);
  addNotifications(request, policy, now, notify, out);
  return out;
}

Plan planRefusal(const v1::AccessRequest& request, const v1::AccessPolicy* policy,
                 const GrantRefused& refused, TimePoint now, const NotifyContext* notify) {
  Decision d = decide(request, policy, now);
  d.step = Step::RemoveGrants;
  d.phase = v1::Phase::Failed;
  d.reason = refused.reason;
  d.message = refused.message;
  d.requeueAt.reset();
  Plan out;
  removeAll(request, out.effects);
  v1::AccessRequestStatus status = failedStatus(request, refused.reason, refused.message, now);
  if (!request.metadata.deletionTimestamp) out.requeueAt = nextRequeue(d, status, policy);
  writeStatus(request, d, std::move(status), out.effects);
  addNotifications(request, policy, now, notify, out);
  return out;
}

}  // namespace kubegrant::controllers::access_request
