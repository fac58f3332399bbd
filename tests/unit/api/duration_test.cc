#include "crds/v1alpha1/duration.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

namespace kubegrant::v1alpha1 {
namespace {

using namespace std::chrono_literals;

struct GoodCase {
  std::string text;
  Duration want;
  std::string canonical;
};
// Readable in test names' listings and failure messages (instead of raw bytes).
void PrintTo(const GoodCase& c, std::ostream* os) {
  *os << ::testing::PrintToString(c.text) << " -> " << c.canonical;
}

class ParsesValidDuration : public ::testing::TestWithParam<GoodCase> {};

TEST_P(ParsesValidDuration, ToTheExpectedValueAndCanonicalForm) {
  const auto& c = GetParam();
  auto d = parseDuration(c.text);
  ASSERT_TRUE(d.has_value()) << c.text << ": " << d.error().message;
  EXPECT_EQ(d->count(), c.want.count()) << c.text;
  EXPECT_EQ(formatDuration(*d), c.canonical) << c.text;
  // The canonical form parses back to the same value.
  auto again = parseDuration(formatDuration(*d));
  ASSERT_TRUE(again.has_value()) << formatDuration(*d);
  EXPECT_EQ(again->count(), d->count());
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParsesValidDuration,
    ::testing::Values(GoodCase{"90m", 90min, "1h30m"}, GoodCase{"2h", 2h, "2h"},
                      GoodCase{"1h30m", 90min, "1h30m"}, GoodCase{"1.5h", 90min, "1h30m"},
                      GoodCase{"300ms", 300ms, "300ms"},
                      GoodCase{"2h45m30s", 2h + 45min + 30s, "2h45m30s"},
                      GoodCase{"1h0m0s", 1h, "1h"}, GoodCase{"1h0m5s", 1h + 5s, "1h5s"},
                      GoodCase{"720h", 720h, "720h"}, GoodCase{"0s", 0s, "0s"},
                      GoodCase{"0h0m", 0s, "0s"}, GoodCase{"45s", 45s, "45s"},
                      GoodCase{"1m30.5s", 90500ms, "1m30.5s"}, GoodCase{"1.5us", 1500ns, "1.5us"},
                      GoodCase{"1.5µs", 1500ns, "1.5us"}, GoodCase{"2μs", 2us, "2us"},
                      GoodCase{"42ns", 42ns, "42ns"}, GoodCase{"1000ms", 1s, "1s"},
                      GoodCase{"0.1s", 100ms, "100ms"}, GoodCase{"30m30m", 1h, "1h"},
                      GoodCase{"2562047h", 2562047h, "2562047h"}, GoodCase{"007m", 7min, "7m"}));

struct BadCase {
  std::string name;
  std::string text;
  std::string why;  // a fragment the error message must contain
};
// Readable in test names' listings and failure messages (instead of raw bytes).
void PrintTo(const BadCase& c, std::ostream* os) {
  *os << c.name << ": " << ::testing::PrintToString(c.text);
}

class RejectsMalformedDuration : public ::testing::TestWithParam<BadCase> {};

TEST_P(RejectsMalformedDuration, WithAMessageSayingWhy) {
  const auto& c = GetParam();
  auto d = parseDuration(c.text);
  ASSERT_FALSE(d.has_value()) << c.text << " parsed as " << d->count();
  EXPECT_EQ(d.error().code, ErrorCode::Invalid);
  EXPECT_NE(d.error().message.find(c.why), std::string::npos) << "message: " << d.error().message;
  EXPECT_NE(d.error().message.find("\"" + c.text + "\""), std::string::npos)
      << "the message quotes the input: " << d.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Table, RejectsMalformedDuration,
    ::testing::Values(
        BadCase{"Empty", "", "empty"}, BadCase{"Negative", "-1h", "negative"},
        BadCase{"PlusSign", "+1h", "expected a number"},
        BadCase{"BareNumber", "90", "missing unit"}, BadCase{"BareZero", "0", "missing unit"},
        BadCase{"TrailingNumber", "1h30", "missing unit"},
        BadCase{"DayUnit", "1d", "unknown unit \"d\""},
        BadCase{"WordUnit", "2hours", "unknown unit \"hours\""},
        BadCase{"UpperCaseUnit", "2H", "unknown unit \"H\""},
        BadCase{"SpaceInside", "2 hours", "whitespace"},
        BadCase{"LeadingSpace", " 2h", "whitespace"}, BadCase{"TrailingSpace", "2h ", "whitespace"},
        BadCase{"Tab", "1h\t30m", "whitespace"}, BadCase{"LeadingDot", ".5h", "expected a number"},
        BadCase{"TrailingDot", "5.h", "expected digits after '.'"},
        BadCase{"OnlyUnit", "h", "expected a number"},
        BadCase{"JustOverInt64", "2562048h", "out of range"},
        BadCase{"HugeInteger", "99999999999999999999999h", "out of range"},
        BadCase{"HugeNanoseconds", "9223372036854775808ns", "out of range"},
        BadCase{"SumOverflows", "2562047h2562047h", "out of range"},
        BadCase{"Iso8601", "PT1H", "expected a number"}),
    [](const auto& info) { return info.param.name; });

TEST(Duration, MaxInt64NanosecondsIsAccepted) {
  auto d = parseDuration("9223372036854775807ns");
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ(d->count(), std::numeric_limits<int64_t>::max());
}

TEST(Duration, FormatsNegativeValuesWithALeadingMinus) {
  EXPECT_EQ(formatDuration(-90min), "-1h30m");
  EXPECT_EQ(formatDuration(Duration(std::numeric_limits<int64_t>::min())),
            "-2562047h47m16.854775808s");
}

TEST(Duration, FormatsFractionsWithoutTrailingZeros) {
  EXPECT_EQ(formatDuration(1500ms), "1.5s");
  EXPECT_EQ(formatDuration(1001ms), "1.001s");
  EXPECT_EQ(formatDuration(1s + 1ns), "1.000000001s");
  EXPECT_EQ(formatDuration(999us), "999us");
  EXPECT_EQ(formatDuration(1050us), "1.05ms");
}

// The CRD schemas carry the same pattern; the parser and the pattern must agree, or the API
// server would accept what the operator rejects (or the reverse).
TEST(Duration, PatternAndParserAgree) {
  std::regex re(std::string(kDurationPattern), std::regex::ECMAScript);
  for (std::string s : {"90m", "2h", "1h30m", "1.5h", "300ms", "2h45m30s", "1us", "0s"}) {
    EXPECT_TRUE(std::regex_match(s, re)) << s;
    EXPECT_TRUE(parseDuration(s).has_value()) << s;
  }
  for (std::string s : {"", "90", "1d", "2 hours", "-1h", ".5h", "5.h", "h", "1h "}) {
    EXPECT_FALSE(std::regex_match(s, re)) << s;
    EXPECT_FALSE(parseDuration(s).has_value()) << s;
  }
}

// Every duration field of the CRDs uses exactly kDurationPattern (and every pattern in them is
// a duration pattern): the schema and the C++ parser accept the same strings.
TEST(Duration, CrdSchemasUseTheParsersPattern) {
  const std::filesystem::path crds = std::filesystem::path(KUBEGRANT_SOURCE_DIR) / "crds";
  const std::string want = "pattern: '" + std::string(kDurationPattern) + "'";
  struct File {
    std::string name;
    int durationFields;
  };
  for (const auto& f :
       {File{"kubegrant.io_accesspolicies.yaml", 6}, File{"kubegrant.io_accessrequests.yaml", 1},
        File{"kubegrant.io_databasetargets.yaml", 0}}) {
    std::ifstream in(crds / f.name);
    ASSERT_TRUE(in.good()) << f.name;
    int found = 0;
    for (std::string line; std::getline(in, line);) {
      auto pos = line.find("pattern: ");
      if (pos == std::string::npos || line.find_first_not_of(' ') != pos) continue;
      EXPECT_EQ(line.substr(pos), want) << f.name;
      ++found;
    }
    EXPECT_EQ(found, f.durationFields) << f.name;
  }
}

}  // namespace
}  // namespace kubegrant::v1alpha1
