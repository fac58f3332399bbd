// The access review as a reviewer runs it: a day of requests against the real API server and
// the real operator (approved then revoked, denied, approved then expired, break-glass), then
// `kubectl grant report` read through the API server as kubectl does, checked field by field
// in JSON and CSV, and its HTML page rendered by a real headless Chromium: the DOM has a bar
// per access window (the break-glass one marked) and the screenshot shows the chart's colours.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <png.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "operator/common/time.h"
#include "tests/e2e/kubectl_grant/plugin_fixture.h"

namespace kubegrant::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::readFile;
using testing::waitFor;

// RFC 4180 CSV (quoted fields with "" and commas) into rows of fields.
std::vector<std::vector<std::string>> parseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(std::exchange(field, {}));
    } else if (c == '\n') {
      rows.back().push_back(std::exchange(field, {}));
      rows.emplace_back();
    } else {
      field += c;
    }
  }
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

struct Pixels {
  int width = 0, height = 0;
  std::vector<unsigned char> rgba;
};

std::optional<Pixels> readPng(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str())) return std::nullopt;
  image.format = PNG_FORMAT_RGBA;
  Pixels p{static_cast<int>(image.width), static_cast<int>(image.height), {}};
  p.rgba.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, p.rgba.data(), 0, nullptr)) return std::nullopt;
  return p;
}

bool isColour(const Pixels& p, int x, int y, int r, int g, int b) {
  const std::size_t i = (static_cast<std::size_t>(y) * p.width + x) * 4;
  return std::abs(p.rgba[i] - r) < 24 && std::abs(p.rgba[i + 1] - g) < 24 &&
         std::abs(p.rgba[i + 2] - b) < 24;
}

// Pixels within 24 of (r, g, b) on each channel.
int countColour(const Pixels& p, int r, int g, int b) {
  int n = 0;
  for (int y = 0; y < p.height; ++y) {
    for (int x = 0; x < p.width; ++x) n += isColour(p, x, y, r, g, b) ? 1 : 0;
  }
  return n;
}

// The tallest vertical run of that colour: a bar of the chart is 18 px high, the legend's
// squares 12 px.
int tallestRun(const Pixels& p, int r, int g, int b) {
  int best = 0;
  for (int x = 0; x < p.width; ++x) {
    int run = 0;
    for (int y = 0; y < p.height; ++y) {
      run = isColour(p, x, y, r, g, b) ? run + 1 : 0;
      best = std::max(best, run);
    }
  }
  return best;
}

class ReportTest : public PluginTest {
 protected:
  void askAs(const std::string& name, const std::string& policy, const std::string& duration) {
    auto r = grant("alice",
                   {"request", "-n", ns_, "--policy", policy, "--role", "view", "--for", duration,
                    "--reason", "review: " + name, "--ticket", "INC-" + name, "--name", name});
    ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  }
  void approve(const std::string& name) {
    auto r = grant("bob", {"approve", name, "-n", ns_, "--comment", "ok"});
    ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  }
  json status(const std::string& name) {
    auto r =
        testing::kubectl(env_, "admin", {"get", "accessrequest", name, "-n", ns_, "-o", "json"});
    return json::parse(r.out, nullptr, false)["status"];
  }
  std::vector<std::string> chromium(std::vector<std::string> args) {
    std::vector<std::string> argv = {"chromium", "--headless", "--no-sandbox", "--disable-gpu",
                                     "--user-data-dir=" + harness_.dir() + "/chromium"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
};

TEST_F(ReportTest, ADayOfRequestsIsReportedFieldByFieldAndTheHtmlRendersInChromium) {
  const std::string glassPolicy = ns_ + "-glass";
  ASSERT_NO_FATAL_FAILURE(
      applyPolicy(glassPolicy, "    autoApprove: {groups: [payments-devs]}\n"));  // break-glass
  ASSERT_NO_FATAL_FAILURE(askAs("revoked", policy_, "20m"));
  ASSERT_NO_FATAL_FAILURE(approve("revoked"));
  ASSERT_TRUE(waitFor([&] { return phase("revoked") == "Active"; }, 20s)) << phase("revoked");
  auto rv = grant("alice", {"revoke", "revoked", "-n", ns_});
  ASSERT_EQ(rv.exitCode, 0) << rv.err;

  ASSERT_NO_FATAL_FAILURE(askAs("denied", policy_, "20m"));
  auto dn = grant("carol", {"deny", "denied", "-n", ns_, "--comment", "not today"});
  ASSERT_EQ(dn.exitCode, 0) << dn.out << dn.err;

  ASSERT_NO_FATAL_FAILURE(askAs("expired", policy_, "4s"));
  ASSERT_NO_FATAL_FAILURE(approve("expired"));

  ASSERT_NO_FATAL_FAILURE(askAs("glass", glassPolicy, "30m"));
  for (const auto& want : std::vector<std::pair<std::string, std::string>>{{"revoked", "Revoked"},
                                                                           {"denied", "Denied"},
                                                                           {"expired", "Expired"},
                                                                           {"glass", "Active"}}) {
    ASSERT_TRUE(waitFor([&] { return phase(want.first) == want.second; }, 30s))
        << want.first << ": " << phase(want.first);
  }

  // JSON, field by field against what the API server holds.
  auto asJson = grant("bob", {"report", "--since", "1d", "-n", ns_, "-o", "json"});
  ASSERT_EQ(asJson.exitCode, 0) << asJson.err;
  auto doc = json::parse(asJson.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << asJson.out;
  EXPECT_EQ(doc["since"], "1d");
  EXPECT_EQ(doc["scope"], "namespace " + ns_);
  std::map<std::string, json> byName;
  for (const auto& r : doc["requests"]) byName[r["name"]] = r;
  ASSERT_EQ(byName.size(), 4u) << asJson.out;
  const std::map<std::string, std::string> outcomes = {
      {"revoked", "Revoked"}, {"denied", "Denied"}, {"expired", "Expired"}, {"glass", "Active"}};
  for (const auto& [name, outcome] : outcomes) {
    SCOPED_TRACE(name);
    const json& r = byName[name];
    const json st = status(name);
    EXPECT_EQ(r["namespace"], ns_);
    EXPECT_EQ(r["requester"], "alice");
    EXPECT_EQ(r["policy"], name == "glass" ? glassPolicy : policy_);
    EXPECT_EQ(r["roles"], json::array({"ClusterRole/view"}));
    EXPECT_EQ(r["namespaces"], json::array({ns_}));
    EXPECT_EQ(r["databases"], json::array());
    EXPECT_EQ(r["reason"], "review: " + name);
    EXPECT_EQ(r["ticket"], "INC-" + name);
    EXPECT_EQ(r["outcome"], outcome);
    EXPECT_EQ(r["breakGlass"], name == "glass");
    EXPECT_EQ(r["approvedAt"], st.value("approvedAt", json(nullptr)));
    EXPECT_EQ(r["activeAt"], st.value("activatedAt", json(nullptr)));
    EXPECT_EQ(r["endedAt"], st.value("endedAt", json(nullptr)));
    EXPECT_TRUE(r["requestedAt"].is_string());
  }
  EXPECT_EQ(byName["revoked"]["approvers"], json::array({"bob"}));
  EXPECT_EQ(byName["expired"]["approvers"], json::array({"bob"}));
  EXPECT_EQ(byName["denied"]["deniedBy"], json::array({"carol"}));
  EXPECT_EQ(byName["denied"]["activeAt"], nullptr);
  EXPECT_EQ(byName["denied"]["heldSeconds"], 0);
  EXPECT_GE(byName["expired"]["heldSeconds"].get<int>(), 4);
  EXPECT_LE(byName["expired"]["heldSeconds"].get<int>(), 6);
  ASSERT_EQ(doc["byRequester"].size(), 1u);
  EXPECT_EQ(doc["byRequester"][0]["requester"], "alice");
  EXPECT_EQ(doc["byRequester"][0]["requests"], 4);
  EXPECT_EQ(doc["byRequester"][0]["active"], 3);
  EXPECT_EQ(doc["byRequester"][0]["denied"], 1);
  EXPECT_EQ(doc["byRequester"][0]["breakGlass"], 1);
  EXPECT_EQ(doc["byPolicy"].size(), 2u);

  // CSV: the same, by column name.
  auto asCsv = grant("bob", {"report", "--since", "1d", "-n", ns_, "-o", "csv"});
  ASSERT_EQ(asCsv.exitCode, 0) << asCsv.err;
  auto rows = parseCsv(asCsv.out);
  ASSERT_EQ(rows.size(), 5u) << asCsv.out;
  std::map<std::string, std::size_t> col;
  for (std::size_t i = 0; i < rows[0].size(); ++i) col[rows[0][i]] = i;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& row = rows[i];
    ASSERT_EQ(row.size(), rows[0].size()) << asCsv.out;
    const std::string name = row[col["name"]];
    SCOPED_TRACE(name);
    const json& j = byName[name];
    EXPECT_EQ(row[col["requester"]], "alice");
    EXPECT_EQ(row[col["policy"]], j["policy"]);
    EXPECT_EQ(row[col["roles"]], "ClusterRole/view");
    EXPECT_EQ(row[col["namespaces"]], ns_);
    EXPECT_EQ(row[col["reason"]], "review: " + name);
    EXPECT_EQ(row[col["ticket"]], "INC-" + name);
    EXPECT_EQ(row[col["outcome"]], outcomes.at(name));
    EXPECT_EQ(row[col["breakGlass"]], name == "glass" ? "true" : "false");
    EXPECT_EQ(row[col["activeAt"]],
              j["activeAt"].is_null() ? "" : j["activeAt"].get<std::string>());
    EXPECT_EQ(row[col["endedAt"]], j["endedAt"].is_null() ? "" : j["endedAt"].get<std::string>());
    EXPECT_EQ(row[col["approvers"]], name == "revoked" || name == "expired" ? "bob" : "");
  }

  // HTML in a real headless Chromium.
  auto asHtml = grant("bob", {"report", "--since", "1d", "-n", ns_, "-o", "html"});
  ASSERT_EQ(asHtml.exitCode, 0) << asHtml.err;
  const std::string page = harness_.dir() + "/report.html";
  std::ofstream(page) << asHtml.out;
  auto dom = testing::runCommand(chromium({"--dump-dom", "file://" + page}));
  ASSERT_EQ(dom.exitCode, 0) << dom.err;
  auto count = [&](const std::string& re) {
    std::regex r(re);
    return std::distance(std::sregex_iterator(dom.out.begin(), dom.out.end(), r),
                         std::sregex_iterator());
  };
  EXPECT_EQ(count("<rect class=\"window"), 3) << "revoked, expired, glass; denied held nothing";
  EXPECT_EQ(count("<rect class=\"window breakglass\""), 1);
  EXPECT_EQ(count("<tr"), (1 + 4) + (1 + 1) + (1 + 2))
      << "requests (header + 4), per requester (header + alice), per policy (header + 2)";

  const std::string shot = harness_.dir() + "/report.png";
  auto sc = testing::runCommand(chromium(
      {"--screenshot=" + shot, "--window-size=1000,700", "--hide-scrollbars", "file://" + page}));
  ASSERT_EQ(sc.exitCode, 0) << sc.err;
  auto png = readPng(shot);
  ASSERT_TRUE(png) << "no PNG at " << shot;
  EXPECT_EQ(png->width, 1000);
  const int blue = countColour(*png, 0x1f, 0x77, 0xb4);
  const int red = countColour(*png, 0xd6, 0x27, 0x28);
  const int white = countColour(*png, 255, 255, 255);
  EXPECT_GE(tallestRun(*png, 0x1f, 0x77, 0xb4), 16) << "an access window's bar is drawn";
  EXPECT_GE(tallestRun(*png, 0xd6, 0x27, 0x28), 16) << "the break-glass bar is drawn";
  EXPECT_LT(white, png->width * png->height * 95 / 100) << "the page is not blank";
  std::cout << fmt::format("report screenshot: {} ({}x{}, {} blue and {} red pixels)\n", shot,
                           png->width, png->height, blue, red);
  // Kept for the reader: the harness folder is removed on success, the screenshot is not.
  const std::string kept =
      (std::filesystem::temp_directory_path() / "kubegrant-report-e2e.png").string();
  std::filesystem::copy_file(shot, kept, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(page, kept.substr(0, kept.size() - 3) + "html",
                             std::filesystem::copy_options::overwrite_existing);
  std::cout << "report screenshot kept at " << kept << "\n";
}

}  // namespace
}  // namespace kubegrant::e2e
