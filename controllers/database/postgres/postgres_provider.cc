#include "controllers/database/postgres/postgres_provider.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
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

// What issue and reapply read first, in one round trip: the catalog (planned), the profile
// role and, for issue, the user role and its memberships.
struct Snapshot {
  GrantPlan plan;
  bool profileRoleExists = false;
  bool profileCurrent = false;  // the profile role's grants and views match the plan
  bool userExists = false;
  std::vector<std::string> userMemberOf;
};

// `head` statements go first in the same round trip (BEGIN, locks); `meanwhile` runs while the
// server works.
Result<Snapshot> snapshot(Connection& conn, const v1alpha1::DatabaseProfile& profile,
                          const std::string& profileRole, const std::string& user,
                          std::vector<Statement> head,
                          const std::function<Result<void>()>& meanwhile = {}) {
  const size_t at = head.size();
  head.push_back(catalogQuery(catalogSchemasOf(profile), columnTablesOf(profile)));
  head.push_back(profileRoleState(profileRole));
  if (!user.empty()) {
    head.push_back(roleExists(user));
    head.push_back(memberships(user));
  }
  if (auto sent = conn.send(head); !sent) return fail(sent.error());
  if (meanwhile) {
    if (auto r = meanwhile(); !r) return fail(r.error());
  }
  auto results = conn.receive(head);
  if (!results) return fail(results.error());
  // Statements without rows (BEGIN, locks return one row each) keep their slot: index by `at`.
  auto plan = planGrants(profile, toCatalog((*results)[at]));
  if (!plan) return fail(plan.error());
  Snapshot out;
  out.plan = std::move(*plan);
  const auto& role = (*results)[at + 1];
  out.profileRoleExists = !role.empty() && toInt(role[0][0]) > 0;
  out.profileCurrent = out.profileRoleExists && role[0][1] == "kubegrant:" + out.plan.fingerprint &&
                       std::all_of(out.plan.views.begin(), out.plan.views.end(),
                                   [](const MaskView& v) { return v.current; });
  if (!user.empty()) {
    const auto& u = (*results)[at + 2];
    out.userExists = !u.empty() && toInt(u[0][0]) > 0;
    for (const auto& r : (*results)[at + 3]) out.userMemberOf.push_back(r[0]);
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

// Brings the profile role up to the plan (under the profile lock, taken by the caller):
// missing or outdated views re-created, the role created or stripped (DROP OWNED BY) and
// granted the plan, its comment set to the plan's fingerprint.
Result<int> profileStatements(Connection& conn, const Snapshot& snap,
                              const std::string& profileRole, std::vector<Statement>& out) {
  auto views = viewStatements(conn, snap.plan, out);
  if (!views) return fail(views.error());
  const Quoter& q = conn.quoter();
  if (snap.profileRoleExists) {
    out.push_back(dropOwned(q, profileRole));
  } else {
    out.push_back(createProfileRole(q, profileRole));
    out.push_back(grantRoleToAdmin(q, profileRole));
  }
  for (auto& st : profileGrantStatements(q, snap.plan, profileRole)) out.push_back(std::move(st));
  out.push_back(commentOnRole(q, profileRole, "kubegrant:" + snap.plan.fingerprint));
  return views;
}

Result<RoleState> stateOf(Connection& conn, const std::string& role) {
  auto rows = conn.run(roleState(role));
  if (!rows) return fail(rows.error());
  if (rows->empty()) return RoleState{};
  return RoleState{toInt((*rows)[0][0]) > 0, toInt((*rows)[0][1])};
}

}  // namespace

PostgresProvider::PostgresProvider(Options options)
    : options_(std::move(options)),
      pool_(ConnectionPool::Options{options_.maxIdleConnectionsPerTarget,
                                    options_.maxConnectionIdle}) {
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

template <typename T, typename F>
Result<T> PostgresProvider::withConnection(const TargetAccess& access, F&& fn) {
  auto ca = caFileFor(access.caCertPem);
  if (!ca) return fail(ca.error());
  for (int attempt = 0;; ++attempt) {
    auto lease = pool_.acquire(access, *ca, /*fresh=*/attempt > 0);
    if (!lease) return fail(lease.error());
    Result<T> result = fn(lease->conn);
    if (result) {
      pool_.release(std::move(*lease));
      return result;
    }
    if (attempt > 0 || !lease->pooled || !lease->conn.broken()) return result;
  }
}

Result<IssuedUser> PostgresProvider::issue(const IssueInput& in) {
  return withConnection<IssuedUser>(in.access, [&](Connection& conn) { return issueOn(conn, in); });
}

Result<IssuedUser> PostgresProvider::issueOn(Connection& conn, const IssueInput& in) {
  auto password = randomUrlSafe(kPasswordBytes);
  if (!password) return fail(password.error());
  IssuedUser out;
  out.role = in.role;
  out.password = SecretString(std::move(*password));

  // One transaction: on any error it is left open and rolled back (the connection is then
  // closed, never pooled): nothing is half-granted. Usually two round trips: the snapshot,
  // then everything else; a third and fourth when the profile role must be brought up to date
  // first, under the profile's lock (double-checked, so concurrent issuers update it once).
  const std::string profileRole = profileRoleName(in.access.database, in.profile.name);
  std::string verifier;
  auto snap = snapshot(conn, in.profile, profileRole, in.role,
                       {begin(), advisoryLock("kubegrant_role:" + in.role)},
                       [&]() -> Result<void> {  // 4096 PBKDF2 rounds, while the server reads
                         auto v = conn.scramVerifier(out.password, in.role);
                         if (!v) return fail(v.error());
                         verifier = std::move(*v);
                         return ok();
                       });
  if (!snap) return fail(snap.error());
  std::vector<Statement> statements;
  if (!snap->profileCurrent) {
    auto locked = conn.run(advisoryLock("kubegrant_profile:" + profileRole));
    if (!locked) return fail(locked.error());
    auto again = snapshot(conn, in.profile, profileRole, in.role, {});
    if (!again) return fail(again.error());
    snap = std::move(again);
    if (!snap->profileCurrent) {
      if (auto r = profileStatements(conn, *snap, profileRole, statements); !r) {
        return fail(r.error());
      }
    }
  }
  auto& plan = snap->plan;
  out.reissued = snap->userExists;

  const Quoter& q = conn.quoter();
  const RoleOptions options{in.role, verifier, in.expiresAt, in.connectionLimit};
  if (out.reissued) {
    // Converge: the same role with a new password and exactly this profile.
    statements.push_back(alterRole(q, options));
    statements.push_back(grantRoleToAdmin(q, in.role));
    statements.push_back(dropOwned(q, in.role));
    for (const auto& other : snap->userMemberOf) {
      if (other != profileRole) statements.push_back(revokeMembership(q, other, in.role));
    }
  } else {
    statements.push_back(createRole(q, options));
    statements.push_back(grantRoleToAdmin(q, in.role));
  }
  if (!in.comment.empty()) statements.push_back(commentOnRole(q, in.role, in.comment));
  for (auto& st : userStatements(q, plan, in.role, profileRole, in.auditStatements)) {
    statements.push_back(std::move(st));
  }
  statements.push_back(commit());
  if (auto r = conn.runAll(statements); !r) return fail(r.error());

  out.tablesGranted = static_cast<int>(plan.tables.size() + plan.views.size());
  out.withheld = std::move(plan.withheld);
  out.maskedColumns = std::move(plan.maskedColumns);
  return out;
}

Result<RevokeReport> PostgresProvider::revoke(const RevokeInput& in) {
  return withConnection<RevokeReport>(in.access,
                                      [&](Connection& conn) { return revokeOn(conn, in); });
}

Result<RevokeReport> PostgresProvider::revokeOn(Connection& conn, const RevokeInput& in) {
  const Quoter& q = conn.quoter();
  RevokeReport report;
  auto found = conn.run(roleExists(in.role));
  if (!found) return fail(found.error());
  report.roleExisted = !found->empty() && toInt((*found)[0][0]) > 0;
  if (report.roleExisted) {
    // No new login from here on (committed at the end of this round trip), and every session
    // signalled. Sessions are found by role name, which only works while the role exists:
    // every one must have exited before the role is dropped.
    auto first = conn.runAll({disableLogin(q, in.role), terminateSessions(in.role)});
    if (!first && first.error().code != ErrorCode::NotFound) return fail(first.error());
    if (first && !first->at(1).empty()) report.sessionsTerminated = toInt(first->at(1)[0][1]);
    auto waited = std::chrono::milliseconds(0);
    auto pause = std::chrono::milliseconds(1);
    for (;;) {
      auto left = conn.run(terminateSessions(in.role));
      if (!left) return fail(left.error());
      if (left->empty() || toInt((*left)[0][0]) == 0) break;
      if (waited >= std::chrono::milliseconds(options_.terminateWaitMs)) {
        return fail(
            ErrorCode::Unavailable,
            fmt::format("database {}: {} sessions of role {} did not end within {} ms "
                        "(login is disabled; will retry)",
                        in.access.target, (*left)[0][0], in.role, options_.terminateWaitMs));
      }
      std::this_thread::sleep_for(pause);
      waited += pause;
      pause = std::min(pause * 2, std::chrono::milliseconds(20));
    }
    // DROP OWNED BY revokes every privilege of the role in this database and drops what it
    // owns; then the role itself. A concurrent revoke may have dropped it already (NotFound).
    auto dropped = conn.runAll({begin(), dropOwned(q, in.role), dropRole(q, in.role), commit()});
    if (!dropped && dropped.error().code != ErrorCode::NotFound) return fail(dropped.error());
  }
  auto state = stateOf(conn, in.role);
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
  return withConnection<RoleState>(access, [&](Connection& conn) { return stateOf(conn, role); });
}

Result<std::vector<DatabaseRole>> PostgresProvider::listRoles(const TargetAccess& access) {
  return withConnection<std::vector<DatabaseRole>>(
      access, [&](Connection& conn) -> Result<std::vector<DatabaseRole>> {
        auto rows = conn.run(database::listRoles());
        if (!rows) return fail(rows.error());
        std::vector<DatabaseRole> out;
        out.reserve(rows->size());
        for (const auto& r : *rows) {
          DatabaseRole role{r[0], std::nullopt, r[2], toInt(r[3])};
          if (!r[1].empty()) role.validUntil = parseRfc3339(r[1]);
          out.push_back(std::move(role));
        }
        return out;
      });
}

Result<ReapplyReport> PostgresProvider::reapplyProfile(const ReapplyInput& in) {
  return withConnection<ReapplyReport>(
      in.access, [&](Connection& conn) { return reapplyProfileOn(conn, in); });
}

Result<ReapplyReport> PostgresProvider::reapplyProfileOn(Connection& conn, const ReapplyInput& in) {
  ReapplyReport report;
  const std::string profileRole = profileRoleName(in.access.database, in.profile.name);
  auto snap = snapshot(conn, in.profile, profileRole, "",
                       {begin(), advisoryLock("kubegrant_profile:" + profileRole)});
  if (!snap) return fail(snap.error());
  std::vector<Statement> statements;
  auto views = profileStatements(conn, *snap, profileRole, statements);
  if (!views) return fail(views.error());
  report.viewsRecreated = *views;
  const Quoter& q = conn.quoter();
  std::vector<Statement> lookups;
  for (const auto& role : in.roles) lookups.push_back(roleExists(role));
  auto found = conn.runAll(lookups);
  if (!found) return fail(found.error());
  for (size_t i = 0; i < in.roles.size(); ++i) {
    if ((*found)[i].empty() || toInt((*found)[i][0][0]) == 0) continue;  // gone: nothing to do
    ++report.rolesUpdated;
    for (auto& st : userStatements(q, snap->plan, in.roles[i], profileRole, in.auditStatements)) {
      statements.push_back(std::move(st));
    }
  }
  statements.push_back(commit());
  if (auto r = conn.runAll(statements); !r) return fail(r.error());
  return report;
}

}  // namespace kubegrant::database::postgres
