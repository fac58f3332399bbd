// The AccessRequest lifecycle as users live it: the real kubegrant-operator binary (controller
// and admission webhook in one process) runs as a child process with the operator's own
// kubeconfig; alice, bob, carol and the admin act through kubectl with theirs. Every test
// uses its own namespace and AccessPolicy, so tests can share one control plane.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "operator/common/time.h"
#include "tests/support/operator_harness.h"
#include "tests/support/test_env.h"

namespace kubegrant::e2e {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::kubectl;
using testing::readFile;
using testing::TestEnv;
using testing::uniqueName;
using testing::waitFor;
using namespace std::chrono_literals;

const std::string kApprove =
    R"([{"op":"add","path":"/status/approvals/-","value":{"decision":"Approve","comment":"ok"}}])";
const std::string kDeny =
    R"([{"op":"add","path":"/status/approvals/-","value":{"decision":"Deny","comment":"no"}}])";

// Installs kubegrant into the shared control plane and runs the operator (OperatorHarness);
// every test gets a fresh namespace and policy.
class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = testing::requireEnv();
    ASSERT_TRUE(e) << "run tests/controlplane/up.sh DIR and source DIR/env";
    env_ = *e;
    ASSERT_NO_FATAL_FAILURE(harness_.setUp(env_, "kubegrant-e2e-lifecycle"));
    auditPath_ = harness_.logPath();
    ns_ = uniqueName("lc");
    policy_ = ns_ + "-policy";
    mustAdmin({"create", "namespace", ns_});
  }

  void TearDown() override {
    harness_.unregisterWebhooks();
    if (!ns_.empty()) {
      // Requests first (the operator removes their finalizers), then the rest.
      kubectl(env_, "admin",
              {"delete", "accessrequests", "--all", "-n", ns_, "--wait=true", "--timeout=20s"});
    }
    int rc = harness_.stopOperator(SIGTERM);
    EXPECT_EQ(rc, 0) << "the operator must exit 0 on SIGTERM";
    if (!ns_.empty()) {
      kubectl(env_, "admin", {"delete", "accesspolicy", policy_, "--ignore-not-found"});
      kubectl(env_, "admin", {"delete", "namespace", ns_, "--wait=false"});
    }
    if (HasFailure()) {
      std::cerr << "---- operator log (" << auditPath_ << ") ----\n"
                << readFile(auditPath_).substr(0, 20000) << "\n";
    } else if (!harness_.dir().empty()) {
      std::filesystem::remove_all(harness_.dir());
    }
  }

  void mustAdmin(std::vector<std::string> args, std::string_view input = {}) {
    auto r = kubectl(env_, "admin", args, input);
    ASSERT_EQ(r.exitCode, 0) << fmt::format("kubectl {}: {}", fmt::join(args, " "), r.err);
  }

  // A policy in the test's namespace, as the platform team would write it.
  void createPolicy(const std::string& extraSpec = "", int required = 1,
                    const std::string& roles = "[{kind: ClusterRole, name: view}]") {
    std::string yaml = fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessPolicy
metadata:
  name: {}
spec:
  requesters: {{groups: [payments-devs]}}
  namespaces: [{}]
  roles: {}
  defaultDuration: 1m
  maxDuration: 1h
  approval:
    approvers: {{groups: [payments-leads]}}
    required: {}
{})",
                                   policy_, ns_, roles, required, extraSpec);
    mustAdmin({"apply", "-f", "-"}, yaml);
  }

  // alice applies a request for ClusterRole view (or `role`) in the test namespace.
  void request(const std::string& name, const std::string& duration,
               const std::string& extraSpec = "",
               const std::string& role = "{kind: ClusterRole, name: view}") {
    std::string yaml = fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessRequest
metadata:
  name: {}
  namespace: {}
spec:
  policy: {}
  duration: {}
  reason: "e2e: orders stuck"
  roles: [{}]
{})",
                                   name, ns_, policy_, duration, role, extraSpec);
    auto r = kubectl(env_, "alice", {"apply", "-f", "-"}, yaml);
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }

  // alice's request `adhoc` with `specLines` (YAML under spec:), as a server-side dry run
  // that must be refused; returns the refusal.
  std::string refusedDryRun(const std::string& specLines) {
    std::string yaml = fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessRequest
metadata: {{name: adhoc, namespace: {}}}
spec:
  policy: {}
  reason: "e2e"
{})",
                                   ns_, policy_, specLines);
    auto r = kubectl(env_, "alice", {"apply", "--dry-run=server", "-f", "-"}, yaml);
    EXPECT_NE(r.exitCode, 0) << "admitted: " << specLines;
    return r.err;
  }

  CommandResult patchStatus(const std::string& user, const std::string& name,
                            const std::string& patch) {
    return kubectl(
        env_, user,
        {"patch", "areq", name, "-n", ns_, "--subresource=status", "--type=json", "-p", patch});
  }

  json get(const std::string& name) { return getAccessRequest(env_, ns_, name); }
  std::string phase(const std::string& name) { return accessRequestPhase(env_, ns_, name); }
  bool waitPhase(const std::string& name, const std::string& want,
                 std::chrono::milliseconds timeout = 15s) {
    return waitFor([&] { return phase(name) == want; }, timeout, 50ms);
  }

  // alice requests `name` under the policy, bob approves it, and it is Active.
  void activeAfterBobApproves(const std::string& name, const std::string& duration) {
    request(name, duration);
    ASSERT_TRUE(waitPhase(name, "Pending"));
    ASSERT_EQ(patchStatus("bob", name, kApprove).exitCode, 0);
    ASSERT_TRUE(waitPhase(name, "Active"));
  }

  // alice's real call: kubectl get pods in the namespace.
  bool aliceCanListPods() {
    auto r = kubectl(env_, "alice", {"get", "pods", "-n", ns_});
    if (r.exitCode != 0) {
      EXPECT_NE(r.err.find("Forbidden"), std::string::npos) << r.err;
      return false;
    }
    return true;
  }

  json roleBindings() {
    auto r = kubectl(env_, "admin",
                     {"get", "rolebindings", "-n", ns_, "-l",
                      "app.kubernetes.io/managed-by=kubegrant", "-o", "json"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return json::parse(r.out)["items"];
  }

  // Audit events for `name`, in order, from the operator's stdout.
  std::vector<std::string> auditEvents(const std::string& name) {
    return testing::auditEvents(auditPath_, ns_, name);
  }
  std::vector<json> auditRecords(const std::string& name) {
    std::vector<json> out;
    std::istringstream in(readFile(auditPath_));
    for (std::string line; std::getline(in, line);) {
      auto j = json::parse(line, nullptr, false);
      if (!j.is_object() || j.value("kind", "") != "kubegrant.audit") continue;
      if (j["request"]["name"] == name && j["request"]["namespace"] == ns_) out.push_back(j);
    }
    return out;
  }

  std::vector<std::string> eventReasons(const std::string& name) {
    auto r = kubectl(env_, "admin",
                     {"get", "events", "-n", ns_, "--field-selector", "involvedObject.name=" + name,
                      "--sort-by=.firstTimestamp", "-o", "json"});
    std::vector<std::string> out;
    EXPECT_EQ(r.exitCode, 0) << r.err;
    if (r.exitCode != 0) return out;
    const json list = json::parse(r.out);
    for (const auto& e : list["items"]) out.push_back(e["reason"]);
    return out;
  }

  // Runs `attack` with both webhook configurations deleted, then registers them again.
  void withoutWebhooks(const std::function<void()>& attack) {
    for (const char* kind : {"mutatingwebhookconfiguration", "validatingwebhookconfiguration"}) {
      mustAdmin({"delete", kind, harness_.webhookConfigName()});
    }
    // Out of the path once a create under a policy that does not exist is admitted.
    std::string probe = fmt::format(
        "apiVersion: kubegrant.io/v1alpha1\nkind: AccessRequest\nmetadata: {{name: probe, "
        "namespace: {}}}\nspec: {{policy: no-such-policy}}\n",
        ns_);
    auto admitted = [&] {
      return kubectl(env_, "alice", {"create", "--dry-run=server", "-f", "-"}, probe).exitCode == 0;
    };
    ASSERT_TRUE(waitFor(admitted, 30s)) << "the webhook stayed in the path";
    attack();
    ASSERT_NO_FATAL_FAILURE(harness_.registerWebhooks());
    ASSERT_TRUE(waitFor([&] { return !admitted(); }, 30s)) << "the webhook did not come back";
  }

  // The request ended as Failed naming `rule`, with nothing granted, a Warning Event and a
  // "failed" audit line carrying the same message.
  void expectNeutralised(const std::string& name, const std::string& rule,
                         const std::string& reason = "Tampering") {
    ASSERT_TRUE(waitPhase(name, "Failed")) << get(name).dump(2);
    auto j = get(name);
    std::string message = j["status"].value("message", "");
    EXPECT_NE(message.find(rule), std::string::npos) << message;
    EXPECT_TRUE(roleBindings().empty()) << roleBindings().dump(2);
    EXPECT_FALSE(aliceCanListPods());
    auto reasons = eventReasons(name);
    EXPECT_NE(std::find(reasons.begin(), reasons.end(), reason), reasons.end())
        << ::testing::PrintToString(reasons);
    bool audited = false;
    for (const auto& rec : auditRecords(name)) {
      audited = audited || (rec["event"] == "failed" &&
                            rec.value("message", "").find(rule) != std::string::npos);
    }
    EXPECT_TRUE(audited) << "no failed audit line naming: " << rule;
  }

  TestEnv env_;
  testing::OperatorHarness harness_{{KG_SOURCE_DIR, KG_OPERATOR_BIN, KG_CERTS_BIN}};
  std::string auditPath_, ns_, policy_;
};

TEST_F(LifecycleTest, ApprovedRequestGrantsAccessUntilExpiryThenRemovesIt) {
  createPolicy();
  ASSERT_FALSE(aliceCanListPods()) << "alice must not have access before any request";
  request("debug", "20s");
  ASSERT_TRUE(waitPhase("debug", "Pending"));
  auto pending = get("debug");
  EXPECT_EQ(pending["spec"]["requester"]["username"], "alice");
  EXPECT_NE(pending["status"]["message"].get<std::string>().find("payments-leads"),
            std::string::npos);
  EXPECT_FALSE(aliceCanListPods()) << "a Pending request grants nothing";

  // bob approves exactly as API.md tells approvers to.
  auto approved = patchStatus("bob", "debug", kApprove);
  ASSERT_EQ(approved.exitCode, 0) << approved.err;
  ASSERT_TRUE(waitPhase("debug", "Active"));
  EXPECT_TRUE(waitFor([&] { return aliceCanListPods(); }, 5s));

  auto active = get("debug");
  const auto& st = active["status"];
  auto activatedAt = *parseRfc3339(st["activatedAt"].get<std::string>());
  auto expiresAt = *parseRfc3339(st["expiresAt"].get<std::string>());
  EXPECT_EQ(expiresAt - activatedAt, 20s) << "expiresAt = activatedAt + duration";
  EXPECT_EQ(st["approvals"][0]["approver"], "bob");
  ASSERT_EQ(st["grants"].size(), 1u);
  auto rbs = roleBindings();
  ASSERT_EQ(rbs.size(), 1u);
  EXPECT_EQ(rbs[0]["metadata"]["name"], st["grants"][0]["name"]);
  ASSERT_EQ(rbs[0]["subjects"].size(), 1u) << "exactly one subject: the requester";
  EXPECT_EQ(rbs[0]["subjects"][0]["kind"], "User");
  EXPECT_EQ(rbs[0]["subjects"][0]["name"], "alice");
  EXPECT_EQ(rbs[0]["roleRef"]["name"], "view");
  EXPECT_EQ(rbs[0]["metadata"]["labels"]["kubegrant.io/request-uid"], active["metadata"]["uid"]);

  // Expiry: access ends at expiresAt (+ the 1 s precision budget), verified gone.
  auto untilExpiry = expiresAt - std::chrono::system_clock::now();
  ASSERT_TRUE(waitPhase("debug", "Expired",
                        std::chrono::duration_cast<std::chrono::milliseconds>(untilExpiry) + 5s));
  auto gone = std::chrono::system_clock::now();
  EXPECT_LE(gone - expiresAt, 3s);
  EXPECT_TRUE(roleBindings().empty()) << "the RoleBinding is gone";
  EXPECT_FALSE(aliceCanListPods()) << "Forbidden again after expiry";
  auto ended = get("debug");
  EXPECT_TRUE(ended["status"].contains("endedAt"));
  EXPECT_NE(ended["status"]["message"].get<std::string>().find("expired"), std::string::npos);

  // The audit log and the Events tell the story.
  EXPECT_EQ(auditEvents("debug"),
            (std::vector<std::string>{"requested", "approved", "granted", "expired"}));
  auto records = auditRecords("debug");
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[1]["approvers"], json::array({"bob"}));
  EXPECT_EQ(records[2]["requester"]["username"], "alice");
  EXPECT_EQ(records[2]["reason"], "e2e: orders stuck");
  EXPECT_EQ(records[3]["grants"][0]["name"], st["grants"][0]["name"]);
  // Events written in the same second have no defined order: compare as a set.
  std::vector<std::string> want{"Approved", "Expired", "Granted", "Requested"};
  std::vector<std::string> reasons;
  EXPECT_TRUE(waitFor(
      [&] {
        reasons = eventReasons("debug");
        std::sort(reasons.begin(), reasons.end());
        return reasons == want;
      },
      5s))
      << fmt::format("{}", fmt::join(reasons, ",")) << "\n"
      << kubectl(env_, "admin", {"get", "events", "-n", ns_, "-o", "wide"}).out;
}

// Cluster scope: a ClusterRole the policy lists in spec.clusterRoles, bound cluster-wide by a
// ClusterRoleBinding. alice's own kubeconfig makes the calls (no impersonation).
TEST_F(LifecycleTest, AClusterScopedGrantLetsAliceGetNodesUntilExpiry) {
  mustAdmin({"apply", "-f", std::string(KG_SOURCE_DIR) + "/examples/clusterrole-node-viewer.yaml"});
  createPolicy("  clusterRoles: [node-viewer]\n");
  const std::string nodeViewer = "{kind: ClusterRole, name: node-viewer, scope: Cluster}";
  auto aliceCanGetNodes = [&] {
    auto r = kubectl(env_, "alice", {"get", "nodes"});
    if (r.exitCode != 0) {
      EXPECT_NE(r.err.find("Forbidden"), std::string::npos) << r.err;
    }
    return r.exitCode == 0;
  };
  auto clusterBindingsOf = [&](const std::string& uid) {
    auto r = kubectl(
        env_, "admin",
        {"get", "clusterrolebindings", "-l", "kubegrant.io/request-uid=" + uid, "-o", "json"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return json::parse(r.out)["items"];
  };
  ASSERT_FALSE(aliceCanGetNodes()) << "alice must not read nodes before any request";

  request("nodes", "20s", "", nodeViewer);
  ASSERT_TRUE(waitPhase("nodes", "Pending"));
  EXPECT_FALSE(aliceCanGetNodes()) << "a Pending request grants nothing";
  const std::string uid = get("nodes")["metadata"]["uid"];
  EXPECT_TRUE(clusterBindingsOf(uid).empty());
  // bob's approval is needed.
  ASSERT_EQ(patchStatus("bob", "nodes", kApprove).exitCode, 0);
  ASSERT_TRUE(waitPhase("nodes", "Active")) << get("nodes").dump(2);
  EXPECT_TRUE(waitFor(aliceCanGetNodes, 5s));
  EXPECT_FALSE(aliceCanListPods()) << "node-viewer grants nodes only";

  auto active = get("nodes");
  const auto& st = active["status"];
  ASSERT_EQ(st["grants"].size(), 1u) << st.dump(2);
  EXPECT_EQ(st["grants"][0]["kind"], "ClusterRoleBinding");
  EXPECT_FALSE(st["grants"][0].contains("namespace"));
  auto crbs = clusterBindingsOf(uid);
  ASSERT_EQ(crbs.size(), 1u);
  EXPECT_EQ(crbs[0]["metadata"]["name"], st["grants"][0]["name"]);
  EXPECT_EQ(crbs[0]["metadata"]["labels"]["app.kubernetes.io/managed-by"], "kubegrant");
  EXPECT_EQ(crbs[0]["metadata"]["annotations"]["kubegrant.io/request-namespace"], ns_);
  EXPECT_EQ(crbs[0]["roleRef"]["kind"], "ClusterRole");
  EXPECT_EQ(crbs[0]["roleRef"]["name"], "node-viewer");
  ASSERT_EQ(crbs[0]["subjects"].size(), 1u) << "exactly one subject: the requester";
  EXPECT_EQ(crbs[0]["subjects"][0]["kind"], "User");
  EXPECT_EQ(crbs[0]["subjects"][0]["name"], "alice");
  EXPECT_TRUE(roleBindings().empty()) << "no namespaced binding for a cluster-scoped role";

  auto expiresAt = *parseRfc3339(st["expiresAt"].get<std::string>());
  auto untilExpiry = expiresAt - std::chrono::system_clock::now();
  ASSERT_TRUE(waitPhase("nodes", "Expired",
                        std::chrono::duration_cast<std::chrono::milliseconds>(untilExpiry) + 5s));
  EXPECT_LE(std::chrono::system_clock::now() - expiresAt, 3s);
  EXPECT_TRUE(clusterBindingsOf(uid).empty()) << "the ClusterRoleBinding is verified gone";
  EXPECT_FALSE(aliceCanGetNodes()) << "Forbidden again after expiry";
  EXPECT_EQ(auditEvents("nodes"),
            (std::vector<std::string>{"requested", "approved", "granted", "expired"}));
  auto records = auditRecords("nodes");
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[3]["grants"][0]["kind"], "ClusterRoleBinding");
}

// The webhook refuses a cluster-wide role the policy does not list, and any cluster scope under
// a namespaced-only policy, naming the field and the role.
TEST_F(LifecycleTest, AClusterScopeThePolicyDoesNotAllowIsRefusedNamingIt) {
  createPolicy("  clusterRoles: [node-viewer]\n");
  auto refused = [&](const std::string& role) {
    return refusedDryRun(fmt::format("  roles: [{}]\n", role));
  };
  std::string err = refused("{kind: ClusterRole, name: cluster-admin, scope: Cluster}");
  EXPECT_NE(err.find("spec.roles[0].name"), std::string::npos) << err;
  EXPECT_NE(err.find("ClusterRole/cluster-admin is not allowed by policy " + policy_),
            std::string::npos)
      << err;
  // view is allowed in namespaces only, never cluster-wide.
  err = refused("{kind: ClusterRole, name: view, scope: Cluster}");
  EXPECT_NE(err.find("cluster-wide role ClusterRole/view is not allowed"), std::string::npos)
      << err;
  // A namespaced-only policy (no clusterRoles) allows no cluster scope at all.
  createPolicy();
  err = refused("{kind: ClusterRole, name: node-viewer, scope: Cluster}");
  EXPECT_NE(err.find("spec.roles[0].scope"), std::string::npos) << err;
  EXPECT_NE(err.find("grants only in namespaces"), std::string::npos) << err;
}

// Ad hoc rules (issue 16): the policy allows get/list pods and get pods/log; alice asks for
// exactly those in her namespace. After bob's approval a temporary Role holding exactly the
// requested rules is bound to her: `kubectl auth can-i --list` shows the rules and nothing
// more than she had before; at expiry the Role and its binding are both gone.
TEST_F(LifecycleTest, AdHocRulesGrantExactlyTheRequestedCallsUntilExpiry) {
  createPolicy(R"(  rules:
    - {apiGroups: [""], resources: [pods], verbs: [get, list]}
    - {apiGroups: [""], resources: [pods/log], verbs: [get]}
)");
  // `kubectl auth can-i --list` as alice, one normalised line per rule.
  auto canList = [&] {
    auto r = kubectl(env_, "alice", {"auth", "can-i", "--list", "-n", ns_});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    std::set<std::string> lines;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      std::string w, norm;
      while (words >> w) norm += (norm.empty() ? "" : " ") + w;
      if (!norm.empty() && !norm.starts_with("Resources ")) lines.insert(norm);
    }
    return lines;
  };
  auto can = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"auth", "can-i"});
    auto r = kubectl(env_, "alice", args);
    return r.out.find("yes") == 0;
  };
  auto ownedBy = [&](const std::string& kind, const std::string& uid) {
    auto r =
        kubectl(env_, "admin",
                {"get", kind, "-n", ns_, "-l", "kubegrant.io/request-uid=" + uid, "-o", "json"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return json::parse(r.out)["items"];
  };
  const std::set<std::string> before = canList();
  ASSERT_FALSE(can({"get", "pods", "-n", ns_})) << "alice must not read pods before any request";

  auto applied = kubectl(env_, "alice", {"apply", "-f", "-"},
                         fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessRequest
metadata: {{name: pods, namespace: {}}}
spec:
  policy: {}
  duration: 60s
  reason: "e2e: read the api pod's logs"
  rules:
    - {{apiGroups: [""], resources: [pods], verbs: [get, list]}}
    - {{apiGroups: [""], resources: [pods/log], verbs: [get]}}
)",
                                     ns_, policy_));
  ASSERT_EQ(applied.exitCode, 0) << applied.err;
  ASSERT_TRUE(waitPhase("pods", "Pending")) << get("pods").dump(2);
  const std::string uid = get("pods")["metadata"]["uid"];
  EXPECT_TRUE(ownedBy("roles", uid).empty()) << "a Pending request grants nothing";
  EXPECT_FALSE(can({"get", "pods", "-n", ns_}));
  ASSERT_EQ(patchStatus("bob", "pods", kApprove).exitCode, 0);
  ASSERT_TRUE(waitPhase("pods", "Active")) << get("pods").dump(2);
  std::vector<std::string> kinds;
  const json active = get("pods");  // kept: a range-for over get(...)[...] would dangle
  for (const auto& g : active["status"]["grants"]) kinds.push_back(g["kind"]);
  EXPECT_EQ(kinds, (std::vector<std::string>{"Role", "RoleBinding"}));

  // Exactly the requested calls.
  EXPECT_TRUE(waitFor([&] { return can({"get", "pods", "-n", ns_}); }, 5s));
  EXPECT_TRUE(can({"list", "pods", "-n", ns_}));
  EXPECT_TRUE(can({"get", "pods", "--subresource=log", "-n", ns_}));
  EXPECT_TRUE(aliceCanListPods()) << "a real call succeeds";
  EXPECT_FALSE(can({"watch", "pods", "-n", ns_}));
  EXPECT_FALSE(can({"delete", "pods", "-n", ns_}));
  EXPECT_FALSE(can({"create", "pods", "--subresource=exec", "-n", ns_}));
  EXPECT_FALSE(can({"get", "secrets", "-n", ns_}));
  EXPECT_FALSE(can({"get", "pods", "-n", "default"})) << "only in the request's namespace";
  const std::set<std::string> during = canList();
  std::set<std::string> added;
  std::set_difference(during.begin(), during.end(), before.begin(), before.end(),
                      std::inserter(added, added.end()));
  EXPECT_EQ(added, (std::set<std::string>{"pods [] [] [get list]", "pods/log [] [] [get]"}))
      << "auth can-i --list shows nothing more than the rules plus the defaults";
  EXPECT_TRUE(std::includes(during.begin(), during.end(), before.begin(), before.end()));

  // The temporary Role holds exactly the requested rules; one binding, to alice alone.
  auto roles = ownedBy("roles", uid);
  ASSERT_EQ(roles.size(), 1u) << roles.dump(2);
  EXPECT_EQ(roles[0]["rules"], json::parse(R"([
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}])"));
  auto bindings = ownedBy("rolebindings", uid);
  ASSERT_EQ(bindings.size(), 1u) << bindings.dump(2);
  EXPECT_EQ(bindings[0]["roleRef"]["kind"], "Role");
  EXPECT_EQ(bindings[0]["roleRef"]["name"], roles[0]["metadata"]["name"]);
  ASSERT_EQ(bindings[0]["subjects"].size(), 1u);
  EXPECT_EQ(bindings[0]["subjects"][0]["name"], "alice");

  // Expiry: both gone, and alice is back to what she had.
  auto expiresAt = *parseRfc3339(get("pods")["status"]["expiresAt"].get<std::string>());
  auto untilExpiry = expiresAt - std::chrono::system_clock::now();
  ASSERT_TRUE(waitPhase("pods", "Expired",
                        std::chrono::duration_cast<std::chrono::milliseconds>(untilExpiry) + 5s));
  EXPECT_TRUE(ownedBy("roles", uid).empty()) << "the temporary Role is verified gone";
  EXPECT_TRUE(ownedBy("rolebindings", uid).empty()) << "its RoleBinding is verified gone";
  EXPECT_FALSE(can({"get", "pods", "-n", ns_}));
  EXPECT_EQ(canList(), before);
  EXPECT_EQ(auditEvents("pods"),
            (std::vector<std::string>{"requested", "approved", "granted", "expired"}));
}

// The webhook refuses an ad hoc rule outside the policy's set, a wildcard the policy does not
// have, the escalation verbs, and a cluster scope under a namespaced-only policy, each with a
// message naming the field and the rule.
TEST_F(LifecycleTest, AdHocRulesOutsideThePolicyAreRefusedNamingTheRule) {
  createPolicy(R"(  rules:
    - {apiGroups: [""], resources: [pods], verbs: [get, list]}
    - {apiGroups: ["rbac.authorization.k8s.io"], resources: [roles], verbs: ["*"]}
)");
  auto refused = [&](const std::string& rule) {
    return refusedDryRun(fmt::format("  rules: [{}]\n", rule));
  };
  auto expectIn = [](const std::string& err, const std::string& what) {
    EXPECT_NE(err.find(what), std::string::npos) << "missing \"" << what << "\" in: " << err;
  };
  std::string err = refused(R"({apiGroups: [""], resources: [secrets], verbs: [get]})");
  expectIn(err, "spec.rules[0]");
  expectIn(err, "resources: [secrets], verbs: [get]} is outside policy " + policy_);
  err = refused(R"({apiGroups: [""], resources: [pods], verbs: ["*"]})");
  expectIn(err, "spec.rules[0].verbs");
  expectIn(err, "wildcard \"*\" in verbs of rule");
  err = refused(
      R"({apiGroups: ["rbac.authorization.k8s.io"], resources: [roles], verbs: [escalate]})");
  expectIn(err, "spec.rules[0].verbs");
  expectIn(err, "verb escalate of rule");
  err = refused(R"({apiGroups: ["rbac.authorization.k8s.io"], resources: [roles], verbs: [bind]})");
  expectIn(err, "verb bind of rule");
  err = refused(R"({apiGroups: [""], resources: [users], verbs: [impersonate]})");
  expectIn(err, "verb impersonate of rule");
  err = refused(R"({apiGroups: [""], resources: [pods], verbs: [get], scope: Cluster})");
  expectIn(err, "spec.rules[0].scope");
  expectIn(err, "allows no cluster-wide rules");
  // Within the set: admitted (dry run), with a warning saying how it is granted.
  auto ok = kubectl(env_, "alice", {"apply", "--dry-run=server", "-f", "-"},
                    fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessRequest
metadata: {{name: adhoc, namespace: {}}}
spec:
  policy: {}
  reason: "e2e"
  rules: [{{apiGroups: [""], resources: [pods], verbs: [list]}}]
)",
                                ns_, policy_));
  EXPECT_EQ(ok.exitCode, 0) << ok.err;
  expectIn(ok.err, "granted through a temporary Role in " + ns_);
}

TEST_F(LifecycleTest, TwoRequiredApprovalsOneIsNotEnough) {
  createPolicy("", 2);
  request("two", "30s");
  ASSERT_TRUE(waitPhase("two", "Pending"));
  ASSERT_EQ(patchStatus("bob", "two", kApprove).exitCode, 0);
  ASSERT_TRUE(waitFor(
      [&] {
        auto j = get("two");
        return j["status"].value("message", "").find("approved so far by bob") != std::string::npos;
      },
      10s));
  EXPECT_EQ(phase("two"), "Pending");
  EXPECT_NE(get("two")["status"]["message"].get<std::string>().find("needs 1 more approval"),
            std::string::npos);
  EXPECT_FALSE(aliceCanListPods());
  ASSERT_EQ(patchStatus("carol", "two", kApprove).exitCode, 0);
  ASSERT_TRUE(waitPhase("two", "Active"));
  EXPECT_TRUE(waitFor([&] { return aliceCanListPods(); }, 5s));
}

TEST_F(LifecycleTest, ADenyEndsTheRequestWithoutAccess) {
  createPolicy();
  request("nope", "30s");
  ASSERT_TRUE(waitPhase("nope", "Pending"));
  ASSERT_EQ(patchStatus("carol", "nope", kDeny).exitCode, 0);
  ASSERT_TRUE(waitPhase("nope", "Denied"));
  EXPECT_NE(get("nope")["status"]["message"].get<std::string>().find("denied by carol"),
            std::string::npos);
  EXPECT_TRUE(roleBindings().empty());
  EXPECT_FALSE(aliceCanListPods());
  EXPECT_EQ(auditEvents("nope"), (std::vector<std::string>{"requested", "denied"}));
}

TEST_F(LifecycleTest, RevokeEndsAccessEarly) {
  createPolicy();
  ASSERT_NO_FATAL_FAILURE(activeAfterBobApproves("early", "5m"));
  ASSERT_TRUE(waitFor([&] { return aliceCanListPods(); }, 5s));
  auto r = kubectl(
      env_, "alice",
      {"patch", "areq", "early", "-n", ns_, "--type=merge", "-p", R"({"spec":{"revoke":true}})"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  ASSERT_TRUE(waitPhase("early", "Revoked"));
  EXPECT_TRUE(roleBindings().empty());
  EXPECT_FALSE(aliceCanListPods());
  EXPECT_EQ(auditEvents("early").back(), "revoked");
}

// A grant removed or altered behind the operator's back during the grant is put back as the
// request says: the binding's event re-checks the request, which is read from the API server
// again before anything is created (a pass that finds every grant in place reads nothing).
TEST_F(LifecycleTest, ABindingDeletedOrWidenedDuringTheGrantIsPutBack) {
  createPolicy();
  ASSERT_NO_FATAL_FAILURE(activeAfterBobApproves("heal", "5m"));
  auto rbs = roleBindings();
  ASSERT_EQ(rbs.size(), 1u);
  const std::string name = rbs[0]["metadata"]["name"];
  const std::string uid = rbs[0]["metadata"]["uid"];

  mustAdmin({"delete", "rolebinding", name, "-n", ns_});
  auto replaced = [&](const std::string& previousUid) {
    auto now = roleBindings();
    return now.size() == 1 && now[0]["metadata"]["name"] == name &&
           now[0]["metadata"]["uid"] != previousUid;
  };
  ASSERT_TRUE(waitFor([&] { return replaced(uid); }, 10s)) << roleBindings().dump(2);
  EXPECT_TRUE(waitFor([&] { return aliceCanListPods(); }, 5s));

  // Widened to a second subject: replaced by exactly the requester again.
  const std::string second = roleBindings()[0]["metadata"]["uid"];
  mustAdmin(
      {"patch", "rolebinding", name, "-n", ns_, "--type=json", "-p",
       R"([{"op":"add","path":"/subjects/-","value":{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"mallory"}}])"});
  ASSERT_TRUE(waitFor([&] { return replaced(second); }, 10s)) << roleBindings().dump(2);
  auto healed = roleBindings()[0];
  ASSERT_EQ(healed["subjects"].size(), 1u) << healed.dump(2);
  EXPECT_EQ(healed["subjects"][0]["name"], "alice");
  EXPECT_EQ(phase("heal"), "Active");
}

TEST_F(LifecycleTest, DeletingAnActiveRequestRemovesItsGrantsFirst) {
  createPolicy();
  request("bye", "5m");
  ASSERT_EQ(patchStatus("bob", "bye", kApprove).exitCode, 0);
  ASSERT_TRUE(waitPhase("bye", "Active"));
  ASSERT_EQ(roleBindings().size(), 1u);
  auto r = kubectl(env_, "alice", {"delete", "areq", "bye", "-n", ns_, "--timeout=15s"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(get("bye").is_null()) << "the finalizer was removed after revocation";
  EXPECT_TRUE(roleBindings().empty());
  EXPECT_FALSE(aliceCanListPods());
  EXPECT_EQ(auditEvents("bye").back(), "revoked");
}

TEST_F(LifecycleTest, AnUnapprovedRequestExpiresAfterPendingTimeout) {
  createPolicy("  pendingTimeout: 3s\n");
  request("slow", "30s");
  ASSERT_TRUE(waitPhase("slow", "Pending"));
  ASSERT_TRUE(waitPhase("slow", "Expired", 10s));
  auto j = get("slow");
  EXPECT_NE(j["status"]["message"].get<std::string>().find("no access was granted"),
            std::string::npos);
  EXPECT_FALSE(j["status"].contains("activatedAt"));
  EXPECT_TRUE(roleBindings().empty());
}

TEST_F(LifecycleTest, AFutureStartAtWaitsAndTheClockStartsAtActivation) {
  createPolicy();
  auto startAt = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) + 6s;
  request("later", "20s", fmt::format("  startAt: \"{}\"\n", formatRfc3339(startAt)));
  ASSERT_EQ(patchStatus("bob", "later", kApprove).exitCode, 0);
  ASSERT_TRUE(waitPhase("later", "Approved"));
  EXPECT_TRUE(roleBindings().empty()) << "nothing before startAt";
  EXPECT_FALSE(aliceCanListPods());
  ASSERT_TRUE(waitPhase("later", "Active", 12s));
  auto st = get("later")["status"];
  auto activatedAt = *parseRfc3339(st["activatedAt"].get<std::string>());
  EXPECT_GE(activatedAt, startAt);
  EXPECT_EQ(*parseRfc3339(st["expiresAt"].get<std::string>()) - activatedAt, 20s);
  EXPECT_TRUE(waitFor([&] { return aliceCanListPods(); }, 5s));
}

TEST_F(LifecycleTest, NarrowingThePolicyRevokesAccessItNoLongerAllows) {
  createPolicy();
  request("narrow", "5m");
  ASSERT_EQ(patchStatus("bob", "narrow", kApprove).exitCode, 0);
  ASSERT_TRUE(waitPhase("narrow", "Active"));
  ASSERT_TRUE(waitFor([&] { return aliceCanListPods(); }, 5s));
  mustAdmin({"patch", "accesspolicy", policy_, "--type=merge", "-p",
             R"({"spec":{"roles":[{"kind":"Role","name":"pod-debugger"}]}})"});
  ASSERT_TRUE(waitPhase("narrow", "Revoked"));
  auto msg = get("narrow")["status"]["message"].get<std::string>();
  EXPECT_NE(msg.find(policy_), std::string::npos) << msg;
  EXPECT_NE(msg.find("no longer allows"), std::string::npos) << msg;
  EXPECT_TRUE(roleBindings().empty());
  EXPECT_FALSE(aliceCanListPods());
}

TEST_F(LifecycleTest, BreakGlassIsApprovedAtOnceAndMarked) {
  createPolicy("    autoApprove: {groups: [payments-devs]}\n");
  request("glass", "30s");
  ASSERT_TRUE(waitPhase("glass", "Active"));
  auto st = get("glass")["status"];
  EXPECT_EQ(st["breakGlass"], true);
  EXPECT_TRUE(waitFor([&] { return aliceCanListPods(); }, 5s));
  auto records = auditRecords("glass");
  ASSERT_GE(records.size(), 3u);
  EXPECT_EQ(records[1]["event"], "approved");
  EXPECT_EQ(records[1]["breakGlass"], true);
}

TEST_F(LifecycleTest, AGrantTheOperatorMayNotBindFailsLeavingNothing) {
  createPolicy("", 0, "[{kind: ClusterRole, name: view}, {kind: ClusterRole, name: edit}]");
  std::string yaml = fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessRequest
metadata: {{name: toomuch, namespace: {}}}
spec:
  policy: {}
  duration: 1m
  reason: "e2e"
  roles: [{{kind: ClusterRole, name: view}}, {{kind: ClusterRole, name: edit}}]
)",
                                 ns_, policy_);
  ASSERT_EQ(kubectl(env_, "alice", {"apply", "-f", "-"}, yaml).exitCode, 0);
  ASSERT_TRUE(waitPhase("toomuch", "Failed"));
  auto msg = get("toomuch")["status"]["message"].get<std::string>();
  EXPECT_NE(msg.find("bind"), std::string::npos) << msg;
  EXPECT_NE(msg.find("operator.bindableClusterRoles"), std::string::npos) << msg;
  EXPECT_TRUE(roleBindings().empty()) << "nothing partial is left";
  EXPECT_FALSE(aliceCanListPods());
}

TEST_F(LifecycleTest, AGrantThatExpiredWhileTheOperatorWasDownGoesWithinTwoSecondsOfRestart) {
  createPolicy();
  request("crash", "4s");
  ASSERT_EQ(patchStatus("bob", "crash", kApprove).exitCode, 0);
  ASSERT_TRUE(waitPhase("crash", "Active"));
  auto expiresAt = *parseRfc3339(get("crash")["status"]["expiresAt"].get<std::string>());
  ASSERT_EQ(harness_.stopOperator(SIGKILL), -SIGKILL);
  // Stay down past expiresAt: nothing revokes meanwhile (the binding is still there).
  std::this_thread::sleep_until(expiresAt + 2s);
  ASSERT_EQ(roleBindings().size(), 1u);
  const auto restarted = std::chrono::system_clock::now();
  ASSERT_NO_FATAL_FAILURE(harness_.startOperator());
  ASSERT_TRUE(waitFor([&] { return roleBindings().empty(); }, 10s));
  // When the revocation happened, from the operator's own audit line (written once the
  // binding was verified gone), against when the new process was started.
  auto records = auditRecords("crash");
  ASSERT_FALSE(records.empty());
  ASSERT_EQ(records.back()["event"], "expired");
  auto revokedAt = *parseRfc3339(records.back()["ts"].get<std::string>());
  EXPECT_LE(revokedAt - restarted, 2s)
      << "revoked " << std::chrono::duration<double>(revokedAt - restarted).count()
      << " s after the restart";
  ASSERT_TRUE(waitPhase("crash", "Expired"));
  EXPECT_FALSE(aliceCanListPods());
}

// ---------------------------------------------------------------------------------------
// Attacks around the webhook (issue 11): each is made with the webhook configurations
// deleted for its duration (an upgrade, a broken matchConditions), then restored. The
// operator believes only what kubegrant sealed, so each is neutralised: the request ends as
// Failed with the rule in its message, every grant is gone, a Warning Event and an audit
// line say so.

TEST_F(LifecycleTest, AFakeApprovalWrittenAroundTheWebhookIsTampering) {
  createPolicy();
  request("fake-approval", "1m");
  ASSERT_TRUE(waitPhase("fake-approval", "Pending"));
  withoutWebhooks([&] {
    auto r = patchStatus("alice", "fake-approval",
                         R"([{"op":"add","path":"/status/approvals/-","value":{"decision":)"
                         R"("Approve","approver":"bob","approverGroups":["payments-leads"]}}])");
    ASSERT_EQ(r.exitCode, 0) << r.err;
  });
  expectNeutralised("fake-approval",
                    "status.approvals[0].seal: is missing; the decision by bob was not recorded by "
                    "the kubegrant admission webhook: treated as tampering");
}

TEST_F(LifecycleTest, AFakeBreakGlassIsTampering) {
  createPolicy();
  request("fake-breakglass", "1m");
  ASSERT_TRUE(waitPhase("fake-breakglass", "Pending"));
  withoutWebhooks([&] {
    auto r =
        kubectl(env_, "alice",
                {"patch", "areq", "fake-breakglass", "-n", ns_, "--subresource=status",
                 "--type=merge", "-p", R"({"status":{"breakGlass":true,"phase":"Approved"}})"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
  });
  expectNeutralised("fake-breakglass",
                    "was not written by the kubegrant operator: treated as "
                    "tampering");
}

TEST_F(LifecycleTest, ExtendingExpiresAtIsTamperingAndRevokesEverything) {
  createPolicy();
  request("extend", "1m");
  ASSERT_TRUE(waitPhase("extend", "Pending"));
  ASSERT_EQ(patchStatus("bob", "extend", kApprove).exitCode, 0);
  ASSERT_TRUE(waitPhase("extend", "Active"));
  ASSERT_TRUE(waitFor([&] { return aliceCanListPods(); }, 10s));
  withoutWebhooks([&] {
    auto r = kubectl(env_, "alice",
                     {"patch", "areq", "extend", "-n", ns_, "--subresource=status", "--type=merge",
                      "-p", R"({"status":{"expiresAt":"2099-01-01T00:00:00Z"}})"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
  });
  expectNeutralised("extend", "status.seal: does not verify");
}

TEST_F(LifecycleTest, ResurrectingAnExpiredRequestIsTampering) {
  createPolicy();
  request("lazarus", "3s");
  ASSERT_TRUE(waitPhase("lazarus", "Pending"));
  ASSERT_EQ(patchStatus("bob", "lazarus", kApprove).exitCode, 0);
  ASSERT_TRUE(waitPhase("lazarus", "Expired", 20s));
  withoutWebhooks([&] {
    auto r = kubectl(env_, "alice",
                     {"patch", "areq", "lazarus", "-n", ns_, "--subresource=status", "--type=merge",
                      "-p", R"({"status":{"phase":"Active","expiresAt":"2099-01-01T00:00:00Z"}})"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
  });
  expectNeutralised("lazarus", "status.seal: does not verify");
}

TEST_F(LifecycleTest, AForgedRequesterIsNeverBelieved) {
  createPolicy("", 0);  // no approval needed: a believed requester would be granted at once
  withoutWebhooks([&] {
    auto r = kubectl(env_, "mallory", {"create", "-f", "-"},
                     fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessRequest
metadata: {{name: forged, namespace: {}}}
spec:
  policy: {}
  duration: 1m
  reason: "not me"
  roles: [{{kind: ClusterRole, name: view}}]
  requester: {{username: alice, groups: [payments-devs, system:authenticated]}}
)",
                                 ns_, policy_));
    ASSERT_EQ(r.exitCode, 0) << r.err;
  });
  expectNeutralised("forged",
                    "spec.requesterSeal: is missing; the requester alice was not recorded by the "
                    "kubegrant admission webhook and is not believed",
                    "ForgedRequester");
}

}  // namespace
}  // namespace kubegrant::e2e
