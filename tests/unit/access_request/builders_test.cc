#include "controllers/access_request/builders.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include "controllers/access_request/audit.h"
#include "operator/common/crypto.h"
#include "tests/unit/access_request/fixtures.h"

namespace kubegrant::controllers::access_request {
namespace {

using namespace testing;
using nlohmann::json;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

v1::AccessRequest request(json j = makeRequest()) { return *v1::fromJson<v1::AccessRequest>(j); }
v1::AccessPolicy policy(json j = makePolicy()) { return *v1::fromJson<v1::AccessPolicy>(j); }

TEST(RoleBindingName, IsDeterministicDnsSafeAndAtMost63Characters) {
  const std::regex dns("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
  const std::string uid = "3f9c2a1b-0000-4000-8000-000000000001";
  std::string shortName = roleBindingName(uid, "debug-orders", v1::RoleKind::ClusterRole, "view");
  EXPECT_EQ(shortName, roleBindingName(uid, "debug-orders", v1::RoleKind::ClusterRole, "view"));
  EXPECT_TRUE(shortName.starts_with("kubegrant-debug-orders-view-")) << shortName;
  EXPECT_EQ(shortName.size(), std::string("kubegrant-debug-orders-view-").size() + 16)
      << "64 bits of hash: " << shortName;
  std::string longName =
      roleBindingName(uid, std::string(200, 'x'), v1::RoleKind::ClusterRole,
                      "system:aggregate-to-view-with-a-very-long-role-name-indeed-yes");
  for (const auto& n : {shortName, longName}) {
    EXPECT_LE(n.size(), 63u) << n;
    EXPECT_TRUE(std::regex_match(n, dns)) << n;
  }
}

TEST(RoleBindingName, DiffersForRoleKindsAndRequests) {
  auto a = roleBindingName("uid-1", "r", v1::RoleKind::ClusterRole, "view");
  EXPECT_NE(a, roleBindingName("uid-1", "r", v1::RoleKind::Role, "view"));
  EXPECT_NE(a, roleBindingName("uid-2", "r", v1::RoleKind::ClusterRole, "view"));
  EXPECT_NE(a, roleBindingName("uid-1", "r2", v1::RoleKind::ClusterRole, "view"));
}

TEST(RoleBindingName, ComesFromTheUidNotFromWhatAClientChooses) {
  // Same namespace and name (a request deleted and re-created, or crafted to match): the
  // server-assigned UID still separates the bindings.
  EXPECT_NE(roleBindingName("uid-1", "debug", v1::RoleKind::ClusterRole, "view"),
            roleBindingName("uid-2", "debug", v1::RoleKind::ClusterRole, "view"));
  // A name crafted to look like another request's binding gets its own hash.
  auto victim = roleBindingName("uid-1", "a-b", v1::RoleKind::ClusterRole, "view");
  auto crafted = roleBindingName("uid-3", "a", v1::RoleKind::ClusterRole, "b-view");
  EXPECT_EQ(victim.substr(0, 17), crafted.substr(0, 17)) << "same readable prefix";
  EXPECT_NE(victim, crafted);
}

TEST(DesiredRoleBindings, BindsOnlyTheRequesterOncePerRoleAndNamespace) {
  auto j = makeRequest();
  j["spec"]["roles"] = json::parse(R"([
    {"kind": "ClusterRole", "name": "view"},
    {"kind": "Role", "name": "pod-debugger", "namespaces": ["payments", "billing"]}])");
  auto r = request(j);
  auto rbs = desiredRoleBindings(r);
  ASSERT_EQ(rbs.size(), 3u);
  for (const auto& rb : rbs) EXPECT_EQ(rb.user, "alice");
  auto body = roleBindingJson(rbs[0], r);
  EXPECT_EQ(body["subjects"].size(), 1u);
  EXPECT_EQ(body["subjects"][0]["kind"], "User");
  EXPECT_EQ(body["subjects"][0]["name"], "alice");
  EXPECT_EQ(body["metadata"]["labels"]["app.kubernetes.io/managed-by"], "kubegrant");
  EXPECT_EQ(body["metadata"]["labels"]["kubegrant.io/request-uid"], "uid-1");
  EXPECT_FALSE(body["metadata"].contains("ownerReferences"));
  EXPECT_TRUE(roleBindingMatches(body, rbs[0], r));
  body["subjects"].push_back({{"kind", "User"}, {"name", "mallory"}});
  EXPECT_FALSE(roleBindingMatches(body, rbs[0], r));
}

TEST(TemporaryRoles, HoldExactlyTheRequestedRulesPerNamespaceAndAreBoundToTheRequester) {
  auto j = makeRequest();
  j["spec"]["roles"] = json::array();
  j["spec"]["rules"] = json::parse(R"([
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"], "namespaces": ["payments", "billing"]},
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"], "resourceNames": ["n1"], "scope": "Cluster"}])");
  auto r = request(j);
  auto roles = desiredTemporaryRoles(r);
  ASSERT_EQ(roles.size(), 3u);
  EXPECT_EQ(roles[0].namespace_, "") << "the ClusterRole sorts first";
  EXPECT_EQ(roles[1].namespace_, "billing");
  EXPECT_EQ(roles[2].namespace_, "payments");
  EXPECT_EQ(roles[2].rules.size(), 2u);
  EXPECT_EQ(roles[1].rules.size(), 1u);
  EXPECT_NE(roles[0].name, roles[2].name) << "a ClusterRole and a Role never share a name";
  EXPECT_EQ(roles[1].name, roles[2].name) << "one name per request and kind";

  auto role = temporaryRoleJson(roles[2], r);
  EXPECT_EQ(role["kind"], "Role");
  EXPECT_EQ(role["metadata"]["namespace"], "payments");
  EXPECT_EQ(role["metadata"]["labels"]["kubegrant.io/request-uid"], "uid-1");
  EXPECT_EQ(role["rules"], json::parse(R"([
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}])"));
  auto cluster = temporaryRoleJson(roles[0], r);
  EXPECT_EQ(cluster["kind"], "ClusterRole");
  EXPECT_FALSE(cluster["metadata"].contains("namespace"));
  EXPECT_EQ(cluster["rules"][0]["resourceNames"], json::array({"n1"}));

  // Each is bound to alice alone by a binding of the same name and kind.
  auto rbs = desiredRoleBindings(r);
  ASSERT_EQ(rbs.size(), 3u);
  for (const auto& rb : rbs) {
    EXPECT_EQ(rb.user, "alice");
    EXPECT_EQ(rb.name, rb.roleName);
  }
  EXPECT_EQ(rbs[0].roleKind, v1::RoleKind::ClusterRole);
  EXPECT_TRUE(isClusterBinding(rbs[0]));
  EXPECT_EQ(rbs[2].roleKind, v1::RoleKind::Role);
  EXPECT_EQ(grantFor(roles[0]).kind, v1::GrantKind::ClusterRole);
  EXPECT_EQ(grantFor(roles[2]).kind, v1::GrantKind::Role);
}

TEST(DesiredRoleBindings, AClusterScopedRoleIsOneLabelledClusterRoleBinding) {
  auto j = makeRequest();
  j["spec"]["roles"] = json::parse(R"([
    {"kind": "ClusterRole", "name": "node-viewer", "scope": "Cluster"},
    {"kind": "ClusterRole", "name": "node-viewer"}])");
  auto r = request(j);
  auto rbs = desiredRoleBindings(r);
  ASSERT_EQ(rbs.size(), 2u);
  // Sorted by namespace: the cluster-scoped one (no namespace) first.
  EXPECT_TRUE(isClusterBinding(rbs[0]));
  EXPECT_FALSE(isClusterBinding(rbs[1]));
  EXPECT_EQ(rbs[0].name,
            roleBindingName("uid-1", r.metadata.name, v1::RoleKind::ClusterRole, "node-viewer"));
  auto body = roleBindingJson(rbs[0], r);
  EXPECT_EQ(body["kind"], "ClusterRoleBinding");
  EXPECT_FALSE(body["metadata"].contains("namespace"));
  EXPECT_EQ(body["roleRef"]["kind"], "ClusterRole");
  EXPECT_EQ(body["roleRef"]["name"], "node-viewer");
  EXPECT_EQ(body["subjects"], json::parse(R"([{"apiGroup": "rbac.authorization.k8s.io",
                                              "kind": "User", "name": "alice"}])"));
  EXPECT_EQ(body["metadata"]["labels"]["app.kubernetes.io/managed-by"], "kubegrant");
  EXPECT_EQ(body["metadata"]["labels"]["kubegrant.io/request-uid"], "uid-1");
  EXPECT_TRUE(roleBindingMatches(body, rbs[0], r));
  const auto g = grantFor(rbs[0]);
  EXPECT_EQ(g.kind, v1::GrantKind::ClusterRoleBinding);
  EXPECT_EQ(g.namespace_, "");
  EXPECT_EQ(roleBindingJson(rbs[1], r)["kind"], "RoleBinding");
}

TEST(DesiredRoleBindings, IsEmptyWithoutARequester) {
  auto j = makeRequest();
  j["spec"].erase("requester");
  EXPECT_TRUE(desiredRoleBindings(request(j)).empty());
}

// One row of the lifecycle table: a request (as JSON patches over the fixture), a policy
// (or none), a time, and what decide() must decide.
struct DecisionCase {
  std::string name;
  json requestPatch;
  std::optional<json> policyPatch;  // nullopt = policy deleted
  const char* now;
  Step step;
  v1::Phase phase;
  std::string reason;
  std::optional<const char*> requeueAt;
  std::string messageContains;
};
// Readable in test names' listings and failure messages (instead of raw bytes).
void PrintTo(const DecisionCase& c, std::ostream* os) { *os << c.name; }

class DecisionTable : public ::testing::TestWithParam<DecisionCase> {};

TEST_P(DecisionTable, DecidesTheNextStep) {
  const auto& c = GetParam();
  auto rj = makeRequest();
  rj.merge_patch(c.requestPatch);
  auto r = request(rj);
  std::optional<v1::AccessPolicy> p;
  if (c.policyPatch) {
    auto pj = makePolicy();
    pj.merge_patch(*c.policyPatch);
    p = policy(pj);
  }
  Decision out = decide(r, p ? &*p : nullptr, at(c.now));
  EXPECT_EQ(toString(out.step), std::string(toString(c.step)));
  EXPECT_EQ(v1::toString(out.phase), std::string(v1::toString(c.phase)));
  EXPECT_EQ(out.reason, c.reason);
  if (c.requeueAt) {
    ASSERT_TRUE(out.requeueAt.has_value());
    EXPECT_EQ(formatRfc3339(*out.requeueAt), *c.requeueAt);
  } else {
    EXPECT_FALSE(out.requeueAt.has_value());
  }
  EXPECT_NE(out.message.find(c.messageContains), std::string::npos) << out.message;
}

const json kActive = json::parse(R"({"status": {"phase": "Active", "approvals": [
  {"approver": "bob", "approverGroups": ["payments-leads"], "decision": "Approve"}],
  "approvedAt": "2026-11-29T10:01:00Z", "activatedAt": "2026-11-29T10:01:00Z",
  "expiresAt": "2026-11-29T10:31:00Z",
  "grants": [{"kind": "RoleBinding", "namespace": "payments", "name": "rb"}]}})");

json merged(json base, const json& patch) {
  base.merge_patch(patch);
  return base;
}

json withApprovals(json approvals) { return {{"status", {{"approvals", approvals}}}}; }

INSTANTIATE_TEST_SUITE_P(
    Lifecycle, DecisionTable,
    ::testing::Values(
        DecisionCase{"a new request waits and names the approvals still needed", json::object(),
                     json::object(), "2026-11-29T10:00:05Z", Step::None, v1::Phase::Pending,
                     "AwaitingApproval", "2026-11-30T10:00:00Z",
                     "needs 1 more approval from group payments-leads"},
        DecisionCase{"one approval from an approver activates at once",
                     withApprovals(json::array({approval("bob")})), json::object(),
                     "2026-11-29T10:02:00Z", Step::Activate, v1::Phase::Active, "Granted",
                     std::nullopt, ""},
        DecisionCase{"the requester's own approval never counts",
                     withApprovals(json::array({approval("alice", "Approve", "payments-leads")})),
                     json::object(), "2026-11-29T10:02:00Z", Step::None, v1::Phase::Pending,
                     "AwaitingApproval", "2026-11-30T10:00:00Z", "needs 1 more"},
        DecisionCase{"required 0 approves at once", json::object(),
                     json{{"spec", {{"approval", {{"required", 0}}}}}}, "2026-11-29T10:00:05Z",
                     Step::Activate, v1::Phase::Active, "Granted", std::nullopt, ""},
        DecisionCase{"two required approvals: one is not enough",
                     withApprovals(json::array({approval("bob")})),
                     json{{"spec", {{"approval", {{"required", 2}}}}}}, "2026-11-29T10:02:00Z",
                     Step::None, v1::Phase::Pending, "AwaitingApproval", "2026-11-30T10:00:00Z",
                     "approved so far by bob"},
        DecisionCase{"any deny ends the request as Denied",
                     withApprovals(json::array({approval("bob"), approval("carol", "Deny")})),
                     json{{"spec", {{"approval", {{"required", 2}}}}}}, "2026-11-29T10:02:00Z",
                     Step::RemoveGrants, v1::Phase::Denied, "Denied", std::nullopt,
                     "denied by carol"},
        DecisionCase{"no approval within pendingTimeout expires without access", json::object(),
                     json::object(), "2026-11-30T10:00:00Z", Step::RemoveGrants, v1::Phase::Expired,
                     "PendingTimeout", std::nullopt, "no access was granted"},
        DecisionCase{"startAt in the future waits as Approved",
                     json{{"spec", {{"startAt", "2026-11-29T12:00:00Z"}}},
                          {"status", {{"approvals", json::array({approval("bob")})}}}},
                     json::object(), "2026-11-29T10:02:00Z", Step::None, v1::Phase::Approved,
                     "Scheduled", "2026-11-29T12:00:00Z", "starts at 2026-11-29T12:00:00Z"},
        DecisionCase{"an Active request keeps its grants until expiresAt", kActive, json::object(),
                     "2026-11-29T10:10:00Z", Step::EnsureGrants, v1::Phase::Active, "Granted",
                     "2026-11-29T10:31:00Z", ""},
        DecisionCase{"an Active request expires at expiresAt", kActive, json::object(),
                     "2026-11-29T10:31:00Z", Step::RemoveGrants, v1::Phase::Expired, "Expired",
                     std::nullopt, "expired at 2026-11-29T10:31:00Z"},
        DecisionCase{"spec.revoke ends access early",
                     merged(kActive, json{{"spec", {{"revoke", true}}}}), json::object(),
                     "2026-11-29T10:10:00Z", Step::RemoveGrants, v1::Phase::Revoked,
                     "RevokeRequested", std::nullopt, "revoked early"},
        DecisionCase{"a deleted policy revokes", kActive, std::nullopt, "2026-11-29T10:10:00Z",
                     Step::RemoveGrants, v1::Phase::Revoked, "PolicyDeleted", std::nullopt,
                     "AccessPolicy payments-oncall was deleted"},
        DecisionCase{"a policy that no longer allows the role revokes", kActive,
                     json{{"spec", {{"roles", json::array({{{"kind", "Role"}, {"name", "x"}}})}}}},
                     "2026-11-29T10:10:00Z", Step::RemoveGrants, v1::Phase::Revoked,
                     "PolicyChanged", std::nullopt, "no longer allows"},
        DecisionCase{
            "a policy that no longer allows the database profile revokes",
            merged(kActive, json{{"spec",
                                  {{"databases", json::array({{{"target", "orders-db"},
                                                               {"profile", "readonly"}}})}}}}),
            json{{"spec",
                  {{"databases",
                    json::array({{{"target", "orders-db"}, {"profiles", {"support"}}}})}}}},
            "2026-11-29T10:10:00Z", Step::RemoveGrants, v1::Phase::Revoked, "PolicyChanged",
            std::nullopt, "spec.databases[0].profile"},
        DecisionCase{"a policy that no longer trusts the approver revokes", kActive,
                     json{{"spec", {{"approval", {{"approvers", {{"groups", {"other"}}}}}}}}},
                     "2026-11-29T10:10:00Z", Step::RemoveGrants, v1::Phase::Revoked,
                     "PolicyChanged", std::nullopt, "no longer satisfy"},
        DecisionCase{
            "a break-glass requester is approved at once",
            json{{"spec", {{"requester", {{"username", "sam"}, {"groups", {"sre-oncall"}}}}}}},
            json::object(), "2026-11-29T10:00:05Z", Step::Activate, v1::Phase::Active, "Granted",
            std::nullopt, ""},
        DecisionCase{"a terminal request is kept until retainFor",
                     json{{"status", {{"phase", "Expired"}, {"endedAt", "2026-11-29T11:00:00Z"}}}},
                     json::object(), "2026-11-29T12:00:00Z", Step::None, v1::Phase::Expired, "",
                     "2026-12-29T11:00:00Z", ""},
        DecisionCase{"a terminal request is deleted after retainFor",
                     json{{"status", {{"phase", "Expired"}, {"endedAt", "2026-11-29T11:00:00Z"}}}},
                     json::object(), "2026-12-29T11:00:00Z", Step::Delete, v1::Phase::Expired,
                     "Retained", std::nullopt, "retainFor"},
        DecisionCase{
            "a deleted Active request is revoked",
            merged(kActive, json{{"metadata", {{"deletionTimestamp", "2026-11-29T10:05:00Z"}}}}),
            json::object(), "2026-11-29T10:05:00Z", Step::RemoveGrants, v1::Phase::Revoked,
            "Deleted", std::nullopt, "deleted"}),
    [](const auto& info) {
      std::string n;
      for (char c : info.param.name) n += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return n;
    });

TEST(NextStatus, StartsTheClockAtActivationNotAtCreation) {
  auto rj = makeRequest();
  rj["status"]["approvals"] = json::array({approval("bob")});
  auto r = request(rj);
  auto p = policy();
  const TimePoint now = at("2026-11-29T15:00:00Z");  // five hours after creation
  Decision out = decide(r, &p, now);
  ASSERT_EQ(out.step, Step::Activate);
  v1::Grant g{v1::GrantKind::RoleBinding, "payments", "rb", ""};
  auto st = nextStatus(r, out, {g}, now);
  EXPECT_EQ(st.phase, v1::Phase::Active);
  EXPECT_EQ(formatRfc3339(*st.approvedAt), "2026-11-29T15:00:00Z");
  EXPECT_EQ(formatRfc3339(*st.activatedAt), "2026-11-29T15:00:00Z");
  EXPECT_EQ(formatRfc3339(*st.expiresAt), "2026-11-29T15:30:00Z");
  EXPECT_EQ(st.grants, std::vector<v1::Grant>{g});
  EXPECT_EQ(st.observedGeneration, 1);
  ASSERT_EQ(st.conditions.size(), 2u);
  EXPECT_EQ(st.conditions[0].type, "Approved");
  EXPECT_EQ(st.conditions[0].status, "True");
  EXPECT_EQ(st.conditions[0].message, "approved by bob");
  EXPECT_EQ(st.conditions[1].type, "Granted");
  EXPECT_EQ(st.conditions[1].status, "True");
  EXPECT_NE(st.message->find("until 2026-11-29T15:30:00Z"), std::string::npos) << *st.message;
}

TEST(NextStatus, AnActiveMessageNamesTheDatabaseUserItGranted) {
  // Database users are issued now: the message lists them with the other grants and no longer
  // claims that spec.databases is not granted.
  auto rj = makeRequest();
  rj["status"]["approvals"] = json::array({approval("bob")});
  rj["spec"]["databases"] = json::array({{{"target", "orders-db"}, {"profile", "readonly"}}});
  auto withDb = request(rj);
  auto p = policy();
  p.spec.databases = {{"orders-db", {"readonly"}}};
  const TimePoint now = at("2026-11-29T10:05:00Z");
  v1::Grant rb{v1::GrantKind::RoleBinding, "payments", "rb", ""};
  v1::Grant user{v1::GrantKind::DatabaseUser, "", "kg_3f9c2a1b", "orders-db"};
  auto st = nextStatus(withDb, decide(withDb, &p, now), {rb, user}, now);
  ASSERT_EQ(st.phase, v1::Phase::Active);
  EXPECT_NE(st.message->find("DatabaseUser orders-db/kg_3f9c2a1b"), std::string::npos)
      << *st.message;
  EXPECT_EQ(st.message->find("not granted"), std::string::npos) << *st.message;
}

TEST(NextStatus, IsAFixedPointWhenNothingChanges) {
  auto rj = makeRequest();
  auto r = request(rj);
  auto p = policy();
  auto first =
      nextStatus(r, decide(r, &p, at("2026-11-29T10:00:05Z")), {}, at("2026-11-29T10:00:05Z"));
  r.status = first;
  auto second =
      nextStatus(r, decide(r, &p, at("2026-11-29T10:07:00Z")), {}, at("2026-11-29T10:07:00Z"));
  EXPECT_EQ(first, second);
}

TEST(NextStatus, EndingRemovesTheGrantListAndSetsEndedAt) {
  auto rj = makeRequest();
  rj.merge_patch(kActive);
  auto r = request(rj);
  auto p = policy();
  Decision out = decide(r, &p, at("2026-11-29T10:31:00Z"));
  auto st = nextStatus(r, out, {}, at("2026-11-29T10:31:00Z"));
  EXPECT_EQ(st.phase, v1::Phase::Expired);
  EXPECT_EQ(formatRfc3339(*st.endedAt), "2026-11-29T10:31:00Z");
  EXPECT_TRUE(st.grants.empty());
  EXPECT_EQ(st.conditions.back().type, "Granted");
  EXPECT_EQ(st.conditions.back().status, "False");
  EXPECT_EQ(st.conditions.back().reason, "Expired");
}

TEST(AuditRecord, CarriesWhoWhatWhyAndWhen) {
  auto rj = makeRequest();
  rj.merge_patch(kActive);
  auto r = request(rj);
  auto rec = auditRecord(AuditEvent::Granted, r, {"bob"}, at("2026-11-29T10:01:00Z"));
  EXPECT_EQ(rec["event"], "granted");
  EXPECT_EQ(rec["request"]["name"], "debug-orders");
  EXPECT_EQ(rec["request"]["namespace"], "payments");
  EXPECT_EQ(rec["requester"]["username"], "alice");
  EXPECT_EQ(rec["approvers"], json::array({"bob"}));
  EXPECT_EQ(rec["reason"], "orders stuck");
  EXPECT_EQ(rec["ticket"], "INC-4211");
  EXPECT_EQ(rec["grants"][0]["name"], "rb");
  EXPECT_EQ(rec["expiresAt"], "2026-11-29T10:31:00Z");
  EXPECT_EQ(rec.dump().find("password"), std::string::npos);
}

TEST(AuditLog, WritesOneChainedLinePerRecord) {
  std::vector<std::string> lines;
  AuditLog log([&](std::string_view l) { lines.emplace_back(l); });
  log.write(json{{"event", "requested"}});
  log.write(json{{"event", "approved"}});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            R"({"event":"requested","prev":")" + std::string(audit::kGenesis) + R"(","seq":1})");
  EXPECT_EQ(lines[1].find('\n'), std::string::npos);
  EXPECT_EQ(json::parse(lines[1])["prev"], sha256Hex(lines[0]));
  EXPECT_EQ(log.head(), (audit::ChainHead{2, sha256Hex(lines[1])}));
}

// A fresh folder for audit files, removed at the end.
class AuditFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           fmt::format("kg-audit-{}-{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "audit.log").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  audit::VerifyReport verify(std::vector<std::string> paths) {
    std::vector<audit::ChainFile> files;
    for (auto& p : paths) files.push_back({p, read(p)});
    return audit::verifyChain(files);
  }
  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(AuditFileTest, TheChainContinuesAcrossReopeningTheSameFile) {
  {
    auto log = AuditLog::open(path_);
    ASSERT_TRUE(log) << log.error().message;
    (*log)->write(json{{"event", "requested"}});
    (*log)->write(json{{"event", "approved"}});
  }
  auto log = AuditLog::open(path_);
  ASSERT_TRUE(log) << log.error().message;
  EXPECT_EQ((*log)->head().seq, 2u);
  (*log)->write(json{{"event", "granted"}});
  auto r = verify({path_});
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 3u);
}

TEST_F(AuditFileTest, ASecondWriterOfTheSameFileIsRefused) {
  auto first = AuditLog::open(path_);
  ASSERT_TRUE(first) << first.error().message;
  auto second = AuditLog::open(path_);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("locked by another process"), std::string::npos)
      << second.error().message;
}

TEST_F(AuditFileTest, RotationByRenameContinuesTheChainInTheNewFileAndAfterARestart) {
  {
    auto log = AuditLog::open(path_);
    ASSERT_TRUE(log) << log.error().message;
    (*log)->write(json{{"event", "requested"}});
    (*log)->write(json{{"event", "approved"}});
    std::filesystem::rename(path_, path_ + ".1");  // logrotate's default (create)
    (*log)->write(json{{"event", "granted"}});
  }
  const std::string rotated = read(path_);
  EXPECT_EQ(std::count(rotated.begin(), rotated.end(), '\n'), 1) << rotated;
  auto r = verify({path_ + ".1", path_});
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 3u);

  // Rotated while the operator was down: the new file starts from PATH.1's last line.
  std::filesystem::rename(path_, path_ + ".2");
  std::filesystem::rename(path_ + ".1", path_ + ".3");
  std::filesystem::rename(path_ + ".2", path_ + ".1");
  auto log = AuditLog::open(path_);
  ASSERT_TRUE(log) << log.error().message;
  (*log)->write(json{{"event", "expired"}});
  auto all = verify({path_ + ".3", path_ + ".1", path_});
  EXPECT_TRUE(all.ok) << all.problem;
  EXPECT_EQ(all.lines, 4u);
}

TEST_F(AuditFileTest, ATornLastLineIsEndedAndANewChainStartsThatVerifyReports) {
  {
    auto log = AuditLog::open(path_);
    ASSERT_TRUE(log) << log.error().message;
    (*log)->write(json{{"event", "requested"}});
  }
  std::ofstream(path_, std::ios::app) << R"({"event":"appr)";
  auto log = AuditLog::open(path_);
  ASSERT_TRUE(log) << log.error().message;
  EXPECT_EQ((*log)->head().seq, 0u);
  (*log)->write(json{{"event", "approved"}});
  auto content = read(path_);
  EXPECT_NE(content.find("{\"event\":\"appr\n{"), std::string::npos) << content;
  auto r = verify({path_});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 2u);
}

}  // namespace
}  // namespace kubegrant::controllers::access_request
