#pragma once

// Performs a plan's effects (effects.h) against the API server, in order, stopping at the
// first error: a grant is never reported before it exists, and nothing is told before the
// status write that makes it true. Every API error is returned as is (the controller retries
// it with backoff); only a grant the API server refuses for good ends the run early with a
// GrantRefused, for planRefusal().

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <variant>

#include "controllers/access_request/audit.h"
#include "controllers/access_request/effects.h"
#include "controllers/database/provider.h"
#include "crds/v1alpha1/policy.h"
#include "operator/common/clock.h"
#include "operator/common/metrics.h"
#include "operator/kube/client.h"
#include "operator/runtime/informer.h"
#include "operator/seal/seal.h"

namespace kubegrant::controllers::access_request {

// A Kubernetes Event on the request (type "Normal" or "Warning").
struct RequestEvent {
  std::string type;
  std::string reason;
  std::string message;
};
using EventFn = std::function<void(const v1::AccessRequest& request, const RequestEvent& event)>;

// Where RoleBindings are looked up before they are created or adopted: the manager passes its
// cache of kubegrant's RoleBindings (nullptr = not cached). Empty = GET each one.
using RoleBindingReader = std::function<runtime::ObjectPtr(const kube::ObjectKey& key)>;

struct ExecutorOptions {
  std::string fieldManager = "kubegrant-operator";
  AuditLog* audit = nullptr;             // may be null
  EventFn events;                        // may be empty
  metrics::Registry* metrics = nullptr;  // may be null
  RoleBindingReader roleBindings;
  // Mints and ends database users (database_grants.cc); null = spec.databases is refused.
  std::shared_ptr<database::CredentialProvider> databases;
  // Where a DatabaseTarget's admin and CA Secrets may be read (--secret-namespace); a target
  // naming another namespace is refused before any Secret is read, also when the webhook that
  // refuses such targets was away. Empty = any.
  v1alpha1::SecretNamespaces secretNamespaces;
  // Seals every status written (operator/seal); nullptr = sealing off (tests of other rules).
  std::shared_ptr<const seal::Sealer> sealer;
  // Takes Notify effects (operator/notify); nullptr = they are skipped.
  std::shared_ptr<notify::Sink> notifications;
};

class Executor {
 public:
  // `client` and `clock` (and the options' audit log and registry) must outlive this.
  Executor(kube::Client& client, Clock& clock, ExecutorOptions options);

  // Performs `effects` for `request` (the copy the plan was made from). ok(nullopt) = all
  // done; ok(refusal) = a grant was refused for good and the rest was not performed.
  // Thread-safe: holds no state between calls but the set behind the pending-revocations gauge.
  [[nodiscard]] Result<std::optional<GrantRefused>> run(const v1::AccessRequest& request,
                                                        const std::vector<Effect>& effects) const;

  // Whether performing `effects` would do nothing at all: each is a RoleBinding the cache
  // already holds exactly as desired (what perform() leaves alone). False as soon as one would
  // create or replace a grant, write a status, or record anything; then the reconciler first
  // confirms the request with the API server.
  [[nodiscard]] bool nothingToDo(const v1::AccessRequest& request,
                                 const std::vector<Effect>& effects) const;

  // The admin access to a DatabaseTarget (from its Secrets), or why not. Also what the sweep
  // reaches targets with.
  Result<std::variant<database::TargetAccess, GrantRefused>> targetAccessFor(
      const v1::DatabaseTarget& target) const;

 private:
  using Outcome = Result<std::optional<GrantRefused>>;
  Outcome perform(const v1::AccessRequest& request, const EnsureRoleBinding& e) const;
  Outcome perform(const v1::AccessRequest& request, const RemoveRoleBinding& e) const;
  Outcome perform(const v1::AccessRequest& request, const EnsureTemporaryRole& e) const;
  Outcome perform(const v1::AccessRequest& request, const EnsureDatabaseUser& e) const;
  Outcome perform(const v1::AccessRequest& request, const ReapplyDatabaseProfile& e) const;
  Outcome perform(const v1::AccessRequest& request, const RemoveLabelled& e) const;
  Outcome perform(const v1::AccessRequest& request, const RevokeDatabaseUsers& e) const;
  Outcome perform(const v1::AccessRequest& request, const WriteStatus& e) const;
  Outcome perform(const v1::AccessRequest& request, const DeleteRequest& e) const;
  Outcome perform(const v1::AccessRequest& request, const Record& e) const;
  Outcome perform(const v1::AccessRequest& request, const CountTransition& e) const;
  Outcome perform(const v1::AccessRequest& request, const ObserveLatency& e) const;
  Outcome perform(const v1::AccessRequest& request, const Notify& e) const;
  Result<runtime::ObjectPtr> existingRoleBinding(const kube::ObjectKey& key) const;
  // The cache's copy of a binding (nullptr: not there); nullopt when the cache does not hold
  // that kind (no cache, or a ClusterRoleBinding).
  std::optional<runtime::ObjectPtr> cachedRoleBinding(const kube::ObjectKey& key) const;
  // Deletes `key` (when not `recorded`: only if it carries the request's uid label) and
  // verifies it is gone; NotFound is success.
  Outcome removeOurs(const kube::ResourceRef& ref, const kube::ObjectKey& key,
                     const v1::AccessRequest& request, bool recorded) const;
  void count(const char* operation, const char* result) const;
  // The database revocation of `request` is pending (or no longer): the
  // DatabaseRevocationPending condition (written once when it turns True), a Warning Event and
  // the kubegrant_database_revocations_pending gauge (requests waiting for their database).
  Outcome revocationPending(const v1::AccessRequest& request, const Error& error) const;
  void revocationDone(const v1::AccessRequest& request) const;

  kube::Client& client_;
  Clock& clock_;
  ExecutorOptions options_;
  metrics::Family<metrics::Counter>* transitions_ = nullptr;
  metrics::Family<metrics::Histogram>* approvalToActive_ = nullptr;
  metrics::Family<metrics::Histogram>* expiryLag_ = nullptr;
  metrics::Family<metrics::Counter>* grantOps_ = nullptr;
  metrics::Gauge* revocationsPending_ = nullptr;
  metrics::Counter* breakGlass_ = nullptr;
  mutable std::mutex pendingMu_;
  mutable std::set<std::string> pendingUids_;  // requests whose database user is not gone yet
};

}  // namespace kubegrant::controllers::access_request
