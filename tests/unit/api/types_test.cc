#include "crds/v1alpha1/types.h"

#include <gtest/gtest.h>

#include <string>

#include "operator/common/time.h"
#include "tests/support/api_examples.h"

namespace kubegrant::v1alpha1 {
namespace {

using nlohmann::json;

// The examples of API.md, as the API server would return them (defaults applied).
const char* kPolicyJson = R"({
  "apiVersion": "kubegrant.io/v1alpha1",
  "kind": "AccessPolicy",
  "metadata": {"name": "payments-oncall", "generation": 3, "uid": "u-1", "resourceVersion": "42"},
  "spec": {
    "requesters": {"groups": ["payments-devs"]},
    "namespaces": ["payments"],
    "roles": [{"kind": "ClusterRole", "name": "view"}, {"kind": "Role", "name": "pod-debugger"}],
    "databases": [{"target": "orders-db", "profiles": ["readonly"]}],
    "defaultDuration": "1h",
    "maxDuration": "4h",
    "pendingTimeout": "24h",
    "retainFor": "720h",
    "requireReason": true,
    "ticketPattern": "^INC-[0-9]+$",
    "maxOpenRequests": 5,
    "maxStartDelay": "168h",
    "approvalValidFor": "24h",
    "approval": {
      "approvers": {"groups": ["payments-leads"]},
      "required": 1,
      "autoApprove": {"groups": ["sre-oncall"]}
    }
  }
})";

const char* kTargetJson = R"({
  "apiVersion": "kubegrant.io/v1alpha1",
  "kind": "DatabaseTarget",
  "metadata": {"name": "orders-db"},
  "spec": {
    "engine": "postgres",
    "host": "orders-db.payments.svc",
    "port": 5432,
    "database": "orders",
    "sslMode": "require",
    "adminSecretRef": {"namespace": "kubegrant-system", "name": "orders-db-admin"},
    "connectionLimit": 2,
    "caSecretRef": {"namespace": "kubegrant-system", "name": "orders-db-ca"},
    "auditStatements": true,
    "profiles": [{
      "name": "readonly",
      "grants": [{
        "schema": "public",
        "tables": ["*"],
        "privileges": ["SELECT"],
        "excludeColumns": {"customers": ["email", "phone", "card_number"]}
      }]
    }, {
      "name": "support",
      "grants": [{
        "schema": "public",
        "tables": ["customers", "orders"],
        "privileges": ["SELECT"],
        "excludeColumns": {"customers": ["card_number"]},
        "maskColumns": {"customers": {"email": "email", "name": "hash", "phone": "partial"}}
      }]
    }]
  }
})";

const char* kRequestJson = R"({
  "apiVersion": "kubegrant.io/v1alpha1",
  "kind": "AccessRequest",
  "metadata": {
    "name": "debug-orders", "generateName": "debug-", "namespace": "payments", "generation": 1,
    "finalizers": ["kubegrant.io/revoke"],
    "labels": {"team": "payments"},
    "annotations": {"note": "x"},
    "creationTimestamp": "2026-11-29T10:00:00Z",
    "ownerReferences": [{"apiVersion": "v1", "kind": "Namespace", "name": "payments", "uid": "n-1", "controller": false}]
  },
  "spec": {
    "policy": "payments-oncall",
    "duration": "2h",
    "startAt": "2026-12-01T22:00:00Z",
    "reason": "orders stuck in pending",
    "ticket": "INC-4211",
    "roles": [{"kind": "ClusterRole", "name": "view", "namespaces": ["payments"]}],
    "databases": [{"target": "orders-db", "profile": "readonly"}],
    "revoke": false,
    "requester": {"username": "alice", "groups": ["payments-devs"]}
  },
  "status": {
    "phase": "Active",
    "breakGlass": false,
    "approvals": [{"approver": "bob", "approverGroups": ["payments-leads"], "decision": "Approve", "comment": "ok, 2h", "time": "2026-11-29T10:02:11Z"}],
    "approvedAt": "2026-11-29T10:02:12Z",
    "activatedAt": "2026-11-29T10:02:13Z",
    "expiresAt": "2026-11-29T12:02:13Z",
    "grants": [
      {"kind": "RoleBinding", "namespace": "payments", "name": "kubegrant-debug-orders-view"},
      {"kind": "Secret", "namespace": "payments", "name": "debug-orders-orders-db"},
      {"kind": "DatabaseUser", "target": "orders-db", "name": "kg_3f9c2a1b"}
    ],
    "conditions": [
      {"type": "Approved", "status": "True", "observedGeneration": 1, "lastTransitionTime": "2026-11-29T10:02:12Z", "reason": "Approved", "message": "approved by bob"},
      {"type": "Granted", "status": "True", "lastTransitionTime": "2026-11-29T10:02:13Z", "reason": "Granted", "message": "3 grants in place"}
    ],
    "observedGeneration": 1,
    "message": "active until 2026-11-29T12:02:13Z"
  }
})";

TEST(Codec, DecodesThePolicyExampleOfTheApiContract) {
  auto p = fromJsonText<AccessPolicy>(kPolicyJson);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->metadata.name, "payments-oncall");
  EXPECT_EQ(p->metadata.generation, 3);
  EXPECT_EQ(p->spec.requesters.groups, std::vector<std::string>{"payments-devs"});
  ASSERT_EQ(p->spec.roles.size(), 2u);
  EXPECT_EQ(p->spec.roles[1].kind, RoleKind::Role);
  EXPECT_EQ(p->spec.roles[1].name, "pod-debugger");
  EXPECT_EQ(p->spec.databases[0].profiles, std::vector<std::string>{"readonly"});
  EXPECT_EQ(p->spec.maxDuration, "4h");
  EXPECT_TRUE(p->spec.requireReason);
  EXPECT_EQ(p->spec.ticketPattern, "^INC-[0-9]+$");
  EXPECT_EQ(p->spec.approval.required, 1);
  ASSERT_TRUE(p->spec.approval.autoApprove.has_value());
  EXPECT_EQ(p->spec.approval.autoApprove->groups, std::vector<std::string>{"sre-oncall"});
  EXPECT_FALSE(p->status.has_value());
}

TEST(Codec, TheSharedTestPolicyIsTheApiExample) {
  auto p = fromJsonText<AccessPolicy>(kPolicyJson);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(testing::paymentsOncallPolicy().spec, p->spec);
}

TEST(Codec, DecodesTheDatabaseTargetExample) {
  auto t = fromJsonText<DatabaseTarget>(kTargetJson);
  ASSERT_TRUE(t.has_value()) << t.error().message;
  EXPECT_EQ(t->spec.engine, DatabaseEngine::Postgres);
  EXPECT_EQ(t->spec.port, 5432);
  EXPECT_EQ(t->spec.adminSecretRef.namespace_, "kubegrant-system");
  EXPECT_EQ(t->spec.connectionLimit, 2);
  EXPECT_EQ(t->spec.caSecretRef, (SecretReference{"kubegrant-system", "orders-db-ca"}));
  EXPECT_TRUE(t->spec.auditStatements);
  ASSERT_EQ(t->spec.profiles.size(), 2u);
  const auto& g = t->spec.profiles[0].grants.at(0);
  EXPECT_EQ(g.tables, std::vector<std::string>{"*"});
  EXPECT_EQ(g.excludeColumns.at("customers"),
            (std::vector<std::string>{"email", "phone", "card_number"}));
  const auto& masked = t->spec.profiles[1].grants.at(0).maskColumns.at("customers");
  EXPECT_EQ(masked.at("email"), MaskFunction::Email);
  EXPECT_EQ(masked.at("phone"), MaskFunction::Partial);
  EXPECT_EQ(masked.at("name"), MaskFunction::Hash);
}

TEST(Codec, AuditStatementsDefaultsToFalse) {
  json j = json::parse(kTargetJson);
  j["spec"].erase("auditStatements");
  auto t = fromJson<DatabaseTarget>(j);
  ASSERT_TRUE(t.has_value()) << t.error().message;
  EXPECT_FALSE(t->spec.auditStatements);
}

TEST(Codec, DecodesTheAccessRequestExampleWithStatus) {
  auto r = fromJsonText<AccessRequest>(kRequestJson);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->metadata.namespace_, "payments");
  EXPECT_EQ(r->metadata.finalizers, std::vector<std::string>{std::string(kRevokeFinalizer)});
  EXPECT_EQ(r->metadata.creationTimestamp, parseRfc3339("2026-11-29T10:00:00Z"));
  EXPECT_EQ(r->spec.requester, (UserInfo{"alice", {"payments-devs"}}));
  EXPECT_EQ(r->spec.roles.at(0).namespaces, std::vector<std::string>{"payments"});
  ASSERT_TRUE(r->status.has_value());
  EXPECT_EQ(r->status->phase, Phase::Active);
  ASSERT_EQ(r->status->approvals.size(), 1u);
  EXPECT_EQ(r->status->approvals[0].approver, "bob");
  EXPECT_EQ(r->status->approvals[0].decision, Decision::Approve);
  EXPECT_EQ(r->status->expiresAt, parseRfc3339("2026-11-29T12:02:13Z"));
  ASSERT_EQ(r->status->grants.size(), 3u);
  EXPECT_EQ(r->status->grants[2].kind, GrantKind::DatabaseUser);
  EXPECT_EQ(r->status->grants[2].target, "orders-db");
  ASSERT_EQ(r->status->conditions.size(), 2u);
  EXPECT_EQ(r->status->conditions[0].observedGeneration, 1);
  EXPECT_EQ(r->status->message, "active until 2026-11-29T12:02:13Z");
}

// Canonical input (defaults spelled out, no unknown fields) survives decode + encode exactly.
TEST(Codec, RoundTripsCanonicalObjectsExactly) {
  for (const char* text : {kPolicyJson, kTargetJson, kRequestJson}) {
    json in = json::parse(text);
    json out;
    if (in["kind"] == "AccessPolicy") out = toJson(*fromJson<AccessPolicy>(in));
    if (in["kind"] == "DatabaseTarget") out = toJson(*fromJson<DatabaseTarget>(in));
    if (in["kind"] == "AccessRequest") out = toJson(*fromJson<AccessRequest>(in));
    EXPECT_EQ(out, in) << "diff: " << json::diff(in, out).dump();
  }
}

TEST(Codec, DecodeOfEncodeIsIdentityOnTypes) {
  auto r = fromJsonText<AccessRequest>(kRequestJson);
  ASSERT_TRUE(r.has_value());
  auto again = fromJson<AccessRequest>(toJson(*r));
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(*again, *r);
}

TEST(Codec, AppliesSchemaDefaultsToAMinimalRequest) {
  auto r = fromJsonText<AccessRequest>(
      R"({"metadata": {"name": "x", "namespace": "payments"}, "spec": {"policy": "p"}})");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_FALSE(r->spec.revoke);
  EXPECT_FALSE(r->spec.duration.has_value());
  EXPECT_FALSE(r->spec.requester.has_value());
  EXPECT_TRUE(r->spec.roles.empty());
  EXPECT_FALSE(r->status.has_value());
  json out = toJson(*r);
  EXPECT_EQ(out["spec"], json::parse(R"({"policy": "p", "revoke": false})"));
  EXPECT_FALSE(out.contains("status"));
  EXPECT_EQ(out["apiVersion"], "kubegrant.io/v1alpha1");
  EXPECT_EQ(out["kind"], "AccessRequest");
}

TEST(Codec, AppliesSchemaDefaultsToAMinimalPolicyAndTarget) {
  auto p = fromJsonText<AccessPolicy>(R"({"spec": {"requesters": {}, "approval": {}}})");
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->spec.approval.required, 1);
  EXPECT_FALSE(p->spec.requireReason);
  EXPECT_FALSE(p->spec.approval.autoApprove.has_value());
  auto t = fromJsonText<DatabaseTarget>(
      R"({"spec": {"engine": "postgres", "host": "h", "database": "d",
                   "adminSecretRef": {"namespace": "n", "name": "s"}}})");
  ASSERT_TRUE(t.has_value()) << t.error().message;
  EXPECT_EQ(t->spec.port, 5432);
  EXPECT_EQ(t->spec.sslMode, "require");
  EXPECT_FALSE(t->spec.connectionLimit.has_value());
}

TEST(Codec, WritesEmptyApprovalsSoApproversCanPatchTheirPath) {
  AccessRequestStatus s;
  s.phase = Phase::Pending;
  json j = toJson(s);
  ASSERT_TRUE(j.contains("approvals"));
  EXPECT_EQ(j["approvals"], json::array());
  EXPECT_FALSE(j.contains("grants"));
  EXPECT_FALSE(j.contains("conditions"));
}

TEST(Codec, IgnoresUnknownFieldsAndNeverWritesThem) {
  json in = json::parse(kRequestJson);
  in["spec"]["colour"] = "blue";
  in["metadata"]["managedFields"] = json::array({json::object()});
  in["status"]["approvals"][0]["extra"] = 1;
  in["somethingNew"] = true;
  auto r = fromJson<AccessRequest>(in);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  json out = toJson(*r);
  EXPECT_EQ(out, json::parse(kRequestJson));
}

TEST(Codec, TreatsNullLikeAbsent) {
  auto r = fromJsonText<AccessRequest>(
      R"({"spec": {"policy": "p", "duration": null, "roles": null, "requester": null}, "status": null})");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_FALSE(r->spec.duration.has_value());
  EXPECT_FALSE(r->status.has_value());
}

TEST(Codec, KeepsEmptyListsEmpty) {
  auto r = fromJsonText<AccessRequest>(
      R"({"spec": {"policy": "p", "roles": [], "databases": []}, "status": {"approvals": [], "grants": []}})");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(r->spec.roles.empty());
  ASSERT_TRUE(r->status.has_value());
  EXPECT_TRUE(r->status->approvals.empty());
  EXPECT_TRUE(r->status->grants.empty());
}

TEST(Codec, StatusAndApprovalDecodeOnTheirOwn) {
  auto a = fromJsonText<Approval>(R"({"decision": "Deny", "comment": "no"})");
  ASSERT_TRUE(a.has_value()) << a.error().message;
  EXPECT_EQ(a->decision, Decision::Deny);
  EXPECT_FALSE(a->approver.has_value());
  EXPECT_FALSE(a->time.has_value());
  auto bad = fromJsonText<Approval>(R"({"decision": "Maybe"})");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message.rfind("approval.decision: ", 0), 0u) << bad.error().message;

  auto s = fromJsonText<AccessRequestStatus>(R"({"phase": "Pending", "approvals": []})");
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->phase, Phase::Pending);
}

struct BadInput {
  std::string name;
  std::string kind;   // which decoder
  std::string text;   // JSON
  std::string field;  // the error must start with "<field>: "
  std::string why;    // and contain this
};
// Readable in test names' listings and failure messages (instead of raw bytes).
void PrintTo(const BadInput& c, std::ostream* os) {
  *os << c.name << ": " << c.kind << " " << ::testing::PrintToString(c.text);
}

class RejectsBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(RejectsBadInput, WithAnErrorNamingTheField) {
  const auto& c = GetParam();
  Error err;
  if (c.kind == "AccessRequest") {
    auto r = fromJsonText<AccessRequest>(c.text);
    ASSERT_FALSE(r.has_value());
    err = r.error();
  } else if (c.kind == "AccessPolicy") {
    auto r = fromJsonText<AccessPolicy>(c.text);
    ASSERT_FALSE(r.has_value());
    err = r.error();
  } else {
    auto r = fromJsonText<DatabaseTarget>(c.text);
    ASSERT_FALSE(r.has_value());
    err = r.error();
  }
  EXPECT_EQ(err.code, ErrorCode::Invalid);
  EXPECT_EQ(err.message.rfind(c.field + ": ", 0), 0u) << err.message;
  EXPECT_NE(err.message.find(c.why), std::string::npos) << err.message;
  if (c.field != "invalid JSON") {
    ASSERT_EQ(err.causes.size(), 1u);
    EXPECT_EQ(err.causes[0].field, c.field == "object" ? "" : c.field);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, RejectsBadInput,
    ::testing::Values(
        BadInput{"NotJson", "AccessRequest", "{", "invalid JSON", ""},
        BadInput{"NotAnObject", "AccessRequest", "[]", "object", "expected object, got array"},
        BadInput{"MissingSpec", "AccessRequest", R"({"metadata": {}})", "spec",
                 "required field is missing"},
        BadInput{"MissingPolicy", "AccessRequest", R"({"spec": {}})", "spec.policy",
                 "required field is missing"},
        BadInput{"PolicyIsANumber", "AccessRequest", R"({"spec": {"policy": 3}})", "spec.policy",
                 "expected string, got integer"},
        BadInput{"RolesIsAnObject", "AccessRequest", R"({"spec": {"policy": "p", "roles": {}}})",
                 "spec.roles", "expected array, got object"},
        BadInput{"RoleKindUnknown", "AccessRequest",
                 R"({"spec": {"policy": "p", "roles": [{"kind": "Group", "name": "x"}]}})",
                 "spec.roles[0].kind", "unsupported value \"Group\""},
        BadInput{
            "RoleNameMissing", "AccessRequest",
            R"({"spec": {"policy": "p", "roles": [{"kind": "Role", "name": "a"}, {"kind": "Role"}]}})",
            "spec.roles[1].name", "required field is missing"},
        BadInput{
            "NamespaceNotString", "AccessRequest",
            R"({"spec": {"policy": "p", "roles": [{"kind": "Role", "name": "a", "namespaces": ["x", 1]}]}})",
            "spec.roles[0].namespaces[1]", "expected string"},
        BadInput{"DatabaseProfileMissing", "AccessRequest",
                 R"({"spec": {"policy": "p", "databases": [{"target": "t"}]}})",
                 "spec.databases[0].profile", "required field is missing"},
        BadInput{"RevokeIsAString", "AccessRequest",
                 R"({"spec": {"policy": "p", "revoke": "true"}})", "spec.revoke",
                 "expected boolean, got string"},
        BadInput{"RequesterWithoutUsername", "AccessRequest",
                 R"({"spec": {"policy": "p", "requester": {"groups": []}}})",
                 "spec.requester.username", "required field is missing"},
        BadInput{"UnknownPhase", "AccessRequest",
                 R"({"spec": {"policy": "p"}, "status": {"phase": "Sleeping"}})", "status.phase",
                 "unsupported value \"Sleeping\""},
        BadInput{"UnknownDecision", "AccessRequest",
                 R"({"spec": {"policy": "p"}, "status": {"approvals": [{"decision": "Maybe"}]}})",
                 "status.approvals[0].decision", "unsupported value \"Maybe\""},
        BadInput{"ApprovalWithoutDecision", "AccessRequest",
                 R"({"spec": {"policy": "p"}, "status": {"approvals": [{"approver": "bob"}]}})",
                 "status.approvals[0].decision", "required field is missing"},
        BadInput{
            "BadApprovalTime", "AccessRequest",
            R"({"spec": {"policy": "p"}, "status": {"approvals": [{"decision": "Approve", "time": "yesterday"}]}})",
            "status.approvals[0].time", "invalid time \"yesterday\""},
        BadInput{"BadExpiresAt", "AccessRequest",
                 R"({"spec": {"policy": "p"}, "status": {"expiresAt": 5}})", "status.expiresAt",
                 "expected string, got integer"},
        BadInput{
            "UnknownGrantKind", "AccessRequest",
            R"({"spec": {"policy": "p"}, "status": {"grants": [{"kind": "Pod", "name": "x"}]}})",
            "status.grants[0].kind", "unsupported value \"Pod\""},
        BadInput{"GenerationIsFractional", "AccessRequest",
                 R"({"metadata": {"generation": 1.5}, "spec": {"policy": "p"}})",
                 "metadata.generation", "fractional"},
        BadInput{"GenerationIsAHugeFloat", "AccessRequest",
                 R"({"metadata": {"generation": 1e300}, "spec": {"policy": "p"}})",
                 "metadata.generation", "fractional"},
        BadInput{"LabelValueNotString", "AccessRequest",
                 R"({"metadata": {"labels": {"a": 1}}, "spec": {"policy": "p"}})",
                 "metadata.labels.a", "expected string"},
        BadInput{"WrongKind", "AccessRequest",
                 R"({"kind": "AccessPolicy", "spec": {"policy": "p"}})", "kind",
                 "expected AccessRequest, got AccessPolicy"},
        BadInput{"WrongApiVersion", "AccessRequest",
                 R"({"apiVersion": "kubegrant.io/v1", "spec": {"policy": "p"}})", "apiVersion",
                 "expected kubegrant.io/v1alpha1"},
        BadInput{"PolicyWithoutApproval", "AccessPolicy", R"({"spec": {"requesters": {}}})",
                 "spec.approval", "required field is missing"},
        BadInput{"PolicyWithoutRequesters", "AccessPolicy", R"({"spec": {"approval": {}}})",
                 "spec.requesters", "required field is missing"},
        BadInput{"RequiredIsAString", "AccessPolicy",
                 R"({"spec": {"requesters": {}, "approval": {"required": "1"}}})",
                 "spec.approval.required", "expected integer, got string"},
        BadInput{"RequiredOverflows", "AccessPolicy",
                 R"({"spec": {"requesters": {}, "approval": {"required": 99999999999}}})",
                 "spec.approval.required", "out of 32-bit range"},
        BadInput{"RequesterGroupsNotAList", "AccessPolicy",
                 R"({"spec": {"requesters": {"groups": "payments-devs"}, "approval": {}}})",
                 "spec.requesters.groups", "expected array, got string"},
        BadInput{"RequireReasonIsANumber", "AccessPolicy",
                 R"({"spec": {"requesters": {}, "approval": {}, "requireReason": 1}})",
                 "spec.requireReason", "expected boolean, got integer"},
        BadInput{"MaxDurationIsANumber", "AccessPolicy",
                 R"({"spec": {"requesters": {}, "approval": {}, "maxDuration": 3600}})",
                 "spec.maxDuration", "expected string, got integer"},
        BadInput{
            "UnknownEngine", "DatabaseTarget",
            R"({"spec": {"engine": "mysql", "host": "h", "database": "d", "adminSecretRef": {"namespace": "n", "name": "s"}}})",
            "spec.engine", "unsupported value \"mysql\" (allowed: postgres)"},
        BadInput{
            "PortIsAString", "DatabaseTarget",
            R"({"spec": {"engine": "postgres", "host": "h", "port": "5432", "database": "d", "adminSecretRef": {"namespace": "n", "name": "s"}}})",
            "spec.port", "expected integer, got string"},
        BadInput{
            "SecretRefWithoutName", "DatabaseTarget",
            R"({"spec": {"engine": "postgres", "host": "h", "database": "d", "adminSecretRef": {"namespace": "n"}}})",
            "spec.adminSecretRef.name", "required field is missing"},
        BadInput{
            "ExcludeColumnsNotAList", "DatabaseTarget",
            R"({"spec": {"engine": "postgres", "host": "h", "database": "d", "adminSecretRef": {"namespace": "n", "name": "s"},
                     "profiles": [{"name": "ro", "grants": [{"schema": "public", "excludeColumns": {"customers": "email"}}]}]}})",
            "spec.profiles[0].grants[0].excludeColumns.customers", "expected array"},
        BadInput{
            "MaskColumnsTableNotAnObject", "DatabaseTarget",
            R"({"spec": {"engine": "postgres", "host": "h", "database": "d", "adminSecretRef": {"namespace": "n", "name": "s"},
                     "profiles": [{"name": "ro", "grants": [{"schema": "public", "maskColumns": {"customers": ["email"]}}]}]}})",
            "spec.profiles[0].grants[0].maskColumns.customers", "expected object"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace kubegrant::v1alpha1
