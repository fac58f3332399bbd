// charts/kubegrant/files/grafana-dashboard.json: a well-formed Grafana dashboard (the fields of the
// dashboard JSON model that Grafana requires to import it), and every metric it queries is one
// the operator registers (found as a string literal in the operator's sources), so no panel
// stays empty because of a misspelt or imagined name.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "tests/support/test_env.h"

namespace kubegrant::deploy {
namespace {

using nlohmann::json;
const std::string kSource = KUBEGRANT_SOURCE_DIR;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json dashboard() {
  return json::parse(slurp(kSource + "/charts/kubegrant/files/grafana-dashboard.json"));
}

TEST(GrafanaDashboard, HasTheFieldsGrafanaNeedsToImportIt) {
  const json d = dashboard();
  ASSERT_TRUE(d.is_object());
  EXPECT_TRUE(d["title"].is_string());
  EXPECT_TRUE(d["uid"].is_string());
  EXPECT_LE(d["uid"].get<std::string>().size(), 40u) << "Grafana's uid limit";
  EXPECT_TRUE(d["schemaVersion"].is_number_integer());
  ASSERT_TRUE(d["panels"].is_array());
  ASSERT_FALSE(d["panels"].empty());
  std::set<int> ids;
  for (const auto& p : d["panels"]) {
    EXPECT_TRUE(ids.insert(p["id"].get<int>()).second) << "duplicate panel id " << p["id"];
    EXPECT_TRUE(p["title"].is_string());
    EXPECT_TRUE(p["type"].is_string());
    for (const char* k : {"h", "w", "x", "y"}) EXPECT_TRUE(p["gridPos"][k].is_number_integer());
    EXPECT_LE(p["gridPos"]["x"].get<int>() + p["gridPos"]["w"].get<int>(), 24) << p["title"];
    ASSERT_TRUE(p["targets"].is_array() && !p["targets"].empty()) << p["title"];
    std::set<std::string> refIds;
    for (const auto& t : p["targets"]) {
      EXPECT_TRUE(refIds.insert(t["refId"].get<std::string>()).second) << p["title"];
      EXPECT_FALSE(t["expr"].get<std::string>().empty()) << p["title"];
    }
  }
  // Template variables the queries use are defined.
  std::set<std::string> vars;
  for (const auto& v : d["templating"]["list"]) vars.insert(v["name"]);
  EXPECT_TRUE(vars.count("datasource"));
  EXPECT_TRUE(vars.count("job"));
}

TEST(GrafanaDashboard, QueriesOnlyMetricsTheOperatorRegisters) {
  const auto known = testing::registeredMetrics(kSource);
  ASSERT_TRUE(known.count("kubegrant_accessrequest_transitions_total")) << "scan found nothing";
  const std::regex name("kubegrant_[a-z_]+");
  int queried = 0;
  const json d = dashboard();
  for (const auto& p : d["panels"]) {
    for (const auto& t : p["targets"]) {
      const std::string expr = t["expr"];
      for (std::sregex_iterator it(expr.begin(), expr.end(), name), end; it != end; ++it) {
        std::string metric = it->str();
        // Histogram series carry a suffix the registry adds.
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
          const std::string s = suffix;
          if (!known.count(metric) && metric.size() > s.size() &&
              metric.compare(metric.size() - s.size(), s.size(), s) == 0) {
            metric.resize(metric.size() - s.size());
          }
        }
        EXPECT_TRUE(known.count(metric)) << p["title"] << ": " << it->str() << " is not registered";
        ++queried;
      }
    }
  }
  EXPECT_GE(queried, 10);
}

}  // namespace
}  // namespace kubegrant::deploy
