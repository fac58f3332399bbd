#include "crds/v1alpha1/types.h"

#include <fmt/format.h>

#include <limits>
#include <utility>

#include "operator/common/time.h"

namespace kubegrant::v1alpha1 {

using nlohmann::json;

// ---------------------------------------------------------------------------------------
// Enums

const char* toString(RoleKind kind) {
  switch (kind) {
    case RoleKind::Role:
      return "Role";
    case RoleKind::ClusterRole:
      return "ClusterRole";
  }
  return "?";
}
const char* toString(RoleScope scope) {
  return scope == RoleScope::Cluster ? "Cluster" : "Namespace";
}
std::optional<RoleScope> parseRoleScope(std::string_view s) {
  if (s == "Namespace") return RoleScope::Namespace;
  if (s == "Cluster") return RoleScope::Cluster;
  return std::nullopt;
}

std::optional<RoleKind> parseRoleKind(std::string_view s) {
  if (s == "Role") return RoleKind::Role;
  if (s == "ClusterRole") return RoleKind::ClusterRole;
  return std::nullopt;
}

const char* toString(DatabaseEngine engine) {
  switch (engine) {
    case DatabaseEngine::Postgres:
      return "postgres";
  }
  return "?";
}
std::optional<DatabaseEngine> parseDatabaseEngine(std::string_view s) {
  if (s == "postgres") return DatabaseEngine::Postgres;
  return std::nullopt;
}

const char* toString(MaskFunction mask) {
  switch (mask) {
    case MaskFunction::Redact:
      return "redact";
    case MaskFunction::Partial:
      return "partial";
    case MaskFunction::Email:
      return "email";
    case MaskFunction::Hash:
      return "hash";
    case MaskFunction::Null:
      return "null";
  }
  return "?";
}
std::optional<MaskFunction> parseMaskFunction(std::string_view s) {
  for (auto m : {MaskFunction::Redact, MaskFunction::Partial, MaskFunction::Email,
                 MaskFunction::Hash, MaskFunction::Null}) {
    if (s == toString(m)) return m;
  }
  return std::nullopt;
}

const char* toString(Phase phase) {
  switch (phase) {
    case Phase::Pending:
      return "Pending";
    case Phase::Approved:
      return "Approved";
    case Phase::Active:
      return "Active";
    case Phase::Denied:
      return "Denied";
    case Phase::Expired:
      return "Expired";
    case Phase::Revoked:
      return "Revoked";
    case Phase::Failed:
      return "Failed";
  }
  return "?";
}
std::optional<Phase> parsePhase(std::string_view s) {
  for (Phase p : {Phase::Pending, Phase::Approved, Phase::Active, Phase::Denied, Phase::Expired,
                  Phase::Revoked, Phase::Failed}) {
    if (s == toString(p)) return p;
  }
  return std::nullopt;
}
bool isTerminal(Phase phase) {
  return phase == Phase::Denied || phase == Phase::Expired || phase == Phase::Revoked ||
         phase == Phase::Failed;
}

const char* toString(Decision decision) {
  return decision == Decision::Approve ? "Approve" : "Deny";
}
std::optional<Decision> parseDecision(std::string_view s) {
  if (s == "Approve") return Decision::Approve;
  if (s == "Deny") return Decision::Deny;
  return std::nullopt;
}

const char* toString(GrantKind kind) {
  switch (kind) {
    case GrantKind::RoleBinding:
      return "RoleBinding";
    case GrantKind::Secret:
      return "Secret";
    case GrantKind::DatabaseUser:
      return "DatabaseUser";
    case GrantKind::ClusterRoleBinding:
      return "ClusterRoleBinding";
    case GrantKind::Role:
      return "Role";
    case GrantKind::ClusterRole:
      return "ClusterRole";
  }
  return "?";
}
std::optional<GrantKind> parseGrantKind(std::string_view s) {
  for (GrantKind k : {GrantKind::RoleBinding, GrantKind::Secret, GrantKind::DatabaseUser,
                      GrantKind::ClusterRoleBinding, GrantKind::Role, GrantKind::ClusterRole}) {
    if (s == toString(k)) return k;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// Decoding. Inside this file a DecodeError exception unwinds to the fromJson entry points,
// which turn it into an Error: it keeps the many field readers short. It never escapes.

namespace {

struct DecodeError {
  std::string field;
  std::string message;
};

[[noreturn]] void bad(const std::string& field, std::string message) {
  throw DecodeError{field, std::move(message)};
}

std::string sub(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
std::string idx(const std::string& path, size_t i) { return fmt::format("{}[{}]", path, i); }

const char* typeName(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    default:
      return "value";
  }
}

[[noreturn]] void wrongType(const std::string& field, const char* want, const json& got) {
  bad(field, fmt::format("expected {}, got {}", want, typeName(got)));
}

// The member `key` of `obj`, or nullptr when absent or null (Kubernetes treats both alike).
const json* member(const json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

const json* need(const json& obj, const std::string& path, std::string_view key) {
  const json* v = member(obj, key);
  if (!v) bad(sub(path, key), "required field is missing");
  return v;
}

std::string asString(const json& v, const std::string& field) {
  if (!v.is_string()) wrongType(field, "string", v);
  return v.get<std::string>();
}

std::optional<std::string> optString(const json& obj, const std::string& path,
                                     std::string_view key) {
  const json* v = member(obj, key);
  if (!v) return std::nullopt;
  return asString(*v, sub(path, key));
}

std::string reqString(const json& obj, const std::string& path, std::string_view key) {
  return asString(*need(obj, path, key), sub(path, key));
}

// Optional string whose absence is the empty string (metadata-style omitempty).
std::string emptyString(const json& obj, const std::string& path, std::string_view key) {
  return optString(obj, path, key).value_or("");
}

std::optional<bool> optBool(const json& obj, const std::string& path, std::string_view key) {
  const json* v = member(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrongType(sub(path, key), "boolean", *v);
  return v->get<bool>();
}

int64_t asInt64(const json& v, const std::string& field) {
  if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<int64_t>();
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      bad(field, "integer out of range");
    }
    return static_cast<int64_t>(u);
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    // JSON has one number type: accept 3.0 as 3, as the API server does for integers.
    if (d >= -9.2e18 && d <= 9.2e18 && d == static_cast<double>(static_cast<int64_t>(d))) {
      return static_cast<int64_t>(d);
    }
    bad(field, "expected integer, got a fractional or out-of-range number");
  }
  wrongType(field, "integer", v);
}

std::optional<int64_t> optInt64(const json& obj, const std::string& path, std::string_view key) {
  const json* v = member(obj, key);
  if (!v) return std::nullopt;
  return asInt64(*v, sub(path, key));
}

std::optional<int32_t> optInt32(const json& obj, const std::string& path, std::string_view key) {
  auto v = optInt64(obj, path, key);
  if (!v) return std::nullopt;
  if (*v < std::numeric_limits<int32_t>::min() || *v > std::numeric_limits<int32_t>::max()) {
    bad(sub(path, key), "integer out of 32-bit range");
  }
  return static_cast<int32_t>(*v);
}

TimePoint asTime(const json& v, const std::string& field) {
  std::string s = asString(v, field);
  auto t = parseRfc3339(s);
  if (!t)
    bad(field, fmt::format("invalid time \"{}\": expected RFC 3339, e.g. 2026-11-29T10:02:11Z", s));
  return *t;
}

std::optional<TimePoint> optTime(const json& obj, const std::string& path, std::string_view key) {
  const json* v = member(obj, key);
  if (!v) return std::nullopt;
  return asTime(*v, sub(path, key));
}

const json* optObject(const json& obj, const std::string& path, std::string_view key) {
  const json* v = member(obj, key);
  if (v && !v->is_object()) wrongType(sub(path, key), "object", *v);
  return v;
}

const json& reqObject(const json& obj, const std::string& path, std::string_view key) {
  const json* v = need(obj, path, key);
  if (!v->is_object()) wrongType(sub(path, key), "object", *v);
  return *v;
}

// Calls f(element, elementPath) for each element of the optional array `key`.
template <typename F>
void forEach(const json& obj, const std::string& path, std::string_view key, F&& f) {
  const json* v = member(obj, key);
  if (!v) return;
  std::string field = sub(path, key);
  if (!v->is_array()) wrongType(field, "array", *v);
  for (size_t i = 0; i < v->size(); ++i) f((*v)[i], idx(field, i));
}

std::vector<std::string> stringList(const json& obj, const std::string& path,
                                    std::string_view key) {
  std::vector<std::string> out;
  forEach(obj, path, key,
          [&](const json& e, const std::string& field) { out.push_back(asString(e, field)); });
  return out;
}

std::map<std::string, std::string> stringMap(const json& obj, const std::string& path,
                                             std::string_view key) {
  std::map<std::string, std::string> out;
  const json* v = optObject(obj, path, key);
  if (!v) return out;
  for (auto it = v->begin(); it != v->end(); ++it) {
    out[it.key()] = asString(it.value(), sub(sub(path, key), it.key()));
  }
  return out;
}

const json& asObject(const json& v, const std::string& field) {
  if (!v.is_object()) wrongType(field, "object", v);
  return v;
}

template <typename E>
E asEnum(const json& v, const std::string& field, std::optional<E> (*parse)(std::string_view),
         std::string_view allowed) {
  std::string s = asString(v, field);
  auto e = parse(s);
  if (!e) bad(field, fmt::format("unsupported value \"{}\" (allowed: {})", s, allowed));
  return *e;
}

// The RBAC fields and scope of a policy's or a request's spec.rules entry.
template <typename Rule>
Rule decodeRule(const json& e, const std::string& path) {
  asObject(e, path);
  Rule r;
  r.apiGroups = stringList(e, path, "apiGroups");
  r.resources = stringList(e, path, "resources");
  r.verbs = stringList(e, path, "verbs");
  r.resourceNames = stringList(e, path, "resourceNames");
  if (e.contains("scope")) {
    r.scope = asEnum(e["scope"], sub(path, "scope"), parseRoleScope, "Namespace, Cluster");
  }
  return r;
}

void checkTypeMeta(const json& j, std::string_view kind) {
  if (auto k = optString(j, "", "kind"); k && *k != kind) {
    bad("kind", fmt::format("expected {}, got {}", kind, *k));
  }
  if (auto a = optString(j, "", "apiVersion"); a && *a != kApiVersion) {
    bad("apiVersion", fmt::format("expected {}, got {}", kApiVersion, *a));
  }
}

UserInfo decodeUserInfo(const json& j, const std::string& path) {
  asObject(j, path);
  UserInfo u;
  u.username = reqString(j, path, "username");
  u.groups = stringList(j, path, "groups");
  return u;
}

Subjects decodeSubjects(const json& j, const std::string& path) {
  asObject(j, path);
  return Subjects{stringList(j, path, "users"), stringList(j, path, "groups")};
}

ObjectMeta decodeMeta(const json& j, const std::string& path) {
  asObject(j, path);
  ObjectMeta m;
  m.name = emptyString(j, path, "name");
  m.generateName = emptyString(j, path, "generateName");
  m.namespace_ = emptyString(j, path, "namespace");
  m.uid = emptyString(j, path, "uid");
  m.resourceVersion = emptyString(j, path, "resourceVersion");
  m.generation = optInt64(j, path, "generation");
  m.labels = stringMap(j, path, "labels");
  m.annotations = stringMap(j, path, "annotations");
  m.finalizers = stringList(j, path, "finalizers");
  m.creationTimestamp = optTime(j, path, "creationTimestamp");
  m.deletionTimestamp = optTime(j, path, "deletionTimestamp");
  forEach(j, path, "ownerReferences", [&](const json& e, const std::string& p) {
    asObject(e, p);
    OwnerReference o;
    o.apiVersion = reqString(e, p, "apiVersion");
    o.kind = reqString(e, p, "kind");
    o.name = reqString(e, p, "name");
    o.uid = reqString(e, p, "uid");
    o.controller = optBool(e, p, "controller");
    o.blockOwnerDeletion = optBool(e, p, "blockOwnerDeletion");
    m.ownerReferences.push_back(std::move(o));
  });
  return m;
}

ObjectMeta decodeOptMeta(const json& j) {
  const json* m = optObject(j, "", "metadata");
  return m ? decodeMeta(*m, "metadata") : ObjectMeta{};
}

std::vector<Condition> decodeConditions(const json& j, const std::string& path) {
  std::vector<Condition> out;
  forEach(j, path, "conditions", [&](const json& e, const std::string& p) {
    asObject(e, p);
    Condition c;
    c.type = reqString(e, p, "type");
    c.status = reqString(e, p, "status");
    c.observedGeneration = optInt64(e, p, "observedGeneration");
    // Required in metav1.Condition; tolerated when missing so a hand-written status decodes.
    c.lastTransitionTime = optTime(e, p, "lastTransitionTime").value_or(TimePoint{});
    c.reason = emptyString(e, p, "reason");
    c.message = emptyString(e, p, "message");
    out.push_back(std::move(c));
  });
  return out;
}

AccessPolicy decodePolicy(const json& j) {
  asObject(j, "");
  checkTypeMeta(j, kAccessPolicyKind);
  AccessPolicy p;
  p.metadata = decodeOptMeta(j);
  const json& s = reqObject(j, "", "spec");
  const std::string sp = "spec";
  p.spec.requesters = decodeSubjects(*need(s, sp, "requesters"), "spec.requesters");
  p.spec.namespaces = stringList(s, sp, "namespaces");
  forEach(s, sp, "roles", [&](const json& e, const std::string& path) {
    asObject(e, path);
    PolicyRole r;
    r.kind = asEnum(*need(e, path, "kind"), sub(path, "kind"), parseRoleKind, "Role, ClusterRole");
    r.name = reqString(e, path, "name");
    p.spec.roles.push_back(std::move(r));
  });
  p.spec.clusterRoles = stringList(s, sp, "clusterRoles");
  forEach(s, sp, "rules", [&](const json& e, const std::string& path) {
    p.spec.rules.push_back(decodeRule<PolicyRule>(e, path));
  });
  forEach(s, sp, "databases", [&](const json& e, const std::string& path) {
    asObject(e, path);
    PolicyDatabase d;
    d.target = reqString(e, path, "target");
    d.profiles = stringList(e, path, "profiles");
    p.spec.databases.push_back(std::move(d));
  });
  p.spec.defaultDuration = optString(s, sp, "defaultDuration");
  p.spec.maxDuration = optString(s, sp, "maxDuration");
  p.spec.pendingTimeout = optString(s, sp, "pendingTimeout");
  p.spec.retainFor = optString(s, sp, "retainFor");
  p.spec.requireReason = optBool(s, sp, "requireReason").value_or(false);
  p.spec.ticketPattern = optString(s, sp, "ticketPattern");
  p.spec.maxOpenRequests = optInt32(s, sp, "maxOpenRequests").value_or(5);
  p.spec.maxStartDelay = optString(s, sp, "maxStartDelay");
  p.spec.approvalValidFor = optString(s, sp, "approvalValidFor");
  forEach(s, sp, "notify", [&](const json& e, const std::string& path) {
    asObject(e, path);
    NotifyReceiver r;
    r.name = reqString(e, path, "name");
    const std::string rp = sub(path, "urlSecretRef");
    const json& ref = reqObject(e, path, "urlSecretRef");
    r.urlSecretRef.namespace_ = reqString(ref, rp, "namespace");
    r.urlSecretRef.name = reqString(ref, rp, "name");
    r.urlSecretRef.key = reqString(ref, rp, "key");
    p.spec.notify.push_back(std::move(r));
  });
  const json& a = reqObject(s, sp, "approval");
  const std::string ap = "spec.approval";
  if (const json* v = optObject(a, ap, "approvers")) {
    p.spec.approval.approvers = decodeSubjects(*v, "spec.approval.approvers");
  }
  p.spec.approval.required = optInt32(a, ap, "required").value_or(1);
  if (const json* v = optObject(a, ap, "autoApprove")) {
    p.spec.approval.autoApprove = decodeSubjects(*v, "spec.approval.autoApprove");
  }
  if (const json* st = optObject(j, "", "status")) {
    AccessPolicyStatus status;
    status.observedGeneration = optInt64(*st, "status", "observedGeneration");
    status.conditions = decodeConditions(*st, "status");
    p.status = std::move(status);
  }
  return p;
}

DatabaseTarget decodeTarget(const json& j) {
  asObject(j, "");
  checkTypeMeta(j, kDatabaseTargetKind);
  DatabaseTarget t;
  t.metadata = decodeOptMeta(j);
  const json& s = reqObject(j, "", "spec");
  const std::string sp = "spec";
  t.spec.engine = asEnum(*need(s, sp, "engine"), "spec.engine", parseDatabaseEngine, "postgres");
  t.spec.host = reqString(s, sp, "host");
  t.spec.port = optInt32(s, sp, "port").value_or(5432);
  t.spec.database = reqString(s, sp, "database");
  t.spec.sslMode = optString(s, sp, "sslMode").value_or("require");
  const json& ref = reqObject(s, sp, "adminSecretRef");
  t.spec.adminSecretRef.namespace_ = reqString(ref, "spec.adminSecretRef", "namespace");
  t.spec.adminSecretRef.name = reqString(ref, "spec.adminSecretRef", "name");
  t.spec.connectionLimit = optInt32(s, sp, "connectionLimit");
  if (const json* ca = optObject(s, sp, "caSecretRef")) {
    t.spec.caSecretRef = SecretReference{reqString(*ca, "spec.caSecretRef", "namespace"),
                                         reqString(*ca, "spec.caSecretRef", "name")};
  }
  t.spec.auditStatements = optBool(s, sp, "auditStatements").value_or(false);
  forEach(s, sp, "profiles", [&](const json& e, const std::string& path) {
    asObject(e, path);
    DatabaseProfile prof;
    prof.name = reqString(e, path, "name");
    forEach(e, path, "grants", [&](const json& g, const std::string& gp) {
      asObject(g, gp);
      TableGrant tg;
      tg.schema = reqString(g, gp, "schema");
      tg.tables = stringList(g, gp, "tables");
      tg.privileges = stringList(g, gp, "privileges");
      if (const json* ex = optObject(g, gp, "excludeColumns")) {
        for (auto it = ex->begin(); it != ex->end(); ++it) {
          std::string field = sub(sub(gp, "excludeColumns"), it.key());
          if (!it.value().is_array()) wrongType(field, "array", it.value());
          std::vector<std::string> cols;
          for (size_t i = 0; i < it.value().size(); ++i) {
            cols.push_back(asString(it.value()[i], idx(field, i)));
          }
          tg.excludeColumns[it.key()] = std::move(cols);
        }
      }
      if (const json* mk = optObject(g, gp, "maskColumns")) {
        for (auto it = mk->begin(); it != mk->end(); ++it) {
          std::string field = sub(sub(gp, "maskColumns"), it.key());
          if (!it.value().is_object()) wrongType(field, "object", it.value());
          auto& columns = tg.maskColumns[it.key()];
          for (auto c = it.value().begin(); c != it.value().end(); ++c) {
            columns[c.key()] = asEnum(c.value(), sub(field, c.key()), parseMaskFunction,
                                      "redact, partial, email, hash, null");
          }
        }
      }
      prof.grants.push_back(std::move(tg));
    });
    t.spec.profiles.push_back(std::move(prof));
  });
  if (const json* st = optObject(j, "", "status")) {
    DatabaseTargetStatus status;
    status.observedGeneration = optInt64(*st, "status", "observedGeneration");
    status.conditions = decodeConditions(*st, "status");
    t.status = std::move(status);
  }
  return t;
}

Approval decodeApproval(const json& e, const std::string& p) {
  asObject(e, p);
  Approval a;
  a.approver = optString(e, p, "approver");
  a.approverGroups = stringList(e, p, "approverGroups");
  a.decision = asEnum(*need(e, p, "decision"), sub(p, "decision"), parseDecision, "Approve, Deny");
  a.comment = optString(e, p, "comment");
  a.time = optTime(e, p, "time");
  a.seal = optString(e, p, "seal");
  return a;
}

AccessRequestStatus decodeRequestStatus(const json& st, const std::string& path) {
  asObject(st, path);
  AccessRequestStatus s;
  if (const json* v = member(st, "phase")) {
    s.phase = asEnum(*v, sub(path, "phase"), parsePhase,
                     "Pending, Approved, Active, Denied, Expired, Revoked, Failed");
  }
  s.breakGlass = optBool(st, path, "breakGlass");
  forEach(st, path, "approvals", [&](const json& e, const std::string& p) {
    s.approvals.push_back(decodeApproval(e, p));
  });
  s.approvedAt = optTime(st, path, "approvedAt");
  s.activatedAt = optTime(st, path, "activatedAt");
  s.expiresAt = optTime(st, path, "expiresAt");
  s.endedAt = optTime(st, path, "endedAt");
  forEach(st, path, "grants", [&](const json& e, const std::string& p) {
    asObject(e, p);
    Grant g;
    g.kind = asEnum(*need(e, p, "kind"), sub(p, "kind"), parseGrantKind,
                    "RoleBinding, Secret, DatabaseUser, ClusterRoleBinding, Role, ClusterRole");
    g.namespace_ = emptyString(e, p, "namespace");
    g.name = reqString(e, p, "name");
    g.target = emptyString(e, p, "target");
    g.profile = emptyString(e, p, "profile");
    g.profileHash = emptyString(e, p, "profileHash");
    s.grants.push_back(std::move(g));
  });
  s.conditions = decodeConditions(st, path);
  s.observedGeneration = optInt64(st, path, "observedGeneration");
  s.message = optString(st, path, "message");
  s.seal = optString(st, path, "seal");
  return s;
}

AccessRequest decodeRequest(const json& j) {
  asObject(j, "");
  checkTypeMeta(j, kAccessRequestKind);
  AccessRequest r;
  r.metadata = decodeOptMeta(j);
  const json& s = reqObject(j, "", "spec");
  const std::string sp = "spec";
  r.spec.policy = reqString(s, sp, "policy");
  r.spec.duration = optString(s, sp, "duration");
  r.spec.startAt = optString(s, sp, "startAt");
  r.spec.reason = optString(s, sp, "reason");
  r.spec.ticket = optString(s, sp, "ticket");
  forEach(s, sp, "roles", [&](const json& e, const std::string& path) {
    asObject(e, path);
    RequestedRole role;
    role.kind =
        asEnum(*need(e, path, "kind"), sub(path, "kind"), parseRoleKind, "Role, ClusterRole");
    role.name = reqString(e, path, "name");
    role.namespaces = stringList(e, path, "namespaces");
    if (e.contains("scope")) {
      role.scope = asEnum(e["scope"], sub(path, "scope"), parseRoleScope, "Namespace, Cluster");
    }
    r.spec.roles.push_back(std::move(role));
  });
  forEach(s, sp, "rules", [&](const json& e, const std::string& path) {
    auto rule = decodeRule<RequestedRule>(e, path);
    rule.namespaces = stringList(e, path, "namespaces");
    r.spec.rules.push_back(std::move(rule));
  });
  forEach(s, sp, "databases", [&](const json& e, const std::string& path) {
    asObject(e, path);
    r.spec.databases.push_back({reqString(e, path, "target"), reqString(e, path, "profile")});
  });
  r.spec.revoke = optBool(s, sp, "revoke").value_or(false);
  if (const json* v = member(s, "requester"))
    r.spec.requester = decodeUserInfo(*v, "spec.requester");
  r.spec.requesterSeal = optString(s, sp, "requesterSeal");
  if (const json* st = member(j, "status")) r.status = decodeRequestStatus(*st, "status");
  return r;
}

template <typename T, typename F>
Result<T> guarded(F&& f) {
  try {
    return f();
  } catch (const DecodeError& e) {
    std::string where = e.field.empty() ? "object" : e.field;
    Error err = makeError(ErrorCode::Invalid, fmt::format("{}: {}", where, e.message));
    err.causes.push_back({"FieldValueInvalid", e.message, e.field});
    return std::unexpected(std::move(err));
  } catch (const std::exception& e) {
    // nlohmann type errors should all be caught above; this is the last line of defence.
    return fail(ErrorCode::Invalid, fmt::format("object: {}", e.what()));
  }
}

// ---------------------------------------------------------------------------------------
// Encoding helpers

void putString(json& j, std::string_view key, const std::string& v) {
  if (!v.empty()) j[std::string(key)] = v;
}
void putOpt(json& j, std::string_view key, const std::optional<std::string>& v) {
  if (v) j[std::string(key)] = *v;
}
template <typename N>
void putOptNum(json& j, std::string_view key, const std::optional<N>& v) {
  if (v) j[std::string(key)] = *v;
}
void putTime(json& j, std::string_view key, const std::optional<TimePoint>& v) {
  if (v) j[std::string(key)] = formatRfc3339(*v);
}
void putList(json& j, std::string_view key, const std::vector<std::string>& v) {
  if (!v.empty()) j[std::string(key)] = v;
}

// apiGroups always (its "" is the core group); the rest when set; scope when not the default.
template <typename Rule>
json ruleJson(const Rule& r) {
  json e = {{"apiGroups", r.apiGroups}};
  putList(e, "resources", r.resources);
  putList(e, "verbs", r.verbs);
  putList(e, "resourceNames", r.resourceNames);
  if (r.scope != RoleScope::Namespace) e["scope"] = toString(r.scope);
  return e;
}

json subjectsJson(const Subjects& s) {
  json j = json::object();
  putList(j, "users", s.users);
  putList(j, "groups", s.groups);
  return j;
}

json conditionsJson(const std::vector<Condition>& cs) {
  json a = json::array();
  for (const auto& c : cs) a.push_back(toJson(c));
  return a;
}

json typed(std::string_view kind, const ObjectMeta& meta) {
  json j = json::object();
  j["apiVersion"] = kApiVersion;
  j["kind"] = kind;
  j["metadata"] = toJson(meta);
  return j;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Public codec

Result<json> parseJsonText(std::string_view text) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    return fail(ErrorCode::Invalid, fmt::format("invalid JSON: {}", e.what()));
  }
}

template <>
Result<AccessPolicy> fromJson<AccessPolicy>(const json& j) {
  return guarded<AccessPolicy>([&] { return decodePolicy(j); });
}
template <>
Result<DatabaseTarget> fromJson<DatabaseTarget>(const json& j) {
  return guarded<DatabaseTarget>([&] { return decodeTarget(j); });
}
template <>
Result<AccessRequest> fromJson<AccessRequest>(const json& j) {
  return guarded<AccessRequest>([&] { return decodeRequest(j); });
}
template <>
Result<AccessRequestStatus> fromJson<AccessRequestStatus>(const json& j) {
  return guarded<AccessRequestStatus>([&] { return decodeRequestStatus(j, "status"); });
}
template <>
Result<Approval> fromJson<Approval>(const json& j) {
  return guarded<Approval>([&] { return decodeApproval(j, "approval"); });
}
template <>
Result<ObjectMeta> fromJson<ObjectMeta>(const json& j) {
  return guarded<ObjectMeta>([&] { return decodeMeta(j, "metadata"); });
}
template <>
Result<UserInfo> fromJson<UserInfo>(const json& j) {
  return guarded<UserInfo>([&] { return decodeUserInfo(j, "user"); });
}

json toJson(const UserInfo& user) {
  json j = json::object();
  j["username"] = user.username;
  putList(j, "groups", user.groups);
  return j;
}

json toJson(const ObjectMeta& m) {
  json j = json::object();
  putString(j, "name", m.name);
  putString(j, "generateName", m.generateName);
  putString(j, "namespace", m.namespace_);
  putString(j, "uid", m.uid);
  putString(j, "resourceVersion", m.resourceVersion);
  putOptNum(j, "generation", m.generation);
  if (!m.labels.empty()) j["labels"] = m.labels;
  if (!m.annotations.empty()) j["annotations"] = m.annotations;
  putList(j, "finalizers", m.finalizers);
  putTime(j, "creationTimestamp", m.creationTimestamp);
  putTime(j, "deletionTimestamp", m.deletionTimestamp);
  if (!m.ownerReferences.empty()) {
    json refs = json::array();
    for (const auto& o : m.ownerReferences) {
      json r = {{"apiVersion", o.apiVersion}, {"kind", o.kind}, {"name", o.name}, {"uid", o.uid}};
      putOptNum(r, "controller", o.controller);
      putOptNum(r, "blockOwnerDeletion", o.blockOwnerDeletion);
      refs.push_back(std::move(r));
    }
    j["ownerReferences"] = std::move(refs);
  }
  return j;
}

json toJson(const Condition& c) {
  json j = json::object();
  j["type"] = c.type;
  j["status"] = c.status;
  putOptNum(j, "observedGeneration", c.observedGeneration);
  j["lastTransitionTime"] = formatRfc3339(c.lastTransitionTime);
  j["reason"] = c.reason;
  j["message"] = c.message;
  return j;
}

json toJson(const AccessPolicy& p) {
  json j = typed(kAccessPolicyKind, p.metadata);
  json s = json::object();
  s["requesters"] = subjectsJson(p.spec.requesters);
  putList(s, "namespaces", p.spec.namespaces);
  if (!p.spec.roles.empty()) {
    json roles = json::array();
    for (const auto& r : p.spec.roles)
      roles.push_back({{"kind", toString(r.kind)}, {"name", r.name}});
    s["roles"] = std::move(roles);
  }
  putList(s, "clusterRoles", p.spec.clusterRoles);
  if (!p.spec.rules.empty()) {
    json rules = json::array();
    for (const auto& r : p.spec.rules) rules.push_back(ruleJson(r));
    s["rules"] = std::move(rules);
  }
  if (!p.spec.databases.empty()) {
    json dbs = json::array();
    for (const auto& d : p.spec.databases) {
      json e = {{"target", d.target}};
      putList(e, "profiles", d.profiles);
      dbs.push_back(std::move(e));
    }
    s["databases"] = std::move(dbs);
  }
  putOpt(s, "defaultDuration", p.spec.defaultDuration);
  putOpt(s, "maxDuration", p.spec.maxDuration);
  putOpt(s, "pendingTimeout", p.spec.pendingTimeout);
  putOpt(s, "retainFor", p.spec.retainFor);
  s["requireReason"] = p.spec.requireReason;
  putOpt(s, "ticketPattern", p.spec.ticketPattern);
  s["maxOpenRequests"] = p.spec.maxOpenRequests;
  putOpt(s, "maxStartDelay", p.spec.maxStartDelay);
  putOpt(s, "approvalValidFor", p.spec.approvalValidFor);
  if (!p.spec.notify.empty()) {
    json receivers = json::array();
    for (const auto& r : p.spec.notify) {
      receivers.push_back({{"name", r.name},
                           {"urlSecretRef",
                            {{"namespace", r.urlSecretRef.namespace_},
                             {"name", r.urlSecretRef.name},
                             {"key", r.urlSecretRef.key}}}});
    }
    s["notify"] = std::move(receivers);
  }
  json a = json::object();
  a["approvers"] = subjectsJson(p.spec.approval.approvers);
  a["required"] = p.spec.approval.required;
  if (p.spec.approval.autoApprove) a["autoApprove"] = subjectsJson(*p.spec.approval.autoApprove);
  s["approval"] = std::move(a);
  j["spec"] = std::move(s);
  if (p.status) {
    json st = json::object();
    putOptNum(st, "observedGeneration", p.status->observedGeneration);
    if (!p.status->conditions.empty()) st["conditions"] = conditionsJson(p.status->conditions);
    j["status"] = std::move(st);
  }
  return j;
}

json toJson(const DatabaseTarget& t) {
  json j = typed(kDatabaseTargetKind, t.metadata);
  json s = json::object();
  s["engine"] = toString(t.spec.engine);
  s["host"] = t.spec.host;
  s["port"] = t.spec.port;
  s["database"] = t.spec.database;
  s["sslMode"] = t.spec.sslMode;
  s["adminSecretRef"] = {{"namespace", t.spec.adminSecretRef.namespace_},
                         {"name", t.spec.adminSecretRef.name}};
  putOptNum(s, "connectionLimit", t.spec.connectionLimit);
  if (t.spec.caSecretRef) {
    s["caSecretRef"] = {{"namespace", t.spec.caSecretRef->namespace_},
                        {"name", t.spec.caSecretRef->name}};
  }
  s["auditStatements"] = t.spec.auditStatements;
  if (!t.spec.profiles.empty()) {
    json profiles = json::array();
    for (const auto& prof : t.spec.profiles) {
      json grants = json::array();
      for (const auto& g : prof.grants) {
        json gj = {{"schema", g.schema}};
        putList(gj, "tables", g.tables);
        putList(gj, "privileges", g.privileges);
        if (!g.excludeColumns.empty()) gj["excludeColumns"] = g.excludeColumns;
        if (!g.maskColumns.empty()) {
          json masks = json::object();
          for (const auto& [table, columns] : g.maskColumns) {
            json cj = json::object();
            for (const auto& [column, mask] : columns) cj[column] = toString(mask);
            masks[table] = std::move(cj);
          }
          gj["maskColumns"] = std::move(masks);
        }
        grants.push_back(std::move(gj));
      }
      profiles.push_back({{"name", prof.name}, {"grants", std::move(grants)}});
    }
    s["profiles"] = std::move(profiles);
  }
  j["spec"] = std::move(s);
  if (t.status) {
    json st = json::object();
    putOptNum(st, "observedGeneration", t.status->observedGeneration);
    if (!t.status->conditions.empty()) st["conditions"] = conditionsJson(t.status->conditions);
    j["status"] = std::move(st);
  }
  return j;
}

json toJson(const AccessRequestSpec& spec) {
  json s = json::object();
  s["policy"] = spec.policy;
  putOpt(s, "duration", spec.duration);
  putOpt(s, "startAt", spec.startAt);
  putOpt(s, "reason", spec.reason);
  putOpt(s, "ticket", spec.ticket);
  if (!spec.roles.empty()) {
    json roles = json::array();
    for (const auto& r : spec.roles) {
      json e = {{"kind", toString(r.kind)}, {"name", r.name}};
      putList(e, "namespaces", r.namespaces);
      // Only when not the default, so a namespaced request's form (and seal) is unchanged.
      if (r.scope != RoleScope::Namespace) e["scope"] = toString(r.scope);
      roles.push_back(std::move(e));
    }
    s["roles"] = std::move(roles);
  }
  if (!spec.rules.empty()) {
    json rules = json::array();
    for (const auto& r : spec.rules) {
      json e = ruleJson(r);
      putList(e, "namespaces", r.namespaces);
      rules.push_back(std::move(e));
    }
    s["rules"] = std::move(rules);
  }
  if (!spec.databases.empty()) {
    json dbs = json::array();
    for (const auto& d : spec.databases)
      dbs.push_back({{"target", d.target}, {"profile", d.profile}});
    s["databases"] = std::move(dbs);
  }
  s["revoke"] = spec.revoke;
  if (spec.requester) s["requester"] = toJson(*spec.requester);
  putOpt(s, "requesterSeal", spec.requesterSeal);
  return s;
}

json toJson(const Approval& a) {
  json j = json::object();
  putOpt(j, "approver", a.approver);
  putList(j, "approverGroups", a.approverGroups);
  j["decision"] = toString(a.decision);
  putOpt(j, "comment", a.comment);
  putTime(j, "time", a.time);
  putOpt(j, "seal", a.seal);
  return j;
}

json toJson(const Grant& g) {
  json j = json::object();
  j["kind"] = toString(g.kind);
  putString(j, "namespace", g.namespace_);
  j["name"] = g.name;
  putString(j, "target", g.target);
  putString(j, "profile", g.profile);
  putString(j, "profileHash", g.profileHash);
  return j;
}

json toJson(const AccessRequestStatus& s) {
  json j = json::object();
  if (s.phase) j["phase"] = toString(*s.phase);
  putOptNum(j, "breakGlass", s.breakGlass);
  json approvals = json::array();
  for (const auto& a : s.approvals) approvals.push_back(toJson(a));
  j["approvals"] = std::move(approvals);
  putTime(j, "approvedAt", s.approvedAt);
  putTime(j, "activatedAt", s.activatedAt);
  putTime(j, "expiresAt", s.expiresAt);
  putTime(j, "endedAt", s.endedAt);
  if (!s.grants.empty()) {
    json grants = json::array();
    for (const auto& g : s.grants) grants.push_back(toJson(g));
    j["grants"] = std::move(grants);
  }
  if (!s.conditions.empty()) j["conditions"] = conditionsJson(s.conditions);
  putOptNum(j, "observedGeneration", s.observedGeneration);
  putOpt(j, "message", s.message);
  putOpt(j, "seal", s.seal);
  return j;
}

json toJson(const AccessRequest& r) {
  json j = typed(kAccessRequestKind, r.metadata);
  j["spec"] = toJson(r.spec);
  if (r.status) j["status"] = toJson(*r.status);
  return j;
}

}  // namespace kubegrant::v1alpha1
