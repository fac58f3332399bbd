#include "operator/common/audit_chain.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "operator/common/crypto.h"

namespace kubegrant::audit {
namespace {

using nlohmann::json;

// A chain of `n` lines (events e1..en) as the operator writes it, one string per line.
std::vector<std::string> chainOf(int n, ChainHead head = {}) {
  std::vector<std::string> lines;
  for (int i = 1; i <= n; ++i) {
    lines.push_back(chainLine(json{{"event", "e" + std::to_string(i)}, {"user", "alice"}}, head));
    head = nextHead(head, lines.back());
  }
  return lines;
}

std::string join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

VerifyReport verifyOne(const std::vector<std::string>& lines) {
  return verifyChain({{"audit.log", join(lines)}});
}

TEST(AuditChain, EachLineCarriesItsSeqAndTheHashOfTheExactBytesOfTheLineBefore) {
  auto lines = chainOf(3);
  EXPECT_EQ(json::parse(lines[0])["seq"], 1);
  EXPECT_EQ(json::parse(lines[0])["prev"], std::string(kGenesis));
  EXPECT_EQ(json::parse(lines[1])["seq"], 2);
  EXPECT_EQ(json::parse(lines[1])["prev"], sha256Hex(lines[0]));
  EXPECT_EQ(json::parse(lines[2])["prev"], sha256Hex(lines[1]));
  auto head = headOf(lines[2]);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->seq, 3u);
  EXPECT_EQ(head->hash, sha256Hex(lines[2]));
}

TEST(AuditChain, AnUntouchedChainVerifiesWithItsLineCountAndLastHash) {
  auto lines = chainOf(5);
  auto r = verifyOne(lines);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 5u);
  EXPECT_EQ(r.head.seq, 5u);
  EXPECT_EQ(r.head.hash, sha256Hex(lines[4]));
}

TEST(AuditChain, RotatedFilesGivenInOrderContinueOneChain) {
  auto lines = chainOf(6);
  std::vector<std::string> a(lines.begin(), lines.begin() + 4), b(lines.begin() + 4, lines.end());
  auto r = verifyChain({{"audit.log.1", join(a)}, {"audit.log", join(b)}});
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 6u);
  auto swapped = verifyChain({{"audit.log", join(b)}, {"audit.log.1", join(a)}});
  EXPECT_FALSE(swapped.ok);
  EXPECT_EQ(swapped.file, "audit.log");
  EXPECT_EQ(swapped.line, 1u);
  EXPECT_NE(swapped.problem.find("earlier files first"), std::string::npos) << swapped.problem;
}

TEST(AuditChain, AChangedFieldNamesTheChangedLine) {
  auto lines = chainOf(5);
  auto pos = lines[2].find("alice");
  lines[2].replace(pos, 5, "bobby");
  auto r = verifyOne(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 3u);
  EXPECT_NE(r.problem.find("line 3 (seq 3) was changed"), std::string::npos) << r.problem;
  EXPECT_EQ(r.lines, 2u) << "the good lines end before the changed one";
  EXPECT_EQ(r.head, (ChainHead{2, sha256Hex(lines[1])}));
}

TEST(AuditChain, ADeletedLineIsNamedAsRemoved) {
  auto lines = chainOf(5);
  lines.erase(lines.begin() + 1);
  auto r = verifyOne(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 2u);
  EXPECT_NE(r.problem.find("a line (seq 2) was removed before line 2"), std::string::npos)
      << r.problem;
}

TEST(AuditChain, TwoSwappedLinesAreNamedAsReordered) {
  auto lines = chainOf(5);
  std::swap(lines[2], lines[3]);
  auto r = verifyOne(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 3u);
  EXPECT_NE(r.problem.find("reordered"), std::string::npos) << r.problem;
  EXPECT_NE(r.problem.find("seq 3 comes later, at line 4"), std::string::npos) << r.problem;
}

TEST(AuditChain, AnInsertedLineIsNamedWhetherOrNotItImitatesTheChain) {
  auto lines = chainOf(5);
  auto plain = lines;
  plain.insert(plain.begin() + 2, R"({"event":"approved","user":"mallory"})");
  auto r = verifyOne(plain);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 3u);
  EXPECT_NE(r.problem.find("inserted"), std::string::npos) << r.problem;

  // A forger who links the new line to the one before it still breaks the seq that follows.
  auto forged = lines;
  ChainHead head{2, sha256Hex(lines[1])};
  forged.insert(forged.begin() + 2, chainLine(json{{"event", "approved"}}, head));
  auto f = verifyOne(forged);
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(f.line, 4u);
  EXPECT_NE(f.problem.find("repeats seq 3"), std::string::npos) << f.problem;
  EXPECT_NE(f.problem.find("inserted"), std::string::npos) << f.problem;
}

TEST(AuditChain, ATruncatedFileIsFoundInsideALineAndAtALineEndWithTheAnchor) {
  auto lines = chainOf(5);
  std::string bytes = join(lines);
  auto cut = verifyChain({{"audit.log", bytes.substr(0, bytes.size() - 20)}});
  EXPECT_FALSE(cut.ok);
  EXPECT_EQ(cut.line, 5u);
  EXPECT_NE(cut.problem.find("truncated"), std::string::npos) << cut.problem;

  // Whole lines cut from the end: the chain is intact, the anchor kept earlier is not in it.
  const std::string anchor = sha256Hex(lines[4]);
  auto full = verifyChain({{"audit.log", bytes}}, {.anchor = anchor});
  EXPECT_TRUE(full.ok) << full.problem;
  lines.pop_back();
  auto shorter = verifyChain({{"audit.log", join(lines)}}, {.anchor = anchor});
  EXPECT_FALSE(shorter.ok);
  EXPECT_NE(shorter.problem.find("removed from the end"), std::string::npos) << shorter.problem;
}

TEST(AuditChain, TheFirstLineMustStartTheChain) {
  auto lines = chainOf(3);
  lines.erase(lines.begin());
  auto r = verifyOne(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 1u);
  auto restarted = chainOf(2);
  auto joined = chainOf(3);
  joined.insert(joined.end(), restarted.begin(), restarted.end());
  auto n = verifyOne(joined);
  EXPECT_FALSE(n.ok);
  EXPECT_EQ(n.line, 4u);
  EXPECT_NE(n.problem.find("new chain"), std::string::npos) << n.problem;
}

TEST(AuditChain, TheLastLineOfAFileIsReadFromItsEnd) {
  auto dir = std::filesystem::temp_directory_path() / ("kg-chain-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "audit.log").string();
  auto none = lastLineOf(path);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  // Longer than the 8 KiB it reads at a time.
  std::string big(20000, 'x');
  std::ofstream(path) << "first\n" << big << "\n";
  auto last = lastLineOf(path);
  ASSERT_TRUE(last && *last);
  EXPECT_EQ((*last)->text, big);
  EXPECT_TRUE((*last)->complete);
  std::ofstream(path, std::ios::app) << "torn";
  last = lastLineOf(path);
  ASSERT_TRUE(last && *last);
  EXPECT_EQ((*last)->text, "torn");
  EXPECT_FALSE((*last)->complete);
  std::ofstream(path, std::ios::trunc) << "only\n";
  last = lastLineOf(path);
  ASSERT_TRUE(last && *last);
  EXPECT_EQ((*last)->text, "only");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kubegrant::audit
