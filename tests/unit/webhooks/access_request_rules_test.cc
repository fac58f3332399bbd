#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "crds/v1alpha1/types.h"
#include "operator/common/base64.h"
#include "operator/common/time.h"
#include "operator/seal/seal.h"
#include "tests/support/api_examples.h"
#include "webhooks/access_request/handler.h"
#include "webhooks/access_request/rules.h"
#include "webhooks/policy/policy_admission.h"

namespace kubegrant::webhooks {
namespace {

using nlohmann::json;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace v1alpha1;

const TimePoint kNow = *parseRfc3339("2026-11-29T10:02:11Z");

AccessPolicy paymentsOncall() { return kubegrant::testing::paymentsOncallPolicy(); }

const UserIdentity kAlice{"alice", "", {"payments-devs", "system:authenticated"}};
const UserIdentity kBob{"bob", "", {"payments-leads", "system:authenticated"}};
const UserIdentity kCarol{"carol", "", {"payments-leads", "system:authenticated"}};
const UserIdentity kMallory{"mallory", "", {"system:authenticated"}};
const UserIdentity kOperator{"kubegrant-operator", "", {"kubegrant:operators"}};
const UserIdentity kSre{"sam", "", {"sre-oncall", "system:authenticated"}};

UserInfo info(const UserIdentity& u) { return {u.username, u.groups}; }

// The request as the requester writes it (before the mutating webhook).
AccessRequest draft() {
  AccessRequest r;
  r.metadata.name = "debug-orders";
  r.metadata.namespace_ = "payments";
  r.spec.policy = "payments-oncall";
  r.spec.duration = "2h";
  r.spec.reason = "orders stuck in pending";
  r.spec.ticket = "INC-4211";
  r.spec.roles = {{RoleKind::ClusterRole, "view", {"payments"}}};
  r.spec.databases = {{"orders-db", "readonly"}};
  return r;
}

// As stored after creation by alice, with the operator's status.approvals: [].
AccessRequest stored() {
  AccessRequest r = draft();
  r.spec.requester = info(kAlice);
  r.status = AccessRequestStatus{};
  r.status->phase = Phase::Pending;
  return r;
}

Approval decision(const std::string& by, Decision d = Decision::Approve) {
  Approval a;
  a.approver = by;
  a.decision = d;
  a.time = kNow;
  return a;
}

const UserIdentity kAdminGroupMember{"olga", "", {"kubegrant-admins", "system:authenticated"}};
// Named like the group kubegrant used to trust: no group is trusted any more.
const UserIdentity kOperatorsGroupMember{
    "eve", "", {"kubegrant:operators", "system:authenticated"}};

// Open requests per (policy, requester), as the informer-backed lookup counts them.
class FakeRequests final : public RequestLookup {
 public:
  int countOpen(std::string_view, std::string_view username) const override {
    return username == "alice" ? aliceOpen : 0;
  }
  int aliceOpen = 0;
};

class AccessRequestAdmissionTest : public ::testing::Test {
 protected:
  AccessRequestAdmissionTest()
      : clock_(kNow),
        admission_(policies_, clock_,
                   AdmissionOptions{OperatorIdentity{"kubegrant-operator"},
                                    {"kubegrant-admins"},
                                    nullptr,
                                    &requests_,
                                    {},
                                    &targets_}) {
    policies_.put(paymentsOncall());
    targets_.put(ordersDb());
  }

  // orders-db as the platform team writes it: readonly withholds PII, support masks some.
  static DatabaseTarget ordersDb() {
    DatabaseTarget t;
    t.metadata.name = "orders-db";
    t.spec.host = "orders-db.payments.svc";
    t.spec.database = "orders";
    t.spec.adminSecretRef = {"kubegrant-system", "orders-db-admin"};
    TableGrant readonly;
    readonly.schema = "public";
    readonly.tables = {"*"};
    readonly.privileges = {"SELECT"};
    readonly.excludeColumns = {{"customers", {"email", "phone"}}};
    TableGrant support = readonly;
    support.excludeColumns = {{"customers", {"card_number"}}};
    support.maskColumns = {{"customers", {{"name", MaskFunction::Hash}}}};
    TableGrant billing;
    billing.schema = "billing";
    billing.tables = {"invoices"};
    billing.privileges = {"SELECT"};
    billing.maskColumns = {{"invoices", {{"iban", MaskFunction::Partial}}}};
    t.spec.profiles = {{"readonly", {readonly}}, {"support", {support, billing}}, {"plain", {}}};
    return t;
  }

  AdmissionRequest review(Operation op, const UserIdentity& user, const AccessRequest& obj,
                          const AccessRequest* old = nullptr, std::string sub = "") {
    AdmissionRequest r;
    r.uid = "uid-1";
    r.kind = {"kubegrant.io", "v1alpha1", "AccessRequest"};
    r.resource = {"kubegrant.io", "v1alpha1", "accessrequests"};
    r.subResource = std::move(sub);
    r.name = obj.metadata.name;
    r.namespace_ = obj.metadata.namespace_;
    r.operation = op;
    r.userInfo = user;
    r.object = toJson(obj);
    if (old) r.oldObject = toJson(*old);
    return r;
  }

  AdmissionResponse create(const UserIdentity& user, const AccessRequest& obj) {
    return admission_.validate(review(Operation::Create, user, obj));
  }
  AdmissionResponse specUpdate(const UserIdentity& user, const AccessRequest& obj,
                               const AccessRequest& old) {
    return admission_.validate(review(Operation::Update, user, obj, &old));
  }
  AdmissionResponse statusUpdate(const UserIdentity& user, const AccessRequest& obj,
                                 const AccessRequest& old) {
    return admission_.validate(review(Operation::Update, user, obj, &old, "status"));
  }

  AdmissionResponse remove(const UserIdentity& user, const AccessRequest& old) {
    AdmissionRequest r = review(Operation::Delete, user, old, &old);
    r.object = nullptr;
    return admission_.validate(r);
  }

  StaticPolicyLookup policies_;
  StaticTargetLookup targets_;
  FakeRequests requests_;
  FakeClock clock_;
  AccessRequestAdmission admission_;
};

// ---------------------------------------------------------------------------------------
// Mutating

TEST_F(AccessRequestAdmissionTest, MutatingCreateStampsRequesterFromTheCaller) {
  auto resp = admission_.mutate(review(Operation::Create, kAlice, draft()));
  ASSERT_TRUE(resp.allowed);
  ASSERT_EQ(resp.patch.size(), 1u);
  EXPECT_EQ(resp.patch[0].op, "add");
  EXPECT_EQ(resp.patch[0].path, "/spec/requester");
  EXPECT_EQ(resp.patch[0].value,
            (json{{"username", "alice"}, {"groups", {"payments-devs", "system:authenticated"}}}));
}

TEST_F(AccessRequestAdmissionTest, MutatingCreateKeepsAClientRequesterForValidationToJudge) {
  AccessRequest forged = draft();
  forged.spec.requester = UserInfo{"carol", {"payments-leads"}};
  auto resp = admission_.mutate(review(Operation::Create, kAlice, forged));
  EXPECT_TRUE(resp.allowed);
  EXPECT_TRUE(resp.patch.empty());
}

TEST_F(AccessRequestAdmissionTest, MutatingStatusUpdateStampsApproverGroupsAndTimeOnNewEntries) {
  AccessRequest old = stored();
  old.status->approvals = {decision("carol")};
  AccessRequest updated = old;
  Approval fresh;
  fresh.decision = Decision::Approve;
  fresh.comment = "ok";
  fresh.time = *parseRfc3339("2020-01-01T00:00:00Z");  // a client-chosen time is overwritten
  updated.status->approvals.push_back(fresh);
  auto resp = admission_.mutate(review(Operation::Update, kBob, updated, &old, "status"));
  ASSERT_TRUE(resp.allowed);
  ASSERT_EQ(resp.patch.size(), 3u);
  EXPECT_EQ(resp.patch[0].path, "/status/approvals/1/approver");
  EXPECT_EQ(resp.patch[0].value, "bob");
  EXPECT_EQ(resp.patch[1].path, "/status/approvals/1/approverGroups");
  EXPECT_EQ(resp.patch[1].value, json({"payments-leads", "system:authenticated"}));
  EXPECT_EQ(resp.patch[2].path, "/status/approvals/1/time");
  EXPECT_EQ(resp.patch[2].value, "2026-11-29T10:02:11Z");
}

TEST_F(AccessRequestAdmissionTest, MutatingStatusUpdateKeepsAForgedApproverForValidationToJudge) {
  AccessRequest old = stored();
  AccessRequest updated = old;
  updated.status->approvals = {decision("carol")};
  auto resp = admission_.mutate(review(Operation::Update, kBob, updated, &old, "status"));
  ASSERT_TRUE(resp.allowed);
  for (const auto& p : resp.patch) EXPECT_NE(p.path, "/status/approvals/0/approver");
}

TEST_F(AccessRequestAdmissionTest, MutatingLeavesTheOperatorAlone) {
  auto resp = admission_.mutate(review(Operation::Create, kOperator, draft()));
  EXPECT_TRUE(resp.allowed);
  EXPECT_TRUE(resp.patch.empty());
}

// ---------------------------------------------------------------------------------------
// Validating create

struct CreateCase {
  std::string name;
  UserIdentity caller;
  std::function<void(AccessRequest&)> edit;
  bool allowed;
  std::string message;  // exact denial message, or a warning that must be present
};
// Readable in test names' listings and failure messages (instead of raw bytes).
void PrintTo(const CreateCase& c, std::ostream* os) { *os << c.name; }

class CreateRuleTest : public AccessRequestAdmissionTest,
                       public ::testing::WithParamInterface<CreateCase> {};

TEST_P(CreateRuleTest, Decides) {
  const auto& c = GetParam();
  AccessRequest r = draft();
  r.spec.requester = info(c.caller);
  c.edit(r);
  auto resp = create(c.caller, r);
  EXPECT_EQ(resp.allowed, c.allowed) << resp.message;
  if (c.allowed) {
    EXPECT_NE(std::find(resp.warnings.begin(), resp.warnings.end(), c.message), resp.warnings.end())
        << ::testing::PrintToString(resp.warnings);
  } else {
    EXPECT_EQ(resp.message, c.message);
    EXPECT_EQ(resp.code, 403);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Create, CreateRuleTest,
    ::testing::Values(
        CreateCase{"ValidRequestIsAllowedAndNamesThePolicy", kAlice, [](AccessRequest&) {}, true,
                   "policy payments-oncall matched"},
        CreateCase{"ValidRequestExplainsTheExpiry", kAlice, [](AccessRequest&) {}, true,
                   "access expires 2h after activation (requested, policy maximum 4h); the clock "
                   "starts when access is granted, not at creation"},
        CreateCase{"DefaultDurationIsExplained", kAlice,
                   [](AccessRequest& r) { r.spec.duration.reset(); }, true,
                   "access expires 1h after activation (policy default, policy maximum 4h); the "
                   "clock starts when access is granted, not at creation"},
        CreateCase{"BreakGlassIsExplained", kSre, [](AccessRequest&) {}, true,
                   "break-glass: sam matches approval.autoApprove of policy payments-oncall; the "
                   "request is approved at once and marked breakGlass in status and audit"},
        CreateCase{"ForgedRequesterIsRejected", kAlice,
                   [](AccessRequest& r) {
                     r.spec.requester = UserInfo{"carol", {"payments-leads"}};
                   },
                   false,
                   "spec.requester: username \"carol\" is not the caller \"alice\"; requests are "
                   "always made in the caller's own name (leave spec.requester out)"},
        CreateCase{"ForgedRequesterGroupsAreRejected", kAlice,
                   [](AccessRequest& r) { r.spec.requester->groups = {"sre-oncall"}; }, false,
                   "spec.requester.groups: [sre-oncall] are not the caller's groups "
                   "[payments-devs, system:authenticated]; leave spec.requester out, it is "
                   "stamped from the authenticated user"},
        CreateCase{"MissingRequesterMeansTheMutatingWebhookDidNotRun", kAlice,
                   [](AccessRequest& r) { r.spec.requester.reset(); }, false,
                   "spec.requester: missing; it is stamped from the caller by the kubegrant "
                   "mutating webhook (is the MutatingWebhookConfiguration installed?)"},
        CreateCase{"UnknownPolicyIsRejected", kAlice,
                   [](AccessRequest& r) { r.spec.policy = "nope"; }, false,
                   "spec.policy: AccessPolicy \"nope\" does not exist"},
        CreateCase{"NonRequesterIsRejected", kMallory, [](AccessRequest&) {}, false,
                   "spec.policy: user mallory (groups: system:authenticated) is not a requester "
                   "of policy payments-oncall (requesters: groups payments-devs)"},
        CreateCase{"RoleOutsideThePolicyIsRejected", kAlice,
                   [](AccessRequest& r) { r.spec.roles[0].name = "admin"; }, false,
                   "spec.roles[0].name: role ClusterRole/admin is not allowed by policy "
                   "payments-oncall (allowed: ClusterRole/view, Role/pod-debugger)"},
        CreateCase{"NamespaceOutsideThePolicyIsRejected", kAlice,
                   [](AccessRequest& r) { r.spec.roles[0].namespaces = {"kube-system"}; }, false,
                   "spec.roles[0].namespaces[0]: namespace kube-system is not allowed by policy "
                   "payments-oncall (allowed: payments)"},
        CreateCase{"DatabaseProfileOutsideThePolicyIsRejected", kAlice,
                   [](AccessRequest& r) { r.spec.databases[0].profile = "admin"; }, false,
                   "spec.databases[0].profile: profile admin of database target orders-db is "
                   "not allowed by policy payments-oncall (allowed: readonly)"},
        CreateCase{"DurationAboveMaximumIsRejected", kAlice,
                   [](AccessRequest& r) { r.spec.duration = "5h"; }, false,
                   "spec.duration: duration 5h exceeds the maximum 4h of policy payments-oncall"},
        CreateCase{"MissingReasonIsRejected", kAlice,
                   [](AccessRequest& r) { r.spec.reason.reset(); }, false,
                   "spec.reason: a reason is required by policy payments-oncall: say why you "
                   "need access"},
        CreateCase{"TicketNotMatchingIsRejected", kAlice,
                   [](AccessRequest& r) { r.spec.ticket = "JIRA-1"; }, false,
                   "spec.ticket: ticket \"JIRA-1\" does not match ^INC-[0-9]+$ required by "
                   "policy payments-oncall"},
        CreateCase{"StartAtWithinMaxStartDelayIsAllowed", kAlice,
                   [](AccessRequest& r) { r.spec.startAt = "2026-12-06T10:02:11Z"; }, true,
                   "scheduled start: not granted before 2026-12-06T10:02:11Z"},
        CreateCase{"StartAtBeyondMaxStartDelayIsRejected", kAlice,
                   [](AccessRequest& r) { r.spec.startAt = "2026-12-06T10:02:12Z"; }, false,
                   "spec.startAt: startAt 2026-12-06T10:02:12Z is more than maxStartDelay 168h "
                   "ahead (policy payments-oncall); request closer to the time you need access"},
        CreateCase{"AClientWrittenRequesterSealIsRefusedWhenSealingIsOff", kAlice,
                   [](AccessRequest& r) { r.spec.requesterSeal = "v1.k.AAAA"; }, false,
                   "spec.requesterSeal: is written by the kubegrant mutating webhook only, and "
                   "sealing is not configured on this webhook; leave it out"},
        CreateCase{
            "MetadataAboveTheLimitIsRejected", kAlice,
            [](AccessRequest& r) { r.metadata.annotations["pad"] = std::string(32 * 1024, 'x'); },
            false,
            "metadata: labels, annotations, ownerReferences and finalizers together take "
            "32771 bytes, above the limit of 32768 bytes (32 KiB) for an AccessRequest; "
            "remove some"}),
    [](const auto& info) { return info.param.name; });

TEST_F(AccessRequestAdmissionTest, CreateBeyondMaxOpenRequestsIsRejected) {
  AccessRequest r = draft();
  r.spec.requester = info(kAlice);
  requests_.aliceOpen = 4;
  EXPECT_TRUE(create(kAlice, r).allowed);
  requests_.aliceOpen = 5;
  auto resp = create(kAlice, r);
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.message,
            "spec.policy: alice already has 5 open (Pending, Approved or Active) requests under "
            "policy payments-oncall, the maximum its maxOpenRequests allows; revoke or finish "
            "one first");
}

TEST_F(AccessRequestAdmissionTest, ValidCreateExplainsWhoMustApprove) {
  AccessRequest r = draft();
  r.spec.requester = info(kAlice);
  auto resp = create(kAlice, r);
  ASSERT_TRUE(resp.allowed);
  ASSERT_GE(resp.warnings.size(), 3u);
  EXPECT_EQ(resp.warnings[1].rfind("needs 1 approval from groups [payments-leads] (not alice: "
                                   "self-approval never counts)",
                                   0),
            0u)
      << resp.warnings[1];
}

TEST_F(AccessRequestAdmissionTest, ACreateNamingDatabasesIsToldWhatItWillGet) {
  AccessRequest r = draft();
  r.spec.requester = info(kAlice);
  const std::string notGranted =
      "spec.databases: a user on orders-db (profile readonly) is issued at activation, its "
      "credentials in Secret " +
      r.metadata.name + "-orders-db that only you can read";
  auto resp = create(kAlice, r);
  ASSERT_TRUE(resp.allowed);
  EXPECT_NE(std::find(resp.warnings.begin(), resp.warnings.end(), notGranted), resp.warnings.end())
      << ::testing::PrintToString(resp.warnings);

  r.spec.databases.clear();
  resp = create(kAlice, r);
  ASSERT_TRUE(resp.allowed);
  for (const auto& w : resp.warnings) EXPECT_EQ(w.find("spec.databases"), std::string::npos) << w;
}

TEST_F(AccessRequestAdmissionTest, ACreateNamingDatabasesIsToldWhichColumnsAreWithheldOrMasked) {
  AccessRequest r = draft();
  r.spec.requester = info(kAlice);
  auto resp = create(kAlice, r);
  ASSERT_TRUE(resp.allowed) << resp.message;
  EXPECT_THAT(resp.warnings,
              Contains(std::string("database orders-db/readonly: withheld public.customers.email, "
                                   "public.customers.phone")));

  AccessPolicy policy = paymentsOncall();
  policy.spec.databases = {{"orders-db", {"readonly", "support", "plain"}}};
  policies_.put(policy);
  r.spec.databases = {{"orders-db", "support"}, {"orders-db", "plain"}};
  resp = create(kAlice, r);
  ASSERT_TRUE(resp.allowed) << resp.message;
  EXPECT_THAT(
      resp.warnings,
      Contains(std::string("database orders-db/support: withheld public.customers.card_number; "
                           "masked billing.invoices.iban (partial), public.customers.name "
                           "(hash)")));
  EXPECT_THAT(resp.warnings,
              Contains(std::string("database orders-db/plain: no column withheld or masked")));
}

TEST_F(AccessRequestAdmissionTest, ACreateNamingAMissingTargetOrProfileIsRefusedNamingTheField) {
  AccessPolicy policy = paymentsOncall();
  policy.spec.databases = {{"orders-db", {"readonly", "admin"}}, {"ledger-db", {"readonly"}}};
  policies_.put(policy);
  AccessRequest r = draft();
  r.spec.requester = info(kAlice);

  r.spec.databases = {{"orders-db", "readonly"}, {"ledger-db", "readonly"}};
  auto resp = create(kAlice, r);
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.code, 403);
  EXPECT_EQ(resp.message,
            "spec.databases[1].target: DatabaseTarget \"ledger-db\" does not exist; a request "
            "may only name an existing target (kubectl get databasetargets)");

  // Allowed by the policy, but the target has no such profile.
  r.spec.databases = {{"orders-db", "admin"}};
  resp = create(kAlice, r);
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.message,
            "spec.databases[0].profile: DatabaseTarget \"orders-db\" has no profile \"admin\"; "
            "a request may only name one of the target's profiles [readonly, support, plain]");

  // The target appears: admitted.
  DatabaseTarget ledger = ordersDb();
  ledger.metadata.name = "ledger-db";
  targets_.put(ledger);
  r.spec.databases = {{"orders-db", "readonly"}, {"ledger-db", "readonly"}};
  resp = create(kAlice, r);
  EXPECT_TRUE(resp.allowed) << resp.message;

  // The policy is checked first: a profile it does not allow names the policy rule.
  r.spec.databases = {{"orders-db", "support"}};
  resp = create(kAlice, r);
  EXPECT_FALSE(resp.allowed);
  EXPECT_THAT(resp.message, HasSubstr("spec.databases[0].profile"));
  EXPECT_THAT(resp.message, HasSubstr("policy"));
}

TEST_F(AccessRequestAdmissionTest, ACreateNamingDatabasesWaitsForTheTargetCache) {
  class Unsynced : public TargetLookup {
   public:
    std::shared_ptr<const DatabaseTarget> get(std::string_view) const override { return nullptr; }
    bool synced() const override { return false; }
  } unsynced;
  AccessRequestAdmission admission(
      policies_, clock_,
      AdmissionOptions{
          OperatorIdentity{"kubegrant-operator"}, {}, nullptr, nullptr, {}, &unsynced});
  AccessRequest r = draft();
  r.spec.requester = info(kAlice);
  auto resp = admission.validate(review(Operation::Create, kAlice, r));
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.code, 503);
  // A request without databases does not wait for targets.
  r.spec.databases.clear();
  resp = admission.validate(review(Operation::Create, kAlice, r));
  EXPECT_TRUE(resp.allowed) << resp.message;
}

TEST_F(AccessRequestAdmissionTest, CreateRefusesRetryablyUntilThePolicyCacheIsSynced) {
  class Unsynced : public PolicyLookup {
   public:
    std::shared_ptr<const AccessPolicy> get(std::string_view) const override { return nullptr; }
    bool synced() const override { return false; }
  } unsynced;
  AccessRequestAdmission admission(unsynced, clock_);
  AccessRequest r = draft();
  r.spec.requester = info(kAlice);
  auto resp = admission.validate(review(Operation::Create, kAlice, r));
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.code, 503);
}

TEST_F(AccessRequestAdmissionTest, OtherKindsAreDenied) {
  auto r = review(Operation::Create, kAlice, stored());
  r.kind = {"", "v1", "Pod"};
  auto resp = admission_.validate(r);
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.message,
            "this webhook admits kubegrant.io/v1alpha1 AccessRequest, not core/v1 Pod");
  EXPECT_FALSE(admission_.mutate(r).allowed);
}

TEST_F(AccessRequestAdmissionTest, UndecodableObjectIsInvalid) {
  auto r = review(Operation::Create, kAlice, stored());
  r.object["spec"]["roles"] = "view";
  auto resp = admission_.validate(r);
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.code, 422);
  EXPECT_EQ(resp.message.rfind("object is not a valid AccessRequest: spec.roles", 0), 0u)
      << resp.message;
}

TEST_F(AccessRequestAdmissionTest, TimeBeyondTheClockRangeIsInvalidNotUndefinedBehaviour) {
  // Found by the fuzzer: a 4-digit year past 2262 overflowed the nanosecond clock.
  AccessRequest old = stored();
  auto r = review(Operation::Update, kBob, old, &old, "status");
  r.object["status"]["approvals"] = json::array(
      {{{"approver", "bob"}, {"decision", "Approve"}, {"time", "7407-01-01T00:00:00Z"}}});
  auto resp = admission_.validate(r);
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.code, 422);
  EXPECT_NE(resp.message.find("invalid time \"7407-01-01T00:00:00Z\""), std::string::npos)
      << resp.message;
}

// ---------------------------------------------------------------------------------------
// Validating spec update

struct SpecCase {
  std::string name;
  UserIdentity caller;
  std::function<void(AccessRequest& old, AccessRequest& updated)> edit;
  bool allowed;
  std::string message;
};
// Readable in test names' listings and failure messages (instead of raw bytes).
void PrintTo(const SpecCase& c, std::ostream* os) { *os << c.name; }

class SpecUpdateRuleTest : public AccessRequestAdmissionTest,
                           public ::testing::WithParamInterface<SpecCase> {};

TEST_P(SpecUpdateRuleTest, Decides) {
  const auto& c = GetParam();
  AccessRequest old = stored();
  AccessRequest updated = old;
  c.edit(old, updated);
  auto resp = specUpdate(c.caller, updated, old);
  EXPECT_EQ(resp.allowed, c.allowed) << resp.message;
  if (!c.allowed) {
    EXPECT_EQ(resp.message, c.message);
  }
}

const UserIdentity kAdmin{"admin", "", {"system:masters", "system:authenticated"}};

std::string finalizerDenial(const std::string& user) {
  return "metadata.finalizers: kubegrant.io/revoke may only be removed by the kubegrant "
         "operator, once it has verified that every grant of this request is revoked; " +
         user + " may not remove it (delete the request or set spec.revoke to true instead)";
}

std::string kMetadataDenial(const std::string& user) {
  return "metadata: " + user +
         " may not change the labels, annotations, ownerReferences or finalizers of this "
         "request; only its requester (alice), an approver of policy payments-oncall (groups "
         "[payments-leads]), the kubegrant operator or the admin group may";
}

const std::string kFrozenSuffix =
    ": cannot be changed after creation; the only allowed spec change is setting spec.revoke to "
    "true";

INSTANTIATE_TEST_SUITE_P(
    SpecUpdate, SpecUpdateRuleTest,
    ::testing::
        Values(
            SpecCase{"RevokeByTheRequesterIsAllowed", kAlice,
                     [](AccessRequest&, AccessRequest& u) { u.spec.revoke = true; }, true, ""},
            SpecCase{"RevokeByAnApproverIsAllowed", kBob,
                     [](AccessRequest&, AccessRequest& u) { u.spec.revoke = true; }, true, ""},
            SpecCase{"RevokeByAnOutsiderIsRejected", kMallory,
                     [](AccessRequest&, AccessRequest& u) { u.spec.revoke = true; }, false,
                     "spec.revoke: mallory may not revoke this request; only the requester (alice) "
                     "or an approver of policy payments-oncall (groups [payments-leads]) may"},
            SpecCase{"UnrevokeIsRejected", kAlice,
                     [](AccessRequest& o, AccessRequest& u) {
                       o.spec.revoke = true;
                       u.spec.revoke = false;
                     },
                     false, "spec.revoke: cannot be set back to false once true"},
            SpecCase{"DurationEditIsRejected", kAlice,
                     [](AccessRequest&, AccessRequest& u) { u.spec.duration = "4h"; }, false,
                     "spec.duration" + kFrozenSuffix},
            SpecCase{"RoleEditIsRejected", kAlice,
                     [](AccessRequest&, AccessRequest& u) { u.spec.roles[0].name = "edit"; }, false,
                     "spec.roles" + kFrozenSuffix},
            SpecCase{"ReasonEditIsRejected", kAlice,
                     [](AccessRequest&, AccessRequest& u) { u.spec.reason = "other"; }, false,
                     "spec.reason" + kFrozenSuffix},
            SpecCase{"PolicyEditIsRejected", kAlice,
                     [](AccessRequest&, AccessRequest& u) { u.spec.policy = "other"; }, false,
                     "spec.policy" + kFrozenSuffix},
            SpecCase{"RequesterEditIsRejected", kAlice,
                     [](AccessRequest&, AccessRequest& u) { u.spec.requester->username = "bob"; },
                     false, "spec.requester" + kFrozenSuffix},
            SpecCase{"RequesterSealEditIsRejected", kAlice,
                     [](AccessRequest&, AccessRequest& u) { u.spec.requesterSeal = "v1.k.x"; },
                     false, "spec.requesterSeal" + kFrozenSuffix},
            SpecCase{
                "LabelChangeIsAllowed", kAlice,
                [](AccessRequest&, AccessRequest& u) { u.metadata.labels["team"] = "payments"; },
                true, ""},
            SpecCase{"LabelChangeByAnApproverIsAllowed", kBob,
                     [](AccessRequest&, AccessRequest& u) { u.metadata.labels["seen"] = "bob"; },
                     true, ""},
            SpecCase{"LabelChangeByTheAdminGroupIsAllowed", kAdminGroupMember,
                     [](AccessRequest&, AccessRequest& u) { u.metadata.labels["x"] = "y"; }, true,
                     ""},
            SpecCase{"AnnotationChangeByAnOutsiderIsRejected", kMallory,
                     [](AccessRequest&, AccessRequest& u) { u.metadata.annotations["pad"] = "x"; },
                     false, kMetadataDenial("mallory")},
            SpecCase{"OwnerReferenceByAnOutsiderIsRejected", kMallory,
                     [](AccessRequest&, AccessRequest& u) {
                       u.metadata.ownerReferences = {{"v1", "ConfigMap", "x", "u-1", {}, {}}};
                     },
                     false, kMetadataDenial("mallory")},
            SpecCase{"FinalizerAddedByAnOutsiderIsRejected", kMallory,
                     [](AccessRequest&, AccessRequest& u) {
                       u.metadata.finalizers = {"example.com/stuck"};
                     },
                     false, kMetadataDenial("mallory")},
            SpecCase{"TheOldOperatorsGroupIsNotTrusted", kOperatorsGroupMember,
                     [](AccessRequest&, AccessRequest& u) { u.metadata.labels["x"] = "y"; }, false,
                     kMetadataDenial("eve")},
            SpecCase{"PaddingByTheRequesterBeyondTheLimitIsRejected", kAlice,
                     [](AccessRequest&, AccessRequest& u) {
                       u.metadata.annotations["pad"] = std::string(40000, 'x');
                     },
                     false,
                     "metadata: labels, annotations, ownerReferences and finalizers together take "
                     "40003 bytes, above the limit of 32768 bytes (32 KiB) for an AccessRequest; "
                     "remove some"},
            SpecCase{"ShrinkingAnOversizedRequestIsAllowed", kAlice,
                     [](AccessRequest& o, AccessRequest& u) {
                       o.metadata.annotations["pad"] = std::string(40000, 'x');
                       u.metadata.annotations["pad"] = std::string(39000, 'x');
                     },
                     true, ""},
            SpecCase{"RevokeOfAnOversizedRequestIsAllowed", kAlice,
                     [](AccessRequest& o, AccessRequest& u) {
                       o.metadata.annotations["pad"] = std::string(40000, 'x');
                       u.metadata.annotations["pad"] = std::string(40000, 'x');
                       u.spec.revoke = true;
                     },
                     true, ""},
            SpecCase{"FinalizerRemovalByTheRequesterIsRejected", kAlice,
                     [](AccessRequest& o, AccessRequest& u) {
                       o.metadata.finalizers = {"kubegrant.io/revoke"};
                       u.metadata.finalizers = {};
                     },
                     false, finalizerDenial("alice")},
            SpecCase{"FinalizerRemovalByAnApproverIsRejected", kBob,
                     [](AccessRequest& o, AccessRequest& u) {
                       o.metadata.finalizers = {"example.com/keep", "kubegrant.io/revoke"};
                       u.metadata.finalizers = {"example.com/keep"};
                     },
                     false, finalizerDenial("bob")},
            SpecCase{"FinalizerRemovalByAClusterAdminIsRejected", kAdmin,
                     [](AccessRequest& o, AccessRequest& u) {
                       o.metadata.finalizers = {"kubegrant.io/revoke"};
                       u.metadata.finalizers = {};
                     },
                     false, finalizerDenial("admin")},
            SpecCase{"FinalizerRemovalTogetherWithRevokeIsRejected", kAlice,
                     [](AccessRequest& o, AccessRequest& u) {
                       o.metadata.finalizers = {"kubegrant.io/revoke"};
                       u.metadata.finalizers = {};
                       u.spec.revoke = true;
                     },
                     false, finalizerDenial("alice")},
            SpecCase{"FinalizerRemovalByTheOldOperatorsGroupIsRejected", kOperatorsGroupMember,
                     [](AccessRequest& o, AccessRequest& u) {
                       o.metadata.finalizers = {"kubegrant.io/revoke"};
                       u.metadata.finalizers = {};
                     },
                     false, finalizerDenial("eve")},
            SpecCase{"FinalizerRemovalByTheOperatorIsAllowed", kOperator,
                     [](AccessRequest& o, AccessRequest& u) {
                       o.metadata.finalizers = {"kubegrant.io/revoke"};
                       u.metadata.finalizers = {};
                     },
                     true, ""},
            SpecCase{"OtherFinalizerChangesAreAllowed", kAlice,
                     [](AccessRequest& o, AccessRequest& u) {
                       o.metadata.finalizers = {"kubegrant.io/revoke", "example.com/a"};
                       u.metadata.finalizers = {"example.com/b", "kubegrant.io/revoke"};
                     },
                     true, ""},
            SpecCase{"AddingTheFinalizerIsAllowed", kAlice,
                     [](AccessRequest&,
                        AccessRequest& u) { u.metadata.finalizers = {"kubegrant.io/revoke"}; },
                     true, ""}),
    [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------
// Validating status update (approvals)

struct StatusCase {
  std::string name;
  UserIdentity caller;
  std::function<void(AccessRequest& old, AccessRequest& updated)> edit;
  bool allowed;
  std::string message;
};
// Readable in test names' listings and failure messages (instead of raw bytes).
void PrintTo(const StatusCase& c, std::ostream* os) { *os << c.name; }

class StatusUpdateRuleTest : public AccessRequestAdmissionTest,
                             public ::testing::WithParamInterface<StatusCase> {};

TEST_P(StatusUpdateRuleTest, Decides) {
  const auto& c = GetParam();
  AccessRequest old = stored();
  AccessRequest updated = old;
  c.edit(old, updated);
  auto resp = statusUpdate(c.caller, updated, old);
  EXPECT_EQ(resp.allowed, c.allowed) << resp.message;
  if (!c.allowed) {
    EXPECT_EQ(resp.message, c.message);
  }
}

const std::string kOwnedSuffix =
    ": is owned by the kubegrant operator; approvers may only append to status.approvals";

INSTANTIATE_TEST_SUITE_P(
    StatusUpdate, StatusUpdateRuleTest,
    ::testing::Values(
        StatusCase{"ApprovalByAnApproverIsAllowed", kBob,
                   [](AccessRequest&, AccessRequest& u) {
                     u.status->approvals.push_back(decision("bob"));
                   },
                   true, ""},
        StatusCase{"DenialByAnApproverIsAllowed", kBob,
                   [](AccessRequest&, AccessRequest& u) {
                     u.status->approvals.push_back(decision("bob", Decision::Deny));
                   },
                   true, ""},
        StatusCase{"SecondApproverAfterTheFirstIsAllowed", kCarol,
                   [](AccessRequest& o, AccessRequest& u) {
                     o.status->approvals = {decision("bob")};
                     u.status->approvals = {decision("bob"), decision("carol")};
                   },
                   true, ""},
        StatusCase{"SelfApprovalIsRejected", kAlice,
                   [](AccessRequest&, AccessRequest& u) {
                     u.status->approvals.push_back(decision("alice"));
                   },
                   false,
                   "status.approvals[0]: self-approval is not allowed: alice requested this "
                   "access and cannot decide on it"},
        StatusCase{"ApprovalByANonApproverIsRejected", kMallory,
                   [](AccessRequest&, AccessRequest& u) {
                     u.status->approvals.push_back(decision("mallory"));
                   },
                   false,
                   "status.approvals[0]: user mallory (groups: system:authenticated) is not an "
                   "approver of policy payments-oncall (approvers: groups payments-leads)"},
        StatusCase{"ApprovalInSomeoneElsesNameIsRejected", kBob,
                   [](AccessRequest&, AccessRequest& u) {
                     u.status->approvals.push_back(decision("carol"));
                   },
                   false,
                   "status.approvals[0].approver: \"carol\" is not the caller \"bob\"; decisions "
                   "are recorded under the caller's own name (leave approver out)"},
        StatusCase{"SecondDecisionBySameApproverIsRejected", kBob,
                   [](AccessRequest& o, AccessRequest& u) {
                     o.status->approvals = {decision("bob", Decision::Deny)};
                     u.status->approvals = {decision("bob", Decision::Deny), decision("bob")};
                   },
                   false,
                   "status.approvals[1]: bob has already decided (Deny) on this request; each "
                   "approver decides once"},
        StatusCase{"DecisionAfterExpiryIsRejected", kBob,
                   [](AccessRequest& o, AccessRequest& u) {
                     o.status->phase = Phase::Expired;
                     u.status->phase = Phase::Expired;
                     u.status->approvals.push_back(decision("bob"));
                   },
                   false,
                   "status.approvals[0]: request debug-orders is Expired: no decisions are "
                   "accepted after it has ended"},
        StatusCase{"EditingAnEarlierDecisionIsRejected", kBob,
                   [](AccessRequest& o, AccessRequest& u) {
                     o.status->approvals = {decision("bob", Decision::Deny)};
                     u.status->approvals = {decision("bob", Decision::Approve)};
                   },
                   false,
                   "status.approvals[0]: earlier decisions cannot be changed; decisions are "
                   "append-only"},
        StatusCase{"RemovingAnEarlierDecisionIsRejected", kBob,
                   [](AccessRequest& o, AccessRequest& u) {
                     o.status->approvals = {decision("carol", Decision::Deny)};
                     u.status->approvals = {};
                   },
                   false,
                   "status.approvals: earlier decisions cannot be removed; decisions are "
                   "append-only"},
        StatusCase{"RequesterSettingPhaseIsRejected", kAlice,
                   [](AccessRequest&, AccessRequest& u) { u.status->phase = Phase::Active; }, false,
                   "status.phase" + kOwnedSuffix},
        StatusCase{"ApproverSettingExpiresAtIsRejected", kBob,
                   [](AccessRequest&, AccessRequest& u) {
                     u.status->expiresAt = kNow;
                     u.status->approvals.push_back(decision("bob"));
                   },
                   false, "status.expiresAt" + kOwnedSuffix},
        StatusCase{"ApproverAddingGrantsIsRejected", kBob,
                   [](AccessRequest&, AccessRequest& u) {
                     u.status->grants.push_back({GrantKind::RoleBinding, "payments", "x", ""});
                   },
                   false, "status.grants" + kOwnedSuffix},
        StatusCase{"ApprovalUnderADeletedPolicyIsRejected", kBob,
                   [](AccessRequest& o, AccessRequest& u) {
                     o.spec.policy = "gone";
                     u.spec.policy = "gone";
                     u.status->approvals.push_back(decision("bob"));
                   },
                   false,
                   "spec.policy: AccessPolicy \"gone\" does not exist; no decision can be "
                   "recorded"},
        StatusCase{"OperatorMayWriteAnything", kOperator,
                   [](AccessRequest&, AccessRequest& u) {
                     u.status->phase = Phase::Active;
                     u.status->expiresAt = kNow;
                   },
                   true, ""},
        StatusCase{"ApproverSettingTheStatusSealIsRejected", kBob,
                   [](AccessRequest&, AccessRequest& u) { u.status->seal = "v1.k.x"; }, false,
                   "status.seal" + kOwnedSuffix},
        StatusCase{"ApprovalOfARequestStartingWithinApprovalValidForIsAllowed", kBob,
                   [](AccessRequest& o, AccessRequest& u) {
                     o.spec.startAt = u.spec.startAt = "2026-11-30T10:02:11Z";
                     u.status->approvals.push_back(decision("bob"));
                   },
                   true, ""},
        StatusCase{"ApprovalEarlierThanApprovalValidForBeforeStartAtIsRejected", kBob,
                   [](AccessRequest& o, AccessRequest& u) {
                     o.spec.startAt = u.spec.startAt = "2026-12-01T22:00:00Z";
                     u.status->approvals.push_back(decision("bob"));
                   },
                   false,
                   "status.approvals[0]: too early: an approval counts for approvalValidFor 24h "
                   "(policy payments-oncall) and this request starts at 2026-12-01T22:00:00Z; "
                   "approve from 2026-11-30T22:00:00Z on"},
        StatusCase{"ADenialIsNeverTooEarly", kBob,
                   [](AccessRequest& o, AccessRequest& u) {
                     o.spec.startAt = u.spec.startAt = "2026-12-01T22:00:00Z";
                     u.status->approvals.push_back(decision("bob", Decision::Deny));
                   },
                   true, ""},
        StatusCase{"AClientWrittenApprovalSealIsRefusedWhenSealingIsOff", kBob,
                   [](AccessRequest&, AccessRequest& u) {
                     Approval a = decision("bob");
                     a.seal = "v1.k.AAAA";
                     u.status->approvals.push_back(a);
                   },
                   false,
                   "status.approvals[0].seal: is written by the kubegrant mutating webhook only, "
                   "and sealing is not configured on this webhook; leave it out"},
        StatusCase{"TheOldOperatorsGroupMayNotWriteTheStatus", kOperatorsGroupMember,
                   [](AccessRequest&, AccessRequest& u) { u.status->phase = Phase::Active; }, false,
                   "status.phase" + kOwnedSuffix},
        StatusCase{"AServiceAccountOfTheSameNameElsewhereIsNotTheOperator",
                   UserIdentity{"system:serviceaccount:payments:kubegrant-operator",
                                "",
                                {"system:serviceaccounts", "system:serviceaccounts:payments",
                                 "system:authenticated"}},
                   [](AccessRequest&, AccessRequest& u) { u.status->phase = Phase::Active; }, false,
                   "status.phase: is owned by the kubegrant operator; approvers may only append "
                   "to status.approvals"},
        StatusCase{"NoChangeIsAllowed", kMallory, [](AccessRequest&, AccessRequest&) {}, true, ""}),
    [](const auto& info) { return info.param.name; });

TEST_F(AccessRequestAdmissionTest, TheOperatorIsTheOneConfiguredIdentity) {
  const UserIdentity sa{"system:serviceaccount:kubegrant-system:kubegrant-operator",
                        "",
                        {"system:serviceaccounts", "system:authenticated"}};
  AccessRequest old = stored();
  AccessRequest updated = old;
  updated.status->phase = Phase::Active;
  // Not the configured identity: the ServiceAccount is just another caller here.
  EXPECT_FALSE(statusUpdate(sa, updated, old).allowed);
  AccessRequestAdmission inCluster(
      policies_, clock_, AdmissionOptions{OperatorIdentity{sa.username}, {}, nullptr, nullptr});
  EXPECT_TRUE(inCluster.validate(review(Operation::Update, sa, updated, &old, "status")).allowed);
  // ... and then the local name is not trusted any more.
  EXPECT_FALSE(
      inCluster.validate(review(Operation::Update, kOperator, updated, &old, "status")).allowed);
  // An empty identity trusts nobody.
  AccessRequestAdmission nobody(policies_, clock_);
  EXPECT_FALSE(
      nobody.validate(review(Operation::Update, UserIdentity{}, updated, &old, "status")).allowed);
}

TEST_F(AccessRequestAdmissionTest, EveryRefusalIsAuditedWithTheRuleAndNothingElseIs) {
  std::vector<json> lines;
  AccessRequestAdmission audited(
      policies_, clock_,
      AdmissionOptions{
          OperatorIdentity{"kubegrant-operator"}, {}, nullptr, nullptr, [&lines](const json& line) {
            lines.push_back(line);
          }});
  AccessRequest old = stored();
  AdmissionRequest del = review(Operation::Delete, kMallory, old, &old);
  del.object = nullptr;
  EXPECT_FALSE(audited.validate(del).allowed);
  del.userInfo = kAlice;
  EXPECT_TRUE(audited.validate(del).allowed);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["kind"], "kubegrant.audit");
  EXPECT_EQ(lines[0]["event"], "refused");
  EXPECT_EQ(lines[0]["operation"], "DELETE");
  EXPECT_EQ(lines[0]["request"]["namespace"], "payments");
  EXPECT_EQ(lines[0]["request"]["name"], "debug-orders");
  EXPECT_EQ(lines[0]["user"]["username"], "mallory");
  EXPECT_EQ(lines[0]["code"], 403);
  EXPECT_EQ(lines[0]["message"].get<std::string>().rfind("metadata: mallory may not delete", 0),
            0u);
  EXPECT_EQ(lines[0]["ts"], "2026-11-29T10:02:11.000000Z");
}

// ---------------------------------------------------------------------------------------
// Validating delete

struct DeleteCase {
  std::string name;
  UserIdentity caller;
  std::function<void(AccessRequest&)> edit;
  bool allowed;
  std::string message;
};
void PrintTo(const DeleteCase& c, std::ostream* os) { *os << c.name; }

class DeleteRuleTest : public AccessRequestAdmissionTest,
                       public ::testing::WithParamInterface<DeleteCase> {};

TEST_P(DeleteRuleTest, Decides) {
  const auto& c = GetParam();
  AccessRequest old = stored();
  c.edit(old);
  auto resp = remove(c.caller, old);
  EXPECT_EQ(resp.allowed, c.allowed) << resp.message;
  if (!c.allowed) {
    EXPECT_EQ(resp.message, c.message);
    EXPECT_EQ(resp.code, 403);
  }
}

void endedAs(AccessRequest& r, Phase phase, const char* endedAt) {
  r.status->phase = phase;
  r.status->endedAt = *parseRfc3339(endedAt);
}

const std::string kAuditRecordSuffix =
    " before then (the kubegrant operator deletes it after retainFor; the admin group may "
    "earlier)";

INSTANTIATE_TEST_SUITE_P(
    Delete, DeleteRuleTest,
    ::testing::Values(
        DeleteCase{"TheRequesterMayDeleteAPendingRequest", kAlice, [](AccessRequest&) {}, true, ""},
        DeleteCase{"AnApproverMayDeleteAnActiveRequest", kBob,
                   [](AccessRequest& r) { r.status->phase = Phase::Active; }, true, ""},
        DeleteCase{"AnOutsiderMayNot", kMallory, [](AccessRequest&) {}, false,
                   "metadata: mallory may not delete request debug-orders; only its requester "
                   "(alice) or an approver of policy payments-oncall (groups [payments-leads]) "
                   "may while it is not ended, and the kubegrant operator or the admin group "
                   "after"},
        DeleteCase{"TheOldOperatorsGroupMayNot", kOperatorsGroupMember, [](AccessRequest&) {},
                   false,
                   "metadata: eve may not delete request debug-orders; only its requester "
                   "(alice) or an approver of policy payments-oncall (groups [payments-leads]) "
                   "may while it is not ended, and the kubegrant operator or the admin group "
                   "after"},
        DeleteCase{"ADeniedRequestIsTheAuditRecord", kAlice,
                   [](AccessRequest& r) { endedAs(r, Phase::Denied, "2026-11-29T09:00:00Z"); },
                   false,
                   "metadata: request debug-orders is Denied and is kept as the audit record "
                   "until 2026-12-29T09:00:00Z (endedAt + retainFor 720h of policy "
                   "payments-oncall); alice may not delete it" +
                       kAuditRecordSuffix},
        DeleteCase{
            "ARequestWithADenyIsTheAuditRecordBeforeThePhaseSaysSo", kAlice,
            [](AccessRequest& r) { r.status->approvals = {decision("bob", Decision::Deny)}; },
            false,
            "metadata: request debug-orders is denied and is kept as the audit record "
            "for the retainFor of policy payments-oncall; alice may not delete it" +
                kAuditRecordSuffix},
        DeleteCase{"AnApproverMayNotDeleteAnExpiredRequestEither", kBob,
                   [](AccessRequest& r) { endedAs(r, Phase::Expired, "2026-11-29T09:00:00Z"); },
                   false,
                   "metadata: request debug-orders is Expired and is kept as the audit record "
                   "until 2026-12-29T09:00:00Z (endedAt + retainFor 720h of policy "
                   "payments-oncall); bob may not delete it" +
                       kAuditRecordSuffix},
        DeleteCase{"AfterRetainForTheRequesterMay", kAlice,
                   [](AccessRequest& r) { endedAs(r, Phase::Revoked, "2026-10-29T10:02:11Z"); },
                   true, ""},
        DeleteCase{"TheAdminGroupMayDeleteTheRecordEarly", kAdminGroupMember,
                   [](AccessRequest& r) { endedAs(r, Phase::Denied, "2026-11-29T09:00:00Z"); },
                   true, ""},
        DeleteCase{"TheNamespaceControllerMayWhenTheNamespaceGoes",
                   UserIdentity{"system:serviceaccount:kube-system:namespace-controller",
                                "",
                                {"system:serviceaccounts", "system:authenticated"}},
                   [](AccessRequest& r) { endedAs(r, Phase::Denied, "2026-11-29T09:00:00Z"); },
                   true, ""},
        DeleteCase{"ANamesakeServiceAccountElsewhereMayNot",
                   UserIdentity{"system:serviceaccount:payments:namespace-controller",
                                "",
                                {"system:serviceaccounts", "system:authenticated"}},
                   [](AccessRequest& r) { endedAs(r, Phase::Denied, "2026-11-29T09:00:00Z"); },
                   false,
                   "metadata: system:serviceaccount:payments:namespace-controller may not delete "
                   "request debug-orders; only its requester (alice) or an approver of policy "
                   "payments-oncall (groups [payments-leads]) may while it is not ended, and the "
                   "kubegrant operator or the admin group after"},
        DeleteCase{"TheOperatorMay", kOperator,
                   [](AccessRequest& r) { endedAs(r, Phase::Denied, "2026-11-29T09:00:00Z"); },
                   true, ""},
        DeleteCase{"ARequestAlreadyBeingDeletedIsLeftToItsFinalizer", kAlice,
                   [](AccessRequest& r) {
                     endedAs(r, Phase::Denied, "2026-11-29T09:00:00Z");
                     r.metadata.deletionTimestamp = kNow;
                   },
                   true, ""}),
    [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------
// Sealing on: what the mutating webhook stamps verifies, what a client writes does not.

class SealedAdmissionTest : public AccessRequestAdmissionTest {
 protected:
  SealedAdmissionTest()
      : sealer_(std::make_shared<const seal::Keyring>(
            *seal::Keyring::parse("k1 " + base64Encode(std::string(32, 'k'))))),
        sealed_(policies_, clock_,
                AdmissionOptions{OperatorIdentity{"kubegrant-operator"}, {}, &sealer_, nullptr}) {}

  // What the API server does: the mutating webhook's patch, then the validating webhook.
  AdmissionResponse mutateThenValidate(AdmissionRequest r) {
    auto m = sealed_.mutate(r);
    EXPECT_TRUE(m.allowed) << m.message;
    json ops = json::array();
    for (const auto& p : m.patch)
      ops.push_back({{"op", p.op}, {"path", p.path}, {"value", p.value}});
    r.object = r.object.patch(ops);
    return sealed_.validate(r);
  }

  seal::HmacSealer sealer_;
  AccessRequestAdmission sealed_;
};

TEST_F(SealedAdmissionTest, ACreateIsSealedByTheMutatingWebhookAndVerifies) {
  auto r = review(Operation::Create, kAlice, draft());
  auto m = sealed_.mutate(r);
  ASSERT_EQ(m.patch.size(), 2u);
  EXPECT_EQ(m.patch[1].path, "/spec/requesterSeal");
  EXPECT_EQ(m.patch[1].value.get<std::string>().rfind("v1.k1.", 0), 0u);
  auto v = mutateThenValidate(r);
  EXPECT_TRUE(v.allowed) << v.message;
}

TEST_F(SealedAdmissionTest, ACreateTheMutatingWebhookDidNotSeeIsRefused) {
  AccessRequest r = draft();
  r.spec.requester = info(kAlice);
  auto resp = sealed_.validate(review(Operation::Create, kAlice, r));
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.message,
            "spec.requesterSeal: missing; it is stamped by the kubegrant mutating webhook (is "
            "the MutatingWebhookConfiguration installed?)");
}

TEST_F(SealedAdmissionTest, ASealCopiedFromAnotherRequestIsRefused) {
  // A genuine seal from alice's request in namespace payments ...
  auto r = review(Operation::Create, kAlice, draft());
  auto m = sealed_.mutate(r);
  std::string genuine = m.patch[1].value.get<std::string>();
  // ... pasted onto a request for more (a longer duration), with the mutating webhook absent.
  AccessRequest more = draft();
  more.spec.duration = "4h";
  more.spec.requester = info(kAlice);
  more.spec.requesterSeal = genuine;
  auto resp = sealed_.validate(review(Operation::Create, kAlice, more));
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.message,
            "spec.requesterSeal: does not verify: it was not made by kubegrant for these values "
            "(tampered or forged); seals are written by the kubegrant mutating webhook only, "
            "never by clients");
}

TEST_F(SealedAdmissionTest, AnApprovalIsSealedByTheMutatingWebhookAndVerifies) {
  AccessRequest old = stored();
  old.metadata.uid = "uid-7";
  AccessRequest updated = old;
  Approval a;
  a.decision = Decision::Approve;
  a.comment = "ok";
  updated.status->approvals.push_back(a);
  auto resp = mutateThenValidate(review(Operation::Update, kBob, updated, &old, "status"));
  EXPECT_TRUE(resp.allowed) << resp.message;
}

TEST_F(SealedAdmissionTest, AnApprovalWithAClientWrittenSealIsRefused) {
  AccessRequest old = stored();
  old.metadata.uid = "uid-7";
  AccessRequest updated = old;
  Approval a = decision("bob");
  a.approverGroups = kBob.groups;
  a.seal = "v1.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  updated.status->approvals.push_back(a);
  auto resp = sealed_.validate(review(Operation::Update, kBob, updated, &old, "status"));
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.message,
            "status.approvals[0].seal: does not verify: it was not made by kubegrant for these "
            "values (tampered or forged); seals are written by the kubegrant mutating webhook "
            "only, never by clients");
}

TEST_F(SealedAdmissionTest, WithoutKeysLoadedCreatesAreRefusedRetryably) {
  seal::HmacSealer empty;
  AccessRequestAdmission noKeys(policies_, clock_,
                                AdmissionOptions{OperatorIdentity{}, {}, &empty, nullptr});
  auto resp = noKeys.mutate(review(Operation::Create, kAlice, draft()));
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.code, 503);
  EXPECT_EQ(resp.message, "spec.requesterSeal: cannot seal: no seal keys are loaded yet");
}

TEST_F(AccessRequestAdmissionTest, AllowedApprovalSaysWhatHappensNext) {
  AccessRequest old = stored();
  AccessRequest updated = old;
  Approval a = decision("bob");
  a.approverGroups = kBob.groups;  // as the mutating webhook stamps it
  updated.status->approvals.push_back(a);
  auto resp = statusUpdate(kBob, updated, old);
  ASSERT_TRUE(resp.allowed);
  EXPECT_EQ(resp.warnings,
            std::vector<std::string>{"approvals: 1 of 1 required; the operator grants access now"});
}

// ---------------------------------------------------------------------------------------
// AccessPolicy and DatabaseTarget

AdmissionRequest objectReview(std::string kind, json object) {
  AdmissionRequest r;
  r.uid = "u";
  r.kind = {"kubegrant.io", "v1alpha1", std::move(kind)};
  r.operation = Operation::Create;
  r.userInfo = {"admin", "", {"system:masters"}};
  r.object = std::move(object);
  return r;
}

TEST(PolicyAdmission, ValidPolicyIsAllowed) {
  auto resp = validateAccessPolicy(objectReview("AccessPolicy", toJson(paymentsOncall())));
  EXPECT_TRUE(resp.allowed) << resp.message;
}

TEST(PolicyAdmission, MaxShorterThanDefaultIsRejectedNamingTheField) {
  auto p = paymentsOncall();
  p.spec.defaultDuration = "5h";
  auto resp = validateAccessPolicy(objectReview("AccessPolicy", toJson(p)));
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.code, 422);
  EXPECT_EQ(resp.message.rfind("spec.maxDuration: ", 0), 0u) << resp.message;
}

TEST(PolicyAdmission, UnparsableDurationIsRejectedNamingTheField) {
  auto p = paymentsOncall();
  p.spec.pendingTimeout = "1d";
  auto resp = validateAccessPolicy(objectReview("AccessPolicy", toJson(p)));
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.message.rfind("spec.pendingTimeout: ", 0), 0u) << resp.message;
}

TEST(PolicyAdmission, BrokenTicketPatternIsRejected) {
  auto p = paymentsOncall();
  p.spec.ticketPattern = "^INC-[0-9+$";
  auto resp = validateAccessPolicy(objectReview("AccessPolicy", toJson(p)));
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.message.rfind("spec.ticketPattern: ", 0), 0u) << resp.message;
}

TEST(PolicyAdmission, NegativeRequiredIsRejected) {
  auto p = paymentsOncall();
  p.spec.approval.required = -1;
  auto resp = validateAccessPolicy(objectReview("AccessPolicy", toJson(p)));
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.message.rfind("spec.approval.required: ", 0), 0u) << resp.message;
}

TEST(PolicyAdmission, ANotifySecretOutsideTheSecretNamespacesIsRejectedNamingTheField) {
  auto p = paymentsOncall();
  p.spec.notify = {{"slack", {"team-b", "their-webhook", "url"}}};
  auto resp = validateAccessPolicy(objectReview("AccessPolicy", toJson(p)),
                                   v1alpha1::SecretNamespaces{{"kubegrant-system"}});
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.code, 422);
  EXPECT_EQ(resp.message.rfind("spec.notify[0].urlSecretRef.namespace: ", 0), 0u) << resp.message;
  p.spec.notify[0].urlSecretRef.namespace_ = "kubegrant-system";
  resp = validateAccessPolicy(objectReview("AccessPolicy", toJson(p)),
                              v1alpha1::SecretNamespaces{{"kubegrant-system"}});
  EXPECT_TRUE(resp.allowed) << resp.message;
}

TEST(PolicyAdmission, ZeroRequiredIsAllowedWithAWarning) {
  auto p = paymentsOncall();
  p.spec.approval.required = 0;
  auto resp = validateAccessPolicy(objectReview("AccessPolicy", toJson(p)));
  ASSERT_TRUE(resp.allowed) << resp.message;
  EXPECT_EQ(resp.warnings.front(),
            "spec.approval.required is 0: requests under policy payments-oncall are approved "
            "without review");
}

DatabaseTarget ordersDb() {
  DatabaseTarget t;
  t.metadata.name = "orders-db";
  t.spec.host = "orders-db.payments.svc";
  t.spec.database = "orders";
  t.spec.adminSecretRef = {"kubegrant-system", "orders-db-admin"};
  TableGrant g;
  g.schema = "public";
  g.tables = {"*"};
  g.privileges = {"SELECT"};
  t.spec.profiles = {{"readonly", {g}}};
  return t;
}

TEST(DatabaseTargetAdmission, ValidTargetIsAllowed) {
  auto resp = validateDatabaseTarget(objectReview("DatabaseTarget", toJson(ordersDb())));
  EXPECT_TRUE(resp.allowed) << resp.message;
}

TEST(DatabaseTargetAdmission, PortOutOfRangeIsRejectedNamingTheField) {
  auto t = ordersDb();
  t.spec.port = 70000;
  auto resp = validateDatabaseTarget(objectReview("DatabaseTarget", toJson(t)));
  EXPECT_FALSE(resp.allowed);
  EXPECT_EQ(resp.message, "spec.port: port 70000 is out of range 1-65535");
}

TEST(DatabaseTargetAdmission, AColumnBothExcludedAndMaskedIsRejectedNamingTheField) {
  auto t = ordersDb();
  auto& g = t.spec.profiles[0].grants[0];
  g.excludeColumns = {{"customers", {"email"}}};
  g.maskColumns = {{"customers", {{"email", MaskFunction::Email}}}};
  auto resp = validateDatabaseTarget(objectReview("DatabaseTarget", toJson(t)));
  EXPECT_FALSE(resp.allowed);
  EXPECT_THAT(resp.message, HasSubstr("spec.profiles[0].grants[0].maskColumns.customers.email: "
                                      "column customers.email is both excluded and masked"));
}

TEST(DatabaseTargetAdmission, AnUnknownMaskFunctionIsRejectedNamingTheField) {
  auto j = toJson(ordersDb());
  j["spec"]["profiles"][0]["grants"][0]["maskColumns"] = {{"customers", {{"email", "rot13"}}}};
  auto resp = validateDatabaseTarget(objectReview("DatabaseTarget", j));
  EXPECT_FALSE(resp.allowed);
  EXPECT_THAT(resp.message,
              HasSubstr("spec.profiles[0].grants[0].maskColumns.customers.email: unsupported "
                        "value \"rot13\" (allowed: redact, partial, email, hash, null)"));
}

TEST(DatabaseTargetAdmission, VerifyFullWithoutACaWarns) {
  auto t = ordersDb();
  t.spec.sslMode = "verify-full";
  auto resp = validateDatabaseTarget(objectReview("DatabaseTarget", toJson(t)));
  ASSERT_TRUE(resp.allowed) << resp.message;
  EXPECT_THAT(resp.warnings, Contains(HasSubstr("without spec.caSecretRef")));
}

TEST(DatabaseTargetAdmission, WrongKindIsDenied) {
  auto resp = validateDatabaseTarget(objectReview("AccessPolicy", toJson(paymentsOncall())));
  EXPECT_FALSE(resp.allowed);
}

// ---------------------------------------------------------------------------------------
// Security denials (issue 14): counted by rule, an audit line naming user and rule, and a
// "security" notification to the operator-wide receiver and the policy's own.

class RecordingSink final : public notify::Sink {
 public:
  bool send(notify::Notification n) override {
    sent.push_back(std::move(n));
    return true;
  }
  std::vector<notify::Notification> sent;
};

class SecurityDenialTest : public AccessRequestAdmissionTest {
 protected:
  SecurityDenialTest()
      : secured_(policies_, clock_,
                 AdmissionOptions{OperatorIdentity{"kubegrant-operator"},
                                  {"kubegrant-admins"},
                                  nullptr,
                                  &requests_,
                                  [this](const json& line) { audit_.push_back(line); },
                                  &targets_,
                                  &sink_,
                                  &metrics_}) {
    AccessPolicy p = paymentsOncall();
    p.spec.notify = {{"payments-slack", {"kubegrant-system", "payments-slack", "url"}}};
    policies_.put(p);
  }
  double denials(const std::string& rule) {
    return metrics_.counter("kubegrant_webhook_security_denials_total", "", {"rule"})
        .with({rule})
        .value();
  }
  RecordingSink sink_;
  metrics::Registry metrics_;
  std::vector<json> audit_;
  AccessRequestAdmission secured_;
};

TEST_F(SecurityDenialTest, SelfApprovalIsCountedAuditedAndNotifiedNamingUserAndRule) {
  AccessRequest old = stored();
  AccessRequest updated = old;
  updated.status->approvals.push_back(decision("alice"));
  auto resp = secured_.validate(review(Operation::Update, kAlice, updated, &old, "status"));
  ASSERT_FALSE(resp.allowed);
  EXPECT_EQ(resp.rule, "self-approval");
  EXPECT_EQ(denials("self-approval"), 1);
  ASSERT_EQ(audit_.size(), 1u);
  EXPECT_EQ(audit_[0]["rule"], "self-approval");
  EXPECT_EQ(audit_[0]["user"]["username"], "alice");
  EXPECT_EQ(audit_[0]["operation"], "UPDATE");
  EXPECT_EQ(audit_[0]["subResource"], "status");
  EXPECT_EQ(audit_[0]["request"]["name"], "debug-orders");
  EXPECT_THAT(audit_[0]["field"].get<std::string>(), StartsWith("status.approvals"));
  ASSERT_EQ(sink_.sent.size(), 1u);
  const auto& n = sink_.sent[0];
  EXPECT_EQ(n.id, "uid-1.security");
  EXPECT_EQ(n.event, "security");
  ASSERT_EQ(n.receivers.size(), 1u);
  EXPECT_EQ(n.receivers[0].name, "payments-slack");
  auto body = json::parse(n.body);
  EXPECT_EQ(body["rule"], "self-approval");
  EXPECT_EQ(body["user"]["username"], "alice");
  EXPECT_EQ(body["request"]["name"], "debug-orders");
  EXPECT_EQ(body["policy"], "payments-oncall");
  EXPECT_THAT(body["text"].get<std::string>(), HasSubstr("alice"));
  EXPECT_THAT(body["text"].get<std::string>(), HasSubstr("self-approval"));
}

TEST_F(SecurityDenialTest, EachAttackIsTaggedWithItsRule) {
  struct Case {
    std::string rule;
    std::function<AdmissionRequest()> review;
  };
  std::vector<Case> cases = {
      {"non-approver",
       [&] {
         AccessRequest o = stored(), u = stored();
         u.status->approvals.push_back(decision("mallory"));
         return review(Operation::Update, kMallory, u, &o, "status");
       }},
      {"forged-approver",
       [&] {
         AccessRequest o = stored(), u = stored();
         u.status->approvals.push_back(decision("carol"));
         return review(Operation::Update, kBob, u, &o, "status");
       }},
      {"decision-after-end",
       [&] {
         AccessRequest o = stored();
         o.status->phase = Phase::Expired;
         AccessRequest u = o;
         u.status->approvals.push_back(decision("bob"));
         return review(Operation::Update, kBob, u, &o, "status");
       }},
      {"forged-requester",
       [&] {
         AccessRequest r = draft();
         r.spec.requester = info(kBob);
         return review(Operation::Create, kAlice, r);
       }},
      {"beyond-policy",
       [&] {
         AccessRequest r = draft();
         r.spec.requester = info(kAlice);
         r.spec.duration = "48h";
         return review(Operation::Create, kAlice, r);
       }},
      {"finalizer-removal",
       [&] {
         AccessRequest o = stored();
         o.metadata.finalizers = {std::string(v1alpha1::kRevokeFinalizer)};
         AccessRequest u = stored();
         return review(Operation::Update, kMallory, u, &o);
       }},
  };
  for (const auto& c : cases) {
    auto resp = secured_.validate(c.review());
    EXPECT_FALSE(resp.allowed) << c.rule;
    EXPECT_EQ(resp.rule, c.rule) << resp.message;
    EXPECT_EQ(denials(c.rule), 1) << c.rule;
  }
  EXPECT_EQ(sink_.sent.size(), cases.size());
}

TEST_F(SecurityDenialTest, AnIncompleteRequestIsNoSecurityEvent) {
  AccessRequest r = draft();
  r.spec.requester = info(kAlice);
  r.spec.reason.reset();  // the policy requires a reason: a mistake, not an attack
  auto resp = secured_.validate(review(Operation::Create, kAlice, r));
  ASSERT_FALSE(resp.allowed);
  EXPECT_EQ(resp.rule, "");
  EXPECT_TRUE(sink_.sent.empty());
  ASSERT_EQ(audit_.size(), 1u);  // still audited as a refusal
}

TEST(RefusalRecord, NamesTheFieldTheMessageBeginsWith) {
  EXPECT_EQ(fieldOf("spec.requester: username bob is not the caller"), "spec.requester");
  EXPECT_EQ(fieldOf("status.approvals[1].approver: forged"), "status.approvals[1].approver");
  EXPECT_EQ(fieldOf("no field here, just words: see"), "");
  EXPECT_EQ(fieldOf("no colon"), "");
}

}  // namespace
}  // namespace kubegrant::webhooks
