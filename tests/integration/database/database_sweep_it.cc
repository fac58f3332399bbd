// The sweep's database half against the real API server and the real PostgreSQL of
// tests/controlplane/up.sh: a kg_ role issued with no request behind it (and an open session
// of it) is gone after one sweep; the role of a live request is kept.
//
// The sweep revokes every kg_ role of the server that no live request names: run serially
// with the other database tests (ctest does; .ci/run-tests.sh runs ctest without -j).

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "controllers/access_request/executor.h"
#include "controllers/access_request/sweeper.h"
#include "controllers/database/postgres/postgres_provider.h"
#include "controllers/database/sql.h"
#include "operator/common/base64.h"
#include "operator/kube/config.h"
#include "operator/kube/rest/rest_client.h"
#include "operator/runtime/informer.h"
#include "tests/support/test_env.h"

namespace kubegrant::controllers::access_request {
namespace {

using testing::kubectl;
using testing::uniqueName;

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(DatabaseSweepIntegrationTest, AnOrphanedRoleAndItsSessionAreGoneAndALiveOneIsKept) {
  auto envOpt = testing::requireEnv();
  ASSERT_TRUE(envOpt.has_value());
  const auto& env = *envOpt;
  const std::string ns = uniqueName("dbsweep");
  const std::string target = uniqueName("sweep-db");
  auto must = [&](std::vector<std::string> args, const std::string& input = "") {
    auto r = kubectl(env, "admin", std::move(args), input);
    ASSERT_EQ(r.exitCode, 0) << r.err;
  };
  must({"apply", "--server-side", "-f", std::string(KUBEGRANT_SOURCE_DIR) + "/crds/"});
  must({"wait", "--for=condition=Established", "--timeout=60s", "crd/accessrequests.kubegrant.io",
        "crd/databasetargets.kubegrant.io"});
  must({"create", "namespace", ns});
  must({"apply", "-f", "-"},
       fmt::format(R"(apiVersion: v1
kind: Secret
metadata: {{name: {0}-admin, namespace: {1}}}
data: {{username: {2}, password: {3}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: {0}-ca, namespace: {1}}}
data: {{ca.crt: {4}}}
---
apiVersion: kubegrant.io/v1alpha1
kind: DatabaseTarget
metadata: {{name: {0}}}
spec:
  engine: postgres
  host: {5}
  port: {6}
  database: {7}
  sslMode: verify-full
  adminSecretRef: {{namespace: {1}, name: {0}-admin}}
  caSecretRef: {{namespace: {1}, name: {0}-ca}}
  profiles:
    - name: readonly
      grants: [{{schema: public, tables: [orders], privileges: [SELECT]}}]
---
apiVersion: kubegrant.io/v1alpha1
kind: AccessRequest
metadata: {{name: live, namespace: {1}}}
spec:
  policy: none
  roles: [{{kind: ClusterRole, name: view}}]
  databases: [{{target: {0}, profile: readonly}}]
  requester: {{username: alice, groups: [payments-devs]}}
)",
                   target, ns, base64Encode(env.pgAdminUser), base64Encode(env.pgAdminPassword),
                   base64Encode(readFile(env.caCert)), env.pgHost, env.pgPort, env.pgDatabase));
  auto uid =
      kubectl(env, "admin", {"get", "areq", "live", "-n", ns, "-o", "jsonpath={.metadata.uid}"});
  ASSERT_EQ(uid.exitCode, 0) << uid.err;

  auto config = kube::loadKubeconfig(env.kubeconfig("admin"));
  ASSERT_TRUE(config) << config.error().message;
  auto client = kube::rest::makeRestClient(*config);
  ASSERT_TRUE(client) << client.error().message;
  SystemClock clock;
  Executor executor(**client, clock, {});
  auto targetObj = (*client)->get(kube::resources::databaseTargets(), {"", target});
  ASSERT_TRUE(targetObj) << targetObj.error().describe();
  auto targetSpec = v1::fromJson<v1::DatabaseTarget>(targetObj->body);
  ASSERT_TRUE(targetSpec);
  auto accessOr = executor.targetAccessFor(*targetSpec);
  ASSERT_TRUE(accessOr) << accessOr.error().describe();
  ASSERT_TRUE(std::holds_alternative<database::TargetAccess>(*accessOr));
  const auto access = std::get<database::TargetAccess>(*accessOr);

  database::postgres::PostgresProvider::Options options;
  options.caDir = env.dir + "/" + uniqueName("sweep-ca");
  auto provider = std::make_shared<database::postgres::PostgresProvider>(options);
  auto issue = [&](const std::string& role) {
    database::IssueInput in;
    in.access = access;
    in.role = role;
    in.expiresAt = std::chrono::time_point_cast<std::chrono::seconds>(WallClock::now()) +
                   std::chrono::minutes(10);
    in.profile = targetSpec->spec.profiles[0];
    in.comment = "kubegrant sweep test";
    return provider->issue(in);
  };
  const std::string orphan = database::roleNameFor(uniqueName("no-request"), target);
  const std::string live = database::roleNameFor(uid.out, target);
  auto orphanUser = issue(orphan);
  ASSERT_TRUE(orphanUser) << orphanUser.error().message;
  auto liveUser = issue(live);
  ASSERT_TRUE(liveUser) << liveUser.error().message;
  const std::string conninfo = "host=" + env.pgHost + " port=" + env.pgPort +
                               " dbname=" + env.pgDatabase + " user=" + orphan +
                               " sslmode=verify-full sslrootcert=" + env.caCert +
                               " connect_timeout=10 password=" + orphanUser->password.reveal();
  std::unique_ptr<PGconn, decltype(&PQfinish)> session(PQconnectdb(conninfo.c_str()), &PQfinish);
  ASSERT_EQ(PQstatus(session.get()), CONNECTION_OK) << PQerrorMessage(session.get());

  // The operator's caches, then one sweep.
  // kubegrant's RoleBindings only, as the manager caches them (setup.cc).
  runtime::InformerOptions managedByUs;
  managedByUs.labelSelector = fmt::format("{}={}", kManagedByLabel, kManagedByValue);
  runtime::Informer roleBindings(**client, kube::resources::roleBindings(), clock, managedByUs);
  runtime::Informer requestInformer(**client, kube::resources::accessRequests(), clock);
  runtime::TypedStore<v1::AccessRequest> requests(requestInformer, [](const kube::Object& o) {
    return v1::fromJson<v1::AccessRequest>(o.body);
  });
  runtime::Informer targetInformer(**client, kube::resources::databaseTargets(), clock);
  runtime::TypedStore<v1::DatabaseTarget> targets(targetInformer, [](const kube::Object& o) {
    return v1::fromJson<v1::DatabaseTarget>(o.body);
  });
  for (auto* i : {&roleBindings, &requestInformer, &targetInformer}) {
    i->start();
    ASSERT_TRUE(i->waitForSync(std::chrono::seconds(30)));
  }
  DatabaseSweep db;
  db.provider = provider;
  db.targets = &targets;
  db.access = [&](const v1::DatabaseTarget& t) -> Result<std::optional<database::TargetAccess>> {
    auto a = executor.targetAccessFor(t);
    if (!a) return std::unexpected(a.error());
    if (std::holds_alternative<GrantRefused>(*a)) return std::nullopt;
    return std::get<database::TargetAccess>(*a);
  };
  Sweeper sweeper(
      **client, clock, roleBindings.store(), requests, [](const runtime::NamespacedName&) {},
      nullptr, std::chrono::seconds(60), std::move(db));
  auto report = sweeper.sweepOnce();
  for (auto* i : {&roleBindings, &requestInformer, &targetInformer}) i->stop();
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_GE(report->databaseRolesRevoked, 1);

  auto orphanState = provider->inspect(access, orphan);
  ASSERT_TRUE(orphanState) << orphanState.error().message;
  EXPECT_TRUE(orphanState->gone()) << "orphan role still there";
  PGresult* res = PQexec(session.get(), "SELECT 1");
  EXPECT_NE(PQresultStatus(res), PGRES_TUPLES_OK) << "the orphan's open session survived";
  PQclear(res);
  auto liveState = provider->inspect(access, live);
  ASSERT_TRUE(liveState) << liveState.error().message;
  EXPECT_TRUE(liveState->exists) << "the live request's role was swept";

  (void)provider->revoke({access, live});
  kubectl(env, "admin", {"delete", "namespace", ns, "--wait=false"});
  kubectl(env, "admin", {"delete", "databasetarget", target, "--ignore-not-found"});
}

}  // namespace
}  // namespace kubegrant::controllers::access_request
