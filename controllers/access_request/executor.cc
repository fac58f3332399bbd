#include "controllers/access_request/executor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "operator/common/log.h"
#include "operator/seal/trust.h"

namespace kubegrant::controllers::access_request {
namespace {

constexpr std::string_view kLogger = "accessrequest";

std::string requestName(const v1::AccessRequest& r) {
  return r.metadata.namespace_ + "/" + r.metadata.name;
}

// RoleBindings are namespaced; a binding with no namespace is a ClusterRoleBinding.
kube::ResourceRef bindingResource(std::string_view namespace_) {
  return namespace_.empty() ? kube::resources::clusterRoleBindings()
                            : kube::resources::roleBindings();
}

// "RoleBinding payments/x" or "ClusterRoleBinding x".
std::string bindingName(const DesiredRoleBinding& rb) {
  return isClusterBinding(rb) ? fmt::format("ClusterRoleBinding {}", rb.name)
                              : fmt::format("RoleBinding {}/{}", rb.namespace_, rb.name);
}

// Whether the API server refused a RoleBinding for good: retrying cannot create it.
std::optional<GrantRefused> refusal(const DesiredRoleBinding& rb, const Error& e) {
  const std::string what = fmt::format("{} {}", v1::toString(rb.roleKind), rb.roleName);
  switch (e.code) {
    case ErrorCode::Forbidden:
      return GrantRefused{
          "GrantForbidden",
          fmt::format("cannot create {} for {}: the operator may not bind it "
                      "(Kubernetes RBAC escalation rules require the operator to hold the role's "
                      "permissions or have `bind` on it; add it to the Helm chart's "
                      "operator.bindableClusterRoles or operator.bindableRoles); nothing was "
                      "granted. API server "
                      "said: {}",
                      bindingName(rb), what, e.message)};
    case ErrorCode::NotFound:
      return GrantRefused{"NamespaceNotFound",
                          fmt::format("cannot create RoleBinding {}/{} for {}: namespace {} does "
                                      "not exist; nothing was granted",
                                      rb.namespace_, rb.name, what, rb.namespace_)};
    case ErrorCode::Invalid:
    case ErrorCode::BadRequest:
      return GrantRefused{"GrantInvalid",
                          fmt::format("cannot create {} for {}: {}; nothing was granted",
                                      bindingName(rb), what, e.message)};
    default:
      return std::nullopt;
  }
}

}  // namespace

Executor::Executor(kube::Client& client, Clock& clock, ExecutorOptions options)
    : client_(client), clock_(clock), options_(std::move(options)) {
  if (auto* m = options_.metrics) {
    transitions_ = &m->counter("kubegrant_accessrequest_transitions_total",
                               "AccessRequest phase transitions written, by new phase.", {"phase"});
    approvalToActive_ =
        &m->histogram("kubegrant_accessrequest_approval_to_active_seconds",
                      "Time from the approval being observed to the grants being in place.", {},
                      {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5});
    expiryLag_ = &m->histogram("kubegrant_accessrequest_expiry_lag_seconds",
                               "Time from status.expiresAt to every grant being verified gone.", {},
                               {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60});
    grantOps_ = &m->counter("kubegrant_grant_operations_total",
                            "RoleBinding operations by the controller.", {"operation", "result"});
    revocationsPending_ =
        &m->gauge("kubegrant_database_revocations_pending",
                  "Requests whose database user could not be revoked yet (database "
                  "unreachable); retried with backoff capped at 30 s, never given up.",
                  {})
             .with({});
    breakGlass_ = &m->counter("kubegrant_accessrequest_break_glass_total",
                              "Requests approved automatically under a policy's break-glass "
                              "rule (the BreakGlass Event), for alerting.",
                              {})
                       .with({});
  }
}

Result<std::optional<GrantRefused>> Executor::run(const v1::AccessRequest& request,
                                                  const std::vector<Effect>& effects) const {
  bool databaseRevoked = false;
  for (const Effect& effect : effects) {
    const auto* write = std::get_if<WriteStatus>(&effect);
    if (write && databaseRevoked) {
      // The database user was verified gone in this run: the status says so.
      WriteStatus resolved = *write;
      for (auto& c : resolved.status.conditions) {
        if (c.type == kDatabaseRevocationPending && c.status == "True") {
          c.status = "False";
          c.reason = "Revoked";
          c.message = "the database user was revoked and verified gone";
          c.lastTransitionTime = clock_.now();
        }
      }
      auto done = perform(request, resolved);
      if (!done || *done) return done;
      continue;
    }
    auto done = std::visit([&](const auto& e) { return perform(request, e); }, effect);
    if (!done || *done) return done;
    // Issued or revoked: either way the database answered and no revocation is pending.
    if (std::holds_alternative<RevokeDatabaseUsers>(effect) ||
        std::holds_alternative<EnsureDatabaseUser>(effect)) {
      databaseRevoked = true;
      revocationDone(request);
    }
  }
  return std::nullopt;
}

void Executor::count(const char* operation, const char* result) const {
  if (grantOps_) grantOps_->with({operation, result}).inc();
}

std::optional<runtime::ObjectPtr> Executor::cachedRoleBinding(const kube::ObjectKey& key) const {
  // The cache holds RoleBindings only: a ClusterRoleBinding is read from the API server.
  if (!options_.roleBindings || key.namespace_.empty()) return std::nullopt;
  return options_.roleBindings(key);
}

Result<runtime::ObjectPtr> Executor::existingRoleBinding(const kube::ObjectKey& key) const {
  if (auto cached = cachedRoleBinding(key)) return *cached;
  auto got = client_.get(bindingResource(key.namespace_), key);
  if (!got) {
    if (got.error().code == ErrorCode::NotFound) return nullptr;
    return std::unexpected(got.error());
  }
  return std::make_shared<const kube::Object>(std::move(*got));
}

bool Executor::nothingToDo(const v1::AccessRequest& request,
                           const std::vector<Effect>& effects) const {
  return std::all_of(effects.begin(), effects.end(), [&](const Effect& effect) {
    const auto* e = std::get_if<EnsureRoleBinding>(&effect);
    if (e == nullptr) return false;
    auto cached = cachedRoleBinding({e->binding.namespace_, e->binding.name});
    return cached && *cached && roleBindingMatches((*cached)->body, e->binding, request);
  });
}

Executor::Outcome Executor::perform(const v1::AccessRequest& request,
                                    const EnsureRoleBinding& e) const {
  const auto ref = bindingResource(e.binding.namespace_);
  const DesiredRoleBinding& rb = e.binding;
  const kube::ObjectKey key{rb.namespace_, rb.name};
  auto cached = existingRoleBinding(key);
  if (!cached) return std::unexpected(cached.error());
  if (*cached && roleBindingMatches((*cached)->body, rb, request)) return std::nullopt;

  kube::WriteOptions wo;
  wo.fieldManager = options_.fieldManager;
  auto refuseOr = [&](const Error& err) -> Outcome {
    count("create", "error");
    if (auto r = refusal(rb, err)) {
      log::warn(kLogger, "grant refused",
                {{"request", requestName(request)},
                 {"roleBinding", key.toString()},
                 {"error", err.describe()}});
      return r;
    }
    return std::unexpected(err);
  };
  auto created = client_.create(ref, kube::Object(roleBindingJson(rb, request)), wo);
  if (created) {
    count("create", "ok");
    return std::nullopt;
  }
  if (created.error().code != ErrorCode::AlreadyExists) return refuseOr(created.error());
  // Something already has the name: ours from an interrupted activation (adopt it) or a
  // stale one of ours (replace it: roleRef is immutable and subjects must be exact).
  auto existing = client_.get(ref, key);
  if (!existing) return std::unexpected(existing.error());
  if (roleBindingMatches(existing->body, rb, request)) {
    count("adopt", "ok");
    return std::nullopt;
  }
  // Not this request's (another request's, or not kubegrant's): never deleted nor adopted;
  // the request fails instead.
  const auto labels = existing->labels();
  const auto owner = labels.find(std::string(kRequestUidLabel));
  if (owner == labels.end() || owner->second != request.metadata.uid) {
    count("create", "conflict");
    return GrantRefused{
        "GrantConflict",
        fmt::format("cannot create {} for {} {}: a {} of that name {}; "
                    "kubegrant never deletes or adopts it, and nothing was granted",
                    bindingName(rb), v1::toString(rb.roleKind), rb.roleName, bindingKind(rb),
                    owner == labels.end()
                        ? std::string("exists and is not kubegrant's")
                        : fmt::format("belongs to another request (uid {})", owner->second))};
  }
  kube::DeleteOptions d;
  d.preconditionUid = existing->uid();
  if (auto r = client_.remove(ref, key, d); !r && r.error().code != ErrorCode::NotFound)
    return std::unexpected(r.error());
  auto again = client_.create(ref, kube::Object(roleBindingJson(rb, request)), wo);
  if (!again) return refuseOr(again.error());
  count("replace", "ok");
  return std::nullopt;
}

Executor::Outcome Executor::perform(const v1::AccessRequest& request,
                                    const EnsureTemporaryRole& e) const {
  const DesiredTemporaryRole& role = e.role;
  const auto ref = isClusterRole(role) ? kube::resources::clusterRoles() : kube::resources::roles();
  const kube::ObjectKey key{role.namespace_, role.name};
  const std::string what = isClusterRole(role)
                               ? fmt::format("ClusterRole {}", role.name)
                               : fmt::format("Role {}/{}", role.namespace_, role.name);
  const nlohmann::json desired = temporaryRoleJson(role, request);
  kube::WriteOptions wo;
  wo.fieldManager = options_.fieldManager;
  auto refuseOr = [&](const Error& err) -> Outcome {
    count("create", "error");
    if (err.retryable()) return std::unexpected(err);
    log::warn(kLogger, "temporary role refused",
              {{"request", requestName(request)}, {"role", what}, {"error", err.describe()}});
    if (err.code == ErrorCode::Forbidden) {
      return GrantRefused{
          "GrantForbidden",
          fmt::format("cannot create {} for spec.rules: the operator may not create a role "
                      "with these permissions (Kubernetes RBAC escalation rules require the "
                      "operator to hold every permission it puts in a role; add the policy's "
                      "spec.rules to the kubegrant-operator-rules ClusterRole, the chart's "
                      "operator.adHocRules); nothing was granted. API server "
                      "said: {}",
                      what, err.message)};
    }
    if (err.code == ErrorCode::NotFound) {
      return GrantRefused{"NamespaceNotFound",
                          fmt::format("cannot create {} for spec.rules: namespace {} does not "
                                      "exist; nothing was granted",
                                      what, role.namespace_)};
    }
    return GrantRefused{"GrantInvalid", fmt::format("cannot create {} for spec.rules: {}; "
                                                    "nothing was granted",
                                                    what, err.message)};
  };
  // Read first: a reconcile that finds the role in place writes nothing.
  auto existing = client_.get(ref, key);
  if (!existing) {
    if (existing.error().code != ErrorCode::NotFound) return std::unexpected(existing.error());
    auto created = client_.create(ref, kube::Object(desired), wo);
    if (created) {
      count("create", "ok");
      return std::nullopt;
    }
    if (created.error().code == ErrorCode::AlreadyExists)
      return fail(ErrorCode::Conflict, what + " appeared meanwhile; retrying");
    return refuseOr(created.error());
  }
  const auto labels = existing->labels();
  const auto owner = labels.find(std::string(kRequestUidLabel));
  if (owner == labels.end() || owner->second != request.metadata.uid) {
    count("create", "conflict");
    return GrantRefused{
        "GrantConflict",
        fmt::format("cannot create {} for spec.rules: one of that name {}; "
                    "kubegrant never deletes, adopts or binds it, and nothing "
                    "was granted",
                    what,
                    owner == labels.end()
                        ? std::string("exists and is not kubegrant's")
                        : fmt::format("belongs to another request (uid {})", owner->second))};
  }
  if (existing->body.value("rules", nlohmann::json()) == desired["rules"]) return std::nullopt;
  // Ours but altered (someone widened it): put back exactly the requested rules.
  kube::DeleteOptions d;
  d.preconditionUid = existing->uid();
  if (auto r = client_.remove(ref, key, d); !r && r.error().code != ErrorCode::NotFound)
    return std::unexpected(r.error());
  auto again = client_.create(ref, kube::Object(desired), wo);
  if (!again) return refuseOr(again.error());
  count("replace", "ok");
  return std::nullopt;
}

Executor::Outcome Executor::perform(const v1::AccessRequest& request,
                                    const RemoveRoleBinding& e) const {
  auto r = removeOurs(bindingResource(e.key.namespace_), e.key, request, e.recorded);
  count("delete", r ? "ok" : "error");
  return r;
}

Executor::Outcome Executor::removeOurs(const kube::ResourceRef& ref, const kube::ObjectKey& key,
                                       const v1::AccessRequest& request, bool recorded) const {
  kube::DeleteOptions d;
  if (!recorded) {
    // An object we merely computed the name of is deleted only when it carries our uid (one
    // recorded in status.grants was created by us, so it goes without this extra read).
    auto existing = client_.get(ref, key);
    if (!existing) {
      if (existing.error().code == ErrorCode::NotFound) return std::nullopt;
      return std::unexpected(existing.error());
    }
    auto labels = existing->labels();
    auto it = labels.find(std::string(kRequestUidLabel));
    if (it == labels.end() || it->second != request.metadata.uid) return std::nullopt;
    d.preconditionUid = existing->uid();
  }
  auto r = client_.remove(ref, key, d);
  if (!r && r.error().code != ErrorCode::NotFound) return std::unexpected(r.error());
  // Verify: revocation is done only when the API server no longer has the object. Its
  // answer says so (NotFound, or deleted at once); one held by someone's finalizer still
  // grants, so that is not done.
  if (r && !r->gone()) {
    return fail(ErrorCode::Unavailable,
                fmt::format("{} {} is still held by finalizers [{}] after delete; retrying",
                            ref.kind, key.toString(), fmt::join(r->pending->finalizers(), ", ")));
  }
  return std::nullopt;
}

Executor::Outcome Executor::perform(const v1::AccessRequest& request, const WriteStatus& e) const {
  // metadata.resourceVersion is the precondition: a write based on a stale read is a Conflict.
  v1::AccessRequest updated = request;
  updated.status = e.status;
  if (options_.sealer) {
    if (auto s = seal::sealStatus(updated, *options_.sealer); !s) return std::unexpected(s.error());
  }
  kube::WriteOptions wo;
  wo.fieldManager = options_.fieldManager;
  auto r = client_.updateStatus(kube::resources::accessRequests(),
                                kube::Object(v1::toJson(updated)), wo);
  if (!r) return std::unexpected(r.error());
  return std::nullopt;
}

Executor::Outcome Executor::perform(const v1::AccessRequest& request, const DeleteRequest&) const {
  kube::DeleteOptions d;
  d.preconditionUid = request.metadata.uid;
  auto r = client_.remove(kube::resources::accessRequests(),
                          {request.metadata.namespace_, request.metadata.name}, d);
  if (!r && r.error().code != ErrorCode::NotFound) return std::unexpected(r.error());
  log::info(kLogger, "deleted request after retainFor", {{"request", requestName(request)}});
  return std::nullopt;
}

Executor::Outcome Executor::perform(const v1::AccessRequest&, const Record& e) const {
  if (breakGlass_ && e.event == AuditEvent::Approved && e.reason == "BreakGlass") {
    breakGlass_->inc();
  }
  if (options_.audit) {
    options_.audit->write(auditRecord(e.event, e.subject, e.approvers, clock_.now()));
  }
  if (options_.events) options_.events(e.subject, RequestEvent{e.type, e.reason, e.message});
  log::info(kLogger, toString(e.event),
            {{"request", requestName(e.subject)}, {"reason", e.reason}, {"message", e.message}});
  return std::nullopt;
}

Executor::Outcome Executor::perform(const v1::AccessRequest&, const CountTransition& e) const {
  if (transitions_) transitions_->with({v1::toString(e.phase)}).inc();
  return std::nullopt;
}

Executor::Outcome Executor::perform(const v1::AccessRequest&, const ObserveLatency& e) const {
  auto* h = e.metric == Latency::ApprovalToActive ? approvalToActive_ : expiryLag_;
  // approvedAt and expiresAt have second precision; never a negative latency.
  if (h)
    h->with().observe(std::max(0.0, std::chrono::duration<double>(clock_.now() - e.since).count()));
  return std::nullopt;
}

Executor::Outcome Executor::perform(const v1::AccessRequest&, const Notify& e) const {
  // Never waits for a receiver; a full queue drops it (counted and logged by the sink), and
  // the request still owes it, so a later reconcile or a restart plans it again.
  if (options_.notifications) options_.notifications->send(e.notification);
  return std::nullopt;
}

}  // namespace kubegrant::controllers::access_request
