#include "operator/manager/flags.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace kubegrant::manager {
namespace {

TEST(OperatorFlags, DefaultsFollowApiMd) {
  auto f = parseFlags({});
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->webhookPort, 9443);
  EXPECT_EQ(f->metricsAddr, ":8080");
  EXPECT_EQ(f->healthAddr, ":8081");
  EXPECT_EQ(f->sweepInterval, std::chrono::seconds(60));
  EXPECT_FALSE(f->leaderElect);
}

TEST(OperatorFlags, AcceptsBothValueFormsAndBareBooleans) {
  auto f = parseFlags({"--webhook-port=1234", "--audit-log", "/tmp/a.log", "--leader-elect",
                       "--sweep-interval=5s", "--log-level=debug"});
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->webhookPort, 1234);
  EXPECT_EQ(f->auditLog, "/tmp/a.log");
  EXPECT_TRUE(f->leaderElect);
  EXPECT_EQ(f->sweepInterval, std::chrono::seconds(5));
  EXPECT_EQ(f->logLevel, log::Level::Debug);
}

TEST(OperatorFlags, RejectsUnknownFlagsAndBadValuesNamingTheFlag) {
  auto unknown = parseFlags({"--webhook-prot=1"});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("--webhook-prot"), std::string::npos);
  auto bad = parseFlags({"--sweep-interval=soon"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("--sweep-interval"), std::string::npos);
  auto missing = parseFlags({"--kubeconfig"});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("needs a value"), std::string::npos);
}

TEST(OperatorFlags, ConfigFileIsOverriddenByTheCommandLine) {
  std::string path = ::testing::TempDir() + "/kubegrant-config.yaml";
  {
    std::ofstream out(path);
    out << "webhook-port: 7000\nmetrics-addr: \":9000\"\nworkers: 3\n";
  }
  auto f = parseFlags({"--config", path, "--webhook-port=7001"});
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->webhookPort, 7001);
  EXPECT_EQ(f->metricsAddr, ":9000");
  EXPECT_EQ(f->workers, 3);
  std::remove(path.c_str());
}

// What the chart's ConfigMap holds (charts/kubegrant/templates/configmap.yaml): booleans and
// numbers as YAML scalars, every key a flag name.
TEST(OperatorFlags, ConfigFileTakesTheChartsKeysWithYamlScalars) {
  std::string path = ::testing::TempDir() + "/kubegrant-chart-config.yaml";
  {
    std::ofstream out(path);
    out << "health-addr: :8081\nkube-api-burst: 400\nkube-api-qps: 200\nleader-elect: true\n"
           "leader-election-id: kubegrant-operator\nleader-election-namespace: kg\n"
           "log-level: info\nmetrics-addr: :8080\n"
           "operator-identity: system:serviceaccount:kg:kubegrant-operator\n"
           "seal-keys-secret: kg/kubegrant-seal-keys\nservice-account-dir: /var/run/sa\n"
           "sweep-interval: 60s\nwebhook-cert-dir: /etc/kubegrant/webhook-certs\n"
           "webhook-port: 9443\nworkers: 4\nadmin-group: ops,sec\n";
  }
  auto f = parseFlags({"--config", path});
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_TRUE(f->leaderElect);
  EXPECT_EQ(f->leaderElectionNamespace, "kg");
  EXPECT_EQ(f->operatorIdentity, "system:serviceaccount:kg:kubegrant-operator");
  EXPECT_EQ(f->sealKeysSecret, "kg/kubegrant-seal-keys");
  EXPECT_EQ(f->serviceAccountDir, "/var/run/sa");
  EXPECT_EQ(f->webhookCertDir, "/etc/kubegrant/webhook-certs");
  EXPECT_EQ(f->adminGroups, (std::vector<std::string>{"ops", "sec"}));
  {
    std::ofstream out(path);
    out << "leader-elect: true\nwebhook-prot: 1\n";
  }
  auto bad = parseFlags({"--config", path});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("unknown key \"webhook-prot\""), std::string::npos)
      << bad.error().message;
  std::remove(path.c_str());
}

// --service-account-dir: where the in-cluster token, CA and namespace are; the operator's
// identity defaults to the ServiceAccount of the token found there.
TEST(OperatorFlags, ServiceAccountDirNamesTheTokenTheIdentityComesFrom) {
  auto d = parseFlags({});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->serviceAccountDir, "/var/run/secrets/kubernetes.io/serviceaccount");
  std::string dir = ::testing::TempDir() + "/kg-sa-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/token") << "eyJhbGciOiJSUzI1NiJ9."
                                << "eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6a3ViZWdyYW50LXN5c3"
                                   "RlbTprdWJlZ3JhbnQtb3BlcmF0b3IifQ"
                                << ".c2ln\n";
  auto f = parseFlags({"--service-account-dir", dir});
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->serviceAccountDir, dir);
  auto id = resolveOperatorIdentity(*f);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(*id, "system:serviceaccount:kubegrant-system:kubegrant-operator");
  EXPECT_FALSE(parseFlags({"--service-account-dir="}));
  EXPECT_NE(helpText().find("--service-account-dir DIR"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(OperatorFlags, SecurityFlags) {
  auto d = parseFlags({});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->operatorIdentity, "");
  EXPECT_TRUE(d->adminGroups.empty()) << "no group is trusted by default";
  EXPECT_EQ(d->sealKeysSecret, "kubegrant-system/kubegrant-seal-keys");
  EXPECT_EQ(d->apiServerMaxRequestBytes, 3u * 1024 * 1024);
  auto f = parseFlags({"--operator-identity=kubegrant-operator", "--admin-group", "ops,sec",
                       "--admin-group=audit", "--seal-keys-secret=kg/keys",
                       "--apiserver-max-request-bytes=4194304"});
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->operatorIdentity, "kubegrant-operator");
  EXPECT_EQ(f->adminGroups, (std::vector<std::string>{"ops", "sec", "audit"}));
  EXPECT_EQ(f->sealKeysSecret, "kg/keys");
  EXPECT_EQ(f->apiServerMaxRequestBytes, 4194304u);
  EXPECT_TRUE(d->secretNamespaces.empty()) << "the Lease's namespace unless given";
  auto s =
      parseFlags({"--secret-namespace=kubegrant-system,payments", "--secret-namespace", "ops"});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->secretNamespaces, (std::vector<std::string>{"kubegrant-system", "payments", "ops"}));
  for (const char* bad :
       {"--operator-identity=x' || true", "--admin-group=a,,b", "--secret-namespace=a,",
        "--seal-keys-secret=keys", "--apiserver-max-request-bytes=10"}) {
    auto r = parseFlags({bad});
    ASSERT_FALSE(r) << bad;
    std::string flag = std::string(bad).substr(0, std::string(bad).find('='));
    EXPECT_EQ(r.error().message.rfind(flag + ":", 0), 0u) << r.error().message;
  }
  EXPECT_NE(helpText().find("--operator-identity USER"), std::string::npos);
  EXPECT_NE(helpText().find("--admin-group GROUP"), std::string::npos);
  EXPECT_NE(helpText().find("--secret-namespace NS"), std::string::npos);
  EXPECT_NE(helpText().find("--seal-keys-secret NS/NAME"), std::string::npos);
  EXPECT_NE(helpText().find("--apiserver-max-request-bytes N"), std::string::npos);
}

TEST(OperatorFlags, TheOperatorIdentityIsTheFlagOrTheInClusterServiceAccount) {
  Flags f;
  f.operatorIdentity = "kubegrant-operator";
  EXPECT_EQ(*resolveOperatorIdentity(f, "/nonexistent"), "kubegrant-operator");
  f.operatorIdentity.clear();
  auto none = resolveOperatorIdentity(f, "/nonexistent");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message.rfind("--operator-identity: required outside a cluster", 0), 0u)
      << none.error().message;
  // A projected ServiceAccount token: header.payload.signature, payload base64url JSON.
  std::string path = ::testing::TempDir() + "/kg-token";
  std::ofstream(path) << "eyJhbGciOiJSUzI1NiJ9."
                      << "eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6a3ViZWdyYW50LXN5c3RlbTprdWJl"
                         "Z3JhbnQtb3BlcmF0b3IifQ"
                      << ".c2ln\n";
  auto sa = resolveOperatorIdentity(f, path);
  ASSERT_TRUE(sa) << sa.error().message;
  EXPECT_EQ(*sa, "system:serviceaccount:kubegrant-system:kubegrant-operator");
  std::ofstream(path) << "not-a-jwt\n";
  EXPECT_FALSE(resolveOperatorIdentity(f, path));
  std::remove(path.c_str());
}

TEST(OperatorFlags, NotifyFlagsAreParsedAndDocumented) {
  auto f = parseFlags({"--notify-url", "https://hooks.example/x", "--notify-secret-file",
                       "/etc/kg/notify-key", "--notify-expiring-lead", "15m"});
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->notifyUrl, "https://hooks.example/x");
  EXPECT_EQ(f->notifySecretFile, "/etc/kg/notify-key");
  EXPECT_EQ(f->notifyExpiringLead, std::chrono::minutes(15));
  EXPECT_EQ(parseFlags({})->notifyExpiringLead, std::chrono::minutes(10));
  EXPECT_FALSE(parseFlags({"--notify-url", "hooks.example/x"}));
  EXPECT_FALSE(parseFlags({"--notify-expiring-lead", "0s"}));
  EXPECT_EQ(helpText().find("NOT IMPLEMENTED"), std::string::npos);
  for (const char* flag : {"--notify-url URL", "--notify-secret-file PATH",
                           "--notify-expiring-lead DUR", "X-Kubegrant-Signature"}) {
    EXPECT_NE(helpText().find(flag), std::string::npos) << flag;
  }
}

TEST(OperatorFlags, SelfManagedCertificateFlags) {
  auto f = parseFlags({"--webhook-cert-secret", "kg/kg-webhook-tls", "--webhook-cert-hosts",
                       "svc.kg.svc,127.0.0.1", "--webhook-cert-lifetime=6s",
                       "--webhook-ca-lifetime=20s", "--webhook-configuration-name=kg"});
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->webhookCertSecret, "kg/kg-webhook-tls");
  EXPECT_EQ(f->webhookCertHosts, (std::vector<std::string>{"svc.kg.svc", "127.0.0.1"}));
  EXPECT_EQ(f->webhookCertLifetime, std::chrono::seconds(6));
  EXPECT_EQ(f->webhookCaLifetime, std::chrono::seconds(20));
  EXPECT_EQ(f->webhookConfigurationName, "kg");

  auto defaults = parseFlags({});
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->webhookCertSecret, "") << "files from --webhook-cert-dir by default";
  EXPECT_EQ(defaults->webhookCertLifetime, std::chrono::hours(24 * 90));

  for (std::vector<std::string> bad : std::vector<std::vector<std::string>>{
           {"--webhook-cert-secret=no-namespace", "--webhook-cert-hosts=a"},
           {"--webhook-cert-secret=kg/s"},  // no hosts
           {"--webhook-cert-secret=kg/s", "--webhook-cert-hosts=a", "--webhook-cert-lifetime=1s"},
           {"--webhook-cert-secret=kg/s", "--webhook-cert-hosts=a,,b"},
           {"--webhook-cert-secret=kg/s", "--webhook-cert-hosts=a", "--webhook-cert-lifetime=1h",
            "--webhook-ca-lifetime=2h"}}) {
    auto r = parseFlags(bad);
    ASSERT_FALSE(r) << bad.front();
    EXPECT_NE(r.error().message.find("--webhook-c"), std::string::npos) << r.error().message;
  }
  for (const char* flag :
       {"--webhook-cert-secret", "--webhook-cert-hosts", "--webhook-cert-lifetime",
        "--webhook-ca-lifetime", "--webhook-configuration-name"}) {
    EXPECT_NE(helpText().find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace kubegrant::manager
