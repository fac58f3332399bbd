// operator/deploy/render-webhooks.sh: the identity excluded by the matchConditions, local
// username or in-cluster ServiceAccount, and what it refuses.

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

class RenderWebhooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
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
    int n = 0;
    for (auto p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) {
      ++n;
    }
    return n;
  }

  std::string ca_;
};

TEST_F(RenderWebhooksTest, ExcludesTheLocalOperatorUserByDefault) {
  auto r = render({});
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

}  // namespace
}  // namespace kubegrant::webhooks
