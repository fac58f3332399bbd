#include "tests/support/operator_harness.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/free_port.h"

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
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 2);
    ::dup2(fd, 1);
    for (const auto& kv : extraEnv) ::putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> argv;
    std::string copyBin = bin;
    argv.push_back(copyBin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(copyBin.c_str(), argv.data());
    ::_exit(127);
  }
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
  // Registrations left by a crashed earlier run would point at a dead port.
  auto stale = kubectl(env_, "admin", {"get", "validatingwebhookconfigurations", "-o", "name"});
  std::istringstream names(stale.out);
  for (std::string n; std::getline(names, n);) {
    if (n.find(configPrefix + "-") == std::string::npos) continue;
    std::string name = n.substr(n.find('/') + 1);
    kubectl(env_, "admin",
            {"delete", "validatingwebhookconfiguration", name, "--ignore-not-found"});
    kubectl(env_, "admin", {"delete", "mutatingwebhookconfiguration", name, "--ignore-not-found"});
  }
  auto rendered = runCommand({"env", "WEBHOOK_CONFIG_NAME=" + webhookConfig_,
                              src + "/operator/deploy/render-webhooks.sh",
                              fmt::format("https://127.0.0.1:{}", webhookPort_),
                              dir_ + "/certs/ca.crt", kOperatorIdentity});
  ASSERT_EQ(rendered.exitCode, 0) << rendered.err;
  webhookYaml_ = rendered.out;

  ASSERT_NO_FATAL_FAILURE(startOperator());
  ASSERT_NO_FATAL_FAILURE(registerWebhooks());
}

void OperatorHarness::registerWebhooks() {
  auto reg = kubectl(env_, "admin", {"apply", "-f", "-"}, webhookYaml_);
  ASSERT_EQ(reg.exitCode, 0) << reg.err;
}

void OperatorHarness::startOperator() {
  std::vector<std::string> args = {"--kubeconfig",        env_.kubeconfig("operator"),
                                   "--operator-identity", kOperatorIdentity,
                                   "--webhook-port",      std::to_string(webhookPort_),
                                   "--webhook-cert-dir",  dir_ + "/certs",
                                   "--health-addr",       fmt::format("127.0.0.1:{}", healthPort_),
                                   "--metrics-addr",      "0",
                                   "--sweep-interval",    "2s",
                                   "--log-level",         "info"};
  args.insert(args.end(), extraArgs_.begin(), extraArgs_.end());
  operator_.start(bins_.operatorBin, args, logPath_);
  bool ready = waitFor(
      [&] {
        auto r = runCommand({"curl", "-fsS", "--max-time", "1",
                             fmt::format("http://127.0.0.1:{}/readyz", healthPort_)});
        return r.exitCode == 0;
      },
      30s);
  ASSERT_TRUE(ready) << "operator never became ready:\n" << readFile(logPath_);
}

void OperatorHarness::unregisterWebhooks() {
  if (webhookConfig_.empty()) return;
  kubectl(env_, "admin",
          {"delete", "validatingwebhookconfiguration", webhookConfig_, "--ignore-not-found"});
  kubectl(env_, "admin",
          {"delete", "mutatingwebhookconfiguration", webhookConfig_, "--ignore-not-found"});
}

}  // namespace kubegrant::testing
