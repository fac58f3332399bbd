#include "crds/v1alpha1/policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <unordered_map>

#include "crds/v1alpha1/duration.h"
#include "operator/common/time.h"

namespace kubegrant::v1alpha1 {
namespace {

// std::regex (libstdc++) recurses per input character: long inputs can exhaust the stack,
// so tickets are bounded before matching (the CRD bounds them too).
constexpr size_t kMaxTicketLength = 256;

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string joinOrNone(const std::vector<std::string>& v) {
  return v.empty() ? std::string("none") : fmt::format("{}", fmt::join(v, ", "));
}

std::string policyName(const AccessPolicy& p) {
  return p.metadata.name.empty() ? std::string("(unnamed)") : p.metadata.name;
}

std::string describeSubjects(const Subjects& s) {
  if (s.users.empty() && s.groups.empty()) return "nobody";
  std::vector<std::string> parts;
  if (!s.groups.empty()) parts.push_back(fmt::format("groups {}", fmt::join(s.groups, ", ")));
  if (!s.users.empty()) parts.push_back(fmt::format("users {}", fmt::join(s.users, ", ")));
  return fmt::format("{}", fmt::join(parts, "; "));
}

std::string describeUser(const UserInfo& u) {
  if (u.groups.empty()) return fmt::format("user {}", u.username);
  return fmt::format("user {} (groups: {})", u.username, fmt::join(u.groups, ", "));
}

// Compiles a policy's ticketPattern; the error text when it does not compile.
std::optional<std::regex> compilePattern(const std::string& pattern, std::string& error) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    error = e.what();
    return std::nullopt;
  }
}

// A policy's ticketPattern compiled once per pattern text: compiling is most of what
// checkRequest costs, and every admission review of a request under the policy needs it.
// Matching through a const std::regex from several threads at once is safe. Bounded: at
// kMaxCachedPatterns distinct patterns the cache starts over.
struct CompiledPattern {
  std::shared_ptr<const std::regex> re;  // null when the pattern does not compile
  std::string error;
};
constexpr size_t kMaxCachedPatterns = 256;

CompiledPattern cachedPattern(const std::string& pattern) {
  static std::mutex mu;
  static std::unordered_map<std::string, CompiledPattern> cache;
  {
    std::lock_guard<std::mutex> g(mu);
    if (auto it = cache.find(pattern); it != cache.end()) return it->second;
  }
  CompiledPattern compiled;
  if (auto re = compilePattern(pattern, compiled.error)) {
    compiled.re = std::make_shared<const std::regex>(std::move(*re));
  }
  std::lock_guard<std::mutex> g(mu);
  if (cache.size() >= kMaxCachedPatterns) cache.clear();
  cache.emplace(pattern, compiled);
  return compiled;
}

struct ParsedDuration {
  std::optional<Duration> value;  // nullopt when absent
  std::optional<std::string> error;
};

ParsedDuration parseOptional(const std::optional<std::string>& s) {
  ParsedDuration out;
  if (!s) return out;
  auto d = parseDuration(*s);
  if (!d) {
    out.error = d.error().message;
  } else if (d->count() <= 0) {
    out.error = fmt::format("duration \"{}\" must be greater than zero", *s);
  } else {
    out.value = *d;
  }
  return out;
}

bool isBlank(const std::optional<std::string>& s) {
  return !s || std::all_of(s->begin(), s->end(),
                           [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

Result<Duration> policyDurationOr(const AccessPolicy& policy, const std::optional<std::string>& v,
                                  std::string_view field, Duration fallback) {
  if (!v) return fallback;
  auto d = parseOptional(v);
  if (d.error) {
    return fail(ErrorCode::Invalid,
                fmt::format("policy {} {}: {}", policyName(policy), field, *d.error));
  }
  return *d.value;
}

}  // namespace

std::string describe(const Violation& v) {
  return v.field.empty() ? v.message : fmt::format("{}: {}", v.field, v.message);
}

std::string describe(const std::vector<Violation>& vs) {
  std::vector<std::string> parts;
  for (const auto& v : vs) parts.push_back(describe(v));
  return fmt::format("{}", fmt::join(parts, "; "));
}

bool matches(const Subjects& subjects, const UserInfo& user) {
  if (!user.username.empty() && contains(subjects.users, user.username)) return true;
  return std::any_of(user.groups.begin(), user.groups.end(),
                     [&](const std::string& g) { return contains(subjects.groups, g); });
}

bool isRequester(const AccessPolicy& policy, const UserInfo& user) {
  return matches(policy.spec.requesters, user) || isBreakGlass(policy, user);
}

bool isApprover(const AccessPolicy& policy, const UserInfo& user) {
  return matches(policy.spec.approval.approvers, user);
}

bool isBreakGlass(const AccessPolicy& policy, const UserInfo& requester) {
  return policy.spec.approval.autoApprove && matches(*policy.spec.approval.autoApprove, requester);
}

namespace {

// A `scope: Cluster` entry of spec.roles: a ClusterRole the policy lists in spec.clusterRoles,
// bound cluster-wide, so it names no namespaces.
void checkClusterRole(const AccessPolicy& policy, const RequestedRole& role, size_t i,
                      std::vector<Violation>& out) {
  const std::string& pname = policy.metadata.name;
  const auto& allowed = policy.spec.clusterRoles;
  if (role.kind != RoleKind::ClusterRole) {
    out.push_back({fmt::format("spec.roles[{}].kind", i),
                   fmt::format("role {}/{} has scope Cluster, which only a ClusterRole can have",
                               toString(role.kind), role.name)});
  } else if (allowed.empty()) {
    out.push_back({fmt::format("spec.roles[{}].scope", i),
                   fmt::format("cluster-wide role ClusterRole/{} is not allowed: policy {} grants "
                               "only in namespaces (its spec.clusterRoles is empty)",
                               role.name, pname)});
  } else if (!contains(allowed, role.name)) {
    out.push_back({fmt::format("spec.roles[{}].name", i),
                   fmt::format("cluster-wide role ClusterRole/{} is not allowed by policy {} "
                               "(allowed cluster-wide: {})",
                               role.name, pname, joinOrNone(allowed))});
  }
  if (!role.namespaces.empty()) {
    out.push_back({fmt::format("spec.roles[{}].namespaces", i),
                   "must be empty when scope is Cluster (a ClusterRoleBinding applies in every "
                   "namespace)"});
  }
}

// Ad hoc rules (spec.rules). "{apiGroups: [\"\"], resources: [pods], verbs: [get, list]}"
template <typename R>
std::string describeRule(const R& r) {
  std::vector<std::string> groups;
  for (const auto& g : r.apiGroups) groups.push_back(fmt::format("\"{}\"", g));
  std::string out =
      fmt::format("{{apiGroups: [{}], resources: [{}], verbs: [{}]", fmt::join(groups, ", "),
                  fmt::join(r.resources, ", "), fmt::join(r.verbs, ", "));
  if (!r.resourceNames.empty())
    out += fmt::format(", resourceNames: [{}]", fmt::join(r.resourceNames, ", "));
  return out + "}";
}

bool isEscalationVerb(std::string_view v) {
  for (const char* e : kEscalationVerbs) {
    if (v == e) return true;
  }
  return false;
}

// Whether policy rule `p` names every escalation verb (what a requested "*" verb includes).
bool namesEveryEscalationVerb(const PolicyRule& p) {
  for (const char* e : kEscalationVerbs) {
    if (!contains(p.verbs, e)) return false;
  }
  return true;
}

// Whether `p` allows the requested value `v` of a field: a requested "*" only where the
// policy's rule has "*" itself; a name where the policy lists it or has "*".
bool allowsValue(const std::vector<std::string>& allowed, const std::string& v) {
  return contains(allowed, v) || (v != "*" && contains(allowed, "*"));
}

// Whether `p` allows `verb`: escalation verbs only where named explicitly; a requested "*"
// (which includes them) only where "*" and every escalation verb are named.
bool allowsVerb(const PolicyRule& p, const std::string& verb) {
  if (verb == "*") return contains(p.verbs, "*") && namesEveryEscalationVerb(p);
  if (isEscalationVerb(verb)) return contains(p.verbs, verb);
  return allowsValue(p.verbs, verb);
}

// Whether `p` covers the requested (group, resource, verb) with the rule's resourceNames.
bool covers(const PolicyRule& p, const RequestedRule& r, const std::string& group,
            const std::string& resource, const std::string& verb) {
  if (!allowsValue(p.apiGroups, group) || !allowsValue(p.resources, resource) ||
      !allowsVerb(p, verb)) {
    return false;
  }
  if (p.resourceNames.empty()) return true;
  return !r.resourceNames.empty() &&
         std::all_of(r.resourceNames.begin(), r.resourceNames.end(),
                     [&](const std::string& n) { return contains(p.resourceNames, n); });
}

void checkRules(const AccessPolicy& policy, const AccessRequestSpec& spec,
                std::string_view requestNamespace, std::vector<Violation>& out) {
  const std::string pname = policyName(policy);
  const auto& ps = policy.spec;
  for (size_t i = 0; i < spec.rules.size(); ++i) {
    const RequestedRule& rule = spec.rules[i];
    const std::string field = fmt::format("spec.rules[{}]", i);
    const std::string desc = describeRule(rule);
    const bool cluster = rule.scope == RoleScope::Cluster;
    std::vector<const PolicyRule*> candidates;
    std::vector<std::string> allowed;
    for (const auto& p : ps.rules) {
      if (p.scope != rule.scope) continue;
      candidates.push_back(&p);
      allowed.push_back(describeRule(p));
    }
    if (rule.apiGroups.empty() || rule.resources.empty() || rule.verbs.empty()) {
      out.push_back({field, fmt::format("rule {} must name at least one apiGroup (\"\" is the "
                                        "core group), resource and verb",
                                        desc)});
      continue;
    }
    if (cluster && !rule.namespaces.empty()) {
      out.push_back({field + ".namespaces",
                     fmt::format("rule {} has scope Cluster, so it names no namespaces (a "
                                 "ClusterRoleBinding applies in every namespace)",
                                 desc)});
    }
    if (candidates.empty()) {
      out.push_back(
          {cluster ? field + ".scope" : field,
           cluster ? fmt::format("cluster-wide rule {} is not allowed: policy {} allows no "
                                 "cluster-wide rules (no spec.rules entry with scope Cluster)",
                                 desc, pname)
                   : fmt::format("rule {} is not allowed: policy {} allows no ad hoc rules "
                                 "(its spec.rules is empty)",
                                 desc, pname)});
      continue;
    }
    if (!cluster) {
      if (rule.namespaces.empty() && !contains(ps.namespaces, requestNamespace)) {
        out.push_back({field + ".namespaces",
                       fmt::format("namespace {} (the request's own, the default) is not allowed "
                                   "by policy {} (allowed: {})",
                                   requestNamespace, pname, joinOrNone(ps.namespaces))});
      }
      for (size_t k = 0; k < rule.namespaces.size(); ++k) {
        if (!contains(ps.namespaces, rule.namespaces[k])) {
          out.push_back({fmt::format("{}.namespaces[{}]", field, k),
                         fmt::format("namespace {} is not allowed by policy {} (allowed: {})",
                                     rule.namespaces[k], pname, joinOrNone(ps.namespaces))});
        }
      }
    }
    // Wildcards and escalation verbs first, each with its own message.
    bool specific = false;
    // A "*" is allowed where one policy rule has "*" in that field and allows the rule's
    // other values.
    auto allowsAll = [](const std::vector<std::string>& allowed,
                        const std::vector<std::string>& values) {
      return std::all_of(values.begin(), values.end(),
                         [&](const std::string& v) { return allowsValue(allowed, v); });
    };
    auto wildcard = [&](const std::vector<std::string>& values, const char* name,
                        auto policyField) {
      if (!contains(values, "*")) return;
      const bool ok = std::any_of(candidates.begin(), candidates.end(), [&](const PolicyRule* p) {
        return contains(policyField(*p), "*") && allowsAll(p->apiGroups, rule.apiGroups) &&
               allowsAll(p->resources, rule.resources);
      });
      if (ok) return;
      specific = true;
      out.push_back({fmt::format("{}.{}", field, name),
                     fmt::format("wildcard \"*\" in {} of rule {} is not allowed by policy {} "
                                 "(allowed rules: {})",
                                 name, desc, pname, fmt::join(allowed, "; "))});
    };
    wildcard(rule.apiGroups, "apiGroups", [](const PolicyRule& p) { return p.apiGroups; });
    wildcard(rule.resources, "resources", [](const PolicyRule& p) { return p.resources; });
    wildcard(rule.verbs, "verbs", [](const PolicyRule& p) { return p.verbs; });
    for (const auto& v : rule.verbs) {
      if (!isEscalationVerb(v) && v != "*") continue;
      if (v == "*" && specific) continue;
      const bool named = std::any_of(candidates.begin(), candidates.end(),
                                     [&](const PolicyRule* p) { return allowsVerb(*p, v); });
      if (named) continue;
      specific = true;
      out.push_back(
          {field + ".verbs",
           v == "*" ? fmt::format("verb \"*\" of rule {} includes the escalation verbs escalate, "
                                  "bind and impersonate, which policy {} does not name explicitly",
                                  desc, pname)
                    : fmt::format("verb {} of rule {} is an escalation verb that policy {} does "
                                  "not name explicitly (a \"*\" does not count)",
                                  v, desc, pname)});
    }
    if (specific) continue;
    // Every (group, resource, verb) within one of the policy's rules; the first that is not
    // is named.
    auto uncovered = [&]() -> std::optional<std::string> {
      for (const auto& g : rule.apiGroups) {
        for (const auto& res : rule.resources) {
          for (const auto& v : rule.verbs) {
            if (std::none_of(candidates.begin(), candidates.end(),
                             [&](const PolicyRule* p) { return covers(*p, rule, g, res, v); })) {
              return fmt::format("{} on {} (apiGroup \"{}\")", v, res, g);
            }
          }
        }
      }
      return std::nullopt;
    };
    if (auto what = uncovered()) {
      out.push_back(
          {field,
           fmt::format("rule {} is outside policy {}: {}{} is not allowed (allowed rules: {})",
                       desc, pname, *what,
                       rule.resourceNames.empty()
                           ? std::string()
                           : fmt::format(" named {}", fmt::join(rule.resourceNames, ", ")),
                       fmt::join(allowed, "; "))});
    }
  }
}

}  // namespace

std::vector<Violation> checkRequest(const AccessPolicy& policy, const AccessRequestSpec& spec,
                                    const UserInfo& caller, std::string_view requestNamespace) {
  std::vector<Violation> out;
  const std::string pname = policyName(policy);
  const auto& ps = policy.spec;

  if (!policy.metadata.name.empty() && spec.policy != policy.metadata.name) {
    out.push_back({"spec.policy", fmt::format("request names policy \"{}\" but was checked "
                                              "against policy {}",
                                              spec.policy, pname)});
  }
  if (!isRequester(policy, caller)) {
    out.push_back(
        {"spec.policy", fmt::format("{} is not a requester of policy {} (requesters: {})",
                                    describeUser(caller), pname, describeSubjects(ps.requesters))});
  }
  if (spec.roles.empty() && spec.rules.empty() && spec.databases.empty()) {
    out.push_back({"spec",
                   "the request asks for nothing: list at least one entry in spec.roles, "
                   "spec.rules or spec.databases"});
  }
  checkRules(policy, spec, requestNamespace, out);

  std::vector<std::string> allowedRoles;
  for (const auto& r : ps.roles)
    allowedRoles.push_back(fmt::format("{}/{}", toString(r.kind), r.name));
  for (size_t i = 0; i < spec.roles.size(); ++i) {
    const auto& role = spec.roles[i];
    if (role.scope == RoleScope::Cluster) {
      checkClusterRole(policy, role, i, out);
      continue;
    }
    const bool allowed = std::any_of(ps.roles.begin(), ps.roles.end(), [&](const PolicyRole& r) {
      return r.kind == role.kind && r.name == role.name;
    });
    if (!allowed) {
      out.push_back({fmt::format("spec.roles[{}].name", i),
                     fmt::format("role {}/{} is not allowed by policy {} (allowed: {})",
                                 toString(role.kind), role.name, pname, joinOrNone(allowedRoles))});
    }
    if (role.namespaces.empty()) {
      if (!contains(ps.namespaces, requestNamespace)) {
        out.push_back({fmt::format("spec.roles[{}].namespaces", i),
                       fmt::format("namespace {} (the request's own, the default) is not allowed "
                                   "by policy {} (allowed: {})",
                                   requestNamespace, pname, joinOrNone(ps.namespaces))});
      }
    }
    for (size_t k = 0; k < role.namespaces.size(); ++k) {
      if (!contains(ps.namespaces, role.namespaces[k])) {
        out.push_back({fmt::format("spec.roles[{}].namespaces[{}]", i, k),
                       fmt::format("namespace {} is not allowed by policy {} (allowed: {})",
                                   role.namespaces[k], pname, joinOrNone(ps.namespaces))});
      }
    }
  }

  std::vector<std::string> allowedTargets;
  for (const auto& d : ps.databases) allowedTargets.push_back(d.target);
  for (size_t i = 0; i < spec.databases.size(); ++i) {
    const auto& db = spec.databases[i];
    auto it = std::find_if(ps.databases.begin(), ps.databases.end(),
                           [&](const PolicyDatabase& d) { return d.target == db.target; });
    if (it == ps.databases.end()) {
      out.push_back({fmt::format("spec.databases[{}].target", i),
                     fmt::format("database target {} is not allowed by policy {} (allowed: {})",
                                 db.target, pname, joinOrNone(allowedTargets))});
    } else if (!contains(it->profiles, db.profile)) {
      out.push_back({fmt::format("spec.databases[{}].profile", i),
                     fmt::format("profile {} of database target {} is not allowed by policy {} "
                                 "(allowed: {})",
                                 db.profile, db.target, pname, joinOrNone(it->profiles))});
    }
  }

  // Duration: the requested one (or the policy default) against the policy maximum.
  auto max = parseOptional(ps.maxDuration);
  if (max.error) {
    out.push_back({"spec.policy",
                   fmt::format("policy {} has an invalid maxDuration: {}", pname, *max.error)});
  }
  if (spec.duration) {
    auto d = parseOptional(spec.duration);
    if (d.error) {
      out.push_back({"spec.duration", *d.error});
    } else if (max.value && *d.value > *max.value) {
      out.push_back({"spec.duration", fmt::format("duration {} exceeds the maximum {} of policy {}",
                                                  *spec.duration, *ps.maxDuration, pname)});
    }
  } else {
    auto def = parseOptional(ps.defaultDuration);
    if (def.error) {
      out.push_back({"spec.policy", fmt::format("policy {} has an invalid defaultDuration: {}",
                                                pname, *def.error)});
    } else if (def.value && max.value && *def.value > *max.value) {
      out.push_back({"spec.policy",
                     fmt::format("policy {} has defaultDuration {} longer than its maxDuration {}",
                                 pname, *ps.defaultDuration, *ps.maxDuration)});
    }
  }

  if (ps.requireReason && isBlank(spec.reason)) {
    out.push_back(
        {"spec.reason",
         fmt::format("a reason is required by policy {}: say why you need access", pname)});
  }

  if (ps.ticketPattern) {
    const CompiledPattern compiled = cachedPattern(*ps.ticketPattern);
    const std::string& error = compiled.error;
    const std::regex* re = compiled.re.get();
    if (!re) {
      out.push_back(
          {"spec.policy", fmt::format("policy {} has an invalid ticketPattern \"{}\" ({}); ask the "
                                      "policy owners to fix it",
                                      pname, *ps.ticketPattern, error)});
    } else if (!spec.ticket || spec.ticket->empty()) {
      out.push_back({"spec.ticket", fmt::format("a ticket matching {} is required by policy {}",
                                                *ps.ticketPattern, pname)});
    } else if (spec.ticket->size() > kMaxTicketLength) {
      out.push_back(
          {"spec.ticket", fmt::format("ticket is longer than {} characters", kMaxTicketLength)});
    } else if (!std::regex_match(*spec.ticket, *re)) {
      out.push_back({"spec.ticket", fmt::format("ticket \"{}\" does not match {} required by "
                                                "policy {}",
                                                *spec.ticket, *ps.ticketPattern, pname)});
    }
  }

  if (spec.startAt && !parseRfc3339(*spec.startAt)) {
    out.push_back({"spec.startAt", fmt::format("invalid time \"{}\": expected RFC 3339, e.g. "
                                               "2026-12-01T22:00:00Z",
                                               *spec.startAt)});
  }
  return out;
}

std::optional<Violation> mayApprove(const AccessPolicy& policy, const AccessRequest& request,
                                    const UserInfo& approver) {
  const std::string field = "status.approvals";
  const std::string pname = policyName(policy);
  if (request.status && request.status->phase && isTerminal(*request.status->phase)) {
    return Violation{field, fmt::format("request {} is {}: no decisions are accepted after it "
                                        "has ended",
                                        request.metadata.name, toString(*request.status->phase))};
  }
  if (request.spec.requester && request.spec.requester->username == approver.username) {
    return Violation{field, fmt::format("self-approval is not allowed: {} requested this access "
                                        "and cannot decide on it",
                                        approver.username)};
  }
  if (!isApprover(policy, approver)) {
    return Violation{field, fmt::format("{} is not an approver of policy {} (approvers: {})",
                                        describeUser(approver), pname,
                                        describeSubjects(policy.spec.approval.approvers))};
  }
  if (request.status) {
    for (const auto& a : request.status->approvals) {
      if (a.approver && *a.approver == approver.username) {
        return Violation{field, fmt::format("{} has already decided ({}) on this request; each "
                                            "approver decides once",
                                            approver.username, toString(a.decision))};
      }
    }
  }
  return std::nullopt;
}

ApprovalTally countApprovals(const AccessPolicy& policy, const AccessRequest& request) {
  ApprovalTally t;
  t.required = policy.spec.approval.required;
  const std::string pname = policyName(policy);
  const std::string requester =
      request.spec.requester ? request.spec.requester->username : std::string();
  std::set<std::string> approved, denied;
  if (request.status) {
    for (const auto& a : request.status->approvals) {
      const char* what = a.decision == Decision::Approve ? "approval" : "denial";
      if (!a.approver || a.approver->empty()) {
        t.ignored.push_back(fmt::format("{} without an approver ignored", what));
        continue;
      }
      const std::string& who = *a.approver;
      if (!requester.empty() && who == requester) {
        t.ignored.push_back(
            fmt::format("{} by {} ignored: the requester's own decision never counts", what, who));
        continue;
      }
      if (!isApprover(policy, UserInfo{who, a.approverGroups})) {
        t.ignored.push_back(
            fmt::format("{} by {} ignored: not an approver of policy {} now", what, who, pname));
        continue;
      }
      if (a.decision == Decision::Deny) {
        if (denied.insert(who).second) t.deniedBy.push_back(who);
      } else if (approved.insert(who).second) {
        t.approvers.push_back(who);
      }
    }
  }
  // An approver who also denied counts as a denial only.
  std::erase_if(t.approvers, [&](const std::string& who) { return denied.contains(who); });
  t.approvals = static_cast<int>(t.approvers.size());
  t.denied = !t.deniedBy.empty();
  t.remaining = std::max(0, t.required - t.approvals);
  return t;
}

Result<Duration> effectiveDuration(const AccessPolicy& policy, const AccessRequestSpec& spec) {
  if (spec.duration) {
    auto d = parseOptional(spec.duration);
    if (d.error) return fail(ErrorCode::Invalid, fmt::format("spec.duration: {}", *d.error));
    return *d.value;
  }
  if (policy.spec.defaultDuration) {
    return policyDurationOr(policy, policy.spec.defaultDuration, "defaultDuration",
                            kDefaultRequestDuration);
  }
  // No default in the policy: the least privilege of 1h and the maximum.
  auto max =
      policyDurationOr(policy, policy.spec.maxDuration, "maxDuration", kDefaultRequestDuration);
  if (!max) return max;
  return std::min(*max, kDefaultRequestDuration);
}

Result<Duration> effectivePendingTimeout(const AccessPolicy& policy) {
  return policyDurationOr(policy, policy.spec.pendingTimeout, "pendingTimeout",
                          kDefaultPendingTimeout);
}

Result<Duration> effectiveRetainFor(const AccessPolicy& policy) {
  return policyDurationOr(policy, policy.spec.retainFor, "retainFor", kDefaultRetainFor);
}

Result<Duration> effectiveMaxStartDelay(const AccessPolicy& policy) {
  return policyDurationOr(policy, policy.spec.maxStartDelay, "maxStartDelay",
                          kDefaultMaxStartDelay);
}

Result<Duration> effectiveApprovalValidFor(const AccessPolicy& policy) {
  return policyDurationOr(policy, policy.spec.approvalValidFor, "approvalValidFor",
                          kDefaultApprovalValidFor);
}

std::optional<Violation> checkStartDelay(const AccessPolicy& policy, const AccessRequestSpec& spec,
                                         TimePoint reference) {
  if (!spec.startAt) return std::nullopt;
  auto start = parseRfc3339(*spec.startAt);
  if (!start) return std::nullopt;  // checkRequest reports the format
  auto limit = effectiveMaxStartDelay(policy);
  if (!limit) return Violation{"spec.policy", limit.error().message};
  if (*start - reference <= *limit) return std::nullopt;
  return Violation{"spec.startAt",
                   fmt::format("startAt {} is more than maxStartDelay {} ahead (policy {}); "
                               "request closer to the time you need access",
                               *spec.startAt, formatDuration(*limit), policy.metadata.name)};
}

bool isOpen(const AccessRequest& request) {
  if (request.metadata.deletionTimestamp) return false;
  if (!request.status || !request.status->phase) return true;  // not yet seen: Pending
  return !isTerminal(*request.status->phase);
}

TimePoint expiryFor(TimePoint activatedAt, Duration duration) {
  // A policy without maxDuration admits durations up to ~292 years: saturate instead of
  // overflowing the nanosecond clock (undefined behaviour).
  const auto room = TimePoint::max() - activatedAt;
  if (duration > room) return std::chrono::floor<std::chrono::seconds>(TimePoint::max());
  return std::chrono::floor<std::chrono::seconds>(activatedAt + duration);
}

std::vector<Violation> validatePolicy(const AccessPolicy& policy) {
  std::vector<Violation> out;
  const auto& s = policy.spec;
  auto checkDuration = [&](const std::optional<std::string>& v, std::string_view name) {
    auto d = parseOptional(v);
    if (d.error) out.push_back({fmt::format("spec.{}", name), *d.error});
    return d.value;
  };
  auto def = checkDuration(s.defaultDuration, "defaultDuration");
  auto max = checkDuration(s.maxDuration, "maxDuration");
  checkDuration(s.pendingTimeout, "pendingTimeout");
  checkDuration(s.retainFor, "retainFor");
  checkDuration(s.maxStartDelay, "maxStartDelay");
  checkDuration(s.approvalValidFor, "approvalValidFor");
  for (size_t i = 0; i < s.rules.size(); ++i) {
    const auto& r = s.rules[i];
    if (r.apiGroups.empty() || r.resources.empty() || r.verbs.empty()) {
      out.push_back({fmt::format("spec.rules[{}]", i),
                     fmt::format("rule {} must name at least one apiGroup (\"\" is the core "
                                 "group), resource and verb",
                                 describeRule(r))});
    }
  }
  if (s.maxOpenRequests < 1) {
    out.push_back(
        {"spec.maxOpenRequests", fmt::format("must be 1 or more, got {}", s.maxOpenRequests)});
  }
  if (def && max && *max < *def) {
    out.push_back({"spec.maxDuration", fmt::format("maxDuration {} is shorter than defaultDuration "
                                                   "{}; maxDuration must be >= defaultDuration",
                                                   *s.maxDuration, *s.defaultDuration)});
  }
  if (s.approval.required < 0) {
    out.push_back({"spec.approval.required",
                   fmt::format("required must be 0 or more, got {}", s.approval.required)});
  } else if (s.approval.required > 0 && s.approval.approvers.users.empty() &&
             s.approval.approvers.groups.empty()) {
    out.push_back({"spec.approval.approvers",
                   fmt::format("the policy requires {} approval(s) but names no approvers, so "
                               "no request could ever be approved",
                               s.approval.required)});
  }
  if (s.ticketPattern) {
    std::string error;
    if (!compilePattern(*s.ticketPattern, error)) {
      out.push_back({"spec.ticketPattern", fmt::format("invalid regular expression \"{}\": {}",
                                                       *s.ticketPattern, error)});
    }
  }
  auto noEmpty = [&](const std::vector<std::string>& v, const std::string& field) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i].empty()) out.push_back({fmt::format("{}[{}]", field, i), "must not be empty"});
    }
  };
  noEmpty(s.requesters.users, "spec.requesters.users");
  noEmpty(s.requesters.groups, "spec.requesters.groups");
  noEmpty(s.namespaces, "spec.namespaces");
  noEmpty(s.approval.approvers.users, "spec.approval.approvers.users");
  noEmpty(s.approval.approvers.groups, "spec.approval.approvers.groups");
  if (s.approval.autoApprove) {
    noEmpty(s.approval.autoApprove->users, "spec.approval.autoApprove.users");
    noEmpty(s.approval.autoApprove->groups, "spec.approval.autoApprove.groups");
  }
  for (size_t i = 0; i < s.roles.size(); ++i) {
    if (s.roles[i].name.empty()) {
      out.push_back({fmt::format("spec.roles[{}].name", i), "must not be empty"});
    }
  }
  noEmpty(s.clusterRoles, "spec.clusterRoles");
  for (size_t i = 0; i < s.databases.size(); ++i) {
    if (s.databases[i].target.empty()) {
      out.push_back({fmt::format("spec.databases[{}].target", i), "must not be empty"});
    }
    noEmpty(s.databases[i].profiles, fmt::format("spec.databases[{}].profiles", i));
  }
  return out;
}

namespace {

// maskColumns of one grant: served through read-only views, so SELECT only; each masked table
// is one the grant names; a column is either withheld or masked, never both.
void validateMasks(const TableGrant& g, const std::string& gf, std::vector<Violation>& out) {
  if (g.maskColumns.empty()) return;
  const std::string mf = gf + ".maskColumns";
  for (const auto& p : g.privileges) {
    if (p != "SELECT") {
      out.push_back({gf + ".privileges",
                     fmt::format("maskColumns needs privileges [SELECT] only (got {}): masked "
                                 "tables are served through read-only views",
                                 p)});
      break;
    }
  }
  const bool everyTable = contains(g.tables, "*");
  for (const auto& [table, columns] : g.maskColumns) {
    const std::string tf = fmt::format("{}.{}", mf, table);
    if (table == "*") {
      out.push_back({tf, "maskColumns names tables, not \"*\""});
      continue;
    }
    if (!everyTable && !contains(g.tables, table)) {
      out.push_back({tf, fmt::format("table {} is not in this grant's tables", table)});
    }
    if (columns.empty()) out.push_back({tf, "list at least one column to mask"});
    auto excluded = g.excludeColumns.find(table);
    for (const auto& [column, mask] : columns) {
      if (excluded != g.excludeColumns.end() && contains(excluded->second, column)) {
        out.push_back({fmt::format("{}.{}", tf, column),
                       fmt::format("column {}.{} is both excluded and masked: choose one "
                                   "(excludeColumns withholds it, maskColumns serves it masked)",
                                   table, column)});
      }
    }
  }
}

}  // namespace

std::vector<Violation> validateDatabaseTarget(const DatabaseTarget& target) {
  static const std::vector<std::string> kPrivileges = {"SELECT",   "INSERT",     "UPDATE", "DELETE",
                                                       "TRUNCATE", "REFERENCES", "TRIGGER"};
  static const std::vector<std::string> kSslModes = {"disable", "allow",     "prefer",
                                                     "require", "verify-ca", "verify-full"};
  std::vector<Violation> out;
  const auto& s = target.spec;
  if (s.host.empty()) out.push_back({"spec.host", "must not be empty"});
  if (s.database.empty()) out.push_back({"spec.database", "must not be empty"});
  if (s.port < 1 || s.port > 65535) {
    out.push_back({"spec.port", fmt::format("port {} is out of range 1-65535", s.port)});
  }
  if (!contains(kSslModes, s.sslMode)) {
    out.push_back({"spec.sslMode", fmt::format("unsupported sslMode \"{}\" (allowed: {})",
                                               s.sslMode, fmt::join(kSslModes, ", "))});
  }
  if (s.adminSecretRef.namespace_.empty()) {
    out.push_back({"spec.adminSecretRef.namespace", "must not be empty"});
  }
  if (s.adminSecretRef.name.empty())
    out.push_back({"spec.adminSecretRef.name", "must not be empty"});
  if (s.caSecretRef && s.caSecretRef->namespace_.empty()) {
    out.push_back({"spec.caSecretRef.namespace", "must not be empty"});
  }
  if (s.caSecretRef && s.caSecretRef->name.empty()) {
    out.push_back({"spec.caSecretRef.name", "must not be empty"});
  }
  if (s.connectionLimit && *s.connectionLimit < 1) {
    out.push_back({"spec.connectionLimit",
                   fmt::format("connectionLimit must be at least 1, got {}", *s.connectionLimit)});
  }
  std::set<std::string> names;
  for (size_t i = 0; i < s.profiles.size(); ++i) {
    const auto& p = s.profiles[i];
    const std::string pf = fmt::format("spec.profiles[{}]", i);
    if (p.name.empty()) {
      out.push_back({pf + ".name", "must not be empty"});
    } else if (!names.insert(p.name).second) {
      out.push_back({pf + ".name", fmt::format("duplicate profile name {}", p.name)});
    }
    if (p.grants.empty()) out.push_back({pf + ".grants", "a profile needs at least one grant"});
    for (size_t k = 0; k < p.grants.size(); ++k) {
      const auto& g = p.grants[k];
      const std::string gf = fmt::format("{}.grants[{}]", pf, k);
      if (g.schema.empty()) out.push_back({gf + ".schema", "must not be empty"});
      if (g.tables.empty()) out.push_back({gf + ".tables", "list at least one table, or \"*\""});
      if (g.privileges.empty()) out.push_back({gf + ".privileges", "list at least one privilege"});
      for (size_t m = 0; m < g.privileges.size(); ++m) {
        if (!contains(kPrivileges, g.privileges[m])) {
          out.push_back({fmt::format("{}.privileges[{}]", gf, m),
                         fmt::format("unsupported privilege \"{}\" (allowed: {})", g.privileges[m],
                                     fmt::join(kPrivileges, ", "))});
        }
      }
      validateMasks(g, gf, out);
    }
  }
  return out;
}

bool SecretNamespaces::allows(std::string_view ns) const {
  return allowed.empty() || std::ranges::find(allowed, ns) != allowed.end();
}

namespace {

std::optional<Violation> secretNamespaceViolation(const std::string& field, const std::string& ns,
                                                  const SecretNamespaces& scope) {
  if (scope.allows(ns)) return std::nullopt;
  return Violation{field, fmt::format("Secrets may only be referenced in namespace {} (the "
                                      "operator's --secret-namespace), not in \"{}\"",
                                      fmt::join(scope.allowed, ", "), ns)};
}

}  // namespace

std::vector<Violation> checkSecretNamespaces(const AccessPolicy& policy,
                                             const SecretNamespaces& scope) {
  std::vector<Violation> out;
  for (std::size_t i = 0; i < policy.spec.notify.size(); ++i) {
    if (auto v = secretNamespaceViolation(fmt::format("spec.notify[{}].urlSecretRef.namespace", i),
                                          policy.spec.notify[i].urlSecretRef.namespace_, scope)) {
      out.push_back(std::move(*v));
    }
  }
  return out;
}

std::vector<Violation> checkSecretNamespaces(const DatabaseTarget& target,
                                             const SecretNamespaces& scope) {
  std::vector<Violation> out;
  if (auto v = secretNamespaceViolation("spec.adminSecretRef.namespace",
                                        target.spec.adminSecretRef.namespace_, scope)) {
    out.push_back(std::move(*v));
  }
  if (target.spec.caSecretRef) {
    if (auto v = secretNamespaceViolation("spec.caSecretRef.namespace",
                                          target.spec.caSecretRef->namespace_, scope)) {
      out.push_back(std::move(*v));
    }
  }
  return out;
}

}  // namespace kubegrant::v1alpha1
