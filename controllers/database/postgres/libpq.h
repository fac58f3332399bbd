#pragma once

// libpq, loaded when the operator first connects to a database rather than at process start.
//
// Debian's libpq brings LDAP, Kerberos, GnuTLS, p11-kit, nettle and GMP with it: ~3 MiB of
// resident pages in every operator, also the ones that never reach a database (bench/README.md,
// issue 15). The operator links none of it; the first Connection::open() dlopen()s
// libpq.so.5 and resolves the functions below, once per process. The types and constants still
// come from <libpq-fe.h>, so every call is checked against the header's declarations.

#include <libpq-fe.h>

#include "operator/common/result.h"

namespace kubegrant::database::postgres {

// Every libpq function the provider calls.
#define KUBEGRANT_LIBPQ_FUNCTIONS(X)                                                        \
  X(PQconnectdbParams)                                                                      \
  X(PQfinish)                                                                               \
  X(PQstatus) X(PQtransactionStatus) X(PQerrorMessage) X(PQsetNoticeProcessor)              \
      X(PQescapeIdentifier) X(PQescapeLiteral) X(PQfreemem) X(PQencryptPasswordConn)        \
          X(PQexecParams) X(PQresultStatus) X(PQresultErrorField) X(PQntuples) X(PQnfields) \
              X(PQgetvalue) X(PQclear) X(PQenterPipelineMode) X(PQexitPipelineMode)         \
                  X(PQsendQueryParams) X(PQpipelineSync) X(PQgetResult)

struct Libpq {
#define KUBEGRANT_LIBPQ_FIELD(name) decltype(&::name) name = nullptr;
  KUBEGRANT_LIBPQ_FUNCTIONS(KUBEGRANT_LIBPQ_FIELD)
#undef KUBEGRANT_LIBPQ_FIELD
};

// The library's file name (its soname).
inline constexpr const char* kLibpqFile = "libpq.so.5";

// Loads libpq on the first call (thread-safe) and returns its functions; later calls return
// the same table. Unavailable, naming the file and the loader's reason, when it cannot be
// loaded or lacks a function (a libpq older than 14 has no pipeline mode); tried again on the
// next call.
[[nodiscard]] Result<const Libpq*> loadLibpq();

// The table loadLibpq() returned. Only valid after it succeeded: every Connection exists only
// then.
const Libpq& pq();

}  // namespace kubegrant::database::postgres
