// libpq is loaded for a connection, not at process start, and unloaded when the last
// connection is gone (controllers/database/postgres/libpq.h). This binary links
// kg_database_postgres and nothing that links libpq, as the operator does, so libpq being
// absent until the first open() shows the operator starts without it. No server is needed:
// the connection is refused on a closed loopback port. (A pooled connection holding it between
// calls, and the pool emptied: tests/integration/database/postgres_provider_it.cc.)

#include <gtest/gtest.h>
#include <link.h>

#include <cstring>
#include <string>

#include "controllers/database/postgres/connection.h"
#include "controllers/database/postgres/libpq.h"
#include "tests/support/free_port.h"

namespace kubegrant::database::postgres {
namespace {

bool libpqMapped() {
  bool found = false;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        if (info->dlpi_name != nullptr && std::strstr(info->dlpi_name, "libpq.so") != nullptr) {
          *static_cast<bool*>(out) = true;
        }
        return 0;
      },
      &found);
  return found;
}

TEST(LibpqLoader, InTheProcessOnlyWhileSomethingHoldsIt) {
  ASSERT_FALSE(libpqMapped()) << "libpq came with the program: kg_database_postgres links it";

  TargetAccess access;
  access.target = "orders";
  access.host = "127.0.0.1";
  access.port = testing::freeLoopbackPort();  // free a moment ago: nothing listens
  access.database = "orders";
  access.sslMode = "disable";
  access.adminUser = "kubegrant_admin";
  auto conn = Connection::open(access, "");
  ASSERT_FALSE(conn);
  // libpq ran: the refusal is its own message, with the target named.
  EXPECT_EQ(conn.error().code, ErrorCode::Unavailable) << conn.error().message;
  EXPECT_NE(conn.error().message.find("database orders: cannot connect to 127.0.0.1"),
            std::string::npos)
      << conn.error().message;
  // The refused connection was its only holder: unloaded with it.
  EXPECT_FALSE(libpqLoaded());
  EXPECT_FALSE(libpqMapped());

  auto first = loadLibpq();
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(libpqMapped());
  auto second = loadLibpq();
  ASSERT_TRUE(second);
  EXPECT_EQ(*first, *second) << "a second holder shares the loaded library";
#define KUBEGRANT_EXPECT_RESOLVED(name) EXPECT_NE((*first)->name, nullptr) << #name;
  KUBEGRANT_LIBPQ_FUNCTIONS(KUBEGRANT_EXPECT_RESOLVED)
#undef KUBEGRANT_EXPECT_RESOLVED
  first->reset();
  EXPECT_TRUE(libpqLoaded());
  EXPECT_TRUE(libpqMapped()) << "still held by the second";
  second->reset();
  EXPECT_FALSE(libpqLoaded());
  EXPECT_FALSE(libpqMapped()) << "the last holder let go: unloaded";

  // And loaded again for the next connection, which works as the first did.
  auto again = Connection::open(access, "");
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("database orders: cannot connect to 127.0.0.1"),
            std::string::npos)
      << again.error().message;
  EXPECT_FALSE(libpqMapped());
}

}  // namespace
}  // namespace kubegrant::database::postgres
