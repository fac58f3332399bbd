#include "operator/manager/manager.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crds/v1alpha1/types.h"
#include "operator/common/log.h"
#include "operator/runtime/kube_lease_lock.h"
#include "webhooks/server/informer_policy_lookup.h"
#include "webhooks/server/webhook_server.h"

namespace kubegrant::manager {
namespace {

namespace ar = controllers::access_request;
constexpr std::string_view kLogger = "manager";
constexpr const char* kPolicyIndex = "spec.policy";

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

bool disabled(const std::string& addr) { return addr.empty() || addr == "0"; }

std::string defaultIdentity() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return fmt::format("{}_{}", host, ::getpid());
}

}  // namespace

Manager::Manager(kube::Client& client, Clock& clock, ar::AuditLog* audit, ManagerOptions options)
    : client_(client), clock_(clock), audit_(audit), options_(std::move(options)) {}

Manager::~Manager() { stop(); }

std::optional<std::string> Manager::fatal() const {
  std::lock_guard<std::mutex> g(mu_);
  return fatal_;
}

bool Manager::ready(std::string* why) const {
  auto notReady = [&](std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  };
  if (auto f = fatal()) return notReady("fatal: " + *f);
  for (const auto* inf : {requests_.get(), policies_.get(), roleBindings_.get()}) {
    if (!inf || !inf->hasSynced()) {
      return notReady(fmt::format("cache of {} not synced", inf ? inf->resource().resource : "?"));
    }
  }
  if (options_.webhookPort != 0 && (!webhook_ || !tcpAccepts(options_.webhookPort))) {
    return notReady(
        fmt::format("webhook not accepting connections on port {}", options_.webhookPort));
  }
  if (why) *why = "ok";
  return true;
}

HttpResponse Manager::serveHealth(const std::string& method, const std::string& path) const {
  if (method != "GET" && method != "HEAD") return {405, "text/plain", "method not allowed\n"};
  if (path == "/healthz" || path == "/livez") {
    if (auto f = fatal()) return {503, "text/plain", "unhealthy: " + *f + "\n"};
    return {200, "text/plain", "ok\n"};
  }
  if (path == "/readyz") {
    std::string why;
    bool r = ready(&why);
    return {r ? 200 : 503, "text/plain", why + "\n"};
  }
  return {404, "text/plain", "not found\n"};
}

void Manager::setupMetrics() {
  auto& reconciles =
      metrics_.counter("kubegrant_controller_reconcile_total",
                       "Reconciles of the AccessRequest controller, by result.", {"result"});
  auto& reconcileTime = metrics_.gauge("kubegrant_controller_reconcile_time_seconds_total",
                                       "Total time spent reconciling.");
  auto& depth = metrics_.gauge("kubegrant_workqueue_depth", "Keys ready in the work queue.");
  auto& waiting = metrics_.gauge("kubegrant_workqueue_waiting",
                                 "Keys waiting for a delayed requeue (expiry, startAt, ...).");
  auto& synced = metrics_.gauge("kubegrant_informer_synced",
                                "1 when the informer's cache has synced.", {"resource"});
  auto& cached = metrics_.gauge("kubegrant_informer_objects", "Objects in the informer's cache.",
                                {"resource"});
  auto& dropped = metrics_.gauge("kubegrant_events_dropped", "Events dropped under back-pressure.");
  auto& leader = metrics_.gauge("kubegrant_leader", "1 while this replica runs the controller.");
  // Counters are mirrored from the controller's own atomics at scrape time.
  auto& total = reconciles.with({"total"});
  auto& errors = reconciles.with({"error"});
  auto& requeue = reconciles.with({"requeue_after"});
  auto& success = reconciles.with({"success"});
  metrics_.addCollector([&, this] {
    std::unique_lock<std::mutex> g(mu_);
    auto* c = controller_.get();
    bool started = controllersStarted_;
    g.unlock();
    leader.with().set(started ? 1 : 0);
    if (c) {
      auto s = c->stats();
      total.inc(static_cast<double>(s.reconcileTotal) - total.value());
      errors.inc(static_cast<double>(s.reconcileErrors) - errors.value());
      requeue.inc(static_cast<double>(s.reconcileRequeueAfter) - requeue.value());
      success.inc(static_cast<double>(s.reconcileSuccess) - success.value());
      reconcileTime.with().set(std::chrono::duration<double>(s.reconcileTimeTotal).count());
      depth.with().set(static_cast<double>(c->queue().len()));
      waiting.with().set(static_cast<double>(c->queue().numWaiting()));
    }
    for (const auto* inf : {requests_.get(), policies_.get(), roleBindings_.get()}) {
      if (!inf) continue;
      synced.with({inf->resource().resource}).set(inf->hasSynced() ? 1 : 0);
      cached.with({inf->resource().resource}).set(static_cast<double>(inf->store().size()));
    }
    if (events_) dropped.with().set(static_cast<double>(events_->dropped()));
  });
}

Result<void> Manager::start() {
  recorder_ = std::make_unique<runtime::KubeEventRecorder>(client_, clock_);
  events_ = std::make_unique<AsyncEventSink>(*recorder_, clock_);
  ar::ReconcilerOptions ro;
  ro.policyReader = [this](const std::string& name) -> std::optional<v1alpha1::AccessPolicy> {
    if (!policies_ || !policies_->hasSynced()) return std::nullopt;
    auto obj = policies_->store().get({"", name});
    if (!obj) return std::nullopt;
    auto p = v1alpha1::fromJson<v1alpha1::AccessPolicy>(obj->body);
    if (!p) return std::nullopt;
    return std::move(*p);
  };
  ro.requestReader = [this](const runtime::NamespacedName& key) -> std::optional<kube::Object> {
    if (!requests_ || !requests_->hasSynced()) return std::nullopt;
    auto obj = requests_->store().get(key);
    if (!obj) return std::nullopt;
    return *obj;
  };
  reconciler_ = std::make_unique<ar::AccessRequestReconciler>(
      client_, clock_, audit_,
      [this](const v1alpha1::AccessRequest& r, const ar::RequestEvent& e) {
        events_->record(r, e);
      },
      &metrics_, std::move(ro));
  runtime::ControllerOptions co;
  co.workers = options_.workers;
  controller_ = std::make_unique<runtime::Controller>("accessrequest", *reconciler_, clock_, co);

  requests_ =
      std::make_unique<runtime::Informer>(client_, kube::resources::accessRequests(), clock_);
  requests_->addIndexer(kPolicyIndex, [](const kube::Object& obj) {
    std::vector<std::string> out;
    const auto spec = obj.body.value("spec", nlohmann::json::object());
    if (spec.contains("policy") && spec["policy"].is_string())
      out.push_back(spec["policy"].get<std::string>());
    return out;
  });
  requests_->addEventHandler(runtime::enqueueObject(controller_->queue()));

  policies_ =
      std::make_unique<runtime::Informer>(client_, kube::resources::accessPolicies(), clock_);
  // Live policies: any change re-checks every request under the policy.
  policies_->addEventHandler(
      runtime::enqueueMapped(controller_->queue(), [this](const kube::Object& policy) {
        std::vector<runtime::NamespacedName> keys;
        for (const auto& r : requests_->store().byIndex(kPolicyIndex, policy.name()))
          keys.push_back(r->key());
        return keys;
      }));

  runtime::InformerOptions rbo;
  rbo.labelSelector = fmt::format("{}={}", ar::kManagedByLabel, ar::kManagedByValue);
  roleBindings_ =
      std::make_unique<runtime::Informer>(client_, kube::resources::roleBindings(), clock_, rbo);
  // A binding changed or deleted behind our back: its request re-checks its grants.
  roleBindings_->addEventHandler(
      runtime::enqueueMapped(controller_->queue(), [](const kube::Object& rb) {
        auto a = rb.annotations();
        auto ns = a.find(std::string(ar::kRequestNamespaceAnnotation));
        auto name = a.find(std::string(ar::kRequestNameAnnotation));
        if (ns == a.end() || name == a.end()) return std::vector<runtime::NamespacedName>{};
        return std::vector<runtime::NamespacedName>{{ns->second, name->second}};
      }));

  sweeper_ = std::make_unique<ar::Sweeper>(
      client_, clock_, [this](const runtime::NamespacedName& k) { controller_->enqueue(k); },
      &metrics_);
  setupMetrics();

  if (!disabled(options_.healthAddr)) {
    auto addr = parseListenAddress(options_.healthAddr);
    if (!addr) return std::unexpected(addr.error());
    health_ = std::make_unique<HttpServer>(
        *addr, [this](const std::string& m, const std::string& p) { return serveHealth(m, p); });
    if (auto r = health_->start(); !r) return r;
  }
  if (!disabled(options_.metricsAddr)) {
    auto addr = parseListenAddress(options_.metricsAddr);
    if (!addr) return std::unexpected(addr.error());
    metricsServer_ = std::make_unique<HttpServer>(
        *addr, [this](const std::string& m, const std::string& p) -> HttpResponse {
          if (m != "GET" && m != "HEAD") return {405, "text/plain", "method not allowed\n"};
          if (p != "/metrics") return {404, "text/plain", "not found\n"};
          return {200, "text/plain; version=0.0.4; charset=utf-8", metrics_.render()};
        });
    if (auto r = metricsServer_->start(); !r) return r;
  }

  requests_->start();
  policies_->start();
  roleBindings_->start();

  if (options_.webhookPort != 0) {
    webhooks::WebhookServerConfig wc;
    wc.address = options_.webhookAddress;
    wc.port = options_.webhookPort;
    wc.certDir = options_.webhookCertDir;
    wc.policies = std::make_shared<webhooks::InformerPolicyLookup>(*policies_);
    webhook_ = std::make_unique<webhooks::WebhookServer>(std::move(wc));
    if (auto r = webhook_->start(); !r) {
      return fail(r.error().code, "webhook server: " + r.error().message);
    }
  }

  if (!options_.leaderElect) {
    startControllers();
  } else {
    leaseLock_ = std::make_unique<runtime::KubeLeaseLock>(client_, options_.leaseNamespace,
                                                          options_.leaseName);
    runtime::LeaderElectionConfig lc;
    lc.identity = options_.identity.empty() ? defaultIdentity() : options_.identity;
    lc.onStartedLeading = [this] { startControllers(); };
    lc.onStoppedLeading = [this] {
      std::lock_guard<std::mutex> g(mu_);
      if (!stopped_) fatal_ = "leader election lost";
    };
    lc.onNewLeader = [](const std::string& id) {
      log::info(kLogger, "leader observed", {{"identity", id}});
    };
    if (auto v = runtime::LeaderElector::validate(lc); !v) return v;
    elector_ = std::make_unique<runtime::LeaderElector>(*leaseLock_, clock_, std::move(lc));
    elector_->start();
  }
  log::info(kLogger, "started",
            {{"webhookPort", options_.webhookPort},
             {"healthPort", healthPort()},
             {"metricsPort", metricsPort()},
             {"leaderElect", options_.leaderElect}});
  return ok();
}

void Manager::startControllers() {
  std::lock_guard<std::mutex> g(mu_);
  if (controllersStarted_ || stopped_) return;
  controllersStarted_ = true;
  controller_->start();
  sweepThread_ = std::jthread([this](std::stop_token st) { sweepLoop(st); });
  log::info(kLogger, "controller started", {{"workers", options_.workers}});
}

void Manager::sweepLoop(std::stop_token stop) {
  // A first sweep right away: after a restart, grants that expired while the operator was
  // down go at once (the informer's initial list also enqueues every request).
  TimePoint next = clock_.now();
  while (!stop.stop_requested()) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!stop.stop_requested() && clock_.now() < next) {
        clock_.waitUntil(sweepCv_, lock, next);
      }
      if (stop.stop_requested()) return;
    }
    auto r = sweeper_->sweepOnce();
    if (!r) {
      log::warn(kLogger, "sweep failed", {{"error", r.error().describe()}});
    } else if (r->removed > 0 || r->enqueued > 0) {
      log::info(
          kLogger, "sweep",
          {{"roleBindings", r->roleBindings}, {"removed", r->removed}, {"enqueued", r->enqueued}});
    }
    next = clock_.now() + std::chrono::duration_cast<WallClock::duration>(options_.sweepInterval);
  }
}

void Manager::stopControllers() {
  if (sweepThread_.joinable()) {
    sweepThread_.request_stop();
    {
      std::lock_guard<std::mutex> g(mu_);
      sweepCv_.notify_all();
    }
    sweepThread_.join();
  }
  if (controller_) controller_->stop();
}

void Manager::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  log::info(kLogger, "stopping");
  stopControllers();
  if (elector_) elector_->stop();
  for (auto* inf : {requests_.get(), policies_.get(), roleBindings_.get()}) {
    if (inf) inf->stop();
  }
  if (events_) events_->stop();
  if (webhook_) webhook_->stop();
  if (metricsServer_) metricsServer_->stop();
  if (health_) health_->stop();
  log::info(kLogger, "stopped");
}

}  // namespace kubegrant::manager
