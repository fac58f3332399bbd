#include "tests/support/operator_harness.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/support/free_port.h"
#include "tests/support/spawn.h"

namespace kubegrant::testing {

using namespace std::chrono_literals;

bool waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
             std::chrono::milliseconds every) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(every);
  }
  return pred();
}

std::string readFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void ChildProcess::start(const std::string& bin, const std::vector<std::string>& args,
                         const std::string& logPath, const std::vector<std::string>& extraEnv) {
  std::vector<std::string> argv = {bin};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string error;
  pid_ = Spawn(std::move(argv))
             .open(1, logPath, O_WRONLY | O_CREAT | O_APPEND)
             .dup(1, 2)
             .env(extraEnv)
             .start(&error);
  if (pid_ < 0) ADD_FAILURE() << "cannot start " << bin << ": " << error;
}

namespace {
int statusOf(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status); }
}  // namespace

int ChildProcess::stop(int sig) {
  if (pid_ <= 0) return 0;
  ::kill(pid_, sig);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return statusOf(status);
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  std::optional<int> result;
  waitFor(
      [&] {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          result = statusOf(status);
          pid_ = -1;
          return true;
        }
        return false;
      },
      timeout, 20ms);
  return result;
}

bool ChildProcess::running() const { return pid_ > 0 && ::kill(pid_, 0) == 0; }

void OperatorHarness::setUp(const TestEnv& env, const std::string& configPrefix,
                            std::vector<std::string> extraArgs) {
  env_ = env;
  extraArgs_ = std::move(extraArgs);
  dir_ = (std::filesystem::temp_directory_path() / uniqueName("kg-e2e")).string();
  std::filesystem::create_directories(dir_);
  logPath_ = dir_ + "/operator.log";
  webhookPort_ = freeLoopbackPort();
  healthPort_ = freeLoopbackPort();
  webhookConfig_ = fmt::format("{}-{}", configPrefix, ::getpid());
  auto mustAdmin = [&](std::vector<std::string> args, std::string_view input = {}) {
    auto r = kubectl(env_, "admin", args, input);
    ASSERT_EQ(r.exitCode, 0) << fmt::format("kubectl {}: {}", fmt::join(args, " "), r.err);
  };
  const std::string& src = bins_.sourceDir;
  ASSERT_NO_FATAL_FAILURE(
      mustAdmin({"apply", "--server-side", "--force-conflicts", "-f", src + "/crds/"}));
  ASSERT_NO_FATAL_FAILURE(
      mustAdmin({"wait", "--for", "condition=Established", "--timeout=60s",
                 "crd/accessrequests.kubegrant.io", "crd/accesspolicies.kubegrant.io"}));
  if (chart_) {
    ASSERT_NO_FATAL_FAILURE(setUpChart(configPrefix));
    return;
  }
  // RBAC for the one operator identity the operator runs as (kubeconfig "operator").
  auto rbac = runCommand({src + "/operator/deploy/render-rbac.sh", kOperatorIdentity});
  ASSERT_EQ(rbac.exitCode, 0) << rbac.err;
  auto applied = kubectl(env_, "admin", {"apply", "-f", "-"}, rbac.out);
  ASSERT_EQ(applied.exitCode, 0) << applied.err;
  ASSERT_NO_FATAL_FAILURE(mustAdmin({"apply", "-f", src + "/operator/deploy/rbac-users.yaml"}));
  // The seal keys every replica reads (created once per control plane, as an install would).
  if (kubectl(env_, "admin", {"get", "secret", "-n", "kubegrant-system", "kubegrant-seal-keys"})
          .exitCode != 0) {
    auto keys = runCommand({src + "/operator/deploy/seal-keys.sh", "new"});
    ASSERT_EQ(keys.exitCode, 0) << keys.err;
    auto created = kubectl(env_, "admin", {"create", "-f", "-"}, keys.out);
    ASSERT_TRUE(created.exitCode == 0 || created.err.find("AlreadyExists") != std::string::npos)
        << created.err;
  }

  // Serving certificate from a fresh CA, registered with a name of our own.
  auto certs = runCommand({bins_.certsBin, "--dir", dir_ + "/certs", "--ip", "127.0.0.1"});
  ASSERT_EQ(certs.exitCode, 0) << certs.err;
  removeStaleWebhooks(configPrefix);
  auto rendered = runCommand({"env", "WEBHOOK_CONFIG_NAME=" + webhookConfig_,
                              src + "/operator/deploy/render-webhooks.sh",
                              fmt::format("https://127.0.0.1:{}", webhookPort_),
                              dir_ + "/certs/ca.crt", kOperatorIdentity});
  ASSERT_EQ(rendered.exitCode, 0) << rendered.err;
  webhookYaml_ = rendered.out;

  ASSERT_NO_FATAL_FAILURE(startOperator());
  ASSERT_NO_FATAL_FAILURE(registerWebhooks());
}

void OperatorHarness::removeStaleWebhooks(const std::string& configPrefix) {
  // Registrations left by a crashed earlier run would point at a dead port. (In chart mode
  // the release's own are replaced by the upgrade that follows.)
  auto stale = kubectl(env_, "admin", {"get", "validatingwebhookconfigurations", "-o", "name"});
  std::istringstream names(stale.out);
  for (std::string n; std::getline(names, n);) {
    if (n.find(configPrefix + "-") == std::string::npos) continue;
    std::string name = n.substr(n.find('/') + 1);
    if (name == webhookConfig_ && chart_) continue;
    kubectl(env_, "admin",
            {"delete", "validatingwebhookconfiguration", name, "--ignore-not-found"});
    kubectl(env_, "admin", {"delete", "mutatingwebhookconfiguration", name, "--ignore-not-found"});
  }
}

std::string OperatorHarness::base64File(const std::string& path) {
  auto r = runCommand({"base64", "-w0", path});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  return r.out;
}

void OperatorHarness::registerWebhooks() {
  auto reg = kubectl(env_, "admin", {"apply", "-f", "-"}, webhookYaml_);
  ASSERT_EQ(reg.exitCode, 0) << reg.err;
  if (!selfManagedCertificate()) return;
  // As `helm upgrade` renders them (the Secret's ca.crt), not blank until the operator's
  // next resync.
  const std::string ca = certificateSecretCaBundle();
  if (ca.empty()) return;
  for (const char* kind : {"mutatingwebhookconfiguration", "validatingwebhookconfiguration"}) {
    auto n = kubectl(env_, "admin",
                     {"get", kind, webhookConfig_, "-o", "jsonpath={range .webhooks[*]}x{end}"});
    ASSERT_EQ(n.exitCode, 0) << n.err;
    nlohmann::json ops = nlohmann::json::array();
    for (std::size_t i = 0; i < n.out.size(); ++i) {
      ops.push_back({{"op", "add"},
                     {"path", fmt::format("/webhooks/{}/clientConfig/caBundle", i)},
                     {"value", ca}});
    }
    auto patched =
        kubectl(env_, "admin", {"patch", kind, webhookConfig_, "--type=json", "-p", ops.dump()});
    ASSERT_EQ(patched.exitCode, 0) << patched.err;
  }
}

bool OperatorHarness::selfManagedCertificate() const {
  if (!chart_) return false;
  for (const auto& kv : chart_->set) {
    if (kv.starts_with("webhook.certificate.mode=")) {
      return kv == "webhook.certificate.mode=self-managed";
    }
  }
  return true;  // the chart's default
}

std::string OperatorHarness::certificateSecretCaBundle() const {
  auto r = kubectl(env_, "admin",
                   {"get", "secret", certificateSecretName(), "-n", certificateSecretNamespace(),
                    "-o", "jsonpath={.data.ca\\.crt}"});
  return r.exitCode == 0 ? r.out : std::string();
}

std::vector<std::string> OperatorHarness::caBundles() const {
  std::vector<std::string> out;
  for (const char* kind : {"mutatingwebhookconfiguration", "validatingwebhookconfiguration"}) {
    auto r = kubectl(env_, "admin", {"get", kind, webhookConfig_, "-o", "json"});
    if (r.exitCode != 0) continue;
    for (const auto& w : nlohmann::json::parse(r.out).value("webhooks", nlohmann::json::array()))
      out.push_back(w["clientConfig"].value("caBundle", ""));
  }
  return out;
}

void OperatorHarness::waitForCaBundle(std::chrono::milliseconds timeout) const {
  std::string want;
  std::vector<std::string> have;
  bool synced = waitFor(
      [&] {
        want = certificateSecretCaBundle();
        have = caBundles();
        return !want.empty() && have.size() == 4 &&
               std::all_of(have.begin(), have.end(), [&](const auto& b) { return b == want; });
      },
      timeout, 200ms);
  EXPECT_TRUE(synced) << "caBundle of " << webhookConfig_ << " never became the Secret's ca.crt ("
                      << have.size() << " webhooks)\n"
                      << readFile(logPath_).substr(0, 20000);
}

void OperatorHarness::startOperator() {
  ASSERT_NO_FATAL_FAILURE(launch(operator_, webhookPort_, healthPort_, logPath_));
  // Self-managed: ready once it serves the Secret's pair; the API server trusts it once the
  // leader (this operator, or with leader election the one holding the Lease) set caBundle.
  if (selfManagedCertificate()) {
    ASSERT_NO_FATAL_FAILURE(waitForCaBundle());
  }
}

void OperatorHarness::startSecondReplica() {
  secondWebhookPort_ = freeLoopbackPort();
  secondHealthPort_ = freeLoopbackPort();
  ASSERT_NO_FATAL_FAILURE(
      launch(second_, secondWebhookPort_, secondHealthPort_, dir_ + "/operator-2.log"));
}

void OperatorHarness::launch(ChildProcess& process, int webhookPort, int healthPort,
                             const std::string& logPath) {
  const std::vector<std::string> local = {
      "--webhook-port",     std::to_string(webhookPort),
      "--webhook-cert-dir", dir_ + "/certs",
      "--health-addr",      fmt::format("127.0.0.1:{}", healthPort),
      "--metrics-addr",     "0",
      "--sweep-interval",   "2s",
      "--log-level",        "info"};
  if (chart_) {
    // In-cluster: no kubeconfig anywhere, the ServiceAccount folder, the service address, and
    // the configuration file the chart mounts (its ConfigMap), with local addresses on top.
    auto cm = kubectl(env_, "admin",
                      {"get", "configmap", fullname() + "-config", "-n", chart_->namespace_, "-o",
                       "jsonpath={.data.config\\.yaml}"});
    ASSERT_EQ(cm.exitCode, 0) << cm.err;
    ASSERT_FALSE(cm.out.empty());
    std::ofstream(dir_ + "/config.yaml") << cm.out;
    std::vector<std::string> args = {"--config", dir_ + "/config.yaml", "--service-account-dir",
                                     dir_ + "/serviceaccount"};
    args.insert(args.end(), local.begin(), local.end());
    args.insert(args.end(), extraArgs_.begin(), extraArgs_.end());
    const auto hostPort = env_.apiServer.substr(env_.apiServer.find("://") + 3);
    const auto colon = hostPort.rfind(':');
    process.start(bins_.operatorBin, args, logPath,
                  {"KUBECONFIG",  // no '=': removed from the child's environment
                   "KUBERNETES_SERVICE_HOST=" + hostPort.substr(0, colon),
                   "KUBERNETES_SERVICE_PORT=" + hostPort.substr(colon + 1)});
  } else {
    std::vector<std::string> args = {"--kubeconfig", env_.kubeconfig("operator"),
                                     "--operator-identity", kOperatorIdentity};
    args.insert(args.end(), local.begin(), local.end());
    args.insert(args.end(), extraArgs_.begin(), extraArgs_.end());
    process.start(bins_.operatorBin, args, logPath);
  }
  bool ready = waitFor(
      [&] {
        auto r = runCommand({"curl", "-fsS", "--max-time", "1",
                             fmt::format("http://127.0.0.1:{}/readyz", healthPort)});
        return r.exitCode == 0;
      },
      30s);
  ASSERT_TRUE(ready) << "operator never became ready:\n" << readFile(logPath);
}

std::string OperatorHarness::fullname() const {
  if (!chart_) return "kubegrant";
  return chart_->release.find("kubegrant") != std::string::npos ? chart_->release
                                                                : chart_->release + "-kubegrant";
}

std::string OperatorHarness::serviceAccountUsername() const {
  return chart_
             ? fmt::format("system:serviceaccount:{}:{}-operator", chart_->namespace_, fullname())
             : std::string(kOperatorIdentity);
}

void OperatorHarness::setUpChart(const std::string& configPrefix) {
  // Serving certificate from a fresh CA; registrations left by a crashed earlier run would
  // point at a dead port.
  auto certs = runCommand({bins_.certsBin, "--dir", dir_ + "/certs", "--ip", "127.0.0.1"});
  ASSERT_EQ(certs.exitCode, 0) << certs.err;
  removeStaleWebhooks(configPrefix);
  std::vector<std::string> values = {
      "--namespace",  chart_->namespace_,
      "--set-string", "webhook.url=" + fmt::format("https://127.0.0.1:{}", webhookPort_),
      "--set-string", "webhook.configurationName=" + webhookConfig_};
  if (!selfManagedCertificate()) {
    // helm mode: the test's serving certificate (--webhook-cert-dir) and its CA.
    values.insert(values.end(),
                  {"--set-string", "webhook.caBundle=" + base64File(dir_ + "/certs/ca.crt")});
  }
  for (const auto& kv : chart_->set) {
    values.push_back("--set");
    values.push_back(kv);
  }
  const std::string chartDir = bins_.sourceDir + "/charts/kubegrant";
  std::vector<std::string> install = {env_.helm,      "upgrade",
                                      "--install",    chart_->release,
                                      chartDir,       "--create-namespace",
                                      "--kubeconfig", env_.kubeconfig("admin")};
  install.insert(install.end(), values.begin(), values.end());
  auto installed = runCommand(install);
  ASSERT_EQ(installed.exitCode, 0) << installed.out << installed.err;
  // The webhook configurations as the chart rendered them, for re-registering.
  std::vector<std::string> tmpl = {env_.helm, "template",    chart_->release,
                                   chartDir,  "--show-only", "templates/webhooks.yaml"};
  tmpl.insert(tmpl.end(), values.begin(), values.end());
  auto rendered = runCommand(tmpl);
  ASSERT_EQ(rendered.exitCode, 0) << rendered.err;
  webhookYaml_ = rendered.out;
  // Requesters and approvers, bound the way the chart's NOTES.txt tells a platform team.
  for (const char* role : {"requester", "approver"}) {
    const std::string name = fmt::format("{}-{}-demo-users", fullname(), role);
    kubectl(env_, "admin", {"delete", "clusterrolebinding", name, "--ignore-not-found"});
    auto bound = kubectl(
        env_, "admin",
        {"create", "clusterrolebinding", name, fmt::format("--clusterrole={}-{}", fullname(), role),
         "--group=payments-devs", "--group=payments-leads", "--user=mallory"});
    ASSERT_EQ(bound.exitCode, 0) << bound.err;
  }
  ASSERT_NO_FATAL_FAILURE(writeServiceAccountDir());
  ASSERT_NO_FATAL_FAILURE(startOperator());
}

void OperatorHarness::writeServiceAccountDir() {
  // The TokenRequest API (what the kubelet uses for the projected token), as the admin.
  auto token = kubectl(
      env_, "admin",
      {"create", "token", fullname() + "-operator", "-n", chart_->namespace_, "--duration=2h"});
  ASSERT_EQ(token.exitCode, 0) << token.err;
  const std::string sa = dir_ + "/serviceaccount";
  std::filesystem::create_directories(sa);
  {
    std::ofstream out(sa + "/token");
    out << token.out;
  }
  std::filesystem::permissions(
      sa + "/token", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::filesystem::copy_file(env_.caCert, sa + "/ca.crt",
                             std::filesystem::copy_options::overwrite_existing);
  std::ofstream(sa + "/namespace") << chart_->namespace_;
  // The same identity for kubectl (uninstallChart), reading the token by path.
  std::ofstream(sa + "/kubeconfig") << fmt::format(R"(apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{}", certificate-authority: "{}"}}}}]
users: [{{name: sa, user: {{tokenFile: "{}"}}}}]
contexts: [{{name: c, context: {{cluster: c, user: sa}}}}]
current-context: c
)",
                                                   env_.apiServer, sa + "/ca.crt", sa + "/token");
}

CommandResult OperatorHarness::kubectlAsServiceAccount(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"kubectl", "--kubeconfig", dir_ + "/serviceaccount/kubeconfig"};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv);
}

void OperatorHarness::uninstallChart() {
  ASSERT_TRUE(chart_);
  auto hooks = runCommand({env_.helm, "get", "hooks", chart_->release, "-n", chart_->namespace_,
                           "--kubeconfig", env_.kubeconfig("admin")});
  ASSERT_EQ(hooks.exitCode, 0) << hooks.err;
  auto json =
      kubectl(env_, "admin", {"create", "--dry-run=client", "-o", "json", "-f", "-"}, hooks.out);
  ASSERT_EQ(json.exitCode, 0) << json.err;
  auto job = nlohmann::json::parse(json.out);
  if (job.value("kind", "") == "List") job = job["items"][0];
  ASSERT_EQ(job.value("kind", ""), "Job") << json.out;
  const auto& container = job["spec"]["template"]["spec"]["containers"][0];
  ASSERT_NE(container["image"].get<std::string>().find("kubectl"), std::string::npos);
  ASSERT_EQ(job["spec"]["template"]["spec"]["serviceAccountName"].get<std::string>(),
            fullname() + "-operator");
  auto hook = kubectlAsServiceAccount(container["args"].get<std::vector<std::string>>());
  ASSERT_EQ(hook.exitCode, 0) << "the pre-delete hook failed: " << hook.out << hook.err;
  // Then the release's objects go, the Deployment first: its pod gets SIGTERM (and must exit
  // 0) before the ServiceAccount and RBAC it runs with are gone; a process left running
  // without them would rightly lose its Lease and exit 1.
  ASSERT_EQ(stopOperator(SIGTERM), 0) << "the operator must exit 0 on SIGTERM";
  auto removed = runCommand({env_.helm, "uninstall", chart_->release, "-n", chart_->namespace_,
                             "--no-hooks", "--kubeconfig", env_.kubeconfig("admin")});
  ASSERT_EQ(removed.exitCode, 0) << removed.err;
}

void OperatorHarness::unregisterWebhooks() {
  if (webhookConfig_.empty()) return;
  kubectl(env_, "admin",
          {"delete", "validatingwebhookconfiguration", webhookConfig_, "--ignore-not-found"});
  kubectl(env_, "admin",
          {"delete", "mutatingwebhookconfiguration", webhookConfig_, "--ignore-not-found"});
}

}  // namespace kubegrant::testing
