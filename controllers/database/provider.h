#pragma once

// The credential provider: what the AccessRequest reconciler asks of a database, as typed
// inputs and outputs. The reconciler's plan decides; a provider does the I/O.
// postgres/ implements it over libpq (the only code that includes libpq);
// testing/fake_provider.h is an in-memory fake for unit tests of the reconciler.
//
// Guarantees every implementation gives:
// - issue() is all or nothing: the role, its password, its expiry and every grant are created
//   in one transaction, or nothing is. Issuing the same role again (a retry after a crash)
//   converges: same name, a new password, the profile's grants exactly.
// - revoke() ends the role for good: no new logins, every session terminated, every
//   privilege and owned object dropped, the role dropped, then checked gone. It is idempotent
//   and safe for a role that was never (or only partly) issued.
// - No password or password verifier appears in an Error message, and nothing here logs.
// - Every call has a connect timeout and a statement timeout. Connections held between calls,
//   if any, are an implementation's deliberate choice, documented there (postgres/ keeps a
//   small pool: connection_pool.h).

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "crds/v1alpha1/types.h"
#include "operator/common/clock.h"
#include "operator/common/result.h"
#include "operator/common/secret.h"

namespace kubegrant::database {

// How to reach a target's database as its admin (from the DatabaseTarget and the Secrets its
// adminSecretRef and caSecretRef name).
struct TargetAccess {
  std::string target;  // DatabaseTarget name, for messages
  std::string host;
  int32_t port = 5432;
  std::string database;
  std::string sslMode = "require";
  std::string caCertPem;  // empty: none (the system CAs, for verify-*)
  std::string adminUser;
  SecretString adminPassword;
  std::chrono::milliseconds connectTimeout{5000};
  std::chrono::milliseconds statementTimeout{5000};
};

struct IssueInput {
  TargetAccess access;
  std::string role;  // roleNameFor(request UID, target)
  TimePoint expiresAt{};
  std::optional<int32_t> connectionLimit;
  v1alpha1::DatabaseProfile profile;
  bool auditStatements = false;
  // Kept as the role's COMMENT, so a database admin can map the role to its request.
  std::string comment;
};

struct IssuedUser {
  std::string role;
  SecretString password;  // the only place it exists; goes into the request's Secret
  bool reissued = false;  // the role existed already (a retry): converged
  int tablesGranted = 0;
  std::vector<std::string> withheld;       // schema.table.column
  std::vector<std::string> maskedColumns;  // schema.table.column (function)
};

struct RevokeInput {
  TargetAccess access;
  std::string role;
};

struct RevokeReport {
  bool roleExisted = false;
  int sessionsTerminated = 0;
};

// What the database has of one role.
struct RoleState {
  bool exists = false;
  int sessions = 0;
  bool gone() const { return !exists && sessions == 0; }
};

// A login role with the kg_ prefix found in the database.
struct DatabaseRole {
  std::string name;
  std::optional<TimePoint> validUntil;
  std::string comment;
  int sessions = 0;
};

struct ReapplyInput {
  TargetAccess access;
  v1alpha1::DatabaseProfile profile;
  std::vector<std::string> roles;  // the active issued roles of this profile
  bool auditStatements = false;
};

struct ReapplyReport {
  int rolesUpdated = 0;  // roles of the input that exist (missing ones are skipped)
  int viewsRecreated = 0;
};

class CredentialProvider {
 public:
  virtual ~CredentialProvider() = default;

  // Creates (or converges) the login role with the profile's grants and returns its password.
  // Invalid when the profile names a table that does not exist; Unavailable/Timeout when the
  // database cannot be reached (retry); Forbidden when the admin lacks a privilege.
  [[nodiscard]] virtual Result<IssuedUser> issue(const IssueInput& input) = 0;

  // Ends the role (see the guarantees above), then checks it: an error when anything of it
  // remains, so the caller retries.
  [[nodiscard]] virtual Result<RevokeReport> revoke(const RevokeInput& input) = 0;

  // Reads whether the role exists and how many sessions it has ("verify gone").
  [[nodiscard]] virtual Result<RoleState> inspect(const TargetAccess& access,
                                                  const std::string& role) = 0;

  // Every kg_ role of the database server; the caller decides which belong to no live request
  // (roles are cluster-wide, so every target on the same server lists the same roles).
  [[nodiscard]] virtual Result<std::vector<DatabaseRole>> listRoles(const TargetAccess& access) = 0;

  // After a DatabaseTarget change: re-creates the profile's masking views and re-applies its
  // grants to each active role, in one transaction.
  [[nodiscard]] virtual Result<ReapplyReport> reapplyProfile(const ReapplyInput& input) = 0;
  // Closes whatever it holds between calls (never a connection a call is using). The sweeper
  // calls it after each pass, so a quiet operator holds no database connection (and
  // postgres/ no libpq, issue 15); the next call connects again.
  virtual void closeIdleConnections() {}
};

}  // namespace kubegrant::database
