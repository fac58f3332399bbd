// The CRD manifests and examples against the real API server: they install, the examples
// are accepted, invalid objects are rejected by the schema with messages naming the field,
// and kubectl explain / get show what users rely on.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "crds/v1alpha1/policy.h"
#include "crds/v1alpha1/types.h"
#include "tests/support/test_env.h"

namespace kubegrant::v1alpha1 {
namespace {

using ::kubegrant::testing::CommandResult;
using ::kubegrant::testing::kubectl;
using ::kubegrant::testing::TestEnv;
using ::kubegrant::testing::uniqueName;
using nlohmann::json;
using ::testing::HasSubstr;

const std::filesystem::path kRoot = KUBEGRANT_SOURCE_DIR;

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

std::string show(const CommandResult& r) {
  return "exit " + std::to_string(r.exitCode) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

// Retries a kubectl call while discovery catches up with freshly established CRDs.
CommandResult kubectlEventually(const TestEnv& env, std::vector<std::string> args,
                                std::string_view input = {}) {
  CommandResult r;
  for (int attempt = 0; attempt < 40; ++attempt) {
    r = kubectl(env, "admin", args, input);
    bool discoveryLag =
        r.err.find("the server doesn't have a resource type") != std::string::npos ||
        r.err.find("couldn't find resource") != std::string::npos ||
        r.err.find("no matches for kind") != std::string::npos;
    if (r.exitCode == 0 || !discoveryLag) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return r;
}

const std::vector<std::string> kCrdNames = {
    "accesspolicies.kubegrant.io", "databasetargets.kubegrant.io", "accessrequests.kubegrant.io"};

// Installs the CRDs (idempotent: other tests share the control plane) and waits until they
// are served.
::testing::AssertionResult installCrds(const TestEnv& env) {
  auto r = kubectl(env, "admin",
                   {"apply", "--server-side", "--force-conflicts", "--field-manager=kubegrant-crds",
                    "-f", (kRoot / "crds").string()});
  if (r.exitCode != 0) return ::testing::AssertionFailure() << "apply: " << show(r);
  std::vector<std::string> wait = {"wait", "--for=condition=Established", "--timeout=60s"};
  for (const auto& n : kCrdNames) wait.push_back("crd/" + n);
  r = kubectl(env, "admin", wait);
  if (r.exitCode != 0) return ::testing::AssertionFailure() << "wait: " << show(r);
  r = kubectlEventually(env, {"get", "areq,apol,dbt", "-A"});
  if (r.exitCode != 0) return ::testing::AssertionFailure() << "discovery: " << show(r);
  return ::testing::AssertionSuccess();
}

class Crds : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = ::kubegrant::testing::requireEnv();
    ASSERT_TRUE(env_.has_value()) << "the control plane environment is required";
    ASSERT_TRUE(installCrds(*env_));
  }
  void TearDown() override {
    if (!env_) return;
    for (const auto& [kind, name] : clusterObjects_) {
      kubectl(*env_, "admin", {"delete", kind, name, "--ignore-not-found", "--wait=false"});
    }
    if (!namespace_.empty()) {
      kubectl(*env_, "admin",
              {"delete", "accessrequests,roles", "--all", "-n", namespace_, "--wait=false"});
      // No namespace controller runs here: the namespace may stay Terminating, harmlessly.
      kubectl(*env_, "admin", {"delete", "namespace", namespace_, "--wait=false"});
    }
  }

  // A fresh namespace for this test.
  const std::string& testNamespace() {
    if (namespace_.empty()) {
      namespace_ = uniqueName("kg-crds");
      auto r = kubectl(*env_, "admin", {"create", "namespace", namespace_});
      EXPECT_EQ(r.exitCode, 0) << show(r);
    }
    return namespace_;
  }

  // An example file with its namespace (payments) moved to the test's own namespace.
  std::string example(const std::string& file) {
    std::string text = readFile(kRoot / "examples" / file);
    EXPECT_FALSE(text.empty()) << file;
    return replaceAll(text, "namespace: payments", "namespace: " + testNamespace());
  }

  CommandResult apply(const std::string& manifest, bool dryRun = false) {
    std::vector<std::string> args = {"apply", "-f", "-", "-o", "json"};
    if (dryRun) args.push_back("--dry-run=server");
    return kubectlEventually(*env_, args, manifest);
  }

  // A request in the test namespace created as admin (no webhook in this test: requester is
  // set by hand, as the webhook would).
  std::string createRequest() {
    std::string name = uniqueName("areq");
    std::string manifest =
        replaceAll(example("request-debug-orders.yaml"), "name: debug-orders", "name: " + name);
    manifest += "  requester:\n    username: alice\n    groups: [payments-devs]\n";
    auto r = apply(manifest);
    EXPECT_EQ(r.exitCode, 0) << show(r);
    return name;
  }

  CommandResult patch(const std::string& name, const std::string& type, const std::string& body,
                      bool status) {
    std::vector<std::string> args = {"patch",  "areq", name, "-n", testNamespace(),
                                     "--type", type,   "-p", body};
    if (status) args.push_back("--subresource=status");
    return kubectl(*env_, "admin", args);
  }

  std::optional<TestEnv> env_;
  std::string namespace_;
  std::vector<std::pair<std::string, std::string>> clusterObjects_;
};

TEST_F(Crds, InstallServerSideAndBecomeEstablishedWithTheContractNames) {
  struct Want {
    std::string crd, kind, scope, shortName;
  };
  for (const auto& w :
       std::vector<Want>{{"accesspolicies.kubegrant.io", "AccessPolicy", "Cluster", "apol"},
                         {"databasetargets.kubegrant.io", "DatabaseTarget", "Cluster", "dbt"},
                         {"accessrequests.kubegrant.io", "AccessRequest", "Namespaced", "areq"}}) {
    auto r = kubectl(*env_, "admin", {"get", "crd", w.crd, "-o", "json"});
    ASSERT_EQ(r.exitCode, 0) << show(r);
    json crd = json::parse(r.out);
    EXPECT_EQ(crd["spec"]["group"], "kubegrant.io");
    EXPECT_EQ(crd["spec"]["names"]["kind"], w.kind);
    EXPECT_EQ(crd["spec"]["scope"], w.scope);
    EXPECT_EQ(crd["spec"]["names"]["shortNames"], json::array({w.shortName}));
    EXPECT_EQ(crd["spec"]["names"]["categories"], json::array({"kubegrant"}));
    const json& v = crd["spec"]["versions"][0];
    EXPECT_EQ(v["name"], "v1alpha1");
    EXPECT_TRUE(v["subresources"].contains("status")) << w.crd;
    bool established = false;
    for (const auto& c : crd["status"]["conditions"]) {
      if (c["type"] == "Established" && c["status"] == "True") established = true;
    }
    EXPECT_TRUE(established) << w.crd;
  }
}

TEST_F(Crds, EveryExampleIsAccepted) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(kRoot / "examples")) {
    if (e.path().extension() == ".yaml") files.push_back(e.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 5u);
  for (const auto& f : files) {
    std::string manifest = example(f);
    const bool clusterScoped = manifest.find("\n  namespace:") == std::string::npos;
    if (f == "namespace.yaml") {
      manifest = replaceAll(manifest, "name: payments", "name: " + uniqueName("kg-ns"));
    }
    // Cluster-scoped examples are checked with a server-side dry run (they would collide with
    // other tests' objects); namespaced ones are really created in the test namespace.
    auto r = apply(manifest, /*dryRun=*/clusterScoped);
    ASSERT_EQ(r.exitCode, 0) << f << "\n" << show(r);
    json obj = json::parse(r.out);
    // The C++ types decode what the server stored (defaults applied) and agree it is sane.
    if (obj["kind"] == "AccessPolicy") {
      auto p = fromJson<AccessPolicy>(obj);
      ASSERT_TRUE(p.has_value()) << p.error().message;
      EXPECT_EQ(validatePolicy(*p), std::vector<Violation>{}) << describe(validatePolicy(*p));
    } else if (obj["kind"] == "DatabaseTarget") {
      auto t = fromJson<DatabaseTarget>(obj);
      ASSERT_TRUE(t.has_value()) << t.error().message;
      EXPECT_EQ(validateDatabaseTarget(*t), std::vector<Violation>{});
      EXPECT_EQ(t->spec.sslMode, "verify-full");
      EXPECT_TRUE(t->spec.caSecretRef.has_value());
      EXPECT_TRUE(t->spec.auditStatements);
    } else if (obj["kind"] == "AccessRequest") {
      auto q = fromJson<AccessRequest>(obj);
      ASSERT_TRUE(q.has_value()) << q.error().message;
      EXPECT_EQ(q->spec.policy, "payments-oncall");
      EXPECT_FALSE(q->spec.revoke) << "schema default";
      EXPECT_FALSE(q->spec.requester.has_value()) << "the webhook stamps it, not the example";
      EXPECT_EQ(toJson(*q)["spec"], obj["spec"]) << "server defaults = C++ defaults";
    }
  }
}

struct Rejection {
  std::string name;
  std::string example;                             // file in examples/
  std::function<std::string(std::string)> mutate;  // from the valid example
  std::vector<std::string> mustSay;                // substrings of the API server's error
};
// Readable in test names' listings and failure messages (instead of raw bytes).
void PrintTo(const Rejection& c, std::ostream* os) { *os << c.name << " (" << c.example << ")"; }

class CrdsReject : public Crds, public ::testing::WithParamInterface<Rejection> {};

TEST_P(CrdsReject, InvalidObjectWithAMessageNamingTheField) {
  const auto& c = GetParam();
  std::string valid = example(c.example);
  // The unmodified example passes, so the rejection below is due to the mutation alone.
  auto ok = apply(valid, /*dryRun=*/true);
  ASSERT_EQ(ok.exitCode, 0) << show(ok);
  std::string bad = c.mutate(valid);
  ASSERT_NE(bad, valid) << "mutation did not apply";
  auto r = apply(bad, /*dryRun=*/true);
  ASSERT_NE(r.exitCode, 0) << "accepted:\n" << bad;
  for (const auto& s : c.mustSay) EXPECT_THAT(r.err, HasSubstr(s));
}

std::function<std::string(std::string)> sub(std::string from, std::string to) {
  return [from, to](std::string s) { return replaceAll(s, from, to); };
}

INSTANTIATE_TEST_SUITE_P(
    Table, CrdsReject,
    ::testing::Values(
        Rejection{"PolicyMaxDurationInWords",
                  "policy-payments-oncall.yaml",
                  sub("maxDuration: 4h", "maxDuration: 2 hours"),
                  {"spec.maxDuration", "2 hours"}},
        Rejection{"PolicyDefaultDurationInDays",
                  "policy-payments-oncall.yaml",
                  sub("defaultDuration: 1h", "defaultDuration: 1d"),
                  {"spec.defaultDuration"}},
        Rejection{"PolicyZeroRetainFor",
                  "policy-payments-oncall.yaml",
                  sub("retainFor: 720h", "retainFor: 0s"),
                  {"spec.retainFor", "must be greater than zero"}},
        Rejection{"PolicyNegativeRequired",
                  "policy-payments-oncall.yaml",
                  sub("required: 1 ", "required: -1 "),
                  {"spec.approval.required", "greater than or equal to 0"}},
        Rejection{"PolicyMaxBelowDefault",
                  "policy-payments-oncall.yaml",
                  sub("maxDuration: 4h", "maxDuration: 30m"),
                  {"spec.maxDuration", "maxDuration 30m must be >= defaultDuration 1h"}},
        Rejection{"PolicyApprovalsWithoutApprovers",
                  "policy-payments-oncall.yaml",
                  sub("groups: [payments-leads]", "groups: []"),
                  {"spec.approval.approvers", "at least one user or group"}},
        Rejection{"PolicyRoleOfUnknownKind",
                  "policy-payments-oncall.yaml",
                  sub("kind: ClusterRole", "kind: Group"),
                  {"spec.roles[0].kind", "Unsupported value: \"Group\""}},
        Rejection{"PolicyWithoutApproval",
                  "policy-payments-oncall.yaml",
                  [](std::string s) { return s.substr(0, s.find("  approval:")); },
                  {"spec.approval", "Required value"}},
        Rejection{"TargetEngineMysql",
                  "databasetarget-orders-db.yaml",
                  sub("engine: postgres", "engine: mysql"),
                  {"spec.engine", "Unsupported value: \"mysql\""}},
        Rejection{"TargetPortOutOfRange",
                  "databasetarget-orders-db.yaml",
                  sub("port: 5432", "port: 70000"),
                  {"spec.port", "65535"}},
        Rejection{"TargetUnknownPrivilege",
                  "databasetarget-orders-db.yaml",
                  sub("privileges: [SELECT]", "privileges: [SELECT, DROP]"),
                  {"spec.profiles[0].grants[0].privileges[1]", "DROP"}},
        Rejection{"TargetDuplicateProfile",
                  "databasetarget-orders-db.yaml",
                  [](std::string s) {
                    return s +
                           "    - name: readonly\n      grants:\n        - schema: public\n"
                           "          tables: [orders]\n          privileges: [SELECT]\n";
                  },
                  {"spec.profiles[2]", "Duplicate value"}},
        Rejection{"TargetUnknownMaskFunction",
                  "databasetarget-orders-db.yaml",
                  sub("phone: partial", "phone: rot13"),
                  {"spec.profiles[1].grants[0].maskColumns.customers.phone",
                   "Unsupported value: \"rot13\""}},
        Rejection{"TargetMaskWithWritePrivileges",
                  "databasetarget-orders-db.yaml",
                  sub("tables: [customers, orders]\n          privileges: [SELECT]",
                      "tables: [customers, orders]\n          privileges: [SELECT, UPDATE]"),
                  {"spec.profiles[1].grants[0].maskColumns",
                   "maskColumns needs privileges [SELECT] only"}},
        Rejection{"RequestDurationInWords",
                  "request-debug-orders.yaml",
                  sub("duration: 30m", "duration: 2 hours"),
                  {"spec.duration", "2 hours"}},
        Rejection{"RequestZeroDuration",
                  "request-debug-orders.yaml",
                  sub("duration: 30m", "duration: 0m"),
                  {"spec.duration", "must be greater than zero"}},
        Rejection{"RequestRoleOfUnknownKind",
                  "request-debug-orders.yaml",
                  sub("kind: Role\n", "kind: Group\n"),
                  {"spec.roles[1].kind"}},
        Rejection{"RequestWithoutPolicy",
                  "request-debug-orders.yaml",
                  sub("  policy: payments-oncall\n", ""),
                  {"spec.policy", "Required value"}},
        Rejection{"RequestStartAtNotATime",
                  "request-debug-orders.yaml",
                  sub("  duration: 30m\n", "  duration: 30m\n  startAt: tomorrow\n"),
                  {"spec.startAt"}}),
    [](const auto& info) { return info.param.name; });

TEST_F(Crds, StatusPhaseMustBeAKnownPhaseThroughTheStatusSubresource) {
  std::string name = createRequest();
  auto r = patch(name, "merge", R"({"status":{"phase":"Sleeping"}})", /*status=*/true);
  ASSERT_NE(r.exitCode, 0) << show(r);
  EXPECT_THAT(r.err, HasSubstr("status.phase"));
  EXPECT_THAT(r.err, HasSubstr("Sleeping"));
  r = patch(name, "merge", R"({"status":{"phase":"Pending","approvals":[]}})", true);
  ASSERT_EQ(r.exitCode, 0) << show(r);
}

TEST_F(Crds, ApproversCanAppendDecisionsOnceApprovalsExist) {
  std::string name = createRequest();
  // What the operator does when it first sees a request, so the JSON-patch path exists.
  auto r = patch(name, "merge", R"({"status":{"phase":"Pending","approvals":[]}})", true);
  ASSERT_EQ(r.exitCode, 0) << show(r);
  r = patch(
      name, "json",
      R"([{"op":"add","path":"/status/approvals/-","value":{"decision":"Approve","comment":"ok"}}])",
      true);
  ASSERT_EQ(r.exitCode, 0) << show(r);
  r = patch(name, "json",
            R"([{"op":"add","path":"/status/approvals/-","value":{"decision":"Maybe"}}])", true);
  ASSERT_NE(r.exitCode, 0) << show(r);
  EXPECT_THAT(r.err, HasSubstr("status.approvals[1].decision"));
  r = kubectl(*env_, "admin", {"get", "areq", name, "-n", testNamespace(), "-o", "json"});
  ASSERT_EQ(r.exitCode, 0) << show(r);
  auto q = fromJsonText<AccessRequest>(r.out);
  ASSERT_TRUE(q.has_value()) << q.error().message;
  ASSERT_TRUE(q->status.has_value());
  ASSERT_EQ(q->status->approvals.size(), 1u);
  EXPECT_EQ(q->status->approvals[0].decision, Decision::Approve);
  EXPECT_FALSE(q->status->approvals[0].approver.has_value()) << "approver is optional in schema";
}

TEST_F(Crds, RevokeGoesFromFalseToTrueButNeverBack) {
  std::string name = createRequest();
  auto r = patch(name, "merge", R"({"spec":{"revoke":true}})", false);
  ASSERT_EQ(r.exitCode, 0) << show(r);
  r = patch(name, "merge", R"({"spec":{"revoke":false}})", false);
  ASSERT_NE(r.exitCode, 0) << show(r);
  EXPECT_THAT(r.err, HasSubstr("spec.revoke"));
  EXPECT_THAT(r.err, HasSubstr("revoke cannot be set back to false"));
}

TEST_F(Crds, ExplainTeachesTheFields) {
  auto r = kubectlEventually(*env_, {"explain", "accessrequest.spec.roles"});
  ASSERT_EQ(r.exitCode, 0) << show(r);
  EXPECT_THAT(r.out, HasSubstr("Kubernetes roles to be granted"));
  EXPECT_THAT(r.out, HasSubstr("namespaces"));
  EXPECT_THAT(r.out, HasSubstr("Default: the request's own namespace"));
  r = kubectlEventually(*env_, {"explain", "accesspolicy.spec.approval.required"});
  ASSERT_EQ(r.exitCode, 0) << show(r);
  EXPECT_THAT(r.out, HasSubstr("0 means no approval is needed"));
  r = kubectlEventually(*env_, {"explain", "databasetarget.spec.profiles.grants.excludeColumns"});
  ASSERT_EQ(r.exitCode, 0) << show(r);
  EXPECT_THAT(r.out, HasSubstr("never granted"));
  r = kubectlEventually(*env_, {"explain", "databasetarget.spec.profiles.grants.maskColumns"});
  ASSERT_EQ(r.exitCode, 0) << show(r);
  EXPECT_THAT(r.out, HasSubstr("security_barrier"));
  EXPECT_THAT(r.out, HasSubstr("a column cannot be both excluded and masked"));
}

// Every field of every CRD schema has a description, so kubectl explain teaches all of them.
TEST_F(Crds, EverySchemaFieldHasADescription) {
  for (const auto& crdName : kCrdNames) {
    auto r = kubectl(*env_, "admin", {"get", "crd", crdName, "-o", "json"});
    ASSERT_EQ(r.exitCode, 0) << show(r);
    json schema = json::parse(r.out)["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    std::vector<std::string> missing;
    std::function<void(const json&, const std::string&)> walk = [&](const json& s,
                                                                    const std::string& path) {
      if (path != "" && path != ".metadata" && !s.contains("description")) missing.push_back(path);
      if (s.contains("properties")) {
        for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) {
          walk(it.value(), path + "." + it.key());
        }
      }
      if (s.contains("items")) walk(s["items"], path + "[]");
      if (s.contains("additionalProperties") && s["additionalProperties"].is_object()) {
        walk(s["additionalProperties"], path + ".*");
      }
    };
    walk(schema, "");
    // Array items and map values are described by their list/map field.
    std::erase_if(missing,
                  [](const std::string& p) { return p.ends_with("[]") || p.ends_with(".*"); });
    EXPECT_EQ(missing, std::vector<std::string>{}) << crdName;
  }
}

TEST_F(Crds, GetAccessRequestsShowsRequesterPolicyPhaseExpiresAge) {
  std::string name = createRequest();
  auto r = patch(
      name, "merge",
      R"({"status":{"phase":"Active","approvals":[],"expiresAt":"2026-11-29T12:02:13Z"}})", true);
  ASSERT_EQ(r.exitCode, 0) << show(r);
  r = kubectl(*env_, "admin", {"get", "areq", "-n", testNamespace()});
  ASSERT_EQ(r.exitCode, 0) << show(r);
  std::istringstream lines(r.out);
  std::string header, row;
  std::getline(lines, header);
  std::getline(lines, row);
  std::istringstream h(header), v(row);
  std::vector<std::string> columns, values;
  for (std::string w; h >> w;) columns.push_back(w);
  for (std::string w; v >> w;) values.push_back(w);
  EXPECT_EQ(columns,
            (std::vector<std::string>{"NAME", "REQUESTER", "POLICY", "PHASE", "EXPIRES", "AGE"}));
  ASSERT_EQ(values.size(), 6u) << r.out;
  EXPECT_EQ(values[0], name);
  EXPECT_EQ(values[1], "alice");
  EXPECT_EQ(values[2], "payments-oncall");
  EXPECT_EQ(values[3], "Active");
  EXPECT_EQ(values[4], "2026-11-29T12:02:13Z");
  // The category finds it too.
  r = kubectl(*env_, "admin", {"get", "kubegrant", "-n", testNamespace(), "-o", "name"});
  ASSERT_EQ(r.exitCode, 0) << show(r);
  EXPECT_THAT(r.out, HasSubstr("accessrequest.kubegrant.io/" + name));
}

TEST_F(Crds, GetPoliciesAndTargetsShowUsefulColumns) {
  std::string policy = uniqueName("apol");
  std::string target = uniqueName("dbt");
  clusterObjects_.push_back({"accesspolicy", policy});
  clusterObjects_.push_back({"databasetarget", target});
  auto r = apply(replaceAll(example("policy-payments-oncall.yaml"), "name: payments-oncall",
                            "name: " + policy));
  ASSERT_EQ(r.exitCode, 0) << show(r);
  r = apply(
      replaceAll(example("databasetarget-orders-db.yaml"), "name: orders-db", "name: " + target));
  ASSERT_EQ(r.exitCode, 0) << show(r);
  r = kubectl(*env_, "admin", {"get", "apol", policy});
  ASSERT_EQ(r.exitCode, 0) << show(r);
  EXPECT_THAT(r.out, HasSubstr("DEFAULT"));
  EXPECT_THAT(r.out, HasSubstr("MAX"));
  EXPECT_THAT(r.out, HasSubstr("APPROVALS"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex(policy + " +1h +4h +1 +true"));
  r = kubectl(*env_, "admin", {"get", "dbt", target});
  ASSERT_EQ(r.exitCode, 0) << show(r);
  EXPECT_THAT(r.out, ::testing::ContainsRegex("ENGINE +HOST +PORT +DATABASE"));
  EXPECT_THAT(
      r.out, ::testing::ContainsRegex(target + " +postgres +orders-db.payments.svc +5432 +orders"));
}

}  // namespace
}  // namespace kubegrant::v1alpha1
