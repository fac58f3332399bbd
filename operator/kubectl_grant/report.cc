#include "operator/kubectl_grant/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "controllers/database/credentials.h"
#include "crds/v1alpha1/duration.h"
#include "operator/common/time.h"

namespace kubegrant::kubectl_grant {

namespace v1 = v1alpha1;
using nlohmann::json;

Result<std::chrono::nanoseconds> parseSince(std::string_view text) {
  if (text.size() > 1 && text.back() == 'd') {
    std::string_view digits = text.substr(0, text.size() - 1);
    if (std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
        digits.size() <= 6) {
      return std::chrono::hours(24) * std::stoll(std::string(digits));
    }
  }
  auto d = v1::parseDuration(text);
  if (!d) return fail(ErrorCode::Invalid, "--since: " + d.error().message + " (or days: 30d)");
  return std::chrono::duration_cast<std::chrono::nanoseconds>(*d);
}

namespace {

std::string fullColumn(const v1::TableGrant& g, const std::string& table,
                       const std::string& column) {
  return fmt::format("{}.{}.{}", g.schema, table, column);
}

ReportDatabase databaseOf(const v1::RequestedDatabase& asked, const v1::AccessRequest& request,
                          const std::map<std::string, v1::DatabaseTarget>& targets) {
  ReportDatabase db{.target = asked.target, .profile = asked.profile, .columns = "unknown"};
  auto t = targets.find(asked.target);
  if (t == targets.end()) return db;
  const v1::DatabaseProfile* profile = nullptr;
  for (const auto& p : t->second.spec.profiles) {
    if (p.name == asked.profile) profile = &p;
  }
  if (profile == nullptr) return db;
  for (const auto& g : profile->grants) {
    for (const auto& [table, columns] : g.excludeColumns) {
      for (const auto& c : columns) db.withheld.push_back(fullColumn(g, table, c));
    }
    for (const auto& [table, columns] : g.maskColumns) {
      for (const auto& [c, fn] : columns) {
        db.masked.push_back(fmt::format("{} ({})", fullColumn(g, table, c), v1::toString(fn)));
      }
    }
  }
  std::string recorded;
  if (request.status) {
    for (const auto& g : request.status->grants) {
      if (g.kind == v1::GrantKind::DatabaseUser && g.target == asked.target &&
          g.profile == asked.profile) {
        recorded = g.profileHash;
      }
    }
  }
  if (recorded.empty()) {
    db.columns = "current";
  } else {
    db.columns = recorded == database::profileHash(t->second, *profile) ? "recorded" : "changed";
  }
  return db;
}

std::string outcomeOf(const v1::AccessRequest& r) {
  if (!r.status || !r.status->phase) return "Pending";
  return v1::toString(*r.status->phase);
}

std::string join(const std::vector<std::string>& v, std::string_view sep = "; ") {
  return fmt::format("{}", fmt::join(v, sep));
}

std::string timeText(const std::optional<TimePoint>& t) { return t ? formatRfc3339(*t) : ""; }

std::string heldText(std::chrono::seconds s) {
  if (s.count() == 0) return "0s";
  return v1::formatDuration(s);
}

std::string databasesText(const std::vector<ReportDatabase>& dbs) {
  std::vector<std::string> parts;
  for (const auto& d : dbs) {
    std::string s = d.target + "/" + d.profile;
    if (!d.withheld.empty()) s += " withheld: " + join(d.withheld, ", ");
    if (!d.masked.empty()) s += " masked: " + join(d.masked, ", ");
    s += " [" + d.columns + "]";
    parts.push_back(s);
  }
  return join(parts);
}

std::string csvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string html(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string sinceText(std::chrono::nanoseconds since) {
  auto h = std::chrono::duration_cast<std::chrono::hours>(since).count();
  if (h > 0 && h % 24 == 0) return fmt::format("{}d", h / 24);
  return v1::formatDuration(since);
}

}  // namespace

std::vector<ReportRow> reportRows(const std::vector<v1::AccessRequest>& requests,
                                  const std::map<std::string, v1::DatabaseTarget>& targets,
                                  std::chrono::nanoseconds since, TimePoint now) {
  const TimePoint from = now - std::chrono::duration_cast<Duration>(since);
  std::vector<ReportRow> rows;
  for (const auto& r : requests) {
    const auto& st = r.status;
    const std::optional<TimePoint> ended = st ? st->endedAt : std::nullopt;
    const std::optional<TimePoint> created = r.metadata.creationTimestamp;
    const bool open = !st || !st->phase || !v1::isTerminal(*st->phase);
    if (!open && !(created && *created >= from) && !(ended && *ended >= from)) continue;
    ReportRow row;
    row.namespace_ = r.metadata.namespace_;
    row.name = r.metadata.name;
    row.requester = r.spec.requester ? r.spec.requester->username : "";
    row.policy = r.spec.policy;
    std::set<std::string> namespaces;
    for (const auto& role : r.spec.roles) {
      row.roles.push_back(fmt::format("{}/{}", v1::toString(role.kind), role.name));
      if (role.scope == v1::RoleScope::Cluster) {
        namespaces.insert("(cluster)");
      } else if (role.namespaces.empty()) {
        namespaces.insert(r.metadata.namespace_);
      } else {
        namespaces.insert(role.namespaces.begin(), role.namespaces.end());
      }
    }
    row.namespaces.assign(namespaces.begin(), namespaces.end());
    for (const auto& d : r.spec.databases) row.databases.push_back(databaseOf(d, r, targets));
    row.reason = r.spec.reason.value_or("");
    row.ticket = r.spec.ticket.value_or("");
    row.requested = created;
    if (st) {
      for (const auto& a : st->approvals) {
        if (!a.approver) continue;
        (a.decision == v1::Decision::Approve ? row.approvers : row.deniedBy).push_back(*a.approver);
      }
      row.approved = st->approvedAt;
      row.active = st->activatedAt;
      row.ended = st->endedAt;
      row.expiresAt = st->expiresAt;
      row.breakGlass = st->breakGlass.value_or(false);
    }
    row.outcome = outcomeOf(r);
    if (row.active) {
      const TimePoint until = row.ended.value_or(now);
      row.held = std::max(std::chrono::seconds(0),
                          std::chrono::duration_cast<std::chrono::seconds>(until - *row.active));
    }
    rows.push_back(std::move(row));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const ReportRow& a, const ReportRow& b) {
    return std::tie(a.requested, a.namespace_, a.name) <
           std::tie(b.requested, b.namespace_, b.name);
  });
  return rows;
}

std::vector<ReportSummary> summaryBy(const std::vector<ReportRow>& rows, bool byPolicy) {
  std::map<std::string, ReportSummary> by;
  for (const auto& r : rows) {
    const std::string& key = byPolicy ? r.policy : r.requester;
    auto& s = by[key];
    s.key = key;
    ++s.requests;
    if (r.active) ++s.active;
    if (r.outcome == "Denied") ++s.denied;
    if (r.breakGlass) ++s.breakGlass;
    s.held += r.held;
  }
  std::vector<ReportSummary> out;
  for (auto& [k, s] : by) out.push_back(s);
  return out;
}

json reportJson(const std::vector<ReportRow>& rows, const ReportMeta& meta) {
  json requests = json::array();
  for (const auto& r : rows) {
    json dbs = json::array();
    for (const auto& d : r.databases) {
      dbs.push_back({{"target", d.target},
                     {"profile", d.profile},
                     {"withheldColumns", d.withheld},
                     {"maskedColumns", d.masked},
                     {"columns", d.columns}});
    }
    auto t = [](const std::optional<TimePoint>& tp) -> json {
      return tp ? json(formatRfc3339(*tp)) : json(nullptr);
    };
    requests.push_back({{"namespace", r.namespace_},
                        {"name", r.name},
                        {"requester", r.requester},
                        {"policy", r.policy},
                        {"roles", r.roles},
                        {"namespaces", r.namespaces},
                        {"databases", dbs},
                        {"reason", r.reason},
                        {"ticket", r.ticket},
                        {"approvers", r.approvers},
                        {"deniedBy", r.deniedBy},
                        {"requestedAt", t(r.requested)},
                        {"approvedAt", t(r.approved)},
                        {"activeAt", t(r.active)},
                        {"endedAt", t(r.ended)},
                        {"expiresAt", t(r.expiresAt)},
                        {"breakGlass", r.breakGlass},
                        {"outcome", r.outcome},
                        {"heldSeconds", r.held.count()}});
  }
  auto summaries = [&](bool byPolicy) {
    json out = json::array();
    for (const auto& s : summaryBy(rows, byPolicy)) {
      out.push_back({{byPolicy ? "policy" : "requester", s.key},
                     {"requests", s.requests},
                     {"active", s.active},
                     {"denied", s.denied},
                     {"breakGlass", s.breakGlass},
                     {"heldSeconds", s.held.count()}});
    }
    return out;
  };
  return {{"kind", "AccessReport"},
          {"generatedAt", formatRfc3339(meta.now)},
          {"since", sinceText(meta.since)},
          {"from", formatRfc3339(meta.now - std::chrono::duration_cast<Duration>(meta.since))},
          {"scope", meta.scope},
          {"requests", requests},
          {"byRequester", summaries(false)},
          {"byPolicy", summaries(true)}};
}

std::string reportCsv(const std::vector<ReportRow>& rows) {
  std::string out =
      "namespace,name,requester,policy,roles,namespaces,databases,withheldColumns,maskedColumns,"
      "reason,ticket,approvers,deniedBy,requestedAt,approvedAt,activeAt,endedAt,breakGlass,"
      "outcome,heldSeconds\n";
  for (const auto& r : rows) {
    std::vector<std::string> dbs, withheld, masked;
    for (const auto& d : r.databases) {
      dbs.push_back(d.target + "/" + d.profile);
      for (const auto& c : d.withheld) withheld.push_back(d.target + ":" + c);
      for (const auto& c : d.masked) masked.push_back(d.target + ":" + c);
    }
    std::vector<std::string> fields = {r.namespace_,
                                       r.name,
                                       r.requester,
                                       r.policy,
                                       join(r.roles),
                                       join(r.namespaces),
                                       join(dbs),
                                       join(withheld),
                                       join(masked),
                                       r.reason,
                                       r.ticket,
                                       join(r.approvers),
                                       join(r.deniedBy),
                                       timeText(r.requested),
                                       timeText(r.approved),
                                       timeText(r.active),
                                       timeText(r.ended),
                                       r.breakGlass ? "true" : "false",
                                       r.outcome,
                                       std::to_string(r.held.count())};
    for (std::size_t i = 0; i < fields.size(); ++i) {
      out += (i ? "," : "") + csvField(fields[i]);
    }
    out += "\n";
  }
  return out;
}

std::string reportTable(const std::vector<ReportRow>& rows, const ReportMeta& meta) {
  std::string out = fmt::format("Access report: {}, the last {} (to {})\n\n", meta.scope,
                                sinceText(meta.since), formatRfc3339(meta.now));
  out += fmt::format("{:<24} {:<18} {:<20} {:<9} {:<10} {:<8} {}\n", "NAME", "REQUESTER", "POLICY",
                     "OUTCOME", "HELD", "BREAK", "APPROVERS");
  for (const auto& r : rows) {
    out += fmt::format("{:<24} {:<18} {:<20} {:<9} {:<10} {:<8} {}\n", r.name, r.requester,
                       r.policy, r.outcome, heldText(r.held), r.breakGlass ? "yes" : "-",
                       r.approvers.empty() ? "-" : join(r.approvers, ","));
  }
  for (bool byPolicy : {false, true}) {
    out += fmt::format("\n{:<24} {:>8} {:>7} {:>7} {:>6} {}\n", byPolicy ? "POLICY" : "REQUESTER",
                       "REQUESTS", "ACTIVE", "DENIED", "BREAK", "HELD");
    for (const auto& s : summaryBy(rows, byPolicy)) {
      out += fmt::format("{:<24} {:>8} {:>7} {:>7} {:>6} {}\n", s.key, s.requests, s.active,
                         s.denied, s.breakGlass, heldText(s.held));
    }
  }
  return out;
}

std::string reportHtml(const std::vector<ReportRow>& rows, const ReportMeta& meta) {
  const TimePoint from = meta.now - std::chrono::duration_cast<Duration>(meta.since);
  // The chart's time axis: from the first access window (the --since window when there is
  // none) to now, so that short windows are still visible bars.
  std::optional<TimePoint> first;
  for (const auto& r : rows) {
    if (r.active && (!first || *r.active < *first)) first = *r.active;
  }
  const TimePoint t0 = first.value_or(from);
  const double span =
      std::max(1.0, std::chrono::duration<double>(meta.now - t0).count());  // seconds
  std::vector<std::string> people;
  for (const auto& s : summaryBy(rows, false)) people.push_back(s.key);
  constexpr int kLabel = 160, kWidth = 760, kTop = 24, kBar = 18, kLane = 22, kGap = 8;
  auto x = [&](TimePoint t) {
    return kLabel + std::chrono::duration<double>(t - t0).count() / span * kWidth;
  };
  // Each person's windows in lanes: a window goes in the first lane whose last window ended
  // before it began, so windows that overlap in time are drawn one under the other, none hidden.
  struct Bar {
    const ReportRow* row;
    double x1, x2;
    int lane;
  };
  std::vector<std::vector<Bar>> bars(people.size());
  std::vector<int> lanes(people.size(), 1);
  for (std::size_t i = 0; i < people.size(); ++i) {
    for (const auto& r : rows) {
      if (r.requester != people[i] || !r.active) continue;
      const double x1 = x(*r.active);
      bars[i].push_back({&r, x1, std::max(x1 + 6.0, x(r.ended.value_or(meta.now))), 0});
    }
    std::stable_sort(bars[i].begin(), bars[i].end(),
                     [](const Bar& a, const Bar& b) { return a.x1 < b.x1; });
    std::vector<double> laneEnds;
    for (auto& b : bars[i]) {
      auto free =
          std::find_if(laneEnds.begin(), laneEnds.end(), [&](double e) { return e <= b.x1; });
      if (free == laneEnds.end()) free = laneEnds.insert(laneEnds.end(), 0.0);
      *free = b.x2;
      b.lane = static_cast<int>(free - laneEnds.begin());
    }
    lanes[i] = std::max<int>(1, static_cast<int>(laneEnds.size()));
  }
  int height = kTop + 24;
  for (int n : lanes) height += n * kLane + kGap;

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"timeline\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"Access windows per person\">\n",
      kLabel + kWidth + 20, height, kLabel + kWidth + 20, height);
  svg += fmt::format(
      "<text x=\"{}\" y=\"14\" class=\"axis\">{}</text><text x=\"{}\" y=\"14\" class=\"axis\" "
      "text-anchor=\"end\">{}</text>\n",
      kLabel, html(formatRfc3339(t0)), kLabel + kWidth, html(formatRfc3339(meta.now)));
  int y = kTop;
  for (std::size_t i = 0; i < people.size(); ++i) {
    const int rowHeight = lanes[i] * kLane + kGap;
    svg += fmt::format(
        "<text x=\"4\" y=\"{}\" class=\"person\">{}</text><line x1=\"{}\" y1=\"{}\" x2=\"{}\" "
        "y2=\"{}\" class=\"lane\"/>\n",
        y + 18, html(people[i]), kLabel, y + rowHeight - 2, kLabel + kWidth, y + rowHeight - 2);
    for (const auto& b : bars[i]) {
      const ReportRow& r = *b.row;
      svg += fmt::format(
          "<rect class=\"window{}\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" "
          "fill=\"{}\" data-request=\"{}/{}\"><title>{}/{}: {} ({}{})</title></rect>\n",
          r.breakGlass ? " breakglass" : "", b.x1, y + 4 + b.lane * kLane, b.x2 - b.x1, kBar,
          r.breakGlass ? "#d62728" : "#1f77b4", html(r.namespace_), html(r.name),
          html(r.namespace_), html(r.name), html(r.outcome), heldText(r.held),
          r.breakGlass ? ", break-glass" : "");
    }
    y += rowHeight;
  }
  svg += "</svg>\n";

  std::string table =
      "<table id=\"requests\"><thead><tr><th>Request</th><th>Requester</th><th>Policy</th>"
      "<th>Roles</th><th>Namespaces</th><th>Databases (withheld / masked columns)</th>"
      "<th>Reason</th><th>Ticket</th><th>Approvers</th><th>Requested</th><th>Approved</th>"
      "<th>Active</th><th>Ended</th><th>Break-glass</th><th>Outcome</th><th>Held</th></tr>"
      "</thead><tbody>\n";
  for (const auto& r : rows) {
    table += fmt::format(
        "<tr{}><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td></tr>\n",
        r.breakGlass ? " class=\"bg\"" : "", html(r.namespace_), html(r.name), html(r.requester),
        html(r.policy), html(join(r.roles, ", ")), html(join(r.namespaces, ", ")),
        html(databasesText(r.databases)), html(r.reason), html(r.ticket),
        html(join(r.approvers, ", ")), html(timeText(r.requested)), html(timeText(r.approved)),
        html(timeText(r.active)), html(timeText(r.ended)), r.breakGlass ? "yes" : "",
        html(r.outcome), heldText(r.held));
  }
  table += "</tbody></table>\n";

  std::string summaries;
  for (bool byPolicy : {false, true}) {
    summaries += fmt::format(
        "<table class=\"summary\" id=\"by-{}\"><thead><tr><th>{}</th><th>Requests</th>"
        "<th>Active</th><th>Denied</th><th>Break-glass</th><th>Held</th></tr></thead><tbody>\n",
        byPolicy ? "policy" : "requester", byPolicy ? "Policy" : "Requester");
    for (const auto& s : summaryBy(rows, byPolicy)) {
      summaries += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
          html(s.key), s.requests, s.active, s.denied, s.breakGlass, heldText(s.held));
    }
    summaries += "</tbody></table>\n";
  }

  return fmt::format(
      R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>kubegrant access report</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; background: #fff; }}
h1 {{ font-size: 20px; }} h2 {{ font-size: 16px; margin-top: 24px; }}
table {{ border-collapse: collapse; font-size: 12px; margin-bottom: 12px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }}
th {{ background: #f0f0f0; }}
tr.bg td {{ background: #fde0e0; }}
.summary {{ display: inline-table; margin-right: 24px; }}
svg text {{ font-size: 12px; fill: #222; }}
svg .axis {{ fill: #666; }}
svg .lane {{ stroke: #ddd; }}
.legend span {{ display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; }}
</style></head>
<body>
<h1>kubegrant access report</h1>
<p>{}: the last {} ({} to {}), {} request{}.</p>
<h2>Summary</h2>
{}
<h2>Timeline</h2>
<p class="legend"><span style="background:#1f77b4"></span>access window
<span style="background:#d62728"></span>break-glass</p>
{}
<h2>Requests</h2>
{}
</body></html>
)",
      html(meta.scope), sinceText(meta.since), html(formatRfc3339(from)),
      html(formatRfc3339(meta.now)), rows.size(), rows.size() == 1 ? "" : "s", summaries, svg,
      table);
}

}  // namespace kubegrant::kubectl_grant
