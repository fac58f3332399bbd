// The tamper-evident audit log as an auditor meets it: the real operator writes --audit-log
// while alice asks, bob approves and alice's self-approval is refused by the webhook; the
// operator is stopped and started again on the same file; alice revokes. `kubectl grant
// audit verify` passes on the whole file, then names the line when a copy is tampered with.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/e2e/kubectl_grant/plugin_fixture.h"

namespace kubegrant::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::readFile;
using testing::waitFor;

std::vector<std::string> linesOf(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

class AuditLogTest : public PluginTest {
 protected:
  AuditLogTest() {
    auditDir_ = std::filesystem::temp_directory_path() / testing::uniqueName("kg-audit");
    std::filesystem::create_directories(auditDir_);
    auditLog_ = (auditDir_ / "audit.log").string();
    operatorArgs_ = {"--audit-log", auditLog_};
  }
  ~AuditLogTest() override {
    if (!HasFailure()) std::filesystem::remove_all(auditDir_);
  }

  // The audit lines of this test's namespace.
  std::vector<json> linesFor(const std::string& name) {
    std::vector<json> out;
    for (const auto& l : linesOf(readFile(auditLog_))) {
      auto j = json::parse(l, nullptr, false);
      if (j.is_object() && j["request"]["namespace"] == ns_ && j["request"]["name"] == name) {
        out.push_back(j);
      }
    }
    return out;
  }
  bool hasEvent(const std::string& name, const std::string& event) {
    for (const auto& j : linesFor(name)) {
      if (j["event"] == event) return true;
    }
    return false;
  }
  testing::CommandResult verify(std::vector<std::string> files) {
    files.insert(files.begin(), {"audit", "verify"});
    return grant("alice", files);
  }

  std::filesystem::path auditDir_;
  std::string auditLog_;
};

TEST_F(AuditLogTest, TheLogSpansARestartVerifiesAndATamperedCopyIsNamedByLine) {
  auto asked = grant("alice", {"request", "-n", ns_, "--policy", policy_, "--role", "view", "--for",
                               "20m", "--reason", "e2e: audit", "--name", "audited"});
  ASSERT_EQ(asked.exitCode, 0) << asked.out << asked.err;
  // alice may not approve her own request: the webhook refuses and the refusal is a line.
  auto self = grant("alice", {"approve", "audited", "-n", ns_});
  EXPECT_EQ(self.exitCode, 3) << self.out << self.err;
  auto approved = grant("bob", {"approve", "audited", "-n", ns_, "--comment", "ok"});
  ASSERT_EQ(approved.exitCode, 0) << approved.out << approved.err;
  ASSERT_TRUE(waitFor([&] { return hasEvent("audited", "granted"); }, 20s)) << readFile(auditLog_);
  const std::size_t beforeRestart = linesOf(readFile(auditLog_)).size();

  ASSERT_EQ(harness_.stopOperator(SIGTERM), 0);
  ASSERT_NO_FATAL_FAILURE(harness_.startOperator());
  auto revoked = grant("alice", {"revoke", "audited", "-n", ns_});
  ASSERT_EQ(revoked.exitCode, 0) << revoked.out << revoked.err;
  ASSERT_TRUE(waitFor([&] { return hasEvent("audited", "revoked"); }, 20s)) << readFile(auditLog_);

  // Every step is a line; the refusal names user, operation, object, field and rule.
  std::vector<std::string> events;
  for (const auto& j : linesFor("audited")) events.push_back(j["event"]);
  for (const char* e : {"requested", "refused", "approved", "granted", "revoked"}) {
    EXPECT_NE(std::find(events.begin(), events.end(), e), events.end()) << e;
  }
  for (const auto& j : linesFor("audited")) {
    if (j["event"] != "refused") continue;
    EXPECT_EQ(j["user"]["username"], "alice");
    EXPECT_EQ(j["operation"], "UPDATE");
    EXPECT_EQ(j["subResource"], "status");
    EXPECT_EQ(j["rule"], "self-approval");
    EXPECT_EQ(j["field"].get<std::string>().rfind("status.approvals", 0), 0u) << j.dump();
  }

  // Lines after the restart continue the chain: seq goes on, prev is the last line's hash.
  const auto all = linesOf(readFile(auditLog_));
  ASSERT_GT(all.size(), beforeRestart);
  EXPECT_EQ(json::parse(all[beforeRestart])["seq"], beforeRestart + 1);

  auto ok = verify({auditLog_});
  EXPECT_EQ(ok.exitCode, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find(fmt::format("OK: {} lines in 1 file", all.size())), std::string::npos)
      << ok.out;
  std::cout << "audit verify on the untouched log: " << ok.out;

  // Tampered copies: a changed requester, a deleted line.
  auto write = [&](const std::string& file, const std::vector<std::string>& lines) {
    std::ofstream out(file);
    for (const auto& l : lines) out << l << "\n";
  };
  std::size_t requested = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    auto j = json::parse(all[i]);
    if (j["event"] == "requested" && j["request"]["namespace"] == ns_ &&
        j["request"]["name"] == "audited") {
      requested = i;
    }
  }
  auto changed = all;
  auto pos = changed[requested].find("e2e: audit");
  ASSERT_NE(pos, std::string::npos) << changed[requested];
  changed[requested].replace(pos, 10, "e2e: AUDIT");
  const std::string changedFile = (auditDir_ / "changed.log").string();
  write(changedFile, changed);
  auto c = verify({changedFile});
  EXPECT_EQ(c.exitCode, 10) << c.out << c.err;
  EXPECT_NE(c.out.find(fmt::format("{}:{}: line {} (seq {}) was changed", changedFile,
                                   requested + 1, requested + 1, requested + 1)),
            std::string::npos)
      << c.out;
  std::cout << "audit verify on a changed copy: " << c.out;

  auto removed = all;
  removed.erase(removed.begin() + static_cast<long>(beforeRestart) - 1);
  const std::string removedFile = (auditDir_ / "removed.log").string();
  write(removedFile, removed);
  auto r = verify({removedFile, "-o", "json"});
  EXPECT_EQ(r.exitCode, 10) << r.out << r.err;
  auto doc = json::parse(r.out, nullptr, false);
  EXPECT_EQ(doc["ok"], false) << r.out;
  EXPECT_EQ(doc["line"], beforeRestart) << r.out;
  EXPECT_NE(doc["problem"].get<std::string>().find("removed"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace kubegrant::e2e
