// The local control plane itself (tests/controlplane/up.sh): every other integration and e2e
// test trusts that the users are who the design says, that RBAC is really enforced, that the
// API server is the pinned version, and that PostgreSQL has the admin role and the sample
// schema. These tests check exactly that, against the running processes.

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_env.h"

namespace kubegrant::testing {
namespace {

using nlohmann::json;

// ---- Kubernetes -----------------------------------------------------------------------------

struct Identity {
  std::string user;
  std::string expectedName;
  std::vector<std::string> expectedGroups;  // besides system:authenticated
};

// Keeps CTest's test names readable (gtest would print the struct's bytes).
void PrintTo(const Identity& id, std::ostream* os) { *os << id.user; }

class UserIdentityTest : public ::testing::TestWithParam<Identity> {};

TEST_P(UserIdentityTest, ClientCertificateAuthenticatesAsTheDesignedUserAndGroups) {
  KG_REQUIRE_ENV(env);
  const Identity& id = GetParam();
  auto r = kubectl(env, id.user, {"auth", "whoami", "-o", "json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  json review = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(review.is_discarded()) << r.out;
  const json& info = review["status"]["userInfo"];
  EXPECT_EQ(info.value("username", ""), id.expectedName);
  std::vector<std::string> groups = info.value("groups", std::vector<std::string>{});
  std::vector<std::string> expected = id.expectedGroups;
  expected.push_back("system:authenticated");
  std::sort(groups.begin(), groups.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(groups, expected) << "user " << id.user;
}

INSTANTIATE_TEST_SUITE_P(
    Users, UserIdentityTest,
    ::testing::Values(Identity{"admin", "admin", {"system:masters"}},
                      Identity{"operator", "kubegrant-operator", {"kubegrant:operators"}},
                      Identity{"alice", "alice", {"payments-devs"}},
                      Identity{"bob", "bob", {"payments-leads"}},
                      Identity{"carol", "carol", {"payments-leads"}},
                      Identity{"mallory", "mallory", {}}),
    [](const ::testing::TestParamInfo<Identity>& info) { return info.param.user; });

// `kubectl auth can-i` exits 0 and prints "yes" when allowed, exits 1 and prints "no" otherwise.
bool canI(const TestEnv& env, const std::string& user, std::vector<std::string> args) {
  std::vector<std::string> argv = {"auth", "can-i"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = kubectl(env, user, argv);
  EXPECT_TRUE(r.exitCode == 0 || r.exitCode == 1) << r.err;
  return r.exitCode == 0 && r.out.starts_with("yes");
}

TEST(ControlPlaneRbac, OutsiderMayNotListPodsWhileAdminMay) {
  KG_REQUIRE_ENV(env);
  EXPECT_FALSE(canI(env, "mallory", {"list", "pods", "-n", "default"}));
  EXPECT_TRUE(canI(env, "admin", {"list", "pods", "-n", "default"}));

  // Not only the access review: a real request by mallory is refused by the API server.
  auto r = kubectl(env, "mallory", {"get", "pods", "-n", "default"});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("Forbidden"), std::string::npos) << r.err;
  auto a = kubectl(env, "admin", {"get", "pods", "-n", "default"});
  EXPECT_EQ(a.exitCode, 0) << a.err;
}

// The RBAC authorizer reads bindings from an informer: changes apply within moments, not at once.
bool eventuallyCanI(const TestEnv& env, const std::string& user, std::vector<std::string> args,
                    bool want) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    if (canI(env, user, args) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

TEST(ControlPlaneRbac, RoleBindingGrantsAGroupMemberAndDeletingItRevokes) {
  KG_REQUIRE_ENV(env);
  const std::string name = uniqueName("cp-test-view");
  const std::vector<std::string> listSecrets = {"list", "configmaps", "-n", "default"};
  ASSERT_FALSE(canI(env, "alice", listSecrets));

  auto created = kubectl(env, "admin",
                         {"create", "rolebinding", name, "-n", "default", "--clusterrole=view",
                          "--group=payments-devs"});
  ASSERT_EQ(created.exitCode, 0) << created.err;
  EXPECT_TRUE(eventuallyCanI(env, "alice", listSecrets, true))
      << "alice (group payments-devs) never got view in default";
  EXPECT_FALSE(canI(env, "bob", listSecrets)) << "bob is not in payments-devs";

  auto deleted = kubectl(env, "admin", {"delete", "rolebinding", name, "-n", "default"});
  ASSERT_EQ(deleted.exitCode, 0) << deleted.err;
  EXPECT_TRUE(eventuallyCanI(env, "alice", listSecrets, false))
      << "alice kept view after the binding was deleted";
}

TEST(ControlPlaneApiServer, ReportsThePinnedKubernetesVersion) {
  KG_REQUIRE_ENV(env);
  auto r = kubectl(env, "admin", {"version", "-o", "json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  json v = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(v.is_discarded()) << r.out;
  // Pinned in tests/controlplane/kube-apiserver/go.mod; build.sh stamps it into the binary.
  EXPECT_EQ(v["serverVersion"].value("gitVersion", ""), "v1.33.13");
  EXPECT_EQ(v["serverVersion"].value("major", ""), "1");
  EXPECT_EQ(v["serverVersion"].value("minor", ""), "33");
}

TEST(ControlPlaneApiServer, KubeconfigsPointAtTheServerInTheEnvironment) {
  KG_REQUIRE_ENV(env);
  ASSERT_TRUE(env.apiServer.starts_with("https://127.0.0.1:")) << env.apiServer;
  for (const char* user : {"admin", "operator", "alice", "bob", "carol", "mallory"}) {
    auto r = kubectl(
        env, user, {"config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"});
    ASSERT_EQ(r.exitCode, 0) << user << ": " << r.err;
    EXPECT_EQ(r.out, env.apiServer) << user;
  }
}

TEST(ControlPlaneApiServer, DefaultNamespaceAndBootstrapRolesExist) {
  KG_REQUIRE_ENV(env);
  auto r = kubectl(env, "admin",
                   {"get", "namespace/default", "clusterrole/view", "clusterrole/edit",
                    "clusterrole/admin", "-o", "name"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out,
            "namespace/default\nclusterrole.rbac.authorization.k8s.io/view\n"
            "clusterrole.rbac.authorization.k8s.io/edit\n"
            "clusterrole.rbac.authorization.k8s.io/admin\n");
}

// ---- PostgreSQL -----------------------------------------------------------------------------

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, PgConnDeleter>;
struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

PgConn connect(const std::string& conninfo) { return PgConn(PQconnectdb(conninfo.c_str())); }

// Runs a query expected to return tuples; each row as a vector of text values.
std::vector<std::vector<std::string>> query(PGconn* conn, const std::string& sql) {
  PgResult res(PQexec(conn, sql.c_str()));
  std::vector<std::vector<std::string>> rows;
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
    ADD_FAILURE() << sql << ": " << PQerrorMessage(conn);
    return rows;
  }
  for (int i = 0; i < PQntuples(res.get()); ++i) {
    std::vector<std::string> row;
    for (int j = 0; j < PQnfields(res.get()); ++j) row.emplace_back(PQgetvalue(res.get(), i, j));
    rows.push_back(std::move(row));
  }
  return rows;
}

bool exec(PGconn* conn, const std::string& sql) {
  PgResult res(PQexec(conn, sql.c_str()));
  if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
    ADD_FAILURE() << sql << ": " << PQerrorMessage(conn);
    return false;
  }
  return true;
}

TEST(ControlPlanePostgres, AdminRoleLogsInWithPasswordAndCanCreateRolesButIsNotSuperuser) {
  KG_REQUIRE_ENV(env);
  PgConn conn = connect(env.pgAdminConnString());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  auto rows = query(conn.get(),
                    "SELECT current_user, current_database(), rolcreaterole, rolsuper "
                    "FROM pg_roles WHERE rolname = current_user");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{env.pgAdminUser, "orders", "t", "f"}));

  // CREATEROLE really works: the operator creates and drops short-lived login roles.
  std::string role = uniqueName("cp_test_role");
  std::replace(role.begin(), role.end(), '-', '_');
  ASSERT_TRUE(exec(conn.get(), "CREATE ROLE " + role + " LOGIN PASSWORD 'x-test-only'"));
  EXPECT_EQ(query(conn.get(), "SELECT count(*) FROM pg_roles WHERE rolname = '" + role + "'"),
            (std::vector<std::vector<std::string>>{{"1"}}));
  EXPECT_TRUE(exec(conn.get(), "DROP ROLE " + role));
}

TEST(ControlPlanePostgres, WrongPasswordIsRejectedOverTcp) {
  KG_REQUIRE_ENV(env);
  PgConn conn =
      connect("host=" + env.pgHost + " port=" + env.pgPort + " dbname=" + env.pgDatabase +
              " user=" + env.pgAdminUser + " password=not-the-password connect_timeout=5");
  EXPECT_EQ(PQstatus(conn.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(conn.get())).find("password authentication failed"),
            std::string::npos)
      << PQerrorMessage(conn.get());
}

// TCP is TLS only, with a certificate from the test CA that verify-full accepts for both
// loopback names; and the admin may give issued roles log_statement (auditStatements).
TEST(ControlPlanePostgres, ServesTlsOnlyWithACertificateVerifiableForLoopback) {
  KG_REQUIRE_ENV(env);
  const std::string common = " port=" + env.pgPort + " dbname=" + env.pgDatabase +
                             " user=" + env.pgAdminUser + " password=" + env.pgAdminPassword +
                             " connect_timeout=5";
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    PgConn conn =
        connect("host=" + host + common + " sslmode=verify-full sslrootcert=" + env.caCert);
    ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << host << ": " << PQerrorMessage(conn.get());
    EXPECT_EQ(query(conn.get(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"),
              (std::vector<std::vector<std::string>>{{"t"}}));
    EXPECT_EQ(query(conn.get(), "SELECT has_parameter_privilege('log_statement', 'SET')::text"),
              (std::vector<std::vector<std::string>>{{"true"}}));
  }
  PgConn plain = connect("host=127.0.0.1" + common + " sslmode=disable");
  EXPECT_EQ(PQstatus(plain.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(plain.get())).find("no encryption"), std::string::npos)
      << PQerrorMessage(plain.get());
}

TEST(ControlPlanePostgres, SampleSchemaHasTheTablesColumnsAndRows) {
  KG_REQUIRE_ENV(env);
  PgConn conn = connect(env.pgAdminConnString());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());

  struct Table {
    std::string name;
    std::vector<std::string> columns;
    int minRows;
  };
  const std::vector<Table> tables = {
      {"customers", {"id", "name", "email", "phone", "card_number"}, 3},
      {"orders", {"id", "customer_id", "status", "total"}, 4},
  };
  for (const Table& t : tables) {
    auto cols = query(conn.get(),
                      "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                      "'public' AND table_name = '" +
                          t.name + "' ORDER BY ordinal_position");
    std::vector<std::string> names;
    for (const auto& row : cols) names.push_back(row[0]);
    EXPECT_EQ(names, t.columns) << "table " << t.name;

    auto owner = query(conn.get(),
                       "SELECT tableowner FROM pg_tables WHERE schemaname = 'public' "
                       "AND tablename = '" +
                           t.name + "'");
    ASSERT_EQ(owner.size(), 1u) << t.name;
    EXPECT_EQ(owner[0][0], env.pgAdminUser)
        << "the admin role must own " << t.name << " to grant on it";

    auto count = query(conn.get(), "SELECT count(*) FROM public." + t.name);
    ASSERT_EQ(count.size(), 1u);
    EXPECT_GE(std::stoi(count[0][0]), t.minRows) << "table " << t.name;
  }

  // The PII columns hold data (the point of granting column-level access later).
  auto pii = query(conn.get(),
                   "SELECT email, phone, card_number FROM public.customers "
                   "WHERE email = 'ada@example.com'");
  ASSERT_EQ(pii.size(), 1u);
  EXPECT_EQ(pii[0][2], "4111111111111111");
  auto orphans = query(conn.get(),
                       "SELECT count(*) FROM public.orders o LEFT JOIN public.customers c "
                       "ON c.id = o.customer_id WHERE c.id IS NULL");
  EXPECT_EQ(orphans, (std::vector<std::vector<std::string>>{{"0"}}));
}

}  // namespace
}  // namespace kubegrant::testing
