#include "controllers/database/testing/fake_provider.h"

#include <fmt/format.h>

#include "controllers/database/credentials.h"

namespace kubegrant::database::testing {

std::optional<Error> FakeProvider::take(Op op, std::string call) {
  calls_.push_back(std::move(call));
  if (down_) return makeError(ErrorCode::Unavailable, "database unreachable (fake: down)");
  auto it = failures_.find(op);
  if (it == failures_.end()) return std::nullopt;
  Error e = std::move(it->second);
  failures_.erase(it);
  return e;
}

Result<IssuedUser> FakeProvider::issue(const IssueInput& input) {
  std::lock_guard lock(mu_);
  if (auto e = take(Op::Issue, "issue " + input.role)) return fail(*e);
  IssuedUser out;
  out.role = input.role;
  out.reissued = roles_.contains(input.role);
  out.password = SecretString(fmt::format("fake-password-{}", ++passwords_));
  for (const auto& g : input.profile.grants) {
    out.tablesGranted += static_cast<int>(g.tables.size());
  }
  auto columns = profileColumns(input.profile);
  out.withheld = std::move(columns.withheld);
  out.maskedColumns = std::move(columns.masked);
  Role& role = roles_[input.role];
  role.profile = input.profile.name;
  role.expiresAt = input.expiresAt;
  role.connectionLimit = input.connectionLimit;
  role.auditStatements = input.auditStatements;
  role.comment = input.comment;
  return out;
}

Result<RevokeReport> FakeProvider::revoke(const RevokeInput& input) {
  std::lock_guard lock(mu_);
  if (auto e = take(Op::Revoke, "revoke " + input.role)) return fail(*e);
  RevokeReport out;
  if (auto it = roles_.find(input.role); it != roles_.end()) {
    out.roleExisted = true;
    out.sessionsTerminated = it->second.sessions;
    roles_.erase(it);
  }
  return out;
}

Result<RoleState> FakeProvider::inspect(const TargetAccess&, const std::string& role) {
  std::lock_guard lock(mu_);
  if (auto e = take(Op::Inspect, "inspect " + role)) return fail(*e);
  auto it = roles_.find(role);
  if (it == roles_.end()) return RoleState{};
  return RoleState{true, it->second.sessions};
}

Result<std::vector<DatabaseRole>> FakeProvider::listRoles(const TargetAccess&) {
  std::lock_guard lock(mu_);
  if (auto e = take(Op::ListRoles, "listRoles")) return fail(*e);
  std::vector<DatabaseRole> out;
  for (const auto& [name, role] : roles_) {
    out.push_back(DatabaseRole{name, role.expiresAt, role.comment, role.sessions});
  }
  return out;
}

void FakeProvider::closeIdleConnections() {
  std::lock_guard lock(mu_);
  calls_.push_back("closeIdleConnections");
}

Result<ReapplyReport> FakeProvider::reapplyProfile(const ReapplyInput& input) {
  std::lock_guard lock(mu_);
  if (auto e = take(Op::Reapply, "reapply " + input.profile.name)) return fail(*e);
  ReapplyReport out;
  for (const auto& r : input.roles) {
    if (auto it = roles_.find(r); it != roles_.end()) {
      it->second.profile = input.profile.name;
      it->second.auditStatements = input.auditStatements;
      ++out.rolesUpdated;
    }
  }
  return out;
}

void FakeProvider::failNext(Op op, Error error) {
  std::lock_guard lock(mu_);
  failures_[op] = std::move(error);
}

void FakeProvider::setDown(bool down) {
  std::lock_guard lock(mu_);
  down_ = down;
}

void FakeProvider::addRole(const std::string& name, Role role) {
  std::lock_guard lock(mu_);
  roles_[name] = std::move(role);
}

void FakeProvider::openSession(const std::string& role) {
  std::lock_guard lock(mu_);
  ++roles_[role].sessions;
}

std::map<std::string, FakeProvider::Role> FakeProvider::roles() const {
  std::lock_guard lock(mu_);
  return roles_;
}

std::vector<std::string> FakeProvider::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

}  // namespace kubegrant::database::testing
