#include "controllers/database/postgres/connection.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace kubegrant::database::postgres {

namespace {

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  std::replace(out.begin(), out.end(), '\n', ' ');
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

ErrorCode codeFor(std::string_view sqlstate) {
  if (sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" ||
      sqlstate == "57P03" || sqlstate == "53300") {
    return ErrorCode::Unavailable;  // connection lost, server shutting down, too many clients
  }
  if (sqlstate == "57014" || sqlstate == "55P03") return ErrorCode::Timeout;
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "42710" || sqlstate == "XX000") {
    return ErrorCode::Conflict;  // serialization, deadlock, concurrent catalog update
  }
  if (sqlstate == "42501") return ErrorCode::Forbidden;
  if (sqlstate == "42704") return ErrorCode::NotFound;
  if (sqlstate.starts_with("42") || sqlstate.starts_with("22") || sqlstate == "3F000") {
    return ErrorCode::Invalid;
  }
  return ErrorCode::Internal;
}

// What a secret statement's error is, from its SQLSTATE alone.
std::string conditionName(std::string_view sqlstate) {
  if (sqlstate == "42501") return "permission denied";
  if (sqlstate == "42710") return "already exists";
  if (sqlstate == "42704") return "does not exist";
  if (sqlstate == "42601") return "syntax error";
  if (sqlstate == "42602" || sqlstate == "42622") return "invalid name";
  if (sqlstate == "22007" || sqlstate == "22008") return "invalid time";
  return "failed";
}

// libpq prints NOTICEs (e.g. "schema ... already exists, skipping") to stderr by default; they
// carry nothing the caller needs.
void ignoreNotice(void*, const char*) {}

struct ResultCloser {
  const Libpq* lib;
  void operator()(PGresult* r) const { lib->PQclear(r); }
};

}  // namespace

void Connection::Closer::operator()(PGconn* c) const { lib->PQfinish(c); }

std::string PostgresQuoter::identifier(std::string_view name) const {
  char* q = lib_.PQescapeIdentifier(conn_, name.data(), name.size());
  if (!q) return StandardQuoter{}.identifier(name);
  std::string out(q);
  lib_.PQfreemem(q);
  return out;
}

std::string PostgresQuoter::literal(std::string_view value) const {
  char* q = lib_.PQescapeLiteral(conn_, value.data(), value.size());
  if (!q) return StandardQuoter{}.literal(value);
  std::string out(q);
  lib_.PQfreemem(q);
  return out;
}

Connection::Connection(LibpqRef lib, std::unique_ptr<PGconn, Closer> conn, std::string target)
    : lib_(std::move(lib)),
      conn_(std::move(conn)),
      quoter_(std::make_unique<PostgresQuoter>(*lib_, conn_.get())),
      target_(std::move(target)) {}

bool Connection::idle() const {
  return conn_ && lib_->PQstatus(conn_.get()) == CONNECTION_OK &&
         lib_->PQtransactionStatus(conn_.get()) == PQTRANS_IDLE;
}

bool Connection::broken() const { return !conn_ || lib_->PQstatus(conn_.get()) == CONNECTION_BAD; }

Result<Connection> Connection::open(const TargetAccess& a, const std::string& caFile,
                                    std::optional<std::chrono::milliseconds> idleSessionTimeout) {
  const auto statementMs = std::max<int64_t>(1, a.statementTimeout.count());
  // libpq's connect_timeout is whole seconds, and values below 2 are raised to 2.
  const auto connectS = std::max<int64_t>(2, (a.connectTimeout.count() + 999) / 1000);
  const std::string port = std::to_string(a.port);
  const std::string timeout = std::to_string(connectS);
  std::string options = fmt::format(
      "-c statement_timeout={0} -c lock_timeout={0} -c idle_in_transaction_session_timeout={0}",
      statementMs);
  if (idleSessionTimeout) {
    options += fmt::format(" -c idle_session_timeout={}", idleSessionTimeout->count());
  }
  // Each keyword next to its value, so the two lists handed to libpq cannot drift apart.
  std::vector<std::pair<const char*, const char*>> params = {
      {"host", a.host.c_str()},
      {"port", port.c_str()},
      {"dbname", a.database.c_str()},
      {"user", a.adminUser.c_str()},
      {"password", a.adminPassword.reveal().c_str()},
      {"sslmode", a.sslMode.c_str()},
      // Password authentication only: no Kerberos credential lookup before each connection.
      {"gssencmode", "disable"},
      {"connect_timeout", timeout.c_str()},
      {"options", options.c_str()},
      {"application_name", "kubegrant-operator"},
      {"client_encoding", "UTF8"}};
  if (!caFile.empty()) params.emplace_back("sslrootcert", caFile.c_str());
  std::vector<const char*> keys, values;
  for (const auto& [key, value] : params) {
    keys.push_back(key);
    values.push_back(value);
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  auto lib = loadLibpq();
  if (!lib) {
    return fail(lib.error().code, fmt::format("database {}: {}", a.target, lib.error().message));
  }
  const Libpq& pq = **lib;
  std::unique_ptr<PGconn, Closer> conn(pq.PQconnectdbParams(keys.data(), values.data(), 0),
                                       Closer{&pq});
  if (!conn) return fail(ErrorCode::Internal, "libpq could not allocate a connection");
  if (pq.PQstatus(conn.get()) != CONNECTION_OK) {
    std::string detail = trimmed(pq.PQerrorMessage(conn.get()));
    const bool auth = detail.find("authentication failed") != std::string::npos;
    return fail(auth ? ErrorCode::Unauthorized : ErrorCode::Unavailable,
                fmt::format("database {}: cannot connect to {}:{}/{} as {}: {}", a.target, a.host,
                            a.port, a.database, a.adminUser, detail));
  }
  pq.PQsetNoticeProcessor(conn.get(), ignoreNotice, nullptr);
  return Connection(std::move(*lib), std::move(conn), a.target);
}

Result<std::vector<Row>> Connection::check(PGresult* raw, const std::string& what, bool secret) {
  std::unique_ptr<PGresult, ResultCloser> res(raw, ResultCloser{lib_.get()});
  const ExecStatusType status = res ? lib_->PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY) return std::vector<Row>{};
  if (status == PGRES_TUPLES_OK) {
    std::vector<Row> rows;
    const int n = lib_->PQntuples(res.get());
    const int cols = lib_->PQnfields(res.get());
    rows.reserve(n);
    for (int i = 0; i < n; ++i) {
      Row row;
      row.reserve(cols);
      for (int c = 0; c < cols; ++c) row.emplace_back(lib_->PQgetvalue(res.get(), i, c));
      rows.push_back(std::move(row));
    }
    return rows;
  }
  const char* state = res ? lib_->PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
  if (!state || lib_->PQstatus(conn_.get()) == CONNECTION_BAD) {
    return fail(
        ErrorCode::Unavailable,
        fmt::format("database {}: {}: connection lost ({})", target_, what,
                    secret ? "details withheld" : trimmed(lib_->PQerrorMessage(conn_.get()))));
  }
  // The primary message of a secret statement could quote a piece of it (a syntax error
  // "at or near ..."): only its SQLSTATE is reported.
  std::string primary = secret
                            ? conditionName(state)
                            : trimmed(lib_->PQresultErrorField(res.get(), PG_DIAG_MESSAGE_PRIMARY));
  return fail(codeFor(state),
              fmt::format("database {}: {}: {} (SQLSTATE {})", target_, what, primary, state));
}

Result<std::vector<Row>> Connection::run(const Statement& s) {
  std::vector<const char*> params;
  params.reserve(s.params.size());
  for (const auto& p : s.params) params.push_back(p.c_str());
  return check(lib_->PQexecParams(conn_.get(), s.sql.c_str(), static_cast<int>(params.size()),
                                  nullptr, params.data(), nullptr, nullptr, 0),
               s.what, s.secret);
}

Result<void> Connection::lost(const std::string& what) {
  return fail(ErrorCode::Unavailable,
              fmt::format("database {}: {}: connection lost ({})", target_, what,
                          trimmed(lib_->PQerrorMessage(conn_.get()))));
}

Result<void> Connection::send(const std::vector<Statement>& statements) {
  PGconn* c = conn_.get();
  if (lib_->PQenterPipelineMode(c) != 1) return lost("enter pipeline mode");
  for (const auto& s : statements) {
    std::vector<const char*> params;
    params.reserve(s.params.size());
    for (const auto& p : s.params) params.push_back(p.c_str());
    if (lib_->PQsendQueryParams(c, s.sql.c_str(), static_cast<int>(params.size()), nullptr,
                                params.data(), nullptr, nullptr, 0) != 1) {
      return lost(s.what);
    }
  }
  if (lib_->PQpipelineSync(c) != 1) return lost("sync");
  return ok();
}

Result<std::vector<std::vector<Row>>> Connection::receive(
    const std::vector<Statement>& statements) {
  PGconn* c = conn_.get();
  // Every statement's result is read (so the connection stays usable), the first error kept;
  // the statements after it come back PGRES_PIPELINE_ABORTED.
  std::vector<std::vector<Row>> out;
  std::optional<Error> first;
  for (const auto& s : statements) {
    PGresult* r = lib_->PQgetResult(c);
    if (!r) return fail(lost(s.what).error());
    const bool aborted = lib_->PQresultStatus(r) == PGRES_PIPELINE_ABORTED;
    auto rows = check(r, s.what, s.secret);
    while (PGresult* extra = lib_->PQgetResult(c))
      lib_->PQclear(extra);  // NULL ends this statement
    if (aborted) continue;
    if (!rows) {
      if (!first) first = std::move(rows.error());
      continue;
    }
    out.push_back(std::move(*rows));
  }
  PGresult* sync = lib_->PQgetResult(c);
  const bool synced = sync && lib_->PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  lib_->PQclear(sync);
  if (!synced || lib_->PQexitPipelineMode(c) != 1) return fail(lost("leave pipeline mode").error());
  if (first) return fail(std::move(*first));
  return out;
}

Result<std::vector<std::vector<Row>>> Connection::runAll(const std::vector<Statement>& statements) {
  if (statements.empty()) return std::vector<std::vector<Row>>{};
  if (auto sent = send(statements); !sent) return fail(sent.error());
  return receive(statements);
}

Result<std::string> Connection::scramVerifier(const SecretString& password,
                                              const std::string& role) {
  char* v = lib_->PQencryptPasswordConn(conn_.get(), password.reveal().c_str(), role.c_str(),
                                        "scram-sha-256");
  if (!v) {
    return fail(ErrorCode::Internal,
                fmt::format("database {}: could not compute the password verifier", target_));
  }
  std::string out(v);
  lib_->PQfreemem(v);
  return out;
}

}  // namespace kubegrant::database::postgres
