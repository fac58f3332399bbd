#pragma once

// kubegrant's admission webhook server: the HTTPS transport with hot-reloaded TLS, routing
// kubegrant's four webhook paths to their rules. This is what operator/main.cc starts:
//
//   auto policies = ...;  // a PolicyLookup backed by the AccessPolicy informer cache
//   webhooks::WebhookServerConfig cfg;
//   cfg.port = flags.webhookPort;          // --webhook-port (9443)
//   cfg.certDir = flags.webhookCertDir;    // --webhook-cert-dir (tls.crt, tls.key)
//   cfg.policies = policies;
//   webhooks::WebhookServer server(std::move(cfg));
//   if (auto r = server.start(); !r) { log + exit 1 }
//   ... run ...; server.stop();
//
// Paths (charts/kubegrant/templates/webhooks.yaml registers them):
//   POST /mutate-accessrequest     stamps spec.requester (create), approver/time (status)
//   POST /validate-accessrequest   create, spec update and status (approval) rules
//   POST /validate-accesspolicy    AccessPolicy sanity
//   POST /validate-databasetarget  DatabaseTarget sanity
//   GET  /healthz, /readyz         "ok"

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "operator/common/clock.h"
#include "operator/common/result.h"
#include "webhooks/access_request/handler.h"
#include "webhooks/access_request/lookup.h"
#include "webhooks/server/admission.h"
#include "webhooks/server/routes.h"
#include "webhooks/server/tls.h"

namespace kubegrant::webhooks {

struct WebhookServerConfig {
  std::string address = "0.0.0.0";
  int port = 9443;
  std::string certDir;  // tls.crt (leaf + chain) and tls.key, reloaded when they change
  // Instead of certDir: the pair held in memory, replaced while serving (TlsMaterial::setPem;
  // the self-managed certificate's Secret, self_managed_certificate.h).
  std::shared_ptr<TlsMaterial> tls;
  OperatorIdentity operatorIdentity;              // trusted by the rules; "" = nobody
  std::vector<std::string> adminGroups;           // may delete requests and edit metadata
  std::shared_ptr<const PolicyLookup> policies;   // required
  std::shared_ptr<const RequestLookup> requests;  // for maxOpenRequests; null = not counted
  std::shared_ptr<const seal::Sealer> sealer;     // null = sealing off
  std::shared_ptr<const TargetLookup> targets;    // spec.databases; null = not checked
  v1alpha1::SecretNamespaces secretNamespaces;    // --secret-namespace; empty = any
  // Audit line of each refused AccessRequest review (AdmissionOptions::audit); may be empty.
  std::function<void(const nlohmann::json&)> audit;
  // Security denials: a "security" notification each (null = none) and
  // kubegrant_webhook_security_denials_total{rule} (null = not counted).
  std::shared_ptr<notify::Sink> notifications;
  metrics::Registry* metrics = nullptr;
  std::shared_ptr<const Clock> clock;  // default: SystemClock
  // maxBodyBytesFor(the API server's --max-request-bytes).
  std::size_t maxBodyBytes = kDefaultMaxBodyBytes;
};

class WebhookServer {
 public:
  explicit WebhookServer(WebhookServerConfig config);
  ~WebhookServer();
  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  // Loads the certificate pair and starts serving. Fails when the pair is missing or broken,
  // when no PolicyLookup is configured, or when the port cannot be bound.
  [[nodiscard]] Result<void> start();
  // Idempotent; also done by the destructor.
  void stop();
  std::string url() const;
  // The transport-free entry point (same routes), for tests and tools.
  const AdmissionRouter& router() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kubegrant::webhooks
