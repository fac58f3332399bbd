#include "controllers/database/sql.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "operator/common/crypto.h"
#include "operator/common/time.h"

namespace kubegrant::database {

namespace {

using v1alpha1::MaskFunction;

constexpr size_t kMaxIdentifierBytes = 63;  // PostgreSQL's NAMEDATALEN - 1

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

void addUnique(std::vector<std::string>& v, std::string s) {
  if (!contains(v, s)) v.push_back(std::move(s));
}

// Cuts `s` to at most `n` bytes without splitting a UTF-8 sequence.
std::string_view utf8Prefix(std::string_view s, size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// Names longer than PostgreSQL's 63 bytes are cut (on a character boundary) and end in a
// hash of the whole name, so two long names never collide.
std::string shortened(std::string name) {
  if (name.size() <= kMaxIdentifierBytes) return name;
  return fmt::format("{}_{}", utf8Prefix(name, kMaxIdentifierBytes - 17),
                     sha256Hex(name).substr(0, 16));
}

std::string joined(const Quoter& q, const std::vector<std::string>& names) {
  std::vector<std::string> quoted;
  quoted.reserve(names.size());
  for (const auto& n : names) quoted.push_back(q.identifier(n));
  return fmt::format("{}", fmt::join(quoted, ", "));
}

std::string qualified(const Quoter& q, std::string_view schema, std::string_view name) {
  return q.identifier(schema) + "." + q.identifier(name);
}

bool columnLevel(std::string_view privilege) {
  return privilege == "SELECT" || privilege == "INSERT" || privilege == "UPDATE" ||
         privilege == "REFERENCES";
}

Statement plain(std::string what, std::string sql) {
  return Statement{std::move(what), std::move(sql), {}, false};
}

Statement query(std::string what, std::string sql, std::vector<std::string> params) {
  return Statement{std::move(what), std::move(sql), std::move(params), false};
}

// CREATE spells out the attributes a login role must not have; ALTER cannot (PostgreSQL 15
// lets only a superuser name REPLICATION or BYPASSRLS there) and need not: the role is ours.
std::string roleSql(const Quoter& q, std::string_view verb, const RoleOptions& o) {
  return fmt::format(
      "{} ROLE {} WITH LOGIN{} PASSWORD {} VALID UNTIL {} CONNECTION LIMIT {}", verb,
      q.identifier(o.role),
      verb == "CREATE" ? " NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS" : "",
      q.literal(o.passwordVerifier), q.literal(formatRfc3339(o.validUntil)),
      o.connectionLimit.value_or(-1));
}

}  // namespace

std::string StandardQuoter::identifier(std::string_view name) const {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string StandardQuoter::literal(std::string_view value) const {
  const bool backslash = value.find('\\') != std::string_view::npos;
  std::string out = backslash ? " E'" : "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += c;
    out += c;
  }
  out += '\'';
  return out;
}

// ---------------------------------------------------------------------------------------
// Names

std::string roleNameFor(std::string_view requestUid, std::string_view target) {
  return std::string(kRolePrefix) +
         sha256Hex(fmt::format("{}/{}", requestUid, target)).substr(0, 16);
}

std::string maskSchemaName(std::string_view profile, std::string_view schema) {
  std::string name = fmt::format("kubegrant_mask_{}", profile);
  if (schema != "public") name += fmt::format("_{}", schema);
  return shortened(std::move(name));
}

std::string profileRoleName(std::string_view database, std::string_view profile) {
  return shortened(
      fmt::format("kubegrant_profile_{}_{}", profile, sha256Hex(database).substr(0, 8)));
}

// ---------------------------------------------------------------------------------------
// Plan

const TableInfo* Catalog::find(std::string_view schema, std::string_view name) const {
  for (const auto& t : tables) {
    if (t.schema == schema && t.name == name) return &t;
  }
  return nullptr;
}

std::vector<std::string> maskSchemasOf(const v1alpha1::DatabaseProfile& profile) {
  std::vector<std::string> out;
  for (const auto& g : profile.grants) {
    if (!g.maskColumns.empty()) addUnique(out, maskSchemaName(profile.name, g.schema));
  }
  return out;
}

std::vector<std::string> catalogSchemasOf(const v1alpha1::DatabaseProfile& profile) {
  std::vector<std::string> out;
  for (const auto& g : profile.grants) addUnique(out, g.schema);
  for (auto& m : maskSchemasOf(profile)) addUnique(out, std::move(m));
  return out;
}

std::map<std::string, std::vector<std::string>> columnTablesOf(
    const v1alpha1::DatabaseProfile& profile) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& g : profile.grants) {
    for (const auto& [table, columns] : g.excludeColumns) addUnique(out[g.schema], table);
    for (const auto& [table, columns] : g.maskColumns) addUnique(out[g.schema], table);
  }
  return out;
}

std::string maskExpression(MaskFunction mask, const std::string& c, const std::string& type) {
  const std::string v = c + "::text";
  switch (mask) {
    case MaskFunction::Redact:
      return fmt::format("CASE WHEN {} IS NULL THEN NULL::text ELSE '***'::text END", c);
    case MaskFunction::Partial:
      // Values of 4 characters or fewer are hidden entirely: "the last 4" would be all of them.
      return fmt::format(
          "CASE WHEN {0} IS NULL THEN NULL::text WHEN length({1}) <= 4 THEN repeat('*', "
          "length({1})) ELSE repeat('*', length({1}) - 4) || right({1}, 4) END",
          c, v);
    case MaskFunction::Email:
      return fmt::format(
          "CASE WHEN {0} IS NULL THEN NULL::text WHEN strpos({1}, '@') > 1 THEN left({1}, 1) || "
          "'***@' || substring({1} FROM '@([^@]*)$') ELSE '***'::text END",
          c, v);
    case MaskFunction::Hash:
      return fmt::format("encode(sha256(convert_to({}, 'UTF8')), 'hex')", v);
    case MaskFunction::Null:
      return fmt::format("NULL::{}", type.empty() ? "text" : type);
  }
  return "NULL::text";
}

Result<GrantPlan> planGrants(const v1alpha1::DatabaseProfile& profile, const Catalog& catalog) {
  GrantPlan plan;
  for (size_t k = 0; k < profile.grants.size(); ++k) {
    const auto& g = profile.grants[k];
    addUnique(plan.schemas, g.schema);
    std::vector<std::string> names;
    if (contains(g.tables, "*")) {
      for (const auto& t : catalog.tables) {
        if (t.schema == g.schema) addUnique(names, t.name);
      }
    }
    for (const auto& t : g.tables) {
      if (t != "*") addUnique(names, t);
    }
    for (const auto& name : names) {
      const TableInfo* info = catalog.find(g.schema, name);
      if (!info) {
        return fail(ErrorCode::Invalid,
                    fmt::format("profile {} grants[{}]: table {}.{} does not exist", profile.name,
                                k, g.schema, name));
      }
      std::vector<std::string> excluded;
      if (auto it = g.excludeColumns.find(name); it != g.excludeColumns.end()) {
        excluded = it->second;
      }
      const std::map<std::string, MaskFunction>* masks = nullptr;
      if (auto it = g.maskColumns.find(name); it != g.maskColumns.end()) masks = &it->second;

      std::vector<std::string> kept;
      std::map<std::string, MaskedColumn> masked;
      for (const auto& col : info->columns) {
        if (contains(excluded, col.name)) {
          plan.withheld.push_back(fmt::format("{}.{}.{}", g.schema, name, col.name));
          continue;
        }
        kept.push_back(col.name);
        if (masks) {
          if (auto m = masks->find(col.name); m != masks->end()) {
            masked[col.name] = MaskedColumn{col.name, col.type, m->second};
            plan.maskedColumns.push_back(
                fmt::format("{}.{}.{} ({})", g.schema, name, col.name, toString(m->second)));
          }
        }
      }
      if (!masked.empty()) {
        MaskView view;
        view.maskSchema = maskSchemaName(profile.name, g.schema);
        view.schema = g.schema;
        view.table = name;
        view.columns = std::move(kept);
        view.masked = std::move(masked);
        view.fingerprint = sha256Hex(viewSql(StandardQuoter{}, view));
        if (const TableInfo* existing = catalog.find(view.maskSchema, name)) {
          view.exists = true;
          view.current = existing->comment == "kubegrant:" + view.fingerprint;
        }
        addUnique(plan.maskSchemas, view.maskSchema);
        plan.views.push_back(std::move(view));
        continue;
      }
      TableAccess access{g.schema, name, {}, {}, {}};
      const bool columnGrants =
          std::any_of(info->columns.begin(), info->columns.end(),
                      [&](const auto& c) { return contains(excluded, c.name); });
      for (const auto& p : g.privileges) {
        if (columnGrants && columnLevel(p)) {
          addUnique(access.columnPrivileges, p);
        } else {
          addUnique(access.tablePrivileges, p);
        }
      }
      if (columnGrants) access.columns = std::move(kept);
      plan.tables.push_back(std::move(access));
    }
  }
  plan.searchPath = plan.maskSchemas;
  for (const auto& s : plan.schemas) addUnique(plan.searchPath, s);
  std::string all;
  for (const auto& st : profileGrantStatements(StandardQuoter{}, plan, "profile")) {
    all += st.sql + ";\n";
  }
  for (const auto& v : plan.views) all += v.fingerprint + "\n";
  plan.fingerprint = sha256Hex(all);
  std::sort(plan.withheld.begin(), plan.withheld.end());
  std::sort(plan.maskedColumns.begin(), plan.maskedColumns.end());
  return plan;
}

// ---------------------------------------------------------------------------------------
// Statements

Statement catalogQuery(const std::vector<std::string>& schemas,
                       const std::map<std::string, std::vector<std::string>>& columnTables) {
  return query("read the catalog",
               "SELECT n.nspname, c.relname, c.relkind::text, coalesce(d.description, ''), "
               "coalesce(a.attname::text, ''), "
               "coalesce(pg_catalog.format_type(a.atttypid, a.atttypmod), '') "
               "FROM pg_catalog.pg_class c "
               "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
               "LEFT JOIN pg_catalog.pg_description d ON d.objoid = c.oid "
               "AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = 0 "
               "LEFT JOIN pg_catalog.pg_attribute a "
               "ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
               "AND coalesce(($2::jsonb -> n.nspname::text) ? c.relname::text, false) "
               "WHERE n.nspname IN (SELECT jsonb_array_elements_text($1::jsonb)) "
               "AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
               "ORDER BY n.oid, c.oid, a.attnum",
               {nlohmann::json(schemas).dump(), nlohmann::json(columnTables).dump()});
}

Statement advisoryLock(std::string_view key) {
  return query("take the advisory lock",
               "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended($1, 0))",
               {std::string(key)});
}

Statement roleExists(std::string_view role) {
  return query("look up the role", "SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname = $1",
               {std::string(role)});
}

Statement createRole(const Quoter& q, const RoleOptions& o) {
  return Statement{fmt::format("create role {}", o.role), roleSql(q, "CREATE", o), {}, true};
}

Statement alterRole(const Quoter& q, const RoleOptions& o) {
  return Statement{fmt::format("update role {}", o.role), roleSql(q, "ALTER", o), {}, true};
}

Statement grantRoleToAdmin(const Quoter& q, std::string_view role) {
  return plain(fmt::format("make the admin a member of {}", role),
               fmt::format("GRANT {} TO CURRENT_USER", q.identifier(role)));
}

Statement commentOnRole(const Quoter& q, std::string_view role, std::string_view comment) {
  return plain(fmt::format("comment on role {}", role),
               fmt::format("COMMENT ON ROLE {} IS {}", q.identifier(role), q.literal(comment)));
}

Statement dropOwned(const Quoter& q, std::string_view role) {
  return plain(fmt::format("drop what role {} owns and its privileges", role),
               fmt::format("DROP OWNED BY {}", q.identifier(role)));
}

Statement createMaskSchema(const Quoter& q, std::string_view maskSchema) {
  return plain(fmt::format("create schema {}", maskSchema),
               fmt::format("CREATE SCHEMA IF NOT EXISTS {}", q.identifier(maskSchema)));
}

Statement viewGrantees(std::string_view maskSchema, std::string_view table) {
  return query(fmt::format("read the grantees of view {}.{}", maskSchema, table),
               "SELECT DISTINCT r.rolname FROM pg_catalog.pg_class c "
               "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
               "CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a "
               "JOIN pg_catalog.pg_roles r ON r.oid = a.grantee "
               "WHERE n.nspname = $1 AND c.relname = $2 AND a.privilege_type = 'SELECT' "
               "AND r.rolname <> current_user ORDER BY 1",
               {std::string(maskSchema), std::string(table)});
}

Statement dropView(const Quoter& q, const MaskView& view) {
  return plain(fmt::format("drop view {}.{}", view.maskSchema, view.table),
               fmt::format("DROP VIEW IF EXISTS {}", qualified(q, view.maskSchema, view.table)));
}

std::string viewSql(const Quoter& q, const MaskView& view) {
  std::vector<std::string> select;
  select.reserve(view.columns.size());
  for (const auto& col : view.columns) {
    const std::string qc = q.identifier(col);
    if (auto m = view.masked.find(col); m != view.masked.end()) {
      select.push_back(
          fmt::format("{} AS {}", maskExpression(m->second.mask, qc, m->second.type), qc));
    } else {
      select.push_back(qc);
    }
  }
  return fmt::format("CREATE VIEW {} WITH (security_barrier = true) AS SELECT {} FROM {}",
                     qualified(q, view.maskSchema, view.table), fmt::join(select, ", "),
                     qualified(q, view.schema, view.table));
}

std::vector<Statement> createView(const Quoter& q, const MaskView& view,
                                  const std::vector<std::string>& keepGrantees) {
  std::vector<Statement> out;
  const std::string name = fmt::format("{}.{}", view.maskSchema, view.table);
  out.push_back(plain(fmt::format("create view {}", name), viewSql(q, view)));
  out.push_back(
      plain(fmt::format("comment on view {}", name),
            fmt::format("COMMENT ON VIEW {} IS {}", qualified(q, view.maskSchema, view.table),
                        q.literal("kubegrant:" + view.fingerprint))));
  if (!keepGrantees.empty()) {
    out.push_back(
        plain(fmt::format("grant view {} to its users again", name),
              fmt::format("GRANT SELECT ON TABLE {} TO {}",
                          qualified(q, view.maskSchema, view.table), joined(q, keepGrantees))));
  }
  return out;
}

std::vector<Statement> profileGrantStatements(const Quoter& q, const GrantPlan& plan,
                                              std::string_view role) {
  std::vector<Statement> out;
  const std::string r = q.identifier(role);
  std::vector<std::string> usage = plan.maskSchemas;
  for (const auto& s : plan.schemas) addUnique(usage, s);
  if (!usage.empty()) {
    out.push_back(plain(fmt::format("grant schema usage to {}", role),
                        fmt::format("GRANT USAGE ON SCHEMA {} TO {}", joined(q, usage), r)));
  }
  // Whole-table grants with the same privileges go in one statement (one round trip for the
  // hundred tables of a "*" grant).
  std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> groups;
  for (const auto& t : plan.tables) {
    if (t.tablePrivileges.empty()) continue;
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.first == t.tablePrivileges; });
    if (it == groups.end()) {
      groups.push_back({t.tablePrivileges, {}});
      it = std::prev(groups.end());
    }
    it->second.push_back(qualified(q, t.schema, t.table));
  }
  for (const auto& [privileges, tables] : groups) {
    out.push_back(plain(fmt::format("grant {} on {} tables to {}", fmt::join(privileges, ", "),
                                    tables.size(), role),
                        fmt::format("GRANT {} ON TABLE {} TO {}", fmt::join(privileges, ", "),
                                    fmt::join(tables, ", "), r)));
  }
  for (const auto& t : plan.tables) {
    if (t.columnPrivileges.empty() || t.columns.empty()) continue;
    const std::string cols = joined(q, t.columns);
    std::vector<std::string> parts;
    for (const auto& p : t.columnPrivileges) parts.push_back(fmt::format("{} ({})", p, cols));
    out.push_back(plain(fmt::format("grant columns of {}.{} to {}", t.schema, t.table, role),
                        fmt::format("GRANT {} ON TABLE {} TO {}", fmt::join(parts, ", "),
                                    qualified(q, t.schema, t.table), r)));
  }
  if (!plan.views.empty()) {
    std::vector<std::string> views;
    for (const auto& v : plan.views) views.push_back(qualified(q, v.maskSchema, v.table));
    out.push_back(plain(fmt::format("grant {} masking views to {}", views.size(), role),
                        fmt::format("GRANT SELECT ON TABLE {} TO {}", fmt::join(views, ", "), r)));
  }
  return out;
}

std::vector<Statement> userStatements(const Quoter& q, const GrantPlan& plan, std::string_view user,
                                      std::string_view profileRole, bool auditStatements) {
  std::vector<Statement> out;
  const std::string r = q.identifier(user);
  out.push_back(plain(fmt::format("make {} a member of {}", user, profileRole),
                      fmt::format("GRANT {} TO {}", q.identifier(profileRole), r)));
  if (!plan.searchPath.empty()) {
    out.push_back(
        plain(fmt::format("set the search_path of {}", user),
              fmt::format("ALTER ROLE {} SET search_path TO {}", r, joined(q, plan.searchPath))));
  }
  if (auditStatements) {
    out.push_back(plain(fmt::format("log every statement of {}", user),
                        fmt::format("ALTER ROLE {} SET log_statement = 'all'", r)));
  }
  return out;
}

Statement createProfileRole(const Quoter& q, std::string_view role) {
  return plain(fmt::format("create role {}", role),
               fmt::format("CREATE ROLE {} NOLOGIN", q.identifier(role)));
}

Statement profileRoleState(std::string_view role) {
  return query(fmt::format("look up role {}", role),
               "SELECT count(*), "
               "coalesce(max(pg_catalog.shobj_description(oid, 'pg_authid')), '') "
               "FROM pg_catalog.pg_roles WHERE rolname = $1",
               {std::string(role)});
}

Statement memberships(std::string_view role) {
  return query(fmt::format("list the roles {} is a member of", role),
               "SELECT r.rolname FROM pg_catalog.pg_auth_members m "
               "JOIN pg_catalog.pg_roles r ON r.oid = m.roleid "
               "JOIN pg_catalog.pg_roles u ON u.oid = m.member "
               "WHERE u.rolname = $1 ORDER BY 1",
               {std::string(role)});
}

Statement revokeMembership(const Quoter& q, std::string_view role, std::string_view member) {
  return plain(fmt::format("remove {} from {}", member, role),
               fmt::format("REVOKE {} FROM {}", q.identifier(role), q.identifier(member)));
}

Statement disableLogin(const Quoter& q, std::string_view role) {
  return plain(fmt::format("disable login of {}", role),
               fmt::format("ALTER ROLE {} NOLOGIN", q.identifier(role)));
}

Statement terminateSessions(std::string_view role) {
  return query(fmt::format("terminate the sessions of {}", role),
               "SELECT count(*), count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid)) "
               "FROM pg_catalog.pg_stat_activity "
               "WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid()",
               {std::string(role)});
}

Statement dropRole(const Quoter& q, std::string_view role) {
  return plain(fmt::format("drop role {}", role),
               fmt::format("DROP ROLE IF EXISTS {}", q.identifier(role)));
}

Statement roleState(std::string_view role) {
  return query(fmt::format("check that role {} is gone", role),
               "SELECT (SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname = $1), "
               "(SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE usename = $1)",
               {std::string(role)});
}

Statement listRoles() {
  return query(
      "list the kg_ roles",
      "SELECT r.rolname, "
      "CASE WHEN r.rolvaliduntil IS NULL OR NOT isfinite(r.rolvaliduntil) THEN '' "
      "ELSE to_char(r.rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') END, "
      "coalesce(pg_catalog.shobj_description(r.oid, 'pg_authid'), ''), "
      "(SELECT count(*) FROM pg_catalog.pg_stat_activity a WHERE a.usename = r.rolname) "
      "FROM pg_catalog.pg_roles r WHERE starts_with(r.rolname, $1) ORDER BY 1",
      {std::string(kRolePrefix)});
}

}  // namespace kubegrant::database
