#include "controllers/access_request/plan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

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
