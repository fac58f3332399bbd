// Lifecycle notifications (issue 14): what a request owes, derived from its status, and the
// body a receiver gets.

#include "controllers/access_request/notifications.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controllers/access_request/plan.h"
#include "tests/unit/access_request/fixtures.h"

namespace kubegrant::controllers::access_request {
namespace {

using namespace testing;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

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

const json kActive = json::parse(R"({"status": {"phase": "Active", "approvals": [
  {"approver": "bob", "approverGroups": ["payments-leads"], "decision": "Approve"}],
  "approvedAt": "2026-11-29T10:01:00Z", "activatedAt": "2026-11-29T10:01:00Z",
  "expiresAt": "2026-11-29T10:31:00Z", "breakGlass": false,
  "grants": [{"kind": "RoleBinding", "namespace": "payments", "name": "rb"}]}})");

NotifyContext operatorWide(std::set<std::string> delivered = {}) {
  return NotifyContext{NotifyOptions{.operatorWide = true}, std::move(delivered)};
}

std::vector<std::string> events(const std::vector<Effect>& effects) {
  std::vector<std::string> out;
  for (const auto& e : effects) {
    if (const auto* n = std::get_if<Notify>(&e)) out.push_back(n->notification.event);
  }
  return out;
}

std::vector<std::string> owed(const v1::AccessRequest& r, const v1::AccessPolicy* p, TimePoint now,
                              const NotifyContext& c, std::optional<TimePoint>* requeue = nullptr) {
  std::vector<Effect> out;
  std::optional<TimePoint> at;
  planNotifications(r, p, now, c, out, at);
  if (requeue) *requeue = at;
  return events(out);
}

TEST(Notifications, ANewRequestAnnouncesItselfAfterItsFirstStatusWriteNamingWhoMustApprove) {
  auto p = policy();
  const NotifyContext context = operatorWide();
  Plan out = plan(request(), &p, at("2026-11-29T10:00:00Z"), {}, &context);
  auto d = describe(out.effects);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0], "write status Pending");
  EXPECT_EQ(d[2], "notify created (uid-1.created)");
  const auto& n = std::get<Notify>(out.effects[2]).notification;
  auto body = json::parse(n.body);
  EXPECT_EQ(body["event"], "created");
  EXPECT_EQ(body["requester"], "alice");
  EXPECT_EQ(body["policy"], "payments-oncall");
  EXPECT_EQ(body["namespace"], "payments");
  EXPECT_EQ(body["reason"], "orders stuck");
  EXPECT_EQ(body["ticket"], "INC-4211");
  EXPECT_EQ(body["approvers"]["required"], 1);
  EXPECT_EQ(body["approvers"]["groups"], json::array({"payments-leads"}));
  EXPECT_EQ(body["roles"][0]["name"], "view");
  EXPECT_EQ(body["roles"][0]["namespaces"], json::array({"payments"}));
  EXPECT_EQ(body["breakGlass"], false);
  EXPECT_EQ(body["times"]["created"], "2026-11-29T10:00:00Z");
  EXPECT_THAT(body["text"].get<std::string>(),
              HasSubstr("alice requests ClusterRole view in payments for 30m under policy "
                        "payments-oncall"));
  EXPECT_THAT(body["text"].get<std::string>(), HasSubstr("Needs 1 approval(s) from groups "
                                                         "payments-leads"));
  ASSERT_TRUE(n.subject);
  EXPECT_EQ(n.subject->uid, "uid-1");
}

TEST(Notifications, WithoutAnyReceiverNothingIsPlanned) {
  auto p = policy();
  NotifyContext off{NotifyOptions{.operatorWide = false}, {}};
  EXPECT_TRUE(owed(request(kActive), &p, at("2026-11-29T10:05:00Z"), off).empty());
  // A policy receiver alone is enough, and it is named on every notification.
  auto routed = policy(json::parse(R"({"spec": {"notify": [{"name": "payments-slack",
      "urlSecretRef": {"namespace": "kubegrant-system", "name": "slack", "key": "url"}}]}})"));
  std::vector<Effect> out;
  std::optional<TimePoint> at_;
  planNotifications(request(kActive), &routed, at("2026-11-29T10:05:00Z"), off, out, at_);
  ASSERT_EQ(events(out), (std::vector<std::string>{"created", "approved", "active"}));
  const auto& r = std::get<Notify>(out[0]).notification.receivers;
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].name, "payments-slack");
  EXPECT_EQ(r[0].urlSecretRef->name, "slack");
}

TEST(Notifications, WhatIsOwedFollowsTheStatusMinusWhatWasDelivered) {
  auto p = policy();
  const TimePoint now = at("2026-11-29T10:05:00Z");
  EXPECT_EQ(owed(request(kActive), &p, now, operatorWide()),
            (std::vector<std::string>{"created", "approved", "active"}));
  // A leader that died after the status write: the new one owes exactly what is missing.
  EXPECT_EQ(owed(request(kActive), &p, now, operatorWide({"created", "approved"})),
            (std::vector<std::string>{"active"}));
  EXPECT_TRUE(
      owed(request(kActive), &p, now, operatorWide({"created", "approved", "active"})).empty());
  auto denied = request(json::parse(R"({"status": {"phase": "Denied", "approvals": [
      {"approver": "bob", "decision": "Deny"}], "endedAt": "2026-11-29T10:02:00Z"}})"));
  EXPECT_EQ(owed(denied, &p, now, operatorWide({"created"})), std::vector<std::string>{"denied"});
  auto revoked = request(kActive);
  revoked.status->phase = v1::Phase::Revoked;
  revoked.status->endedAt = at("2026-11-29T10:04:00Z");
  revoked.status->message = "revoked by alice";
  EXPECT_EQ(owed(revoked, &p, now, operatorWide({"created", "approved", "active"})),
            std::vector<std::string>{"ended"});
}

TEST(Notifications, ExpiringIsDueTheLeadTimeBeforeExpiryAndWakesTheRequestThen) {
  auto p = policy();
  auto r = request(kActive);  // expires 10:31
  std::optional<TimePoint> requeue;
  auto done = operatorWide({"created", "approved", "active"});
  EXPECT_TRUE(owed(r, &p, at("2026-11-29T10:05:00Z"), done, &requeue).empty());
  ASSERT_TRUE(requeue);
  EXPECT_EQ(formatRfc3339(*requeue), "2026-11-29T10:21:00Z");  // default lead: 10 min
  EXPECT_EQ(owed(r, &p, at("2026-11-29T10:21:00Z"), done), std::vector<std::string>{"expiring"});
  auto body = lifecycleBody("expiring", r, &p, at("2026-11-29T10:21:00Z"));
  EXPECT_THAT(body["text"].get<std::string>(), HasSubstr("expires in 10 min"));
  NotifyContext fiveMin = done;
  fiveMin.options.expiringLead = 5min;
  EXPECT_TRUE(owed(r, &p, at("2026-11-29T10:21:00Z"), fiveMin, &requeue).empty());
  EXPECT_EQ(formatRfc3339(*requeue), "2026-11-29T10:26:00Z");
  done.delivered.insert("expiring");
  EXPECT_TRUE(owed(r, &p, at("2026-11-29T10:25:00Z"), done, &requeue).empty());
  EXPECT_FALSE(requeue) << "delivered: no wake-up for it";
}

TEST(Notifications, BreakGlassActivationIsAlwaysItsOwnNotification) {
  auto p = policy();
  auto r = request(kActive);
  r.status->breakGlass = true;
  r.status->approvals.clear();
  EXPECT_EQ(owed(r, &p, at("2026-11-29T10:05:00Z"), operatorWide({"created"})),
            (std::vector<std::string>{"approved", "active", "breakglass"}));
  auto body = lifecycleBody("breakglass", r, &p, at("2026-11-29T10:05:00Z"));
  EXPECT_EQ(body["breakGlass"], true);
  EXPECT_THAT(body["text"].get<std::string>(), HasSubstr("BREAK-GLASS"));
  EXPECT_THAT(body["text"].get<std::string>(), HasSubstr("alice used break-glass"));
}

TEST(Notifications, EventsOlderThanMaxAgeAreNotSentLate) {
  auto p = policy();
  EXPECT_TRUE(owed(request(kActive), &p, at("2026-12-01T10:05:00Z"), operatorWide()).empty());
}

TEST(Notifications, TheBodyCarriesNoSealNorAnythingFromSecrets) {
  auto p = policy();
  auto r = request(kActive);
  r.spec.requesterSeal = "v1.k1.REQUESTERSEAL";
  r.status->seal = "v1.k1.STATUSSEAL";
  r.status->approvals[0].seal = "v1.k1.APPROVALSEAL";
  r.metadata.annotations[std::string(kNotifiedAnnotation)] = "created;v1.k1.NOTIFIEDSEAL";
  for (const char* e : {"created", "approved", "active", "expiring", "ended"}) {
    const std::string body = lifecycleBody(e, r, &p, at("2026-11-29T10:05:00Z")).dump();
    EXPECT_THAT(body, Not(HasSubstr("SEAL"))) << e;
    EXPECT_THAT(body, Not(HasSubstr("v1.k1"))) << e;
  }
}

TEST(Notifications, TheDeliveredAnnotationIsBelievedOnlyWithTheOperatorsSeal) {
  auto keys = seal::Keyring::parse("k1 " + std::string(44, 'A') + "\n");
  ASSERT_TRUE(keys) << keys.error().message;
  seal::HmacSealer sealer(std::make_shared<seal::Keyring>(*keys));
  auto r = request(kActive);
  auto value = notifiedValue("uid-1", {"created", "approved"}, &sealer);
  ASSERT_TRUE(value) << value.error().message;
  EXPECT_THAT(*value, ::testing::StartsWith("approved,created;v1.k1."));
  r.metadata.annotations[std::string(kNotifiedAnnotation)] = *value;
  EXPECT_EQ(deliveredEvents(r, &sealer), (std::set<std::string>{"approved", "created"}));
  // A requester who claims "active" was delivered, to silence it, is not believed at all.
  r.metadata.annotations[std::string(kNotifiedAnnotation)] =
      "approved,created,active" + value->substr(value->find(';'));
  EXPECT_TRUE(deliveredEvents(r, &sealer).empty());
  r.metadata.annotations[std::string(kNotifiedAnnotation)] = "approved,created,active";
  EXPECT_TRUE(deliveredEvents(r, &sealer).empty());
  // Sealed for another request (copied over): not believed either.
  auto other = notifiedValue("uid-2", {"created"}, &sealer);
  r.metadata.annotations[std::string(kNotifiedAnnotation)] = *other;
  EXPECT_TRUE(deliveredEvents(r, &sealer).empty());
}

}  // namespace
}  // namespace kubegrant::controllers::access_request
