// The chart as a platform team installs it: `helm upgrade --install kgchart charts/kubegrant`
// into the real API server with the default values (two replicas, leader election), then the
// real kubegrant-operator as the chart's ServiceAccount: a TokenRequest token written with the
// CA and namespace into a folder laid out like the in-cluster one, no kubeconfig, the chart's
// own --config (OperatorHarness in chart mode). A request goes Pending -> Active through it, which
// shows the chart's RBAC and webhook registration are enough; `helm uninstall` then leaves no
// grant behind: its pre-delete hook deletes every AccessRequest as the operator, whose finalizer
// revokes the grants before each request goes. The CRDs stay (Helm never deletes them).

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/operator_harness.h"
#include "tests/support/test_env.h"

namespace kubegrant::e2e {
namespace {

using nlohmann::json;
using testing::kubectl;
using testing::readFile;
using testing::TestEnv;
using testing::uniqueName;
using testing::waitFor;
using namespace std::chrono_literals;

const char kRelease[] = "kgchart";
const char kNamespace[] = "kgchart-system";
const char kFullname[] = "kgchart-kubegrant";

// VmRSS of `pid` in KiB, and its user+system CPU time in seconds.
long rssKiB(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}
double cpuSeconds(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::vector<std::string> f;
  for (std::string x; fields >> x;) f.push_back(x);
  if (f.size() < 13) return -1;
  return (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

class ChartE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = testing::requireEnv();
    ASSERT_TRUE(e) << "run tests/controlplane/up.sh DIR and source DIR/env";
    env_ = *e;
    harness_.useChart({.release = kRelease, .namespace_ = kNamespace, .set = {}});
    ASSERT_NO_FATAL_FAILURE(harness_.setUp(env_, "kubegrant-e2e-chart"));
    ns_ = uniqueName("chart");
    policy_ = ns_ + "-policy";
    mustAdmin({"create", "namespace", ns_});
  }

  void TearDown() override {
    if (!ns_.empty()) {
      kubectl(env_, "admin",
              {"delete", "accessrequests", "--all", "-n", ns_, "--wait=true", "--timeout=20s"});
    }
    harness_.unregisterWebhooks();
    EXPECT_EQ(harness_.stopOperator(SIGTERM), 0) << "the operator must exit 0 on SIGTERM";
    // Whatever a failed test left installed.
    testing::runCommand({env_.helm, "uninstall", kRelease, "-n", kNamespace, "--no-hooks",
                         "--ignore-not-found", "--kubeconfig", env_.kubeconfig("admin")});
    if (!ns_.empty()) {
      kubectl(env_, "admin", {"delete", "accesspolicy", policy_, "--ignore-not-found"});
      kubectl(env_, "admin", {"delete", "namespace", ns_, "--wait=false"});
    }
    if (HasFailure()) {
      std::cerr << "---- operator log (" << harness_.logPath() << ") ----\n"
                << readFile(harness_.logPath()).substr(0, 20000) << "\n";
    } else if (!harness_.dir().empty()) {
      std::filesystem::remove_all(harness_.dir());
    }
  }

  void mustAdmin(std::vector<std::string> args, std::string_view input = {}) {
    auto r = kubectl(env_, "admin", args, input);
    ASSERT_EQ(r.exitCode, 0) << fmt::format("kubectl {}: {}", fmt::join(args, " "), r.err);
  }

  bool aliceCanListPods() {
    return kubectl(env_, "alice", {"get", "pods", "-n", ns_}).exitCode == 0;
  }

  json grants() {
    auto r = kubectl(env_, "admin",
                     {"get", "rolebindings", "-n", ns_, "-l",
                      "app.kubernetes.io/managed-by=kubegrant", "-o", "json"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return json::parse(r.out)["items"];
  }

  TestEnv env_;
  testing::OperatorHarness harness_{{KG_SOURCE_DIR, KG_OPERATOR_BIN, KG_CERTS_BIN}};
  std::string ns_, policy_;
};

TEST_F(ChartE2ETest, TheOperatorRunsAsTheChartsServiceAccountAndUninstallLeavesNoGrant) {
  const auto start = std::chrono::steady_clock::now();
  // In-cluster configuration: no kubeconfig, and the identity is the ServiceAccount's.
  const std::string log = readFile(harness_.logPath());
  EXPECT_NE(log.find("kubegrant-operator starting"), std::string::npos) << log;
  EXPECT_NE(log.find(fmt::format("\"server\":\"{}\"", env_.apiServer)), std::string::npos) << log;
  EXPECT_EQ(harness_.serviceAccountUsername(),
            fmt::format("system:serviceaccount:{}:{}-operator", kNamespace, kFullname));
  // Leader election with the chart's Role: the Lease in the release namespace gets a holder.
  std::string holder;
  ASSERT_TRUE(waitFor(
      [&] {
        auto r = kubectl(env_, "admin",
                         {"get", "lease", "-n", kNamespace, std::string(kFullname) + "-operator",
                          "-o", "jsonpath={.spec.holderIdentity}"});
        holder = r.out;
        return r.exitCode == 0 && !holder.empty();
      },
      30s))
      << "no leader: " << log;

  // A platform team's policy (admitted by the webhook the chart registered) and a request.
  mustAdmin({"apply", "-f", "-"}, fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessPolicy
metadata: {{name: {}}}
spec:
  requesters: {{groups: [payments-devs]}}
  namespaces: [{}]
  roles: [{{kind: ClusterRole, name: view}}]
  defaultDuration: 30m
  maxDuration: 1h
  approval:
    approvers: {{groups: [payments-leads]}}
    required: 1
)",
                                              policy_, ns_));
  ASSERT_FALSE(aliceCanListPods());
  auto created = kubectl(env_, "alice", {"apply", "-f", "-"},
                         fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessRequest
metadata: {{name: debug, namespace: {}}}
spec:
  policy: {}
  duration: 30m
  reason: "e2e: chart install"
  roles: [{{kind: ClusterRole, name: view}}]
)",
                                     ns_, policy_));
  ASSERT_EQ(created.exitCode, 0) << created.err;
  ASSERT_TRUE(waitFor([&] { return accessRequestPhase(env_, ns_, "debug") == "Pending"; }, 15s));
  // The mutating webhook stamped the requester: the chart's registration is in the path.
  EXPECT_EQ(getAccessRequest(env_, ns_, "debug")["spec"]["requester"]["username"], "alice");
  auto approved = kubectl(
      env_, "bob",
      {"patch", "areq", "debug", "-n", ns_, "--subresource=status", "--type=json", "-p",
       R"([{"op":"add","path":"/status/approvals/-","value":{"decision":"Approve","comment":"ok"}}])"});
  ASSERT_EQ(approved.exitCode, 0) << approved.err;
  ASSERT_TRUE(waitFor([&] { return accessRequestPhase(env_, ns_, "debug") == "Active"; }, 15s))
      << getAccessRequest(env_, ns_, "debug").dump(2);
  EXPECT_TRUE(waitFor([&] { return aliceCanListPods(); }, 10s));
  EXPECT_EQ(grants().size(), 1u);

  // Figures for the chart's resource requests.
  const pid_t pid = harness_.operatorPid();
  const long rss = rssKiB(pid);
  const double cpu = cpuSeconds(pid);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("operator_rss_kib", std::to_string(rss));
  RecordProperty("operator_cpu_seconds", fmt::format("{:.2f}", cpu));
  std::cout << fmt::format("figures: operator RSS {} KiB, CPU {:.2f} s over {:.1f} s since ready\n",
                           rss, cpu, wall);

  // helm uninstall: every request is deleted as the operator, its grants revoked first.
  ASSERT_NO_FATAL_FAILURE(harness_.uninstallChart());
  EXPECT_EQ(kubectl(env_, "admin", {"get", "areq", "debug", "-n", ns_}).exitCode, 1)
      << "the request is gone";
  EXPECT_TRUE(grants().empty()) << grants().dump(2);
  EXPECT_FALSE(aliceCanListPods());
  auto events = testing::auditEvents(harness_.logPath(), ns_, "debug");
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "revoked") << "the audit log records the revocation";
  // The release is gone, its webhook configurations with it; the CRDs and seal keys stay.
  auto releases = testing::runCommand(
      {env_.helm, "list", "-n", kNamespace, "-q", "--kubeconfig", env_.kubeconfig("admin")});
  EXPECT_EQ(releases.out, "");
  EXPECT_NE(kubectl(env_, "admin",
                    {"get", "validatingwebhookconfiguration", harness_.webhookConfigName()})
                .exitCode,
            0);
  EXPECT_EQ(kubectl(env_, "admin", {"get", "crd", "accessrequests.kubegrant.io"}).exitCode, 0);
  EXPECT_EQ(kubectl(env_, "admin",
                    {"get", "secret", "-n", kNamespace, std::string(kFullname) + "-seal-keys"})
                .exitCode,
            0)
      << "helm.sh/resource-policy: keep";
}

}  // namespace
}  // namespace kubegrant::e2e
