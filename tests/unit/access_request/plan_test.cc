#include "controllers/access_request/plan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "controllers/database/credentials.h"
#include "controllers/database/sql.h"
#include "tests/unit/access_request/fixtures.h"

namespace kubegrant::controllers::access_request {
namespace {

using namespace testing;
using nlohmann::json;

json merged(json base, const json& patch) {
  base.merge_patch(patch);
  return base;
}

v1::AccessRequest request(const json& patch = json::object()) {
  auto j = makeRequest();
  j["metadata"]["finalizers"] = {"kubegrant.io/revoke"};
  j.merge_patch(patch);
  return *v1::fromJson<v1::AccessRequest>(j);
}
v1::AccessPolicy policy(const json& patch = json::object()) {
  auto j = makePolicy();
  j.merge_patch(patch);
  return *v1::fromJson<v1::AccessPolicy>(j);
}

const json kPending = json::parse(R"({"status": {"phase": "Pending", "approvals": []}})");
const json kApproved = json::parse(R"({"status": {"phase": "Pending", "approvals": [
  {"approver": "bob", "approverGroups": ["payments-leads"], "decision": "Approve"}]}})");
const json kActive = json::parse(R"({"status": {"phase": "Active", "approvals": [
  {"approver": "bob", "approverGroups": ["payments-leads"], "decision": "Approve"}],
  "approvedAt": "2026-11-29T10:01:00Z", "activatedAt": "2026-11-29T10:01:00Z",
  "expiresAt": "2026-11-29T10:31:00Z",
  "grants": [{"kind": "RoleBinding", "namespace": "payments", "name": "rb"}]}})");

const std::string kBinding =
    "payments/" + roleBindingName("uid-1", "debug-orders", v1::RoleKind::ClusterRole, "view");

TEST(Plan, ANewRequestWritesPendingAndRecordsTheRequest) {
  auto p = policy();
  Plan out = plan(request(), &p, at("2026-11-29T10:00:00Z"));
  EXPECT_EQ(
      describe(out.effects),
      (std::vector<std::string>{"write status Pending", "record requested (Normal Requested)"}));
  EXPECT_EQ(formatRfc3339(*out.requeueAt), "2026-11-30T10:00:00Z") << "pendingTimeout";
  EXPECT_FALSE(out.grants());
}

TEST(Plan, NothingChangedPlansNothing) {
  auto p = policy();
  auto r = request();
  const TimePoint now = at("2026-11-29T10:00:00Z");
  r.status = std::get<WriteStatus>(plan(r, &p, now).effects[0]).status;
  Plan out = plan(r, &p, now + std::chrono::minutes(1));
  EXPECT_TRUE(out.effects.empty()) << describe(out.effects)[0];
}

TEST(Plan, AnApprovalGrantsBeforeTheStatusThatReportsItAndTellsAfterIt) {
  auto p = policy();
  Plan out = plan(request(kApproved), &p, at("2026-11-29T10:05:00Z"));
  EXPECT_EQ(
      describe(out.effects),
      (std::vector<std::string>{
          "ensure RoleBinding " + kBinding + " (ClusterRole view for alice)", "write status Active",
          "count transition to Active", "record approved (Normal Approved)",
          "record granted (Normal Granted)", "observe approval-to-active latency"}));
  EXPECT_TRUE(out.grants());
  const auto& st = std::get<WriteStatus>(out.effects[1]).status;
  EXPECT_EQ(formatRfc3339(*st.expiresAt), "2026-11-29T10:35:00Z");
  ASSERT_EQ(st.grants.size(), 1u);
  EXPECT_EQ("payments/" + st.grants[0].name, kBinding);
  EXPECT_EQ(formatRfc3339(*out.requeueAt), "2026-11-29T10:35:00Z");
}

// The index in `lines` of the first line starting with `prefix` (lines.size() = none).
size_t indexOf(const std::vector<std::string>& lines, const std::string& prefix) {
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].starts_with(prefix)) return i;
  }
  return lines.size();
}

const json kDatabases =
    json::parse(R"({"spec": {"databases": [{"target": "orders-db", "profile": "readonly"}]}})");
const json kDatabasePolicy =
    json::parse(R"({"spec": {"databases": [{"target": "orders-db", "profiles": ["readonly"]}]}})");

TEST(Plan, TheDatabaseBundleIsGrantedBeforeAnyRoleBindingAndRecorded) {
  auto p = policy(kDatabasePolicy);
  Plan out = plan(request(merged(kDatabases, kApproved)), &p, at("2026-11-29T10:05:00Z"));
  const auto lines = describe(out.effects);
  ASSERT_EQ(lines.front(), "ensure database user on orders-db (profile readonly)");
  const auto& db = std::get<EnsureDatabaseUser>(out.effects.front());
  EXPECT_FALSE(db.keep);
  EXPECT_EQ(formatRfc3339(db.expiresAt), "2026-11-29T10:35:00Z");
  EXPECT_EQ(lines[1], "ensure RoleBinding " + kBinding + " (ClusterRole view for alice)");
  EXPECT_EQ(lines[2].rfind("ensure RoleBinding payments/", 0), 0u) << lines[2];
  EXPECT_TRUE(out.grants());
  const auto& st = std::get<WriteStatus>(out.effects[indexOf(lines, "write status")]).status;
  std::vector<std::string> kinds;
  for (const auto& g : st.grants) kinds.push_back(v1::toString(g.kind));
  EXPECT_EQ(kinds,
            (std::vector<std::string>{"DatabaseUser", "Secret", "RoleBinding", "RoleBinding"}));

  // Active: the next reconcile keeps the user as issued, and writes nothing new.
  auto active = request(kDatabases);
  active.status = st;
  Plan again = plan(active, &p, at("2026-11-29T10:06:00Z"));
  ASSERT_FALSE(again.effects.empty());
  EXPECT_TRUE(std::get<EnsureDatabaseUser>(again.effects.front()).keep);
  EXPECT_EQ(indexOf(describe(again.effects), "write status"), again.effects.size());
}

// The DatabaseTarget orders-db as the reconciler read it, with `grants` for profile readonly.
DatabaseTargets ordersDb(const json& readonlyGrants) {
  auto j = json::parse(R"({"apiVersion": "kubegrant.io/v1alpha1", "kind": "DatabaseTarget",
    "metadata": {"name": "orders-db", "generation": 4},
    "spec": {"engine": "postgres", "host": "db", "database": "orders",
             "adminSecretRef": {"namespace": "kubegrant-system", "name": "admin"}}})");
  j["spec"]["profiles"] = json::array({{{"name", "readonly"}, {"grants", readonlyGrants}}});
  return {{"orders-db",
           std::make_shared<const v1::DatabaseTarget>(*v1::fromJson<v1::DatabaseTarget>(j))}};
}
const json kWithheldEmail = json::parse(R"([{"schema": "public", "tables": ["customers"],
  "privileges": ["SELECT"], "excludeColumns": {"customers": ["email"]}}])");
const json kMaskedEmail = json::parse(R"([{"schema": "public", "tables": ["customers"],
  "privileges": ["SELECT"], "maskColumns": {"customers": {"email": "email"}}}])");

// The status an activation under `targets` writes.
v1::AccessRequestStatus activated(const v1::AccessPolicy& p, const DatabaseTargets& targets) {
  Plan out = plan(request(merged(kDatabases, kApproved)), &p, at("2026-11-29T10:05:00Z"), targets);
  return std::get<WriteStatus>(out.effects[indexOf(describe(out.effects), "write status")]).status;
}

TEST(Plan, AnActivationRecordsTheProfileAndItsFingerprint) {
  auto p = policy(kDatabasePolicy);
  const auto st = activated(p, ordersDb(kWithheldEmail));
  ASSERT_EQ(st.grants.front().kind, v1::GrantKind::DatabaseUser);
  EXPECT_EQ(st.grants.front().profile, "readonly");
  EXPECT_EQ(st.grants.front().profileHash.size(), 16u);
  EXPECT_EQ(st.grants.front().profileHash,
            database::profileHash(*ordersDb(kWithheldEmail).at("orders-db"),
                                  ordersDb(kWithheldEmail).at("orders-db")->spec.profiles[0]));
}

TEST(Plan, AnUnchangedTargetReappliesNothingAndWritesNothing) {
  auto p = policy(kDatabasePolicy);
  auto active = request(kDatabases);
  active.status = activated(p, ordersDb(kWithheldEmail));
  Plan again = plan(active, &p, at("2026-11-29T10:06:00Z"), ordersDb(kWithheldEmail));
  const auto lines = describe(again.effects);
  EXPECT_EQ(indexOf(lines, "re-apply"), lines.size()) << fmt::format("{}", fmt::join(lines, "\n"));
  EXPECT_EQ(indexOf(lines, "write status"), lines.size());
}

TEST(Plan, AChangedProfileIsReappliedToTheActiveUserAndTheNewFingerprintRecorded) {
  auto p = policy(kDatabasePolicy);
  auto active = request(kDatabases);
  active.status = activated(p, ordersDb(kWithheldEmail));
  const std::string before = active.status->grants.front().profileHash;
  Plan out = plan(active, &p, at("2026-11-29T10:06:00Z"), ordersDb(kMaskedEmail));
  const auto lines = describe(out.effects);
  const std::string role = database::roleNameFor("uid-1", "orders-db");
  const size_t ensure = indexOf(lines, "ensure database user on orders-db");
  const size_t reapply =
      indexOf(lines, "re-apply profile readonly of orders-db to database user " + role);
  const size_t status = indexOf(lines, "write status Active");
  ASSERT_LT(status, lines.size()) << fmt::format("{}", fmt::join(lines, "\n"));
  EXPECT_LT(ensure, reapply) << "the user exists (or is re-issued) before it is re-applied";
  EXPECT_LT(reapply, status) << "the new fingerprint is recorded only once re-applied";
  EXPECT_TRUE(std::get<EnsureDatabaseUser>(out.effects[ensure]).keep) << "same password";
  const auto& st = std::get<WriteStatus>(out.effects[status]).status;
  ASSERT_EQ(std::count_if(st.grants.begin(), st.grants.end(),
                          [](const v1::Grant& g) { return g.kind == v1::GrantKind::DatabaseUser; }),
            1)
      << "the user is listed once, with its new fingerprint";
  EXPECT_NE(st.grants.front().profileHash, before);
  EXPECT_EQ(st.phase, v1::Phase::Active);
  EXPECT_EQ(indexOf(lines, "record"), lines.size()) << "not a transition: no audit line";
  // Once recorded, the same target plans nothing more.
  active.status = st;
  Plan after = plan(active, &p, at("2026-11-29T10:07:00Z"), ordersDb(kMaskedEmail));
  EXPECT_EQ(indexOf(describe(after.effects), "re-apply"), after.effects.size());
}

TEST(Plan, ATargetThatLostTheProfileRevokesTheActiveRequestLikeAPolicyChange) {
  auto p = policy(kDatabasePolicy);
  auto active = request(kDatabases);
  active.status = activated(p, ordersDb(kWithheldEmail));
  auto targets = ordersDb(kWithheldEmail);
  auto changed = *targets.at("orders-db");
  changed.spec.profiles[0].name = "support";
  targets["orders-db"] = std::make_shared<const v1::DatabaseTarget>(changed);
  Plan out = plan(active, &p, at("2026-11-29T10:06:00Z"), targets);
  const auto lines = describe(out.effects);
  const size_t revoke = indexOf(lines, "revoke database users [orders-db/");
  const size_t status = indexOf(lines, "write status Revoked");
  ASSERT_LT(status, lines.size()) << fmt::format("{}", fmt::join(lines, "\n"));
  EXPECT_LT(indexOf(lines, "remove Secret payments/debug-orders-orders-db"), revoke);
  EXPECT_LT(revoke, status);
  EXPECT_FALSE(out.grants());
  const auto& st = std::get<WriteStatus>(out.effects[status]).status;
  EXPECT_NE(st.message->find("DatabaseTarget orders-db (generation 4) no longer has profile "
                             "readonly"),
            std::string::npos)
      << *st.message;
  const auto& rec = std::get<Record>(out.effects[indexOf(lines, "record revoked")]);
  EXPECT_EQ(rec.reason, "DatabaseTargetChanged");
  EXPECT_EQ(rec.type, "Warning");
}

TEST(Plan, ADeletedTargetRevokesTheActiveRequest) {
  auto p = policy(kDatabasePolicy);
  auto active = request(kDatabases);
  active.status = activated(p, ordersDb(kWithheldEmail));
  Plan out = plan(active, &p, at("2026-11-29T10:06:00Z"), {{"orders-db", nullptr}});
  const auto lines = describe(out.effects);
  ASSERT_LT(indexOf(lines, "write status Revoked"), lines.size())
      << fmt::format("{}", fmt::join(lines, "\n"));
  EXPECT_EQ(std::get<Record>(out.effects[indexOf(lines, "record revoked")]).reason,
            "DatabaseTargetDeleted");
}

TEST(Plan, ATargetThatWasNotReadDecidesNothing) {
  // Not in the map (not read): neither revoked nor re-applied.
  auto p = policy(kDatabasePolicy);
  auto active = request(kDatabases);
  active.status = activated(p, ordersDb(kWithheldEmail));
  Plan out = plan(active, &p, at("2026-11-29T10:06:00Z"), {});
  const auto lines = describe(out.effects);
  EXPECT_EQ(indexOf(lines, "re-apply"), lines.size());
  EXPECT_EQ(indexOf(lines, "write status"), lines.size());
}

const json kRules = json::parse(R"({"spec": {"roles": null, "rules": [
  {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
  {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]}})");
const json kRulesPolicy = json::parse(R"({"spec": {"rules": [
  {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
  {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]}})");

TEST(Plan, TheTemporaryRoleOfSpecRulesExistsBeforeItsBindingAndBothAreRecorded) {
  auto p = policy(kRulesPolicy);
  Plan out = plan(request(merged(kRules, kApproved)), &p, at("2026-11-29T10:05:00Z"));
  const auto lines = describe(out.effects);
  const std::string name =
      roleBindingName("uid-1", "debug-orders", v1::RoleKind::Role, kTemporaryRoleName);
  const size_t role = indexOf(lines, "ensure Role payments/" + name + " (2 rules)");
  const size_t binding = indexOf(lines, "ensure RoleBinding payments/" + name + " (Role " + name);
  const size_t status = indexOf(lines, "write status Active");
  ASSERT_LT(status, lines.size()) << fmt::format("{}", fmt::join(lines, "\n"));
  EXPECT_LT(role, binding);
  EXPECT_LT(binding, status);
  EXPECT_TRUE(out.grants());
  const auto& st = std::get<WriteStatus>(out.effects[status]).status;
  std::vector<std::string> kinds;
  for (const auto& g : st.grants) kinds.push_back(v1::toString(g.kind));
  EXPECT_EQ(kinds, (std::vector<std::string>{"Role", "RoleBinding"}));

  // Expiry: the binding goes first, then the role; then Expired.
  auto active = request(kRules);
  active.status = st;
  Plan end = plan(active, &p, *st.expiresAt);
  const auto removal = describe(end.effects);
  const size_t unbind = indexOf(removal, "remove RoleBinding payments/" + name);
  const size_t unrole = indexOf(removal, "remove Role payments/" + name);
  const size_t expired = indexOf(removal, "write status Expired");
  ASSERT_LT(expired, removal.size()) << fmt::format("{}", fmt::join(removal, "\n"));
  EXPECT_LT(unbind, unrole);
  EXPECT_LT(unrole, expired);
}

TEST(Plan, ExpiryRemovesTheKubernetesPartsBeforeRevokingTheDatabaseUser) {
  auto p = policy(kDatabasePolicy);
  auto active = merged(kDatabases, kActive);
  active["status"]["grants"].push_back(
      {{"kind", "DatabaseUser"}, {"name", "kg_recorded"}, {"target", "orders-db"}});
  Plan out = plan(request(active), &p, at("2026-11-29T10:31:00Z"));
  const auto lines = describe(out.effects);
  const size_t secret = indexOf(lines, "remove Secret payments/debug-orders-orders-db");
  const size_t role = indexOf(lines, "remove Role payments/");
  const size_t revoke = indexOf(lines, "revoke database users [orders-db/kg_recorded]");
  const size_t status = indexOf(lines, "write status Expired");
  ASSERT_LT(status, lines.size()) << fmt::format("{}", fmt::join(lines, "\n"));
  for (size_t i = 0; i < secret; ++i) EXPECT_TRUE(lines[i].starts_with("remove RoleBinding"));
  EXPECT_LT(secret, revoke);
  EXPECT_LT(role, revoke);
  EXPECT_LT(revoke, status);
  EXPECT_TRUE(std::get<RevokeDatabaseUsers>(out.effects[revoke]).users.front().recorded);
  EXPECT_FALSE(out.grants());
}

TEST(Plan, ExpiryRemovesEveryGrantThenWritesExpiredAndTellsWhoApproved) {
  auto p = policy();
  Plan out = plan(request(kActive), &p, at("2026-11-29T10:31:00Z"));
  EXPECT_EQ(
      describe(out.effects),
      (std::vector<std::string>{
          "remove RoleBinding " + kBinding + " (if labelled with the request's uid)",
          "remove RoleBinding payments/rb", "write status Expired", "count transition to Expired",
          "record expired (Normal Expired)", "observe expiry lag"}));
  const auto& record = std::get<Record>(out.effects[4]);
  EXPECT_EQ(record.approvers, std::vector<std::string>{"bob"});
  ASSERT_EQ(record.subject.status->grants.size(), 1u) << "the ending names what was removed";
  EXPECT_FALSE(out.grants());
}

TEST(Plan, ARevokeWhileActiveRemovesGrantsAndNeverGrants) {
  auto p = policy();
  Plan out = plan(request(merged(kActive, {{"spec", {{"revoke", true}}}})), &p,
                  at("2026-11-29T10:10:00Z"));
  EXPECT_FALSE(out.grants());
  EXPECT_EQ(describe(out.effects[2]), "write status Revoked");
  EXPECT_EQ(describe(out.effects[4]), "record revoked (Warning RevokeRequested)");
}

TEST(Plan, ARefusedGrantRemovesWhatExistsThenWritesFailed) {
  auto p = policy();
  Plan out = planRefusal(request(kApproved), &p, GrantRefused{"GrantForbidden", "may not bind"},
                         at("2026-11-29T10:05:00Z"));
  EXPECT_EQ(describe(out.effects),
            (std::vector<std::string>{
                "remove RoleBinding " + kBinding + " (if labelled with the request's uid)",
                "write status Failed", "count transition to Failed",
                "record failed (Warning GrantForbidden)"}));
  EXPECT_EQ(std::get<WriteStatus>(out.effects[1]).status.message, "may not bind");
}

TEST(Plan, AnEndedRequestIsDeletedAfterRetainForAndItsStatusNeverRewritten) {
  auto p = policy(json{{"spec", {{"retainFor", "1h"}}}});
  auto ended = request(merged(kActive, json::parse(R"({"status": {"phase": "Expired",
      "endedAt": "2026-11-29T10:31:00Z", "grants": []}})")));
  Plan out = plan(ended, &p, at("2026-11-29T11:00:00Z"));
  EXPECT_TRUE(out.effects.empty());
  EXPECT_EQ(formatRfc3339(*out.requeueAt), "2026-11-29T11:31:00Z");
  out = plan(ended, &p, at("2026-11-29T11:31:00Z"));
  EXPECT_EQ(describe(out.effects), std::vector<std::string>{"delete the request"});
}

}  // namespace
}  // namespace kubegrant::controllers::access_request
