#pragma once

// The safety net behind the AccessRequest controller: every `interval` (and once at start,
// so grants that expired while the operator was down go at once) it looks at kubegrant's
// RoleBindings (and whatever alsoSweep() adds: ClusterRoleBindings, temporary Roles and
// ClusterRoles) and removes those that belong to no live request (request gone, another
// incarnation, or ended) or whose request's expiresAt has passed; overdue requests are also
// handed back to the controller for their status.
//
// It reads the manager's caches, not the API server: a sweep costs no LIST. The one answer a
// lagging cache could get wrong, "this binding's request is gone", is confirmed with a GET
// before the binding is deleted. Deletes carry the binding's uid as a precondition.
//
// With a database sweep configured it also lists the kg_ roles of every known DatabaseTarget
// and revokes (sessions terminated first, then the role dropped and checked gone: the
// provider's revoke()) those that belong to no live request: no cached request that is not
// terminal, or still records a DatabaseUser grant, names them (database::roleNameFor). The
// roles are listed before the requests are read, so a role issued for a request the cache
// had not yet delivered is never taken for an orphan (the reconciler reads the same cache).

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "controllers/access_request/builders.h"
#include "controllers/database/provider.h"
#include "operator/common/clock.h"
#include "operator/common/metrics.h"
#include "operator/kube/client.h"
#include "operator/runtime/informer.h"
#include "operator/runtime/runnable.h"
#include "operator/runtime/typed_store.h"

namespace kubegrant::controllers::access_request {

// The database half of the sweep; a null provider or targets store = no database sweep.
struct DatabaseSweep {
  std::shared_ptr<database::CredentialProvider> provider;
  // Caches kube::resources::databaseTargets(); must outlive the sweeper.
  const runtime::TypedStore<v1::DatabaseTarget>* targets = nullptr;
  // The admin access to a target, or nullopt (with the reason logged) when it has none.
  std::function<Result<std::optional<database::TargetAccess>>(const v1::DatabaseTarget&)> access;
};

class Sweeper final : public runtime::Runnable {
 public:
  using EnqueueFn = std::function<void(const runtime::NamespacedName&)>;
  // `roleBindings` caches the RoleBindings labelled managed-by=kubegrant, `requests` every
  // AccessRequest; both (and client, clock, metrics) must outlive the sweeper.
  Sweeper(kube::Client& client, Clock& clock, const runtime::Store& roleBindings,
          const runtime::TypedStore<v1::AccessRequest>& requests, EnqueueFn enqueue,
          metrics::Registry* metrics, Duration interval = std::chrono::seconds(60),
          DatabaseSweep databases = {});
  ~Sweeper() override;

  // Sweeps `store` (a cache of objects of `ref` labelled managed-by=kubegrant, which must
  // outlive the sweeper) by the same rules as the RoleBindings: ClusterRoleBindings, and the
  // temporary Roles and ClusterRoles of spec.rules. Unlike a RoleBinding, one without the
  // request-uid label is left alone. Call before start().
  void alsoSweep(const kube::ResourceRef& ref, const runtime::Store& store);

  struct Report {
    int roleBindings = 0;          // seen with kubegrant's labels (RoleBindings and alsoSweep's)
    int removed = 0;               // orphaned or overdue, deleted
    int enqueued = 0;              // overdue requests handed to the controller
    int databaseRoles = 0;         // kg_ roles listed on the targets
    int databaseRolesRevoked = 0;  // of those, orphans revoked
  };
  [[nodiscard]] Result<Report> sweepOnce();

  // Sweeps at once, then every interval, on a thread of its own.
  Result<void> start() override;
  void stop() override;

 private:
  void loop(std::stop_token stop);
  // Whether the request a binding names (by annotation) is really gone or another
  // incarnation, as the API server says.
  Result<bool> ownerGone(const kube::Object& roleBinding, const std::string& uid);
  // The database half of sweepOnce().
  void sweepDatabases(Report& report);

  kube::Client& client_;
  Clock& clock_;
  const runtime::Store& roleBindings_;
  struct Swept {
    kube::ResourceRef ref;
    const runtime::Store* store;
    bool removeUnlabelled;  // one without the request-uid label is removed too
  };
  std::vector<Swept> swept_;  // roleBindings_ first
  const runtime::TypedStore<v1::AccessRequest>& requests_;
  EnqueueFn enqueue_;
  Duration interval_;
  DatabaseSweep databases_;
  metrics::Family<metrics::Counter>* removed_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  std::jthread thread_;
};

}  // namespace kubegrant::controllers::access_request
