#include "controllers/access_request/reconciler.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "controllers/access_request/plan.h"
#include "operator/common/log.h"
#include "operator/runtime/finalizer.h"
#include "operator/seal/trust.h"

namespace kubegrant::controllers::access_request {
namespace {

constexpr std::string_view kLogger = "accessrequest";

runtime::Action after(std::optional<TimePoint> at, TimePoint now) {
  if (!at) return runtime::Action::awaitChange();
  Duration d = std::chrono::duration_cast<Duration>(*at - now);
  if (d < Duration::zero()) d = Duration::zero();
  return runtime::Action::requeueAfter(d);
}

runtime::NamespacedName keyOf(const v1::AccessRequest& r) {
  return {r.metadata.namespace_, r.metadata.name};
}

}  // namespace

AccessRequestReconciler::AccessRequestReconciler(kube::Client& client, Clock& clock,
                                                 AuditLog* audit, EventFn events,
                                                 metrics::Registry* metrics,
                                                 ReconcilerOptions options)
    : client_(client),
      clock_(clock),
      options_(std::move(options)),
      executor_(client, clock,
                {.fieldManager = options_.fieldManager,
                 .audit = audit,
                 .events = std::move(events),
                 .metrics = metrics,
                 .roleBindings = options_.roleBindingReader,
                 .databases = options_.databases,
                 .secretNamespaces = options_.secretNamespaces,
                 .sealer = options_.sealer,
                 .notifications = options_.notifications}) {}

std::optional<NotifyContext> AccessRequestReconciler::notifyContext(
    const v1::AccessRequest& request) const {
  if (!options_.notify || !options_.notifications) return std::nullopt;
  return NotifyContext{*options_.notify, deliveredEvents(request, options_.sealer.get())};
}

Result<runtime::Action> AccessRequestReconciler::reconcile(const runtime::NamespacedName& key) {
  RequestPtr request = options_.requestReader ? options_.requestReader(key) : nullptr;
  const bool fresh = request == nullptr;
  if (fresh) {
    auto read = readRequest(key);
    if (!read) return std::unexpected(read.error());
    if (!*read) {
      std::lock_guard<std::mutex> g(revokedMu_);
      revoked_.erase(key);  // gone between the two passes of revokeFirst()
      return runtime::Action::awaitChange();
    }
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

Result<DatabaseTargets> AccessRequestReconciler::readTargets(const v1::AccessRequest& request) {
  DatabaseTargets out;
  if (request.status && request.status->phase && v1::isTerminal(*request.status->phase)) return out;
  std::map<std::string, std::vector<std::string>> profiles;  // target -> requested profiles
  for (const auto& db : request.spec.databases) profiles[db.target].push_back(db.profile);
  for (const auto& [name, wanted] : profiles) {
    if (options_.targetReader) {
      // The cache is believed when it has every requested profile; anything it lacks is only
      // believed from the API server.
      auto cached = options_.targetReader(name);
      if (cached && std::all_of(wanted.begin(), wanted.end(), [&](const std::string& p) {
            return findProfile(*cached, p) != nullptr;
          })) {
        out[name] = std::move(cached);
        continue;
      }
    }
    auto t = client_.get(kube::resources::databaseTargets(), {"", name});
    if (!t) {
      if (t.error().code != ErrorCode::NotFound) return std::unexpected(t.error());
      out[name] = nullptr;
      continue;
    }
    auto decoded = v1::fromJson<v1::DatabaseTarget>(t->body);
    // Undecodable: nothing decided from it (the executor refuses it at activation).
    if (!decoded) continue;
    out[name] = std::make_shared<const v1::DatabaseTarget>(std::move(*decoded));
  }
  return out;
}

Result<Plan> AccessRequestReconciler::planBelieved(const v1::AccessRequest& request,
                                                   const v1::AccessPolicy* policy,
                                                   const DatabaseTargets& targets,
                                                   TimePoint now) const {
  const auto notify = notifyContext(request);
  const NotifyContext* n = notify ? &*notify : nullptr;
  if (!options_.sealer) return plan(request, policy, now, targets, n);
  seal::Trust trust = seal::assess(request, policy, *options_.sealer, now);
  if (trust.unavailable) return std::unexpected(*trust.unavailable);  // keys not loaded yet
  const v1::Phase observed =
      request.status && request.status->phase ? *request.status->phase : v1::Phase::Pending;
  const bool endedGenuinely = trust.statusVerified && v1::isTerminal(observed);
  if (!endedGenuinely && (trust.forgedRequester || trust.tampering)) {
    const std::string rule = trust.forgedRequester ? *trust.forgedRequester : *trust.tampering;
    const std::string reason = trust.forgedRequester ? "ForgedRequester" : "Tampering";
    // The sanitised copy: its decisions all kept as evidence; recorded grants of a status
    // kubegrant did not seal are not believed, so revocation goes by the deterministic names,
    // deleting only bindings labelled with this request's UID.
    v1::AccessRequest base = trust.request;
    if (base.status && request.status) {
      base.status->approvals = request.status->approvals;
      if (trust.forgedRequester) base.status->breakGlass = false;
      if (!trust.statusVerified) base.status->grants.clear();
    }
    log::warn(kLogger, "tampering",
              {{"request", keyOf(request).toString()}, {"reason", reason}, {"rule", rule}});
    return planRefusal(
        base, policy,
        GrantRefused{reason, fmt::format("{}; every grant was revoked and the request ended as "
                                         "Failed",
                                         rule)},
        now, n);
  }
  // Only sealed, still valid decisions count; breakGlass and expiresAt as recomputed.
  v1::AccessRequest believed = request;
  if (believed.status && trust.request.status) {
    believed.status->breakGlass = trust.request.status->breakGlass;
    believed.status->expiresAt = trust.request.status->expiresAt;
    believed.status->approvals = trust.request.status->approvals;
  }
  Plan p = plan(believed, policy, now, targets, n);
  // The status written keeps every recorded decision: it is the audit record.
  if (request.status) {
    for (Effect& e : p.effects) {
      if (auto* w = std::get_if<WriteStatus>(&e)) w->status.approvals = request.status->approvals;
    }
  }
  return p;
}

Result<runtime::Action> AccessRequestReconciler::sync(RequestPtr request, bool fresh) {
  auto policy = readPolicy(request->spec.policy);
  if (!policy) return std::unexpected(policy.error());
  auto targets = readTargets(*request);
  if (!targets) return std::unexpected(targets.error());
  auto planned = planBelieved(*request, policy->get(), *targets, clock_.now());
  if (!planned) return std::unexpected(planned.error());
  Plan p = std::move(*planned);
  if (!fresh && p.grants() && !executor_.nothingToDo(*request, p.effects)) {
    // About to grant: the cached copy may predate a revoke. Only the API server's copy may
    // confirm the request still allows access; a newer one is planned afresh. A pass that finds
    // every grant in place and nothing else to do (its own status write echoed back, a
    // RoleBinding event, a resync) acts on nothing, so it reads nothing either.
    auto current = readRequest(keyOf(*request));
    if (!current) return std::unexpected(current.error());
    if (!*current) return runtime::Action::awaitChange();
    if ((*current)->metadata.resourceVersion != request->metadata.resourceVersion) {
      return sync(std::move(*current), true);
    }
  }
  log::debug(kLogger, "plan",
             {{"request", keyOf(*request).toString()}, {"effects", describe(p.effects)}});
  auto deferred = revokeFirst(*request, p.effects);
  if (!deferred) return std::unexpected(deferred.error());
  if (*deferred) return **deferred;
  auto done = executor_.run(*request, p.effects);
  if (done && *done) {
    const auto notify = notifyContext(*request);
    p = planRefusal(*request, policy->get(), **done, clock_.now(), notify ? &*notify : nullptr);
    done = executor_.run(*request, p.effects);
  }
  const bool deleting = request->metadata.deletionTimestamp.has_value();
  if (!done) {
    // Gone while being deleted (another replica finished first): nothing left to do.
    if (done.error().code == ErrorCode::NotFound && deleting) return runtime::Action::awaitChange();
    return std::unexpected(done.error());
  }
  if (deleting) return runtime::Action::awaitChange();
  return after(p.requeueAt, clock_.now());
}

Result<std::optional<runtime::Action>> AccessRequestReconciler::revokeFirst(
    const v1::AccessRequest& request, std::vector<Effect>& effects) {
  const auto key = keyOf(request);
  const auto& rv = request.metadata.resourceVersion;
  std::size_t removals = 0;  // the leading Kubernetes removals, up to the first status write
  while (removals < effects.size() &&
         (std::holds_alternative<RemoveRoleBinding>(effects[removals]) ||
          std::holds_alternative<RemoveLabelled>(effects[removals]))) {
    ++removals;
  }
  const bool writesStatusNext = removals > 0 && removals < effects.size() &&
                                std::holds_alternative<WriteStatus>(effects[removals]);
  bool verified = false;
  {
    std::lock_guard<std::mutex> g(revokedMu_);
    auto it = revoked_.find(key);
    if (it != revoked_.end()) {
      verified = it->second == rv;
      revoked_.erase(it);
    }
  }
  if (!writesStatusNext) return std::nullopt;
  if (verified) {
    // The previous pass removed these and the API server confirmed each one gone.
    effects.erase(effects.begin(), effects.begin() + static_cast<std::ptrdiff_t>(removals));
    return std::nullopt;
  }
  // Alone in the queue, nothing competes with the status write. Never while deleting: the
  // finalizer goes once this pass returns, and with it the chance of a next one.
  if (!options_.othersWaiting || !options_.othersWaiting()) return std::nullopt;
  if (request.metadata.deletionTimestamp) return std::nullopt;
  const std::vector<Effect> first(effects.begin(),
                                  effects.begin() + static_cast<std::ptrdiff_t>(removals));
  auto done = executor_.run(request, first);
  if (!done) return std::unexpected(done.error());
  {
    std::lock_guard<std::mutex> g(revokedMu_);
    revoked_.insert_or_assign(key, rv);
  }
  return std::optional<runtime::Action>(runtime::Action::requeueAfter(Duration::zero()));
}

}  // namespace kubegrant::controllers::access_request
