#include "controllers/access_request/reconciler.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <set>
#include <variant>

#include "controllers/access_request/database_bundle.h"
#include "crds/v1alpha1/policy.h"
#include "operator/common/log.h"
#include "operator/common/time.h"
#include "operator/runtime/finalizer.h"

namespace kubegrant::controllers::access_request {
namespace {

constexpr std::string_view kLogger = "accessrequest";

double secondsBetween(TimePoint from, TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

runtime::Action after(std::optional<TimePoint> at, TimePoint now) {
  if (!at) return runtime::Action::awaitChange();
  Duration d = std::chrono::duration_cast<Duration>(*at - now);
  if (d < Duration::zero()) d = Duration::zero();
  return runtime::Action::requeueAfter(d);
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

}  // namespace

AccessRequestReconciler::AccessRequestReconciler(kube::Client& client, Clock& clock,
                                                 AuditLog* audit, EventFn events,
                                                 metrics::Registry* metrics,
                                                 ReconcilerOptions options)
    : client_(client),
      clock_(clock),
      audit_(audit),
      events_(std::move(events)),
      options_(std::move(options)) {
  if (metrics) {
    transitions_ =
        &metrics->counter("kubegrant_accessrequest_transitions_total",
                          "AccessRequest phase transitions written, by new phase.", {"phase"});
    approvalToActive_ =
        &metrics->histogram("kubegrant_accessrequest_approval_to_active_seconds",
                            "Time from the approval being observed to the grants being in place.",
                            {}, {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5});
    expiryLag_ =
        &metrics->histogram("kubegrant_accessrequest_expiry_lag_seconds",
                            "Time from status.expiresAt to every grant being verified gone.", {},
                            {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60});
    grantOps_ =
        &metrics->counter("kubegrant_grant_operations_total",
                          "RoleBinding operations by the controller.", {"operation", "result"});
  }
}

Result<runtime::Action> AccessRequestReconciler::reconcile(const runtime::NamespacedName& key) {
  RequestPtr request = options_.requestReader ? options_.requestReader(key) : nullptr;
  const bool fresh = request == nullptr;
  if (fresh) {
    auto read = readRequest(key);
    if (!read) return std::unexpected(read.error());
    if (!*read) return runtime::Action::awaitChange();
    request = std::move(*read);
  }
  return runtime::reconcileWithFinalizer<v1::AccessRequest>(
      client_, kube::resources::accessRequests(), *request, v1::kRevokeFinalizer,
      [&](const v1::AccessRequest&) { return sync(request, fresh); },
      [&](const v1::AccessRequest&) -> Result<void> {
        if (auto r = sync(request, fresh); !r) return std::unexpected(r.error());
        return ok();
      });
}

Result<RequestPtr> AccessRequestReconciler::readRequest(const runtime::NamespacedName& key) {
  auto obj = client_.get(kube::resources::accessRequests(), key);
  if (!obj) {
    if (obj.error().code == ErrorCode::NotFound) return nullptr;
    return std::unexpected(obj.error());
  }
  auto decoded = v1::fromJson<v1::AccessRequest>(obj->body);
  if (!decoded) {
    log::warn(kLogger, "cannot decode AccessRequest",
              {{"request", key.toString()}, {"error", decoded.error().message}});
    // Retrying reads the same bytes: only a change to the object can help.
    return std::unexpected(runtime::terminal(decoded.error()));
  }
  return std::make_shared<const v1::AccessRequest>(std::move(*decoded));
}

Result<PolicyPtr> AccessRequestReconciler::readPolicy(const std::string& name) {
  if (options_.policyReader) {
    if (auto cached = options_.policyReader(name)) return cached;
  }
  auto p = client_.get(kube::resources::accessPolicies(), {"", name});
  if (!p) {
    if (p.error().code == ErrorCode::NotFound) return nullptr;
    return std::unexpected(p.error());
  }
  auto decoded = v1::fromJson<v1::AccessPolicy>(p->body);
  if (!decoded) return std::unexpected(decoded.error());
  return std::make_shared<const v1::AccessPolicy>(std::move(*decoded));
}

Result<runtime::Action> AccessRequestReconciler::sync(RequestPtr requestPtr, bool fresh) {
  const v1::AccessRequest& request = *requestPtr;
  const runtime::NamespacedName key{request.metadata.namespace_, request.metadata.name};
  const bool deleting = request.metadata.deletionTimestamp.has_value();
  auto policyRead = readPolicy(request.spec.policy);
  if (!policyRead) return std::unexpected(policyRead.error());
  const v1::AccessPolicy* policy = policyRead->get();

  const TimePoint now = clock_.now();
  Plan p = plan(request, policy, now);
  if (!fresh && (p.step == Step::Activate || p.step == Step::EnsureGrants)) {
    // About to grant: the cached copy may predate a revoke. Only the API server's copy may
    // confirm the request still allows access; a newer one is planned afresh.
    auto current = readRequest(key);
    if (!current) return std::unexpected(current.error());
    if (!*current) return runtime::Action::awaitChange();
    if ((*current)->metadata.resourceVersion != request.metadata.resourceVersion) {
      return sync(std::move(*current), true);
    }
  }
  const v1::Phase cur =
      request.status && request.status->phase ? *request.status->phase : v1::Phase::Pending;
  const bool firstStatus = !request.status || !request.status->phase;
  log::debug(kLogger, "plan",
             {{"request", key.toString()},
              {"phase", v1::toString(cur)},
              {"step", toString(p.step)},
              {"next", v1::toString(p.phase)}});

  std::vector<v1::Grant> grants;
  std::optional<v1::AccessRequestStatus> status;
  switch (p.step) {
    case Step::Activate:
    case Step::EnsureGrants: {
      const TimePoint expiresAt =
          p.step == Step::EnsureGrants && request.status && request.status->expiresAt
              ? *request.status->expiresAt
              : v1::expiryFor(now, p.duration);
      auto r = ensureGrants(request, p.step == Step::EnsureGrants, expiresAt);
      if (!r) return std::unexpected(r.error());
      if (auto* failure = std::get_if<GrantFailure>(&*r)) {
        status = failedStatus(request, failure->reason, failure->message, clock_.now());
        p.phase = v1::Phase::Failed;
        p.reason = failure->reason;
        p.step = Step::RemoveGrants;
        p.requeueAt.reset();
      } else {
        grants = std::get<std::vector<v1::Grant>>(*r);
      }
      break;
    }
    case Step::RemoveGrants: {
      if (auto r = removeGrants(request); !r) return std::unexpected(r.error());
      break;
    }
    case Step::Delete: {
      kube::DeleteOptions d;
      d.preconditionUid = request.metadata.uid;
      auto r = client_.remove(kube::resources::accessRequests(), key, d);
      if (!r && r.error().code != ErrorCode::NotFound) return std::unexpected(r.error());
      log::info(kLogger, "deleted request after retainFor", {{"request", key.toString()}});
      return runtime::Action::awaitChange();
    }
    case Step::None:
      break;
  }

  // The status of a request that already ended is its audit record: never rewritten.
  if (!v1::isTerminal(cur)) {
    const TimePoint writeTime = clock_.now();
    if (!status) status = nextStatus(request, p, grants, writeTime);
    if (firstStatus || !request.status || *status != *request.status) {
      if (auto w = writeStatus(request, *status); !w) {
        if (w.error().code == ErrorCode::NotFound && deleting) {
          // Gone already (another replica finished): nothing left to do.
          return runtime::Action::awaitChange();
        }
        return std::unexpected(w.error());
      }
      v1::AccessRequest after = request;
      after.status = *status;
      if (firstStatus) {
        record(AuditEvent::Requested, after, {}, "Normal", "Requested",
               fmt::format("{} requested access under AccessPolicy {}",
                           request.spec.requester ? request.spec.requester->username : "?",
                           request.spec.policy));
      }
      announce(request, after, p);
      if (p.step == Step::Activate && approvalToActive_ && status->approvedAt) {
        // approvedAt has second precision; the histogram is the time from it to now.
        approvalToActive_->with().observe(
            std::max(0.0, secondsBetween(*status->approvedAt, writeTime)));
      }
      if (p.phase == v1::Phase::Expired && cur == v1::Phase::Active && expiryLag_ &&
          request.status && request.status->expiresAt) {
        expiryLag_->with().observe(
            std::max(0.0, secondsBetween(*request.status->expiresAt, writeTime)));
      }
    }
  }

  if (deleting) return runtime::Action::awaitChange();
  std::optional<TimePoint> requeueAt = p.requeueAt;
  if (status) requeueAt = nextRequeue(p, *status, policy);
  return after(requeueAt, clock_.now());
}

Result<std::variant<std::vector<v1::Grant>, AccessRequestReconciler::GrantFailure>>
AccessRequestReconciler::ensureGrants(const v1::AccessRequest& request, bool checkFirst,
                                      TimePoint expiresAt) {
  const auto ref = kube::resources::roleBindings();
  std::vector<v1::Grant> grants;
  auto desired = desiredRoleBindings(request);
  if (options_.databases && !request.spec.databases.empty()) {
    // The database bundle first: until the RoleBindings below exist, the requester can read
    // neither its Secret nor anything else, so a failure here leaves no access behind.
    auto db = ensureDatabaseGrants(request, checkFirst, expiresAt);
    if (!db) return std::unexpected(db.error());
    if (auto* failure = std::get_if<GrantFailure>(&*db)) {
      if (auto r = removeGrants(request); !r) return std::unexpected(r.error());
      return *failure;
    }
    for (auto& g : std::get<std::vector<v1::Grant>>(*db)) grants.push_back(std::move(g));
    for (const auto& d : request.spec.databases) {
      desired.push_back(secretReaderBinding(request, d.target));
    }
  }
  auto count = [&](const char* op, const char* result) {
    if (grantOps_) grantOps_->with({op, result}).inc();
  };
  auto giveUp = [&](const DesiredRoleBinding& rb,
                    const Error& e) -> Result<std::variant<std::vector<v1::Grant>, GrantFailure>> {
    // Nothing partial may stay: remove what this request has before reporting Failed.
    if (auto r = removeGrants(request); !r) return std::unexpected(r.error());
    GrantFailure f;
    std::string what = fmt::format("{} {}", v1::toString(rb.roleKind), rb.roleName);
    if (e.code == ErrorCode::Forbidden) {
      f.reason = "GrantForbidden";
      f.message = fmt::format(
          "cannot create RoleBinding {}/{} for {}: the operator may not bind it (Kubernetes "
          "RBAC escalation rules require the operator to hold the role's permissions or have "
          "`bind` on it; add it to operator/deploy/rbac-operator.yaml); nothing was granted. "
          "API server said: {}",
          rb.namespace_, rb.name, what, e.message);
    } else if (e.code == ErrorCode::NotFound) {
      f.reason = "NamespaceNotFound";
      f.message = fmt::format(
          "cannot create RoleBinding {}/{} for {}: namespace {} does not exist; nothing was "
          "granted",
          rb.namespace_, rb.name, what, rb.namespace_);
    } else {
      f.reason = "GrantInvalid";
      f.message = fmt::format("cannot create RoleBinding {}/{} for {}: {}; nothing was granted",
                              rb.namespace_, rb.name, what, e.message);
    }
    log::warn(kLogger, "grant failed",
              {{"request", request.metadata.namespace_ + "/" + request.metadata.name},
               {"roleBinding", rb.namespace_ + "/" + rb.name},
               {"error", e.describe()}});
    return f;
  };
  auto terminal = [](const Error& e) {
    return e.code == ErrorCode::Forbidden || e.code == ErrorCode::NotFound ||
           e.code == ErrorCode::Invalid || e.code == ErrorCode::BadRequest;
  };

  for (const auto& rb : desired) {
    const kube::ObjectKey key{rb.namespace_, rb.name};
    if (checkFirst) {
      auto existing = client_.get(ref, key);
      if (existing && roleBindingMatches(existing->body, rb, request)) {
        grants.push_back(grantFor(rb));
        continue;
      }
      if (!existing && existing.error().code != ErrorCode::NotFound)
        return std::unexpected(existing.error());
    }
    kube::WriteOptions wo;
    wo.fieldManager = options_.fieldManager;
    auto created = client_.create(ref, kube::Object(roleBindingJson(rb, request)), wo);
    if (created) {
      count("create", "ok");
      grants.push_back(grantFor(rb));
      continue;
    }
    if (created.error().code != ErrorCode::AlreadyExists) {
      count("create", "error");
      if (terminal(created.error())) return giveUp(rb, created.error());
      return std::unexpected(created.error());
    }
    // Something already has the name: ours from an interrupted activation (adopt it) or a
    // stale/foreign binding (replace it: roleRef is immutable and subjects must be exact).
    auto existing = client_.get(ref, key);
    if (!existing) return std::unexpected(existing.error());
    if (roleBindingMatches(existing->body, rb, request)) {
      count("adopt", "ok");
      grants.push_back(grantFor(rb));
      continue;
    }
    kube::DeleteOptions d;
    d.preconditionUid = existing->uid();
    if (auto r = client_.remove(ref, key, d); !r && r.error().code != ErrorCode::NotFound)
      return std::unexpected(r.error());
    auto again = client_.create(ref, kube::Object(roleBindingJson(rb, request)), wo);
    if (!again) {
      count("create", "error");
      if (terminal(again.error())) return giveUp(rb, again.error());
      return std::unexpected(again.error());
    }
    count("replace", "ok");
    grants.push_back(grantFor(rb));
  }
  return grants;
}

Result<void> AccessRequestReconciler::removeRoleBinding(const kube::ObjectKey& key,
                                                        const std::string& requestUid,
                                                        bool recorded) {
  const auto ref = kube::resources::roleBindings();
  kube::DeleteOptions d;
  std::string existingUid;
  if (!recorded) {
    // A binding we merely computed the name of is deleted only when it carries our uid (one
    // recorded in status.grants was created by us, so it goes without this extra read).
    auto existing = client_.get(ref, key);
    if (!existing) {
      if (existing.error().code == ErrorCode::NotFound) return ok();
      return std::unexpected(existing.error());
    }
    auto labels = existing->labels();
    auto it = labels.find(std::string(kRequestUidLabel));
    if (it == labels.end() || it->second != requestUid) return ok();
    existingUid = existing->uid();
    d.preconditionUid = existingUid;
  }
  auto r = client_.remove(ref, key, d);
  if (!r && r.error().code != ErrorCode::NotFound) {
    if (grantOps_) grantOps_->with({"delete", "error"}).inc();
    return std::unexpected(r.error());
  }
  if (grantOps_) grantOps_->with({"delete", "ok"}).inc();
  // Verify: revocation is done only when the API server no longer has the binding. Its
  // answer says so (NotFound, or deleted at once); a binding held by someone's finalizer
  // still grants, so that is not done.
  if (r && !r->gone()) {
    return fail(
        ErrorCode::Unavailable,
        fmt::format("RoleBinding {} is still held by finalizers [{}] after delete; retrying",
                    key.toString(), fmt::join(r->pending->finalizers(), ", ")));
  }
  return ok();
}

Result<void> AccessRequestReconciler::removeGrants(const v1::AccessRequest& request) {
  std::map<kube::ObjectKey, bool> targets;  // key -> recorded in status.grants
  if (request.status) {
    for (const auto& g : request.status->grants) {
      if (g.kind == v1::GrantKind::RoleBinding) targets[{g.namespace_, g.name}] = true;
    }
  }
  for (const auto& rb : desiredRoleBindings(request))
    targets.try_emplace({rb.namespace_, rb.name}, false);
  for (const auto& d : request.spec.databases) {
    const auto rb = secretReaderBinding(request, d.target);
    targets.try_emplace({rb.namespace_, rb.name}, false);
  }
  for (const auto& [key, recorded] : targets) {
    if (auto r = removeRoleBinding(key, request.metadata.uid, recorded); !r) return r;
  }
  return removeDatabaseGrants(request);
}

Result<void> AccessRequestReconciler::writeStatus(const v1::AccessRequest& request,
                                                  const v1::AccessRequestStatus& status) {
  // metadata.resourceVersion is the precondition: a write based on a stale read is a Conflict.
  v1::AccessRequest updated = request;
  updated.status = status;
  kube::WriteOptions wo;
  wo.fieldManager = options_.fieldManager;
  auto r = client_.updateStatus(kube::resources::accessRequests(),
                                kube::Object(v1::toJson(updated)), wo);
  if (!r) return std::unexpected(r.error());
  return ok();
}

void AccessRequestReconciler::record(AuditEvent event, const v1::AccessRequest& request,
                                     const std::vector<std::string>& approvers,
                                     const std::string& type, const std::string& reason,
                                     const std::string& message) {
  if (audit_) audit_->write(auditRecord(event, request, approvers, clock_.now()));
  if (events_) events_(request, RequestEvent{type, reason, message});
  log::info(kLogger, toString(event),
            {{"request", request.metadata.namespace_ + "/" + request.metadata.name},
             {"reason", reason},
             {"message", message}});
}

void AccessRequestReconciler::announce(const v1::AccessRequest& before,
                                       const v1::AccessRequest& after, const Plan& p) {
  const v1::Phase from =
      before.status && before.status->phase ? *before.status->phase : v1::Phase::Pending;
  const v1::Phase to = after.status->phase.value_or(v1::Phase::Pending);
  const std::string& message = after.status->message ? *after.status->message : p.message;
  if (from != to && transitions_) transitions_->with({v1::toString(to)}).inc();
  const bool wasApproved = before.status && before.status->approvedAt.has_value();
  if (!wasApproved && after.status->approvedAt) {
    std::string how = p.breakGlass ? "approved automatically (break-glass)"
                      : p.approvers.empty()
                          ? "approved automatically (the policy requires no approval)"
                          : fmt::format("approved by {}", fmt::join(p.approvers, ", "));
    record(AuditEvent::Approved, after, p.approvers, p.breakGlass ? "Warning" : "Normal",
           p.breakGlass ? "BreakGlass" : "Approved", how);
  }
  if (from == to) return;
  if (to == v1::Phase::Active) {
    record(AuditEvent::Granted, after, p.approvers, "Normal", "Granted", message);
    return;
  }
  if (auto e = endEvent(to)) {
    const char* type = (to == v1::Phase::Expired) ? "Normal" : "Warning";
    // The audit line of an ending names what was removed (the new status no longer lists it).
    v1::AccessRequest ended = after;
    if (before.status) ended.status->grants = before.status->grants;
    // An ending (expiry, revoke) has no approvals of its own to count: its audit line names
    // who approved the access that is ending, from the recorded decisions.
    std::vector<std::string> approvers = p.approvers;
    if (approvers.empty()) {
      for (const auto& a : after.status->approvals) {
        if (a.decision == v1::Decision::Approve && a.approver &&
            std::find(approvers.begin(), approvers.end(), *a.approver) == approvers.end()) {
          approvers.push_back(*a.approver);
        }
      }
    }
    record(*e, ended, approvers, type, p.reason.empty() ? v1::toString(to) : p.reason, message);
  }
}

}  // namespace kubegrant::controllers::access_request
