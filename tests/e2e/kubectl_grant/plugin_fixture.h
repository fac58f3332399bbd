#pragma once

// What the kubectl-grant e2e tests share: the operator running (OperatorHarness), a fresh
// namespace and policy, the build folder on the PATH so that `kubectl grant` finds the
// plugin, and a KUBECONFIG of several files as people have them.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/operator_harness.h"
#include "tests/support/test_env.h"

namespace kubegrant::e2e {

class PluginTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // `kubectl grant ARGS...` as `user` through --kubeconfig.
  testing::CommandResult grant(const std::string& user, std::vector<std::string> args);
  // `kubectl grant ARGS...` with KUBECONFIG=<alice in ns_>:alice.yaml:bob.yaml (merged; alice's
  // context, whose namespace is ns_, is current).
  testing::CommandResult grantMerged(std::vector<std::string> args);
  std::string mergedKubeconfig() const;
  // The environment a child needs: PATH with the plugin, KUBECONFIG as grantMerged's.
  std::vector<std::string> pluginEnv() const;

  // Applies the AccessPolicy `name`: payments-devs request ClusterRole view (and ClusterRole
  // node-viewer cluster-wide) in ns_ for up to 1h with a reason, one of payments-leads
  // approves; `approvalExtra` adds lines under spec.approval (e.g. autoApprove). Policies
  // other than policy_ are deleted in TearDown. Records fatal failures.
  void applyPolicy(const std::string& name, const std::string& approvalExtra = "");
  bool can(const std::string& user, const std::string& verb, const std::string& resource);
  std::string phase(const std::string& name);
  void mustAdmin(std::vector<std::string> args, std::string_view input = {});

  testing::TestEnv env_;
  // Added to the operator's command line on every start (set before SetUp).
  std::vector<std::string> operatorArgs_;
  testing::OperatorHarness harness_{{KG_SOURCE_DIR, KG_OPERATOR_BIN, KG_CERTS_BIN}};
  std::string ns_, policy_, contextFile_;
  std::vector<std::string> extraPolicies_;
};

}  // namespace kubegrant::e2e
