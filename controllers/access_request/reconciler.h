#pragma once

// The AccessRequest reconciler. Level-based and idempotent: each call reads the request and
// its policy, lets plan() (plan.h) turn them into effects, and has the Executor perform them
// (executor.h). It runs behind runtime::reconcileWithFinalizer, so apply and cleanup are the
// same plan-and-perform step; a call that finds nothing to change plans nothing and writes
// nothing.
//
// Guarantees:
//  - The finalizer kubegrant.io/revoke is added before anything is granted, and removed only
//    after every grant is verified gone.
//  - A grant is only created after a fresh read from the API server confirms the request
//    still allows it: a cached copy that still says "approved" after a revoke grants nothing.
//  - Every status write carries the resourceVersion of the copy it was planned from: a stale
//    read ends in 409 Conflict and a retry, never in a lost update.
//  - A terminal status (Expired/Revoked/Denied/Failed) is written only after every grant was
//    deleted and verified gone.
//  - Retry policy (the controller's, decided here): every error is returned to be retried with
//    backoff, revocation errors included, without a cap on attempts; only a request that
//    cannot be decoded is terminal (its next change brings it back). A grant the API server
//    refuses for good (Forbidden, missing namespace) is no error: the request ends Failed
//    with an actionable message and nothing granted.
//  - Grants are found by deterministic names and labels, so a crash between creating a
//    RoleBinding and recording it leaves nothing behind: the next reconcile adopts or removes
//    it, and the Sweeper removes anything whose request is gone.
//  - Time-based transitions (startAt, expiresAt, pendingTimeout, retainFor) are returned as
//    requeueAfter, computed from the injected clock.
//  - With a sealer (issue 11): only approvals whose seal verifies count, the requester is
//    believed only with its seal, breakGlass and expiresAt are recomputed from spec and
//    policy, and every status written carries the operator's seal. A status or decision that
//    kubegrant did not seal is tampering: every grant is revoked (by deterministic names,
//    only bindings labelled with this request's UID), the request ends as Failed with the
//    rule in its message, a Warning Event "Tampering" and a "failed" audit line. A binding
//    labelled for another request is never deleted or adopted.

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "controllers/access_request/audit.h"
#include "controllers/access_request/executor.h"
#include "controllers/access_request/notifications.h"
#include "operator/common/clock.h"
#include "operator/common/metrics.h"
#include "operator/kube/client.h"
#include "operator/runtime/controller.h"
#include "operator/seal/seal.h"

namespace kubegrant::controllers::access_request {

using RequestPtr = std::shared_ptr<const v1::AccessRequest>;
using PolicyPtr = std::shared_ptr<const v1::AccessPolicy>;

// Where policies are read from: a cache (the manager passes its typed AccessPolicy store,
// saving one API call per reconcile). nullptr = not known to the cache; the reconciler then
// asks the API server, so a cold or lagging cache never revokes by mistake.
using PolicyReader = std::function<PolicyPtr(const std::string& name)>;

// Where the request itself is read from: the manager passes its typed AccessRequest store,
// as controller-runtime's cached client does. nullptr = not in the cache: the reconciler GETs
// it, so NotFound is only ever believed from the API server.
using RequestReader = std::function<RequestPtr(const runtime::NamespacedName& key)>;

// Where DatabaseTargets are read from: the manager passes its typed DatabaseTarget store.
// nullptr = not in the cache. A cached target that lacks a requested profile is confirmed
// with the API server before it revokes anything (a lagging cache never revokes by mistake).
using TargetPtr = std::shared_ptr<const v1::DatabaseTarget>;
using TargetReader = std::function<TargetPtr(const std::string& name)>;

struct ReconcilerOptions {
  std::string fieldManager = "kubegrant-operator";
  // Mints and ends database users for spec.databases; null = a request with databases fails.
  std::shared_ptr<database::CredentialProvider> databases;
  // Where a DatabaseTarget's admin and CA Secrets may be (--secret-namespace); empty = any.
  v1alpha1::SecretNamespaces secretNamespaces;
  // Believes only what kubegrant sealed (operator/seal/trust.h) and seals every status it
  // writes. The operator always sets it; nullptr (sealing off) is for tests about other rules.
  std::shared_ptr<const seal::Sealer> sealer;
  PolicyReader policyReader;            // empty = always GET from the API server
  RequestReader requestReader;          // empty = always GET from the API server
  TargetReader targetReader;            // empty = always GET from the API server
  RoleBindingReader roleBindingReader;  // empty = GET each binding before creating it
  // Whether other requests are waiting for a worker (the controller's queue). While they are,
  // a revocation's status write waits behind them (revokeFirst below); empty = never.
  std::function<bool()> othersWaiting;
  // Lifecycle notifications (notifications.h): planned only with both set.
  std::optional<NotifyOptions> notify;
  std::shared_ptr<notify::Sink> notifications;
};

class AccessRequestReconciler final : public runtime::Reconciler {
 public:
  // `audit`, `events` and `metrics` may be null/empty. All references must outlive this.
  AccessRequestReconciler(kube::Client& client, Clock& clock, AuditLog* audit, EventFn events,
                          metrics::Registry* metrics, ReconcilerOptions options = {});

  Result<runtime::Action> reconcile(const runtime::NamespacedName& key) override;

 private:
  // apply and cleanup of the finalizer helper: plan and perform for `request` (from the
  // cache when `fresh` is false).
  Result<runtime::Action> sync(RequestPtr request, bool fresh);
  // GET and decode; nullptr when the request is gone.
  Result<RequestPtr> readRequest(const runtime::NamespacedName& key);
  Result<PolicyPtr> readPolicy(const std::string& name);
  // The DatabaseTargets spec.databases names (none for a terminal request): from the cache
  // when it has the requested profile, else from the API server (NotFound = nullptr).
  Result<DatabaseTargets> readTargets(const v1::AccessRequest& request);
  // plan() over what may be believed of `request` (operator/seal/trust.h): sealed decisions
  // only, breakGlass and expiresAt recomputed; planRefusal() with the rule when kubegrant
  // did not seal what the request says.
  Result<Plan> planBelieved(const v1::AccessRequest& request, const v1::AccessPolicy* policy,
                            const DatabaseTargets& targets, TimePoint now) const;
  // The notifications context of `request` (what was delivered, as its sealed annotation
  // says), or nullopt when notifications are off.
  std::optional<NotifyContext> notifyContext(const v1::AccessRequest& request) const;
  // Revocation first, bookkeeping after: when a plan removes Kubernetes grants before it
  // writes the status and other requests are waiting (options_.othersWaiting), the removals
  // run, the request goes to the back of the work queue, and the status write (with its
  // audit line, Events, metrics, notifications) runs on that next pass. In a herd of expiries every
  // grant is gone before the first status write competes with the remaining DELETEs
  // (bench/README.md, issue 15). The next pass skips the removals when the request is still at the
  // resourceVersion whose removals the API server verified. Returns the action when it deferred,
  // nullopt when `effects` are to run as planned (after dropping verified removals from them), or
  // the error of a removal.
  Result<std::optional<runtime::Action>> revokeFirst(const v1::AccessRequest& request,
                                                     std::vector<Effect>& effects);

  kube::Client& client_;
  Clock& clock_;
  ReconcilerOptions options_;
  Executor executor_;
  // Requests whose removals were verified, by the resourceVersion they were planned from.
  std::mutex revokedMu_;
  std::unordered_map<runtime::NamespacedName, std::string, runtime::NamespacedNameHash> revoked_;
};

}  // namespace kubegrant::controllers::access_request
