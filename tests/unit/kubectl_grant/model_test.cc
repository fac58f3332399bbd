#include "operator/kubectl_grant/model.h"

#include <gtest/gtest.h>

#include "operator/common/time.h"
#include "tests/support/api_examples.h"

namespace kubegrant::kubectl_grant {
namespace {

using namespace std::chrono_literals;
using v1alpha1::Approval;
using v1alpha1::Decision;
using v1alpha1::Phase;
using v1alpha1::RoleKind;

TimePoint at(const char* rfc3339) { return *parseRfc3339(rfc3339); }

const TimePoint kNow = at("2026-11-29T10:00:00Z");

// alice's request for view in payments, as the API server holds it after the webhook.
AccessRequest aliceRequest(Phase phase = Phase::Pending) {
  AccessRequest r;
  r.metadata.name = "debug-orders";
  r.metadata.namespace_ = "payments";
  r.metadata.creationTimestamp = at("2026-11-29T09:50:00Z");
  r.spec.policy = "payments-oncall";
  r.spec.reason = "orders stuck";
  r.spec.roles = {{RoleKind::ClusterRole, "view", {}},
                  {RoleKind::Role, "pod-debugger", {"payments", "staging"}}};
  r.spec.databases = {{"orders-db", "readonly"}};
  r.spec.requester = UserInfo{"alice", {"payments-devs"}};
  r.status.emplace();
  r.status->phase = phase;
  return r;
}

Approval decision(const char* who, Decision d, const char* time, const char* comment = nullptr) {
  Approval a;
  a.approver = who;
  a.approverGroups = {"payments-leads"};
  a.decision = d;
  a.time = at(time);
  if (comment != nullptr) a.comment = comment;
  return a;
}

// ---- request flags -----------------------------------------------------------------------

TEST(ParseRoleFlag, TakesTheKindThePolicyAllowsUnderThatName) {
  auto policy = testing::paymentsOncallPolicy();
  auto view = parseRoleFlag("view", &policy);
  ASSERT_TRUE(view.has_value()) << view.error().message;
  EXPECT_EQ(view->kind, RoleKind::ClusterRole);
  EXPECT_TRUE(view->namespaces.empty());
  auto debugger = parseRoleFlag("pod-debugger@payments,staging", &policy);
  ASSERT_TRUE(debugger.has_value()) << debugger.error().message;
  EXPECT_EQ(debugger->kind, RoleKind::Role);
  EXPECT_EQ(debugger->namespaces, (std::vector<std::string>{"payments", "staging"}));
}

TEST(ParseRoleFlag, AnExplicitKindWinsAndAnAmbiguousNameNeedsOne) {
  auto policy = testing::paymentsOncallPolicy();
  policy.spec.roles.push_back({RoleKind::ClusterRole, "pod-debugger"});
  auto ambiguous = parseRoleFlag("pod-debugger", &policy);
  ASSERT_FALSE(ambiguous.has_value());
  EXPECT_NE(ambiguous.error().message.find("say which"), std::string::npos);
  auto explicitKind = parseRoleFlag("ClusterRole/pod-debugger@payments", &policy);
  ASSERT_TRUE(explicitKind.has_value());
  EXPECT_EQ(explicitKind->kind, RoleKind::ClusterRole);
  auto unknownPolicy = parseRoleFlag("edit", nullptr);
  ASSERT_TRUE(unknownPolicy.has_value());
  EXPECT_EQ(unknownPolicy->kind, RoleKind::ClusterRole) << "the webhook explains the rest";
}

TEST(ParseRoleFlag, RejectsBadInputNamingTheFlag) {
  for (const char* bad : {"", "Group/view", "view@", "view@Payments", "Role/"}) {
    auto r = parseRoleFlag(bad, nullptr);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::Invalid);
    EXPECT_EQ(r.error().message.rfind("--role", 0), 0u) << r.error().message;
  }
}

TEST(ParseClusterRoleFlag, AsksForAClusterScopedClusterRole) {
  auto role = parseClusterRoleFlag("node-viewer");
  ASSERT_TRUE(role.has_value()) << role.error().message;
  EXPECT_EQ(role->kind, RoleKind::ClusterRole);
  EXPECT_EQ(role->name, "node-viewer");
  EXPECT_EQ(role->scope, v1alpha1::RoleScope::Cluster);
  EXPECT_TRUE(role->namespaces.empty()) << "a Cluster entry names no namespace";
  for (const char* bad : {"", "ClusterRole/node-viewer", "node-viewer@payments", "Node"}) {
    auto r = parseClusterRoleFlag(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().message.rfind("--cluster-role", 0), 0u) << r.error().message;
  }
}

TEST(ParseRoleFlag, PointsAClusterOnlyRoleToTheClusterRoleFlag) {
  auto policy = testing::paymentsOncallPolicy();
  policy.spec.clusterRoles = {"node-viewer"};
  auto r = parseRoleFlag("node-viewer", &policy);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("--cluster-role node-viewer"), std::string::npos)
      << r.error().message;
}

TEST(BuildRequest, ClusterRolesBecomeClusterScopedEntriesAndShowSo) {
  auto policy = testing::paymentsOncallPolicy();
  policy.spec.clusterRoles = {"node-viewer"};
  RequestFlags flags{
      .policy = "payments-oncall", .roles = {"view"}, .clusterRoles = {"node-viewer"}};
  auto r = buildRequest(flags, "payments", &policy);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->spec.roles.size(), 2u);
  EXPECT_EQ(r->spec.roles[0].scope, v1alpha1::RoleScope::Namespace);
  EXPECT_EQ(r->spec.roles[1].scope, v1alpha1::RoleScope::Cluster);
  EXPECT_EQ(rolesText(*r), "view@payments ClusterRole/node-viewer@cluster");
  RequestFlags onlyCluster{.policy = "payments-oncall", .clusterRoles = {"node-viewer"}};
  EXPECT_TRUE(buildRequest(onlyCluster, "payments", &policy).has_value())
      << "a cluster role alone is something to ask for";
}

TEST(ParseDatabaseFlag, NeedsTargetAndProfile) {
  auto db = parseDatabaseFlag("orders-db/readonly");
  ASSERT_TRUE(db.has_value());
  EXPECT_EQ(db->target, "orders-db");
  EXPECT_EQ(db->profile, "readonly");
  for (const char* bad : {"orders-db", "/readonly", "orders-db/", "a/b/c"}) {
    EXPECT_FALSE(parseDatabaseFlag(bad).has_value()) << bad;
  }
}

TEST(BuildRequest, FillsTheSpecAndLeavesTheRequesterToTheWebhook) {
  auto policy = testing::paymentsOncallPolicy();
  RequestFlags flags{.policy = "payments-oncall",
                     .roles = {"view"},
                     .databases = {"orders-db/readonly"},
                     .duration = "2h",
                     .reason = "orders stuck",
                     .ticket = "INC-1"};
  auto r = buildRequest(flags, "payments", &policy);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->metadata.namespace_, "payments");
  EXPECT_EQ(r->metadata.generateName, "payments-oncall-");
  EXPECT_EQ(r->spec.duration, "2h");
  EXPECT_EQ(r->spec.ticket, "INC-1");
  EXPECT_FALSE(r->spec.requester.has_value());
  EXPECT_FALSE(r->spec.startAt.has_value());
  ASSERT_EQ(r->spec.databases.size(), 1u);

  flags.name = "mine";
  EXPECT_EQ(buildRequest(flags, "payments", &policy)->metadata.name, "mine");
}

TEST(BuildRequest, RejectsWhatTheServerWouldNotParse) {
  RequestFlags ok{.policy = "p", .roles = {"view"}};
  struct Case {
    const char* name;
    RequestFlags flags;
    const char* mentions;
  } cases[] = {
      {"no policy", RequestFlags{.roles = {"view"}}, "--policy"},
      {"nothing asked", RequestFlags{.policy = "p"}, "--role, --cluster-role or --db"},
      {"bad duration", RequestFlags{.policy = "p", .roles = {"view"}, .duration = "2 days"},
       "--for"},
      {"bad start", RequestFlags{.policy = "p", .roles = {"view"}, .startAt = "tomorrow"},
       "--start-at"},
      {"bad name", RequestFlags{.policy = "p", .roles = {"view"}, .name = "Debug_1"}, "--name"},
  };
  ASSERT_TRUE(buildRequest(ok, "ns", nullptr).has_value());
  for (const auto& c : cases) {
    auto r = buildRequest(c.flags, "ns", nullptr);
    ASSERT_FALSE(r.has_value()) << c.name;
    EXPECT_NE(r.error().message.find(c.mentions), std::string::npos)
        << c.name << ": " << r.error().message;
  }
}

// ---- list --------------------------------------------------------------------------------

TEST(ListRow, ShowsRolesDatabasesApprovalsAndTimeLeft) {
  auto policy = testing::paymentsOncallPolicy();
  auto r = aliceRequest(Phase::Active);
  r.status->approvals = {decision("bob", Decision::Approve, "2026-11-29T09:55:00Z")};
  r.status->expiresAt = kNow + 1h + 59min + 30s;
  ListRow row = toRow(r, &policy, kNow);
  EXPECT_EQ(row.name, "debug-orders");
  EXPECT_EQ(row.requester, "alice");
  EXPECT_EQ(row.roles, "view@payments Role/pod-debugger@payments,staging");
  EXPECT_EQ(row.databases, "orders-db/readonly");
  EXPECT_EQ(row.phase, "Active");
  EXPECT_EQ(row.approvals, "1/1");
  EXPECT_EQ(row.expiresIn, "1h59m");

  EXPECT_EQ(approvalsText(r, nullptr), "1/?") << "without the policy, entries are counted";
  r.status->phase = Phase::Expired;
  EXPECT_EQ(toRow(r, &policy, kNow).expiresIn, "-");
  r.status.reset();
  EXPECT_EQ(phaseText(r), "Pending") << "before the operator has seen it";
}

TEST(ListRow, ApprovalsCountOnlyWhatThePolicyCounts) {
  auto policy = testing::paymentsOncallPolicy();
  policy.spec.approval.required = 2;
  auto r = aliceRequest();
  Approval self = decision("alice", Decision::Approve, "2026-11-29T09:51:00Z");
  self.approverGroups = {"payments-devs"};
  r.status->approvals = {self, decision("bob", Decision::Approve, "2026-11-29T09:52:00Z")};
  EXPECT_EQ(approvalsText(r, &policy), "1/2");
}

TEST(RenderList, PrintsTheTableWithANamespaceColumnForAllNamespaces) {
  ListRow row{"payments", "debug-orders", "alice", "payments-oncall", "view@payments", "-",
              "Pending",  "0/1",          "-"};
  const std::string table = renderList({row}, true, Style(false));
  EXPECT_EQ(table,
            "NAMESPACE   NAME           REQUESTER   POLICY            ROLES           DATABASES   "
            "PHASE     APPROVALS   EXPIRES IN\n"
            "payments    debug-orders   alice       payments-oncall   view@payments   -           "
            "Pending   0/1         -\n");
  EXPECT_EQ(renderList({row}, false, Style(false)).rfind("NAME ", 0), 0u);
}

struct ToApproveCase {
  const char* name;
  std::function<void(AccessRequest&)> change;
  UserInfo caller;
  bool want;
};

TEST(AwaitsDecisionBy, IsAPendingRequestAnApproverHasNotDecidedOnAndDidNotMake) {
  const UserInfo bob{"bob", {"payments-leads"}};
  const ToApproveCase cases[] = {
      {"pending, bob approves for the policy", [](AccessRequest&) {}, bob, true},
      {"not an approver", [](AccessRequest&) {}, UserInfo{"mallory", {}}, false},
      {"the requester", [](AccessRequest&) {}, UserInfo{"alice", {"payments-leads"}}, false},
      {"bob already decided",
       [](AccessRequest& r) {
         r.status->approvals = {decision("bob", Decision::Approve, "2026-11-29T09:55:00Z")};
       },
       bob, false},
      {"carol decided, bob not yet",
       [](AccessRequest& r) {
         r.status->approvals = {decision("carol", Decision::Approve, "2026-11-29T09:55:00Z")};
       },
       bob, true},
      {"already Active", [](AccessRequest& r) { r.status->phase = Phase::Active; }, bob, false},
      {"denied", [](AccessRequest& r) { r.status->phase = Phase::Denied; }, bob, false},
      {"not seen by the operator yet", [](AccessRequest& r) { r.status.reset(); }, bob, true},
  };
  auto policy = testing::paymentsOncallPolicy();
  for (const auto& c : cases) {
    auto r = aliceRequest();
    c.change(r);
    EXPECT_EQ(awaitsDecisionBy(r, policy, c.caller), c.want) << c.name;
  }
  EXPECT_TRUE(isMine(aliceRequest(), UserInfo{"alice", {}}));
  EXPECT_FALSE(isMine(aliceRequest(), bob));
}

// ---- wait and access ------------------------------------------------------------------

TEST(WaitLine, SaysPhaseApprovalsTimeWaitedAndTheOperatorsMessage) {
  auto policy = testing::paymentsOncallPolicy();
  auto r = aliceRequest();
  r.status->message = "waiting for 1 approval from payments-leads";
  EXPECT_EQ(waitLine(r, &policy, 75s, Style(false)),
            "debug-orders Pending  approvals 0/1  1m15s  waiting for 1 approval from "
            "payments-leads");
}

TEST(PsqlCommands, NeverCarryThePasswordAndReadItFromTheSecretAtRunTime) {
  DatabaseSecret secret{
      "orders-db.payments.svc", "5432", "orders", "kg_3f9c2a1b", "verify-full", true};
  auto lines = psqlCommands("payments", "debug-orders-orders-db", secret, " --context prod");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "kubectl --context prod get secret debug-orders-orders-db -n payments -o "
            "jsonpath='{.data.ca\\.crt}' | base64 -d > "
            "\"${TMPDIR:-/tmp}/debug-orders-orders-db-ca.crt\"");
  EXPECT_EQ(lines[1],
            "PGPASSWORD=\"$(kubectl --context prod get secret debug-orders-orders-db -n payments "
            "-o jsonpath='{.data.password}' | base64 -d)\" psql \"host=orders-db.payments.svc "
            "port=5432 dbname=orders user=kg_3f9c2a1b sslmode=verify-full "
            "sslrootcert=${TMPDIR:-/tmp}/debug-orders-orders-db-ca.crt\"");
  auto unread = psqlCommands("payments", "s", std::nullopt, "");
  ASSERT_EQ(unread.size(), 1u);
  EXPECT_EQ(unread[0],
            "psql \"$(kubectl get secret s -n payments -o jsonpath='{.data.uri}' | base64 -d)\"");
}

TEST(AccessInstructions, NameEachRoleNamespaceAndDatabaseSecret) {
  auto r = aliceRequest(Phase::Active);
  r.status->expiresAt = kNow + 2h;
  r.status->grants = {
      {v1alpha1::GrantKind::RoleBinding, "payments", "kubegrant-debug-orders-view", ""},
      {v1alpha1::GrantKind::Secret, "payments", "debug-orders-orders-db", ""}};
  const std::string text = accessInstructions(r, kNow, {}, "", Style(false));
  EXPECT_NE(text.find("Access is active until 2026-11-29T12:00:00Z (in 2h)."), std::string::npos)
      << text;
  EXPECT_NE(text.find("ClusterRole/view in namespace payments, e.g.  kubectl get pods -n payments"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Role/pod-debugger in namespace payments\n"), std::string::npos)
      << "one example per namespace\n"
      << text;
  EXPECT_NE(text.find("Role/pod-debugger in namespace staging, e.g.  kubectl get pods -n staging"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Database credentials: Secret payments/debug-orders-orders-db"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("psql"), std::string::npos) << text;
  EXPECT_NE(text.find("kubectl grant revoke debug-orders -n payments"), std::string::npos);
}

TEST(AccessInstructions, SayWhenAskedForDatabasesWereNotIssued) {
  auto r = aliceRequest(Phase::Active);
  r.status->message = "granted ClusterRole/view; spec.databases are not granted yet";
  const std::string text = accessInstructions(r, kNow, {}, "", Style(false));
  EXPECT_NE(text.find("No database credentials were issued: granted ClusterRole/view"),
            std::string::npos)
      << text;
}

// ---- describe ----------------------------------------------------------------------------

TEST(Timeline, PutsCreationDecisionsMilestonesAndEventsInTheOrderTheyHappened) {
  auto r = aliceRequest(Phase::Revoked);
  r.status->approvals = {decision("bob", Decision::Approve, "2026-11-29T09:55:00Z", "ok")};
  r.status->approvedAt = at("2026-11-29T09:55:01Z");
  r.status->activatedAt = at("2026-11-29T09:55:01Z");
  r.status->endedAt = at("2026-11-29T09:58:00Z");
  std::vector<EventInfo> events = {
      {at("2026-11-29T09:58:00Z"), "Normal", "Revoked", "revoked by alice", 1},
      {at("2026-11-29T09:50:00Z"), "Normal", "Requested", "requested", 1},
      {at("2026-11-29T09:55:01Z"), "Normal", "Granted", "RoleBinding created", 2},
  };
  std::vector<std::string> whats;
  for (const auto& e : timeline(r, events)) whats.push_back(e.what);
  EXPECT_EQ(whats, (std::vector<std::string>{
                       "requested by alice",
                       "event Normal Requested: requested",
                       "Approve by bob: ok",
                       "approved",
                       "active: access granted",
                       "event Normal Granted: RoleBinding created (x2)",
                       "ended: Revoked",
                       "event Normal Revoked: revoked by alice",
                   }));
}

// Timestamps have whole seconds: a fast approval lands in the same second as the creation and
// its Event. Ties follow the lifecycle, not the order the entries were collected in (the order
// CI once saw flip).
TEST(Timeline, OrdersEntriesOfTheSameSecondByLifecycleStage) {
  auto r = aliceRequest(Phase::Revoked);
  const char* sec = "2026-11-29T09:50:00Z";
  r.metadata.creationTimestamp = at(sec);
  r.status->approvals = {decision("bob", Decision::Approve, sec, "go")};
  r.status->approvedAt = at(sec);
  r.status->activatedAt = at(sec);
  r.status->endedAt = at(sec);
  std::vector<EventInfo> events = {
      {at(sec), "Warning", "RevokeRequested", "revoked", 1},
      {at(sec), "Normal", "Granted", "granted", 1},
      {at(sec), "Normal", "Approved", "approved by bob", 1},
      {at(sec), "Normal", "Requested", "requested", 1},
  };
  std::vector<std::string> whats;
  for (const auto& e : timeline(r, events)) whats.push_back(e.what);
  EXPECT_EQ(whats, (std::vector<std::string>{
                       "requested by alice",
                       "event Normal Requested: requested",
                       "Approve by bob: go",
                       "approved",
                       "event Normal Approved: approved by bob",
                       "active: access granted",
                       "event Normal Granted: granted",
                       "ended: Revoked",
                       "event Warning RevokeRequested: revoked",
                   }));
}

TEST(EventFromJson, PrefersTheLastTimestamp) {
  auto e = eventFromJson({{"type", "Warning"},
                          {"reason", "GrantForbidden"},
                          {"message", "cannot bind"},
                          {"count", 3},
                          {"firstTimestamp", "2026-11-29T09:00:00Z"},
                          {"lastTimestamp", "2026-11-29T09:05:00Z"}});
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->time, at("2026-11-29T09:05:00Z"));
  EXPECT_EQ(e->count, 3);
  EXPECT_FALSE(eventFromJson({{"reason", "x"}}).has_value());
}

TEST(RenderDescribe, TellsTheWholeStory) {
  auto policy = testing::paymentsOncallPolicy();
  auto r = aliceRequest(Phase::Active);
  r.status->approvals = {decision("bob", Decision::Approve, "2026-11-29T09:55:00Z", "ok")};
  r.status->activatedAt = at("2026-11-29T09:55:01Z");
  r.status->expiresAt = kNow + 30min;
  r.status->message = "access granted";
  r.status->grants = {
      {v1alpha1::GrantKind::RoleBinding, "payments", "kubegrant-debug-orders-view", ""}};
  v1alpha1::Condition granted;
  granted.type = "Granted";
  granted.status = "True";
  granted.reason = "Granted";
  granted.message = "RoleBindings in place";
  granted.lastTransitionTime = at("2026-11-29T09:55:01Z");
  r.status->conditions = {granted};
  const std::string text = renderDescribe(
      r, &policy, {}, std::string("Events not shown: forbidden"), kNow, Style(false));
  for (const char* want :
       {"Name:        debug-orders", "Requester:   alice (groups: payments-devs)",
        "Phase:       Active", "Approvals:   1/1", "Expires:     2026-11-29T10:30:00Z (in 30m)",
        "RoleBinding payments/kubegrant-debug-orders-view", "Granted   True", "Approve    ok",
        "2026-11-29T09:55:00Z  Approve by bob: ok", "(Events not shown: forbidden)"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  }
}

// ---- whoami ------------------------------------------------------------------------------

TEST(Whoami, ListsThePoliciesTheCallerMayRequestOrApproveUnder) {
  auto policy = testing::paymentsOncallPolicy();
  auto other = policy;
  other.metadata.name = "other";
  other.spec.requesters = {{}, {"nobody"}};
  other.spec.approval.approvers = {{}, {"nobody"}};
  other.spec.approval.autoApprove.reset();
  const std::vector<AccessPolicy> both = {policy, other};
  const std::string alice = renderWhoami({"alice", {"payments-devs"}}, &both, Style(false));
  EXPECT_NE(alice.find("payments-oncall   request"), std::string::npos) << alice;
  EXPECT_EQ(alice.find("other"), std::string::npos) << alice;
  auto bob = whoamiJson({"bob", {"payments-leads"}}, {policy, other});
  EXPECT_EQ(bob["canApproveFor"], nlohmann::json::array({"payments-oncall"}));
  EXPECT_EQ(bob["canRequestUnder"], nlohmann::json::array());
  const std::vector<AccessPolicy> one = {policy};
  const std::string mallory = renderWhoami({"mallory", {}}, &one, Style(false));
  EXPECT_NE(mallory.find("No AccessPolicy lets you"), std::string::npos) << mallory;
  const std::string unknown = renderWhoami({"mallory", {}}, nullptr, Style(false));
  EXPECT_EQ(unknown, "Username:  mallory\nGroups:    -\n");
}

}  // namespace
}  // namespace kubegrant::kubectl_grant
