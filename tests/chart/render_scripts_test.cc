// operator/deploy/render-webhooks.sh and render-rbac.sh, which render parts of the Helm chart
// (charts/kubegrant) for an operator run outside the cluster: the identity excluded by the
// matchConditions and bound by the RBAC, local username or ServiceAccount, and what they
// refuse. They run Helm (KUBEGRANT_HELM), hence the `chart` label.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/test_env.h"

namespace kubegrant::webhooks {
namespace {

using testing::CommandResult;
using testing::runCommand;

const std::string kScript =
    std::string(KUBEGRANT_SOURCE_DIR) + "/operator/deploy/render-webhooks.sh";

int countOf(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (auto p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) {
    ++n;
  }
  return n;
}

class RenderWebhooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testing::requireHelm());
    ca_ = (std::filesystem::temp_directory_path() /
           ("kg-render-test-" + std::to_string(::getpid()) + ".crt"))
              .string();
    std::ofstream(ca_) << "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  }
  void TearDown() override { std::filesystem::remove(ca_); }

  CommandResult render(std::vector<std::string> extra) {
    std::vector<std::string> argv = {kScript, "https://127.0.0.1:9443", ca_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return runCommand(argv);
  }

  static int count(const std::string& haystack, const std::string& needle) {
    return countOf(haystack, needle);
  }

  std::string ca_;
};

TEST_F(RenderWebhooksTest, HasNoBuiltInOperatorIdentity) {
  auto r = render({});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("usage:"), std::string::npos) << r.err;
}

TEST_F(RenderWebhooksTest, ExcludesTheLocalOperatorUser) {
  auto r = render({"kubegrant-operator"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  // The mutating and the AccessRequest validating webhook.
  EXPECT_EQ(count(r.out, "expression: \"request.userInfo.username != 'kubegrant-operator'\""), 2)
      << r.out;
  EXPECT_EQ(count(r.out, "${"), 0) << "a placeholder was left: " << r.out;
}

TEST_F(RenderWebhooksTest, ExcludesTheInClusterServiceAccount) {
  auto r = render({"--service-account", "kubegrant-system/kubegrant-operator"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(count(r.out,
                  "expression: \"request.userInfo.username != "
                  "'system:serviceaccount:kubegrant-system:kubegrant-operator'\""),
            2)
      << r.out;
}

TEST_F(RenderWebhooksTest, TakesAnExplicitUsername) {
  auto r = render({"ops@example.com"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(count(r.out, "!= 'ops@example.com'\""), 2) << r.out;
}

TEST_F(RenderWebhooksTest, RefusesWhatCouldBreakOutOfTheCelString) {
  for (std::vector<std::string> bad :
       std::vector<std::vector<std::string>>{{"x' || true || '"},
                                             {"--service-account", "kubegrant-system"},
                                             {"--service-account", "Kube/Op"},
                                             {"--service-account"},
                                             {"a", "b"}}) {
    auto r = render(bad);
    EXPECT_NE(r.exitCode, 0) << ::testing::PrintToString(bad) << "\n" << r.out;
    EXPECT_EQ(r.out, "") << ::testing::PrintToString(bad);
  }
}

TEST_F(RenderWebhooksTest, ValidatesDeletesOfAccessRequests) {
  auto r = render({"kubegrant-operator"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(count(r.out, "operations: [\"CREATE\", \"UPDATE\", \"DELETE\"]"), 1) << r.out;
}

// render-rbac.sh binds the same single identity, and no group: in its four bindings (the
// operator's ClusterRole, kubegrant-operator-rules, leader election and the seal keys).
const std::string kRbacScript =
    std::string(KUBEGRANT_SOURCE_DIR) + "/operator/deploy/render-rbac.sh";

TEST(RenderRbacTest, BindsTheOneIdentityAndNoGroup) {
  ASSERT_TRUE(testing::requireHelm());
  auto user = runCommand({kRbacScript, "kubegrant-operator"});
  ASSERT_EQ(user.exitCode, 0) << user.err;
  EXPECT_EQ(countOf(user.out,
                    "- {kind: User, apiGroup: rbac.authorization.k8s.io, "
                    "name: \"kubegrant-operator\"}"),
            4)
      << user.out;
  EXPECT_EQ(user.out.find("kind: Group"), std::string::npos);
  EXPECT_EQ(user.out.find("kubegrant:operators"), std::string::npos);
  EXPECT_EQ(user.out.find("${"), std::string::npos);
  auto sa = runCommand({kRbacScript, "--service-account", "kubegrant-system/kubegrant-operator"});
  ASSERT_EQ(sa.exitCode, 0) << sa.err;
  EXPECT_EQ(countOf(sa.out,
                    "- {kind: ServiceAccount, name: kubegrant-operator, namespace: "
                    "kubegrant-system}"),
            4)
      << sa.out;
  EXPECT_EQ(sa.out.find("kind: User"), std::string::npos);
  // The ServiceAccount's username is bound as the ServiceAccount too.
  auto saName = runCommand({kRbacScript, "system:serviceaccount:ops:kg"});
  // Bound by the operator's ClusterRole, its ad hoc rules, the Lease and seal-key Roles.
  EXPECT_EQ(countOf(saName.out, "- {kind: ServiceAccount, name: kg, namespace: ops}"), 4);
  // The ClusterRoles teams bind come from the chart too, and the namespace of the Lease.
  EXPECT_NE(user.out.find("name: kubegrant-requester\n"), std::string::npos);
  EXPECT_NE(user.out.find("name: kubegrant-approver\n"), std::string::npos);
  EXPECT_NE(user.out.find("kind: Namespace\nmetadata:\n  name: kubegrant-system"),
            std::string::npos);
  EXPECT_NE(runCommand({kRbacScript}).exitCode, 0);
  EXPECT_NE(runCommand({kRbacScript, "x' || true"}).exitCode, 0);
}

}  // namespace
}  // namespace kubegrant::webhooks
