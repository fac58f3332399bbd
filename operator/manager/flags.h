#pragma once

// The operator's command line (and the optional --config YAML file with the same keys,
// which flags override). Pure: parse, validate, and render --help.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "operator/common/clock.h"
#include "operator/common/log.h"
#include "operator/common/result.h"

namespace kubegrant::manager {

// Default of --http-threads: one I/O thread per core, at least 2.
int defaultHttpThreads();

struct Flags {
  std::string kubeconfig;  // "" = $KUBECONFIG, in-cluster, ~/.kube/config
  // The in-cluster ServiceAccount folder (token, ca.crt, namespace), used without a
  // kubeconfig when KUBERNETES_SERVICE_HOST/PORT are set.
  std::string serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
  bool leaderElect = false;
  std::string leaderElectionNamespace = "kubegrant-system";
  std::string leaderElectionId = "kubegrant-operator";
  int webhookPort = 9443;  // 0 = webhook disabled
  std::string webhookAddress = "0.0.0.0";
  std::string webhookCertDir = "/tmp/k8s-webhook-server/serving-certs";
  // Self-managed serving certificate (webhooks/server/self_managed_certificate.h): the Secret
  // NAMESPACE/NAME; "" = certificates from webhookCertDir.
  std::string webhookCertSecret;
  std::vector<std::string> webhookCertHosts;  // DNS names and IPs of the serving certificate
  Duration webhookCertLifetime = std::chrono::hours(24 * 90);
  Duration webhookCaLifetime = std::chrono::hours(24 * 3650);
  std::string webhookConfigurationName;  // whose caBundle the leader keeps; "" = none
  std::string metricsAddr = ":8080";     // "0" = disabled
  std::string healthAddr = ":8081";      // "0" = disabled
  std::string auditLog;                  // "" or "-" = stdout
  std::string notifyUrl;                 // "" = only the policies' own receivers
  std::string notifySecretFile;          // "" = notifications unsigned
  Duration notifyExpiringLead = std::chrono::minutes(10);
  std::string config;
  Duration sweepInterval = std::chrono::seconds(60);
  int workers = 4;
  double kubeApiQps = 200;  // client-side rate limit towards the API server
  int kubeApiBurst = 400;
  // cpprestsdk's shared I/O pool: the webhook listener and the API client's async I/O.
  int httpThreads = defaultHttpThreads();
  log::Level logLevel = log::Level::Info;
  // The operator's one identity (the username the webhook trusts, matchConditions exclude and
  // render-rbac.sh binds). "" = the in-cluster ServiceAccount's username, read from its token.
  std::string operatorIdentity;
  std::vector<std::string> adminGroups;  // may delete any request and edit its metadata
  // Namespaces whose Secrets policies (spec.notify) and DatabaseTargets may name. Empty = the
  // namespace of --leader-election-namespace (where the operator runs); "*" = any.
  std::vector<std::string> secretNamespaces;
  std::string sealKeysSecret = "kubegrant-system/kubegrant-seal-keys";
  // The API server's --max-request-bytes; the webhook accepts reviews 4x that size.
  std::size_t apiServerMaxRequestBytes = 3 * 1024 * 1024;
  bool help = false;
};

// Parses argv (argv[0] skipped). Accepts --flag=value and --flag value; booleans also bare
// (--leader-elect) or =true/false. Unknown flags and bad values are Invalid with a message
// naming the flag. --config is read first, then the other flags override it.
[[nodiscard]] Result<Flags> parseFlags(const std::vector<std::string>& args);

// Applies a YAML config file's keys (same names as the flags without "--") onto `flags`.
[[nodiscard]] Result<void> applyConfigFile(const std::string& path, Flags& flags);

std::string helpText();

// The username of the ServiceAccount a projected token (a JWT) belongs to: its "sub" claim,
// e.g. system:serviceaccount:kubegrant-system:kubegrant-operator. The signature is not
// checked (the API server does that for every call); this only names the identity.
[[nodiscard]] Result<std::string> serviceAccountUsername(std::string_view token);

// --operator-identity, or else the ServiceAccount of the in-cluster token at `tokenPath`.
// Invalid, saying how to set it, when neither is there: no identity is built in.
[[nodiscard]] Result<std::string> resolveOperatorIdentity(const Flags& flags,
                                                          const std::string& tokenPath);
// The same, with the token of --service-account-dir.
[[nodiscard]] Result<std::string> resolveOperatorIdentity(const Flags& flags);

}  // namespace kubegrant::manager
