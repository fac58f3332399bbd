// The sweep's database half against the recording fake client and the fake credential
// provider: kg_ roles on a known DatabaseTarget that belong to no live request are revoked
// (sessions first: the provider's revoke()); the roles of live requests are kept.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "controllers/access_request/executor.h"
#include "controllers/access_request/sweeper.h"
#include "controllers/database/sql.h"
#include "controllers/database/testing/fake_provider.h"
#include "operator/runtime/informer.h"
#include "operator/runtime/testing/fake_client.h"
#include "tests/unit/access_request/fixtures.h"

namespace kubegrant::controllers::access_request {
namespace {

using namespace testing;
using nlohmann::json;
using runtime::testing::FakeClient;

class DatabaseSweepTest : public ::testing::Test {
 protected:
  DatabaseSweepTest() : clock_(at("2026-11-29T10:00:00Z")), client_(&clock_) {
    client_.seed(kube::resources::databaseTargets(), kube::Object(json::parse(R"({
      "apiVersion": "kubegrant.io/v1alpha1", "kind": "DatabaseTarget",
      "metadata": {"name": "orders-db"},
      "spec": {"engine": "postgres", "host": "127.0.0.1", "port": 5432, "database": "orders",
               "adminSecretRef": {"namespace": "kubegrant-system", "name": "orders-db-admin"},
               "profiles": [{"name": "readonly", "grants": [{"schema": "public", "tables": ["*"],
                 "privileges": ["SELECT"]}]}]}
    })")));
    client_.seed(kube::resources::secrets(), kube::Object(json::parse(R"({
      "apiVersion": "v1", "kind": "Secret",
      "metadata": {"name": "orders-db-admin", "namespace": "kubegrant-system"},
      "data": {"username": "a3ViZWdyYW50X2FkbWlu", "password": "YWRtaW4tcHc="}})")));
  }

  // A request for orders-db/readonly in `phase` with `uid`.
  void seedRequest(const std::string& name, const std::string& uid, const std::string& phase) {
    auto r = makeRequest(name);
    r["metadata"]["uid"] = uid;
    r["spec"]["databases"] = json::array({{{"target", "orders-db"}, {"profile", "readonly"}}});
    r["status"] = {{"phase", phase}, {"approvals", json::array()}};
    client_.seed(kube::resources::accessRequests(), kube::Object(r));
  }

  Result<Sweeper::Report> sweep() {
    runtime::Informer roleBindings(client_, kube::resources::roleBindings(), clock_);
    runtime::Informer requestInformer(client_, kube::resources::accessRequests(), clock_);
    runtime::TypedStore<v1::AccessRequest> requests(requestInformer, [](const kube::Object& o) {
      return v1::fromJson<v1::AccessRequest>(o.body);
    });
    runtime::Informer targetInformer(client_, kube::resources::databaseTargets(), clock_);
    runtime::TypedStore<v1::DatabaseTarget> targets(targetInformer, [](const kube::Object& o) {
      return v1::fromJson<v1::DatabaseTarget>(o.body);
    });
    for (auto* i : {&roleBindings, &requestInformer, &targetInformer}) {
      i->start();
      EXPECT_TRUE(i->waitForSync(std::chrono::seconds(3)));
    }
    Executor executor(client_, clock_, {});
    DatabaseSweep db;
    db.provider = provider_;
    db.targets = &targets;
    db.access = [&](const v1::DatabaseTarget& t) -> Result<std::optional<database::TargetAccess>> {
      auto a = executor.targetAccessFor(t);
      if (!a) return std::unexpected(a.error());
      if (std::holds_alternative<GrantRefused>(*a)) return std::nullopt;
      return std::get<database::TargetAccess>(*a);
    };
    Sweeper sweeper(
        client_, clock_, roleBindings.store(), requests, [](const runtime::NamespacedName&) {},
        &metrics_, std::chrono::seconds(60), std::move(db));
    auto report = sweeper.sweepOnce();
    for (auto* i : {&roleBindings, &requestInformer, &targetInformer}) i->stop();
    return report;
  }

  FakeClock clock_;
  FakeClient client_;
  metrics::Registry metrics_;
  std::shared_ptr<database::testing::FakeProvider> provider_ =
      std::make_shared<database::testing::FakeProvider>();
};

TEST_F(DatabaseSweepTest, RolesOfNoLiveRequestAreRevokedAndLiveOnesKept) {
  seedRequest("active", "uid-active", "Active");
  seedRequest("pending", "uid-pending", "Pending");
  seedRequest("ended", "uid-ended", "Expired");
  const std::string active = database::roleNameFor("uid-active", "orders-db");
  const std::string pending = database::roleNameFor("uid-pending", "orders-db");
  const std::string ended = database::roleNameFor("uid-ended", "orders-db");
  const std::string gone = database::roleNameFor("uid-gone", "orders-db");
  for (const auto& r : {active, pending, ended, gone, std::string("kg_by_hand")}) {
    provider_->addRole(r);
  }
  provider_->openSession("kg_by_hand");
  provider_->addRole("someone_else");  // not ours: never touched

  auto report = sweep();
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->databaseRoles, 5);
  EXPECT_EQ(report->databaseRolesRevoked, 3);
  std::vector<std::string> left;
  for (const auto& [name, role] : provider_->roles()) left.push_back(name);
  EXPECT_THAT(left, ::testing::UnorderedElementsAre(active, pending, "someone_else"));
  const std::vector<std::string> revoked = {"revoke kg_by_hand", "revoke " + ended,
                                            "revoke " + gone};
  EXPECT_THAT(provider_->calls(), ::testing::IsSupersetOf(revoked));
  EXPECT_THAT(metrics_.render(),
              ::testing::HasSubstr("kubegrant_sweep_removed_total{cause=\"database-orphan\"} 3"));
}

TEST_F(DatabaseSweepTest, APassEndsByClosingTheIdleConnectionsItsRevokesLeft) {
  seedRequest("active", "uid-active", "Active");
  provider_->addRole("kg_by_hand");
  auto report = sweep();
  ASSERT_TRUE(report) << report.error().describe();
  ASSERT_EQ(report->databaseRolesRevoked, 1);
  const auto calls = provider_->calls();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back(), "closeIdleConnections") << "after the listing and the revoke";
  EXPECT_EQ(std::count(calls.begin(), calls.end(), "closeIdleConnections"), 1);
}

TEST_F(DatabaseSweepTest, ADatabaseThatIsDownLeavesTheRolesForTheNextSweep) {
  provider_->addRole("kg_by_hand");
  provider_->setDown(true);
  auto report = sweep();
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->databaseRolesRevoked, 0);
  provider_->setDown(false);
  report = sweep();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->databaseRolesRevoked, 1);
  EXPECT_TRUE(provider_->roles().empty());
}

TEST_F(DatabaseSweepTest, ATargetNamingASecretOutsideTheSecretNamespacesIsRefusedUnread) {
  // The webhook refuses such a target; one admitted while it was away (or before the flag
  // changed) must still not make the operator read another namespace's Secret.
  auto target = v1::fromJson<v1::DatabaseTarget>(
      client_.peek(kube::resources::databaseTargets(), {"", "orders-db"})->body);
  ASSERT_TRUE(target);
  Executor narrow(client_, clock_, {.secretNamespaces = {{"payments-secrets"}}});
  client_.clearActions();
  auto a = narrow.targetAccessFor(*target);
  ASSERT_TRUE(a) << a.error().describe();
  ASSERT_TRUE(std::holds_alternative<GrantRefused>(*a));
  EXPECT_EQ(std::get<GrantRefused>(*a).reason, "DatabaseSecretNamespaceNotAllowed");
  EXPECT_THAT(
      std::get<GrantRefused>(*a).message,
      ::testing::HasSubstr("Secret kubegrant-system/orders-db-admin is outside the namespaces"));
  EXPECT_THAT(client_.actions(), ::testing::IsEmpty()) << "no Secret may be read";

  Executor wide(client_, clock_, {.secretNamespaces = {{"payments-secrets", "kubegrant-system"}}});
  a = wide.targetAccessFor(*target);
  ASSERT_TRUE(a) << a.error().describe();
  EXPECT_TRUE(std::holds_alternative<database::TargetAccess>(*a));
}

}  // namespace
}  // namespace kubegrant::controllers::access_request
