#pragma once

// An in-memory CredentialProvider for unit tests of the reconciler: it keeps roles in a map,
// records every call, and fails on demand (one call, or everything while "down").
// Passwords are deterministic ("fake-password-<n>") so tests can look for them in outputs.

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controllers/database/provider.h"

namespace kubegrant::database::testing {

class FakeProvider final : public CredentialProvider {
 public:
  struct Role {
    std::string profile;
    TimePoint expiresAt{};
    std::optional<int32_t> connectionLimit;
    bool auditStatements = false;
    std::string comment;
    int sessions = 0;
  };
  enum class Op { Issue, Revoke, Inspect, ListRoles, Reapply };

  Result<IssuedUser> issue(const IssueInput& input) override;
  Result<RevokeReport> revoke(const RevokeInput& input) override;
  Result<RoleState> inspect(const TargetAccess& access, const std::string& role) override;
  Result<std::vector<DatabaseRole>> listRoles(const TargetAccess& access) override;
  Result<ReapplyReport> reapplyProfile(const ReapplyInput& input) override;
  void closeIdleConnections() override;

  // The next call of `op` fails with `error` (once).
  void failNext(Op op, Error error);
  // While down, every call fails with Unavailable (the database is unreachable).
  void setDown(bool down);
  // Adds a role as if created outside a request (an orphan), or a session of an issued role.
  void addRole(const std::string& name, Role role);
  void addRole(const std::string& name) { addRole(name, Role()); }
  void openSession(const std::string& role);

  std::map<std::string, Role> roles() const;
  // "issue kg_...", "revoke kg_...", "inspect kg_...", "listRoles", "reapply <profile>",
  // "closeIdleConnections".
  std::vector<std::string> calls() const;

 private:
  std::optional<Error> take(Op op, std::string call);

  mutable std::mutex mu_;
  std::map<std::string, Role> roles_;
  std::vector<std::string> calls_;
  std::map<Op, Error> failures_;
  bool down_ = false;
  int passwords_ = 0;
};

}  // namespace kubegrant::database::testing
