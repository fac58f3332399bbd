// kubegrant-webhook-dev: the admission webhook alone, for local runs, tests and benchmarks
// while (or instead of) running the whole operator. Same server, same rules, policies from
// an AccessPolicy informer over --kubeconfig.
//
//   kubegrant-webhook-dev --kubeconfig FILE --cert-dir DIR [--port 9443] [--address 127.0.0.1]
//                         [--generate-certs [--ca-cert F --ca-key F]] [--operator-identity U]
//                         [--admin-group G]... [--seal-keys-secret NAMESPACE/NAME]
//                         [--io-threads N]   (cpprestsdk pool size; default 40, 4 is faster)
//
// --operator-identity: the username the rules trust (default: none). --seal-keys-secret:
// seal the requester and approvals with the keys of that Secret (operator/seal/seal.h has the
// format; waits up to 30 s for it); without it sealing is off. maxOpenRequests is counted
// from an AccessRequest informer.
//
// --generate-certs writes DIR/tls.crt, tls.key, ca.crt first (signed by --ca-cert/--ca-key
// when given, else by a fresh CA) for 127.0.0.1 and localhost. Register the webhooks with
// operator/deploy/render-webhooks.sh https://127.0.0.1:PORT DIR/ca.crt | kubectl apply -f -.
// Runs until SIGINT or SIGTERM.

#include <signal.h>

#include <cstdio>
#include <string>

#include "operator/common/clock.h"
#include "operator/common/log.h"
#include "operator/kube/config.h"
#include "operator/kube/rest/rest_client.h"
#include "operator/runtime/informer.h"
#include "operator/seal/secret_keyring.h"
#include "webhooks/server/certs.h"
#include "webhooks/server/https_server.h"
#include "webhooks/server/informer_policy_lookup.h"
#include "webhooks/server/informer_request_lookup.h"
#include "webhooks/server/webhook_server.h"

using namespace kubegrant;

int main(int argc, char** argv) {
  std::string kubeconfig, certDir, address = "127.0.0.1", caCert, caKey;
  std::string operatorIdentity, sealKeysSecret;
  std::vector<std::string> adminGroups;
  int port = 9443;
  bool generate = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "kubegrant-webhook-dev: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--kubeconfig") {
      kubeconfig = value();
    } else if (arg == "--cert-dir") {
      certDir = value();
    } else if (arg == "--port") {
      port = std::atoi(value().c_str());
    } else if (arg == "--address") {
      address = value();
    } else if (arg == "--generate-certs") {
      generate = true;
    } else if (arg == "--ca-cert") {
      caCert = value();
    } else if (arg == "--ca-key") {
      caKey = value();
    } else if (arg == "--io-threads") {
      webhooks::configureHttpThreads(static_cast<std::size_t>(std::atoi(value().c_str())));
    } else if (arg == "--operator-identity") {
      operatorIdentity = value();
    } else if (arg == "--admin-group") {
      adminGroups.push_back(value());
    } else if (arg == "--seal-keys-secret") {
      sealKeysSecret = value();
    } else {
      std::fprintf(stderr, "kubegrant-webhook-dev: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  if (certDir.empty()) {
    std::fprintf(stderr, "kubegrant-webhook-dev: --cert-dir is required\n");
    return 2;
  }
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGTERM);
  sigaddset(&stopSignals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

  if (generate) {
    webhooks::CertificateRequest req;
    req.dir = certDir;
    req.caCertFile = caCert;
    req.caKeyFile = caKey;
    if (auto r = webhooks::generateCertificates(req); !r) {
      log::error("webhook-dev", "cannot generate certificates", {{"error", r.error().message}});
      return 1;
    }
  }
  auto config = kube::loadDefaultConfig(kubeconfig);
  if (!config) {
    log::error("webhook-dev", "cannot load kubeconfig", {{"error", config.error().message}});
    return 1;
  }
  auto client = kube::rest::makeRestClient(*config);
  if (!client) {
    log::error("webhook-dev", "cannot build client", {{"error", client.error().message}});
    return 1;
  }
  SystemClock clock;
  runtime::Informer policies(**client, kube::resources::accessPolicies(), clock);
  runtime::Informer requests(**client, kube::resources::accessRequests(), clock);
  requests.addIndexer(webhooks::kOpenRequestsIndex, webhooks::openRequestsIndex());
  auto sealer = std::make_shared<seal::HmacSealer>();
  std::unique_ptr<runtime::Informer> secrets;
  std::unique_ptr<seal::SecretKeyring> keyring;
  auto stopAll = [&] {
    if (secrets) secrets->stop();
    requests.stop();
    policies.stop();
  };
  policies.start();
  requests.start();
  if (!sealKeysSecret.empty()) {
    auto ref = seal::parseSealKeysSecret(sealKeysSecret);
    if (!ref) {
      std::fprintf(stderr, "kubegrant-webhook-dev: --seal-keys-secret: %s\n",
                   ref.error().message.c_str());
      stopAll();
      return 2;
    }
    secrets = std::make_unique<runtime::Informer>(**client, kube::resources::secrets(), clock,
                                                  seal::SecretKeyring::informerOptions(*ref));
    keyring = std::make_unique<seal::SecretKeyring>(*secrets, *sealer, *ref);
    secrets->start();
    std::string why;
    if (!keyring->waitForKeys(std::chrono::seconds(30), &why)) {
      log::error("webhook-dev", "no seal keys", {{"error", why}});
      stopAll();
      return 1;
    }
  }

  webhooks::WebhookServerConfig wc;
  wc.address = address;
  wc.port = port;
  wc.certDir = certDir;
  wc.operatorIdentity.username = operatorIdentity;
  wc.adminGroups = adminGroups;
  wc.policies = std::make_shared<webhooks::InformerPolicyLookup>(policies);
  wc.requests = std::make_shared<webhooks::InformerRequestLookup>(requests);
  if (keyring) wc.sealer = sealer;
  webhooks::WebhookServer server(std::move(wc));
  if (auto r = server.start(); !r) {
    log::error("webhook-dev", "cannot start", {{"error", r.error().message}});
    stopAll();
    return 1;
  }
  int sig = 0;
  sigwait(&stopSignals, &sig);
  log::info("webhook-dev", "stopping", {{"signal", sig}});
  server.stop();
  stopAll();
  return 0;
}
