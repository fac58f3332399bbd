#pragma once

// The AccessRequest reconciler: the only part of this controller that does I/O. Level-based
// and idempotent: each call reads the request and its policy, lets plan() (builders.h) decide,
// makes the grants match, and writes the status through the status subresource with a
// resourceVersion precondition (a Conflict is returned, so the controller requeues). A call
// that finds nothing to change writes nothing. It runs behind runtime::reconcileWithFinalizer.
//
// Guarantees:
//  - The finalizer kubegrant.io/revoke is added before anything is granted, and removed only
//    after every grant is verified gone.
//  - A grant is only created after a fresh read from the API server confirms the request
//    still allows it: a cached copy that still says "approved" after a revoke grants nothing.
//  - Retry policy: every error is retried with backoff (revocation errors always are); only
//    a request that cannot be decoded is a terminal error (its next change brings it back).
//  - A terminal status (Expired/Revoked/Denied/Failed) is written only after every grant was
//    deleted and re-read as absent; failed deletions are retried (Unavailable, with backoff)
//    without a cap on attempts.
//  - Grants are found by deterministic names and labels, so a crash between creating a
//    RoleBinding and recording it leaves nothing behind: the next reconcile adopts or removes
//    it, and the Sweeper removes anything whose request is gone.
//  - Time-based transitions (startAt, expiresAt, pendingTimeout, retainFor) are returned as
//    requeueAfter, computed from the injected clock.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "controllers/access_request/audit.h"
#include "controllers/access_request/builders.h"
#include "controllers/database/provider.h"
#include "operator/common/clock.h"
#include "operator/common/metrics.h"
#include "operator/kube/client.h"
#include "operator/runtime/controller.h"

namespace kubegrant::controllers::access_request {

// A Kubernetes Event on the request (type "Normal" or "Warning").
struct RequestEvent {
  std::string type;
  std::string reason;
  std::string message;
};
using EventFn = std::function<void(const v1::AccessRequest& request, const RequestEvent& event)>;

using RequestPtr = std::shared_ptr<const v1::AccessRequest>;
using PolicyPtr = std::shared_ptr<const v1::AccessPolicy>;

// Where policies are read from: a cache (the manager passes its typed AccessPolicy store,
// saving one API call per reconcile). nullptr = not known to the cache; the reconciler then
// asks the API server, so a cold or lagging cache never revokes by mistake.
using PolicyReader = std::function<PolicyPtr(const std::string& name)>;

// Where the request itself is read from: the manager passes its typed AccessRequest store,
// as controller-runtime's cached client does. A cached copy may lag behind: every write based
// on it carries its resourceVersion (status update) or a precondition, so a stale read ends
// in 409 Conflict and a retry, never in a lost update; and nothing is granted on a cached
// copy alone (see AccessRequestReconciler). nullptr = not in the cache: the reconciler GETs
// it, so NotFound is only ever believed from the API server.
using RequestReader = std::function<RequestPtr(const runtime::NamespacedName& key)>;

struct ReconcilerOptions {
  std::string fieldManager = "kubegrant-operator";
  // Mints and ends database users for spec.databases; null = databases are not granted.
  std::shared_ptr<database::CredentialProvider> databases;
  PolicyReader policyReader;    // empty = always GET from the API server
  RequestReader requestReader;  // empty = always GET from the API server
};

class AccessRequestReconciler final : public runtime::Reconciler {
 public:
  // `audit`, `events` and `metrics` may be null/empty. All references must outlive this.
  AccessRequestReconciler(kube::Client& client, Clock& clock, AuditLog* audit, EventFn events,
                          metrics::Registry* metrics, ReconcilerOptions options = {});

  Result<runtime::Action> reconcile(const runtime::NamespacedName& key) override;

 public:
  // A grant that retrying cannot create (Forbidden, missing namespace, invalid).
  struct GrantFailure {
    std::string reason;
    std::string message;
  };

 private:
  // apply and cleanup of the finalizer helper: plan and act on `request` (from the cache when
  // `fresh` is false).
  Result<runtime::Action> sync(RequestPtr request, bool fresh);
  // GET and decode; nullptr when the request is gone.
  Result<RequestPtr> readRequest(const runtime::NamespacedName& key);
  Result<PolicyPtr> readPolicy(const std::string& name);
  // Creates (or adopts) the desired RoleBindings. A failure that retrying cannot fix comes back
  // as a GrantFailure (after what was created is removed again); a transient one as an Error.
  Result<std::variant<std::vector<v1::Grant>, GrantFailure>> ensureGrants(
      const v1::AccessRequest& request, bool checkFirst, TimePoint expiresAt);
  // The database bundle of each spec.databases entry: user, Secret, the Role that lets the
  // requester read it (its binding is one of the RoleBindings).
  Result<std::variant<std::vector<v1::Grant>, GrantFailure>> ensureDatabaseGrants(
      const v1::AccessRequest& request, bool checkFirst, TimePoint expiresAt);
  // Kubernetes parts first (Secret, Role), then every database user, verified gone.
  Result<void> removeDatabaseGrants(const v1::AccessRequest& request);
  // The admin access to a target (from its Secrets), or why not.
  Result<std::variant<database::TargetAccess, GrantFailure>> targetAccessFor(
      const v1::DatabaseTarget& target);
  // Deletes the object if it carries this request's uid label; NotFound is success.
  Result<void> removeLabelled(const kube::ResourceRef& ref, const kube::ObjectKey& key,
                              const std::string& requestUid);
  // Deletes every RoleBinding of the request (recorded or deterministic by name, when it
  // carries the request's uid label) and verifies each is gone.
  Result<void> removeGrants(const v1::AccessRequest& request);
  Result<void> removeRoleBinding(const kube::ObjectKey& key, const std::string& requestUid,
                                 bool recorded);
  Result<void> writeStatus(const v1::AccessRequest& request, const v1::AccessRequestStatus& status);
  void record(AuditEvent event, const v1::AccessRequest& request,
              const std::vector<std::string>& approvers, const std::string& type,
              const std::string& reason, const std::string& message);
  void announce(const v1::AccessRequest& before, const v1::AccessRequest& after, const Plan& plan);

  kube::Client& client_;
  Clock& clock_;
  AuditLog* audit_;
  EventFn events_;
  ReconcilerOptions options_;
  metrics::Family<metrics::Counter>* transitions_ = nullptr;
  metrics::Family<metrics::Histogram>* approvalToActive_ = nullptr;
  metrics::Family<metrics::Histogram>* expiryLag_ = nullptr;
  metrics::Family<metrics::Counter>* grantOps_ = nullptr;
};

}  // namespace kubegrant::controllers::access_request
