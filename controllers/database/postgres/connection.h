#pragma once

// One libpq connection to a target's database as its admin, opened per provider call and
// closed when it goes out of scope (an open transaction is rolled back by the server then).
// Errors never carry statement text: they name the statement's `what`, the server's primary
// message (not for secret statements) and the SQLSTATE.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "controllers/database/postgres/libpq.h"
#include "controllers/database/provider.h"
#include "controllers/database/sql.h"

namespace kubegrant::database::postgres {

// Identifier and literal quoting by libpq on the live connection (PQescapeIdentifier,
// PQescapeLiteral), which also refuse byte sequences invalid in the client encoding; should
// that happen, the same rule in plain C++ (StandardQuoter) is used and the server rejects the
// invalid bytes.
class PostgresQuoter final : public Quoter {
 public:
  PostgresQuoter(const Libpq& lib, PGconn* conn) : lib_(lib), conn_(conn) {}
  std::string identifier(std::string_view name) const override;
  std::string literal(std::string_view value) const override;

 private:
  const Libpq& lib_;
  PGconn* conn_;
};

using Row = std::vector<std::string>;

class Connection {
 public:
  // Connects with the target's sslMode (and `caFile` as sslrootcert when not empty), the
  // access's connect timeout, and statement_timeout / lock_timeout /
  // idle_in_transaction_session_timeout set to its statement timeout for the session.
  // With `idleSessionTimeout`, the server closes the session when it stays idle that long
  // (for pooled connections).
  [[nodiscard]] static Result<Connection> open(
      const TargetAccess& access, const std::string& caFile,
      std::optional<std::chrono::milliseconds> idleSessionTimeout = std::nullopt);

  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;

  // One statement (PQexecParams, text parameters); the rows of its result.
  [[nodiscard]] Result<std::vector<Row>> run(const Statement& statement);
  // Statements in order, in one round trip (libpq pipeline mode); the rows of each. After the
  // first error the server skips the rest (one transaction's statements stay all or nothing),
  // and that error is returned.
  [[nodiscard]] Result<std::vector<std::vector<Row>>> runAll(
      const std::vector<Statement>& statements);
  // runAll in two halves, to do local work while the server runs the statements: send() them,
  // then receive() their results (the same statements, for their descriptions).
  [[nodiscard]] Result<void> send(const std::vector<Statement>& statements);
  [[nodiscard]] Result<std::vector<std::vector<Row>>> receive(
      const std::vector<Statement>& statements);
  // The SCRAM-SHA-256 verifier of `password` for `role` (PQencryptPasswordConn), computed
  // here so the plain password never reaches the server, its logs or pg_stat_activity.
  [[nodiscard]] Result<std::string> scramVerifier(const SecretString& password,
                                                  const std::string& role);

  const Quoter& quoter() const { return *quoter_; }
  // Connected and outside any transaction: fit to be reused.
  bool idle() const;
  // The connection is gone (server closed it, network error).
  bool broken() const;

 private:
  struct Closer {
    const Libpq* lib;
    void operator()(PGconn* c) const;
  };
  Connection(LibpqRef lib, std::unique_ptr<PGconn, Closer> conn, std::string target);
  Result<std::vector<Row>> check(PGresult* result, const std::string& what, bool secret);
  Result<void> lost(const std::string& what);

  LibpqRef lib_;  // first: released after the connection is finished
  std::unique_ptr<PGconn, Closer> conn_;
  std::unique_ptr<PostgresQuoter> quoter_;
  std::string target_;
};

}  // namespace kubegrant::database::postgres
