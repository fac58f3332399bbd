// charts/kubegrant with the real Helm CLI (KUBEGRANT_HELM, built by tests/controlplane/build.sh):
// lint, what `helm template` renders with the default values, cert-manager on and HA off,
// that the chart's CRDs are the files in crds/, that values.schema.json refuses bad values,
// that the operator's RBAC is exactly the API calls its code makes, and that the operator
// accepts the configuration file the chart gives it.

#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "operator/kube/object.h"
#include "tests/support/test_env.h"

namespace kubegrant::chart {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::runCommand;

const std::string kSource = KUBEGRANT_SOURCE_DIR;
const std::string kChart = kSource + "/charts/kubegrant";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CommandResult helm(std::vector<std::string> args) {
  auto bin = testing::requireHelm();
  if (!bin) return {};
  args.insert(args.begin(), *bin);
  return runCommand(args);
}

// `helm template` as release "kubegrant" in namespace kg-system, with extra flags.
CommandResult render(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"template", "kubegrant", kChart, "--namespace", "kg-system"};
  args.insert(args.end(), extra.begin(), extra.end());
  return helm(args);
}

std::vector<YAML::Node> documents(const std::string& text) {
  std::vector<YAML::Node> out;
  for (auto& d : YAML::LoadAll(text)) {
    if (d && d.IsMap()) out.push_back(d);
  }
  return out;
}

std::vector<YAML::Node> ofKind(const std::vector<YAML::Node>& docs, const std::string& kind) {
  std::vector<YAML::Node> out;
  for (const auto& d : docs) {
    if (d["kind"].as<std::string>() == kind) out.push_back(d);
  }
  return out;
}

YAML::Node named(const std::vector<YAML::Node>& docs, const std::string& kind,
                 const std::string& name) {
  for (const auto& d : ofKind(docs, kind)) {
    if (d["metadata"]["name"].as<std::string>() == name) return d;
  }
  ADD_FAILURE() << "no " << kind << " " << name << " rendered";
  return YAML::Node();
}

bool rendered(const std::vector<YAML::Node>& docs, const std::string& kind,
              const std::string& name) {
  for (const auto& d : ofKind(docs, kind)) {
    if (d["metadata"]["name"].as<std::string>() == name) return true;
  }
  return false;
}

// The operator's --config file, from the rendered ConfigMap.
YAML::Node operatorConfig(const std::vector<YAML::Node>& docs) {
  auto cm = named(docs, "ConfigMap", "kubegrant-config");
  if (!cm) return cm;
  return YAML::Load(cm["data"]["config.yaml"].as<std::string>());
}

TEST(Chart, LintPassesWithTheDefaultValuesCertManagerAndHaOff) {
  for (std::vector<std::string> set : std::vector<std::vector<std::string>>{
           {},
           {"--set", "webhook.certificate.mode=cert-manager"},
           {"--set", "webhook.certificate.mode=helm"},
           {"--set", "replicaCount=1,leaderElection.enabled=false"},
           {"--set",
            "metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,"
            "metrics.grafanaDashboard.enabled=true"}}) {
    std::vector<std::string> args = {"lint", "--strict", kChart};
    args.insert(args.end(), set.begin(), set.end());
    auto r = helm(args);
    EXPECT_EQ(r.exitCode, 0) << ::testing::PrintToString(set) << "\n" << r.out << r.err;
    EXPECT_NE(r.out.find("1 chart(s) linted, 0 chart(s) failed"), std::string::npos) << r.out;
  }
}

void expectWebhookConfigurations(const std::vector<YAML::Node>& docs, const std::string& ca);

TEST(Chart, DefaultValuesRenderAHardenedTwoReplicaOperatorWithLeaderElection) {
  auto r = render();
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto docs = documents(r.out);
  auto deploy = named(docs, "Deployment", "kubegrant-operator");
  ASSERT_TRUE(deploy);
  EXPECT_EQ(deploy["spec"]["replicas"].as<int>(), 2);
  auto pod = deploy["spec"]["template"]["spec"];
  EXPECT_EQ(pod["serviceAccountName"].as<std::string>(), "kubegrant-operator");
  EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>());
  EXPECT_EQ(pod["securityContext"]["seccompProfile"]["type"].as<std::string>(), "RuntimeDefault");
  ASSERT_EQ(pod["containers"].size(), 1u);
  auto c = pod["containers"][0];
  EXPECT_TRUE(c["securityContext"]["readOnlyRootFilesystem"].as<bool>());
  EXPECT_FALSE(c["securityContext"]["allowPrivilegeEscalation"].as<bool>());
  EXPECT_EQ(c["securityContext"]["capabilities"]["drop"][0].as<std::string>(), "ALL");
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
  for (const char* kind : {"requests", "limits"}) {
    EXPECT_TRUE(c["resources"][kind]["cpu"]) << kind;
    EXPECT_TRUE(c["resources"][kind]["memory"]) << kind;
  }
  ASSERT_TRUE(pod["topologySpreadConstraints"]);
  EXPECT_EQ(pod["topologySpreadConstraints"][0]["topologyKey"].as<std::string>(),
            "kubernetes.io/hostname");
  EXPECT_EQ(c["args"][0].as<std::string>(), "--config");

  auto config = operatorConfig(docs);
  EXPECT_TRUE(config["leader-elect"].as<bool>());
  EXPECT_EQ(config["leader-election-namespace"].as<std::string>(), "kg-system");
  EXPECT_EQ(config["operator-identity"].as<std::string>(),
            "system:serviceaccount:kg-system:kubegrant-operator");
  EXPECT_EQ(config["seal-keys-secret"].as<std::string>(), "kg-system/kubegrant-seal-keys");

  EXPECT_EQ(
      named(docs, "PodDisruptionBudget", "kubegrant-operator")["spec"]["minAvailable"].as<int>(),
      1);
  EXPECT_TRUE(named(docs, "NetworkPolicy", "kubegrant-operator"));
  EXPECT_TRUE(named(docs, "ServiceAccount", "kubegrant-operator"));
  EXPECT_TRUE(named(docs, "Service", "kubegrant-webhook"));
  EXPECT_TRUE(named(docs, "Service", "kubegrant-metrics"));
  EXPECT_TRUE(named(docs, "ClusterRole", "kubegrant-requester"));
  EXPECT_TRUE(named(docs, "ClusterRole", "kubegrant-approver"));
  EXPECT_TRUE(ofKind(docs, "ServiceMonitor").empty());
  EXPECT_TRUE(ofKind(docs, "PrometheusRule").empty());
  EXPECT_TRUE(ofKind(docs, "Certificate").empty());

  // The self-managed certificate (the default): the operator writes the Secret and caBundle,
  // for the Service's names; nothing of it is rendered or mounted.
  EXPECT_FALSE(rendered(docs, "Secret", "kubegrant-webhook-tls"));
  EXPECT_EQ(config["webhook-cert-secret"].as<std::string>(), "kg-system/kubegrant-webhook-tls");
  EXPECT_EQ(config["webhook-cert-hosts"].as<std::string>(),
            "kubegrant-webhook,kubegrant-webhook.kg-system,kubegrant-webhook.kg-system.svc,"
            "kubegrant-webhook.kg-system.svc.cluster.local");
  EXPECT_EQ(config["webhook-cert-lifetime"].as<std::string>(), "2160h");
  EXPECT_EQ(config["webhook-configuration-name"].as<std::string>(), "kubegrant");
  EXPECT_FALSE(config["webhook-cert-dir"]);
  for (const auto& v : pod["volumes"]) EXPECT_NE(v["name"].as<std::string>(), "webhook-certs");
  expectWebhookConfigurations(docs, "");
}

// Both webhook configurations: the Service, failurePolicy Fail, a timeout, the operator's
// identity excluded, and `ca` as caBundle ("" = none rendered).
void expectWebhookConfigurations(const std::vector<YAML::Node>& docs, const std::string& ca) {
  int webhooks = 0, excluded = 0;
  for (const char* kind : {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}) {
    auto cfg = named(docs, kind, "kubegrant");
    ASSERT_TRUE(cfg) << kind;
    for (const auto& w : cfg["webhooks"]) {
      ++webhooks;
      EXPECT_EQ(w["failurePolicy"].as<std::string>(), "Fail");
      EXPECT_EQ(w["timeoutSeconds"].as<int>(), 2);
      EXPECT_EQ(w["sideEffects"].as<std::string>(), "None");
      EXPECT_EQ(w["clientConfig"]["service"]["name"].as<std::string>(), "kubegrant-webhook");
      EXPECT_EQ(w["clientConfig"]["service"]["namespace"].as<std::string>(), "kg-system");
      if (ca.empty()) {
        EXPECT_FALSE(w["clientConfig"]["caBundle"]);
      } else {
        EXPECT_EQ(w["clientConfig"]["caBundle"].as<std::string>(), ca);
      }
      if (w["matchConditions"]) {
        ++excluded;
        EXPECT_EQ(w["matchConditions"][0]["expression"].as<std::string>(),
                  "request.userInfo.username != "
                  "'system:serviceaccount:kg-system:kubegrant-operator'");
      }
    }
  }
  EXPECT_EQ(webhooks, 4);
  EXPECT_EQ(excluded, 2) << "the AccessRequest webhooks exclude the operator's status writes";
}

TEST(Chart, HelmModeGeneratesTheServingCertificateIntoAMountedSecret) {
  auto r = render({"--set", "webhook.certificate.mode=helm"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto docs = documents(r.out);
  auto tls = named(docs, "Secret", "kubegrant-webhook-tls");
  ASSERT_TRUE(tls);
  EXPECT_EQ(operatorConfig(docs)["webhook-cert-dir"].as<std::string>(),
            "/etc/kubegrant/webhook-certs");
  EXPECT_FALSE(operatorConfig(docs)["webhook-cert-secret"]);
  EXPECT_FALSE(rendered(docs, "Role", "kubegrant-operator-webhook-certificate"));
  expectWebhookConfigurations(docs, tls["data"]["ca.crt"].as<std::string>());
}

TEST(Chart, SelfManagedCertificateAlsoNamesTheHostOfAnOutsideUrl) {
  auto r = render({"--set", "webhook.url=https://10.0.0.1:9443,webhook.certificate.lifetime=8s"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto config = operatorConfig(documents(r.out));
  EXPECT_TRUE(config["webhook-cert-hosts"].as<std::string>().ends_with(",10.0.0.1"));
  EXPECT_EQ(config["webhook-cert-lifetime"].as<std::string>(), "8s");
}

TEST(Chart, CertManagerIssuesTheServingCertificateAndInjectsTheCa) {
  auto r = render({"--set", "webhook.certificate.mode=cert-manager"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto docs = documents(r.out);
  auto cert = named(docs, "Certificate", "kubegrant-webhook");
  ASSERT_TRUE(cert);
  EXPECT_EQ(cert["spec"]["secretName"].as<std::string>(), "kubegrant-webhook-tls");
  EXPECT_EQ(cert["spec"]["dnsNames"][0].as<std::string>(), "kubegrant-webhook.kg-system.svc");
  EXPECT_EQ(ofKind(docs, "Issuer").size(), 2u);
  for (const auto& s : ofKind(docs, "Secret")) {
    EXPECT_NE(s["metadata"]["name"].as<std::string>(), "kubegrant-webhook-tls")
        << "cert-manager writes that Secret, not Helm";
  }
  for (const char* kind : {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}) {
    auto cfg = named(docs, kind, "kubegrant");
    ASSERT_TRUE(cfg);
    EXPECT_EQ(cfg["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].as<std::string>(),
              "kg-system/kubegrant-webhook");
    for (const auto& w : cfg["webhooks"]) EXPECT_FALSE(w["clientConfig"]["caBundle"]);
  }
}

TEST(Chart, HaOffRendersOneReplicaWithoutLeaderElectionOrDisruptionBudget) {
  auto r = render({"--set", "replicaCount=1,leaderElection.enabled=false"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto docs = documents(r.out);
  EXPECT_EQ(named(docs, "Deployment", "kubegrant-operator")["spec"]["replicas"].as<int>(), 1);
  EXPECT_FALSE(operatorConfig(docs)["leader-elect"].as<bool>());
  EXPECT_TRUE(ofKind(docs, "PodDisruptionBudget").empty());
}

TEST(Chart, AlertsQueryOnlyMetricsTheOperatorRegistersAndCoverWhatMustPage) {
  auto r = render({"--set",
                   "metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,"
                   "metrics.grafanaDashboard.enabled=true"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto docs = documents(r.out);
  EXPECT_TRUE(named(docs, "ServiceMonitor", "kubegrant-operator"));
  auto rule = named(docs, "PrometheusRule", "kubegrant");
  ASSERT_TRUE(rule);
  const auto metrics = testing::registeredMetrics(kSource);
  std::set<std::string> alerts;
  const std::regex name("(kubegrant_[a-z_]+?)(_bucket|_sum|_count)?\\b");
  for (const auto& group : rule["spec"]["groups"]) {
    for (const auto& a : group["rules"]) {
      EXPECT_TRUE(alerts.insert(a["alert"].as<std::string>()).second)
          << "duplicate alert " << a["alert"];
      EXPECT_TRUE(a["labels"]["severity"].IsScalar()) << a["alert"];
      EXPECT_FALSE(a["annotations"]["summary"].as<std::string>("").empty()) << a["alert"];
      const std::string expr = a["expr"].as<std::string>();
      bool any = false;
      for (std::sregex_iterator it(expr.begin(), expr.end(), name), end; it != end; ++it) {
        // Histograms are registered by their base name (the regex drops _bucket etc.).
        const std::string m = (*it)[1];
        EXPECT_TRUE(metrics.count(m) > 0) << a["alert"].as<std::string>() << " queries " << m
                                          << ", which the operator does not register";
        any = true;
      }
      // The webhook alert reads the API server's own admission metrics.
      if (!any) {
        EXPECT_NE(expr.find("apiserver_admission_webhook_"), std::string::npos) << expr;
      }
    }
  }
  for (const char* want :
       {"KubegrantRevocationFailing", "KubegrantRevocationLagging",
        "KubegrantDatabaseRevocationPending", "KubegrantBreakGlassUsed", "KubegrantSecurityDenials",
        "KubegrantRepeatedSecurityDenials", "KubegrantNotificationsFailing",
        "KubegrantWebhookErrors", "KubegrantWebhookSlow", "KubegrantOperatorNotLeading"}) {
    EXPECT_TRUE(alerts.count(want)) << want;
  }
  auto dashboard = named(docs, "ConfigMap", "kubegrant-dashboard");
  ASSERT_TRUE(dashboard);
  EXPECT_EQ(dashboard["data"]["kubegrant.json"].as<std::string>() + "\n",
            slurp(kChart + "/files/grafana-dashboard.json"));
}

// Prometheus itself accepts the rule file (the one the PrometheusRule embeds), and the rules'
// unit tests (tests/chart/alerts_test.yaml: each paging alert fires on the series that mean
// trouble, only after its `for`, and not on a healthy operator) pass.
TEST(Chart, AlertRulesPassPromtoolCheckAndTheirUnitTests) {
  auto promtool = testing::requirePromtool();
  if (!promtool) return;
  auto check = runCommand({*promtool, "check", "rules", kChart + "/files/alerts.yaml"});
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
  std::size_t rules = 0;
  for (const auto& group : YAML::LoadFile(kChart + "/files/alerts.yaml")["groups"]) {
    rules += group["rules"].size();
  }
  EXPECT_GE(rules, 10u);
  EXPECT_NE(check.out.find("SUCCESS: " + std::to_string(rules) + " rules found"), std::string::npos)
      << check.out;
  auto unit = runCommand({*promtool, "test", "rules", kSource + "/tests/chart/alerts_test.yaml"});
  EXPECT_EQ(unit.exitCode, 0) << unit.out << unit.err;
  EXPECT_NE(unit.out.find("SUCCESS"), std::string::npos) << unit.out;

  // And the check can fail: a rule with a broken expression is refused.
  const fs::path broken = fs::temp_directory_path() / testing::uniqueName("kg-broken-rules");
  std::ofstream(broken) << "groups:\n  - name: x\n    rules:\n      - alert: Broken\n"
                           "        expr: sum(rate(kubegrant_leader[5m])\n";
  auto bad = runCommand({*promtool, "check", "rules", broken.string()});
  EXPECT_NE(bad.exitCode, 0) << bad.out;
  fs::remove(broken);
}

// One source of truth: charts/kubegrant/crds holds the very files of crds/ (symbolic links),
// and Helm reads them through the links.
TEST(Chart, CrdsAreTheFilesOfTheCrdsFolder) {
  std::set<std::string> repo, chart;
  for (const auto& e : fs::directory_iterator(kSource + "/crds")) {
    if (e.path().extension() == ".yaml") repo.insert(e.path().filename().string());
  }
  for (const auto& e : fs::directory_iterator(kChart + "/crds")) {
    chart.insert(e.path().filename().string());
  }
  EXPECT_EQ(repo, chart);
  ASSERT_EQ(repo.size(), 3u);
  auto shown = helm({"show", "crds", kChart});
  ASSERT_EQ(shown.exitCode, 0) << shown.err;
  for (const auto& f : repo) {
    const std::string want = slurp(kSource + "/crds/" + f);
    EXPECT_EQ(slurp(kChart + "/crds/" + f), want) << f << " differs from crds/" << f;
    EXPECT_NE(shown.out.find(want), std::string::npos) << "helm show crds lacks " << f;
  }
}

TEST(Chart, SchemaRefusesBadValues) {
  struct Case {
    const char* name;
    std::vector<std::string> set;
  } cases[] = {
      {"two replicas without leader election", {"--set", "leaderElection.enabled=false"}},
      {"no replica", {"--set", "replicaCount=0"}},
      {"an unknown key", {"--set", "replicas=3"}},
      {"a webhook URL that is not https", {"--set", "webhook.url=http://10.0.0.1:9443"}},
      {"a webhook URL without its CA",
       {"--set", "webhook.certificate.mode=helm,webhook.url=https://10.0.0.1:9443"}},
      {"a certificate mode that does not exist", {"--set", "webhook.certificate.mode=vault"}},
      {"an own Secret the operator would overwrite",
       {"--set", "webhook.existingSecret=s,webhook.caBundle=Q0E="}},
      {"an identity that breaks out of the CEL string",
       {"--set-string", "operator.identity=x' || true || '"}},
      {"a log level that does not exist", {"--set", "operator.logLevel=loud"}},
      {"a webhook timeout over 30s", {"--set", "webhook.timeoutSeconds=31"}},
      {"cert-manager and an own Secret",
       {"--set",
        "webhook.certificate.mode=cert-manager,webhook.existingSecret=s,webhook.caBundle=Q0E="}},
      {"a config key the operator does not have", {"--set", "operator.extraConfig.foo=1"}},
      {"a Go duration that is not one", {"--set", "operator.sweepInterval=soon"}},
  };
  for (const auto& c : cases) {
    auto r = render(c.set);
    EXPECT_NE(r.exitCode, 0) << c.name << " was accepted";
    EXPECT_NE(r.err.find("values don't meet the specifications of the schema"), std::string::npos)
        << c.name << ": " << r.err;
  }
  EXPECT_EQ(render({"--set", "webhook.url=https://10.0.0.1:9443,webhook.caBundle=Q0E="}).exitCode,
            0);
}

// ---- RBAC: the chart's rules are exactly the API calls in the operator's code ------------

// "group/resource[/subresource]:verb"
using Permissions = std::set<std::string>;

kube::ResourceRef resourceNamed(const std::string& fn) {
  static const std::map<std::string, std::function<kube::ResourceRef()>> all = {
      {"namespaces", kube::resources::namespaces},
      {"configMaps", kube::resources::configMaps},
      {"secrets", kube::resources::secrets},
      {"pods", kube::resources::pods},
      {"serviceAccounts", kube::resources::serviceAccounts},
      {"events", kube::resources::events},
      {"leases", kube::resources::leases},
      {"roles", kube::resources::roles},
      {"roleBindings", kube::resources::roleBindings},
      {"clusterRoles", kube::resources::clusterRoles},
      {"clusterRoleBindings", kube::resources::clusterRoleBindings},
      {"customResourceDefinitions", kube::resources::customResourceDefinitions},
      {"mutatingWebhookConfigurations", kube::resources::mutatingWebhookConfigurations},
      {"validatingWebhookConfigurations", kube::resources::validatingWebhookConfigurations},
      {"selfSubjectReviews", kube::resources::selfSubjectReviews},
      {"subjectAccessReviews", kube::resources::subjectAccessReviews},
      {"selfSubjectAccessReviews", kube::resources::selfSubjectAccessReviews},
      {"accessRequests", kube::resources::accessRequests},
      {"accessPolicies", kube::resources::accessPolicies},
      {"databaseTargets", kube::resources::databaseTargets},
  };
  auto it = all.find(fn);
  if (it == all.end()) {
    ADD_FAILURE() << "kube::resources::" << fn << "() is not in this test's table: add it";
    return {};
  }
  return it->second();
}

std::string permission(const kube::ResourceRef& r, const std::string& verb,
                       const std::string& sub = {}) {
  return r.group + "/" + r.resource + (sub.empty() ? "" : "/" + sub) + ":" + verb;
}

// The calls in the sources of the operator binary (not kubectl-grant, not the kube client
// itself, not the test fakes). Calls are recognised by their shape; a client call this test
// cannot attribute to a resource fails it, so a new call cannot slip past the comparison.
Permissions permissionsTheCodeUses() {
  Permissions out;
  struct Pattern {
    std::regex re;
    std::vector<std::string> verbs;  // "update/status" = update on the status subresource
  };
  const std::string res = R"(kube::resources::(\w+)\(\))";
  const std::vector<Pattern> patterns = {
      {std::regex(R"(\bclient_?\s*\.\s*get\s*\(\s*)" + res), {"get"}},
      {std::regex(R"(\bclient_?\s*\.\s*list\s*\(\s*)" + res), {"list"}},
      {std::regex(R"(\bclient_?\s*\.\s*watch\s*\(\s*)" + res), {"watch"}},
      {std::regex(R"(\bclient_?\s*\.\s*create\s*\(\s*)" + res), {"create"}},
      {std::regex(R"(\bclient_?\s*\.\s*update\s*\(\s*)" + res), {"update"}},
      {std::regex(R"(\bclient_?\s*\.\s*updateStatus\s*\(\s*)" + res), {"update/status"}},
      {std::regex(R"(\bclient_?\s*\.\s*patch\s*\(\s*)" + res), {"patch"}},
      {std::regex(R"(\bclient_?\s*\.\s*remove\s*\(\s*)" + res), {"delete"}},
      // Informers and typed stores list and watch (operator/runtime/informer.cc).
      {std::regex(R"(\b(?:informer|typedStore<[^>]*>)\s*\(\s*)" + res), {"list", "watch"}},
      // The finalizer helper patches (operator/runtime/finalizer.cc).
      {std::regex(R"(Finalizer(?:<[^>]*>)?\s*\(\s*client_?\s*,\s*)" + res), {"patch"}},
      // The Sweeper deletes what it sweeps: RoleBindings and whatever alsoSweep() adds.
      {std::regex(R"(swept_\.push_back\(\{\s*)" + res), {"delete"}},
      {std::regex(R"(alsoSweep\s*\(\s*)" + res), {"delete"}},
      // Executor::removeOurs reads (unless recorded) and deletes its ref.
      {std::regex(R"(removeOurs\s*\(\s*)" + res), {"get", "delete"}},
      {std::regex(R"(removeOurs\s*\(\s*[^;?]*\?\s*)" + res), {"get", "delete"}},
      {std::regex(R"(removeOurs\s*\(\s*[^;?]*\?\s*kube::resources::\w+\(\)\s*:\s*)" + res),
       {"get", "delete"}},
  };
  // A local `ref` (`const auto ref = ...;`) stands for every resource its initialiser names in
  // that file (bindingResource(ns) is RoleBindings or ClusterRoleBindings): the calls through
  // `ref`, and removeOurs(ref, ...) (get, delete), are attributed to all of them. A `ref` that
  // is a parameter (removeOurs itself, the Sweeper's swept.ref) is covered at its call sites.
  const std::regex refAssigned(R"(\b(?:const\s+)?auto\s+ref\s*=\s*([^;]*);)");
  const std::regex resourceIn(R"(kube::resources::(\w+)\(\))");
  const std::regex viaRef(R"(\bclient_\s*\.\s*(get|create|remove)\s*\(\s*(ref|bindingResource)\b)");
  const std::regex removeOursRef(R"(\bremoveOurs\s*\(\s*ref\b)");
  const std::regex anyCall(
      R"(\bclient_?\s*\.\s*(get|list|watch|create|update|updateStatus|patch|remove)\s*\(\s*([^,)]*))");
  // Generic machinery whose ResourceRef comes from the calls above.
  const std::set<std::string> generic = {"operator/runtime/informer.cc",
                                         "operator/runtime/finalizer.cc"};

  for (const char* dir :
       {"operator/runtime", "operator/manager", "operator/seal", "controllers", "webhooks"}) {
    for (const auto& e : fs::recursive_directory_iterator(kSource + "/" + dir)) {
      const auto ext = e.path().extension();
      if ((ext != ".cc" && ext != ".h") || e.path().string().find("/testing/") != std::string::npos)
        continue;
      const std::string rel = fs::relative(e.path(), kSource).string();
      const std::string text = slurp(e.path());
      for (const auto& p : patterns) {
        for (std::sregex_iterator it(text.begin(), text.end(), p.re), end; it != end; ++it) {
          auto ref = resourceNamed((*it)[1]);
          for (const auto& v : p.verbs) {
            if (v == "update/status")
              out.insert(permission(ref, "update", "status"));
            else
              out.insert(permission(ref, v));
          }
        }
      }
      std::vector<kube::ResourceRef> refs;
      for (std::sregex_iterator it(text.begin(), text.end(), refAssigned), end; it != end; ++it) {
        const std::string init = (*it)[1];
        for (std::sregex_iterator r(init.begin(), init.end(), resourceIn); r != end; ++r)
          refs.push_back(resourceNamed((*r)[1]));
        if (init.find("bindingResource(") != std::string::npos) {
          refs.push_back(kube::resources::roleBindings());
          refs.push_back(kube::resources::clusterRoleBindings());
        }
      }
      for (std::sregex_iterator it(text.begin(), text.end(), viaRef), end; it != end; ++it) {
        std::string verb = (*it)[1] == "remove" ? "delete" : std::string((*it)[1]);
        if ((*it)[2] == "bindingResource") {
          out.insert(permission(kube::resources::roleBindings(), verb));
          out.insert(permission(kube::resources::clusterRoleBindings(), verb));
        }
        for (const auto& ref : refs) out.insert(permission(ref, verb));
      }
      if (std::regex_search(text, removeOursRef)) {
        for (const auto& ref : refs) {
          out.insert(permission(ref, "get"));
          out.insert(permission(ref, "delete"));
        }
      }
      if (text.find("removeOurs(bindingResource(") != std::string::npos) {
        for (const char* v : {"get", "delete"}) {
          out.insert(permission(kube::resources::roleBindings(), v));
          out.insert(permission(kube::resources::clusterRoleBindings(), v));
        }
      }
      for (std::sregex_iterator it(text.begin(), text.end(), anyCall), end; it != end; ++it) {
        const std::string arg = (*it)[2];
        const bool known = arg.starts_with("kube::resources::") || generic.count(rel) ||
                           arg == "ref" || arg == "swept.ref" ||
                           arg.starts_with("bindingResource(");
        EXPECT_TRUE(known) << rel << ": client call `" << it->str()
                           << "` names its resource in a way this test cannot follow";
      }
    }
  }
  return out;
}

TEST(Chart, OperatorRbacIsExactlyTheApiCallsItsCodeMakes) {
  auto r = render();
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto docs = documents(r.out);
  Permissions chart, clusterWide;
  std::set<std::string> bindable;
  auto collect = [&](const YAML::Node& role, bool cluster) {
    ASSERT_TRUE(role);
    for (const auto& rule : role["rules"]) {
      for (const auto& g : rule["apiGroups"]) {
        for (const auto& res : rule["resources"]) {
          for (const auto& v : rule["verbs"]) {
            const std::string verb = v.as<std::string>();
            EXPECT_NE(verb, "*");
            if (verb == "bind") {
              for (const auto& n : rule["resourceNames"])
                bindable.insert(res.as<std::string>() + "/" + n.as<std::string>());
              continue;
            }
            std::string p = g.as<std::string>() + "/" + res.as<std::string>() + ":" + verb;
            chart.insert(p);
            if (cluster) clusterWide.insert(p);
          }
        }
      }
    }
  };
  collect(named(docs, "ClusterRole", "kubegrant-operator"), true);
  collect(named(docs, "Role", "kubegrant-operator-leader-election"), false);
  collect(named(docs, "Role", "kubegrant-operator-seal-keys"), false);
  // The self-managed webhook certificate (the default mode): its Secret by name.
  collect(named(docs, "Role", "kubegrant-operator-webhook-certificate"), false);

  const Permissions code = permissionsTheCodeUses();
  for (const auto& p : code)
    EXPECT_TRUE(chart.count(p)) << "the code uses " << p << ", RBAC lacks it";
  for (const auto& p : chart) {
    EXPECT_TRUE(code.count(p)) << "RBAC grants " << p << ", which the operator never uses";
  }
  // Namespaced state stays namespaced: the Lease and the seal keys Secret by name.
  EXPECT_FALSE(clusterWide.count("coordination.k8s.io/leases:update"));
  EXPECT_FALSE(clusterWide.count("/secrets:list")) << "every Secret in the cluster";
  auto seal = named(docs, "Role", "kubegrant-operator-seal-keys");
  EXPECT_EQ(seal["rules"][0]["resourceNames"][0].as<std::string>(), "kubegrant-seal-keys");
  EXPECT_FALSE(clusterWide.count("/secrets:update")) << "only the webhook certificate's Secret";
  auto cert = named(docs, "Role", "kubegrant-operator-webhook-certificate");
  for (const auto& rule : cert["rules"]) {
    EXPECT_EQ(rule["resourceNames"][0].as<std::string>(), "kubegrant-webhook-tls");
  }
  // caBundle of kubegrant's two webhook configurations, by name, and nothing else of them.
  for (const auto& rule : named(docs, "ClusterRole", "kubegrant-operator")["rules"]) {
    if (rule["apiGroups"][0].as<std::string>() != "admissionregistration.k8s.io") continue;
    ASSERT_EQ(rule["resourceNames"].size(), 1u);
    EXPECT_EQ(rule["resourceNames"][0].as<std::string>(), "kubegrant");
  }
  EXPECT_EQ(bindable, (std::set<std::string>{"clusterroles/view", "clusterroles/node-viewer",
                                             "roles/pod-debugger"}));
  // Bound to the one identity, never a group.
  for (const char* kind : {"ClusterRoleBinding", "RoleBinding"}) {
    for (const auto& b : ofKind(docs, kind)) {
      ASSERT_EQ(b["subjects"].size(), 1u);
      EXPECT_EQ(b["subjects"][0]["kind"].as<std::string>(), "ServiceAccount");
      EXPECT_EQ(b["subjects"][0]["name"].as<std::string>(), "kubegrant-operator");
    }
  }
}

// The configuration file the chart mounts is one kubegrant-operator accepts (--config is read
// before --help is acted on, so a bad key or value exits 2).
TEST(Chart, TheOperatorAcceptsTheConfigFileTheChartGivesIt) {
  for (std::vector<std::string> set : std::vector<std::vector<std::string>>{
           {},
           {"--set",
            "replicaCount=1,leaderElection.enabled=false,operator.adminGroups={ops,sec}"}}) {
    auto r = render(set);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    auto cm = named(documents(r.out), "ConfigMap", "kubegrant-config");
    ASSERT_TRUE(cm);
    const std::string path =
        ::testing::TempDir() + "/kg-chart-config-" + std::to_string(::getpid()) + ".yaml";
    std::ofstream(path) << cm["data"]["config.yaml"].as<std::string>();
    auto run = runCommand({KUBEGRANT_OPERATOR_BIN, "--config", path, "--help"});
    EXPECT_EQ(run.exitCode, 0) << run.err;
    fs::remove(path);
  }
}

}  // namespace
}  // namespace kubegrant::chart
