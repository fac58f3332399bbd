#include "tests/e2e/kubectl_grant/plugin_fixture.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

namespace kubegrant::e2e {

using testing::kubectl;

void PluginTest::SetUp() {
  auto e = testing::requireEnv();
  ASSERT_TRUE(e) << "run tests/controlplane/up.sh DIR and source DIR/env";
  env_ = *e;
  // kubectl finds plugins on the PATH: the build folder first.
  const char* path = std::getenv("PATH");
  std::string want = std::string(KG_PLUGIN_DIR) + ":";
  if (path == nullptr || std::string(path).rfind(want, 0) != 0) {
    ::setenv("PATH", (want + (path ? path : "/usr/bin:/bin")).c_str(), 1);
  }
  ASSERT_NO_FATAL_FAILURE(harness_.setUp(env_, "kubegrant-e2e-plugin", operatorArgs_));
  ns_ = testing::uniqueName("kg");
  policy_ = ns_ + "-oncall";
  ASSERT_NO_FATAL_FAILURE(mustAdmin({"create", "namespace", ns_}));
  ASSERT_NO_FATAL_FAILURE(applyPolicy(policy_));
  // A kubeconfig file with only a context (alice, in the test namespace): its cluster and
  // user come from the files after it in KUBECONFIG.
  contextFile_ = harness_.dir() + "/alice-context.yaml";
  std::ofstream(contextFile_) << fmt::format(R"(apiVersion: v1
kind: Config
contexts:
- name: alice-in-{0}
  context: {{cluster: kubegrant-test, user: alice, namespace: {0}}}
current-context: alice-in-{0}
)",
                                             ns_);
}

void PluginTest::TearDown() {
  harness_.unregisterWebhooks();
  if (!ns_.empty()) {
    kubectl(env_, "admin",
            {"delete", "accessrequests", "--all", "-n", ns_, "--wait=true", "--timeout=20s"});
  }
  EXPECT_EQ(harness_.stopOperator(SIGTERM), 0) << "the operator must exit 0 on SIGTERM";
  if (!ns_.empty()) {
    kubectl(env_, "admin", {"delete", "accesspolicy", policy_, "--ignore-not-found"});
    for (const auto& p : extraPolicies_) {
      kubectl(env_, "admin", {"delete", "accesspolicy", p, "--ignore-not-found"});
    }
    kubectl(env_, "admin", {"delete", "namespace", ns_, "--wait=false"});
  }
  if (HasFailure()) {
    std::cerr << "---- operator log (" << harness_.logPath() << ") ----\n"
              << testing::readFile(harness_.logPath()).substr(0, 20000) << "\n";
  } else if (!harness_.dir().empty()) {
    std::filesystem::remove_all(harness_.dir());
  }
}

void PluginTest::applyPolicy(const std::string& name, const std::string& approvalExtra) {
  if (name != policy_) extraPolicies_.push_back(name);
  ASSERT_NO_FATAL_FAILURE(
      mustAdmin({"apply", "-f", "-"}, fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessPolicy
metadata:
  name: {}
spec:
  requesters: {{groups: [payments-devs]}}
  namespaces: [{}]
  roles: [{{kind: ClusterRole, name: view}}]
  clusterRoles: [node-viewer]
  defaultDuration: 10m
  maxDuration: 1h
  requireReason: true
  approval:
    approvers: {{groups: [payments-leads]}}
    required: 1
{})",
                                                  name, ns_, approvalExtra)));
}

testing::CommandResult PluginTest::grant(const std::string& user, std::vector<std::string> args) {
  std::vector<std::string> argv = {"kubectl", "grant", "--kubeconfig", env_.kubeconfig(user)};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::runCommand(argv);
}

std::string PluginTest::mergedKubeconfig() const {
  return fmt::format("{}:{}:{}", contextFile_, env_.kubeconfig("alice"), env_.kubeconfig("bob"));
}

testing::CommandResult PluginTest::grantMerged(std::vector<std::string> args) {
  std::vector<std::string> argv = {"env", "KUBECONFIG=" + mergedKubeconfig(), "kubectl", "grant"};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::runCommand(argv);
}

std::vector<std::string> PluginTest::pluginEnv() const {
  return {std::string("PATH=") + std::getenv("PATH"), "KUBECONFIG=" + mergedKubeconfig()};
}

bool PluginTest::can(const std::string& user, const std::string& verb,
                     const std::string& resource) {
  auto r = kubectl(env_, user, {"auth", "can-i", verb, resource, "-n", ns_});
  return r.exitCode == 0 && r.out.find("yes") == 0;
}

std::string PluginTest::phase(const std::string& name) {
  return accessRequestPhase(env_, ns_, name);
}

void PluginTest::mustAdmin(std::vector<std::string> args, std::string_view input) {
  auto r = kubectl(env_, "admin", args, input);
  ASSERT_EQ(r.exitCode, 0) << fmt::format("kubectl {}: {}", fmt::join(args, " "), r.err);
}

}  // namespace kubegrant::e2e
