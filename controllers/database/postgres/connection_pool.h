#pragma once

// A small pool of admin connections per target, used deliberately: a new connection is a TLS
// handshake, a SCRAM exchange and a backend fork, about half of what an issue or revoke costs
// (bench/README.md, "database provider"), and an expiry storm revokes hundreds of roles at
// once. What makes holding them safe:
// - a connection is checked out by one call at a time and goes back only when that call
//   succeeded and left no transaction open; anything else is closed;
// - an idle connection older than `maxIdle` is closed instead of reused, and the server itself
//   closes sessions idle for longer (idle_session_timeout, set at connect), so nothing lingers
//   on the database when the operator goes quiet;
// - the key includes the admin password and CA, so a rotated credential never reuses an old
//   connection;
// - a call whose pooled connection turns out dead (database restarted) is retried once on a
//   fresh connection by the provider, so a database coming back works on the first try.
// - closeIdle() empties it (the sweeper does after each pass): a quiet operator holds no
//   connection, and with the last one closed libpq is unloaded (libpq.h);
// maxIdlePerTarget = 0 turns pooling off: every call connects and disconnects.

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controllers/database/postgres/connection.h"

namespace kubegrant::database::postgres {

class ConnectionPool {
 public:
  struct Options {
    size_t maxIdlePerTarget = 4;
    std::chrono::milliseconds maxIdle{30000};
  };
  explicit ConnectionPool(Options options) : options_(options) {}

  struct Lease {
    Connection conn;
    std::string key;
    bool pooled = false;  // reused from the pool (may have died while idle)
  };

  // A pooled connection for `access` when one is idle and fresh enough (unless `fresh`),
  // otherwise a new one.
  [[nodiscard]] Result<Lease> acquire(const TargetAccess& access, const std::string& caFile,
                                      bool fresh);
  // Back to the pool if still clean and there is room; closed otherwise.
  void release(Lease lease);
  // Closes every idle connection (none checked out is touched); how many it closed.
  size_t closeIdle();

  size_t idleCount() const;

 private:
  struct Idle {
    Connection conn;
    std::chrono::steady_clock::time_point since;
  };
  Options options_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<Idle>> idle_;
};

}  // namespace kubegrant::database::postgres
