// The AccessRequest reconciler's database bundle against the recording fake client and the
// fake credential provider: one request = RoleBindings + database user + Secret + the Role
// that lets the requester read it; the Kubernetes parts go on time even when the database
// is down, and the database user is retried until it is gone.

#include "controllers/access_request/database_bundle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controllers/access_request/reconciler.h"
#include "controllers/database/sql.h"
#include "controllers/database/testing/fake_provider.h"
#include "operator/runtime/testing/fake_client.h"
#include "tests/unit/access_request/fixtures.h"

namespace kubegrant::controllers::access_request {
namespace {

using namespace testing;
using nlohmann::json;
using runtime::testing::FakeClient;
using ::testing::HasSubstr;
using ::testing::Not;

const kube::ObjectKey kKey{"payments", "debug-orders"};

class DatabaseBundleTest : public ::testing::Test {
 protected:
  DatabaseBundleTest()
      : clock_(at("2026-11-29T10:00:00Z")),
        client_(&clock_),
        reconciler_(
            client_, clock_, &audit_,
            [this](const v1::AccessRequest&, const RequestEvent& e) {
              events_.push_back(e.type + " " + e.reason + " " + e.message);
            },
            &metrics_, ReconcilerOptions{.databases = provider_}) {
    client_.enableStatusSubresource(kube::resources::accessRequests());
    auto p = makePolicy();
    p["spec"]["approval"]["required"] = 0;
    p["spec"]["databases"] = json::array({{{"target", "orders-db"}, {"profiles", {"readonly"}}}});
    client_.seed(kube::resources::accessPolicies(), kube::Object(p));
    client_.seed(kube::resources::databaseTargets(), kube::Object(json::parse(R"({
      "apiVersion": "kubegrant.io/v1alpha1", "kind": "DatabaseTarget",
      "metadata": {"name": "orders-db"},
      "spec": {"engine": "postgres", "host": "127.0.0.1", "port": 5432, "database": "orders",
               "sslMode": "verify-full",
               "adminSecretRef": {"namespace": "kubegrant-system", "name": "orders-db-admin"},
               "caSecretRef": {"namespace": "kubegrant-system", "name": "orders-db-ca"},
               "connectionLimit": 2,
               "profiles": [{"name": "readonly", "grants": [{"schema": "public", "tables": ["*"],
                 "privileges": ["SELECT"], "excludeColumns": {"customers": ["email"]}}]}]}
    })")));
    // username kubegrant_admin, password admin-pw, ca.crt PEM (base64 as the API serves them)
    client_.seed(kube::resources::secrets(), kube::Object(json::parse(R"({
      "apiVersion": "v1", "kind": "Secret",
      "metadata": {"name": "orders-db-admin", "namespace": "kubegrant-system"},
      "data": {"username": "a3ViZWdyYW50X2FkbWlu", "password": "YWRtaW4tcHc="}})")));
    client_.seed(kube::resources::secrets(), kube::Object(json::parse(R"({
      "apiVersion": "v1", "kind": "Secret",
      "metadata": {"name": "orders-db-ca", "namespace": "kubegrant-system"},
      "data": {"ca.crt": "UEVN"}})")));
    auto r = makeRequest();
    r["metadata"].erase("creationTimestamp");
    r["metadata"].erase("uid");
    r["spec"]["databases"] = json::array({{{"target", "orders-db"}, {"profile", "readonly"}}});
    client_.seed(kube::resources::accessRequests(), kube::Object(r));
  }

  v1::AccessRequest stored() {
    return *v1::fromJson<v1::AccessRequest>(
        client_.peek(kube::resources::accessRequests(), kKey)->body);
  }
  // Finalizer, then Active.
  v1::AccessRequest activate() {
    EXPECT_TRUE(reconciler_.reconcile(kKey));
    auto r = reconciler_.reconcile(kKey);
    EXPECT_TRUE(r) << r.error().describe();
    return stored();
  }
  std::string secretName() { return "debug-orders-orders-db"; }

  FakeClock clock_;
  FakeClient client_;
  std::shared_ptr<database::testing::FakeProvider> provider_ =
      std::make_shared<database::testing::FakeProvider>();
  std::vector<std::string> audit_lines_;
  AuditLog audit_{[this](std::string_view l) { audit_lines_.emplace_back(l); }};
  std::vector<std::string> events_;
  metrics::Registry metrics_;
  AccessRequestReconciler reconciler_;
};

TEST_F(DatabaseBundleTest, ActivationIssuesTheUserTheSecretAndTheRoleToReadIt) {
  auto req = activate();
  ASSERT_EQ(req.status->phase, v1::Phase::Active) << req.status->message.value_or("");
  const std::string role = database::roleNameFor(req.metadata.uid, "orders-db");
  ASSERT_EQ(provider_->roles().count(role), 1u);
  EXPECT_EQ(provider_->roles().at(role).profile, "readonly");
  EXPECT_EQ(provider_->roles().at(role).connectionLimit, 2);
  EXPECT_EQ(provider_->roles().at(role).expiresAt, *req.status->expiresAt);

  auto secret = client_.peek(kube::resources::secrets(), {"payments", secretName()});
  ASSERT_TRUE(secret);
  const auto& data = secret->body["stringData"];
  EXPECT_EQ(data["username"], role);
  EXPECT_EQ(data["password"], "fake-password-1");
  EXPECT_EQ(data["sslmode"], "verify-full");
  EXPECT_EQ(data["ca.crt"], "PEM");
  EXPECT_EQ(data["expiresAt"], formatRfc3339(*req.status->expiresAt));

  auto readerRole =
      client_.peek(kube::resources::roles(), {"payments", secretReaderRoleName(req, "orders-db")});
  ASSERT_TRUE(readerRole);
  EXPECT_EQ(readerRole->body["rules"][0]["resourceNames"], json::array({secretName()}));
  EXPECT_EQ(readerRole->body["rules"][0]["verbs"], json::array({"get"}));
  auto binding = client_.peek(kube::resources::roleBindings(),
                              {"payments", secretReaderRoleName(req, "orders-db")});
  ASSERT_TRUE(binding);
  EXPECT_EQ(binding->body["subjects"][0]["name"], "alice");

  std::vector<std::string> kinds;
  for (const auto& g : req.status->grants) kinds.push_back(v1::toString(g.kind));
  EXPECT_THAT(kinds, ::testing::UnorderedElementsAre("RoleBinding", "RoleBinding", "DatabaseUser",
                                                     "Secret"));
  // The password is in the Secret and nowhere else.
  EXPECT_THAT(v1::toJson(req).dump(), Not(HasSubstr("fake-password")));
  for (const auto& l : audit_lines_) EXPECT_THAT(l, Not(HasSubstr("fake-password")));
  for (const auto& e : events_) EXPECT_THAT(e, Not(HasSubstr("fake-password")));

  // Level-based: the next reconcile keeps the user and its password.
  ASSERT_TRUE(reconciler_.reconcile(kKey));
  EXPECT_THAT(provider_->calls(), ::testing::ElementsAre("issue " + role, "inspect " + role));
}

// The stored DatabaseTarget with `change` applied to its profile readonly.
void changeProfile(FakeClient& client, const std::function<void(json&)>& change) {
  auto t = client.peek(kube::resources::databaseTargets(), {"", "orders-db"})->body;
  change(t["spec"]["profiles"][0]);
  t["metadata"]["generation"] = t["metadata"].value("generation", 1) + 1;
  client.seed(kube::resources::databaseTargets(), kube::Object(t));
}

TEST_F(DatabaseBundleTest, AChangedProfileIsReappliedToTheActiveUserKeepingItsPassword) {
  auto req = activate();
  ASSERT_EQ(req.status->phase, v1::Phase::Active);
  const std::string role = database::roleNameFor(req.metadata.uid, "orders-db");
  std::string before;
  for (const auto& g : req.status->grants) {
    if (g.kind == v1::GrantKind::DatabaseUser) before = g.profileHash;
  }
  ASSERT_FALSE(before.empty());
  // email withheld -> email masked.
  changeProfile(client_, [](json& p) {
    p["grants"][0].erase("excludeColumns");
    p["grants"][0]["maskColumns"] = {{"customers", {{"email", "email"}}}};
  });
  auto r = reconciler_.reconcile(kKey);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_THAT(provider_->calls(),
              ::testing::ElementsAre("issue " + role, "inspect " + role, "reapply readonly"));
  req = stored();
  EXPECT_EQ(req.status->phase, v1::Phase::Active);
  std::string after;
  for (const auto& g : req.status->grants) {
    if (g.kind == v1::GrantKind::DatabaseUser) after = g.profileHash;
  }
  EXPECT_NE(after, before) << "the new fingerprint is recorded";
  auto secret = client_.peek(kube::resources::secrets(), {"payments", secretName()});
  ASSERT_TRUE(secret);
  EXPECT_EQ(secret->body["stringData"]["password"], "fake-password-1") << "same credentials";
  EXPECT_THAT(events_, ::testing::Contains(HasSubstr("Normal DatabaseProfileReapplied")));
  // Level-based: re-applied once.
  ASSERT_TRUE(reconciler_.reconcile(kKey));
  EXPECT_EQ(provider_->calls().size(), 4u) << ::testing::PrintToString(provider_->calls());
}

TEST_F(DatabaseBundleTest, AProfileRemovedFromTheTargetRevokesTheWholeBundle) {
  auto req = activate();
  ASSERT_EQ(req.status->phase, v1::Phase::Active);
  changeProfile(client_, [](json& p) { p["name"] = "support"; });
  auto r = reconciler_.reconcile(kKey);
  ASSERT_TRUE(r) << r.error().describe();
  req = stored();
  EXPECT_EQ(req.status->phase, v1::Phase::Revoked);
  EXPECT_THAT(req.status->message.value_or(""),
              HasSubstr("DatabaseTarget orders-db (generation 2) no longer has profile readonly"));
  EXPECT_TRUE(provider_->roles().empty());
  EXPECT_FALSE(client_.peek(kube::resources::secrets(), {"payments", secretName()}));
  EXPECT_FALSE(
      client_.peek(kube::resources::roles(), {"payments", secretReaderRoleName(req, "orders-db")}));
  EXPECT_THAT(events_, ::testing::Contains(HasSubstr("Warning DatabaseTargetChanged")));
}

TEST_F(DatabaseBundleTest, AChangedProfileTheDatabaseRefusesFailsTheRequestWithNothingLeft) {
  auto req = activate();
  changeProfile(client_, [](json& p) { p["grants"][0]["tables"] = {"no_such_table"}; });
  provider_->failNext(database::testing::FakeProvider::Op::Reapply,
                      Error{ErrorCode::Invalid, "relation \"no_such_table\" does not exist"});
  auto r = reconciler_.reconcile(kKey);
  ASSERT_TRUE(r) << r.error().describe();
  req = stored();
  EXPECT_EQ(req.status->phase, v1::Phase::Failed);
  EXPECT_THAT(req.status->message.value_or(""), HasSubstr("cannot re-apply the changed profile"));
  EXPECT_TRUE(provider_->roles().empty());
  EXPECT_FALSE(client_.peek(kube::resources::secrets(), {"payments", secretName()}));
}

TEST_F(DatabaseBundleTest, AStaleCachedTargetWithoutTheProfileRevokesNothing) {
  auto req = activate();
  ASSERT_EQ(req.status->phase, v1::Phase::Active);
  // The cache still has an old copy without profile readonly; the API server has it.
  auto stale = *v1::fromJson<v1::DatabaseTarget>(
      client_.peek(kube::resources::databaseTargets(), {"", "orders-db"})->body);
  stale.spec.profiles[0].name = "support";
  auto cached = std::make_shared<const v1::DatabaseTarget>(stale);
  AccessRequestReconciler withCache(
      client_, clock_, &audit_, {}, &metrics_,
      ReconcilerOptions{.databases = provider_,
                        .targetReader = [cached](const std::string&) { return cached; }});
  auto r = withCache.reconcile(kKey);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(stored().status->phase, v1::Phase::Active) << "only the API server's word revokes";
  EXPECT_EQ(provider_->roles().size(), 1u);
  // The API server agrees the profile is gone: revoked.
  changeProfile(client_, [](json& p) { p["name"] = "support"; });
  r = withCache.reconcile(kKey);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(stored().status->phase, v1::Phase::Revoked);
  EXPECT_TRUE(provider_->roles().empty());
}

TEST_F(DatabaseBundleTest, ExpiryRemovesTheWholeBundle) {
  auto req = activate();
  const std::string role = database::roleNameFor(req.metadata.uid, "orders-db");
  clock_.advance(std::chrono::minutes(30));
  auto r = reconciler_.reconcile(kKey);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(stored().status->phase, v1::Phase::Expired);
  EXPECT_TRUE(provider_->roles().empty());
  EXPECT_FALSE(client_.peek(kube::resources::secrets(), {"payments", secretName()}));
  EXPECT_FALSE(
      client_.peek(kube::resources::roles(), {"payments", secretReaderRoleName(req, "orders-db")}));
  EXPECT_FALSE(client_.peek(kube::resources::roleBindings(),
                            {"payments", secretReaderRoleName(req, "orders-db")}));
}

TEST_F(DatabaseBundleTest, WithTheDatabaseDownKubernetesPartsGoOnTimeAndTheUserLater) {
  auto req = activate();
  const std::string role = database::roleNameFor(req.metadata.uid, "orders-db");
  clock_.advance(std::chrono::minutes(30));
  provider_->setDown(true);
  auto r = reconciler_.reconcile(kKey);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().retryable());
  EXPECT_THAT(r.error().message, HasSubstr("DatabaseRevocationPending"));
  EXPECT_FALSE(client_.peek(kube::resources::secrets(), {"payments", secretName()}));
  EXPECT_FALSE(client_.peek(kube::resources::roleBindings(),
                            {"payments", secretReaderRoleName(req, "orders-db")}));
  EXPECT_EQ(provider_->roles().count(role), 1u);
  EXPECT_EQ(stored().status->phase, v1::Phase::Active) << "not Expired before the user is gone";
  // Said on the request (condition, Warning Event) and in the metric.
  auto pendingCondition = [&]() -> std::optional<v1::Condition> {
    const auto req = stored();
    for (const auto& c : req.status->conditions) {
      if (c.type == "DatabaseRevocationPending") return c;
    }
    return std::nullopt;
  };
  ASSERT_TRUE(pendingCondition());
  EXPECT_EQ(pendingCondition()->status, "True");
  EXPECT_THAT(pendingCondition()->message, HasSubstr("down"));
  EXPECT_THAT(events_, Contains(HasSubstr("Warning DatabaseRevocationPending")));
  EXPECT_THAT(metrics_.render(), HasSubstr("kubegrant_database_revocations_pending 1"));
  // Retried (the condition is written once, not on every retry) and never given up.
  for (int i = 0; i < 5; ++i) {
    r = reconciler_.reconcile(kKey);
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().retryable());
  }
  EXPECT_EQ(stored().status->phase, v1::Phase::Active);

  provider_->setDown(false);
  r = reconciler_.reconcile(kKey);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(stored().status->phase, v1::Phase::Expired);
  EXPECT_TRUE(provider_->roles().empty());
  if (auto c = pendingCondition()) {
    EXPECT_EQ(c->status, "False");
  }
  EXPECT_THAT(metrics_.render(), HasSubstr("kubegrant_database_revocations_pending 0"));
  for (const auto& e : events_) EXPECT_THAT(e, Not(HasSubstr("fake-password")));
}

TEST_F(DatabaseBundleTest, AMissingTargetFailsTheRequestWithNothingLeft) {
  ASSERT_TRUE(client_.remove(kube::resources::databaseTargets(), {"", "orders-db"}));
  auto req = activate();
  EXPECT_EQ(req.status->phase, v1::Phase::Failed);
  EXPECT_THAT(req.status->message.value_or(""),
              HasSubstr("DatabaseTarget orders-db does not exist"));
  EXPECT_TRUE(provider_->roles().empty());
  EXPECT_TRUE(client_.list(kube::resources::roleBindings(), "payments")->items.empty());
}

TEST_F(DatabaseBundleTest, ADatabaseDownAtActivationGrantsNothingUntilItIsBack) {
  provider_->setDown(true);
  ASSERT_TRUE(reconciler_.reconcile(kKey));  // finalizer
  // The issue failed; whether a role was created before the connection broke is unknown, so
  // nothing is decided until the database confirms there is none. Meanwhile nothing grants.
  auto r = reconciler_.reconcile(kKey);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("DatabaseRevocationPending"));
  EXPECT_TRUE(client_.list(kube::resources::roleBindings(), "payments")->items.empty());
  EXPECT_FALSE(client_.peek(kube::resources::secrets(), {"payments", secretName()}));
  EXPECT_NE(stored().status.value_or(v1::AccessRequestStatus{}).phase, v1::Phase::Active);
  provider_->setDown(false);
  r = reconciler_.reconcile(kKey);
  ASSERT_TRUE(r) << r.error().describe();
  // Back: the activation is tried again from scratch and the whole bundle is in place.
  auto req = stored();
  EXPECT_EQ(req.status->phase, v1::Phase::Active);
  EXPECT_EQ(provider_->roles().size(), 1u);
  EXPECT_TRUE(client_.peek(kube::resources::secrets(), {"payments", secretName()}));
}

// Someone else's Role with the reader Role's name is never bound to the requester: the
// request is refused, nothing is issued and that Role is left as it was.
TEST_F(DatabaseBundleTest, AForeignReaderRoleIsRefusedNotAdopted) {
  ASSERT_TRUE(reconciler_.reconcile(kKey));  // finalizer (and the uid)
  auto req = stored();
  const std::string readerRole = secretReaderRoleName(req, "orders-db");
  client_.seed(kube::resources::roles(),
               kube::Object(json{{"apiVersion", "rbac.authorization.k8s.io/v1"},
                                 {"kind", "Role"},
                                 {"metadata",
                                  {{"name", readerRole},
                                   {"namespace", "payments"},
                                   {"labels", {{"kubegrant.io/request-uid", "someone-else"}}}}},
                                 {"rules", json::array({{{"apiGroups", {""}},
                                                         {"resources", {"secrets"}},
                                                         {"verbs", {"get", "list"}}}})}}));
  ASSERT_TRUE(reconciler_.reconcile(kKey));
  req = stored();
  EXPECT_EQ(req.status->phase, v1::Phase::Failed);
  EXPECT_THAT(req.status->message.value_or(""), HasSubstr("does not belong to this request"));
  EXPECT_TRUE(provider_->roles().empty());
  auto kept = client_.peek(kube::resources::roles(), {"payments", readerRole});
  ASSERT_TRUE(kept) << "someone else's Role is not deleted";
  EXPECT_EQ(kept->body["metadata"]["labels"]["kubegrant.io/request-uid"], "someone-else");
  EXPECT_TRUE(client_.list(kube::resources::roleBindings(), "payments")->items.empty());
  EXPECT_FALSE(client_.peek(kube::resources::secrets(), {"payments", secretName()}));
}

// While Active, a Secret of the issued name that is not ours (ours deleted, another put in
// its place) is not kept as "the issued Secret": the reader Role would hand it to the
// requester. The request is refused, the whole bundle goes, the other Secret stays.
TEST_F(DatabaseBundleTest, AForeignSecretInPlaceOfOursIsNeverHandedToTheRequester) {
  auto req = activate();
  ASSERT_EQ(req.status->phase, v1::Phase::Active);
  const std::string role = database::roleNameFor(req.metadata.uid, "orders-db");
  ASSERT_TRUE(client_.remove(kube::resources::secrets(), {"payments", secretName()}));
  client_.seed(kube::resources::secrets(),
               kube::Object(json{{"apiVersion", "v1"},
                                 {"kind", "Secret"},
                                 {"metadata", {{"name", secretName()}, {"namespace", "payments"}}},
                                 {"data", {{"password", "b3RoZXI="}}}}));
  (void)reconciler_.reconcile(kKey);
  (void)reconciler_.reconcile(kKey);
  req = stored();
  EXPECT_NE(req.status->phase, v1::Phase::Active);
  EXPECT_THAT(req.status->message.value_or(""), HasSubstr("does not belong to this request"));
  auto other = client_.peek(kube::resources::secrets(), {"payments", secretName()});
  ASSERT_TRUE(other) << "someone else's Secret is not deleted";
  EXPECT_FALSE(other->body["metadata"].contains("labels"));
  EXPECT_FALSE(
      client_.peek(kube::resources::roles(), {"payments", secretReaderRoleName(req, "orders-db")}));
  EXPECT_EQ(provider_->roles().count(role), 0u);
}

}  // namespace
}  // namespace kubegrant::controllers::access_request
