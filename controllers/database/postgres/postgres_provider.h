#pragma once

// CredentialProvider over libpq (see ../provider.h for the guarantees).
//
// Connections: a small deliberate pool of admin connections per target (connection_pool.h
// says why and what keeps it safe), each used by one call at a time; Options can turn it off.

#include <filesystem>
#include <mutex>
#include <string>

#include "controllers/database/postgres/connection_pool.h"
#include "controllers/database/provider.h"

namespace kubegrant::database::postgres {

class PostgresProvider final : public CredentialProvider {
 public:
  struct Options {
    // Where CA certificates from caSecretRef are written for libpq's sslrootcert (one file
    // per distinct certificate, named by its hash). Empty: <temp dir>/kubegrant-pg-ca.
    std::filesystem::path caDir;
    // How long revoke waits for the terminated sessions of a role to exit.
    int terminateWaitMs = 2000;
    // Admin connections kept for reuse (see connection_pool.h); 0 = connect on every call.
    size_t maxIdleConnectionsPerTarget = 4;
    std::chrono::milliseconds maxConnectionIdle{30000};
  };
  PostgresProvider() : PostgresProvider(Options()) {}
  explicit PostgresProvider(Options options);

  Result<IssuedUser> issue(const IssueInput& input) override;
  Result<RevokeReport> revoke(const RevokeInput& input) override;
  Result<RoleState> inspect(const TargetAccess& access, const std::string& role) override;
  Result<std::vector<DatabaseRole>> listRoles(const TargetAccess& access) override;
  Result<ReapplyReport> reapplyProfile(const ReapplyInput& input) override;
  void closeIdleConnections() override { pool_.closeIdle(); }

 private:
  Result<std::string> caFileFor(const std::string& pem);
  // Runs `fn` on a pooled or new connection; once more on a fresh one when a pooled
  // connection turns out dead (every operation is idempotent, so a rerun converges).
  template <typename T, typename F>
  Result<T> withConnection(const TargetAccess& access, F&& fn);
  Result<IssuedUser> issueOn(Connection& conn, const IssueInput& in);
  Result<RevokeReport> revokeOn(Connection& conn, const RevokeInput& in);
  Result<ReapplyReport> reapplyProfileOn(Connection& conn, const ReapplyInput& in);

  Options options_;
  ConnectionPool pool_;
  std::mutex caMu_;
};

}  // namespace kubegrant::database::postgres
