#include "operator/kubectl_grant/format.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace kubegrant::kubectl_grant {
namespace {

using namespace std::chrono_literals;

TEST(HumanDuration, IsShortAndLeavesZeroPartsOut) {
  struct Case {
    std::chrono::nanoseconds d;
    const char* want;
  } cases[] = {
      {-5s, "0s"},           {0s, "0s"},           {45s, "45s"}, {60s, "1m"},
      {4min + 30s, "4m30s"}, {59min + 59s, "59m"}, {2h, "2h"},   {1h + 59min + 30s, "1h59m"},
      {24h, "1d"},           {51h, "2d3h"},
  };
  for (const auto& c : cases) EXPECT_EQ(humanDuration(c.d), c.want) << c.d.count();
}

TEST(Table, AlignsColumnsLikeKubectlIgnoringColourCodes) {
  Style color(true);
  Table t({"name", "phase"});
  t.addRow({"debug-orders", color.green("Active")});
  t.addRow({"x", "Pending"});
  const std::string want =
      "NAME           PHASE\n"
      "debug-orders   \x1b[32mActive\x1b[0m\n"
      "x              Pending\n";
  EXPECT_EQ(t.render(), want);
}

TEST(Table, HasNoTrailingSpacesAndPadsMissingCells) {
  Table t({"a", "b", "c"});
  t.addRow({"1"});
  EXPECT_EQ(t.render(), "A   B   C\n1\n");
}

TEST(Style, ColoursOnlyOnATerminalAndNeverWithNoColor) {
  EXPECT_TRUE(colorWanted(true, nullptr));
  EXPECT_TRUE(colorWanted(true, ""));
  EXPECT_FALSE(colorWanted(true, "1"));
  EXPECT_FALSE(colorWanted(false, nullptr));
  EXPECT_EQ(Style(false).phase("Active"), "Active");
  EXPECT_EQ(Style(true).phase("Denied"), "\x1b[31mDenied\x1b[0m");
}

TEST(DisplayWidth, CountsCodePointsNotBytesOrEscapes) {
  EXPECT_EQ(displayWidth("abc"), 3u);
  EXPECT_EQ(displayWidth("\x1b[1mab\x1b[0m"), 2u);
  EXPECT_EQ(displayWidth("é…"), 2u);
  EXPECT_EQ(truncateDisplay("abcdef", 4), "abc…");
  EXPECT_EQ(truncateDisplay("abc", 4), "abc");
  EXPECT_EQ(truncateDisplay("\x1b[1mabcdef\x1b[0m", 3), "\x1b[1mab…\x1b[0m");
}

TEST(ToYaml, ReadsBackAsTheSameDocument) {
  nlohmann::json doc = {
      {"name", "debug"},
      {"tricky", {"true", "null", "1.5", "", "0x1f", "yes", "plain"}},
      {"n", 3},
      {"ok", true},
      {"nothing", nullptr},
      {"nested", {{"list", nlohmann::json::array()}, {"map", nlohmann::json::object()}}},
  };
  const std::string yaml = toYaml(doc);
  YAML::Node back = YAML::Load(yaml);
  EXPECT_EQ(back["name"].as<std::string>(), "debug");
  const char* tricky[] = {"true", "null", "1.5", "", "0x1f", "yes", "plain"};
  for (std::size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(back["tricky"][i].Tag(), i == 6 ? "?" : "!") << yaml;  // quoted = a string
    EXPECT_EQ(back["tricky"][i].as<std::string>(), tricky[i]);
  }
  EXPECT_EQ(back["n"].as<int>(), 3);
  EXPECT_TRUE(back["ok"].as<bool>());
  EXPECT_TRUE(back["nothing"].IsNull());
  EXPECT_TRUE(back["nested"]["list"].IsSequence());
  EXPECT_NE(yaml.find("name: debug\n"), std::string::npos) << yaml;
}

}  // namespace
}  // namespace kubegrant::kubectl_grant
