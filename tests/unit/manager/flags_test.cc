#include "operator/manager/flags.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace kubegrant::manager {
namespace {

TEST(OperatorFlags, DefaultsFollowApiMd) {
  auto f = parseFlags({});
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->webhookPort, 9443);
  EXPECT_EQ(f->metricsAddr, ":8080");
  EXPECT_EQ(f->healthAddr, ":8081");
  EXPECT_EQ(f->sweepInterval, std::chrono::seconds(60));
  EXPECT_FALSE(f->leaderElect);
}

TEST(OperatorFlags, AcceptsBothValueFormsAndBareBooleans) {
  auto f = parseFlags({"--webhook-port=1234", "--audit-log", "/tmp/a.log", "--leader-elect",
                       "--sweep-interval=5s", "--log-level=debug"});
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->webhookPort, 1234);
  EXPECT_EQ(f->auditLog, "/tmp/a.log");
  EXPECT_TRUE(f->leaderElect);
  EXPECT_EQ(f->sweepInterval, std::chrono::seconds(5));
  EXPECT_EQ(f->logLevel, log::Level::Debug);
}

TEST(OperatorFlags, RejectsUnknownFlagsAndBadValuesNamingTheFlag) {
  auto unknown = parseFlags({"--webhook-prot=1"});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("--webhook-prot"), std::string::npos);
  auto bad = parseFlags({"--sweep-interval=soon"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("--sweep-interval"), std::string::npos);
  auto missing = parseFlags({"--kubeconfig"});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("needs a value"), std::string::npos);
}

TEST(OperatorFlags, ConfigFileIsOverriddenByTheCommandLine) {
  std::string path = ::testing::TempDir() + "/kubegrant-config.yaml";
  {
    std::ofstream out(path);
    out << "webhook-port: 7000\nmetrics-addr: \":9000\"\nworkers: 3\n";
  }
  auto f = parseFlags({"--config", path, "--webhook-port=7001"});
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->webhookPort, 7001);
  EXPECT_EQ(f->metricsAddr, ":9000");
  EXPECT_EQ(f->workers, 3);
  std::remove(path.c_str());
}

TEST(OperatorFlags, HelpSaysNotifyUrlIsNotImplementedYet) {
  EXPECT_NE(helpText().find("--notify-url URL             NOT IMPLEMENTED YET"), std::string::npos);
}

}  // namespace
}  // namespace kubegrant::manager
