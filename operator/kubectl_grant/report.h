#pragma once

// The access review report (`kubectl grant report`): who held what access, when and why,
// from the retained AccessRequests (an ended request is kept as its audit record until
// endedAt + retainFor). Pure: rows from typed objects and the time; CSV, JSON, a text table
// and one self-contained HTML page (inline CSS and SVG, nothing fetched) with a timeline.

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "crds/v1alpha1/types.h"
#include "operator/common/clock.h"
#include "operator/common/result.h"

namespace kubegrant::kubectl_grant {

// "30d", "12h", "90m", "1h30m": days are 24 h. Invalid otherwise.
[[nodiscard]] Result<std::chrono::nanoseconds> parseSince(std::string_view text);

// One database a request asked for, with the columns its profile withholds and masks.
struct ReportDatabase {
  std::string target, profile;
  std::vector<std::string> withheld;  // "schema.table.column"
  std::vector<std::string> masked;    // "schema.table.column (redact)"
  // Where the columns come from: "recorded" (the profile as applied, its fingerprint matches
  // status.grants), "current" (the DatabaseTarget's profile now: no fingerprint recorded, e.g.
  // after the request ended), "changed" (the profile changed since it was applied; the columns
  // are today's), "unknown" (the DatabaseTarget or profile could not be read).
  std::string columns;
};

struct ReportRow {
  std::string namespace_, name, requester, policy;
  std::vector<std::string> roles;       // "ClusterRole/view", "Role/pod-debugger"
  std::vector<std::string> namespaces;  // where the roles apply; "(cluster)" for cluster-wide
  std::vector<ReportDatabase> databases;
  std::string reason, ticket;
  std::vector<std::string> approvers;  // who approved (decisions that were recorded)
  std::vector<std::string> deniedBy;
  std::optional<TimePoint> requested, approved, active, ended, expiresAt;
  bool breakGlass = false;
  // How it ended (or where it is): Expired, Revoked, Denied, Failed, Active, Approved, Pending.
  std::string outcome;
  std::chrono::seconds held{0};  // active until ended (or now, while Active)
};

// The rows of `requests` that touch the window [now - since, now]: requested in it, or ended
// in it, or still open. `targets` by name (those the caller could read). Oldest first.
std::vector<ReportRow> reportRows(const std::vector<v1alpha1::AccessRequest>& requests,
                                  const std::map<std::string, v1alpha1::DatabaseTarget>& targets,
                                  std::chrono::nanoseconds since, TimePoint now);

// Per person (requester) and per policy: requests, approved (ever active), denied,
// break-glass, and the access time held.
struct ReportSummary {
  std::string key;
  int requests = 0, active = 0, denied = 0, breakGlass = 0;
  std::chrono::seconds held{0};
};
std::vector<ReportSummary> summaryBy(const std::vector<ReportRow>& rows, bool byPolicy);

struct ReportMeta {
  TimePoint now{};
  std::chrono::nanoseconds since{};
  std::string scope;  // "namespace payments" or "all namespaces"
};

nlohmann::json reportJson(const std::vector<ReportRow>& rows, const ReportMeta& meta);
// One header line, then a row per request; lists joined with "; ", RFC 4180 quoting.
std::string reportCsv(const std::vector<ReportRow>& rows);
std::string reportTable(const std::vector<ReportRow>& rows, const ReportMeta& meta);
// One page: the summaries, a timeline from the first access window to now (an SVG
// <rect class="window"> 18 px high per access window per person, blue, or red with class
// "breakglass"; a person's windows that overlap in time go in lanes one under the other, so
// none hides another), and the table.
std::string reportHtml(const std::vector<ReportRow>& rows, const ReportMeta& meta);

}  // namespace kubegrant::kubectl_grant
