#include "controllers/access_request/reconciler.h"

#include <gtest/gtest.h>

#include <atomic>

#include "controllers/access_request/sweeper.h"
#include "operator/common/base64.h"
#include "operator/runtime/testing/fake_client.h"
#include "operator/seal/forms.h"
#include "operator/seal/seal.h"
#include "tests/unit/access_request/fixtures.h"
#include "tests/unit/runtime/test_util.h"

namespace kubegrant::controllers::access_request {
namespace {

using namespace testing;
using nlohmann::json;
using runtime::testing::FakeAction;
using runtime::testing::FakeClient;

const kube::ObjectKey kKey{"payments", "debug-orders"};

// The reconciler against the recording fake client under a fixed fake clock; each test
// asserts the exact writes and the Events/audit lines produced.
class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest()
      : clock_(at("2026-11-29T10:00:00Z")),
        client_(&clock_),
        reconciler_(
            client_, clock_, &audit_,
            [this](const v1::AccessRequest&, const RequestEvent& e) {
              events_.push_back(e.type + " " + e.reason);
            },
            &metrics_) {
    client_.enableStatusSubresource(kube::resources::accessRequests());
  }

  void seedPolicy(json patch = json::object()) {
    auto p = makePolicy();
    p.merge_patch(patch);
    client_.seed(kube::resources::accessPolicies(), kube::Object(p));
  }
  void seedRequest(json patch = json::object()) {
    auto r = makeRequest();
    r["metadata"].erase("creationTimestamp");
    r["metadata"].erase("uid");
    r.merge_patch(patch);
    client_.seed(kube::resources::accessRequests(), kube::Object(r));
  }
  v1::AccessRequest stored() {
    return *v1::fromJson<v1::AccessRequest>(
        client_.peek(kube::resources::accessRequests(), kKey)->body);
  }
  // Appends an approval the way the webhook-stamped status patch would.
  void approve(const std::string& who, const std::string& decision = "Approve") {
    auto obj = *client_.peek(kube::resources::accessRequests(), kKey);
    obj.body["status"]["approvals"].push_back(approval(who, decision));
    ASSERT_TRUE(client_.updateStatus(kube::resources::accessRequests(), obj));
  }
  std::vector<std::string> writes() {
    std::vector<std::string> out;
    for (const auto& a : client_.writes()) {
      std::string s = a.verb + " " + a.resource;
      if (!a.subresource.empty()) s += "/" + a.subresource;
      out.push_back(s);
    }
    client_.clearActions();
    return out;
  }
  Result<runtime::Action> reconcile() { return reconciler_.reconcile(kKey); }
  // The API server refuses the next `verb` (on `resource`, when given) once, with `err`.
  void failOnce(std::string verb, std::string resource, Error err) {
    auto pending = std::make_shared<std::atomic<bool>>(true);
    client_.addReactor([=](const FakeAction& a) -> std::optional<Error> {
      if (a.verb != verb || (!resource.empty() && a.resource != resource)) return std::nullopt;
      if (!pending->exchange(false)) return std::nullopt;
      return err;
    });
  }
  // The first reconcile of a new request: only the finalizer is added.
  void addFinalizer() {
    auto r = reconcile();
    ASSERT_TRUE(r) << r.error().describe();
    ASSERT_EQ(stored().metadata.finalizers, std::vector<std::string>{"kubegrant.io/revoke"});
  }
  // A request under a policy that needs no approval, reconciled once: Active with one
  // RoleBinding, whose key is returned.
  kube::ObjectKey activeRequest() {
    seedPolicy(json{{"spec", {{"approval", {{"required", 0}}}}}});
    seedRequest();
    addFinalizer();
    EXPECT_TRUE(reconcile());
    auto req = stored();
    EXPECT_EQ(req.status->phase, v1::Phase::Active);
    return {"payments", req.status->grants.empty() ? "" : req.status->grants[0].name};
  }
  // A cache that keeps answering with `copy`, whatever the API server holds now.
  static RequestReader cachedCopy(const kube::Object& copy) {
    auto decoded =
        std::make_shared<const v1::AccessRequest>(*v1::fromJson<v1::AccessRequest>(copy.body));
    return [decoded](const runtime::NamespacedName&) { return decoded; };
  }
  // Readers as the manager wires them: the request as `copy` says, the policy and the
  // RoleBindings as the fake API server holds them now.
  ReconcilerOptions cachedReaders(const kube::Object& copy) {
    ReconcilerOptions options;
    options.requestReader = cachedCopy(copy);
    options.policyReader = [this](const std::string& name) -> PolicyPtr {
      auto p = client_.peek(kube::resources::accessPolicies(), {"", name});
      return p ? std::make_shared<const v1::AccessPolicy>(*v1::fromJson<v1::AccessPolicy>(p->body))
               : nullptr;
    };
    options.roleBindingReader = [this](const kube::ObjectKey& key) -> runtime::ObjectPtr {
      auto rb = client_.peek(kube::resources::roleBindings(), key);
      return rb ? std::make_shared<const kube::Object>(*rb) : nullptr;
    };
    return options;
  }
  std::vector<std::string> auditEvents() {
    std::vector<std::string> out;
    for (const auto& l : audit_lines_) out.push_back(json::parse(l)["event"]);
    return out;
  }

  FakeClock clock_;
  FakeClient client_;
  std::vector<std::string> audit_lines_;
  AuditLog audit_{[this](std::string_view l) { audit_lines_.emplace_back(l); }};
  std::vector<std::string> events_;
  metrics::Registry metrics_;
  AccessRequestReconciler reconciler_;
};

TEST_F(ReconcilerTest, ANewRequestGetsTheFinalizerThenPendingWithEmptyApprovals) {
  seedPolicy();
  seedRequest();
  client_.clearActions();
  // First the finalizer, alone: its change wakes the next reconcile.
  auto r = reconcile();
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, runtime::Action::awaitChange());
  EXPECT_EQ(writes(), (std::vector<std::string>{"patch accessrequests.kubegrant.io"}));
  r = reconcile();
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(writes(),
            (std::vector<std::string>{"updateStatus accessrequests.kubegrant.io/status"}));
  auto req = stored();
  EXPECT_EQ(req.metadata.finalizers, std::vector<std::string>{"kubegrant.io/revoke"});
  ASSERT_TRUE(req.status);
  EXPECT_EQ(req.status->phase, v1::Phase::Pending);
  EXPECT_TRUE(req.status->approvals.empty());
  EXPECT_NE(req.status->message->find("payments-leads"), std::string::npos);
  // Woken again at the pendingTimeout deadline.
  EXPECT_EQ(r->requeueDelay(), std::chrono::hours(24));
  EXPECT_EQ(auditEvents(), std::vector<std::string>{"requested"});

  // Level-based: nothing changed, nothing written.
  ASSERT_TRUE(reconcile());
  EXPECT_TRUE(writes().empty());
}

TEST_F(ReconcilerTest, ApprovalCreatesTheRoleBindingThenExpiryRemovesIt) {
  seedPolicy();
  seedRequest();
  addFinalizer();
  ASSERT_TRUE(reconcile());
  clock_.advance(std::chrono::minutes(5));
  approve("bob");
  client_.clearActions();
  auto r = reconcile();
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(writes(),
            (std::vector<std::string>{"create rolebindings.rbac.authorization.k8s.io",
                                      "updateStatus accessrequests.kubegrant.io/status"}));
  auto req = stored();
  EXPECT_EQ(req.status->phase, v1::Phase::Active);
  EXPECT_EQ(formatRfc3339(*req.status->activatedAt), "2026-11-29T10:05:00Z");
  EXPECT_EQ(formatRfc3339(*req.status->expiresAt), "2026-11-29T10:35:00Z");
  ASSERT_EQ(req.status->grants.size(), 1u);
  const auto rbKey = kube::ObjectKey{"payments", req.status->grants[0].name};
  auto rb = client_.peek(kube::resources::roleBindings(), rbKey);
  ASSERT_TRUE(rb);
  EXPECT_EQ(rb->body["subjects"][0]["name"], "alice");
  EXPECT_EQ(r->requeueDelay(), std::chrono::minutes(30));
  EXPECT_EQ(events_,
            (std::vector<std::string>{"Normal Requested", "Normal Approved", "Normal Granted"}));

  clock_.advance(std::chrono::minutes(30));
  r = reconcile();
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(writes(),
            (std::vector<std::string>{"delete rolebindings.rbac.authorization.k8s.io",
                                      "updateStatus accessrequests.kubegrant.io/status"}));
  EXPECT_FALSE(client_.peek(kube::resources::roleBindings(), rbKey));
  req = stored();
  EXPECT_EQ(req.status->phase, v1::Phase::Expired);
  EXPECT_EQ(formatRfc3339(*req.status->endedAt), "2026-11-29T10:35:00Z");
  EXPECT_EQ(auditEvents(),
            (std::vector<std::string>{"requested", "approved", "granted", "expired"}));
  // The ending's audit line still names who approved the access that ended.
  EXPECT_EQ(json::parse(audit_lines_.back())["approvers"], json::array({"bob"}));
  // Kept as the audit record until retainFor (720h) after it ended.
  EXPECT_EQ(r->requeueDelay(), std::chrono::hours(720));
}

TEST_F(ReconcilerTest, AForbiddenGrantLeavesNothingAndFailsWithAnActionableMessage) {
  seedPolicy(json{{"spec", {{"approval", {{"required", 0}}}}}});
  seedRequest(json{{"spec",
                    {{"roles", json::array({{{"kind", "ClusterRole"}, {"name", "view"}},
                                            {{"kind", "Role"}, {"name", "pod-debugger"}}})}}}});
  addFinalizer();
  client_.addReactor([](const FakeAction& a) -> std::optional<Error> {
    if (a.verb == "create" && a.body["roleRef"]["name"] == "pod-debugger") {
      return makeError(ErrorCode::Forbidden, "user cannot bind role pod-debugger");
    }
    return std::nullopt;
  });
  auto r = reconcile();
  ASSERT_TRUE(r) << r.error().describe();
  auto req = stored();
  EXPECT_EQ(req.status->phase, v1::Phase::Failed);
  EXPECT_NE(req.status->message->find("bind"), std::string::npos) << *req.status->message;
  EXPECT_TRUE(req.status->grants.empty());
  auto rbs = client_.list(kube::resources::roleBindings(), "");
  ASSERT_TRUE(rbs);
  EXPECT_TRUE(rbs->items.empty());
  EXPECT_EQ(events_.back(), "Warning GrantForbidden");
}

TEST_F(ReconcilerTest, DeletingAnActiveRequestRemovesGrantsThenTheFinalizer) {
  const auto rbKey = activeRequest();
  ASSERT_TRUE(client_.remove(kube::resources::accessRequests(), kKey));
  ASSERT_TRUE(client_.peek(kube::resources::accessRequests(), kKey));  // held by finalizer
  auto r = reconcile();
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_FALSE(client_.peek(kube::resources::roleBindings(), rbKey));
  EXPECT_FALSE(client_.peek(kube::resources::accessRequests(), kKey));
  EXPECT_EQ(auditEvents().back(), "revoked");
}

TEST_F(ReconcilerTest, AnInterruptedActivationIsAdoptedNotDuplicated) {
  seedPolicy(json{{"spec", {{"approval", {{"required", 0}}}}}});
  seedRequest();
  addFinalizer();
  // Crash simulation: the status write of the activation fails once.
  failOnce("updateStatus", "", makeError(ErrorCode::Unavailable, "connection reset"));
  EXPECT_FALSE(reconcile());
  ASSERT_TRUE(reconcile());
  auto req = stored();
  EXPECT_EQ(req.status->phase, v1::Phase::Active);
  auto rbs = client_.list(kube::resources::roleBindings(), "");
  EXPECT_EQ(rbs->items.size(), 1u);
}

TEST_F(ReconcilerTest, SweepRemovesBindingsOfGoneRequestsAndOverdueGrants) {
  activeRequest();
  json orphan = roleBindingJson(DesiredRoleBinding{"payments", "kubegrant-orphan",
                                                   v1::RoleKind::ClusterRole, "view", "alice"},
                                *v1::fromJson<v1::AccessRequest>(makeRequest("gone")));
  orphan["metadata"]["labels"]["kubegrant.io/request-uid"] = "no-such-uid";
  client_.seed(kube::resources::roleBindings(), kube::Object(orphan));

  // The manager's caches: kubegrant's RoleBindings and every AccessRequest.
  runtime::InformerOptions managedByUs{.labelSelector = "app.kubernetes.io/managed-by=kubegrant"};
  runtime::Informer roleBindings(client_, kube::resources::roleBindings(), clock_, managedByUs);
  runtime::Informer requestInformer(client_, kube::resources::accessRequests(), clock_);
  runtime::TypedStore<v1::AccessRequest> requests(requestInformer, [](const kube::Object& o) {
    return v1::fromJson<v1::AccessRequest>(o.body);
  });
  roleBindings.start();
  requestInformer.start();
  ASSERT_TRUE(roleBindings.waitForSync(std::chrono::seconds(3)));
  ASSERT_TRUE(requestInformer.waitForSync(std::chrono::seconds(3)));
  std::vector<std::string> enqueued;
  Sweeper sweeper(
      client_, clock_, roleBindings.store(), requests,
      [&](const runtime::NamespacedName& k) { enqueued.push_back(k.toString()); }, nullptr);
  client_.clearActions();
  auto report = sweeper.sweepOnce();
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->roleBindings, 2);
  EXPECT_EQ(report->removed, 1);
  EXPECT_FALSE(client_.peek(kube::resources::roleBindings(), {"payments", "kubegrant-orphan"}));
  for (const auto& a : client_.actions()) EXPECT_NE(a.verb, "list") << "the sweep reads caches";
  // The orphan's request is not cached; the API server confirmed it gone before the delete.
  ASSERT_TRUE(runtime::testutil::eventually([&] { return roleBindings.store().size() == 1; }));

  // Past expiresAt with the operator asleep: the sweep removes the grant and hands the
  // request back for its status.
  clock_.advance(std::chrono::hours(2));
  report = sweeper.sweepOnce();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->removed, 1);
  EXPECT_EQ(enqueued, (std::vector<std::string>{"payments/debug-orders", "payments/debug-orders"}));
  ASSERT_TRUE(reconcile());
  EXPECT_EQ(stored().status->phase, v1::Phase::Expired);
}

TEST_F(ReconcilerTest, SweepAlsoRemovesOrphanClusterRoleBindingsAndTemporaryRoles) {
  const kube::ObjectKey live = activeRequest();
  const auto gone = *v1::fromJson<v1::AccessRequest>(makeRequest("gone"));
  json crb = roleBindingJson(
      DesiredRoleBinding{"", "kubegrant-orphan-crb", v1::RoleKind::ClusterRole, "view", "alice"},
      gone);
  crb["metadata"]["labels"]["kubegrant.io/request-uid"] = "no-such-uid";
  client_.seed(kube::resources::clusterRoleBindings(), kube::Object(crb));
  json role = temporaryRoleJson(DesiredTemporaryRole{"", "kubegrant-orphan-rules", {}}, gone);
  role["metadata"]["labels"]["kubegrant.io/request-uid"] = "no-such-uid";
  client_.seed(kube::resources::clusterRoles(), kube::Object(role));
  // Not kubegrant's: never touched (the caches hold only what carries the label).
  client_.seed(kube::resources::clusterRoleBindings(),
               kube::Object(json{{"metadata", {{"name", "someone-elses"}}},
                                 {"roleRef", {{"kind", "ClusterRole"}, {"name", "view"}}}}));

  runtime::InformerOptions managedByUs{.labelSelector = "app.kubernetes.io/managed-by=kubegrant"};
  runtime::Informer roleBindings(client_, kube::resources::roleBindings(), clock_, managedByUs);
  runtime::Informer clusterRoleBindings(client_, kube::resources::clusterRoleBindings(), clock_,
                                        managedByUs);
  runtime::Informer clusterRoles(client_, kube::resources::clusterRoles(), clock_, managedByUs);
  runtime::Informer requestInformer(client_, kube::resources::accessRequests(), clock_);
  runtime::TypedStore<v1::AccessRequest> requests(requestInformer, [](const kube::Object& o) {
    return v1::fromJson<v1::AccessRequest>(o.body);
  });
  for (runtime::Informer* i :
       {&roleBindings, &clusterRoleBindings, &clusterRoles, &requestInformer}) {
    i->start();
    ASSERT_TRUE(i->waitForSync(std::chrono::seconds(3)));
  }
  Sweeper sweeper(
      client_, clock_, roleBindings.store(), requests, [](const runtime::NamespacedName&) {},
      nullptr);
  sweeper.alsoSweep(kube::resources::clusterRoleBindings(), clusterRoleBindings.store());
  sweeper.alsoSweep(kube::resources::clusterRoles(), clusterRoles.store());
  auto report = sweeper.sweepOnce();
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->removed, 2);
  EXPECT_FALSE(client_.peek(kube::resources::clusterRoleBindings(), {"", "kubegrant-orphan-crb"}));
  EXPECT_FALSE(client_.peek(kube::resources::clusterRoles(), {"", "kubegrant-orphan-rules"}));
  EXPECT_TRUE(client_.peek(kube::resources::clusterRoleBindings(), {"", "someone-elses"}));
  EXPECT_TRUE(client_.peek(kube::resources::roleBindings(), live))
      << "a live request's grant stays";
}

TEST_F(ReconcilerTest, AdHocRulesGetATemporaryRoleBoundToTheRequesterAndRemovedAtExpiry) {
  seedPolicy(json::parse(R"({"spec": {"approval": {"required": 0}, "rules": [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}})"));
  seedRequest(json::parse(R"({"spec": {"roles": null, "rules": [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}})"));
  addFinalizer();
  auto r = reconcile();
  ASSERT_TRUE(r) << r.error().describe();
  auto req = stored();
  ASSERT_EQ(req.status->phase, v1::Phase::Active) << req.status->message.value_or("");
  ASSERT_EQ(req.status->grants.size(), 2u);
  EXPECT_EQ(req.status->grants[0].kind, v1::GrantKind::Role);
  const kube::ObjectKey key{"payments", req.status->grants[0].name};
  auto role = client_.peek(kube::resources::roles(), key);
  ASSERT_TRUE(role);
  EXPECT_EQ(role->body["rules"], json::parse(R"([
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}])"));
  auto binding = client_.peek(kube::resources::roleBindings(), key);
  ASSERT_TRUE(binding);
  EXPECT_EQ(binding->body["roleRef"]["kind"], "Role");
  EXPECT_EQ(binding->body["subjects"][0]["name"], "alice");

  // Someone widens the temporary Role: the next reconcile puts back exactly the rules.
  auto widened = role->body;
  widened["rules"].push_back({{"apiGroups", {""}}, {"resources", {"secrets"}}, {"verbs", {"get"}}});
  client_.seed(kube::resources::roles(), kube::Object(widened));
  auto again = reconcile();
  if (!again) again = reconcile();  // the re-create reports a Conflict once, then converges
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(client_.peek(kube::resources::roles(), key)->body["rules"].size(), 1u);

  clock_.advance(std::chrono::hours(2));
  ASSERT_TRUE(reconcile());
  EXPECT_EQ(stored().status->phase, v1::Phase::Expired);
  EXPECT_FALSE(client_.peek(kube::resources::roles(), key));
  EXPECT_FALSE(client_.peek(kube::resources::roleBindings(), key));
}

TEST_F(ReconcilerTest, ATemporaryRoleThatIsNotOursIsNeverBound) {
  seedPolicy(json::parse(R"({"spec": {"approval": {"required": 0}, "rules": [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}})"));
  seedRequest(json::parse(R"({"spec": {"roles": null, "rules": [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}})"));
  addFinalizer();
  const std::string name = roleBindingName(stored().metadata.uid, "debug-orders",
                                           v1::RoleKind::Role, kTemporaryRoleName);
  client_.seed(
      kube::resources::roles(),
      kube::Object(
          json{{"metadata", {{"name", name}, {"namespace", "payments"}}},
               {"rules",
                json::array({{{"apiGroups", {"*"}}, {"resources", {"*"}}, {"verbs", {"*"}}}})}}));
  auto r = reconcile();
  ASSERT_TRUE(r) << r.error().describe();
  auto req = stored();
  EXPECT_EQ(req.status->phase, v1::Phase::Failed);
  EXPECT_NE(req.status->message->find("exists and is not kubegrant's"), std::string::npos)
      << *req.status->message;
  EXPECT_FALSE(client_.peek(kube::resources::roleBindings(), {"payments", name}));
  EXPECT_TRUE(client_.peek(kube::resources::roles(), {"payments", name})) << "never deleted";
}

TEST_F(ReconcilerTest, ADenyEndsThePendingRequest) {
  seedPolicy();
  seedRequest();
  addFinalizer();
  ASSERT_TRUE(reconcile());
  approve("carol", "Deny");
  ASSERT_TRUE(reconcile());
  auto req = stored();
  EXPECT_EQ(req.status->phase, v1::Phase::Denied);
  EXPECT_TRUE(req.status->endedAt.has_value());
  EXPECT_EQ(auditEvents().back(), "denied");
  auto rbs = client_.list(kube::resources::roleBindings(), "");
  EXPECT_TRUE(rbs->items.empty());
}

TEST_F(ReconcilerTest, ExpiryTrustsTheDeleteAnswerAndNeedsNoExtraRead) {
  activeRequest();
  clock_.advance(std::chrono::minutes(30));
  client_.clearActions();
  ASSERT_TRUE(reconcile());
  EXPECT_EQ(stored().status->phase, v1::Phase::Expired);
  std::vector<std::string> roleBindingCalls;
  for (const auto& a : client_.actions()) {
    if (a.resource == "rolebindings.rbac.authorization.k8s.io") roleBindingCalls.push_back(a.verb);
  }
  // The DELETE's answer (deleted at once) is the verification: no GET after it.
  EXPECT_EQ(roleBindingCalls, std::vector<std::string>{"delete"});
}

// Revocation first, bookkeeping after (issue 15): while other requests wait for a worker, an
// expiry's DELETE runs at once and its status write on the request's next pass, which does not
// DELETE again.
TEST_F(ReconcilerTest, WhileOthersWaitAnExpiryDeletesFirstAndWritesItsStatusOnTheNextPass) {
  const auto rbKey = activeRequest();
  ReconcilerOptions options;
  options.othersWaiting = [] { return true; };
  AccessRequestReconciler herd(client_, clock_, &audit_, nullptr, &metrics_, options);
  clock_.advance(std::chrono::minutes(30));
  client_.clearActions();
  auto first = herd.reconcile(kKey);
  ASSERT_TRUE(first) << first.error().describe();
  EXPECT_EQ(*first, runtime::Action::requeueAfter(Duration::zero())) << "to the back of the queue";
  EXPECT_EQ(writes(), std::vector<std::string>{"delete rolebindings.rbac.authorization.k8s.io"});
  EXPECT_FALSE(client_.peek(kube::resources::roleBindings(), rbKey)) << "access is gone already";
  EXPECT_EQ(stored().status->phase, v1::Phase::Active) << "its status waits";
  EXPECT_NE(auditEvents().back(), "expired");

  auto second = herd.reconcile(kKey);
  ASSERT_TRUE(second) << second.error().describe();
  EXPECT_EQ(writes(), std::vector<std::string>{"updateStatus accessrequests.kubegrant.io/status"})
      << "the removal the API server verified is not repeated";
  EXPECT_EQ(stored().status->phase, v1::Phase::Expired);
  EXPECT_EQ(auditEvents().back(), "expired");
}

TEST_F(ReconcilerTest, ARequestChangedBetweenTheTwoPassesIsPlannedAgainInFull) {
  activeRequest();
  ReconcilerOptions options;
  bool others = true;
  options.othersWaiting = [&others] { return others; };
  AccessRequestReconciler herd(client_, clock_, &audit_, nullptr, &metrics_, options);
  clock_.advance(std::chrono::minutes(30));
  ASSERT_TRUE(herd.reconcile(kKey));
  // Someone labels the request meanwhile: a new resourceVersion, so nothing of the first pass
  // is taken for granted (its DELETE is repeated and answered NotFound).
  auto obj = *client_.peek(kube::resources::accessRequests(), kKey);
  obj.body["metadata"]["labels"]["team"] = "payments";
  ASSERT_TRUE(client_.update(kube::resources::accessRequests(), obj));
  others = false;
  client_.clearActions();
  ASSERT_TRUE(herd.reconcile(kKey));
  EXPECT_EQ(writes(),
            (std::vector<std::string>{"delete rolebindings.rbac.authorization.k8s.io",
                                      "updateStatus accessrequests.kubegrant.io/status"}));
  EXPECT_EQ(stored().status->phase, v1::Phase::Expired);
}

TEST_F(ReconcilerTest, AloneOrBeingDeletedARevocationWritesItsStatusInTheSamePass) {
  activeRequest();
  ReconcilerOptions options;
  options.othersWaiting = [] { return false; };
  AccessRequestReconciler alone(client_, clock_, &audit_, nullptr, &metrics_, options);
  clock_.advance(std::chrono::minutes(30));
  client_.clearActions();
  auto r = alone.reconcile(kKey);
  ASSERT_TRUE(r);
  EXPECT_EQ(writes(),
            (std::vector<std::string>{"delete rolebindings.rbac.authorization.k8s.io",
                                      "updateStatus accessrequests.kubegrant.io/status"}));
  EXPECT_EQ(stored().status->phase, v1::Phase::Expired);

  // Being deleted, even with others waiting: the finalizer goes at the end of this pass, so
  // everything happens in it.
  seedRequest(json{{"metadata", {{"name", "second"}}}});
  const kube::ObjectKey second{"payments", "second"};
  ASSERT_TRUE(alone.reconcile(second));  // finalizer
  ASSERT_TRUE(alone.reconcile(second));  // Active
  ASSERT_TRUE(client_.remove(kube::resources::accessRequests(), second));
  ReconcilerOptions herdOptions;
  herdOptions.othersWaiting = [] { return true; };
  AccessRequestReconciler herd(client_, clock_, &audit_, nullptr, &metrics_, herdOptions);
  auto deleted = herd.reconcile(second);
  ASSERT_TRUE(deleted) << deleted.error().describe();
  EXPECT_EQ(*deleted, runtime::Action::awaitChange());
  EXPECT_FALSE(client_.peek(kube::resources::accessRequests(), second)) << "finalizer removed";
  EXPECT_EQ(auditEvents().back(), "revoked");
}

TEST_F(ReconcilerTest, ABindingHeldBySomeonesFinalizerIsNotRevokedYet) {
  const auto rbKey = activeRequest();
  // Someone else holds the binding: deleting it only sets deletionTimestamp, and RBAC keeps
  // honouring a binding that is being deleted.
  auto rb = *client_.peek(kube::resources::roleBindings(), rbKey);
  rb.body["metadata"]["finalizers"] = json::array({"example.com/hold"});
  ASSERT_TRUE(client_.update(kube::resources::roleBindings(), rb));
  clock_.advance(std::chrono::minutes(30));
  auto r = reconcile();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::Unavailable);
  EXPECT_NE(r.error().message.find("example.com/hold"), std::string::npos) << r.error().message;
  EXPECT_EQ(stored().status->phase, v1::Phase::Active);  // not reported as ended
  EXPECT_TRUE(client_.peek(kube::resources::roleBindings(), rbKey));

  // Once the other party lets go, the retry completes the expiry.
  rb = *client_.peek(kube::resources::roleBindings(), rbKey);
  rb.body["metadata"]["finalizers"] = json::array();
  ASSERT_TRUE(client_.update(kube::resources::roleBindings(), rb));
  ASSERT_TRUE(reconcile());
  EXPECT_EQ(stored().status->phase, v1::Phase::Expired);
}

TEST_F(ReconcilerTest, AStaleCachedRequestEndsInConflictNotInALostUpdate) {
  activeRequest();
  // The cache still holds this copy while the requester revokes.
  const kube::Object cached = *client_.peek(kube::resources::accessRequests(), kKey);
  auto live = cached;
  live.body["spec"]["revoke"] = true;
  ASSERT_TRUE(client_.update(kube::resources::accessRequests(), live));

  ReconcilerOptions options;
  options.requestReader = cachedCopy(cached);
  AccessRequestReconciler fromCache(client_, clock_, &audit_, nullptr, &metrics_, options);
  clock_.advance(std::chrono::minutes(30));
  auto r = fromCache.reconcile(kKey);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::Conflict);
  EXPECT_EQ(stored().status->phase, v1::Phase::Active);  // nothing written from the stale copy
  EXPECT_NE(auditEvents().back(), "expired");

  // The retry reads the API server's copy (the cache has caught up) and ends it as revoked.
  ASSERT_TRUE(reconcile());
  EXPECT_EQ(stored().status->phase, v1::Phase::Revoked);
}

TEST_F(ReconcilerTest, AStaleCachedApprovedCopyAfterARevokeCreatesNoRoleBinding) {
  seedPolicy();
  seedRequest();
  addFinalizer();
  ASSERT_TRUE(reconcile());  // Pending
  approve("bob");
  // The cache holds the approved copy; the requester withdraws before it catches up.
  const kube::Object cached = *client_.peek(kube::resources::accessRequests(), kKey);
  auto live = cached;
  live.body["spec"]["revoke"] = true;
  ASSERT_TRUE(client_.update(kube::resources::accessRequests(), live));
  client_.clearActions();

  ReconcilerOptions options;
  options.requestReader = cachedCopy(cached);
  AccessRequestReconciler fromCache(client_, clock_, &audit_, nullptr, &metrics_, options);
  auto r = fromCache.reconcile(kKey);
  ASSERT_TRUE(r) << r.error().describe();
  for (const auto& a : client_.writes()) {
    EXPECT_NE(a.resource, "rolebindings.rbac.authorization.k8s.io")
        << a.verb << ": access came back after the revoke";
  }
  EXPECT_EQ(stored().status->phase, v1::Phase::Revoked);
  EXPECT_TRUE(client_.list(kube::resources::roleBindings(), "")->items.empty());
}

// The fresh read guards the creation of a grant, nothing else: a pass over an Active request
// whose RoleBinding the cache holds as desired (its own status write echoed back, the binding's
// own event, a resync) reads nothing from the API server and writes nothing.
TEST_F(ReconcilerTest, APassThatFindsEveryGrantInPlaceReadsNothing) {
  const auto rbKey = activeRequest();
  AccessRequestReconciler cached(
      client_, clock_, &audit_, nullptr, &metrics_,
      cachedReaders(*client_.peek(kube::resources::accessRequests(), kKey)));
  client_.clearActions();
  auto r = cached.reconcile(kKey);
  ASSERT_TRUE(r) << r.error().describe();
  for (const auto& a : client_.actions()) ADD_FAILURE() << a.verb << " " << a.resource;

  // The binding gone from the cache (deleted by someone): recreating it is a grant, so the
  // request is confirmed with the API server first.
  ASSERT_TRUE(client_.remove(kube::resources::roleBindings(), rbKey));
  client_.clearActions();
  r = cached.reconcile(kKey);
  ASSERT_TRUE(r) << r.error().describe();
  std::vector<std::string> calls;
  for (const auto& a : client_.actions()) calls.push_back(a.verb + " " + a.resource);
  EXPECT_EQ(calls, (std::vector<std::string>{"get accessrequests.kubegrant.io",
                                             "create rolebindings.rbac.authorization.k8s.io"}));
}

// Only a pass with nothing at all to do skips the read: one that would also write the status
// and record the grant (an activation whose status write failed after its RoleBinding was
// created) reads the request first, so a stale approved copy after a revoke records nothing.
TEST_F(ReconcilerTest, AStaleApprovedCopyWithItsBindingInPlaceIsReadAgainAndRecordsNoGrant) {
  seedPolicy();
  seedRequest();
  addFinalizer();
  ASSERT_TRUE(reconcile());  // Pending
  approve("bob");
  failOnce("updateStatus", "", makeError(ErrorCode::Unavailable, "etcd leader changed"));
  ASSERT_FALSE(reconcile()) << "the status write fails after the RoleBinding was created";
  ASSERT_EQ(client_.list(kube::resources::roleBindings(), "")->items.size(), 1u);
  const kube::Object cached = *client_.peek(kube::resources::accessRequests(), kKey);
  auto live = cached;
  live.body["spec"]["revoke"] = true;
  ASSERT_TRUE(client_.update(kube::resources::accessRequests(), live));
  audit_lines_.clear();
  client_.clearActions();

  AccessRequestReconciler fromCache(client_, clock_, &audit_, nullptr, &metrics_,
                                    cachedReaders(cached));
  auto r = fromCache.reconcile(kKey);
  ASSERT_TRUE(r) << r.error().describe();
  ASSERT_FALSE(client_.actions().empty());
  EXPECT_EQ(client_.actions()[0].verb + " " + client_.actions()[0].resource,
            "get accessrequests.kubegrant.io");
  EXPECT_EQ(auditEvents(), std::vector<std::string>{"revoked"});
  EXPECT_EQ(stored().status->phase, v1::Phase::Revoked);
  EXPECT_TRUE(client_.list(kube::resources::roleBindings(), "")->items.empty());
}

TEST_F(ReconcilerTest, AFailedTestOpOnTheFinalizerPatchIsRetriedAsAConflict) {
  seedPolicy();
  seedRequest();
  // The API server answers a failed JSON-patch `test` (the object changed since the read)
  // with 422 Invalid.
  failOnce("patch", "accessrequests.kubegrant.io",
           makeError(ErrorCode::Invalid,
                     "the server rejected our request due to an error "
                     "in our request: test operation failed"));
  auto r = reconcile();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::Conflict);
  EXPECT_FALSE(r.error().terminal);
  ASSERT_TRUE(reconcile());
  EXPECT_EQ(stored().metadata.finalizers, std::vector<std::string>{"kubegrant.io/revoke"});
}

TEST_F(ReconcilerTest, ATransientForbiddenOnTheDeleteAtExpiryIsRetriedWithinTheBackoff) {
  const auto rbKey = activeRequest();
  // RBAC caches settling, an admission plugin's hiccup: the DELETE is refused once.
  failOnce("delete", "rolebindings.rbac.authorization.k8s.io",
           makeError(ErrorCode::Forbidden, "rolebindings is forbidden (transient)"));
  runtime::Controller controller("accessrequest", reconciler_, clock_);
  clock_.advance(std::chrono::minutes(30));
  controller.start();
  controller.enqueue(kKey);
  ASSERT_TRUE(
      runtime::testutil::eventually([&] { return controller.stats().reconcileTotal == 1; }));
  EXPECT_EQ(controller.stats().reconcileTerminalErrors, 0u);
  EXPECT_EQ(controller.queue().numRequeues(kKey), 1) << "requeued with backoff, not dropped";
  EXPECT_TRUE(client_.peek(kube::resources::roleBindings(), rbKey));
  // The first backoff step (5 ms), far inside the sweep interval.
  clock_.advance(std::chrono::milliseconds(5));
  ASSERT_TRUE(
      runtime::testutil::eventually([&] { return controller.stats().reconcileTotal == 2; }));
  controller.stop();
  EXPECT_FALSE(client_.peek(kube::resources::roleBindings(), rbKey));
  EXPECT_EQ(stored().status->phase, v1::Phase::Expired);
}

// ---------------------------------------------------------------------------------------
// Sealing on (issue 11): the reconciler believes only what kubegrant sealed.

namespace sealed {

class SealedReconcilerTest : public ReconcilerTest {
 protected:
  SealedReconcilerTest()
      : sealer_(std::make_shared<seal::HmacSealer>(std::make_shared<const seal::Keyring>(
            *seal::Keyring::parse("k1 " + base64Encode(std::string(32, 'k')))))),
        sealed_(
            client_, clock_, &audit_,
            [this](const v1::AccessRequest&, const RequestEvent& e) {
              events_.push_back(e.type + " " + e.reason);
            },
            &metrics_, options()) {}

  ReconcilerOptions options() {
    ReconcilerOptions o;
    o.sealer = sealer_;
    return o;
  }
  Result<runtime::Action> reconcileSealed() { return sealed_.reconcile(kKey); }

  // The request as the mutating webhook stamps it: with the requester's seal.
  void seedSealedRequest() {
    seedRequest();
    auto obj = *client_.peek(kube::resources::accessRequests(), kKey);
    auto typed = *v1::fromJson<v1::AccessRequest>(obj.body);
    obj.body["spec"]["requesterSeal"] = *sealer_->seal(seal::requesterForm(typed));
    ASSERT_TRUE(client_.update(kube::resources::accessRequests(), obj));
  }
  // An approval as the webhook stamps it, sealed for this request (or not).
  void approveSealed(const std::string& who, bool withSeal = true) {
    auto obj = *client_.peek(kube::resources::accessRequests(), kKey);
    json a = approval(who);
    if (withSeal) {
      auto typed = *v1::fromJson<v1::Approval>(a);
      a["seal"] = *sealer_->seal(seal::approvalForm(obj.uid(), typed));
    }
    obj.body["status"]["approvals"].push_back(a);
    ASSERT_TRUE(client_.updateStatus(kube::resources::accessRequests(), obj));
  }
  bool statusSealVerifies() {
    auto r = stored();
    return r.status && r.status->seal &&
           sealer_->verify(seal::statusForm(r), *r.status->seal).has_value();
  }
  // Pending, then bob's sealed approval: Active with one RoleBinding.
  void activate() {
    seedPolicy();
    seedSealedRequest();
    ASSERT_TRUE(reconcileSealed());  // finalizer
    ASSERT_TRUE(reconcileSealed());  // Pending
    approveSealed("bob");
    ASSERT_TRUE(reconcileSealed());
    ASSERT_EQ(stored().status->phase, v1::Phase::Active);
  }

  std::shared_ptr<seal::HmacSealer> sealer_;
  AccessRequestReconciler sealed_;
};

TEST_F(SealedReconcilerTest, SealedDecisionsActivateAndEveryStatusWrittenIsSealed) {
  activate();
  EXPECT_TRUE(statusSealVerifies());
  EXPECT_EQ(stored().status->grants.size(), 1u);
  // Level-based still: nothing changed, nothing written.
  client_.clearActions();
  ASSERT_TRUE(reconcileSealed());
  EXPECT_TRUE(writes().empty());
}

TEST_F(SealedReconcilerTest, AnUnsealedApprovalIsTamperingAndGrantsNothing) {
  seedPolicy();
  seedSealedRequest();
  ASSERT_TRUE(reconcileSealed());
  ASSERT_TRUE(reconcileSealed());
  approveSealed("bob", /*withSeal=*/false);
  ASSERT_TRUE(reconcileSealed());
  auto r = stored();
  EXPECT_EQ(r.status->phase, v1::Phase::Failed);
  EXPECT_TRUE(r.status->grants.empty());
  EXPECT_NE(r.status->message->find("status.approvals[0].seal: is missing; the decision by bob "
                                    "was not recorded by the kubegrant admission webhook: "
                                    "treated as tampering"),
            std::string::npos)
      << *r.status->message;
  EXPECT_TRUE(statusSealVerifies()) << "the Failed record is the operator's own";
  EXPECT_TRUE(client_.list(kube::resources::roleBindings(), "payments")->items.empty());
  EXPECT_EQ(events_.back(), "Warning Tampering");
  EXPECT_EQ(auditEvents().back(), "failed");
  // Ended for good: the next reconcile writes nothing.
  client_.clearActions();
  ASSERT_TRUE(reconcileSealed());
  EXPECT_TRUE(writes().empty());
}

TEST_F(SealedReconcilerTest, AnUnsealedRequesterIsNeverBelieved) {
  seedPolicy(json{{"spec", {{"approval", {{"required", 0}}}}}});
  seedRequest();  // no requester seal: created around the webhook
  ASSERT_TRUE(reconcileSealed());
  ASSERT_TRUE(reconcileSealed());
  auto r = stored();
  EXPECT_EQ(r.status->phase, v1::Phase::Failed);
  EXPECT_NE(r.status->message->find("spec.requesterSeal: is missing"), std::string::npos);
  EXPECT_TRUE(client_.list(kube::resources::roleBindings(), "payments")->items.empty());
  EXPECT_EQ(events_.back(), "Warning ForgedRequester");
}

TEST_F(SealedReconcilerTest, AStatusKubegrantDidNotSealRevokesEverything) {
  activate();
  auto obj = *client_.peek(kube::resources::accessRequests(), kKey);
  obj.body["status"]["expiresAt"] = "2099-01-01T00:00:00Z";  // written around the webhook
  ASSERT_TRUE(client_.updateStatus(kube::resources::accessRequests(), obj));
  ASSERT_TRUE(reconcileSealed());
  auto r = stored();
  EXPECT_EQ(r.status->phase, v1::Phase::Failed);
  EXPECT_NE(r.status->message->find("status.seal: does not verify"), std::string::npos)
      << *r.status->message;
  EXPECT_TRUE(client_.list(kube::resources::roleBindings(), "payments")->items.empty());
  EXPECT_EQ(auditEvents().back(), "failed");
}

TEST_F(SealedReconcilerTest, ABindingLabelledForAnotherRequestIsNeitherDeletedNorAdopted) {
  seedPolicy();
  seedSealedRequest();
  ASSERT_TRUE(reconcileSealed());
  ASSERT_TRUE(reconcileSealed());
  auto req = stored();
  auto desired = desiredRoleBindings(req);
  ASSERT_EQ(desired.size(), 1u);
  json foreign = roleBindingJson(desired[0], req);
  foreign["metadata"]["labels"][std::string(kRequestUidLabel)] = "another-request";
  client_.seed(kube::resources::roleBindings(), kube::Object(foreign));
  approveSealed("bob");
  ASSERT_TRUE(reconcileSealed());
  auto r = stored();
  EXPECT_EQ(r.status->phase, v1::Phase::Failed);
  EXPECT_NE(r.status->message->find("belongs to another request (uid another-request); kubegrant "
                                    "never deletes or adopts it"),
            std::string::npos)
      << *r.status->message;
  auto still = client_.peek(kube::resources::roleBindings(), {"payments", desired[0].name});
  ASSERT_TRUE(still);
  EXPECT_EQ(still->labels()[std::string(kRequestUidLabel)], "another-request");
}

}  // namespace sealed

}  // namespace
}  // namespace kubegrant::controllers::access_request
