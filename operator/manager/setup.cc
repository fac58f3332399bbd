#include "operator/manager/setup.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "controllers/access_request/executor.h"
#include "controllers/access_request/notifications.h"
#include "controllers/access_request/reconciler.h"
#include "controllers/access_request/sweeper.h"
#include "controllers/database/postgres/postgres_provider.h"
#include "crds/v1alpha1/types.h"
#include "operator/common/base64.h"
#include "operator/common/log.h"
#include "operator/manager/async_event_sink.h"
#include "operator/manager/request_packing.h"
#include "operator/notify/dispatcher.h"
#include "operator/notify/http_poster.h"
#include "operator/notify/signing.h"
#include "operator/seal/secret_keyring.h"
#include "webhooks/server/informer_lookup.h"
#include "webhooks/server/informer_request_lookup.h"
#include "webhooks/server/self_managed_certificate.h"
#include "webhooks/server/webhook_server.h"

namespace kubegrant::manager {
namespace {

namespace ar = controllers::access_request;
namespace v1 = v1alpha1;
constexpr const char* kPolicyIndex = "spec.policy";
constexpr const char* kTargetIndex = "spec.databases.target";

std::string defaultIdentity() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return fmt::format("{}_{}", host, ::getpid());
}

bool tcpAccepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

// The admission webhook server, on every replica (the API server calls whichever it reaches).
class WebhookRunnable final : public runtime::Runnable {
 public:
  explicit WebhookRunnable(webhooks::WebhookServerConfig config) : server_(std::move(config)) {}
  Result<void> start() override {
    if (auto r = server_.start(); !r) {
      return fail(r.error().code, "webhook server: " + r.error().message);
    }
    return ok();
  }
  void stop() override { server_.stop(); }

 private:
  webhooks::WebhookServer server_;
};

// The notification dispatcher (operator/notify) on every replica: the leader's reconciler
// sends lifecycle notifications, every replica's webhook sends security ones.
class NotificationRunnable final : public runtime::Runnable {
 public:
  NotificationRunnable(std::unique_ptr<notify::Poster> poster,
                       std::shared_ptr<notify::Dispatcher> dispatcher)
      : poster_(std::move(poster)), dispatcher_(std::move(dispatcher)) {}
  ~NotificationRunnable() override { dispatcher_->stop(); }
  Result<void> start() override { return dispatcher_->start(); }
  void stop() override { dispatcher_->stop(); }

 private:
  std::unique_ptr<notify::Poster> poster_;  // used by dispatcher_; outlives its workers
  std::shared_ptr<notify::Dispatcher> dispatcher_;
};

// A policy receiver's URL: the Secret key it names, read when a notification is delivered.
Result<std::string> readSecretKey(kube::Client& client, const v1::SecretNamespaces& scope,
                                  const v1::SecretKeyReference& ref) {
  if (!scope.allows(ref.namespace_)) {
    return fail(ErrorCode::Invalid,
                fmt::format("Secret {}/{} is outside the namespaces the operator reads Secrets "
                            "from (--secret-namespace)",
                            ref.namespace_, ref.name));
  }
  auto secret = client.get(kube::resources::secrets(), {ref.namespace_, ref.name});
  if (!secret) return std::unexpected(secret.error());
  const auto data = secret->body.value("data", nlohmann::json::object());
  auto it = data.find(ref.key);
  if (it == data.end() || !it->is_string()) {
    return fail(ErrorCode::NotFound, fmt::format("the Secret has no key {}", ref.key));
  }
  auto url = base64Decode(it->get<std::string>(), "url");
  if (!url) return std::unexpected(url.error());
  while (!url->empty() && (url->back() == '\n' || url->back() == '\r' || url->back() == ' '))
    url->pop_back();
  return *url;
}

template <typename T>
typename runtime::TypedStore<T>::Decode decoder() {
  return [](const kube::Object& obj) { return v1::fromJson<T>(obj.body); };
}

// --webhook-cert-secret: every replica serves the pair in the Secret; the leader keeps it and
// both webhook configurations' caBundle current (webhooks/server/self_managed_certificate.h).
void addSelfManagedCertificate(runtime::Manager& mgr, Clock& clock, const Flags& flags,
                               std::shared_ptr<webhooks::TlsMaterial> tls) {
  const auto slash = flags.webhookCertSecret.find('/');
  webhooks::CertificateSecretRef ref{flags.webhookCertSecret.substr(0, slash),
                                     flags.webhookCertSecret.substr(slash + 1)};
  auto& secret =
      mgr.informer(kube::resources::secrets(), webhooks::certificateSecretInformerOptions(ref));
  auto source = std::make_shared<webhooks::SecretCertificateSource>(secret, std::move(tls), ref,
                                                                    &mgr.metrics());
  mgr.addReadyzCheck("webhook-certificate", [source] { return source->ready(); });
  webhooks::CertificateRotatorOptions o;
  o.secret = ref;
  webhooks::splitHosts(flags.webhookCertHosts, o.settings);
  o.settings.lifetime = std::chrono::duration_cast<std::chrono::seconds>(flags.webhookCertLifetime);
  o.settings.caLifetime = std::chrono::duration_cast<std::chrono::seconds>(flags.webhookCaLifetime);
  o.webhookConfigurationName = flags.webhookConfigurationName;
  // A tenth of the lifetime (between 0.5 and 5 s) for the API server to see a new caBundle.
  o.caPropagation = std::clamp<std::chrono::milliseconds>(
      std::chrono::duration_cast<std::chrono::milliseconds>(flags.webhookCertLifetime / 10),
      std::chrono::milliseconds(500), std::chrono::seconds(5));
  o.metrics = &mgr.metrics();
  o.events = &mgr.eventRecorder();
  mgr.add(std::make_unique<webhooks::CertificateRotator>(mgr.client(), clock, secret, std::move(o)),
          runtime::RunOn::Leader);
}

}  // namespace

runtime::ManagerOptions managerOptions(const Flags& flags) {
  runtime::ManagerOptions o;
  o.leaderElection = flags.leaderElect;
  o.leaseNamespace = flags.leaderElectionNamespace;
  o.leaseName = flags.leaderElectionId;
  o.identity = defaultIdentity();
  o.healthAddr = flags.healthAddr;
  o.metricsAddr = flags.metricsAddr;
  return o;
}

Result<void> setupOperator(runtime::Manager& mgr, Clock& clock, ar::AuditLog* audit,
                           const Flags& flags) {
  // One identity (issue 11): the webhook trusts exactly the username the manifests name.
  auto identity = resolveOperatorIdentity(flags);
  if (!identity) return std::unexpected(identity.error());
  auto keysRef = seal::parseSealKeysSecret(flags.sealKeysSecret);
  if (!keysRef) return fail(ErrorCode::Invalid, "--seal-keys-secret: " + keysRef.error().message);
  // The seal keys, watched for rotation; nothing is sealed or believed until they are loaded.
  auto sealer = std::make_shared<seal::HmacSealer>();
  auto& secrets =
      mgr.informer(kube::resources::secrets(), seal::SecretKeyring::informerOptions(*keysRef));
  auto keyring = std::make_shared<seal::SecretKeyring>(secrets, *sealer, *keysRef);
  mgr.addReadyzCheck("seal-keys", [keyring] { return keyring->ready(); });

  // Typed views first: a reconcile woken by an event finds that event's object decoded.
  // AccessRequests, the objects there are thousands of, are held once, in the typed store:
  // packed (compressed JSON), with the few being worked on decoded and shared by every
  // reader; the informer keeps only keys, resourceVersions and its indexes, which answer with
  // keys (bench/README.md, issue 15).
  runtime::InformerOptions requestCache;
  requestCache.metadataOnly = true;
  auto& requests = mgr.typedStore<v1::AccessRequest>(kube::resources::accessRequests(),
                                                     decoder<v1::AccessRequest>(), requestCache,
                                                     accessRequestPacking());
  auto& policies = mgr.typedStore<v1::AccessPolicy>(kube::resources::accessPolicies(),
                                                    decoder<v1::AccessPolicy>());
  // The webhook checks spec.databases against the targets (target and profile exist).
  auto& targets = mgr.typedStore<v1::DatabaseTarget>(kube::resources::databaseTargets(),
                                                     decoder<v1::DatabaseTarget>());
  runtime::InformerOptions managedByUs;
  managedByUs.labelSelector = fmt::format("{}={}", ar::kManagedByLabel, ar::kManagedByValue);
  managedByUs.compactCache = true;  // one per Active request; read once per reconcile
  auto& roleBindings = mgr.informer(kube::resources::roleBindings(), managedByUs);
  // Also kubegrant's: ClusterRoleBindings (scope Cluster), the temporary Roles and ClusterRoles
  // of spec.rules and the database Secrets' reader Roles. Watched so that a change behind our
  // back re-checks the request, and swept like the RoleBindings.
  auto& clusterRoleBindings = mgr.informer(kube::resources::clusterRoleBindings(), managedByUs);
  auto& roles = mgr.informer(kube::resources::roles(), managedByUs);
  auto& clusterRoles = mgr.informer(kube::resources::clusterRoles(), managedByUs);
  auto& requestInformer = mgr.informer(kube::resources::accessRequests(), requestCache);
  requestInformer.addIndexer(webhooks::kOpenRequestsIndex, webhooks::openRequestsIndex());
  requestInformer.addIndexer(kPolicyIndex, [](const kube::Object& obj) {
    std::vector<std::string> out;
    const auto spec = obj.body.value("spec", nlohmann::json::object());
    if (spec.contains("policy") && spec["policy"].is_string())
      out.push_back(spec["policy"].get<std::string>());
    return out;
  });

  requestInformer.addIndexer(kTargetIndex, [](const kube::Object& obj) {
    std::vector<std::string> out;
    const auto spec = obj.body.value("spec", nlohmann::json::object());
    for (const auto& d : spec.value("databases", nlohmann::json::array())) {
      if (d.is_object() && d.contains("target") && d["target"].is_string())
        out.push_back(d["target"].get<std::string>());
    }
    return out;
  });

  // Where policies and targets may name Secrets (--secret-namespace; flags.h).
  v1::SecretNamespaces secretNamespaces;
  if (flags.secretNamespaces.empty()) {
    secretNamespaces.allowed = {flags.leaderElectionNamespace};
  } else if (std::ranges::find(flags.secretNamespaces, "*") == flags.secretNamespaces.end()) {
    secretNamespaces.allowed = flags.secretNamespaces;
  }

  // Events come last: while the controller has timed work due or in flight (an expiry's
  // RoleBinding DELETE and status write, a timeout, a retry), none is sent (issue 15). The
  // controller is created below.
  auto controllerBusy = std::make_shared<std::function<bool()>>();
  EventSinkOptions eo;
  eo.yieldTo = [controllerBusy] { return *controllerBusy && (*controllerBusy)(); };
  auto events = std::make_unique<AsyncEventSink>(mgr.eventRecorder(), clock, std::move(eo));
  AsyncEventSink* sink = events.get();
  mgr.metrics().addCollector(
      [sink,
       &dropped = mgr.metrics().gauge(
           "kubegrant_events_dropped",
           "Events dropped unsent: queue full, waited too long, or not sent before shutdown."),
       &expired = mgr.metrics().gauge(
           "kubegrant_events_expired",
           "Of kubegrant_events_dropped, the Events that waited longer than their usefulness."),
       &pending = mgr.metrics().gauge("kubegrant_events_pending", "Events queued, not yet sent.")] {
        dropped.with().set(static_cast<double>(sink->dropped()));
        expired.with().set(static_cast<double>(sink->expired()));
        pending.with().set(static_cast<double>(sink->pending()));
      });
  mgr.add(std::move(events), runtime::RunOn::EveryReplica);

  // Notifications (issue 14): delivered from a bounded queue with retries; a delivered lifecycle
  // notification is recorded on its request (kubegrant.io/notified) so a restart does not
  // repeat it, and one not delivered is planned again (controllers/access_request/notifications.h).
  notify::DispatcherOptions no;
  no.defaultUrl = flags.notifyUrl;
  if (!flags.notifySecretFile.empty()) {
    auto key = notify::readSigningKey(flags.notifySecretFile);
    if (!key) return std::unexpected(key.error());
    no.signingKey = std::move(*key);
  }
  no.metrics = &mgr.metrics();
  no.resolveUrl = [&client = mgr.client(), secretNamespaces](const v1::SecretKeyReference& ref) {
    return readSecretKey(client, secretNamespaces, ref);
  };
  no.onDelivered = [ledger = std::make_shared<ar::NotificationLedger>(mgr.client(), sealer)](
                       const notify::Notification& n) {
    if (auto r = ledger->record(n); !r) {
      // Not recorded: the next reconcile or restart sends it again, with the same id.
      log::warn("notify", "cannot record a delivered notification on its request",
                {{"id", n.id}, {"event", n.event}, {"error", r.error().message}});
    }
  };
  auto poster = notify::makeHttpPoster();
  auto dispatcher = std::make_shared<notify::Dispatcher>(*poster, clock, std::move(no));
  mgr.add(std::make_unique<NotificationRunnable>(std::move(poster), dispatcher),
          runtime::RunOn::EveryReplica);

  ar::ReconcilerOptions ro;
  ro.notify = ar::NotifyOptions{.operatorWide = !flags.notifyUrl.empty(),
                                .expiringLead = flags.notifyExpiringLead};
  ro.notifications = dispatcher;
  // PostgreSQL users for spec.databases (controllers/database/postgres; admin connections
  // pooled per target, see connection_pool.h).
  auto databaseProvider = std::make_shared<database::postgres::PostgresProvider>();
  ro.databases = databaseProvider;
  ro.secretNamespaces = secretNamespaces;
  ro.policyReader = [&policies](const std::string& name) { return policies.get({"", name}); };
  ro.requestReader = [&requests](const runtime::NamespacedName& key) { return requests.get(key); };
  ro.targetReader = [&targets](const std::string& name) { return targets.get({"", name}); };
  ro.roleBindingReader = [&roleBindings](const kube::ObjectKey& key) {
    return roleBindings.store().get(key);
  };
  ro.sealer = sealer;
  // A revocation's status write waits while other requests wait for a worker (a herd of
  // expiries: every DELETE first). The controller is created below.
  auto othersWaiting = std::make_shared<std::function<bool()>>();
  ro.othersWaiting = [othersWaiting] { return *othersWaiting && (*othersWaiting)(); };
  auto reconciler = std::make_unique<ar::AccessRequestReconciler>(
      mgr.client(), clock, audit,
      [sink](const v1::AccessRequest& r, const ar::RequestEvent& e) { sink->record(r, e); },
      &mgr.metrics(), std::move(ro));
  runtime::ControllerOptions co;
  co.workers = flags.workers;
  runtime::Controller& controller = mgr.addController("accessrequest", std::move(reconciler), co);
  *controllerBusy = [&controller] { return controller.queue().dueWorkPending(); };
  *othersWaiting = [&controller] { return controller.queue().hasWaitingWork(); };

  requestInformer.addEventHandler(runtime::enqueueObject(controller.queue()));
  // Live policies: any change re-checks every request under the policy.
  mgr.informer(kube::resources::accessPolicies())
      .addEventHandler(runtime::enqueueMapped(
          controller.queue(), [&requestInformer](const kube::Object& policy) {
            return requestInformer.store().keysByIndex(kPolicyIndex, policy.name());
          }));
  // Live DatabaseTargets (as Watches + EnqueueRequestsFromMapFunc): a target that changes or
  // goes re-checks every request naming it; the plan revokes a profile the target no longer
  // has and re-applies one whose definition changed (profileHash in status.grants).
  mgr.informer(kube::resources::databaseTargets())
      .addEventHandler(runtime::enqueueMapped(
          controller.queue(), [&requestInformer](const kube::Object& target) {
            return requestInformer.store().keysByIndex(kTargetIndex, target.name());
          }));
  // A binding or temporary role changed or deleted behind our back: its request re-checks
  // its grants.
  auto owningRequest = [](const kube::Object& obj) {
    auto a = obj.annotations();
    auto ns = a.find(std::string(ar::kRequestNamespaceAnnotation));
    auto name = a.find(std::string(ar::kRequestNameAnnotation));
    if (ns == a.end() || name == a.end()) return std::vector<runtime::NamespacedName>{};
    return std::vector<runtime::NamespacedName>{{ns->second, name->second}};
  };
  for (runtime::Informer* informer : {&roleBindings, &clusterRoleBindings, &roles, &clusterRoles})
    informer->addEventHandler(runtime::enqueueMapped(controller.queue(), owningRequest));

  // The sweep drops kg_ roles of no live request; it reaches targets as the executor does.
  ar::DatabaseSweep databaseSweep;
  databaseSweep.provider = databaseProvider;
  databaseSweep.targets = &targets;
  databaseSweep.access =
      [executor = std::make_shared<ar::Executor>(
           mgr.client(), clock, ar::ExecutorOptions{.secretNamespaces = secretNamespaces})](
          const v1::DatabaseTarget& target) -> Result<std::optional<database::TargetAccess>> {
    auto access = executor->targetAccessFor(target);
    if (!access) return std::unexpected(access.error());
    if (auto* refused = std::get_if<ar::GrantRefused>(&*access)) {
      return fail(ErrorCode::Invalid, refused->message);
    }
    return std::get<database::TargetAccess>(*access);
  };
  auto sweeper = std::make_unique<ar::Sweeper>(
      mgr.client(), clock, roleBindings.store(), requests,
      [&controller](const runtime::NamespacedName& k) { controller.enqueue(k); }, &mgr.metrics(),
      flags.sweepInterval, std::move(databaseSweep));
  sweeper->alsoSweep(kube::resources::clusterRoleBindings(), clusterRoleBindings.store());
  sweeper->alsoSweep(kube::resources::roles(), roles.store());
  sweeper->alsoSweep(kube::resources::clusterRoles(), clusterRoles.store());
  mgr.add(std::move(sweeper), runtime::RunOn::Leader);

  if (flags.webhookPort != 0) {
    webhooks::WebhookServerConfig wc;
    wc.address = flags.webhookAddress;
    wc.port = flags.webhookPort;
    if (flags.webhookCertSecret.empty()) {
      wc.certDir = flags.webhookCertDir;
    } else {
      wc.tls = std::make_shared<webhooks::TlsMaterial>("");
      addSelfManagedCertificate(mgr, clock, flags, wc.tls);
    }
    wc.policies = std::make_shared<webhooks::InformerPolicyLookup>(policies);
    wc.requests = std::make_shared<webhooks::InformerRequestLookup>(requestInformer);
    wc.targets = std::make_shared<webhooks::InformerTargetLookup>(targets);
    wc.sealer = sealer;
    wc.operatorIdentity.username = *identity;
    wc.adminGroups = flags.adminGroups;
    wc.secretNamespaces = secretNamespaces;
    wc.maxBodyBytes = webhooks::maxBodyBytesFor(flags.apiServerMaxRequestBytes);
    if (audit) wc.audit = [audit](const nlohmann::json& line) { audit->write(line); };
    wc.notifications = dispatcher;
    wc.metrics = &mgr.metrics();
    mgr.add(std::make_unique<WebhookRunnable>(std::move(wc)), runtime::RunOn::EveryReplica);
    mgr.addReadyzCheck("webhook", [port = flags.webhookPort]() -> Result<void> {
      if (tcpAccepts(port)) return ok();
      return fail(ErrorCode::Unavailable,
                  fmt::format("not accepting connections on port {}", port));
    });
  }
  return ok();
}

}  // namespace kubegrant::manager
