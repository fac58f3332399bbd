// The PostgreSQL credential provider against the real PostgreSQL of tests/controlplane/up.sh
// (see bench/README.md, "database provider"):
//   1. N requests one after another on a 100-table schema with 10 masked columns: issue until
//      the credentials are usable (a login over verify-full TLS succeeds), then revoke (with
//      that session open) until the role is verified gone and the session is dead.
//   2. M roles (a quarter with an open session) revoked at once by W workers: time until all
//      are verified gone.
// Usage: source DIR/env && build/bench/database_bench [N=200] [M=200] [W=16]

#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "controllers/database/postgres/connection.h"
#include "controllers/database/postgres/postgres_provider.h"
#include "controllers/database/sql.h"

using namespace kubegrant;
using namespace kubegrant::database;
using Steady = std::chrono::steady_clock;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) {
    std::fprintf(stderr, "%s is not set: source DIR/env from tests/controlplane/up.sh\n", name);
    std::exit(2);
  }
  return v;
}

double ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void report(const char* what, const std::vector<double>& v) {
  std::printf("%-34s n=%zu p50=%.1f ms p90=%.1f ms p99=%.1f ms max=%.1f ms\n", what, v.size(),
              percentile(v, 0.5), percentile(v, 0.9), percentile(v, 0.99),
              v.empty() ? 0 : *std::max_element(v.begin(), v.end()));
}

struct Pg {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn{nullptr, &PQfinish};
  bool ok() const { return conn && PQstatus(conn.get()) == CONNECTION_OK; }
};

Pg login(const TargetAccess& a, const std::string& caFile, const std::string& role,
         const SecretString& password) {
  const std::string port = std::to_string(a.port);
  const char* keys[] = {"host",    "port",        "dbname",          "user", "password",
                        "sslmode", "sslrootcert", "connect_timeout", nullptr};
  const char* values[] = {a.host.c_str(),
                          port.c_str(),
                          a.database.c_str(),
                          role.c_str(),
                          password.reveal().c_str(),
                          "verify-full",
                          caFile.c_str(),
                          "10",
                          nullptr};
  Pg pg;
  pg.conn.reset(PQconnectdbParams(keys, values, 0));
  if (pg.ok()) {
    PGresult* r = PQexec(pg.conn.get(), "SELECT 1");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) pg.conn.reset();
    PQclear(r);
  }
  return pg;
}

bool sessionDead(Pg& pg) {
  PGresult* r = PQexec(pg.conn.get(), "SELECT 1");
  const bool dead = PQresultStatus(r) != PGRES_TUPLES_OK;
  PQclear(r);
  return dead;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 200;
  const int m = argc > 2 ? std::atoi(argv[2]) : 200;
  const int workers = argc > 3 ? std::atoi(argv[3]) : 16;
  const std::string caFile = env("KUBEGRANT_PG_CA_CERT");
  std::ifstream caIn(caFile);
  std::stringstream ca;
  ca << caIn.rdbuf();

  TargetAccess access;
  access.target = "bench-db";
  access.host = env("KUBEGRANT_PG_HOST");
  access.port = std::stoi(env("KUBEGRANT_PG_PORT"));
  access.database = env("KUBEGRANT_PG_DATABASE");
  access.sslMode = "verify-full";
  access.caCertPem = ca.str();
  access.adminUser = env("KUBEGRANT_PG_ADMIN_USER");
  access.adminPassword = SecretString(env("KUBEGRANT_PG_ADMIN_PASSWORD"));

  // The schema: 100 tables, the first five with two masked columns each (10 masked), the
  // sixth with an excluded column.
  {
    auto conn = postgres::Connection::open(access, caFile);
    if (!conn) {
      std::fprintf(stderr, "admin connection: %s\n", conn.error().message.c_str());
      return 1;
    }
    std::vector<Statement> ddl{{"schema", "CREATE SCHEMA IF NOT EXISTS bench", {}, false}};
    for (int t = 0; t < 100; ++t) {
      char sql[512];
      std::snprintf(sql, sizeof sql,
                    "CREATE TABLE IF NOT EXISTS bench.t%03d (id integer PRIMARY KEY, name text, "
                    "email text, phone text, secret text, amount numeric)",
                    t);
      ddl.push_back({"table", sql, {}, false});
    }
    if (auto r = conn->runAll(ddl); !r) {
      std::fprintf(stderr, "schema: %s\n", r.error().message.c_str());
      return 1;
    }
  }
  v1alpha1::TableGrant g;
  g.schema = "bench";
  g.tables = {"*"};
  g.privileges = {"SELECT"};
  for (int t = 0; t < 5; ++t) {
    char name[16];
    std::snprintf(name, sizeof name, "t%03d", t);
    g.maskColumns[name] = {{"email", v1alpha1::MaskFunction::Email},
                           {"phone", v1alpha1::MaskFunction::Partial}};
  }
  g.excludeColumns["t005"] = {"secret"};
  const v1alpha1::DatabaseProfile profile{"bench", {g}};

  postgres::PostgresProvider provider;
  auto issueInput = [&](const std::string& role) {
    IssueInput in;
    in.access = access;
    in.role = role;
    in.expiresAt = std::chrono::time_point_cast<std::chrono::seconds>(WallClock::now()) +
                   std::chrono::hours(1);
    in.connectionLimit = 2;
    in.profile = profile;
    in.comment = "kubegrant bench";
    return in;
  };
  const std::string run = std::to_string(::getpid());

  // Warm-up (creates the masking views once).
  {
    auto in = issueInput(roleNameFor("warmup-" + run, "bench-db"));
    auto u = provider.issue(in);
    if (!u) {
      std::fprintf(stderr, "issue: %s\n", u.error().message.c_str());
      return 1;
    }
    (void)provider.revoke({access, in.role});
  }

  // What a call costs before any work: a new TLS connection as the admin and one query.
  std::vector<double> inspectMs;
  for (int i = 0; i < std::min(n, 50); ++i) {
    auto t0 = Steady::now();
    (void)provider.inspect(access, "kg_none");
    inspectMs.push_back(ms(Steady::now() - t0));
  }
  report("inspect (connect + 1 query)", inspectMs);

  std::vector<double> issueMs, usableMs, revokeMs;
  int failures = 0;
  for (int i = 0; i < n; ++i) {
    const std::string role = roleNameFor("seq-" + run + "-" + std::to_string(i), "bench-db");
    auto t0 = Steady::now();
    auto user = provider.issue(issueInput(role));
    auto t1 = Steady::now();
    if (!user) {
      std::fprintf(stderr, "issue %s: %s\n", role.c_str(), user.error().message.c_str());
      ++failures;
      continue;
    }
    Pg session = login(access, caFile, role, user->password);
    auto t2 = Steady::now();
    if (!session.ok()) {
      std::fprintf(stderr, "login %s failed\n", role.c_str());
      ++failures;
    }
    issueMs.push_back(ms(t1 - t0));
    usableMs.push_back(ms(t2 - t0));
    auto t3 = Steady::now();
    auto revoked = provider.revoke({access, role});
    auto t4 = Steady::now();
    if (!revoked || revoked->sessionsTerminated != 1 || !sessionDead(session)) {
      std::fprintf(stderr, "revoke %s: %s\n", role.c_str(),
                   revoked ? "session not ended" : revoked.error().message.c_str());
      ++failures;
      continue;
    }
    revokeMs.push_back(ms(t4 - t3));
  }
  report("issue (provider call)", issueMs);
  report("approval -> login succeeds", usableMs);
  report("revoke -> verified gone, 1 session", revokeMs);

  // Simultaneous revokes.
  std::vector<std::string> roles;
  std::vector<Pg> sessions;
  for (int i = 0; i < m; ++i) {
    const std::string role = roleNameFor("herd-" + run + "-" + std::to_string(i), "bench-db");
    auto user = provider.issue(issueInput(role));
    if (!user) {
      std::fprintf(stderr, "issue %s: %s\n", role.c_str(), user.error().message.c_str());
      ++failures;
      continue;
    }
    roles.push_back(role);
    if (i % 4 == 0) sessions.push_back(login(access, caFile, role, user->password));
  }
  std::atomic<size_t> next{0};
  std::atomic<int> herdFailures{0};
  std::atomic<int> retries{0};
  auto t0 = Steady::now();
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) {
    pool.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < roles.size();) {
        // As the reconciler does: retry until verified gone.
        for (int attempt = 0;; ++attempt) {
          auto r = provider.revoke({access, roles[i]});
          if (r) break;
          if (retries.fetch_add(1) < 3) {
            std::fprintf(stderr, "retrying revoke %s: %s\n", roles[i].c_str(),
                         r.error().message.c_str());
          }
          if (attempt == 20) {
            std::fprintf(stderr, "revoke %s: %s\n", roles[i].c_str(), r.error().message.c_str());
            ++herdFailures;
            break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  auto t1 = Steady::now();
  int alive = 0;
  for (auto& s : sessions) alive += s.ok() && !sessionDead(s);
  auto left = provider.listRoles(access);
  int remaining = 0;
  if (left) {
    for (const auto& r : *left)
      remaining += std::find(roles.begin(), roles.end(), r.name) != roles.end();
  }
  std::printf(
      "%d simultaneous revokes (%zu with a session), %d workers: all verified gone in %.0f ms "
      "(roles left %d, sessions alive %d, failures %d, retries %d)\n",
      static_cast<int>(roles.size()), sessions.size(), workers, ms(t1 - t0), remaining, alive,
      herdFailures.load(), retries.load());
  return failures + herdFailures.load() + remaining + alive == 0 ? 0 : 1;
}
