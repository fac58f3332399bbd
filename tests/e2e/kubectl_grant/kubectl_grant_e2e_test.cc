// kubectl grant as its users live it: alice asks and waits, bob finds it and approves,
// mallory and alice herself are refused by the webhook, alice's access works until she
// revokes it, and describe tells the story. Every call is `kubectl grant ...` (kubectl finds
// the plugin on the PATH) with the user's own kubeconfig against the real API server, the
// real operator and its admission webhook.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "tests/e2e/kubectl_grant/plugin_fixture.h"

namespace kubegrant::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::ChildProcess;
using testing::readFile;
using testing::waitFor;

// Piped output never carries colour codes.
void expectNoColour(const testing::CommandResult& r) {
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
}

TEST_F(PluginTest, RequestWaitApproveUseRevokeAndDescribe) {
  ASSERT_FALSE(can("alice", "list", "pods"));

  // Preview: a server-side dry run explains and saves nothing.
  auto preview = grantMerged({"request", "--policy", policy_, "--role", "view", "--for", "20m",
                              "--reason", "e2e: orders stuck", "--name", "debug", "--dry-run"});
  ASSERT_EQ(preview.exitCode, 0) << preview.err;
  EXPECT_NE(preview.out.find("would be created"), std::string::npos) << preview.out;
  EXPECT_NE(preview.out.find(policy_), std::string::npos) << "the webhook's warnings:\n"
                                                          << preview.out;
  EXPECT_NE(preview.out.find("payments-leads"), std::string::npos) << preview.out;
  expectNoColour(preview);
  EXPECT_EQ(phase("debug"), "") << "a dry run creates nothing";

  // alice asks and waits; her kubeconfig is three files, the first naming her context in ns_.
  ChildProcess waiter;
  const std::string waitLog = harness_.dir() + "/alice-wait.log";
  waiter.start("kubectl",
               {"grant", "request", "--policy", policy_, "--role", "view", "--for", "20m",
                "--reason", "e2e: orders stuck", "--name", "debug", "--wait", "--timeout", "60s"},
               waitLog, pluginEnv());

  // bob finds it among what waits for his decision.
  testing::CommandResult toApprove;
  ASSERT_TRUE(waitFor(
      [&] {
        toApprove = grant("bob", {"list", "--to-approve", "-n", ns_});
        return toApprove.exitCode == 0 && toApprove.out.find("debug") != std::string::npos;
      },
      15s))
      << toApprove.out << toApprove.err << "\n"
      << readFile(waitLog);
  EXPECT_NE(toApprove.out.find("NAME"), std::string::npos) << toApprove.out;
  EXPECT_NE(toApprove.out.find("alice"), std::string::npos) << toApprove.out;
  EXPECT_NE(toApprove.out.find("view@" + ns_), std::string::npos) << toApprove.out;
  EXPECT_NE(toApprove.out.find("0/1"), std::string::npos) << toApprove.out;
  expectNoColour(toApprove);
  auto notForMallory = grant("mallory", {"list", "--to-approve", "-n", ns_});
  EXPECT_EQ(notForMallory.exitCode, 0) << notForMallory.err;
  EXPECT_EQ(notForMallory.out.find("debug"), std::string::npos) << notForMallory.out;

  // mallory is not an approver; alice may not approve her own request: the webhook says so.
  auto mallory = grant("mallory", {"approve", "debug", "-n", ns_, "--comment", "sure"});
  EXPECT_EQ(mallory.exitCode, 3) << mallory.out << mallory.err;
  EXPECT_NE(mallory.err.find("denied the request"), std::string::npos) << mallory.err;
  EXPECT_NE(mallory.err.find("not an approver"), std::string::npos) << mallory.err;
  auto self = grantMerged({"approve", "debug"});
  EXPECT_EQ(self.exitCode, 3) << self.out << self.err;
  EXPECT_NE(self.err.find("denied the request"), std::string::npos) << self.err;
  EXPECT_NE(self.err.find("self-approval is not allowed"), std::string::npos) << self.err;
  expectNoColour(self);
  EXPECT_EQ(phase("debug"), "Pending");

  // bob approves, acting through the same merged kubeconfig with --context.
  auto approved = grantMerged(
      {"--context", "bob@kubegrant-test", "-n", ns_, "approve", "debug", "--comment", "go ahead"});
  ASSERT_EQ(approved.exitCode, 0) << approved.out << approved.err;
  EXPECT_NE(approved.out.find("approved"), std::string::npos) << approved.out;
  EXPECT_NE(approved.out.find("approvals: 1 of 1 required"), std::string::npos) << approved.out;

  // alice's --wait ends with Active and exit 0, and tells her how to use it.
  auto waited = waiter.wait(20s);
  const std::string waitOut = readFile(waitLog);
  ASSERT_TRUE(waited.has_value()) << "--wait did not return:\n" << waitOut;
  EXPECT_EQ(*waited, 0) << waitOut;
  EXPECT_NE(waitOut.find("debug is Active"), std::string::npos) << waitOut;
  EXPECT_NE(waitOut.find("ClusterRole/view in namespace " + ns_), std::string::npos) << waitOut;
  EXPECT_NE(waitOut.find("kubectl get pods -n " + ns_), std::string::npos) << waitOut;
  EXPECT_EQ(waitOut.find('\x1b'), std::string::npos) << "not a terminal: no colour, no redraw";
  EXPECT_TRUE(waitFor([&] { return can("alice", "list", "pods"); }, 5s));

  // The table, as alice sees her own requests.
  auto mine = grantMerged({"list", "--mine"});
  ASSERT_EQ(mine.exitCode, 0) << mine.err;
  EXPECT_NE(mine.out.find("Active"), std::string::npos) << mine.out;
  EXPECT_NE(mine.out.find("1/1"), std::string::npos) << mine.out;
  EXPECT_NE(mine.out.find("19m"), std::string::npos) << "expires in\n" << mine.out;
  auto asJson = grant("bob", {"list", "-A", "-o", "json"});
  ASSERT_EQ(asJson.exitCode, 0) << asJson.err;
  auto list = json::parse(asJson.out);
  bool found = false;
  for (const auto& item : list["items"]) {
    found |= item["metadata"]["name"] == "debug" && item["metadata"]["namespace"] == ns_;
  }
  EXPECT_TRUE(found) << asJson.out;
  auto asYaml = grantMerged({"describe", "debug", "-o", "yaml"});
  ASSERT_EQ(asYaml.exitCode, 0) << asYaml.err;
  EXPECT_NE(asYaml.out.find("phase: Active"), std::string::npos) << asYaml.out;

  // whoami: the identity the API server sees, and what each may do.
  auto bobWho = grantMerged({"--context", "bob@kubegrant-test", "whoami"});
  ASSERT_EQ(bobWho.exitCode, 0) << bobWho.err;
  EXPECT_NE(bobWho.out.find("Username:  bob"), std::string::npos) << bobWho.out;
  EXPECT_NE(bobWho.out.find(policy_ + "   approve"), std::string::npos) << bobWho.out;
  auto aliceWho = grantMerged({"whoami", "-o", "json"});
  ASSERT_EQ(aliceWho.exitCode, 0) << aliceWho.err;
  auto who = json::parse(aliceWho.out);
  EXPECT_EQ(who["username"], "alice");
  EXPECT_NE(std::find(who["canRequestUnder"].begin(), who["canRequestUnder"].end(), policy_),
            who["canRequestUnder"].end())
      << aliceWho.out;

  // Revoke ends access.
  auto revoked = grantMerged({"revoke", "debug"});
  ASSERT_EQ(revoked.exitCode, 0) << revoked.err;
  ASSERT_TRUE(waitFor([&] { return phase("debug") == "Revoked"; }, 15s)) << phase("debug");
  EXPECT_FALSE(can("alice", "list", "pods"));

  // describe tells the whole story, in order (as the admin, who may read the Events).
  std::string story;
  ASSERT_TRUE(waitFor(
      [&] {
        auto d = grant("admin", {"describe", "debug", "-n", ns_});
        story = d.out;
        return d.exitCode == 0 && story.find("RevokeRequested") != std::string::npos;
      },
      10s))
      << story;
  std::vector<std::string> inOrder = {"Phase:       Revoked",
                                      "Decisions:",
                                      "Approve    go ahead",
                                      "Grants:",
                                      "Conditions:",
                                      "Approved   True",
                                      "History:",
                                      "requested by alice",
                                      "event Normal Requested",
                                      "Approve by bob: go ahead",
                                      "active: access granted",
                                      "event Normal Granted",
                                      "RoleBinding " + ns_ + "/kubegrant-debug-",
                                      "ended: Revoked",
                                      "event Warning RevokeRequested"};
  std::size_t at = 0;
  for (const auto& want : inOrder) {
    auto found = story.find(want, at);
    ASSERT_NE(found, std::string::npos) << "missing (or out of order): " << want << "\n" << story;
    at = found;
  }

  // Revoked is final: a decision now is refused by the webhook, exit 3.
  auto late = grant("carol", {"approve", "debug", "-n", ns_});
  EXPECT_EQ(late.exitCode, 3) << late.out << late.err;
  auto missing = grant("bob", {"describe", "nope", "-n", ns_});
  EXPECT_EQ(missing.exitCode, 4) << missing.err;
}

TEST_F(PluginTest, ADenialEndsTheWaitWithItsOwnExitCode) {
  ChildProcess waiter;
  const std::string waitLog = harness_.dir() + "/alice-wait.log";
  waiter.start("kubectl",
               {"grant", "request", "--policy", policy_, "--role", "view", "--reason", "e2e",
                "--name", "nope", "--wait"},
               waitLog, pluginEnv());
  ASSERT_TRUE(waitFor([&] { return phase("nope") == "Pending"; }, 15s)) << readFile(waitLog);
  auto noComment = grant("carol", {"deny", "nope", "-n", ns_});
  EXPECT_EQ(noComment.exitCode, 2) << "deny needs --comment";
  auto denied = grant("carol", {"deny", "nope", "-n", ns_, "--comment", "not during the freeze"});
  ASSERT_EQ(denied.exitCode, 0) << denied.err;
  auto waited = waiter.wait(20s);
  const std::string out = readFile(waitLog);
  ASSERT_TRUE(waited.has_value()) << out;
  EXPECT_EQ(*waited, 5) << out;
  EXPECT_NE(out.find("nope is Denied"), std::string::npos) << out;
  EXPECT_FALSE(can("alice", "list", "pods"));
}

TEST_F(PluginTest, ARequestOutsideThePolicyIsRefusedWithTheWebhooksMessage) {
  auto r = grantMerged({"request", "--policy", policy_, "--role", "edit", "--reason", "e2e"});
  EXPECT_EQ(r.exitCode, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("ClusterRole/edit is not allowed by policy " + policy_), std::string::npos)
      << r.err;
  auto bad = grantMerged({"request", "--policy", policy_, "--role", "view", "--for", "2 days"});
  EXPECT_EQ(bad.exitCode, 2) << bad.err;
  EXPECT_NE(bad.err.find("--for"), std::string::npos) << bad.err;
}

// A cluster-wide grant has its own flag; the webhook judges it against spec.clusterRoles.
TEST_F(PluginTest, AClusterWideRoleIsAskedForWithItsOwnFlag) {
  auto preview =
      grantMerged({"request", "--policy", policy_, "--cluster-role", "node-viewer", "--reason",
                   "e2e: a node is flapping", "--name", "nodes", "--dry-run"});
  ASSERT_EQ(preview.exitCode, 0) << preview.out << preview.err;
  EXPECT_NE(preview.out.find("would be created"), std::string::npos) << preview.out;
  EXPECT_EQ(phase("nodes"), "") << "a dry run creates nothing";

  auto refused =
      grantMerged({"request", "--policy", policy_, "--cluster-role", "edit", "--reason", "e2e"});
  EXPECT_EQ(refused.exitCode, 3) << refused.out << refused.err;
  EXPECT_NE(
      refused.err.find("cluster-wide role ClusterRole/edit is not allowed by policy " + policy_),
      std::string::npos)
      << refused.err;

  auto hint =
      grantMerged({"request", "--policy", policy_, "--role", "node-viewer", "--reason", "e2e"});
  EXPECT_EQ(hint.exitCode, 2) << hint.out << hint.err;
  EXPECT_NE(hint.err.find("--cluster-role node-viewer"), std::string::npos) << hint.err;
}

// kubectl completes `kubectl grant ...` through kubectl_complete-grant on the PATH (cobra's
// __complete protocol); request names come from the API as the user sees them.
TEST_F(PluginTest, KubectlCompletesThePluginsCommandsAndRequestNames) {
  const std::string path =
      std::string(KG_SOURCE_DIR) + "/operator/kubectl_grant:" + std::getenv("PATH");
  auto created = grantMerged({"request", "--policy", policy_, "--role", "view", "--reason", "e2e",
                              "--name", "completion-me"});
  ASSERT_EQ(created.exitCode, 0) << created.err;
  auto commands =
      testing::runCommand({"env", "PATH=" + path, "kubectl", "__complete", "grant", "de"});
  EXPECT_NE(commands.out.find("deny\ndescribe\n:4"), std::string::npos) << commands.out;
  auto names =
      testing::runCommand({"env", "PATH=" + path, "kubectl", "__complete", "grant", "--kubeconfig",
                           env_.kubeconfig("bob"), "-n", ns_, "approve", "compl"});
  EXPECT_NE(names.out.find("completion-me\n:4"), std::string::npos) << names.out << names.err;
}

}  // namespace
}  // namespace kubegrant::e2e
