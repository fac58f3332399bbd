// Two replicas, as the chart runs them (leader election on, the self-managed webhook
// certificate): both serve the webhook with the one certificate the leader keeps in the
// Secret; an approved request is granted once; kill -9 of the leader hands the Lease to the
// other replica within the Lease duration (15 s), which goes on granting (still one
// RoleBinding per request) and renewing the certificate that it serves.

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
#include <string>
#include <thread>
#include <vector>

#include "operator/common/time.h"
#include "tests/support/operator_harness.h"
#include "tests/support/test_env.h"

namespace kubegrant::e2e {
namespace {

using nlohmann::json;
using testing::accessRequestPhase;
using testing::kubectl;
using testing::readFile;
using testing::runCommand;
using testing::TestEnv;
using testing::uniqueName;
using testing::waitFor;
using namespace std::chrono_literals;

const char kRelease[] = "kgha";
const char kNamespace[] = "kgha-system";
const char kLease[] = "kgha-kubegrant-operator";

class HaE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = testing::requireEnv();
    ASSERT_TRUE(e) << "run tests/controlplane/up.sh DIR and source DIR/env";
    env_ = *e;
    // Two replicas with leader election are the chart's defaults.
    harness_.useChart(
        {.release = kRelease,
         .namespace_ = kNamespace,
         .set = {"webhook.certificate.lifetime=6s", "webhook.certificate.caLifetime=600s"}});
    ASSERT_NO_FATAL_FAILURE(harness_.setUp(env_, "kubegrant-e2e-ha"));
    ASSERT_NO_FATAL_FAILURE(harness_.startSecondReplica());
    ns_ = uniqueName("ha");
    policy_ = ns_ + "-policy";
    mustAdmin({"create", "namespace", ns_});
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
  }

  void TearDown() override {
    if (!ns_.empty()) {
      kubectl(env_, "admin",
              {"delete", "accessrequests", "--all", "-n", ns_, "--wait=true", "--timeout=30s"});
    }
    harness_.unregisterWebhooks();
    harness_.stopOperator(SIGTERM);
    harness_.stopSecondReplica(SIGTERM);
    runCommand({env_.helm, "uninstall", kRelease, "-n", kNamespace, "--no-hooks",
                "--ignore-not-found", "--kubeconfig", env_.kubeconfig("admin")});
    if (!ns_.empty()) {
      kubectl(env_, "admin", {"delete", "accesspolicy", policy_, "--ignore-not-found"});
      kubectl(env_, "admin", {"delete", "namespace", ns_, "--wait=false"});
    }
    if (HasFailure()) {
      for (const auto& log : {harness_.logPath(), harness_.dir() + "/operator-2.log"}) {
        std::cerr << "---- " << log << " ----\n" << readFile(log).substr(0, 15000) << "\n";
      }
    } else if (!harness_.dir().empty()) {
      std::filesystem::remove_all(harness_.dir());
    }
  }

  void mustAdmin(std::vector<std::string> args, std::string_view input = {}) {
    auto r = kubectl(env_, "admin", args, input);
    ASSERT_EQ(r.exitCode, 0) << fmt::format("kubectl {}: {}", fmt::join(args, " "), r.err);
  }

  std::string holder() {
    auto r = kubectl(
        env_, "admin",
        {"get", "lease", "-n", kNamespace, kLease, "-o", "jsonpath={.spec.holderIdentity}"});
    return r.exitCode == 0 ? r.out : std::string();
  }

  void requestAndApprove(const std::string& name, const std::string& duration = "30m") {
    auto created = kubectl(env_, "alice", {"create", "-f", "-"},
                           fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessRequest
metadata: {{name: {}, namespace: {}}}
spec:
  policy: {}
  duration: {}
  reason: "e2e: ha"
  roles: [{{kind: ClusterRole, name: view}}]
)",
                                       name, ns_, policy_, duration));
    ASSERT_EQ(created.exitCode, 0) << created.err;
    ASSERT_TRUE(waitFor([&] { return accessRequestPhase(env_, ns_, name) == "Pending"; }, 20s));
    auto approved = kubectl(
        env_, "bob",
        {"patch", "areq", name, "-n", ns_, "--subresource=status", "--type=json", "-p",
         R"([{"op":"add","path":"/status/approvals/-","value":{"decision":"Approve","comment":"ok"}}])"});
    ASSERT_EQ(approved.exitCode, 0) << approved.err;
  }

  // RoleBindings kubegrant made in the test namespace.
  int grants() {
    auto r = kubectl(env_, "admin",
                     {"get", "rolebindings", "-n", ns_, "-l",
                      "app.kubernetes.io/managed-by=kubegrant", "-o", "json"});
    if (r.exitCode != 0) return -1;
    const json list = json::parse(r.out);
    return static_cast<int>(list["items"].size());
  }

  // sha256 of the leaf served on `port`, and of the Secret's tls.crt.
  static std::string fingerprint(const std::string& pem) {
    auto r = runCommand({"openssl", "x509", "-noout", "-fingerprint", "-sha256"}, pem);
    return r.exitCode == 0 ? r.out : std::string();
  }
  std::string served(int port) {
    auto r = runCommand(
        {"sh", "-c",
         fmt::format("openssl s_client -connect 127.0.0.1:{} </dev/null 2>/dev/null", port)});
    return fingerprint(r.out);
  }
  std::string inSecret() {
    auto r = kubectl(env_, "admin",
                     {"get", "secret", harness_.certificateSecretName(), "-n", kNamespace, "-o",
                      "jsonpath={.data.tls\\.crt}"});
    if (r.exitCode != 0 || r.out.empty()) return {};
    return fingerprint(runCommand({"base64", "-d"}, r.out).out);
  }

  // An AdmissionReview POSTed straight to one replica, verified with the Secret's CA.
  std::string review(int port) {
    auto ca = kubectl(env_, "admin",
                      {"get", "secret", harness_.certificateSecretName(), "-n", kNamespace, "-o",
                       "jsonpath={.data.ca\\.crt}"});
    const std::string caFile = harness_.dir() + fmt::format("/ca-{}.crt", port);
    std::ofstream(caFile) << runCommand({"base64", "-d"}, ca.out).out;
    const json body = {
        {"apiVersion", "admission.k8s.io/v1"},
        {"kind", "AdmissionReview"},
        {"request",
         {{"uid", fmt::format("ha-{}", port)},
          {"kind", {{"group", "kubegrant.io"}, {"version", "v1alpha1"}, {"kind", "AccessPolicy"}}},
          {"resource",
           {{"group", "kubegrant.io"}, {"version", "v1alpha1"}, {"resource", "accesspolicies"}}},
          {"operation", "CREATE"},
          {"name", "p"},
          {"userInfo", {{"username", "admin"}}},
          {"object",
           {{"apiVersion", "kubegrant.io/v1alpha1"},
            {"kind", "AccessPolicy"},
            {"metadata", {{"name", "p"}}},
            {"spec", json::object()}}}}}};
    auto r = runCommand({"curl", "-sS", "--max-time", "5", "--cacert", caFile, "-H",
                         "Content-Type: application/json", "--data-binary", "@-",
                         fmt::format("https://127.0.0.1:{}/validate-accesspolicy", port)},
                        body.dump());
    return r.out;
  }

  TestEnv env_;
  testing::OperatorHarness harness_{{KG_SOURCE_DIR, KG_OPERATOR_BIN, KG_CERTS_BIN}};
  std::string ns_, policy_;
};

TEST_F(HaE2ETest, KillingTheLeaderHandsOverWithinTheLeaseAndNothingIsGrantedTwice) {
  const std::vector<std::pair<pid_t, int>> replicas = {
      {harness_.operatorPid(), harness_.webhookPort()},
      {harness_.secondReplicaPid(), harness_.secondWebhookPort()}};
  // One leader, one of ours (identity host_pid).
  std::string leader;
  ASSERT_TRUE(waitFor([&] { return !(leader = holder()).empty(); }, 30s));
  const auto underscore = leader.rfind('_');
  ASSERT_NE(underscore, std::string::npos) << leader;
  const pid_t leaderPid = std::stoi(leader.substr(underscore + 1));
  ASSERT_TRUE(leaderPid == replicas[0].first || leaderPid == replicas[1].first) << leader;
  const auto& survivor = leaderPid == replicas[0].first ? replicas[1] : replicas[0];

  // Both serve the webhook, with the one certificate in the Secret.
  for (const auto& [pid, port] : replicas) {
    std::string want, have;
    EXPECT_TRUE(waitFor(
        [&] {
          want = inSecret();
          have = served(port);
          return !want.empty() && have == want;
        },
        10s))
        << "replica " << pid << " serves " << have << ", the Secret holds " << want;
    const std::string answer = review(port);
    EXPECT_NE(answer.find(fmt::format("\"uid\":\"ha-{}\"", port)), std::string::npos)
        << "replica " << pid << ": " << answer;
  }

  // Granted once, by the leader. It ends 50 s later, when the other replica leads.
  ASSERT_NO_FATAL_FAILURE(requestAndApprove("before", "50s"));
  ASSERT_TRUE(waitFor([&] { return accessRequestPhase(env_, ns_, "before") == "Active"; }, 30s));
  EXPECT_EQ(grants(), 1);

  // kill -9: no Lease release. The survivor takes over once the Lease expires.
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(leaderPid, SIGKILL), 0);
  ASSERT_TRUE(waitFor(
      [&] {
        const std::string h = holder();
        return !h.empty() && h != leader;
      },
      30s, 200ms));
  const double takeover =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  EXPECT_LT(takeover, 15.0 + 2.0 + 2.0) << "Lease 15 s, retry 2 s, polling";
  EXPECT_NE(holder().find(fmt::format("_{}", survivor.first)), std::string::npos);

  // The webhook Service's endpoints would drop the dead pod: the registrations (webhook.url,
  // one address) now point at the survivor.
  if (survivor.second != harness_.webhookPort()) {
    for (const char* kind : {"mutatingwebhookconfiguration", "validatingwebhookconfiguration"}) {
      auto cfg = kubectl(env_, "admin", {"get", kind, harness_.webhookConfigName(), "-o", "json"});
      ASSERT_EQ(cfg.exitCode, 0) << cfg.err;
      std::string text = cfg.out;
      const std::string from = fmt::format("127.0.0.1:{}/", harness_.webhookPort());
      const std::string to = fmt::format("127.0.0.1:{}/", survivor.second);
      for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos)) {
        text.replace(pos, from.size(), to);
      }
      mustAdmin({"replace", "-f", "-"}, text);
    }
  }

  // The new leader grants; nothing is granted twice.
  ASSERT_NO_FATAL_FAILURE(requestAndApprove("after"));
  ASSERT_TRUE(waitFor([&] { return accessRequestPhase(env_, ns_, "after") == "Active"; }, 30s));
  EXPECT_EQ(accessRequestPhase(env_, ns_, "before"), "Active");
  std::this_thread::sleep_for(3s);  // a sweep (2 s) and resyncs
  EXPECT_EQ(grants(), 2) << "one RoleBinding per request";

  // It also renews the certificate (6 s lifetime), and serves what it writes.
  const std::string before = inSecret();
  ASSERT_TRUE(waitFor([&] { return inSecret() != before; }, 15s)) << "no renewal after takeover";
  std::string want, have;
  EXPECT_TRUE(waitFor(
      [&] {
        want = inSecret();
        have = served(survivor.second);
        return have == want;
      },
      10s))
      << have << " vs " << want;

  // The grant made by the dead leader does not outlive its expiry: the new leader revokes it
  // on time, and only the later request's binding is left.
  ASSERT_TRUE(waitFor([&] { return accessRequestPhase(env_, ns_, "before") == "Expired"; }, 60s))
      << accessRequestPhase(env_, ns_, "before");
  EXPECT_EQ(grants(), 1);
  const json status = testing::getAccessRequest(env_, ns_, "before")["status"];
  const auto expiresAt = parseRfc3339(status.value("expiresAt", ""));
  const auto endedAt = parseRfc3339(status.value("endedAt", ""));
  ASSERT_TRUE(expiresAt && endedAt) << status.dump();
  EXPECT_LE(*endedAt - *expiresAt, 2s) << status.dump();
  std::cout << "takeover after kill -9: " << takeover << " s\n";
}

}  // namespace
}  // namespace kubegrant::e2e
