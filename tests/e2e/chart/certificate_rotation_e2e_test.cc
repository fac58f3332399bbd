// The self-managed webhook certificate (the chart's default, webhook.certificate.mode
// self-managed), for real: `helm upgrade --install` with a serving certificate living 6 s and a
// CA living 20 s, the real kubegrant-operator as the chart's ServiceAccount (its RBAC is all it
// has). While users keep creating AccessRequests through both webhooks in a loop, the
// certificate rotates several times and the CA at least once; no admission may fail, no
// restart happens, both webhook configurations' caBundle follows the Secret, the server
// presents what the Secret holds, and each rotation leaves an Event and a log line.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/support/operator_harness.h"
#include "tests/support/test_env.h"

namespace kubegrant::e2e {
namespace {

using nlohmann::json;
using testing::kubectl;
using testing::readFile;
using testing::runCommand;
using testing::TestEnv;
using testing::uniqueName;
using testing::waitFor;
using namespace std::chrono_literals;

const char kRelease[] = "kgrotate";
const char kNamespace[] = "kgrotate-system";

class CertificateRotationE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = testing::requireEnv();
    ASSERT_TRUE(e) << "run tests/controlplane/up.sh DIR and source DIR/env";
    env_ = *e;
    // A Secret left by an earlier run would be reused (by design): start from none.
    kubectl(env_, "admin",
            {"delete", "secret", "-n", kNamespace, "kgrotate-kubegrant-webhook-tls",
             "--ignore-not-found"});
    harness_.useChart(
        {.release = kRelease,
         .namespace_ = kNamespace,
         .set = {"replicaCount=1", "leaderElection.enabled=false",
                 "webhook.certificate.lifetime=6s", "webhook.certificate.caLifetime=20s"}});
    ASSERT_TRUE(harness_.selfManagedCertificate());
    ASSERT_NO_FATAL_FAILURE(harness_.setUp(env_, "kubegrant-e2e-rotation"));
    ns_ = uniqueName("rotate");
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
  maxOpenRequests: 1000
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
    EXPECT_EQ(harness_.stopOperator(SIGTERM), 0) << "the operator must exit 0 on SIGTERM";
    runCommand({env_.helm, "uninstall", kRelease, "-n", kNamespace, "--no-hooks",
                "--ignore-not-found", "--kubeconfig", env_.kubeconfig("admin")});
    if (!ns_.empty()) {
      kubectl(env_, "admin", {"delete", "accesspolicy", policy_, "--ignore-not-found"});
      kubectl(env_, "admin", {"delete", "namespace", ns_, "--wait=false"});
    }
    if (HasFailure()) {
      std::cerr << "---- operator log (" << harness_.logPath() << ") ----\n"
                << readFile(harness_.logPath()).substr(0, 30000) << "\n";
    } else if (!harness_.dir().empty()) {
      std::filesystem::remove_all(harness_.dir());
    }
  }

  void mustAdmin(std::vector<std::string> args, std::string_view input = {}) {
    auto r = kubectl(env_, "admin", args, input);
    ASSERT_EQ(r.exitCode, 0) << fmt::format("kubectl {}: {}", fmt::join(args, " "), r.err);
  }

  // sha256 fingerprints (lower-case hex, no colons) of the PEM certificates in `pem`.
  static std::vector<std::string> fingerprints(const std::string& pem) {
    std::vector<std::string> out;
    const std::string begin = "-----BEGIN CERTIFICATE-----";
    for (auto pos = pem.find(begin); pos != std::string::npos; pos = pem.find(begin, pos + 1)) {
      auto r =
          runCommand({"openssl", "x509", "-noout", "-fingerprint", "-sha256"}, pem.substr(pos));
      std::string fp = r.out.substr(r.out.find('=') + 1);
      std::erase(fp, ':');
      std::erase(fp, '\n');
      for (auto& c : fp) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.push_back(fp);
    }
    return out;
  }

  std::string secretEntry(const std::string& key) {
    auto r = kubectl(
        env_, "admin",
        {"get", "secret", harness_.certificateSecretName(), "-n", kNamespace, "-o",
         "jsonpath={.data." + std::string(key == "ca.crt" ? "ca\\.crt" : "tls\\.crt") + "}"});
    if (r.exitCode != 0 || r.out.empty()) return {};
    return runCommand({"base64", "-d"}, r.out).out;
  }

  // The leaf the webhook presents on a new connection.
  std::string servedFingerprint() {
    auto r = runCommand({"sh", "-c",
                         fmt::format("openssl s_client -connect 127.0.0.1:{} -servername "
                                     "127.0.0.1 </dev/null 2>/dev/null | openssl x509",
                                     harness_.webhookPort())});
    auto fps = fingerprints(r.out);
    return fps.empty() ? std::string() : fps.front();
  }

  TestEnv env_;
  testing::OperatorHarness harness_{{KG_SOURCE_DIR, KG_OPERATOR_BIN, KG_CERTS_BIN}};
  std::string ns_, policy_;
};

TEST_F(CertificateRotationE2ETest, AdmissionNeverFailsWhileTheCertificateAndCaRotate) {
  const pid_t pid = harness_.operatorPid();
  std::set<std::string> leaves, cas, bundles;
  int admitted = 0;
  std::vector<std::string> failures;
  const auto start = std::chrono::steady_clock::now();
  // 30 s: the 6 s certificate renews every 4 s, the 20 s CA at about 13 s and 27 s.
  for (int i = 0; std::chrono::steady_clock::now() - start < 30s; ++i) {
    // Through the mutating (requester stamped) and the validating webhook.
    auto created = kubectl(env_, "alice", {"create", "-f", "-"},
                           fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessRequest
metadata: {{name: r{}, namespace: {}}}
spec:
  policy: {}
  duration: 30m
  reason: "e2e: certificate rotation"
  roles: [{{kind: ClusterRole, name: view}}]
)",
                                       i, ns_, policy_));
    if (created.exitCode == 0) {
      ++admitted;
    } else {
      failures.push_back(fmt::format("r{} at {} ms: {}", i,
                                     std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - start)
                                         .count(),
                                     created.err));
    }
    // And an update the validating webhook reviews: the requester edits the reason.
    if (created.exitCode == 0 && i % 2 == 0) {
      auto patched = kubectl(env_, "alice",
                             {"patch", "areq", fmt::format("r{}", i), "-n", ns_, "--type=merge",
                              "-p", R"({"metadata":{"labels":{"team":"payments"}}})"});
      if (patched.exitCode == 0) {
        ++admitted;
      } else if (patched.err.find("denied") == std::string::npos) {
        failures.push_back(fmt::format("patch r{}: {}", i, patched.err));
      }
    }
    for (const auto& fp : fingerprints(secretEntry("tls.crt"))) leaves.insert(fp);
    for (const auto& fp : fingerprints(secretEntry("ca.crt"))) cas.insert(fp);
    for (const auto& b : harness_.caBundles()) bundles.insert(b);
  }
  EXPECT_TRUE(failures.empty()) << failures.size()
                                << " admissions failed, first: " << failures.front();
  EXPECT_GE(admitted, 10) << "admissions spread over the rotations";
  EXPECT_GE(leaves.size(), 4u) << "at least 3 rotations of the serving certificate in 30 s";
  EXPECT_GE(cas.size(), 2u) << "the CA rotated";
  EXPECT_GE(bundles.size(), 2u) << "caBundle followed the CA";
  EXPECT_EQ(harness_.operatorPid(), pid);
  EXPECT_TRUE(::kill(pid, 0) == 0) << "no restart";

  // caBundle is the Secret's ca.crt (old and new CA during the overlap), and the server
  // presents the Secret's certificate.
  ASSERT_NO_FATAL_FAILURE(harness_.waitForCaBundle(10s));
  std::string served, want;
  EXPECT_TRUE(waitFor(
      [&] {
        auto fps = fingerprints(secretEntry("tls.crt"));
        want = fps.empty() ? "" : fps.front();
        served = servedFingerprint();
        return !want.empty() && served == want;
      },
      10s))
      << "served " << served << ", Secret " << want;

  // Every rotation is an Event on this Secret (by uid: not an earlier run's) and a log line.
  auto uid = kubectl(env_, "admin",
                     {"get", "secret", harness_.certificateSecretName(), "-n", kNamespace, "-o",
                      "jsonpath={.metadata.uid}"});
  ASSERT_EQ(uid.exitCode, 0) << uid.err;
  auto events = kubectl(env_, "admin",
                        {"get", "events", "-n", kNamespace, "--field-selector",
                         "reason=CertificateRotated,involvedObject.uid=" + uid.out, "-o", "json"});
  ASSERT_EQ(events.exitCode, 0) << events.err;
  int count = 0;
  const json list = json::parse(events.out);
  for (const auto& ev : list["items"]) count += ev.value("count", 1);
  EXPECT_GE(count, 4);
  const std::string log = readFile(harness_.logPath());
  EXPECT_NE(log.find("\"step\":\"ca\""), std::string::npos);
  EXPECT_NE(log.find("\"step\":\"serving\""), std::string::npos);
  std::cout << "admissions: " << admitted << ", serving certificates: " << leaves.size()
            << ", CAs: " << cas.size() << ", caBundles: " << bundles.size()
            << ", rotation Events: " << count << "\n";
}

}  // namespace
}  // namespace kubegrant::e2e
