#pragma once

// The real kubegrant-operator (controller + admission webhook) running as a child process
// against the shared control plane, with kubegrant installed around it: CRDs, RBAC, a fresh
// serving certificate and webhook registrations of its own. What every e2e suite that acts
// as real users needs; each test brings its own namespace and policy.

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/test_env.h"

namespace kubegrant::testing {

// Polls `pred` until it is true or `timeout` passes; returns its last answer.
bool waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
             std::chrono::milliseconds every = std::chrono::milliseconds(100));

std::string readFile(const std::string& path);

// A child process whose stdout and stderr go to one file.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { stop(SIGKILL); }

  void start(const std::string& bin, const std::vector<std::string>& args,
             const std::string& logPath, const std::vector<std::string>& extraEnv = {});
  // Sends `sig` and waits; returns the exit status (or -signal). 0 when not running.
  int stop(int sig = SIGTERM);
  // Waits for the process to exit by itself, at most `timeout`; its exit status (or
  // -signal), or nullopt when it is still running.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool running() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

struct OperatorBinaries {
  std::string sourceDir;    // the repository (crds/, operator/deploy/)
  std::string operatorBin;  // kubegrant-operator
  std::string certsBin;     // kubegrant-certs
};

// The username of the "operator" kubeconfig from up.sh: the one identity the operator is
// configured with (--operator-identity), trusted by the webhook and bound by the RBAC.
inline constexpr const char* kOperatorIdentity = "kubegrant-operator";

// How kubegrant is installed around the operator.
struct ChartInstall {
  // `helm upgrade --install RELEASE charts/kubegrant -n NAMESPACE` (KUBEGRANT_HELM) with these
  // extra --set values; the webhook configurations point at this machine (webhook.url). The
  // serving certificate is the chart's default, self-managed by the operator (its host list
  // gets 127.0.0.1 from webhook.url), unless `set` picks webhook.certificate.mode=helm: then
  // the test's certificate (--webhook-cert-dir) and its CA (webhook.caBundle). The operator then
  // runs as the chart's ServiceAccount: no kubeconfig, a token from the TokenRequest API written
  // with the CA and namespace into a folder laid out like
  // /var/run/secrets/kubernetes.io/serviceaccount
  // (--service-account-dir), KUBERNETES_SERVICE_HOST/PORT set, and the chart's own
  // configuration file (--config, from its ConfigMap) with local addresses on top.
  std::string release = "kgchart";
  std::string namespace_ = "kgchart-system";
  std::vector<std::string> set;  // "key=value" for --set
};

class OperatorHarness {
 public:
  explicit OperatorHarness(OperatorBinaries bins) : bins_(std::move(bins)) {
    // KUBEGRANT_E2E_INSTALL=chart runs a whole suite against the Helm-installed kubegrant
    // (one replica, no leader election: suites restart the operator at will).
    if (const char* v = std::getenv("KUBEGRANT_E2E_INSTALL"); v && std::string(v) == "chart") {
      chart_ = ChartInstall{.set = {"replicaCount=1", "leaderElection.enabled=false"}};
    }
  }
  // Installs with the chart instead of operator/deploy's manifests (call before setUp).
  void useChart(ChartInstall chart) { chart_ = std::move(chart); }
  const std::optional<ChartInstall>& chart() const { return chart_; }

  // Installs kubegrant and starts the operator; webhooks are registered as
  // `<configPrefix>-<pid>` (stale ones with that prefix, left by a crashed run, are removed
  // first). `extraArgs` are added to the operator's command line on every start (e.g.
  // --notify-url). Records fatal failures: call with ASSERT_NO_FATAL_FAILURE.
  void setUp(const TestEnv& env, const std::string& configPrefix,
             std::vector<std::string> extraArgs = {});
  // Starts (or restarts) the operator and waits until it is ready.
  void startOperator();
  // Stops it; returns its exit status (or -signal).
  int stopOperator(int sig = SIGTERM) { return operator_.stop(sig); }
  // A second replica (the same configuration; its own webhook and health ports and log
  // operator-2.log), e.g. for leader election. Waits until it is ready. Records failures.
  void startSecondReplica();
  int stopSecondReplica(int sig = SIGTERM) { return second_.stop(sig); }
  pid_t secondReplicaPid() const { return second_.pid(); }
  int secondWebhookPort() const { return secondWebhookPort_; }
  // Removes this harness's webhook registrations; registerWebhooks() puts them back (with
  // the self-managed certificate, with the CA the operator wrote into its Secret).
  void unregisterWebhooks();
  void registerWebhooks();
  const std::string& webhookConfigName() const { return webhookConfig_; }
  int webhookPort() const { return webhookPort_; }

  // Chart mode with webhook.certificate.mode self-managed (the chart's default): the operator
  // keeps its serving certificate in this Secret and caBundle equal to its ca.crt.
  bool selfManagedCertificate() const;
  std::string certificateSecretNamespace() const { return chart_ ? chart_->namespace_ : ""; }
  std::string certificateSecretName() const { return fullname() + "-webhook-tls"; }
  // The Secret's data["ca.crt"] (base64, i.e. what caBundle must be); "" when there is none.
  std::string certificateSecretCaBundle() const;
  // caBundle of every webhook of both configurations ("" when unset).
  std::vector<std::string> caBundles() const;
  // Waits until every webhook's caBundle is the Secret's ca.crt. Records failures.
  void waitForCaBundle(std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

  const std::string& dir() const { return dir_; }          // temp folder of this run
  const std::string& logPath() const { return logPath_; }  // operator stdout (audit) + stderr
  pid_t operatorPid() const { return operator_.pid(); }

  // Chart mode: the ServiceAccount's username (the operator's identity) and what
  // `helm uninstall` does here. Its pre-delete hook is a Job, which cannot run on a control
  // plane without nodes, so the hook's own container command (kubectl ARGS from the rendered
  // Job) runs here with the same identity, the ServiceAccount's token; then the operator is
  // stopped with SIGTERM (its pod going with the Deployment) and `helm uninstall --no-hooks`.
  // Records fatal failures.
  std::string serviceAccountUsername() const;
  void uninstallChart();

 private:
  // <release>-kubegrant, or the release when it names kubegrant ("kubegrant" outside charts).
  std::string fullname() const;
  void setUpChart(const std::string& configPrefix);
  void writeServiceAccountDir();
  void launch(ChildProcess& process, int webhookPort, int healthPort, const std::string& logPath);
  void removeStaleWebhooks(const std::string& configPrefix);
  static std::string base64File(const std::string& path);
  // kubectl ARGS as the chart's ServiceAccount (its token, the API server, the CA).
  CommandResult kubectlAsServiceAccount(const std::vector<std::string>& args) const;

  OperatorBinaries bins_;
  TestEnv env_;
  std::optional<ChartInstall> chart_;
  std::string dir_, logPath_, webhookConfig_, webhookYaml_;
  std::vector<std::string> extraArgs_;
  int webhookPort_ = 0, healthPort_ = 0;
  int secondWebhookPort_ = 0, secondHealthPort_ = 0;
  ChildProcess operator_;
  ChildProcess second_;
};

}  // namespace kubegrant::testing
