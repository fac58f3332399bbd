// The PostgreSQL credential provider against the real PostgreSQL of tests/controlplane/up.sh
// (TLS with the test CA, admin role with CREATEROLE only): users issued by the provider log in
// with psql over sslmode=verify-full, read exactly what the profile grants (withheld columns
// denied, masked ones masked, the base table of a masked one denied), and are gone, sessions
// and all, after revoke.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "controllers/database/postgres/connection.h"
#include "controllers/database/postgres/libpq.h"
#include "controllers/database/postgres/postgres_provider.h"
#include "controllers/database/sql.h"
#include "operator/common/crypto.h"
#include "tests/support/test_env.h"

namespace kubegrant::database::postgres {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using v1alpha1::DatabaseProfile;
using v1alpha1::MaskFunction;
using v1alpha1::TableGrant;

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string envOr(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

TargetAccess accessFor(const testing::TestEnv& env) {
  TargetAccess a;
  a.target = "orders-db";
  a.host = env.pgHost;
  a.port = std::stoi(env.pgPort);
  a.database = env.pgDatabase;
  a.sslMode = "verify-full";
  a.caCertPem = readFile(env.caCert);
  a.adminUser = env.pgAdminUser;
  a.adminPassword = SecretString(env.pgAdminPassword);
  return a;
}

TableGrant grant(std::string schema, std::vector<std::string> tables) {
  TableGrant g;
  g.schema = std::move(schema);
  g.tables = std::move(tables);
  g.privileges = {"SELECT"};
  return g;
}

DatabaseProfile readonly() {
  auto g = grant("public", {"*"});
  g.excludeColumns = {{"customers", {"email", "phone", "card_number"}},
                      {"weird\"name", {"secret"}}};
  auto sales = grant("sales data", {"客户"});
  sales.excludeColumns = {{"客户", {"邮箱"}}};
  return DatabaseProfile{"readonly", {g, sales}};
}

DatabaseProfile support(std::string name) {
  auto g = grant("public", {"customers", "orders", "weird\"name"});
  g.excludeColumns = {{"customers", {"card_number"}}};
  g.maskColumns = {
      {"customers",
       {{"email", MaskFunction::Email},
        {"phone", MaskFunction::Partial},
        {"name", MaskFunction::Hash}}},
      {"weird\"name", {{"drop table", MaskFunction::Redact}, {"secret", MaskFunction::Null}}}};
  auto sales = grant("sales data", {"客户"});
  sales.maskColumns = {{"客户", {{"邮箱", MaskFunction::Email}, {"order", MaskFunction::Redact}}}};
  return DatabaseProfile{std::move(name), {g, sales}};
}

class PostgresProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto env = testing::requireEnv();
    ASSERT_TRUE(env.has_value());
    env_ = *env;
    access_ = accessFor(env_);
    PostgresProvider::Options options;
    options.caDir = env_.dir + "/provider-ca";
    provider_ = std::make_unique<PostgresProvider>(options);
  }

  void TearDown() override {
    for (const auto& r : issued_) (void)provider_->revoke({access_, r});
  }

  IssueInput input(const DatabaseProfile& profile, bool audit = false) {
    IssueInput in;
    in.access = access_;
    in.role = roleNameFor(testing::uniqueName("uid"), "orders-db");
    in.expiresAt = std::chrono::time_point_cast<std::chrono::seconds>(WallClock::now()) +
                   std::chrono::minutes(10);
    in.connectionLimit = 2;
    in.profile = profile;
    in.auditStatements = audit;
    in.comment = "kubegrant test " + in.role;
    issued_.push_back(in.role);
    return in;
  }

  // psql as the issued user over TLS, verifying the server certificate against the test CA.
  testing::CommandResult psql(const std::string& role, const SecretString& password,
                              const std::string& sql) {
    passwords_.push_back(password.reveal());
    return testing::runCommand({"env", "PGPASSWORD=" + password.reveal(), "PGCONNECT_TIMEOUT=10",
                                envOr("KUBEGRANT_PG_BIN", "/usr/lib/postgresql/15/bin") + "/psql",
                                "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                "host=" + env_.pgHost + " port=" + env_.pgPort +
                                    " dbname=" + env_.pgDatabase + " user=" + role +
                                    " sslmode=verify-full sslrootcert=" + env_.caCert,
                                "-c", sql});
  }

  std::string adminScalar(const std::string& sql, const std::vector<std::string>& params = {}) {
    auto conn = Connection::open(access_, env_.caCert);
    EXPECT_TRUE(conn.has_value()) << conn.error().message;
    if (!conn) return "";
    auto rows = conn->run(Statement{"test query", sql, params, false});
    EXPECT_TRUE(rows.has_value()) << rows.error().message;
    return rows && !rows->empty() ? (*rows)[0][0] : "";
  }

  int roleCount(const std::string& role) {
    return std::stoi(adminScalar("SELECT count(*) FROM pg_roles WHERE rolname = $1", {role}));
  }

  testing::TestEnv env_;
  TargetAccess access_;
  std::unique_ptr<PostgresProvider> provider_;
  std::vector<std::string> issued_;
  std::vector<std::string> passwords_;
};

TEST_F(PostgresProviderTest, AnIssuedUserLogsInOverVerifyFullAndReadsOnlyGrantedColumns) {
  auto in = input(readonly());
  auto user = provider_->issue(in);
  ASSERT_TRUE(user.has_value()) << user.error().message;
  EXPECT_FALSE(user->reissued);
  EXPECT_EQ(user->password.reveal().size(), 43u);
  EXPECT_THAT(user->withheld, ::testing::Contains("public.customers.email"));

  auto ok = psql(in.role, user->password, "SELECT id, name FROM customers ORDER BY id LIMIT 1");
  EXPECT_EQ(ok.exitCode, 0) << ok.err;
  EXPECT_EQ(ok.out, "1|Ada Lovelace\n");
  auto tls =
      psql(in.role, user->password, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
  EXPECT_EQ(tls.out, "t\n") << tls.err;

  auto email = psql(in.role, user->password, "SELECT email FROM customers");
  EXPECT_NE(email.exitCode, 0);
  EXPECT_THAT(email.err, HasSubstr("permission denied for table customers"));
  auto insert = psql(in.role, user->password,
                     "INSERT INTO orders (customer_id, status, total) VALUES (1, 'x', 1)");
  EXPECT_NE(insert.exitCode, 0);
  EXPECT_THAT(insert.err, HasSubstr("permission denied for table orders"));

  // Hostile names: granted and withheld column by column.
  auto weird = psql(in.role, user->password, "SELECT \"drop table\" FROM \"weird\"\"name\"");
  EXPECT_EQ(weird.out, "visible\n") << weird.err;
  auto secret = psql(in.role, user->password, "SELECT secret FROM \"weird\"\"name\"");
  EXPECT_THAT(secret.err, HasSubstr("permission denied"));
  auto unicode = psql(in.role, user->password, "SELECT \"order\" FROM \"sales data\".\"客户\"");
  EXPECT_EQ(unicode.out, "first\n") << unicode.err;
  auto unicodeWithheld =
      psql(in.role, user->password, "SELECT \"邮箱\" FROM \"sales data\".\"客户\"");
  EXPECT_THAT(unicodeWithheld.err, HasSubstr("permission denied"));

  // The role carries its expiry and connection limit (second line of defence).
  EXPECT_EQ(adminScalar("SELECT rolconnlimit::text || ' ' || (rolvaliduntil > now())::text "
                        "FROM pg_roles WHERE rolname = $1",
                        {in.role}),
            "2 true");
}

TEST_F(PostgresProviderTest, AMaskedProfileServesMaskedValuesAndDeniesTheBaseTable) {
  auto in = input(support("support"));
  auto user = provider_->issue(in);
  ASSERT_TRUE(user.has_value()) << user.error().message;
  auto masked =
      psql(in.role, user->password, "SELECT id, email, phone, name FROM customers WHERE id = 1");
  EXPECT_EQ(masked.exitCode, 0) << masked.err;
  EXPECT_EQ(masked.out, "1|a***@example.com|************0001|" + sha256Hex("Ada Lovelace") + "\n");
  auto base = psql(in.role, user->password, "SELECT email FROM public.customers");
  EXPECT_THAT(base.err, HasSubstr("permission denied for table customers"));
  auto card = psql(in.role, user->password, "SELECT card_number FROM customers");
  EXPECT_THAT(card.err, HasSubstr("column \"card_number\" does not exist"));
  auto orders = psql(in.role, user->password, "SELECT count(*) FROM orders");
  EXPECT_EQ(orders.out, "4\n") << orders.err;
  auto weird = psql(in.role, user->password,
                    "SELECT id, \"drop table\", secret IS NULL FROM \"weird\"\"name\"");
  EXPECT_EQ(weird.out, "1|***|t\n") << weird.err;
  auto unicode = psql(in.role, user->password, "SELECT \"order\", \"邮箱\" FROM \"客户\"");
  EXPECT_EQ(unicode.out, "***|z***@example.org\n") << unicode.err;
  // The hash is stable across users: joinable.
  auto other = input(support("support"));
  auto second = provider_->issue(other);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  auto again = psql(other.role, second->password, "SELECT name FROM customers WHERE id = 1");
  EXPECT_EQ(again.out, sha256Hex("Ada Lovelace") + "\n") << again.err;
  // Both users still read the view after the second issue (it kept the first's grant).
  auto first = psql(in.role, user->password, "SELECT count(*) FROM customers");
  EXPECT_EQ(first.out, "3\n") << first.err;
}

TEST_F(PostgresProviderTest, RevokeEndsOpenSessionsAndTheRoleIsGone) {
  auto in = input(readonly());
  auto user = provider_->issue(in);
  ASSERT_TRUE(user.has_value()) << user.error().message;
  passwords_.push_back(user->password.reveal());
  const std::string conninfo = "host=" + env_.pgHost + " port=" + env_.pgPort +
                               " dbname=" + env_.pgDatabase + " user=" + in.role +
                               " sslmode=verify-full sslrootcert=" + env_.caCert +
                               " connect_timeout=10 password=" + user->password.reveal();
  std::unique_ptr<PGconn, decltype(&PQfinish)> session(PQconnectdb(conninfo.c_str()), &PQfinish);
  ASSERT_EQ(PQstatus(session.get()), CONNECTION_OK) << PQerrorMessage(session.get());

  auto report = provider_->revoke({access_, in.role});
  ASSERT_TRUE(report.has_value()) << report.error().message;
  EXPECT_TRUE(report->roleExisted);
  EXPECT_EQ(report->sessionsTerminated, 1);

  PGresult* res = PQexec(session.get(), "SELECT 1");
  EXPECT_NE(PQresultStatus(res), PGRES_TUPLES_OK) << "the open session survived revoke";
  PQclear(res);
  auto login = psql(in.role, user->password, "SELECT 1");
  EXPECT_NE(login.exitCode, 0);
  EXPECT_THAT(login.err, HasSubstr("password authentication failed"));
  EXPECT_EQ(roleCount(in.role), 0);
  auto state = provider_->inspect(access_, in.role);
  ASSERT_TRUE(state.has_value());
  EXPECT_TRUE(state->gone());
  // Idempotent.
  auto again = provider_->revoke({access_, in.role});
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_FALSE(again->roleExisted);
}

TEST_F(PostgresProviderTest, RevokeOfANeverIssuedRoleSucceeds) {
  auto report = provider_->revoke({access_, roleNameFor("never-issued", "orders-db")});
  ASSERT_TRUE(report.has_value()) << report.error().message;
  EXPECT_FALSE(report->roleExisted);
}

TEST_F(PostgresProviderTest, IssuingAgainAfterACrashConvergesOnTheSameRole) {
  auto wide = grant("public", {"customers"});
  auto in = input(DatabaseProfile{"wide", {wide}});
  auto lost = provider_->issue(in);  // the "crash": its password never reached a Secret
  ASSERT_TRUE(lost.has_value()) << lost.error().message;
  in.profile = readonly();
  auto user = provider_->issue(in);
  ASSERT_TRUE(user.has_value()) << user.error().message;
  EXPECT_TRUE(user->reissued);
  EXPECT_EQ(user->role, lost->role);
  EXPECT_NE(user->password, lost->password);
  EXPECT_EQ(psql(in.role, user->password, "SELECT count(*) FROM orders").out, "4\n");
  // The earlier grant is gone: the role has exactly the new profile.
  EXPECT_THAT(psql(in.role, user->password, "SELECT email FROM customers").err,
              HasSubstr("permission denied"));
  EXPECT_THAT(psql(in.role, lost->password, "SELECT 1").err,
              HasSubstr("password authentication failed"));
  EXPECT_EQ(roleCount(in.role), 1);
}

TEST_F(PostgresProviderTest, AProfileNamingAMissingTableGrantsNothing) {
  auto in = input(DatabaseProfile{"broken", {grant("public", {"orders", "no_such_table"})}});
  auto user = provider_->issue(in);
  ASSERT_FALSE(user.has_value());
  EXPECT_EQ(user.error().code, ErrorCode::Invalid);
  EXPECT_THAT(user.error().message, HasSubstr("table public.no_such_table does not exist"));
  EXPECT_EQ(roleCount(in.role), 0);
}

TEST_F(PostgresProviderTest, AFailedRoleStatementReportsNoPasswordNorVerifier) {
  auto in = input(readonly());
  // An empty identifier: the server rejects CREATE ROLE with a syntax error whose primary
  // message would quote the statement ("at or near ..."): only the SQLSTATE may be reported.
  in.role = "";
  auto user = provider_->issue(in);
  ASSERT_FALSE(user.has_value());
  EXPECT_THAT(user.error().message, HasSubstr("create role"));
  EXPECT_THAT(user.error().message, HasSubstr("syntax error (SQLSTATE 42601)"));
  EXPECT_THAT(user.error().message, HasSubstr("SQLSTATE"));
  EXPECT_THAT(user.error().message, Not(HasSubstr("SCRAM")));
  EXPECT_THAT(user.error().message, Not(HasSubstr("PASSWORD")));

  auto wrong = access_;
  wrong.adminPassword = SecretString("not-the-admin-password-4711");
  auto denied = provider_->inspect(wrong, "kg_x");
  ASSERT_FALSE(denied.has_value());
  EXPECT_EQ(denied.error().code, ErrorCode::Unauthorized);
  EXPECT_THAT(denied.error().message, Not(HasSubstr("4711")));
}

TEST_F(PostgresProviderTest, AuditedUsersStatementsLandInTheDatabaseLogButNoPassword) {
  auto in = input(readonly(), /*audit=*/true);
  auto user = provider_->issue(in);
  ASSERT_TRUE(user.has_value()) << user.error().message;
  const std::string marker = "audit-" + testing::uniqueName("marker");
  EXPECT_EQ(
      psql(in.role, user->password, "SELECT count(*) FROM orders WHERE status <> '" + marker + "'")
          .exitCode,
      0);
  ASSERT_TRUE(provider_->revoke({access_, in.role}).has_value());
  const std::string log = readFile(envOr("KUBEGRANT_PG_LOG", env_.dir + "/logs/postgres.log"));
  EXPECT_THAT(log, HasSubstr("user=" + in.role));
  EXPECT_THAT(log, HasSubstr(marker));
  for (const auto& p : passwords_) EXPECT_THAT(log, Not(HasSubstr(p)));
  EXPECT_THAT(log, Not(HasSubstr(user->password.reveal())));
}

TEST_F(PostgresProviderTest, ListRolesShowsIssuedRolesWithTheirExpiryAndComment) {
  auto in = input(readonly());
  ASSERT_TRUE(provider_->issue(in).has_value());
  auto roles = provider_->listRoles(access_);
  ASSERT_TRUE(roles.has_value()) << roles.error().message;
  auto it = std::find_if(roles->begin(), roles->end(),
                         [&](const DatabaseRole& r) { return r.name == in.role; });
  ASSERT_NE(it, roles->end());
  EXPECT_EQ(it->comment, in.comment);
  EXPECT_EQ(it->validUntil, in.expiresAt);
  for (const auto& r : *roles) EXPECT_TRUE(r.name.starts_with("kg_")) << r.name;
}

TEST_F(PostgresProviderTest, AProfileChangeIsReappliedToActiveUsers) {
  const std::string name = "support-" + testing::uniqueName("re");
  auto in = input(support(name));
  auto user = provider_->issue(in);
  ASSERT_TRUE(user.has_value()) << user.error().message;
  EXPECT_EQ(psql(in.role, user->password, "SELECT email FROM customers WHERE id = 1").out,
            "a***@example.com\n");
  auto changed = support(name);
  changed.grants[0].maskColumns["customers"]["email"] = MaskFunction::Redact;
  changed.grants[0].excludeColumns["customers"].push_back("phone");
  changed.grants[0].maskColumns["customers"].erase("phone");
  auto report = provider_->reapplyProfile({access_, changed, {in.role, "kg_not_there"}, false});
  ASSERT_TRUE(report.has_value()) << report.error().message;
  EXPECT_EQ(report->rolesUpdated, 1);
  EXPECT_EQ(report->viewsRecreated, 1);
  EXPECT_EQ(psql(in.role, user->password, "SELECT email FROM customers WHERE id = 1").out, "***\n");
  EXPECT_THAT(psql(in.role, user->password, "SELECT phone FROM customers").err,
              HasSubstr("column \"phone\" does not exist"));
}

TEST_F(PostgresProviderTest, APooledConnectionKilledByTheServerIsReplacedWithoutAnError) {
  auto in = input(readonly());
  ASSERT_TRUE(provider_->issue(in).has_value());  // leaves a connection in the pool
  // As after a database restart: every idle admin connection of the operator is gone.
  EXPECT_NE(adminScalar("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 2000)) FROM "
                        "pg_stat_activity WHERE application_name = 'kubegrant-operator' AND "
                        "state = 'idle' AND pid <> pg_backend_pid()"),
            "0");
  auto report = provider_->revoke({access_, in.role});
  ASSERT_TRUE(report.has_value()) << report.error().message;
  EXPECT_TRUE(report->roleExisted);
}

TEST_F(PostgresProviderTest, WithoutPoolingNoAdminConnectionOutlivesACall) {
  const std::string count =
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kubegrant-operator' AND "
      "pid <> pg_backend_pid()";
  const std::string before = adminScalar(count);
  PostgresProvider::Options options;
  options.caDir = env_.dir + "/provider-ca";
  options.maxIdleConnectionsPerTarget = 0;
  PostgresProvider unpooled(options);
  auto in = input(readonly());
  ASSERT_TRUE(unpooled.issue(in).has_value());
  ASSERT_TRUE(unpooled.revoke({access_, in.role}).has_value());
  // A closed connection's backend exits asynchronously: wait for it, with a deadline.
  std::string after = adminScalar(count);
  for (int i = 0; i < 50 && after != before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = adminScalar(count);
  }
  EXPECT_EQ(after, before);
}

TEST_F(PostgresProviderTest, ClosingIdleConnectionsLeavesNoAdminSessionAndUnloadsLibpq) {
  const std::string count =
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kubegrant-operator' AND "
      "pid <> pg_backend_pid()";
  const std::string before = adminScalar(count);
  auto in = input(readonly());
  ASSERT_TRUE(provider_->issue(in).has_value());  // its connection goes back to the pool
  EXPECT_TRUE(libpqLoaded()) << "the pooled connection holds libpq";
  EXPECT_NE(adminScalar(count), before);

  provider_->closeIdleConnections();
  EXPECT_FALSE(libpqLoaded()) << "no connection left: unloaded";
  std::string after = adminScalar(count);
  for (int i = 0; i < 50 && after != before; ++i) {  // backends exit asynchronously
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = adminScalar(count);
  }
  EXPECT_EQ(after, before);

  // The next call loads it again and connects as the first did.
  auto report = provider_->revoke({access_, in.role});
  ASSERT_TRUE(report.has_value()) << report.error().message;
  EXPECT_TRUE(report->roleExisted);
}

TEST_F(PostgresProviderTest, ConcurrentIssuesOfANewProfileAllSucceedAndShareItsRole) {
  // A profile no issue has seen: the first issuer creates its role and views under the
  // profile's lock, the others find them current after waiting for that lock.
  const auto profile = support("support-" + testing::uniqueName("par"));
  std::vector<IssueInput> inputs;
  for (int i = 0; i < 6; ++i) inputs.push_back(input(profile));
  std::vector<Result<IssuedUser>> results(inputs.size(), fail(ErrorCode::Internal, "not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < inputs.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = provider_->issue(inputs[i]); });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_TRUE(results[i].has_value()) << results[i].error().message;
    EXPECT_EQ(
        psql(inputs[i].role, results[i]->password, "SELECT email FROM customers WHERE id = 1").out,
        "a***@example.com\n");
  }
  EXPECT_EQ(adminScalar("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = "
                        "m.roleid WHERE r.rolname = $1",
                        {profileRoleName(env_.pgDatabase, profile.name)}),
            "7");  // the six users and the admin
}

TEST_F(PostgresProviderTest, LibpqQuotingMatchesTheQuotingOfTheUnitTable) {
  auto conn = Connection::open(access_, env_.caCert);
  ASSERT_TRUE(conn.has_value()) << conn.error().message;
  const StandardQuoter standard;
  for (std::string name : {"weird\"name", "drop table", "sales data", "客户", "order", "o'brien",
                           "a\\b", "x\"; DROP TABLE customers; --"}) {
    EXPECT_EQ(conn->quoter().identifier(name), standard.identifier(name)) << name;
    EXPECT_EQ(conn->quoter().literal(name), standard.literal(name)) << name;
  }
}

}  // namespace
}  // namespace kubegrant::database::postgres
