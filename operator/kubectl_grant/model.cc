#include "operator/kubectl_grant/model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <tuple>

#include "crds/v1alpha1/duration.h"
#include "crds/v1alpha1/policy.h"
#include "operator/common/time.h"

namespace kubegrant::kubectl_grant {

namespace v1 = v1alpha1;

namespace {

bool validName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string timeText(const std::optional<TimePoint>& t) {
  return t ? formatRfc3339(*t) : std::string("-");
}

}  // namespace

// ---- request ---------------------------------------------------------------------------

Result<v1::RequestedRole> parseRoleFlag(std::string_view text, const AccessPolicy* policy) {
  v1::RequestedRole role;
  std::string_view spec = text;
  if (auto at = spec.find('@'); at != std::string_view::npos) {
    for (auto& ns : split(spec.substr(at + 1), ',')) {
      if (!validName(ns)) {
        return fail(
            ErrorCode::Invalid,
            fmt::format("--role {}: namespace {:?} is not a valid namespace name", text, ns));
      }
      role.namespaces.push_back(ns);
    }
    spec = spec.substr(0, at);
  }
  std::optional<v1::RoleKind> kind;
  if (auto slash = spec.find('/'); slash != std::string_view::npos) {
    kind = v1::parseRoleKind(spec.substr(0, slash));
    if (!kind) {
      return fail(ErrorCode::Invalid,
                  fmt::format("--role {}: kind {:?} must be Role or ClusterRole", text,
                              spec.substr(0, slash)));
    }
    spec = spec.substr(slash + 1);
  }
  if (spec.empty()) {
    return fail(ErrorCode::Invalid,
                fmt::format("--role {}: a role name is required (NAME, Role/NAME or "
                            "ClusterRole/NAME, then optionally @NAMESPACE,...)",
                            text));
  }
  role.name = std::string(spec);
  if (kind) {
    role.kind = *kind;
    return role;
  }
  std::vector<v1::RoleKind> allowed;
  if (policy != nullptr) {
    for (const auto& r : policy->spec.roles) {
      if (r.name == role.name) allowed.push_back(r.kind);
    }
  }
  if (allowed.empty() && policy != nullptr && role.namespaces.empty() &&
      std::ranges::find(policy->spec.clusterRoles, role.name) != policy->spec.clusterRoles.end()) {
    return fail(ErrorCode::Invalid,
                fmt::format("--role {}: policy {} allows ClusterRole/{} cluster-wide only; ask for "
                            "it with --cluster-role {}",
                            text, policy->metadata.name, role.name, role.name));
  }
  if (allowed.size() > 1) {
    return fail(ErrorCode::Invalid,
                fmt::format("--role {}: policy {} allows both Role/{} and ClusterRole/{}; say "
                            "which",
                            text, policy->metadata.name, role.name, role.name));
  }
  role.kind = allowed.empty() ? v1::RoleKind::ClusterRole : allowed.front();
  return role;
}

Result<v1::RequestedRole> parseClusterRoleFlag(std::string_view text) {
  if (!validName(text)) {
    return fail(ErrorCode::Invalid,
                fmt::format("--cluster-role {:?}: expected the name of a ClusterRole the policy "
                            "lists in spec.clusterRoles, e.g. node-viewer",
                            text));
  }
  v1::RequestedRole role;
  role.kind = v1::RoleKind::ClusterRole;
  role.name = std::string(text);
  role.scope = v1::RoleScope::Cluster;
  return role;
}

Result<v1::RequestedDatabase> parseDatabaseFlag(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size() ||
      text.find('/', slash + 1) != std::string_view::npos) {
    return fail(ErrorCode::Invalid,
                fmt::format("--db {}: expected TARGET/PROFILE, e.g. orders-db/readonly", text));
  }
  return v1::RequestedDatabase{std::string(text.substr(0, slash)),
                               std::string(text.substr(slash + 1))};
}

Result<AccessRequest> buildRequest(const RequestFlags& flags, std::string_view ns,
                                   const AccessPolicy* policy) {
  if (flags.policy.empty()) return fail(ErrorCode::Invalid, "--policy is required");
  if (flags.roles.empty() && flags.clusterRoles.empty() && flags.databases.empty()) {
    return fail(ErrorCode::Invalid,
                "ask for something: at least one --role, --cluster-role or --db");
  }
  AccessRequest r;
  r.metadata.namespace_ = std::string(ns);
  if (flags.name.empty()) {
    r.metadata.generateName = flags.policy + "-";
  } else if (!validName(flags.name)) {
    return fail(
        ErrorCode::Invalid,
        fmt::format("--name {:?}: lower-case letters, digits, '-' and '.' only", flags.name));
  } else {
    r.metadata.name = flags.name;
  }
  r.spec.policy = flags.policy;
  for (const auto& text : flags.roles) {
    auto role = parseRoleFlag(text, policy);
    if (!role) return std::unexpected(role.error());
    r.spec.roles.push_back(std::move(*role));
  }
  for (const auto& text : flags.clusterRoles) {
    auto role = parseClusterRoleFlag(text);
    if (!role) return std::unexpected(role.error());
    r.spec.roles.push_back(std::move(*role));
  }
  for (const auto& text : flags.databases) {
    auto db = parseDatabaseFlag(text);
    if (!db) return std::unexpected(db.error());
    r.spec.databases.push_back(std::move(*db));
  }
  if (!flags.duration.empty()) {
    if (auto d = v1::parseDuration(flags.duration); !d) {
      return fail(ErrorCode::Invalid, fmt::format("--for: {}", d.error().message));
    }
    r.spec.duration = flags.duration;
  }
  if (!flags.startAt.empty()) {
    if (!parseRfc3339(flags.startAt)) {
      return fail(ErrorCode::Invalid,
                  fmt::format("--start-at {:?}: expected an RFC 3339 time such as "
                              "2026-12-01T22:00:00Z",
                              flags.startAt));
    }
    r.spec.startAt = flags.startAt;
  }
  if (!flags.reason.empty()) r.spec.reason = flags.reason;
  if (!flags.ticket.empty()) r.spec.ticket = flags.ticket;
  return r;
}

// ---- list ------------------------------------------------------------------------------

std::string rolesText(const AccessRequest& request) {
  std::vector<std::string> parts;
  for (const auto& role : request.spec.roles) {
    if (role.scope == v1::RoleScope::Cluster) {
      parts.push_back(fmt::format("ClusterRole/{}@cluster", role.name));
      continue;
    }
    std::string name = role.kind == v1::RoleKind::Role ? "Role/" + role.name : role.name;
    const auto& nss = role.namespaces;
    parts.push_back(fmt::format(
        "{}@{}", name,
        nss.empty() ? request.metadata.namespace_ : fmt::format("{}", fmt::join(nss, ","))));
  }
  return parts.empty() ? "-" : fmt::format("{}", fmt::join(parts, " "));
}

std::string databasesText(const AccessRequest& request) {
  std::vector<std::string> parts;
  for (const auto& db : request.spec.databases) parts.push_back(db.target + "/" + db.profile);
  return parts.empty() ? "-" : fmt::format("{}", fmt::join(parts, " "));
}

std::string approvalsText(const AccessRequest& request, const AccessPolicy* policy) {
  if (policy != nullptr) {
    auto tally = v1::countApprovals(*policy, request);
    return fmt::format("{}/{}", tally.approvals, tally.required);
  }
  int n = 0;
  if (request.status) {
    for (const auto& a : request.status->approvals) n += a.decision == v1::Decision::Approve;
  }
  return fmt::format("{}/?", n);
}

std::string phaseText(const AccessRequest& request) {
  if (request.status && request.status->phase) return v1::toString(*request.status->phase);
  return "Pending";
}

std::string expiresInText(const AccessRequest& request, TimePoint now) {
  if (!request.status || request.status->phase != v1::Phase::Active || !request.status->expiresAt) {
    return "-";
  }
  return humanDuration(*request.status->expiresAt - now);
}

ListRow toRow(const AccessRequest& request, const AccessPolicy* policy, TimePoint now) {
  ListRow row;
  row.namespace_ = request.metadata.namespace_;
  row.name = request.metadata.name;
  row.requester = request.spec.requester ? request.spec.requester->username : "-";
  row.policy = request.spec.policy;
  row.roles = rolesText(request);
  row.databases = databasesText(request);
  row.phase = phaseText(request);
  row.approvals = approvalsText(request, policy);
  row.expiresIn = expiresInText(request, now);
  return row;
}

std::string renderList(const std::vector<ListRow>& rows, bool withNamespace, const Style& style) {
  std::vector<std::string> headers = {"name",      "requester", "policy",    "roles",
                                      "databases", "phase",     "approvals", "expires in"};
  if (withNamespace) headers.insert(headers.begin(), "namespace");
  Table table(headers);
  for (const auto& r : rows) {
    std::vector<std::string> cells = {r.name,      r.requester,          r.policy,    r.roles,
                                      r.databases, style.phase(r.phase), r.approvals, r.expiresIn};
    if (withNamespace) cells.insert(cells.begin(), r.namespace_);
    table.addRow(std::move(cells));
  }
  return table.render();
}

bool isMine(const AccessRequest& request, const UserInfo& caller) {
  return request.spec.requester && request.spec.requester->username == caller.username;
}

bool awaitsDecisionBy(const AccessRequest& request, const AccessPolicy& policy,
                      const UserInfo& caller) {
  if (phaseText(request) != "Pending") return false;
  return !v1::mayApprove(policy, request, caller).has_value();
}

// ---- request --wait --------------------------------------------------------------------

std::string waitLine(const AccessRequest& request, const AccessPolicy* policy,
                     std::chrono::nanoseconds waited, const Style& style) {
  std::string message = request.status && request.status->message ? *request.status->message : "";
  return fmt::format("{} {}  approvals {}  {}{}", style.bold(request.metadata.name),
                     style.phase(phaseText(request)), approvalsText(request, policy),
                     style.dim(humanDuration(waited)), message.empty() ? "" : "  " + message);
}

std::vector<std::string> psqlCommands(std::string_view ns, std::string_view secretName,
                                      const std::optional<DatabaseSecret>& secret,
                                      std::string_view kubectlFlags) {
  const std::string get =
      fmt::format("kubectl{} get secret {} -n {}", kubectlFlags, secretName, ns);
  if (!secret) {
    return {fmt::format("psql \"$({} -o jsonpath='{{.data.uri}}' | base64 -d)\"", get)};
  }
  std::vector<std::string> out;
  std::string conn = fmt::format("host={} port={} dbname={} user={} sslmode={}", secret->host,
                                 secret->port, secret->database, secret->username,
                                 secret->sslmode.empty() ? "require" : secret->sslmode);
  if (secret->hasCa) {
    std::string caFile = fmt::format("${{TMPDIR:-/tmp}}/{}-ca.crt", secretName);
    out.push_back(
        fmt::format("{} -o jsonpath='{{.data.ca\\.crt}}' | base64 -d > \"{}\"", get, caFile));
    conn += " sslrootcert=" + caFile;
  }
  out.push_back(fmt::format(
      "PGPASSWORD=\"$({} -o jsonpath='{{.data.password}}' | base64 -d)\" psql \"{}\"", get, conn));
  return out;
}

std::string accessInstructions(const AccessRequest& request, TimePoint now,
                               const std::map<std::string, DatabaseSecret>& secrets,
                               std::string_view kubectlFlags, const Style& style) {
  std::string out;
  const auto& st = request.status;
  if (st && st->expiresAt) {
    out += fmt::format("Access is active until {} (in {}).\n", formatRfc3339(*st->expiresAt),
                       humanDuration(*st->expiresAt - now));
  }
  if (st && st->breakGlass.value_or(false)) {
    out += style.yellow("Break-glass: approved at once and flagged for review.") + "\n";
  }
  std::vector<std::string> hinted;  // one example command per namespace
  for (const auto& role : request.spec.roles) {
    std::vector<std::string> nss = role.namespaces;
    if (nss.empty()) nss.push_back(request.metadata.namespace_);
    for (const auto& ns : nss) {
      out += fmt::format("  {}/{} in namespace {}", v1::toString(role.kind), role.name, ns);
      if (std::find(hinted.begin(), hinted.end(), ns) == hinted.end()) {
        out += fmt::format(", e.g.  kubectl{} get pods -n {}", kubectlFlags, ns);
        hinted.push_back(ns);
      }
      out += "\n";
    }
  }
  if (st) {
    for (const auto& grant : st->grants) {
      if (grant.kind != v1::GrantKind::Secret) continue;
      out += fmt::format("  Database credentials: Secret {}/{}\n", grant.namespace_, grant.name);
      auto it = secrets.find(grant.name);
      std::optional<DatabaseSecret> secret;
      if (it != secrets.end()) secret = it->second;
      for (const auto& line : psqlCommands(grant.namespace_, grant.name, secret, kubectlFlags)) {
        out += "    " + line + "\n";
      }
    }
    bool askedForDatabases = !request.spec.databases.empty();
    bool grantedDatabase = std::any_of(st->grants.begin(), st->grants.end(), [](const auto& g) {
      return g.kind == v1::GrantKind::Secret;
    });
    if (askedForDatabases && !grantedDatabase) {
      out +=
          "  No database credentials were issued: " + st->message.value_or("see describe") + "\n";
    }
  }
  out += fmt::format("End it early: kubectl grant revoke {} -n {}\n", request.metadata.name,
                     request.metadata.namespace_);
  return out;
}

// ---- describe --------------------------------------------------------------------------

std::optional<EventInfo> eventFromJson(const nlohmann::json& event) {
  if (!event.is_object()) return std::nullopt;
  EventInfo e;
  std::optional<TimePoint> t;
  for (const char* key : {"lastTimestamp", "eventTime", "firstTimestamp"}) {
    auto it = event.find(key);
    if (it != event.end() && it->is_string()) {
      t = parseRfc3339(it->get<std::string>());
      if (t) break;
    }
  }
  if (!t) return std::nullopt;
  e.time = *t;
  e.type = event.value("type", "");
  e.reason = event.value("reason", "");
  e.message = event.value("message", "");
  if (auto c = event.find("count"); c != event.end() && c->is_number_integer()) {
    e.count = c->get<int>();
  }
  return e;
}

namespace {
// Lifecycle stages of the timeline, in the order they happen within one reconcile.
enum Stage : int {
  kStageRequested = 0,
  kStageRequestedEvent,
  kStageDecision,
  kStageApproved,
  kStageApprovedEvent,
  kStageActive,
  kStageActiveEvent,
  kStageEnded,
  kStageOtherEvent,
};

int eventStage(const std::string& reason) {
  if (reason == "Requested") return kStageRequestedEvent;
  if (reason == "Approved" || reason == "BreakGlass") return kStageApprovedEvent;
  if (reason == "Granted") return kStageActiveEvent;
  return kStageOtherEvent;
}
}  // namespace

std::vector<TimelineEntry> timeline(const AccessRequest& request,
                                    const std::vector<EventInfo>& events) {
  std::vector<TimelineEntry> out;
  const auto& md = request.metadata;
  if (md.creationTimestamp) {
    std::string who = request.spec.requester ? request.spec.requester->username : "?";
    out.push_back({*md.creationTimestamp, fmt::format("requested by {}", who), kStageRequested});
  }
  if (const auto& st = request.status) {
    for (const auto& a : st->approvals) {
      if (!a.time) continue;
      out.push_back({*a.time,
                     fmt::format("{} by {}{}", v1::toString(a.decision), a.approver.value_or("?"),
                                 a.comment ? ": " + *a.comment : ""),
                     kStageDecision});
    }
    if (st->approvedAt) out.push_back({*st->approvedAt, "approved", kStageApproved});
    if (st->activatedAt) {
      out.push_back({*st->activatedAt, "active: access granted", kStageActive});
    }
    if (st->endedAt) {
      out.push_back({*st->endedAt, fmt::format("ended: {}", phaseText(request)), kStageEnded});
    }
  }
  for (const auto& e : events) {
    out.push_back({e.time,
                   fmt::format("event {} {}: {}{}", e.type, e.reason, e.message,
                               e.count > 1 ? fmt::format(" (x{})", e.count) : ""),
                   eventStage(e.reason)});
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.time, a.stage) < std::tie(b.time, b.stage);
  });
  return out;
}

std::string renderDescribe(const AccessRequest& request, const AccessPolicy* policy,
                           const std::vector<EventInfo>& events,
                           const std::optional<std::string>& eventsNote, TimePoint now,
                           const Style& style) {
  const auto& spec = request.spec;
  const auto& st = request.status;
  std::string out;
  auto field = [&](std::string_view key, std::string_view value) {
    out += fmt::format("{:<13}{}\n", std::string(key) + ":", value);
  };
  field("Name", request.metadata.name);
  field("Namespace", request.metadata.namespace_);
  field("Policy", spec.policy);
  field("Requester", spec.requester ? fmt::format("{} (groups: {})", spec.requester->username,
                                                  fmt::join(spec.requester->groups, ", "))
                                    : "-");
  field("Reason", spec.reason.value_or("-"));
  field("Ticket", spec.ticket.value_or("-"));
  field("Duration", spec.duration.value_or("policy default"));
  if (spec.startAt) field("Start at", *spec.startAt);
  field("Roles", rolesText(request));
  field("Databases", databasesText(request));
  field("Phase", style.phase(phaseText(request)));
  if (st && st->breakGlass.value_or(false)) field("Break-glass", style.yellow("yes"));
  field("Approvals", approvalsText(request, policy));
  if (st) {
    if (st->message) field("Message", *st->message);
    field("Created", timeText(request.metadata.creationTimestamp));
    if (st->approvedAt) field("Approved", timeText(st->approvedAt));
    if (st->activatedAt) field("Activated", timeText(st->activatedAt));
    if (st->expiresAt) {
      std::string left = st->phase == v1::Phase::Active
                             ? fmt::format(" (in {})", humanDuration(*st->expiresAt - now))
                             : "";
      field("Expires", timeText(st->expiresAt) + left);
    }
    if (st->endedAt) field("Ended", timeText(st->endedAt));
  }
  if (spec.revoke) field("Revoke", "requested");

  out += "\nDecisions:\n";
  if (!st || st->approvals.empty()) out += "  (none)\n";
  if (st) {
    Table t({"time", "approver", "decision", "comment"});
    for (const auto& a : st->approvals) {
      std::string decision = v1::toString(a.decision);
      t.addRow({timeText(a.time), a.approver.value_or("?"),
                a.decision == v1::Decision::Approve ? style.green(decision) : style.red(decision),
                a.comment.value_or("")});
    }
    if (!t.empty()) {
      for (const auto& line : split(t.render(), '\n')) {
        if (!line.empty()) out += "  " + line + "\n";
      }
    }
  }
  out += "\nGrants:\n";
  if (!st || st->grants.empty()) out += "  (none)\n";
  if (st) {
    for (const auto& g : st->grants) {
      if (g.kind == v1::GrantKind::DatabaseUser) {
        out += fmt::format("  DatabaseUser {} on {}\n", g.name, g.target);
      } else {
        out += fmt::format("  {} {}/{}\n", v1::toString(g.kind), g.namespace_, g.name);
      }
    }
  }
  out += "\nConditions:\n";
  if (!st || st->conditions.empty()) out += "  (none)\n";
  if (st) {
    auto conditions = st->conditions;
    std::stable_sort(conditions.begin(), conditions.end(), [](const auto& a, const auto& b) {
      return a.lastTransitionTime < b.lastTransitionTime;
    });
    Table t({"since", "type", "status", "reason", "message"});
    for (const auto& c : conditions) {
      t.addRow({formatRfc3339(c.lastTransitionTime), c.type, c.status, c.reason, c.message});
    }
    if (!t.empty()) {
      for (const auto& line : split(t.render(), '\n')) {
        if (!line.empty()) out += "  " + line + "\n";
      }
    }
  }
  out += "\nHistory:\n";
  for (const auto& e : timeline(request, events)) {
    out += fmt::format("  {}  {}\n", style.dim(formatRfc3339(e.time)), e.what);
  }
  if (eventsNote) out += fmt::format("  ({})\n", *eventsNote);
  return out;
}

// ---- whoami ----------------------------------------------------------------------------

namespace {

std::string subjectsText(const v1::Subjects& s) {
  std::vector<std::string> parts;
  for (const auto& g : s.groups) parts.push_back("group " + g);
  for (const auto& u : s.users) parts.push_back(u);
  return parts.empty() ? "-" : fmt::format("{}", fmt::join(parts, ", "));
}

std::string policyRolesText(const AccessPolicy& p) {
  std::vector<std::string> parts;
  for (const auto& r : p.spec.roles)
    parts.push_back(fmt::format("{}/{}", v1::toString(r.kind), r.name));
  for (const auto& d : p.spec.databases) {
    for (const auto& profile : d.profiles)
      parts.push_back(fmt::format("db {}/{}", d.target, profile));
  }
  return parts.empty() ? "-" : fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace

std::string renderWhoami(const UserInfo& user, const std::vector<AccessPolicy>* policies,
                         const Style& style) {
  std::string out =
      fmt::format("Username:  {}\nGroups:    {}\n", style.bold(user.username),
                  user.groups.empty() ? "-" : fmt::format("{}", fmt::join(user.groups, ", ")));
  if (policies == nullptr) return out;
  Table t({"policy", "you may", "namespaces", "grants", "max", "approvers"});
  for (const auto& p : *policies) {
    std::vector<std::string> may;
    if (v1::isRequester(p, user)) {
      may.push_back(v1::isBreakGlass(p, user) ? "request (break-glass)" : "request");
    }
    if (v1::isApprover(p, user)) may.push_back("approve");
    if (may.empty()) continue;
    t.addRow(
        {p.metadata.name, fmt::format("{}", fmt::join(may, ", ")),
         p.spec.namespaces.empty() ? "-" : fmt::format("{}", fmt::join(p.spec.namespaces, ",")),
         policyRolesText(p), p.spec.maxDuration.value_or("-"),
         fmt::format("{} ({} required)", subjectsText(p.spec.approval.approvers),
                     p.spec.approval.required)});
  }
  out += "\n";
  out += t.empty() ? "No AccessPolicy lets you request or approve anything.\n" : t.render();
  return out;
}

nlohmann::json whoamiJson(const UserInfo& user, const std::vector<AccessPolicy>& policies) {
  nlohmann::json request = nlohmann::json::array(), approve = nlohmann::json::array();
  for (const auto& p : policies) {
    if (v1::isRequester(p, user)) request.push_back(p.metadata.name);
    if (v1::isApprover(p, user)) approve.push_back(p.metadata.name);
  }
  return {{"username", user.username},
          {"groups", user.groups},
          {"canRequestUnder", request},
          {"canApproveFor", approve}};
}

}  // namespace kubegrant::kubectl_grant
