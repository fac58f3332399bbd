#include "controllers/database/postgres/postgres_provider.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "controllers/database/postgres/connection.h"
#include "operator/common/crypto.h"
#include "operator/common/time.h"

namespace kubegrant::database::postgres {

namespace {

constexpr size_t kPasswordBytes = 32;

Statement begin() { return Statement{"begin", "BEGIN", {}, false}; }
Statement commit() { return Statement{"commit", "COMMIT", {}, false}; }

Catalog toCatalog(const std::vector<Row>& rows) {
  Catalog catalog;
  for (const auto& r : rows) {
    if (catalog.tables.empty() || catalog.tables.back().schema != r[0] ||
        catalog.tables.back().name != r[1]) {
      catalog.tables.push_back(TableInfo{r[0], r[1], r[2].empty() ? 'r' : r[2][0], r[3], {}});
    }
    if (!r[4].empty()) catalog.tables.back().columns.push_back(ColumnInfo{r[4], r[5]});
  }
  return catalog;
}

int toInt(const std::string& s) { return s.empty() ? 0 : std::stoi(s); }

// The first round trip of issue and reapply: begin, take the profile's locks (issuers of the
// same profile serialize on its mask schemas, so views are re-created by one at a time, in one
// lock order: no deadlock), read the catalog and, for issue, whether the role exists.
struct Snapshot {
  GrantPlan plan;
  bool roleExists = false;
};

Result<Snapshot> lockAndPlan(Connection& conn, const v1alpha1::DatabaseProfile& profile,
                             const std::string& role) {
  auto maskSchemas = maskSchemasOf(profile);
  std::sort(maskSchemas.begin(), maskSchemas.end());
  std::vector<Statement> head{begin()};
  for (const auto& m : maskSchemas) head.push_back(advisoryLock("kubegrant_mask:" + m));
  if (!role.empty()) head.push_back(advisoryLock("kubegrant_role:" + role));
  const size_t catalogAt = head.size();
  head.push_back(catalogQuery(catalogSchemasOf(profile)));
  if (!role.empty()) head.push_back(roleExists(role));
  auto results = conn.runAll(head);
  if (!results) return fail(results.error());
  auto plan = planGrants(profile, toCatalog((*results)[catalogAt]));
  if (!plan) return fail(plan.error());
  Snapshot out{std::move(*plan), false};
  if (!role.empty()) {
    const auto& rows = results->back();
    out.roleExists = !rows.empty() && toInt(rows[0][0]) > 0;
  }
  return out;
}

// The statements re-creating the plan's views that are missing or outdated (keeping their
// grantees, read in one more round trip when a view exists), and how many.
Result<int> viewStatements(Connection& conn, const GrantPlan& plan, std::vector<Statement>& out) {
  std::vector<const MaskView*> outdated;
  std::vector<Statement> reads;
  for (const auto& view : plan.views) {
    if (view.current) continue;
    outdated.push_back(&view);
    if (view.exists) reads.push_back(viewGrantees(view.maskSchema, view.table));
  }
  if (outdated.empty()) return 0;
  std::vector<std::vector<Row>> grantees;
  if (!reads.empty()) {
    auto r = conn.runAll(reads);
    if (!r) return fail(r.error());
    grantees = std::move(*r);
  }
  std::vector<std::string> schemas;
  size_t read = 0;
  for (const MaskView* view : outdated) {
    if (std::find(schemas.begin(), schemas.end(), view->maskSchema) == schemas.end()) {
      out.push_back(createMaskSchema(conn.quoter(), view->maskSchema));
      schemas.push_back(view->maskSchema);
    }
    std::vector<std::string> keep;
    if (view->exists) {
      for (const auto& row : grantees[read++]) keep.push_back(row[0]);
      out.push_back(dropView(conn.quoter(), *view));
    }
    for (auto& st : createView(conn.quoter(), *view, keep)) out.push_back(std::move(st));
  }
  return static_cast<int>(outdated.size());
}

Result<RoleState> stateOf(Connection& conn, const std::string& role) {
  auto rows = conn.run(roleState(role));
  if (!rows) return fail(rows.error());
  if (rows->empty()) return RoleState{};
  return RoleState{toInt((*rows)[0][0]) > 0, toInt((*rows)[0][1])};
}

}  // namespace

PostgresProvider::PostgresProvider(Options options) : options_(std::move(options)) {
  if (options_.caDir.empty()) {
    std::error_code ec;
    options_.caDir = std::filesystem::temp_directory_path(ec) / "kubegrant-pg-ca";
  }
}

Result<std::string> PostgresProvider::caFileFor(const std::string& pem) {
  if (pem.empty()) return std::string();
  const auto file = options_.caDir / (sha256Hex(pem).substr(0, 24) + ".crt");
  std::lock_guard lock(caMu_);
  std::error_code ec;
  if (std::filesystem::exists(file, ec)) return file.string();
  std::filesystem::create_directories(options_.caDir, ec);
  if (ec) {
    return fail(ErrorCode::Internal, fmt::format("cannot create {} for the database CA: {}",
                                                 options_.caDir.string(), ec.message()));
  }
  std::filesystem::permissions(options_.caDir, std::filesystem::perms::owner_all, ec);
  const auto tmp = file.string() + fmt::format(".tmp{}", getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return fail(ErrorCode::Internal,
                fmt::format("cannot write the database CA to {}: {}", tmp, std::strerror(errno)));
  }
  const bool written = ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size());
  ::close(fd);
  if (!written || std::rename(tmp.c_str(), file.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return fail(ErrorCode::Internal,
                fmt::format("cannot write the database CA to {}", file.string()));
  }
  return file.string();
}

Result<Connection> PostgresProvider::connect(const TargetAccess& access) {
  auto ca = caFileFor(access.caCertPem);
  if (!ca) return fail(ca.error());
  return Connection::open(access, *ca);
}

Result<IssuedUser> PostgresProvider::issue(const IssueInput& in) {
  auto password = randomUrlSafe(kPasswordBytes);
  if (!password) return fail(password.error());
  IssuedUser out;
  out.role = in.role;
  out.password = SecretString(std::move(*password));

  auto conn = connect(in.access);
  if (!conn) return fail(conn.error());
  auto verifier = conn->scramVerifier(out.password, in.role);
  if (!verifier) return fail(verifier.error());

  // One transaction: on any error the connection closes with it open, and the server rolls
  // everything back (role included): nothing is half-granted. Two round trips: the snapshot,
  // then everything else.
  auto snapshot = lockAndPlan(*conn, in.profile, in.role);
  if (!snapshot) return fail(snapshot.error());
  auto& plan = snapshot->plan;
  out.reissued = snapshot->roleExists;

  const Quoter& q = conn->quoter();
  std::vector<Statement> statements;
  if (auto views = viewStatements(*conn, plan, statements); !views) return fail(views.error());
  const RoleOptions options{in.role, *verifier, in.expiresAt, in.connectionLimit};
  if (out.reissued) {
    statements.push_back(alterRole(q, options));
    statements.push_back(grantRoleToAdmin(q, in.role));
    statements.push_back(dropOwned(q, in.role));  // converge: start from no privileges
  } else {
    statements.push_back(createRole(q, options));
    statements.push_back(grantRoleToAdmin(q, in.role));
  }
  if (!in.comment.empty()) statements.push_back(commentOnRole(q, in.role, in.comment));
  for (auto& st : grantStatements(q, plan, in.role, in.auditStatements)) {
    statements.push_back(std::move(st));
  }
  statements.push_back(commit());
  if (auto r = conn->runAll(statements); !r) return fail(r.error());

  out.tablesGranted = static_cast<int>(plan.tables.size() + plan.views.size());
  out.withheld = std::move(plan.withheld);
  out.maskedColumns = std::move(plan.maskedColumns);
  return out;
}

Result<RevokeReport> PostgresProvider::revoke(const RevokeInput& in) {
  auto conn = connect(in.access);
  if (!conn) return fail(conn.error());
  const Quoter& q = conn->quoter();
  RevokeReport report;
  auto found = conn->run(roleExists(in.role));
  if (!found) return fail(found.error());
  report.roleExisted = !found->empty() && toInt((*found)[0][0]) > 0;
  if (report.roleExisted) {
    // No new login from here on (committed at the end of this round trip), and every session
    // signalled. Sessions are found by role name, which only works while the role exists:
    // every one must have exited before the role is dropped.
    auto first = conn->runAll({disableLogin(q, in.role), terminateSessions(in.role)});
    if (!first && first.error().code != ErrorCode::NotFound) return fail(first.error());
    if (first && !first->at(1).empty()) report.sessionsTerminated = toInt(first->at(1)[0][1]);
    auto waited = std::chrono::milliseconds(0);
    auto pause = std::chrono::milliseconds(1);
    for (;;) {
      auto left = conn->run(terminateSessions(in.role));
      if (!left) return fail(left.error());
      if (left->empty() || toInt((*left)[0][0]) == 0) break;
      if (waited >= std::chrono::milliseconds(options_.terminateWaitMs)) {
        return fail(ErrorCode::Unavailable,
                    fmt::format("database {}: {} sessions of role {} did not end within {} ms "
                                "(login is disabled; will retry)",
                                in.access.target, (*left)[0][0], in.role,
                                options_.terminateWaitMs));
      }
      std::this_thread::sleep_for(pause);
      waited += pause;
      pause = std::min(pause * 2, std::chrono::milliseconds(20));
    }
    // DROP OWNED BY revokes every privilege of the role in this database and drops what it
    // owns; then the role itself. A concurrent revoke may have dropped it already (NotFound).
    auto dropped = conn->runAll({begin(), dropOwned(q, in.role), dropRole(q, in.role), commit()});
    if (!dropped && dropped.error().code != ErrorCode::NotFound) return fail(dropped.error());
  }
  auto state = stateOf(*conn, in.role);
  if (!state) return fail(state.error());
  if (!state->gone()) {
    return fail(ErrorCode::Unavailable,
                fmt::format("database {}: role {} is not gone after revoke (role exists: {}, "
                            "sessions: {}); will retry",
                            in.access.target, in.role, state->exists, state->sessions));
  }
  return report;
}

Result<RoleState> PostgresProvider::inspect(const TargetAccess& access, const std::string& role) {
  auto conn = connect(access);
  if (!conn) return fail(conn.error());
  return stateOf(*conn, role);
}

Result<std::vector<DatabaseRole>> PostgresProvider::listRoles(const TargetAccess& access) {
  auto conn = connect(access);
  if (!conn) return fail(conn.error());
  auto rows = conn->run(database::listRoles());
  if (!rows) return fail(rows.error());
  std::vector<DatabaseRole> out;
  out.reserve(rows->size());
  for (const auto& r : *rows) {
    DatabaseRole role{r[0], std::nullopt, r[2], toInt(r[3])};
    if (!r[1].empty()) role.validUntil = parseRfc3339(r[1]);
    out.push_back(std::move(role));
  }
  return out;
}

Result<ReapplyReport> PostgresProvider::reapplyProfile(const ReapplyInput& in) {
  auto conn = connect(in.access);
  if (!conn) return fail(conn.error());
  ReapplyReport report;
  auto snapshot = lockAndPlan(*conn, in.profile, "");
  if (!snapshot) return fail(snapshot.error());
  std::vector<Statement> statements;
  auto views = viewStatements(*conn, snapshot->plan, statements);
  if (!views) return fail(views.error());
  report.viewsRecreated = *views;
  const Quoter& q = conn->quoter();
  std::vector<Statement> lookups;
  for (const auto& role : in.roles) lookups.push_back(roleExists(role));
  auto found = conn->runAll(lookups);
  if (!found) return fail(found.error());
  for (size_t i = 0; i < in.roles.size(); ++i) {
    if ((*found)[i].empty() || toInt((*found)[i][0][0]) == 0) continue;  // gone: nothing to do
    ++report.rolesUpdated;
    statements.push_back(dropOwned(q, in.roles[i]));
    for (auto& st : grantStatements(q, snapshot->plan, in.roles[i], in.auditStatements)) {
      statements.push_back(std::move(st));
    }
  }
  statements.push_back(commit());
  if (auto r = conn->runAll(statements); !r) return fail(r.error());
  return report;
}

}  // namespace kubegrant::database::postgres
