#pragma once

// Wires the operator together: informers (AccessRequests, AccessPolicies, kubegrant's
// RoleBindings), the AccessRequest controller, the orphan sweep, the admission webhook
// server, Events, and the /healthz, /readyz and /metrics endpoints. main.cc only parses
// flags, builds the client and runs a Manager until a signal.
//
// Readiness is real: /readyz answers 200 only when every informer has synced and the webhook
// port accepts connections (or the webhook is disabled); otherwise 503 naming what is
// missing. /healthz fails once the manager hit a fatal condition (e.g. leadership lost).

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "controllers/access_request/audit.h"
#include "controllers/access_request/reconciler.h"
#include "operator/common/clock.h"
#include "operator/common/metrics.h"
#include "operator/kube/client.h"
#include "operator/manager/event_recorder.h"
#include "operator/manager/http_server.h"
#include "operator/runtime/controller.h"
#include "operator/runtime/event_recorder.h"
#include "operator/runtime/informer.h"
#include "operator/runtime/leader_election.h"

namespace kubegrant::webhooks {
class WebhookServer;
}

namespace kubegrant::manager {

struct ManagerOptions {
  int webhookPort = 9443;  // 0 = no webhook
  std::string webhookAddress = "0.0.0.0";
  std::string webhookCertDir;
  std::string metricsAddr = ":8080";  // "0" or "" = off
  std::string healthAddr = ":8081";
  Duration sweepInterval = std::chrono::seconds(60);
  int workers = 4;
  bool leaderElect = false;
  std::string leaseNamespace = "kubegrant-system";
  std::string leaseName = "kubegrant-operator";
  std::string identity;  // leader election identity; "" = hostname_pid
};

class Manager {
 public:
  // client, clock and audit (may be null) must outlive the manager.
  Manager(kube::Client& client, Clock& clock, controllers::access_request::AuditLog* audit,
          ManagerOptions options);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Starts servers, informers, the webhook, and (when not electing, or once leading) the
  // controller and the sweep. Fails when a port cannot be bound or the webhook cannot load
  // its certificate.
  [[nodiscard]] Result<void> start();
  // Graceful: controller (in-flight reconciles finish), sweep, informers, Events, webhook,
  // servers. Idempotent.
  void stop();

  // Set when the process must exit non-zero (leadership lost).
  std::optional<std::string> fatal() const;
  bool ready(std::string* why = nullptr) const;
  metrics::Registry& metrics() { return metrics_; }
  int healthPort() const { return health_ ? health_->port() : 0; }
  int metricsPort() const { return metricsServer_ ? metricsServer_->port() : 0; }

 private:
  void startControllers();
  void stopControllers();
  void sweepLoop(std::stop_token stop);
  HttpResponse serveHealth(const std::string& method, const std::string& path) const;
  void setupMetrics();

  kube::Client& client_;
  Clock& clock_;
  controllers::access_request::AuditLog* audit_;
  ManagerOptions options_;
  metrics::Registry metrics_;

  std::unique_ptr<runtime::KubeEventRecorder> recorder_;
  std::unique_ptr<AsyncEventSink> events_;
  std::unique_ptr<controllers::access_request::AccessRequestReconciler> reconciler_;
  std::unique_ptr<runtime::Controller> controller_;
  std::unique_ptr<runtime::Informer> requests_;
  std::unique_ptr<runtime::Informer> policies_;
  std::unique_ptr<runtime::Informer> roleBindings_;
  std::unique_ptr<controllers::access_request::Sweeper> sweeper_;
  std::unique_ptr<webhooks::WebhookServer> webhook_;
  std::unique_ptr<HttpServer> health_;
  std::unique_ptr<HttpServer> metricsServer_;
  std::unique_ptr<runtime::LeaseLock> leaseLock_;
  std::unique_ptr<runtime::LeaderElector> elector_;

  mutable std::mutex mu_;
  std::condition_variable sweepCv_;
  std::jthread sweepThread_;
  bool controllersStarted_ = false;
  bool stopped_ = false;
  std::optional<std::string> fatal_;
};

}  // namespace kubegrant::manager
