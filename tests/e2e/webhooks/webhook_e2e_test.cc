// End to end: the real API server calls the real admission webhook (WebhookServer with the
// informer-backed policy lookup, registered from charts/kubegrant/templates/webhooks.yaml
// (render-webhooks.sh) with the test CA), and users act through kubectl with their own kubeconfigs.
// Every rejection is checked by its exact message, as kubectl prints it.

#include "tests/support/webhook_e2e.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "operator/common/clock.h"
#include "operator/kube/config.h"
#include "operator/kube/rest/rest_client.h"
#include "operator/runtime/informer.h"
#include "tests/support/free_port.h"
#include "tests/support/test_env.h"
#include "webhooks/server/certs.h"
#include "webhooks/server/https_server.h"
#include "webhooks/server/informer_lookup.h"
#include "webhooks/server/webhook_server.h"

namespace kubegrant::webhooks {
namespace {

using testing::CommandResult;
using testing::kubectl;
using testing::runCommand;
using testing::TestEnv;
using testing::uniqueName;

const std::string kSourceDir = KUBEGRANT_SOURCE_DIR;

[[maybe_unused]] ::testing::Environment* const kSmallHttpPool =
    ::testing::AddGlobalTestEnvironment(new testing::SmallHttpPool);
const std::string& kValidating = testing::kValidatingRefusal;

// Everything the suite starts, shared by its tests: one webhook server and one registration.
struct Harness {
  TestEnv env;
  std::string dir;
  std::string configName;
  std::unique_ptr<kube::Client> client;
  SystemClock clock;
  std::unique_ptr<runtime::Informer> informer;
  std::unique_ptr<InformerPolicyLookup::Store> store;
  std::shared_ptr<InformerPolicyLookup> policies;
  // spec.databases is checked against the DatabaseTargets, read like the policies.
  std::string target;
  std::unique_ptr<runtime::Informer> targetInformer;
  std::unique_ptr<InformerTargetLookup::Store> targetStore;
  std::shared_ptr<InformerTargetLookup> targets;
  std::unique_ptr<WebhookServer> server;
};
Harness* harness = nullptr;

class WebhookE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto envOpt = testing::requireEnv();
    if (!envOpt) return;
    auto h = std::make_unique<Harness>();
    h->env = *envOpt;
    h->dir = h->env.dir + "/" + uniqueName("webhook-e2e");
    h->configName = uniqueName("kubegrant-e2e");

    auto r = kubectl(h->env, "admin", {"apply", "--server-side", "-f", kSourceDir + "/crds/"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    // The requester and approver ClusterRoles (the chart's, rendered), bound to the test users.
    auto roles = runCommand({kSourceDir + "/operator/deploy/render-rbac.sh", "kubegrant-operator"});
    ASSERT_EQ(roles.exitCode, 0) << roles.err;
    r = kubectl(h->env, "admin", {"apply", "-f", "-"}, roles.out);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    r = kubectl(h->env, "admin", {"apply", "-f", kSourceDir + "/operator/deploy/rbac-users.yaml"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    r = kubectl(h->env, "admin", {"apply", "-f", "-"}, testing::kWebhookE2eOperatorRbac);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    r = kubectl(
        h->env, "admin",
        {"wait", "--for=condition=Established", "--timeout=60s", "crd/accessrequests.kubegrant.io",
         "crd/accesspolicies.kubegrant.io", "crd/databasetargets.kubegrant.io"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    h->target = uniqueName("wh-orders-db");
    r = kubectl(h->env, "admin", {"apply", "-f", "-"}, targetYaml(h->target));
    ASSERT_EQ(r.exitCode, 0) << r.err;

    CertificateRequest certs;
    certs.dir = h->dir + "/certs";
    certs.caCertFile = h->env.caCert;
    certs.caKeyFile = h->env.caKey;
    auto generated = generateCertificates(certs);
    ASSERT_TRUE(generated) << generated.error().message;

    // The webhook reads policies as the operator does: an informer over the operator's
    // identity (RBAC above), never an API call per review.
    auto config = kube::loadKubeconfig(h->env.kubeconfig("operator"));
    ASSERT_TRUE(config) << config.error().message;
    auto client = kube::rest::makeRestClient(*config);
    ASSERT_TRUE(client) << client.error().message;
    h->client = std::move(*client);
    h->informer = std::make_unique<runtime::Informer>(*h->client, kube::resources::accessPolicies(),
                                                      h->clock);
    h->store = std::make_unique<InformerPolicyLookup::Store>(
        *h->informer,
        [](const kube::Object& o) { return v1alpha1::fromJson<v1alpha1::AccessPolicy>(o.body); });
    h->informer->start();
    ASSERT_TRUE(h->informer->waitForSync(std::chrono::seconds(30)));
    h->policies = std::make_shared<InformerPolicyLookup>(*h->store);
    h->targetInformer = std::make_unique<runtime::Informer>(
        *h->client, kube::resources::databaseTargets(), h->clock);
    h->targetStore = std::make_unique<InformerTargetLookup::Store>(
        *h->targetInformer,
        [](const kube::Object& o) { return v1alpha1::fromJson<v1alpha1::DatabaseTarget>(o.body); });
    h->targetInformer->start();
    ASSERT_TRUE(h->targetInformer->waitForSync(std::chrono::seconds(30)));
    h->targets = std::make_shared<InformerTargetLookup>(*h->targetStore);
    ASSERT_TRUE(h->targets->get(h->target)) << "the target never reached the informer";

    WebhookServerConfig wc;
    wc.address = "127.0.0.1";
    wc.port = ::kubegrant::testing::freeLoopbackPort();
    wc.certDir = certs.dir;
    wc.policies = h->policies;
    wc.targets = h->targets;
    wc.secretNamespaces = {{"kubegrant-system"}};  // the operator's default
    h->server = std::make_unique<WebhookServer>(std::move(wc));
    auto started = h->server->start();
    ASSERT_TRUE(started) << started.error().message;

    auto rendered = runCommand({"env", "WEBHOOK_CONFIG_NAME=" + h->configName,
                                kSourceDir + "/operator/deploy/render-webhooks.sh",
                                h->server->url(), h->env.caCert, "kubegrant-operator"});
    ASSERT_EQ(rendered.exitCode, 0) << rendered.err;
    r = kubectl(h->env, "admin", {"apply", "-f", "-"}, rendered.out);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    harness = h.release();
    waitUntilWebhookAnswers();
  }

  // The API server picks webhook configurations up asynchronously: wait until a dry-run
  // create is answered by our webhook (its denial for a policy that does not exist).
  static void waitUntilWebhookAnswers() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::string request = requestYaml("default", "probe", uniqueName("no-such-policy"));
    CommandResult r;
    while (std::chrono::steady_clock::now() < deadline) {
      r = kubectl(harness->env, "alice", {"create", "--dry-run=server", "-f", "-"}, request);
      if (r.err.find(kValidating) != std::string::npos) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    FAIL() << "webhook never answered: " << r.err;
  }

  static void TearDownTestSuite() {
    if (harness == nullptr) return;
    for (const char* kind : {"mutatingwebhookconfiguration", "validatingwebhookconfiguration"}) {
      kubectl(harness->env, "admin", {"delete", kind, harness->configName, "--ignore-not-found"});
    }
    harness->server->stop();
    harness->informer->stop();
    harness->targetInformer->stop();
    kubectl(harness->env, "admin",
            {"delete", "databasetarget", harness->target, "--ignore-not-found"});
    std::error_code ec;
    std::filesystem::remove_all(harness->dir, ec);
    delete harness;
    harness = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(harness, nullptr) << "suite setup failed";
    ns_ = uniqueName("wh");
    policy_ = uniqueName("wh-oncall");
    auto r = kubectl(env(), "admin", {"create", "namespace", ns_});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    r = kubectl(env(), "admin", {"apply", "-f", "-"}, policyYaml());
    ASSERT_EQ(r.exitCode, 0) << r.err;
    // The webhook sees the policy through its informer: wait for the watch to deliver it.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!harness->policies->get(policy_) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(harness->policies->get(policy_)) << "policy never reached the informer";
  }

  void TearDown() override {
    if (harness == nullptr) return;
    kubectl(env(), "admin", {"delete", "namespace", ns_, "--wait=false", "--ignore-not-found"});
    kubectl(env(), "admin", {"delete", "accesspolicy", policy_, "--ignore-not-found"});
  }

  static const TestEnv& env() { return harness->env; }

  // A target with a withholding and a masking profile (never connected to: admission only
  // reads its profiles).
  static std::string targetYaml(const std::string& name) {
    return fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: DatabaseTarget
metadata:
  name: {}
spec:
  engine: postgres
  host: orders-db.payments.svc
  database: orders
  adminSecretRef: {{namespace: kubegrant-system, name: orders-db-admin}}
  profiles:
    - name: readonly
      grants:
        - schema: public
          tables: ["*"]
          privileges: [SELECT]
          excludeColumns: {{customers: [email, phone]}}
    - name: support
      grants:
        - schema: public
          tables: [customers]
          privileges: [SELECT]
          excludeColumns: {{customers: [card_number]}}
          maskColumns: {{customers: {{email: email, name: hash}}}}
)",
                       name);
  }

  std::string policyYaml() const {
    return fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessPolicy
metadata:
  name: {}
spec:
  requesters:
    groups: [payments-devs]
  namespaces: [{}]
  roles:
    - kind: ClusterRole
      name: view
  databases:
    - target: {}
      profiles: [readonly, support, ghost]
    - target: {}-missing
      profiles: [readonly]
  defaultDuration: 1h
  maxDuration: 4h
  requireReason: true
  ticketPattern: "^INC-[0-9]+$"
  approval:
    approvers:
      groups: [payments-leads]
    required: 1
)",
                       policy_, ns_, harness->target, harness->target);
  }

  static std::string requestYaml(const std::string& ns, const std::string& name,
                                 const std::string& policy, const std::string& extraSpec = "",
                                 const std::string& duration = "2h",
                                 const std::string& roleNamespace = "",
                                 const std::string& roleName = "view") {
    return fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessRequest
metadata:
  name: {}
  namespace: {}
spec:
  policy: {}
  duration: {}
  roles:
    - kind: ClusterRole
      name: {}
      namespaces: [{}]
{})",
                       name, ns, policy, duration, roleName,
                       roleNamespace.empty() ? ns : roleNamespace, extraSpec);
  }

  static constexpr const char* kReasonTicket =
      "  reason: orders stuck in pending\n  ticket: INC-4211\n";

  // Creates a valid request as alice and sets status.approvals: [] as the operator would.
  std::string createPending() {
    std::string name = uniqueName("req");
    auto r = kubectl(env(), "alice", {"create", "-f", "-"},
                     requestYaml(ns_, name, policy_, kReasonTicket));
    EXPECT_EQ(r.exitCode, 0) << r.err;
    setStatusAsOperator(name, testing::kPendingStatus);
    return name;
  }

  void setStatusAsOperator(const std::string& name, const std::string& mergePatch) {
    auto r = testing::patchStatus(env(), "operator", ns_, name, mergePatch);
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }

  CommandResult addDecision(const std::string& user, const std::string& name,
                            const std::string& value) {
    return testing::appendDecision(env(), user, ns_, name, value);
  }

  std::string jsonpath(const std::string& name, const std::string& path) {
    auto r =
        kubectl(env(), "admin", {"get", "areq", name, "-n", ns_, "-o", "jsonpath={" + path + "}"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return r.out;
  }

  // kubectl prints the webhook's message after this prefix, then a newline.
  static void expectDenied(const CommandResult& r, const std::string& message) {
    EXPECT_NE(r.exitCode, 0) << r.out;
    EXPECT_NE(r.err.find(kValidating + message + "\n"), std::string::npos)
        << "expected: " << message << "\nkubectl said: " << r.err;
  }

  static std::string databaseSpec(const std::string& target, const std::string& profile) {
    return std::string(kReasonTicket) + "  databases:\n    - target: " + target +
           "\n      profile: " + profile + "\n";
  }

  std::string ns_;
  std::string policy_;
};

TEST_F(WebhookE2eTest, ValidCreateIsAllowedStampsTheRequesterAndExplainsItself) {
  std::string name = uniqueName("req");
  auto r = kubectl(env(), "alice", {"create", "-f", "-"},
                   requestYaml(ns_, name, policy_, kReasonTicket));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("Warning: policy " + policy_ + " matched\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Warning: needs 1 approval from groups [payments-leads] (not alice: "
                       "self-approval never counts)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("Warning: access expires 2h after activation (requested, policy maximum "
                       "4h)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(jsonpath(name, ".spec.requester.username"), "alice");
  EXPECT_EQ(jsonpath(name, ".spec.requester.groups"),
            R"(["payments-devs","system:authenticated"])");
}

TEST_F(WebhookE2eTest, ACreateNamingADatabaseIsToldWhatItWillGet) {
  std::string name = uniqueName("req");
  const std::string& target = harness->target;
  auto r = kubectl(env(), "alice", {"create", "-f", "-"},
                   requestYaml(ns_, name, policy_, databaseSpec(target, "readonly")));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("Warning: spec.databases: a user on " + target +
                       " (profile readonly) is issued at activation, its credentials in Secret " +
                       name + "-" + target + " that only you can read"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("Warning: database " + target +
                       "/readonly: withheld public.customers.email, public.customers.phone\n"),
            std::string::npos)
      << r.err;
}

TEST_F(WebhookE2eTest, ServerDryRunNamesTheWithheldAndMaskedColumnsOfTheProfile) {
  std::string name = uniqueName("req");
  const std::string& target = harness->target;
  auto r = kubectl(env(), "alice", {"create", "--dry-run=server", "-f", "-"},
                   requestYaml(ns_, name, policy_, databaseSpec(target, "support")));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("created (server dry run)"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("Warning: database " + target +
                       "/support: withheld public.customers.card_number; masked "
                       "public.customers.email (email), public.customers.name (hash)\n"),
            std::string::npos)
      << r.err;
  auto get = kubectl(env(), "alice", {"get", "areq", name, "-n", ns_});
  EXPECT_NE(get.exitCode, 0);
}

TEST_F(WebhookE2eTest, ADatabaseTargetOrProfileThatDoesNotExistIsRejected) {
  const std::string& target = harness->target;
  auto r = kubectl(env(), "alice", {"create", "-f", "-"},
                   requestYaml(ns_, uniqueName("req"), policy_, databaseSpec(target, "ghost")));
  expectDenied(r, "spec.databases[0].profile: DatabaseTarget \"" + target +
                      "\" has no profile \"ghost\"; a request may only name one of the "
                      "target's profiles [readonly, support]");
  r = kubectl(
      env(), "alice", {"create", "--dry-run=server", "-f", "-"},
      requestYaml(ns_, uniqueName("req"), policy_, databaseSpec(target + "-missing", "readonly")));
  expectDenied(r, "spec.databases[0].target: DatabaseTarget \"" + target +
                      "-missing\" does not exist; a request may only name an existing target "
                      "(kubectl get databasetargets)");
  // Not allowed by the policy: refused by the policy rule, naming the field.
  r = kubectl(env(), "alice", {"create", "-f", "-"},
              requestYaml(ns_, uniqueName("req"), policy_, databaseSpec("other-db", "readonly")));
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find(kValidating + "spec.databases[0].target"), std::string::npos) << r.err;
}

TEST_F(WebhookE2eTest, ServerDryRunPreviewsTheWarningsWithoutCreating) {
  std::string name = uniqueName("req");
  auto r = kubectl(env(), "alice", {"apply", "--dry-run=server", "-f", "-"},
                   requestYaml(ns_, name, policy_, kReasonTicket));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("created (server dry run)"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("Warning: policy " + policy_ + " matched"), std::string::npos) << r.err;
  auto get = kubectl(env(), "alice", {"get", "areq", name, "-n", ns_});
  EXPECT_NE(get.exitCode, 0);
}

TEST_F(WebhookE2eTest, RequestUnderAPolicyThatDoesNotExistIsRejected) {
  std::string missing = uniqueName("no-such-policy");
  auto r = kubectl(env(), "alice", {"create", "-f", "-"},
                   requestYaml(ns_, uniqueName("req"), missing, kReasonTicket));
  expectDenied(r, "spec.policy: AccessPolicy \"" + missing + "\" does not exist");
}

TEST_F(WebhookE2eTest, RoleOutsideThePolicyIsRejected) {
  auto r = kubectl(env(), "alice", {"create", "-f", "-"},
                   requestYaml(ns_, uniqueName("req"), policy_, kReasonTicket, "2h", "", "admin"));
  expectDenied(r, "spec.roles[0].name: role ClusterRole/admin is not allowed by policy " + policy_ +
                      " (allowed: ClusterRole/view)");
}

// spec.roles[].scope Cluster needs the ClusterRole in the policy's clusterRoles; this policy
// has none (namespaced only), so even its own ClusterRole view is refused cluster-wide.
TEST_F(WebhookE2eTest, ClusterScopeUnderANamespacedOnlyPolicyIsRejected) {
  std::string yaml = fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessRequest
metadata: {{name: {}, namespace: {}}}
spec:
  policy: {}
  roles: [{{kind: ClusterRole, name: view, scope: Cluster}}]
{})",
                                 uniqueName("req"), ns_, policy_, kReasonTicket);
  auto r = kubectl(env(), "alice", {"create", "-f", "-"}, yaml);
  expectDenied(r,
               "spec.roles[0].scope: cluster-wide role ClusterRole/view is not allowed: policy " +
                   policy_ + " grants only in namespaces (its spec.clusterRoles is empty)");
}

TEST_F(WebhookE2eTest, NamespaceOutsideThePolicyIsRejected) {
  auto r =
      kubectl(env(), "alice", {"create", "-f", "-"},
              requestYaml(ns_, uniqueName("req"), policy_, kReasonTicket, "2h", "kube-system"));
  expectDenied(r, "spec.roles[0].namespaces[0]: namespace kube-system is not allowed by policy " +
                      policy_ + " (allowed: " + ns_ + ")");
}

TEST_F(WebhookE2eTest, DurationAboveTheMaximumIsRejected) {
  auto r = kubectl(env(), "alice", {"create", "-f", "-"},
                   requestYaml(ns_, uniqueName("req"), policy_, kReasonTicket, "5h"));
  expectDenied(r, "spec.duration: duration 5h exceeds the maximum 4h of policy " + policy_);
}

TEST_F(WebhookE2eTest, MissingReasonIsRejected) {
  auto r = kubectl(env(), "alice", {"create", "-f", "-"},
                   requestYaml(ns_, uniqueName("req"), policy_, "  ticket: INC-4211\n"));
  expectDenied(
      r, "spec.reason: a reason is required by policy " + policy_ + ": say why you need access");
}

TEST_F(WebhookE2eTest, TicketNotMatchingThePatternIsRejected) {
  auto r = kubectl(
      env(), "alice", {"create", "-f", "-"},
      requestYaml(ns_, uniqueName("req"), policy_, "  reason: orders stuck\n  ticket: JIRA-12\n"));
  expectDenied(r,
               "spec.ticket: ticket \"JIRA-12\" does not match ^INC-[0-9]+$ required by "
               "policy " +
                   policy_);
}

TEST_F(WebhookE2eTest, ForgedRequesterIsRejected) {
  auto r =
      kubectl(env(), "alice", {"create", "-f", "-"},
              requestYaml(ns_, uniqueName("req"), policy_,
                          std::string(kReasonTicket) +
                              "  requester:\n    username: carol\n    groups: [payments-leads]\n"));
  expectDenied(r,
               "spec.requester: username \"carol\" is not the caller \"alice\"; requests are "
               "always made in the caller's own name (leave spec.requester out)");
}

TEST_F(WebhookE2eTest, OutsiderCannotRequest) {
  auto r = kubectl(env(), "mallory", {"create", "-f", "-"},
                   requestYaml(ns_, uniqueName("req"), policy_, kReasonTicket));
  expectDenied(r,
               "spec.policy: user mallory (groups: system:authenticated) is not a requester "
               "of policy " +
                   policy_ + " (requesters: groups payments-devs)");
}

TEST_F(WebhookE2eTest, SpecEditAfterCreationIsRejected) {
  std::string name = createPending();
  auto r = kubectl(
      env(), "alice",
      {"patch", "areq", name, "-n", ns_, "--type=merge", "-p", R"({"spec":{"duration":"4h"}})"});
  expectDenied(r,
               "spec.duration: cannot be changed after creation; the only allowed spec change "
               "is setting spec.revoke to true");
}

TEST_F(WebhookE2eTest, RequesterMayRevoke) {
  std::string name = createPending();
  auto r = kubectl(
      env(), "alice",
      {"patch", "areq", name, "-n", ns_, "--type=merge", "-p", R"({"spec":{"revoke":true}})"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("Warning: revocation requested by alice"), std::string::npos) << r.err;
  EXPECT_EQ(jsonpath(name, ".spec.revoke"), "true");
}

TEST_F(WebhookE2eTest, RequesterCannotRemoveTheRevokeFinalizerEvenAfterDeleting) {
  std::string name = createPending();
  // The operator adds the finalizer before granting anything.
  auto r = kubectl(env(), "operator",
                   {"patch", "areq", name, "-n", ns_, "--type=merge", "-p",
                    R"({"metadata":{"finalizers":["kubegrant.io/revoke"]}})"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  // Whatever fails below, the finalizer must not outlive the test (nothing else removes it
  // here, and the namespace could never be deleted).
  struct DropFinalizer {
    const TestEnv& env;
    std::string ns, name;
    ~DropFinalizer() {
      kubectl(env, "operator",
              {"patch", "areq", name, "-n", ns, "--type=merge", "-p",
               R"({"metadata":{"finalizers":null}})"});
    }
  } dropFinalizer{env(), ns_, name};
  const std::string removeIt = R"([{"op":"remove","path":"/metadata/finalizers/0"}])";
  const std::string denial =
      "metadata.finalizers: kubegrant.io/revoke may only be removed by the kubegrant operator, "
      "once it has verified that every grant of this request is revoked; alice may not remove "
      "it (delete the request or set spec.revoke to true instead)";
  r = kubectl(env(), "alice", {"patch", "areq", name, "-n", ns_, "--type=json", "-p", removeIt});
  expectDenied(r, denial);
  // Deleting is allowed (revocation then runs); dropping the finalizer of the deleted request
  // is still refused, so the request stays until the operator has verified the revocation.
  r = kubectl(env(), "alice", {"delete", "areq", name, "-n", ns_, "--wait=false"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_FALSE(jsonpath(name, ".metadata.deletionTimestamp").empty());
  r = kubectl(env(), "alice", {"patch", "areq", name, "-n", ns_, "--type=json", "-p", removeIt});
  expectDenied(r, denial);
  EXPECT_EQ(jsonpath(name, ".metadata.finalizers"), R"(["kubegrant.io/revoke"])");
  // The operator's own identity may remove it (never sent to the webhook, and trusted by it).
  r = kubectl(env(), "operator", {"patch", "areq", name, "-n", ns_, "--type=json", "-p", removeIt});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = kubectl(env(), "admin", {"get", "areq", name, "-n", ns_});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("NotFound"), std::string::npos) << r.err;
}

TEST_F(WebhookE2eTest, SelfApprovalIsRejected) {
  std::string name = createPending();
  auto r = addDecision("alice", name, R"({"decision":"Approve"})");
  expectDenied(r,
               "status.approvals[0]: self-approval is not allowed: alice requested this access "
               "and cannot decide on it");
}

TEST_F(WebhookE2eTest, ApprovalByAnOutsiderIsRejected) {
  std::string name = createPending();
  auto r = addDecision("mallory", name, R"({"decision":"Approve"})");
  expectDenied(r,
               "status.approvals[0]: user mallory (groups: system:authenticated) is not an "
               "approver of policy " +
                   policy_ + " (approvers: groups payments-leads)");
}

TEST_F(WebhookE2eTest, ApprovalInSomeoneElsesNameIsRejected) {
  std::string name = createPending();
  auto r = addDecision("bob", name, R"({"decision":"Approve","approver":"carol"})");
  expectDenied(r,
               "status.approvals[0].approver: \"carol\" is not the caller \"bob\"; decisions "
               "are recorded under the caller's own name (leave approver out)");
}

TEST_F(WebhookE2eTest, ValidApprovalIsStampedWithTheApproverAndTime) {
  std::string name = createPending();
  auto r = addDecision("bob", name, R"({"decision":"Approve","comment":"ok, 2h"})");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("Warning: approvals: 1 of 1 required; the operator grants access now"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(jsonpath(name, ".status.approvals[0].approver"), "bob");
  EXPECT_EQ(jsonpath(name, ".status.approvals[0].comment"), "ok, 2h");
  EXPECT_FALSE(jsonpath(name, ".status.approvals[0].time").empty());
  // A second decision by the same approver is refused.
  r = addDecision("bob", name, R"({"decision":"Deny"})");
  expectDenied(r,
               "status.approvals[1]: bob has already decided (Approve) on this request; each "
               "approver decides once");
}

TEST_F(WebhookE2eTest, RequesterCannotSetThePhase) {
  std::string name = createPending();
  auto r = kubectl(env(), "alice",
                   {"patch", "areq", name, "-n", ns_, "--subresource=status", "--type=merge", "-p",
                    R"({"status":{"phase":"Active"}})"});
  expectDenied(r,
               "status.phase: is owned by the kubegrant operator; approvers may only append "
               "to status.approvals");
  EXPECT_EQ(jsonpath(name, ".status.phase"), "Pending");
}

TEST_F(WebhookE2eTest, ApprovalAfterExpiryIsRejected) {
  std::string name = createPending();
  setStatusAsOperator(name, R"({"status":{"phase":"Expired"}})");
  auto r = addDecision("bob", name, R"({"decision":"Approve"})");
  expectDenied(r, "status.approvals[0]: request " + name +
                      " is Expired: no decisions are accepted after it has ended");
}

// A policy for payments-devs approved by payments-leads, with `extra` lines under spec.
std::string minimalPolicyYaml(const std::string& name, const std::string& extra) {
  return fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessPolicy
metadata:
  name: {}
spec:
  requesters: {{groups: [payments-devs]}}
  defaultDuration: 1h
  maxDuration: 4h
  approval: {{approvers: {{groups: [payments-leads]}}, required: 1}}
{})",
                     name, extra);
}

TEST_F(WebhookE2eTest, PolicyWithABrokenTicketPatternIsRejectedByThePolicyWebhook) {
  std::string bad = uniqueName("wh-bad");
  auto r =
      kubectl(env(), "admin", {"create", "-f", "-"}, minimalPolicyYaml(bad, R"(  pendingTimeout: 90m
  ticketPattern: "^INC-[0-9+$"
)"));
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("admission webhook \"vaccesspolicy.kubegrant.io\" denied the request: "
                       "spec.ticketPattern: invalid regular expression"),
            std::string::npos)
      << r.err;
  kubectl(env(), "admin", {"delete", "accesspolicy", bad, "--ignore-not-found"});
}

// The operator may read any Secret; a policy or target must not make it use one outside its
// --secret-namespace (here kubegrant-system, the operator's default), even when a cluster
// admin asks.
TEST_F(WebhookE2eTest, SecretsOutsideTheOperatorsSecretNamespaceAreRefusedNamingTheField) {
  const std::string target = uniqueName("wh-foreign-db");
  std::string yaml = targetYaml(target);
  const std::string from = "adminSecretRef: {namespace: kubegrant-system,";
  yaml.replace(yaml.find(from), from.size(), "adminSecretRef: {namespace: team-b,");
  auto r = kubectl(env(), "admin", {"create", "-f", "-"}, yaml);
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("admission webhook \"vdatabasetarget.kubegrant.io\" denied the request: "
                       "spec.adminSecretRef.namespace: Secrets may only be referenced in "
                       "namespace kubegrant-system"),
            std::string::npos)
      << r.err;

  const std::string policy = uniqueName("wh-foreign-hook");
  r = kubectl(env(), "admin", {"create", "-f", "-"}, minimalPolicyYaml(policy, R"(  notify:
    - name: stolen
      urlSecretRef: {namespace: team-b, name: their-webhook, key: url}
)"));
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("admission webhook \"vaccesspolicy.kubegrant.io\" denied the request: "
                       "spec.notify[0].urlSecretRef.namespace: Secrets may only be referenced"),
            std::string::npos)
      << r.err;
  kubectl(env(), "admin", {"delete", "databasetarget", target, "--ignore-not-found"});
  kubectl(env(), "admin", {"delete", "accesspolicy", policy, "--ignore-not-found"});
}

}  // namespace
}  // namespace kubegrant::webhooks
