#pragma once

// CredentialProvider over libpq (see ../provider.h for the guarantees).
//
// Connections: one per call, closed before returning. A call is a handful of round trips,
// and a revoke must work on the first try after the database comes back, so no connection
// is pooled: nothing stale to detect, no admin session idling on the server between
// reconciles, and the cost (a TLS handshake and SCRAM exchange, a few milliseconds on
// loopback) is measured in bench/README.md ("database provider").

#include <filesystem>
#include <mutex>
#include <string>

#include "controllers/database/provider.h"

namespace kubegrant::database::postgres {

class Connection;

class PostgresProvider final : public CredentialProvider {
 public:
  struct Options {
    // Where CA certificates from caSecretRef are written for libpq's sslrootcert (one file
    // per distinct certificate, named by its hash). Empty: <temp dir>/kubegrant-pg-ca.
    std::filesystem::path caDir;
    // How long revoke waits for the terminated sessions of a role to exit.
    int terminateWaitMs = 2000;
  };
  PostgresProvider() : PostgresProvider(Options{}) {}
  explicit PostgresProvider(Options options);

  Result<IssuedUser> issue(const IssueInput& input) override;
  Result<RevokeReport> revoke(const RevokeInput& input) override;
  Result<RoleState> inspect(const TargetAccess& access, const std::string& role) override;
  Result<std::vector<DatabaseRole>> listRoles(const TargetAccess& access) override;
  Result<ReapplyReport> reapplyProfile(const ReapplyInput& input) override;

 private:
  Result<std::string> caFileFor(const std::string& pem);
  Result<Connection> connect(const TargetAccess& access);

  Options options_;
  std::mutex caMu_;
};

}  // namespace kubegrant::database::postgres
