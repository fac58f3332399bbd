#include "webhooks/server/webhook_server.h"

#include "webhooks/server/https_server.h"
#include "webhooks/server/tls.h"

namespace kubegrant::webhooks {

namespace {
// Used until start() checks the config: keeps the router's references valid.
class NoPolicies final : public PolicyLookup {
 public:
  std::shared_ptr<const v1alpha1::AccessPolicy> get(std::string_view) const override {
    return nullptr;
  }
};
}  // namespace

struct WebhookServer::Impl {
  WebhookServerConfig config;
  std::shared_ptr<const PolicyLookup> policies;
  std::shared_ptr<const Clock> clock;
  AccessRequestAdmission admission;
  AdmissionRouter router;
  std::shared_ptr<TlsMaterial> tls;
  HttpsServer https;

  explicit Impl(WebhookServerConfig c)
      : config(std::move(c)),
        policies(config.policies ? config.policies : std::make_shared<NoPolicies>()),
        clock(config.clock ? config.clock : std::make_shared<SystemClock>()),
        admission(*policies, *clock,
                  AdmissionOptions{config.operatorIdentity, config.adminGroups, config.sealer.get(),
                                   config.requests.get(), config.audit, config.targets.get(),
                                   config.notifications.get(), config.metrics}),
        router(makeRouter(admission, config.maxBodyBytes, config.secretNamespaces)),
        tls(config.tls ? config.tls : std::make_shared<TlsMaterial>(config.certDir)),
        https(HttpsServerOptions{config.address, config.port}, router, *tls) {}
};

WebhookServer::WebhookServer(WebhookServerConfig config)
    : impl_(std::make_unique<Impl>(std::move(config))) {}

WebhookServer::~WebhookServer() { stop(); }

Result<void> WebhookServer::start() {
  if (!impl_->config.policies) {
    return fail(ErrorCode::Invalid, "webhook server needs a PolicyLookup");
  }
  if (impl_->config.certDir.empty() && !impl_->config.tls) {
    return fail(ErrorCode::Invalid, "webhook server needs a certificate directory or source");
  }
  return impl_->https.start();
}

void WebhookServer::stop() {
  if (impl_) impl_->https.stop();
}

std::string WebhookServer::url() const { return impl_->https.url(); }

const AdmissionRouter& WebhookServer::router() const { return impl_->router; }

}  // namespace kubegrant::webhooks
