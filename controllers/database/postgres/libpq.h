#pragma once

// libpq, loaded when the operator first connects to a database rather than at process start.
//
// Debian's libpq brings LDAP, Kerberos, GnuTLS, p11-kit, nettle and GMP with it: ~3 MiB of
// resident pages in every operator, also the ones that never reach a database (bench/README.md,
// issue 15). The operator links none of it: Connection::open() dlopen()s libpq.so.5 and
// resolves the functions below. Every Connection holds the loaded library, and the last one
// to close unloads it (dlclose), so an operator whose pool is empty between sweeps holds none
// of those pages either; the next connection loads it again (~2 ms). The types and constants
// still come from <libpq-fe.h>, so every call is checked against the header's declarations.

#include <libpq-fe.h>

#include <memory>

#include "operator/common/result.h"

namespace kubegrant::database::postgres {

// Every libpq function the provider calls.
// clang-format off
#define KUBEGRANT_LIBPQ_FUNCTIONS(X) \
  X(PQconnectdbParams) \
  X(PQfinish) \
  X(PQstatus) \
  X(PQtransactionStatus) \
  X(PQerrorMessage) \
  X(PQsetNoticeProcessor) \
  X(PQescapeIdentifier) \
  X(PQescapeLiteral) \
  X(PQfreemem) \
  X(PQencryptPasswordConn) \
  X(PQexecParams) \
  X(PQresultStatus) \
  X(PQresultErrorField) \
  X(PQntuples) \
  X(PQnfields) \
  X(PQgetvalue) \
  X(PQclear) \
  X(PQenterPipelineMode) \
  X(PQexitPipelineMode) \
  X(PQsendQueryParams) \
  X(PQpipelineSync) \
  X(PQgetResult)
// clang-format on

struct Libpq {
#define KUBEGRANT_LIBPQ_FIELD(name) decltype(&::name) name = nullptr;
  KUBEGRANT_LIBPQ_FUNCTIONS(KUBEGRANT_LIBPQ_FIELD)
#undef KUBEGRANT_LIBPQ_FIELD
};

// The library's file name (its soname).
inline constexpr const char* kLibpqFile = "libpq.so.5";

// The loaded library: its functions, valid while any holder keeps it. The last holder to let
// go unloads it.
using LibpqRef = std::shared_ptr<const Libpq>;

// The library while anything holds it, otherwise loaded again (thread-safe). Unavailable,
// naming the file and the loader's reason, when it cannot be loaded or lacks a function (a
// libpq older than 14 has no pipeline mode); tried again on the next call.
[[nodiscard]] Result<LibpqRef> loadLibpq();

// Whether libpq is loaded now (some Connection holds it): for tests and the bench.
bool libpqLoaded();

}  // namespace kubegrant::database::postgres
