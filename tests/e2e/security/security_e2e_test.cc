// End to end, issue 11 (webhook side): the real API server calls the real webhook (sealing on,
// keys from a real Secret, open requests counted from an AccessRequest informer), and users
// attack through kubectl with their own kubeconfigs: deleting someone's request or the audit
// record, padding a request until it cannot be updated, exceeding the policy's limits,
// writing seals, and trusting a group named like the operator's. Each attack is refused with
// the message naming the rule, and the refusal is an audit line.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "crds/v1alpha1/types.h"
#include "operator/common/base64.h"
#include "operator/common/clock.h"
#include "operator/common/time.h"
#include "operator/kube/config.h"
#include "operator/kube/rest/rest_client.h"
#include "operator/runtime/informer.h"
#include "operator/seal/forms.h"
#include "operator/seal/secret_keyring.h"
#include "tests/support/free_port.h"
#include "tests/support/test_env.h"
#include "tests/support/webhook_e2e.h"
#include "webhooks/server/certs.h"
#include "webhooks/server/https_server.h"
#include "webhooks/server/informer_lookup.h"
#include "webhooks/server/informer_request_lookup.h"
#include "webhooks/server/webhook_server.h"

namespace kubegrant::webhooks {
namespace {

using namespace std::chrono_literals;
using testing::CommandResult;
using testing::kubectl;
using testing::runCommand;
using testing::TestEnv;
using testing::uniqueName;

const std::string kSourceDir = KUBEGRANT_SOURCE_DIR;
const std::string& kValidating = testing::kValidatingRefusal;

[[maybe_unused]] ::testing::Environment* const kSmallHttpPool =
    ::testing::AddGlobalTestEnvironment(new testing::SmallHttpPool);

// Everything the suite starts: one webhook server, its caches and keys, one registration.
struct Harness {
  TestEnv env;
  std::string dir, configName, keysNamespace, webhookYaml;
  std::unique_ptr<kube::Client> client;
  SystemClock clock;
  std::unique_ptr<runtime::Informer> policyInformer, requestInformer;
  std::unique_ptr<InformerPolicyLookup::Store> policyStore;
  std::shared_ptr<InformerPolicyLookup> policies;
  std::shared_ptr<InformerRequestLookup> requests;
  std::shared_ptr<seal::HmacSealer> sealer = std::make_shared<seal::HmacSealer>();
  std::unique_ptr<runtime::Informer> secretInformer;
  std::unique_ptr<seal::SecretKeyring> keyring;
  std::unique_ptr<WebhookServer> server;
  std::mutex auditMu;
  std::vector<nlohmann::json> audit;  // refusal lines, as the operator's audit log gets them
};
Harness* harness = nullptr;

void mustAdmin(std::vector<std::string> args, std::string_view input = {}) {
  auto r = kubectl(harness->env, "admin", std::move(args), input);
  ASSERT_EQ(r.exitCode, 0) << r.err;
}

std::string renderWebhooks(const std::string& url, const std::string& configName,
                           const std::string& identity) {
  auto r = runCommand({"env", "WEBHOOK_CONFIG_NAME=" + configName,
                       kSourceDir + "/operator/deploy/render-webhooks.sh", url, harness->env.caCert,
                       identity});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  return r.out;
}

void unregister(const std::string& configName) {
  for (const char* kind : {"mutatingwebhookconfiguration", "validatingwebhookconfiguration"}) {
    kubectl(harness->env, "admin", {"delete", kind, configName, "--ignore-not-found"});
  }
}

// Polls `probe` until it returns true or `timeout` passes.
bool eventually(const std::function<bool()>& probe, std::chrono::seconds timeout = 30s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (probe()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return probe();
}

class SecurityE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto envOpt = testing::requireEnv();
    if (!envOpt) return;
    harness = new Harness();
    Harness& h = *harness;
    h.env = *envOpt;
    h.dir = h.env.dir + "/" + uniqueName("security-e2e");
    h.configName = uniqueName("kubegrant-security-e2e");
    h.keysNamespace = uniqueName("kg-sec-keys");

    mustAdmin({"apply", "--server-side", "--force-conflicts", "-f", kSourceDir + "/crds/"});
    mustAdmin({"apply", "-f", kSourceDir + "/operator/deploy/rbac-users.yaml"});
    mustAdmin({"apply", "-f", "-"}, testing::kWebhookE2eOperatorRbac);
    mustAdmin({"wait", "--for=condition=Established", "--timeout=60s",
               "crd/accessrequests.kubegrant.io", "crd/accesspolicies.kubegrant.io"});

    // The seal keys, in a Secret only the operator's identity may read (by name).
    mustAdmin({"create", "namespace", h.keysNamespace});
    std::string keys = "k2 " + base64Encode(std::string(32, '2')) + "\nk1 " +
                       base64Encode(std::string(32, '1')) + "\n";
    mustAdmin({"apply", "-f", "-"}, fmt::format(R"(apiVersion: v1
kind: Secret
metadata: {{name: seal-keys, namespace: {0}}}
data: {{keys: {1}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: seal-keys, namespace: {0}}}
rules:
  - {{apiGroups: [""], resources: [secrets], resourceNames: [seal-keys], verbs: [get, list, watch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: seal-keys, namespace: {0}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: seal-keys}}
subjects: [{{kind: User, apiGroup: rbac.authorization.k8s.io, name: kubegrant-operator}}]
)",
                                                h.keysNamespace, base64Encode(keys)));

    CertificateRequest certs;
    certs.dir = h.dir + "/certs";
    certs.caCertFile = h.env.caCert;
    certs.caKeyFile = h.env.caKey;
    auto generated = generateCertificates(certs);
    ASSERT_TRUE(generated) << generated.error().message;

    // As the operator does: informers and the keys' watch over the operator's identity.
    auto config = kube::loadKubeconfig(h.env.kubeconfig("operator"));
    ASSERT_TRUE(config) << config.error().message;
    auto client = kube::rest::makeRestClient(*config);
    ASSERT_TRUE(client) << client.error().message;
    h.client = std::move(*client);
    h.policyInformer =
        std::make_unique<runtime::Informer>(*h.client, kube::resources::accessPolicies(), h.clock);
    h.requestInformer =
        std::make_unique<runtime::Informer>(*h.client, kube::resources::accessRequests(), h.clock);
    h.requestInformer->addIndexer(kOpenRequestsIndex, openRequestsIndex());
    h.policyStore = std::make_unique<InformerPolicyLookup::Store>(
        *h.policyInformer,
        [](const kube::Object& o) { return v1alpha1::fromJson<v1alpha1::AccessPolicy>(o.body); });
    h.policyInformer->start();
    h.requestInformer->start();
    ASSERT_TRUE(h.policyInformer->waitForSync(30s));
    ASSERT_TRUE(h.requestInformer->waitForSync(30s));
    h.policies = std::make_shared<InformerPolicyLookup>(*h.policyStore);
    h.requests = std::make_shared<InformerRequestLookup>(*h.requestInformer);
    seal::SealKeysSecret ref;
    ref.namespace_ = h.keysNamespace;
    ref.name = "seal-keys";
    h.secretInformer = std::make_unique<runtime::Informer>(
        *h.client, kube::resources::secrets(), h.clock, seal::SecretKeyring::informerOptions(ref));
    h.keyring = std::make_unique<seal::SecretKeyring>(*h.secretInformer, *h.sealer, ref);
    h.secretInformer->start();
    std::string why;
    ASSERT_TRUE(h.keyring->waitForKeys(30s, &why)) << why;

    WebhookServerConfig wc;
    wc.address = "127.0.0.1";
    wc.port = ::kubegrant::testing::freeLoopbackPort();
    wc.certDir = certs.dir;
    wc.operatorIdentity.username = "kubegrant-operator";
    wc.adminGroups = {"system:masters"};  // the suite's admin user
    wc.policies = h.policies;
    wc.requests = h.requests;
    wc.sealer = h.sealer;
    wc.audit = [](const nlohmann::json& line) {
      std::lock_guard lock(harness->auditMu);
      harness->audit.push_back(line);
    };
    h.server = std::make_unique<WebhookServer>(std::move(wc));
    auto started = h.server->start();
    ASSERT_TRUE(started) << started.error().message;

    h.webhookYaml = renderWebhooks(h.server->url(), h.configName, "kubegrant-operator");
    mustAdmin({"apply", "-f", "-"}, h.webhookYaml);
    // The API server picks registrations up asynchronously: wait for our webhook's answer.
    std::string probe = requestYaml("default", "probe", uniqueName("no-such-policy"), "");
    CommandResult r;
    bool answered = eventually([&] {
      r = kubectl(h.env, "alice", {"create", "--dry-run=server", "-f", "-"}, probe);
      return r.err.find(kValidating) != std::string::npos;
    });
    ASSERT_TRUE(answered) << "webhook never answered: " << r.err;
  }

  static void TearDownTestSuite() {
    if (harness == nullptr) return;
    unregister(harness->configName);
    if (harness->server) harness->server->stop();
    if (harness->secretInformer) harness->secretInformer->stop();
    if (harness->requestInformer) harness->requestInformer->stop();
    if (harness->policyInformer) harness->policyInformer->stop();
    kubectl(harness->env, "admin",
            {"delete", "namespace", harness->keysNamespace, "--wait=false", "--ignore-not-found"});
    std::error_code ec;
    std::filesystem::remove_all(harness->dir, ec);
    delete harness;
    harness = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(harness, nullptr) << "suite setup failed";
    ASSERT_TRUE(harness->server) << "suite setup failed";
    ns_ = uniqueName("sec");
    policy_ = uniqueName("sec-oncall");
    auto r = kubectl(env(), "admin", {"create", "namespace", ns_});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    r = kubectl(env(), "admin", {"apply", "-f", "-"},
                fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessPolicy
metadata: {{name: {}}}
spec:
  requesters: {{groups: [payments-devs]}}
  namespaces: [{}]
  roles: [{{kind: ClusterRole, name: view}}]
  defaultDuration: 1h
  maxDuration: 4h
  retainFor: 720h
  maxOpenRequests: 2
  approval:
    approvers: {{groups: [payments-leads]}}
    required: 1
)",
                            policy_, ns_));
    ASSERT_EQ(r.exitCode, 0) << r.err;
    ASSERT_TRUE(eventually([&] { return harness->policies->get(policy_) != nullptr; }, 10s))
        << "policy never reached the informer";
  }

  void TearDown() override {
    if (harness == nullptr) return;
    kubectl(env(), "admin", {"delete", "namespace", ns_, "--wait=false", "--ignore-not-found"});
    kubectl(env(), "admin", {"delete", "accesspolicy", policy_, "--ignore-not-found"});
  }

  static const TestEnv& env() { return harness->env; }

  static std::string requestYaml(const std::string& ns, const std::string& name,
                                 const std::string& policy, const std::string& extraSpec) {
    return fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessRequest
metadata: {{name: {}, namespace: {}}}
spec:
  policy: {}
  duration: 1h
  roles: [{{kind: ClusterRole, name: view, namespaces: [{}]}}]
{})",
                       name, ns, policy, ns, extraSpec);
  }

  CommandResult createAsAlice(const std::string& name, const std::string& extraSpec = "") {
    return kubectl(env(), "alice", {"create", "-f", "-"},
                   requestYaml(ns_, name, policy_, extraSpec));
  }

  // A request alice made, with status as the operator first writes it.
  std::string createPending() {
    std::string name = uniqueName("req");
    auto r = createAsAlice(name);
    EXPECT_EQ(r.exitCode, 0) << r.err;
    setStatusAsOperator(name, testing::kPendingStatus);
    return name;
  }

  void setStatusAsOperator(const std::string& name, const std::string& mergePatch) {
    auto r = testing::patchStatus(env(), "operator", ns_, name, mergePatch);
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }

  CommandResult addDecision(const std::string& user, const std::string& name,
                            const std::string& decision) {
    return testing::appendDecision(env(), user, ns_, name, R"({"decision":")" + decision + R"("})");
  }

  std::string jsonpath(const std::string& name, const std::string& path) {
    auto r =
        kubectl(env(), "admin", {"get", "areq", name, "-n", ns_, "-o", "jsonpath={" + path + "}"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return r.out;
  }

  v1alpha1::AccessRequest fetch(const std::string& name) {
    auto r = kubectl(env(), "admin", {"get", "areq", name, "-n", ns_, "-o", "json"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    auto typed = v1alpha1::fromJsonText<v1alpha1::AccessRequest>(r.out);
    EXPECT_TRUE(typed) << (typed ? "" : typed.error().message);
    return typed ? *typed : v1alpha1::AccessRequest{};
  }

  // kubectl prints the webhook's message after this prefix, then a newline; and the refusal
  // is an audit line naming the same rule.
  void expectRefused(const CommandResult& r, const std::string& message) {
    EXPECT_NE(r.exitCode, 0) << r.out;
    EXPECT_NE(r.err.find(kValidating + message + "\n"), std::string::npos)
        << "expected: " << message << "\nkubectl said: " << r.err;
    std::lock_guard lock(harness->auditMu);
    bool audited = false;
    for (const auto& line : harness->audit) {
      audited = audited || (line["event"] == "refused" && line["message"] == message);
    }
    EXPECT_TRUE(audited) << "no audit line for: " << message;
  }

  std::string ns_;
  std::string policy_;
};

// ---------------------------------------------------------------------------------------
// DELETE

TEST_F(SecurityE2eTest, AnOutsiderCannotDeleteSomeoneElsesRequest) {
  std::string name = createPending();
  auto r = kubectl(env(), "mallory", {"delete", "areq", name, "-n", ns_});
  expectRefused(r, fmt::format("metadata: mallory may not delete request {}; only its requester "
                               "(alice) or an approver of policy {} (groups [payments-leads]) "
                               "may while it is not ended, and the kubegrant operator or the "
                               "admin group after",
                               name, policy_));
  EXPECT_EQ(jsonpath(name, ".metadata.name"), name);
  // Its requester may (the operator then revokes whatever was granted).
  r = kubectl(env(), "alice", {"delete", "areq", name, "-n", ns_});
  EXPECT_EQ(r.exitCode, 0) << r.err;
}

TEST_F(SecurityE2eTest, TheAuditRecordOfADeniedRequestCannotBeDeletedOrReplaced) {
  std::string name = createPending();
  std::string ended = formatRfc3339(harness->clock.now());
  std::string until = formatRfc3339(*parseRfc3339(ended) + std::chrono::hours(720));
  setStatusAsOperator(name, R"({"status":{"phase":"Denied","endedAt":")" + ended + R"("}})");
  for (const char* user : {"alice", "bob"}) {
    auto r = kubectl(env(), user, {"delete", "areq", name, "-n", ns_});
    expectRefused(r, fmt::format("metadata: request {} is Denied and is kept as the audit "
                                 "record until {} (endedAt + retainFor 720h of policy {}); {} "
                                 "may not delete it before then (the kubegrant operator deletes "
                                 "it after retainFor; the admin group may earlier)",
                                 name, until, policy_, user));
  }
  // So the Deny cannot be wiped by re-creating the request under the same name.
  auto again = createAsAlice(name);
  EXPECT_NE(again.exitCode, 0);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  EXPECT_EQ(jsonpath(name, ".status.phase"), "Denied");
  // The admin group may delete the record early.
  auto r = kubectl(env(), "admin", {"delete", "areq", name, "-n", ns_});
  EXPECT_EQ(r.exitCode, 0) << r.err;
}

TEST_F(SecurityE2eTest, ADenyCannotBeWipedBeforeTheOperatorMarksTheRequestDenied) {
  std::string name = createPending();
  auto r = addDecision("bob", name, "Deny");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = kubectl(env(), "alice", {"delete", "areq", name, "-n", ns_});
  expectRefused(r, fmt::format("metadata: request {} is denied and is kept as the audit record "
                               "for the retainFor of policy {}; alice may not delete it before "
                               "then (the kubegrant operator deletes it after retainFor; the "
                               "admin group may earlier)",
                               name, policy_));
}

// ---------------------------------------------------------------------------------------
// Metadata

TEST_F(SecurityE2eTest, OnlyTheRequesterApproversAndAdminsChangeMetadataWithinTheLimit) {
  std::string name = createPending();
  auto r = kubectl(env(), "mallory", {"annotate", "areq", name, "-n", ns_, "pad=x"});
  expectRefused(r, fmt::format("metadata: mallory may not change the labels, annotations, "
                               "ownerReferences or finalizers of this request; only its "
                               "requester (alice), an approver of policy {} (groups "
                               "[payments-leads]), the kubegrant operator or the admin group may",
                               policy_));
  r = kubectl(env(), "bob", {"label", "areq", name, "-n", ns_, "reviewed=bob"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  r = kubectl(env(), "alice",
              {"annotate", "areq", name, "-n", ns_, "pad=" + std::string(40000, 'x')});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find(kValidating +
                       "metadata: labels, annotations, ownerReferences and finalizers together "
                       "take 40014 bytes, above the limit of 32768 bytes (32 KiB) for an "
                       "AccessRequest; remove some\n"),
            std::string::npos)
      << r.err;
}

TEST_F(SecurityE2eTest, NoPaddingMakesARequestTooBigToDenyOrRevoke) {
  std::string name = createPending();
  // The worst case: metadata padded by an identity the webhook never sees (here the
  // operator's), ~0.7 MB of labels plus their managedFields: each review of a later update
  // carries it twice (old and new object), far above the 1 MiB the webhook used to accept.
  std::string patch = R"({"metadata":{"labels":{)";
  for (int i = 0; i < 8000; ++i) {
    if (i > 0) patch += ',';
    patch += fmt::format(R"("pad.example.com/k{:05}":"{}")", i, std::string(63, 'v'));
  }
  patch += "}}}";
  std::string file = harness->dir + "/" + name + "-padding.json";
  std::ofstream(file) << patch;
  auto r = kubectl(env(), "operator",
                   {"patch", "areq", name, "-n", ns_, "--type=merge", "--patch-file", file});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto size = kubectl(env(), "admin",
                      {"get", "areq", name, "-n", ns_, "-o", "json", "--show-managed-fields"});
  ASSERT_GT(size.out.size(), 1u << 20) << "not padded enough to show anything";
  // bob's Deny and alice's revoke still pass the webhook.
  r = addDecision("bob", name, "Deny");
  EXPECT_EQ(r.exitCode, 0) << r.err;
  r = kubectl(
      env(), "alice",
      {"patch", "areq", name, "-n", ns_, "--type=merge", "-p", R"({"spec":{"revoke":true}})"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(jsonpath(name, ".spec.revoke"), "true");
  // And an outsider cannot add to it.
  r = kubectl(env(), "mallory", {"label", "areq", name, "-n", ns_, "more=x"});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find(kValidating + "metadata: mallory may not change"), std::string::npos)
      << r.err.substr(0, 2000);
}

// ---------------------------------------------------------------------------------------
// Limits

TEST_F(SecurityE2eTest, MaxOpenRequestsCountsOnlyOpenRequests) {
  std::string first = createPending();
  createPending();
  ASSERT_TRUE(eventually([&] { return harness->requests->countOpen(policy_, "alice") == 2; }, 10s));
  auto r = createAsAlice(uniqueName("req"));
  expectRefused(r, fmt::format("spec.policy: alice already has 2 open (Pending, Approved or "
                               "Active) requests under policy {}, the maximum its "
                               "maxOpenRequests allows; revoke or finish one first",
                               policy_));
  // An ended request no longer counts.
  setStatusAsOperator(first, R"({"status":{"phase":"Expired"}})");
  ASSERT_TRUE(eventually([&] { return harness->requests->countOpen(policy_, "alice") == 1; }, 10s));
  r = createAsAlice(uniqueName("req"));
  EXPECT_EQ(r.exitCode, 0) << r.err;
}

TEST_F(SecurityE2eTest, StartAtAndApprovalsAreBoundedByThePolicy) {
  auto now = std::chrono::floor<std::chrono::seconds>(harness->clock.now());
  std::string far = formatRfc3339(now + std::chrono::hours(200));
  auto r = createAsAlice(uniqueName("req"), "  startAt: \"" + far + "\"\n");
  expectRefused(r, fmt::format("spec.startAt: startAt {} is more than maxStartDelay 168h ahead "
                               "(policy {}); request closer to the time you need access",
                               far, policy_));
  std::string start = formatRfc3339(now + std::chrono::hours(72));
  std::string name = uniqueName("req");
  r = createAsAlice(name, "  startAt: \"" + start + "\"\n");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  setStatusAsOperator(name, testing::kPendingStatus);
  r = addDecision("bob", name, "Approve");
  expectRefused(r, fmt::format("status.approvals[0]: too early: an approval counts for "
                               "approvalValidFor 24h (policy {}) and this request starts at {}; "
                               "approve from {} on",
                               policy_, start, formatRfc3339(now + std::chrono::hours(48))));
  // A denial is never too early.
  r = addDecision("bob", name, "Deny");
  EXPECT_EQ(r.exitCode, 0) << r.err;
}

TEST_F(SecurityE2eTest, KubectlExplainDescribesTheLimitsAndSeals) {
  for (const auto& [field, words] : std::vector<std::pair<std::string, std::string>>{
           {"accesspolicy.spec.maxOpenRequests", "open (Pending, Approved or Active) requests"},
           {"accesspolicy.spec.maxStartDelay", "How far ahead of its creation"},
           {"accesspolicy.spec.approvalValidFor", "How long an Approve decision stays valid"},
           {"accessrequest.spec.requesterSeal", "The admission webhook's seal"},
           {"accessrequest.status.approvals.seal", "Only decisions"},
           {"accessrequest.status.seal", "treated as tampering"}}) {
    auto r = kubectl(env(), "alice", {"explain", field});
    ASSERT_EQ(r.exitCode, 0) << field << ": " << r.err;
    std::string flat = r.out;
    std::replace(flat.begin(), flat.end(), '\n', ' ');
    std::string squeezed;
    for (char c : flat) {
      if (c == ' ' && !squeezed.empty() && squeezed.back() == ' ') continue;
      squeezed += c;
    }
    EXPECT_NE(squeezed.find(words), std::string::npos) << field << ": " << r.out;
  }
}

// ---------------------------------------------------------------------------------------
// Seals

TEST_F(SecurityE2eTest, TheWebhookSealsTheRequesterAndEachApproval) {
  std::string name = createPending();
  auto r = addDecision("bob", name, "Approve");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto stored = fetch(name);
  ASSERT_TRUE(stored.spec.requesterSeal);
  EXPECT_EQ(stored.spec.requesterSeal->rfind("v1.k2.", 0), 0u) << "the newest key seals";
  EXPECT_TRUE(harness->sealer->verify(seal::requesterForm(stored), *stored.spec.requesterSeal));
  ASSERT_EQ(stored.status->approvals.size(), 1u);
  const auto& a = stored.status->approvals[0];
  ASSERT_TRUE(a.seal);
  EXPECT_TRUE(harness->sealer->verify(seal::approvalForm(stored.metadata.uid, a), *a.seal));
  // The seal binds the request: the same approval on another request does not verify.
  EXPECT_FALSE(harness->sealer->verify(seal::approvalForm("another-uid", a), *a.seal));
}

TEST_F(SecurityE2eTest, WithoutTheMutatingWebhookNoClientWrittenSealIsAccepted) {
  std::string genuine = createPending();
  std::string copied = *fetch(genuine).spec.requesterSeal;
  // The mutating webhook gone (an upgrade, a broken configuration): the validating one stays.
  auto r = kubectl(env(), "admin", {"delete", "mutatingwebhookconfiguration", harness->configName});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  struct Restore {
    std::string probe;
    ~Restore() {
      kubectl(harness->env, "admin", {"apply", "-f", "-"}, harness->webhookYaml);
      // Back in the path once a create without a requester is stamped (and so allowed).
      bool back = eventually([&] {
        return kubectl(harness->env, "alice", {"create", "--dry-run=server", "-f", "-"}, probe)
                   .exitCode == 0;
      });
      EXPECT_TRUE(back) << "the mutating webhook did not come back";
    }
  } restore{requestYaml(ns_, uniqueName("req"), policy_, "")};
  const std::string requester =
      "  requester: {username: alice, groups: [payments-devs, system:authenticated]}\n";
  const std::string missing =
      "spec.requesterSeal: missing; it is stamped by the kubegrant mutating webhook (is the "
      "MutatingWebhookConfiguration installed?)";
  ASSERT_TRUE(eventually([&] {
    r = kubectl(env(), "alice", {"create", "--dry-run=server", "-f", "-"},
                requestYaml(ns_, uniqueName("req"), policy_, requester));
    return r.err.find(missing) != std::string::npos;
  })) << r.err;
  expectRefused(r, missing);
  // A seal copied from alice's genuine request, onto a request for 4h instead of 1h.
  std::string yaml = requestYaml(ns_, uniqueName("req"), policy_,
                                 requester + "  requesterSeal: \"" + copied + "\"\n");
  yaml.replace(yaml.find("duration: 1h"), 12, "duration: 4h");
  r = kubectl(env(), "alice", {"create", "-f", "-"}, yaml);
  expectRefused(r,
                "spec.requesterSeal: does not verify: it was not made by kubegrant for these "
                "values (tampered or forged); seals are written by the kubegrant mutating "
                "webhook only, never by clients");
  // A fake approval with a made-up seal.
  r = kubectl(
      env(), "bob",
      {"patch", "areq", genuine, "-n", ns_, "--subresource=status", "--type=json", "-p",
       R"([{"op":"add","path":"/status/approvals/-","value":{"decision":"Approve",)"
       R"("approver":"bob","seal":"v1.k2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}])"});
  expectRefused(r,
                "status.approvals[0].seal: does not verify: it was not made by kubegrant for "
                "these values (tampered or forged); seals are written by the kubegrant mutating "
                "webhook only, never by clients");
}

// ---------------------------------------------------------------------------------------
// Identity

TEST_F(SecurityE2eTest, TheOperatorIsOneConfiguredIdentityAndNoGroup) {
  // A second webhook whose configured operator is the in-cluster ServiceAccount: the local
  // user kubegrant-operator (certificate group kubegrant:operators) is then just a user,
  // sent to the webhook and refused like any other.
  const std::string sa = "system:serviceaccount:kubegrant-system:kubegrant-operator";
  WebhookServerConfig wc;
  wc.address = "127.0.0.1";
  wc.port = ::kubegrant::testing::freeLoopbackPort();
  wc.certDir = harness->dir + "/certs";
  wc.operatorIdentity.username = sa;
  wc.policies = harness->policies;
  wc.sealer = harness->sealer;
  WebhookServer other(std::move(wc));
  ASSERT_TRUE(other.start());
  std::string name = createPending();  // before the second registration sees the operator
  std::string configName = uniqueName("kubegrant-security-e2e-sa");
  mustAdmin({"apply", "-f", "-"}, renderWebhooks(other.url(), configName, sa));
  struct Unregister {
    std::string name;
    ~Unregister() { unregister(name); }
  } cleanup{configName};
  const std::vector<std::string> activate = {
      "patch",        "areq", name,
      "-n",           ns_,    "--subresource=status",
      "--type=merge", "-p",   R"({"status":{"phase":"Active"}})"};
  CommandResult r;
  ASSERT_TRUE(eventually([&] {
    auto dry = activate;
    dry.push_back("--dry-run=server");
    return kubectl(env(), "operator", dry).exitCode != 0;
  })) << "the second webhook never answered";
  r = kubectl(env(), "operator", activate);
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find(kValidating +
                       "status.phase: is owned by the kubegrant operator; approvers may only "
                       "append to status.approvals\n"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(jsonpath(name, ".status.phase"), "Pending");
}

}  // namespace
}  // namespace kubegrant::webhooks
