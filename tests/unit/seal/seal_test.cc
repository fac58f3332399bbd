// Seals (operator/seal): the canonical form, the keyring format, that a change to any sealed
// field breaks the seal, and key rotation.

#include "operator/seal/seal.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "operator/common/base64.h"
#include "operator/common/time.h"
#include "operator/seal/forms.h"
#include "operator/seal/secret_keyring.h"
#include "operator/seal/trust.h"
#include "tests/support/api_examples.h"

namespace kubegrant::seal {
namespace {

using namespace v1alpha1;

// Two distinct 32-byte keys (base64), as `openssl rand -base64 32` prints them.
const std::string kOldKey = base64Encode(std::string(32, 'o'));
const std::string kNewKey = base64Encode(std::string(32, 'n'));

std::shared_ptr<const Keyring> keyring(const std::string& text) {
  auto k = Keyring::parse(text);
  EXPECT_TRUE(k) << (k ? "" : k.error().message);
  return std::make_shared<const Keyring>(k ? *k : Keyring({{"x", std::string(32, 'x')}}));
}

AccessRequest sampleRequest() {
  AccessRequest r;
  r.metadata.name = "debug-orders";
  r.metadata.namespace_ = "payments";
  r.metadata.uid = "6f1c0c0e-1111-2222-3333-444455556666";
  r.spec.policy = "payments-oncall";
  r.spec.duration = "2h";
  r.spec.startAt = "2026-12-01T22:00:00Z";
  r.spec.reason = "orders stuck";
  r.spec.ticket = "INC-4211";
  r.spec.roles = {{RoleKind::ClusterRole, "view", {"payments"}}};
  r.spec.databases = {{"orders-db", "readonly"}};
  r.spec.requester = UserInfo{"alice", {"payments-devs", "system:authenticated"}};
  r.status = AccessRequestStatus{};
  r.status->phase = Phase::Active;
  r.status->breakGlass = false;
  r.status->approvedAt = *parseRfc3339("2026-11-29T10:02:11Z");
  r.status->activatedAt = *parseRfc3339("2026-11-29T10:02:12Z");
  r.status->expiresAt = *parseRfc3339("2026-11-29T12:02:12Z");
  r.status->grants = {{GrantKind::RoleBinding, "payments", "kubegrant-0123456789abcdef", ""}};
  return r;
}

Approval sampleApproval() {
  Approval a;
  a.approver = "bob";
  a.approverGroups = {"payments-leads", "system:authenticated"};
  a.decision = Decision::Approve;
  a.comment = "ok, 2h";
  a.time = *parseRfc3339("2026-11-29T10:02:11Z");
  return a;
}

TEST(CanonicalFormTest, IsVersionedPurposedAndLengthPrefixed) {
  CanonicalForm f("approval");
  f.add("uid", "u-1").addSet("groups", {"b", "a", "b"}).add("comment", "");
  EXPECT_EQ(f.text(), "kubegrant.io/seal/v1\napproval\nuid=3:u-1\ngroups=[1:a,1:b]\ncomment=0:\n");
}

TEST(CanonicalFormTest, DifferentSplitsOfTheSameBytesEncodeDifferently) {
  CanonicalForm a("p"), b("p");
  a.add("x", "ab").add("y", "c");
  b.add("x", "a").add("y", "bc");
  EXPECT_NE(a.text(), b.text());
  CanonicalForm c("p"), d("p");
  c.addSet("g", {"a,1:b"});
  d.addSet("g", {"a", "b"});
  EXPECT_NE(c.text(), d.text());
}

TEST(CanonicalFormTest, GroupOrderDoesNotMatter) {
  Approval a = sampleApproval();
  Approval b = a;
  b.approverGroups = {"system:authenticated", "payments-leads"};
  EXPECT_EQ(approvalForm("u", a).text(), approvalForm("u", b).text());
}

TEST(KeyringTest, ParsesNewestFirstSkippingCommentsAndBlankLines) {
  auto k = Keyring::parse("# rotated 2026-11-29\n\n2026-11 " + kNewKey + "\n  2026-06\t" + kOldKey +
                          "  \n");
  ASSERT_TRUE(k) << k.error().message;
  ASSERT_EQ(k->keys().size(), 2u);
  EXPECT_EQ(k->signing().id, "2026-11");
  EXPECT_EQ(k->signing().secret, std::string(32, 'n'));
  ASSERT_NE(k->find("2026-06"), nullptr);
  EXPECT_EQ(k->find("nope"), nullptr);
}

struct BadKeys {
  std::string name;
  std::string text;
  std::string message;
};
void PrintTo(const BadKeys& c, std::ostream* os) { *os << c.name; }

class KeyringRefusesTest : public ::testing::TestWithParam<BadKeys> {};

TEST_P(KeyringRefusesTest, WithAMessageNamingTheLineAndNeverTheKey) {
  auto k = Keyring::parse(GetParam().text);
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().code, ErrorCode::Invalid);
  EXPECT_EQ(k.error().message, GetParam().message);
  EXPECT_EQ(k.error().message.find(kOldKey), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, KeyringRefusesTest,
    ::testing::Values(
        BadKeys{"Empty", "# nothing\n", "seal keys: no key; want one \"<id> <base64 key>\" a line"},
        BadKeys{"NoKey", "k1\n", "seal keys line 1: want \"<id> <base64 key>\""},
        BadKeys{"BadId", "k.1 " + kOldKey,
                "seal keys line 1: key id must be 1-63 of [A-Za-z0-9_-]"},
        BadKeys{"DuplicateId", "k1 " + kNewKey + "\nk1 " + kOldKey,
                "seal keys line 2: key id \"k1\" appears twice"},
        BadKeys{"ShortKey", "k1 " + base64Encode("short"),
                "seal keys line 1: key \"k1\" has 5 bytes; at least 32 random bytes are "
                "required (openssl rand -base64 32)"},
        BadKeys{"NotBase64", "k1 ***", "seal keys line 1: the key is not valid base64"}),
    [](const auto& info) { return info.param.name; });

TEST(HmacSealerTest, SealsWithTheNewestKeyAndVerifies) {
  HmacSealer sealer(keyring("new " + kNewKey + "\nold " + kOldKey));
  auto form = approvalForm("u", sampleApproval());
  auto s = sealer.seal(form);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->rfind("v1.new.", 0), 0u) << *s;
  EXPECT_EQ(s->size(), std::string("v1.new.").size() + 43);  // 32 bytes, base64url unpadded
  EXPECT_TRUE(sealer.verify(form, *s));
}

TEST(HmacSealerTest, RefusesWhatItDidNotSealWithAShortReason) {
  HmacSealer sealer(keyring("k1 " + kNewKey));
  auto form = approvalForm("u", sampleApproval());
  auto s = *sealer.seal(form);
  struct Case {
    std::string seal;
    std::string message;
  };
  for (const auto& c : std::vector<Case>{
           {"", "is missing"},
           {"forged", "is not a kubegrant seal (want v1.<key id>.<mac>)"},
           {"v2.k1.AAAA", "is not a kubegrant seal (want v1.<key id>.<mac>)"},
           {"v1.k9.AAAA",
            "was made with key \"k9\", which is not in the seal keyring (never was, or was "
            "dropped)"},
           {"v1.k1.AAAA",
            "does not verify: it was not made by kubegrant for these values (tampered or "
            "forged)"},
           {s.substr(0, s.size() - 1) + (s.back() == 'A' ? "B" : "A"),
            "does not verify: it was not made by kubegrant for these values (tampered or "
            "forged)"}}) {
    auto v = sealer.verify(form, c.seal);
    ASSERT_FALSE(v) << c.seal;
    EXPECT_EQ(v.error().code, ErrorCode::Forbidden);
    EXPECT_EQ(v.error().message, c.message) << c.seal;
  }
}

TEST(HmacSealerTest, WithoutKeysNothingSealsOrVerifies) {
  HmacSealer sealer;
  auto form = approvalForm("u", sampleApproval());
  EXPECT_EQ(sealer.seal(form).error().code, ErrorCode::Unavailable);
  EXPECT_EQ(sealer.verify(form, "v1.k.x").error().code, ErrorCode::Unavailable);
}

TEST(HmacSealerTest, ASealFromAnotherKeyringDoesNotVerify) {
  HmacSealer ours(keyring("k1 " + kNewKey));
  HmacSealer theirs(keyring("k1 " + kOldKey));  // same id, other secret
  auto form = approvalForm("u", sampleApproval());
  EXPECT_FALSE(ours.verify(form, *theirs.seal(form)));
}

TEST(HmacSealerTest, RotationOldSealsVerifyUntilTheirKeyIsDropped) {
  HmacSealer sealer(keyring("old " + kOldKey));
  auto form = approvalForm("u", sampleApproval());
  auto before = *sealer.seal(form);
  // A new key on top: it seals from now on, the old one still verifies.
  sealer.setKeys(keyring("new " + kNewKey + "\nold " + kOldKey));
  auto after = *sealer.seal(form);
  EXPECT_EQ(after.rfind("v1.new.", 0), 0u);
  EXPECT_TRUE(sealer.verify(form, before));
  EXPECT_TRUE(sealer.verify(form, after));
  // The old key dropped: what it sealed no longer verifies, what the new one sealed does.
  sealer.setKeys(keyring("new " + kNewKey));
  auto v = sealer.verify(form, before);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message,
            "was made with key \"old\", which is not in the seal keyring (never was, or was "
            "dropped)");
  EXPECT_TRUE(sealer.verify(form, after));
}

// Every sealed field, changed one at a time, breaks the seal.
template <typename T>
struct Tamper {
  std::string field;
  std::function<void(T&)> change;
};

TEST(FormsTest, ChangingAnyApprovalFieldBreaksItsSeal) {
  HmacSealer sealer(keyring("k " + kNewKey));
  const Approval a = sampleApproval();
  const std::string uid = "uid-1";
  auto s = *sealer.seal(approvalForm(uid, a));
  ASSERT_TRUE(sealer.verify(approvalForm(uid, a), s));
  EXPECT_FALSE(sealer.verify(approvalForm("uid-2", a), s)) << "request UID";
  for (const auto& t : std::vector<Tamper<Approval>>{
           {"approver", [](Approval& x) { x.approver = "carol"; }},
           {"approverGroups", [](Approval& x) { x.approverGroups.push_back("sre-oncall"); }},
           {"decision", [](Approval& x) { x.decision = Decision::Deny; }},
           {"comment", [](Approval& x) { x.comment = "ok, 4h"; }},
           {"time", [](Approval& x) { x.time = *x.time + std::chrono::seconds(1); }}}) {
    Approval changed = a;
    t.change(changed);
    EXPECT_FALSE(sealer.verify(approvalForm(uid, changed), s)) << t.field;
  }
}

TEST(FormsTest, ChangingTheRequesterOrWhatWasAskedBreaksTheRequesterSeal) {
  HmacSealer sealer(keyring("k " + kNewKey));
  const AccessRequest r = sampleRequest();
  auto s = *sealer.seal(requesterForm(r));
  ASSERT_TRUE(sealer.verify(requesterForm(r), s));
  for (const auto& t : std::vector<Tamper<AccessRequest>>{
           {"namespace", [](AccessRequest& x) { x.metadata.namespace_ = "kube-system"; }},
           {"username", [](AccessRequest& x) { x.spec.requester->username = "carol"; }},
           {"groups", [](AccessRequest& x) { x.spec.requester->groups.push_back("sre-oncall"); }},
           {"policy", [](AccessRequest& x) { x.spec.policy = "other"; }},
           {"duration", [](AccessRequest& x) { x.spec.duration = "4h"; }},
           {"startAt", [](AccessRequest& x) { x.spec.startAt.reset(); }},
           {"reason", [](AccessRequest& x) { x.spec.reason = "x"; }},
           {"ticket", [](AccessRequest& x) { x.spec.ticket = "INC-1"; }},
           {"roles", [](AccessRequest& x) { x.spec.roles[0].name = "admin"; }},
           {"role namespaces", [](AccessRequest& x) { x.spec.roles[0].namespaces = {"x"}; }},
           {"databases", [](AccessRequest& x) { x.spec.databases[0].profile = "support"; }}}) {
    AccessRequest changed = r;
    t.change(changed);
    EXPECT_FALSE(sealer.verify(requesterForm(changed), s)) << t.field;
  }
  // Not sealed: revoke (it may change later), the name/UID (unknown on create), status.
  AccessRequest later = r;
  later.spec.revoke = true;
  later.spec.requesterSeal = s;
  later.metadata.name = "other";
  later.metadata.uid = "other";
  later.status->phase = Phase::Revoked;
  EXPECT_TRUE(sealer.verify(requesterForm(later), s));
}

TEST(FormsTest, ChangingAnyOperatorTransitionBreaksTheStatusSeal) {
  HmacSealer sealer(keyring("k " + kNewKey));
  const AccessRequest r = sampleRequest();
  auto s = *sealer.seal(statusForm(r));
  ASSERT_TRUE(sealer.verify(statusForm(r), s));
  for (const auto& t : std::vector<Tamper<AccessRequest>>{
           {"uid", [](AccessRequest& x) { x.metadata.uid = "other"; }},
           {"phase", [](AccessRequest& x) { x.status->phase = Phase::Expired; }},
           {"breakGlass", [](AccessRequest& x) { x.status->breakGlass = true; }},
           {"approvedAt", [](AccessRequest& x) { x.status->approvedAt.reset(); }},
           {"activatedAt",
            [](AccessRequest& x) { *x.status->activatedAt += std::chrono::hours(1); }},
           {"expiresAt",
            [](AccessRequest& x) { x.status->expiresAt = *parseRfc3339("2099-01-01T00:00:00Z"); }},
           {"endedAt", [](AccessRequest& x) { x.status->endedAt = x.status->expiresAt; }},
           {"grants", [](AccessRequest& x) { x.status->grants[0].name = "other"; }}}) {
    AccessRequest changed = r;
    t.change(changed);
    EXPECT_FALSE(sealer.verify(statusForm(changed), s)) << t.field;
  }
}

TEST(SecretKeyringTest, ReadsTheKeysEntryOfTheSecret) {
  SealKeysSecret ref;
  kube::Object secret(nlohmann::json{
      {"apiVersion", "v1"},
      {"kind", "Secret"},
      {"metadata", {{"name", ref.name}, {"namespace", ref.namespace_}}},
      {"data", {{"keys", base64Encode("k2 " + kNewKey + "\nk1 " + kOldKey + "\n")}}}});
  auto k = keyringFromSecret(secret, ref);
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->signing().id, "k2");
  secret.body["data"] = nlohmann::json::object();
  k = keyringFromSecret(secret, ref);
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().message,
            "Secret kubegrant-system/kubegrant-seal-keys: has no data entry \"keys\"");
}

TEST(SecretKeyringTest, ParsesNamespaceSlashName) {
  auto ref = parseSealKeysSecret("ops/keys");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->namespace_, "ops");
  EXPECT_EQ(ref->name, "keys");
  for (const char* bad : {"keys", "/keys", "ops/", "Ops/keys", "a/b/c"}) {
    EXPECT_FALSE(parseSealKeysSecret(bad)) << bad;
  }
}

// ---------------------------------------------------------------------------------------
// trust.h: what the operator may believe.

class TrustTest : public ::testing::Test {
 protected:
  TrustTest()
      : sealer_(keyring("k " + kNewKey)), policy_(kubegrant::testing::paymentsOncallPolicy()) {}

  // Alice's request as kubegrant wrote it: sealed requester, bob's sealed approval, the
  // operator's sealed Active status (activated now, 2h).
  AccessRequest genuine() {
    AccessRequest r = sampleRequest();
    r.spec.startAt.reset();
    r.spec.requesterSeal = *sealer_.seal(requesterForm(r));
    Approval a = sampleApproval();
    a.time = now_ - std::chrono::minutes(5);
    a.seal = *sealer_.seal(approvalForm(r.metadata.uid, a));
    r.status->approvals = {a};
    r.status->activatedAt = now_;
    r.status->expiresAt = now_ + std::chrono::hours(2);
    EXPECT_TRUE(sealStatus(r, sealer_));
    return r;
  }

  Trust assessed(const AccessRequest& r) { return assess(r, &policy_, sealer_, now_); }

  HmacSealer sealer_;
  AccessPolicy policy_;
  TimePoint now_ = *parseRfc3339("2026-11-29T10:02:12Z");
};

TEST_F(TrustTest, WhatKubegrantSealedIsBelievedAsIs) {
  auto t = assessed(genuine());
  EXPECT_FALSE(t.tampering) << *t.tampering;
  EXPECT_FALSE(t.forgedRequester) << *t.forgedRequester;
  EXPECT_TRUE(t.ignoredApprovals.empty());
  EXPECT_EQ(t.request.status->approvals.size(), 1u);
  EXPECT_EQ(t.request.status->expiresAt, now_ + std::chrono::hours(2));
}

TEST_F(TrustTest, AnUnsealedOrForgedRequesterIsNotBelieved) {
  AccessRequest r = genuine();
  r.spec.requester->groups.push_back("sre-oncall");  // claims break-glass
  auto t = assessed(r);
  ASSERT_TRUE(t.forgedRequester);
  EXPECT_EQ(*t.forgedRequester,
            "spec.requesterSeal: does not verify: it was not made by kubegrant for these values "
            "(tampered or forged); the requester alice was not recorded by the kubegrant "
            "admission webhook and is not believed");
  r.spec.requesterSeal.reset();
  EXPECT_EQ(assessed(r).forgedRequester->rfind("spec.requesterSeal: is missing;", 0), 0u);
}

TEST_F(TrustTest, AFakeApprovalIsTamperingAndDoesNotCount) {
  AccessRequest r = genuine();
  Approval fake = sampleApproval();
  fake.approver = "carol";
  fake.seal = r.status->approvals[0].seal;  // bob's genuine seal, pasted
  r.status->approvals.push_back(fake);
  Approval unsealed = sampleApproval();
  unsealed.approver = "dave";
  r.status->approvals.push_back(unsealed);
  auto t = assessed(r);
  ASSERT_TRUE(t.tampering);
  EXPECT_TRUE(t.statusVerified) << "the operator's own fields are intact";
  EXPECT_EQ(*t.tampering,
            "status.approvals[1].seal: does not verify: it was not made by kubegrant for these "
            "values (tampered or forged); the decision by carol was not recorded by the kubegrant "
            "admission webhook: treated as tampering");
  ASSERT_EQ(t.request.status->approvals.size(), 1u);
  EXPECT_EQ(t.request.status->approvals[0].approver, "bob");
  EXPECT_TRUE(t.ignoredApprovals.empty());
  r.status->approvals.resize(1);
  r.status->approvals.push_back(unsealed);
  EXPECT_EQ(assessed(r).tampering->rfind("status.approvals[1].seal: is missing;", 0), 0u);
}

TEST_F(TrustTest, AnApprovalOfAnotherRequestDoesNotCount) {
  AccessRequest r = genuine();
  r.metadata.uid = "another-request";
  r.spec.requesterSeal = *sealer_.seal(requesterForm(r));
  ASSERT_TRUE(sealStatus(r, sealer_));
  auto t = assessed(r);
  EXPECT_TRUE(t.request.status->approvals.empty());
  EXPECT_TRUE(t.tampering);
}

TEST_F(TrustTest, AnyChangeToTheOperatorsStatusIsTampering) {
  for (const auto& tamper : std::vector<Tamper<AccessRequest>>{
           {"resurrection", [](AccessRequest& x) { x.status->phase = Phase::Pending; }},
           {"expiresAt extension",
            [](AccessRequest& x) { x.status->expiresAt = *parseRfc3339("2099-01-01T00:00:00Z"); }},
           {"fake break-glass", [](AccessRequest& x) { x.status->breakGlass = true; }},
           {"grants", [](AccessRequest& x) { x.status->grants.clear(); }},
           {"seal removed", [](AccessRequest& x) { x.status->seal.reset(); }}}) {
    AccessRequest r = genuine();
    tamper.change(r);
    auto t = assessed(r);
    EXPECT_TRUE(t.tampering) << tamper.field;
    EXPECT_FALSE(t.statusVerified) << tamper.field;
  }
  // A status written from scratch by a client.
  AccessRequest r = genuine();
  r.status = AccessRequestStatus{};
  r.status->phase = Phase::Active;
  r.status->expiresAt = *parseRfc3339("2099-01-01T00:00:00Z");
  auto t = assessed(r);
  ASSERT_TRUE(t.tampering);
  EXPECT_EQ(*t.tampering,
            "status.seal: is missing; the status (phase Active) was not written by the kubegrant "
            "operator: treated as tampering");
  // Approvals alone (what approvers write before the operator's first status) need no seal.
  r.status = AccessRequestStatus{};
  r.status->approvals = genuine().status->approvals;
  EXPECT_FALSE(assessed(r).tampering);
}

TEST_F(TrustTest, BreakGlassAndExpiryAreRecomputedFromSpecAndPolicy) {
  AccessRequest r = genuine();
  r.status->breakGlass = true;  // sealed as such, but the policy does not say so (any more)
  r.status->expiresAt = now_ + std::chrono::hours(4);
  ASSERT_TRUE(sealStatus(r, sealer_));
  auto t = assessed(r);
  EXPECT_FALSE(t.tampering);
  EXPECT_EQ(t.request.status->breakGlass, false);
  EXPECT_EQ(t.request.status->expiresAt, now_ + std::chrono::hours(2)) << "spec.duration is 2h";
}

TEST_F(TrustTest, AnApprovalOlderThanApprovalValidForDoesNotActivate) {
  AccessRequest r = genuine();
  r.status->phase = Phase::Pending;
  r.status->activatedAt.reset();
  r.status->expiresAt.reset();
  r.status->grants.clear();
  Approval& a = r.status->approvals[0];
  a.time = now_ - std::chrono::hours(25);
  a.seal = *sealer_.seal(approvalForm(r.metadata.uid, a));
  ASSERT_TRUE(sealStatus(r, sealer_));
  auto t = assessed(r);
  EXPECT_TRUE(t.request.status->approvals.empty());
  ASSERT_EQ(t.ignoredApprovals.size(), 1u);
  EXPECT_EQ(t.ignoredApprovals[0],
            "status.approvals[0] by bob: given at 2026-11-28T09:02:12Z, more than "
            "approvalValidFor 24h ago, before the request was active; not counted");
}

TEST_F(TrustTest, WithoutKeysNothingIsJudged) {
  HmacSealer empty;
  auto t = assess(genuine(), &policy_, empty, now_);
  ASSERT_TRUE(t.unavailable);
  EXPECT_FALSE(t.tampering);
  EXPECT_FALSE(t.forgedRequester);
}

}  // namespace
}  // namespace kubegrant::seal
