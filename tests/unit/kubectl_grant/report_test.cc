#include "operator/kubectl_grant/report.h"

#include <gtest/gtest.h>

#include <regex>

#include "controllers/database/credentials.h"
#include "operator/common/time.h"

namespace kubegrant::kubectl_grant {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using v1alpha1::AccessRequest;
using v1alpha1::Decision;
using v1alpha1::Phase;
using v1alpha1::RoleKind;

TimePoint at(const char* rfc3339) { return *parseRfc3339(rfc3339); }
const TimePoint kNow = at("2026-11-29T10:00:00Z");

AccessRequest req(const char* name, const char* who, Phase phase, const char* created) {
  AccessRequest r;
  r.metadata.name = name;
  r.metadata.namespace_ = "payments";
  r.metadata.creationTimestamp = at(created);
  r.spec.policy = "payments-oncall";
  r.spec.reason = "orders, \"stuck\"";
  r.spec.ticket = "INC-1";
  r.spec.roles = {{RoleKind::ClusterRole, "view", {}},
                  {RoleKind::Role, "pod-debugger", {"staging", "payments"}}};
  r.spec.requester = v1alpha1::UserInfo{who, {}};
  r.status.emplace();
  r.status->phase = phase;
  return r;
}

v1alpha1::DatabaseTarget ordersDb() {
  v1alpha1::DatabaseTarget t;
  t.metadata.name = "orders-db";
  v1alpha1::DatabaseProfile p;
  p.name = "readonly";
  v1alpha1::TableGrant g;
  g.schema = "public";
  g.tables = {"customers"};
  g.excludeColumns = {{"customers", {"ssn"}}};
  g.maskColumns = {{"customers", {{"email", v1alpha1::MaskFunction::Redact}}}};
  p.grants = {g};
  t.spec.profiles = {p};
  return t;
}

std::vector<AccessRequest> story() {
  auto expired = req("expired", "alice", Phase::Expired, "2026-11-20T09:00:00Z");
  expired.status->approvals.push_back({.approver = "bob", .decision = Decision::Approve});
  expired.status->approvedAt = at("2026-11-20T09:05:00Z");
  expired.status->activatedAt = at("2026-11-20T09:05:01Z");
  expired.status->endedAt = at("2026-11-20T10:05:01Z");
  auto denied = req("denied", "alice", Phase::Denied, "2026-11-21T09:00:00Z");
  denied.status->approvals.push_back({.approver = "bob", .decision = Decision::Deny});
  denied.status->endedAt = at("2026-11-21T09:01:00Z");
  auto glass = req("glass", "carol", Phase::Active, "2026-11-29T09:30:00Z");
  glass.status->breakGlass = true;
  glass.status->activatedAt = at("2026-11-29T09:30:00Z");
  glass.spec.databases = {{"orders-db", "readonly"}};
  glass.status->grants.push_back(
      {.kind = v1alpha1::GrantKind::DatabaseUser,
       .name = "kg_x",
       .target = "orders-db",
       .profile = "readonly",
       .profileHash = database::profileHash(ordersDb(), ordersDb().spec.profiles[0])});
  auto old = req("old", "dave", Phase::Revoked, "2026-09-01T09:00:00Z");
  old.status->endedAt = at("2026-09-01T10:00:00Z");
  return {glass, denied, old, expired};
}

std::vector<ReportRow> rows() {
  return reportRows(story(), {{"orders-db", ordersDb()}}, 30 * 24h, kNow);
}

TEST(Report, SinceTakesDaysAndGoDurations) {
  EXPECT_EQ(*parseSince("30d"), 30 * 24h);
  EXPECT_EQ(*parseSince("90m"), 90min);
  EXPECT_FALSE(parseSince("soon"));
  EXPECT_FALSE(parseSince("d"));
}

TEST(Report, RowsAreTheRequestsOfTheWindowOldestFirstWithWhatTheyHeld) {
  auto r = rows();
  ASSERT_EQ(r.size(), 3u) << "dave's request ended before the window";
  EXPECT_EQ(r[0].name, "expired");
  EXPECT_EQ(r[0].outcome, "Expired");
  EXPECT_EQ(r[0].approvers, std::vector<std::string>{"bob"});
  EXPECT_EQ(r[0].held, 3600s);
  EXPECT_EQ(r[0].roles, (std::vector<std::string>{"ClusterRole/view", "Role/pod-debugger"}));
  EXPECT_EQ(r[0].namespaces, (std::vector<std::string>{"payments", "staging"}));
  EXPECT_EQ(r[1].outcome, "Denied");
  EXPECT_EQ(r[1].deniedBy, std::vector<std::string>{"bob"});
  EXPECT_EQ(r[1].held, 0s);
  EXPECT_TRUE(r[2].breakGlass);
  EXPECT_EQ(r[2].held, 1800s) << "still Active: held until now";
  ASSERT_EQ(r[2].databases.size(), 1u);
  EXPECT_EQ(r[2].databases[0].withheld, std::vector<std::string>{"public.customers.ssn"});
  EXPECT_EQ(r[2].databases[0].masked, std::vector<std::string>{"public.customers.email (redact)"});
  EXPECT_EQ(r[2].databases[0].columns, "recorded");
}

TEST(Report, TheColumnsSayWhenTheProfileChangedOrCannotBeRead) {
  auto changed = ordersDb();
  changed.spec.profiles[0].grants[0].excludeColumns["customers"].push_back("dob");
  auto r = reportRows(story(), {{"orders-db", changed}}, 30 * 24h, kNow);
  EXPECT_EQ(r[2].databases[0].columns, "changed");
  auto unknown = reportRows(story(), {}, 30 * 24h, kNow);
  EXPECT_EQ(unknown[2].databases[0].columns, "unknown");
  EXPECT_TRUE(unknown[2].databases[0].withheld.empty());
}

TEST(Report, SummariesPerPersonAndPolicy) {
  auto people = summaryBy(rows(), false);
  ASSERT_EQ(people.size(), 2u);
  EXPECT_EQ(people[0].key, "alice");
  EXPECT_EQ(people[0].requests, 2);
  EXPECT_EQ(people[0].active, 1);
  EXPECT_EQ(people[0].denied, 1);
  EXPECT_EQ(people[1].key, "carol");
  EXPECT_EQ(people[1].breakGlass, 1);
  auto policies = summaryBy(rows(), true);
  ASSERT_EQ(policies.size(), 1u);
  EXPECT_EQ(policies[0].requests, 3);
  EXPECT_EQ(policies[0].held, 5400s);
}

TEST(Report, JsonAndCsvCarryEveryField) {
  auto j = reportJson(rows(), {.now = kNow, .since = 30 * 24h, .scope = "namespace payments"});
  EXPECT_EQ(j["since"], "30d");
  ASSERT_EQ(j["requests"].size(), 3u);
  const auto& e = j["requests"][0];
  EXPECT_EQ(e["requester"], "alice");
  EXPECT_EQ(e["ticket"], "INC-1");
  EXPECT_EQ(e["approvedAt"], "2026-11-20T09:05:00Z");
  EXPECT_EQ(e["activeAt"], "2026-11-20T09:05:01Z");
  EXPECT_EQ(e["endedAt"], "2026-11-20T10:05:01Z");
  EXPECT_EQ(e["outcome"], "Expired");
  EXPECT_EQ(j["requests"][1]["activeAt"], nullptr);
  EXPECT_EQ(j["byRequester"][1]["breakGlass"], 1);

  const std::string csv = reportCsv(rows());
  std::vector<std::string> lines;
  for (std::size_t p = 0, n; (n = csv.find('\n', p)) != std::string::npos; p = n + 1) {
    lines.push_back(csv.substr(p, n - p));
  }
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].substr(0, 33), "namespace,name,requester,policy,r");
  EXPECT_NE(lines[1].find(R"("orders, ""stuck""")"), std::string::npos) << lines[1];
  EXPECT_NE(lines[3].find("orders-db:public.customers.ssn"), std::string::npos) << lines[3];
  EXPECT_NE(lines[3].find(",true,Active,1800"), std::string::npos) << lines[3];
}

TEST(Report, TheHtmlPageIsSelfContainedWithABarPerAccessWindow) {
  const std::string page =
      reportHtml(rows(), {.now = kNow, .since = 30 * 24h, .scope = "namespace payments"});
  auto count = [&](const std::string& re) {
    std::regex r(re);
    return std::distance(std::sregex_iterator(page.begin(), page.end(), r), std::sregex_iterator());
  };
  EXPECT_EQ(count("<rect class=\"window"), 2) << "the denied request held nothing";
  EXPECT_EQ(count("<rect class=\"window breakglass\""), 1);
  EXPECT_EQ(count("<tr class=\"bg\">"), 1);
  EXPECT_EQ(page.find("src=\"http"), std::string::npos);
  EXPECT_EQ(page.find("href=\"http"), std::string::npos);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_NE(page.find("orders, &quot;stuck&quot;"), std::string::npos) << "escaped";
}

TEST(Report, WindowsOfOnePersonThatOverlapAreDrawnInLanesNoneHidden) {
  auto window = [](const char* name, const char* from, const char* to, bool glass) {
    ReportRow r;
    r.namespace_ = "payments";
    r.name = name;
    r.requester = "alice";
    r.active = at(from);
    r.ended = at(to);
    r.breakGlass = glass;
    r.outcome = "Expired";
    return r;
  };
  // a and the break-glass window overlap; c begins after a ended and reuses a's lane.
  const std::vector<ReportRow> rows = {
      window("a", "2026-11-29T09:00:00Z", "2026-11-29T09:20:00Z", false),
      window("glass", "2026-11-29T09:10:00Z", "2026-11-29T09:50:00Z", true),
      window("c", "2026-11-29T09:30:00Z", "2026-11-29T09:40:00Z", false)};
  const std::string page =
      reportHtml(rows, {.now = kNow, .since = 24h, .scope = "namespace payments"});
  auto yOf = [&](const std::string& name) {
    std::smatch m;
    const std::regex re(
        "<rect class=\"window[^\"]*\" x=\"[0-9.]+\" y=\"([0-9]+)\"[^>]*data-request=\"payments/" +
        name + "\"");
    EXPECT_TRUE(std::regex_search(page, m, re)) << name << " has no bar:\n" << page;
    return m.empty() ? -1 : std::stoi(m[1]);
  };
  EXPECT_NE(yOf("a"), yOf("glass")) << "overlapping windows share no lane";
  EXPECT_EQ(yOf("c"), yOf("a")) << "a window after another ended reuses its lane";
  EXPECT_GE(std::abs(yOf("glass") - yOf("a")), 18) << "the bars (18 px) do not overlap";
}

}  // namespace
}  // namespace kubegrant::kubectl_grant
