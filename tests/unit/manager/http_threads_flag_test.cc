// --http-threads sizes cpprestsdk's shared pool in kubegrant-operator (webhook listener and API
// client). Its flag lives in operator/manager/flags.h.

#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "operator/manager/flags.h"

namespace kubegrant::manager {
namespace {

TEST(HttpThreadsFlag, DefaultsToOneThreadPerCoreAndAtLeastTwo) {
  auto f = parseFlags({});
  ASSERT_TRUE(f) << f.error().message;
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  EXPECT_EQ(f->httpThreads, cores < 2 ? 2 : cores);
  EXPECT_GE(f->httpThreads, 2);
}

TEST(HttpThreadsFlag, AcceptsAValueFromTheCommandLine) {
  auto f = parseFlags({"--http-threads=3"});
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->httpThreads, 3);
  f = parseFlags({"--http-threads", "16"});
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->httpThreads, 16);
}

TEST(HttpThreadsFlag, RejectsValuesBelowTwoOrAboveTheCapNamingTheFlag) {
  for (const char* bad : {"--http-threads=1", "--http-threads=0", "--http-threads=257",
                          "--http-threads=many", "--http-threads=-2"}) {
    auto f = parseFlags({bad});
    ASSERT_FALSE(f) << bad;
    EXPECT_NE(f.error().message.find("--http-threads"), std::string::npos) << f.error().message;
  }
}

TEST(HttpThreadsFlag, IsDocumentedInHelp) {
  std::string help = helpText();
  EXPECT_NE(help.find("--http-threads N"), std::string::npos);
  EXPECT_NE(help.find("one per core, at least 2"), std::string::npos);
}

}  // namespace
}  // namespace kubegrant::manager
