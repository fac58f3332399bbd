#include "controllers/access_request/reconciler.h"

#include "controllers/access_request/plan.h"
#include "operator/common/log.h"
#include "operator/runtime/finalizer.h"

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
                 .databases = options_.databases}) {}

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

Result<runtime::Action> AccessRequestReconciler::sync(RequestPtr request, bool fresh) {
  auto policy = readPolicy(request->spec.policy);
  if (!policy) return std::unexpected(policy.error());
  Plan p = plan(*request, policy->get(), clock_.now());
  if (!fresh && p.grants()) {
    // About to grant: the cached copy may predate a revoke. Only the API server's copy may
    // confirm the request still allows access; a newer one is planned afresh.
    auto current = readRequest(keyOf(*request));
    if (!current) return std::unexpected(current.error());
    if (!*current) return runtime::Action::awaitChange();
    if ((*current)->metadata.resourceVersion != request->metadata.resourceVersion) {
      return sync(std::move(*current), true);
    }
  }
  log::debug(kLogger, "plan",
             {{"request", keyOf(*request).toString()}, {"effects", describe(p.effects)}});
  auto done = executor_.run(*request, p.effects);
  if (done && *done) {
    p = planRefusal(*request, policy->get(), **done, clock_.now());
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

}  // namespace kubegrant::controllers::access_request
