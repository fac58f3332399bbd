#pragma once

// Pure SQL for the PostgreSQL credential provider: every statement the provider sends is built
// here, from typed inputs, so that a unit table can show the exact SQL for hostile names
// (quotes, spaces, unicode, keywords). Nothing here talks to a database.
//
// Rules every builder follows:
// - Identifiers always go through Quoter::identifier (PQescapeIdentifier in production).
// - Values go as bind parameters ($1, $2, ...) where PostgreSQL allows them; utility
//   statements (CREATE ROLE, COMMENT, VALID UNTIL) do not take parameters, so their values go
//   through Quoter::literal (PQescapeLiteral), and the one carrying a password verifier is
//   marked `secret`: its text is never logged nor put in an error message.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "crds/v1alpha1/types.h"
#include "operator/common/clock.h"
#include "operator/common/result.h"

namespace kubegrant::database {

// Quoting of identifiers and literals. PostgresQuoter (postgres/) uses libpq's escaping on the
// live connection; StandardQuoter is the same rule in plain C++ (double the quote character,
// wrap), for unit tests and for code that has no connection.
class Quoter {
 public:
  virtual ~Quoter() = default;
  virtual std::string identifier(std::string_view name) const = 0;
  virtual std::string literal(std::string_view value) const = 0;
};

class StandardQuoter final : public Quoter {
 public:
  std::string identifier(std::string_view name) const override;
  // With standard_conforming_strings (on by default since 9.1) a backslash is ordinary; a
  // value containing one is written E'...' with it doubled, as PQescapeLiteral does.
  std::string literal(std::string_view value) const override;
};

// One statement. `what` is a short description that is safe to log and to put in errors
// ("grant on public.orders"); `sql` is sent as is, `params` as text bind parameters.
struct Statement {
  std::string what;
  std::string sql;
  std::vector<std::string> params;
  bool secret = false;  // never log `sql`, never quote it in an error
};

// ---------------------------------------------------------------------------------------
// Names

inline constexpr std::string_view kRolePrefix = "kg_";

// "kg_" + 16 hex characters of SHA-256(requestUid "/" target): the same request and target
// always give the same role, so a retry after a crash finds the role it created.
std::string roleNameFor(std::string_view requestUid, std::string_view target);

// The operator-owned schema holding the masking views of `profile` over tables of `schema`:
// "kubegrant_mask_<profile>" for public, "kubegrant_mask_<profile>_<schema>" otherwise;
// names longer than PostgreSQL's 63 bytes are shortened with a hash (never truncated into a
// collision).
std::string maskSchemaName(std::string_view profile, std::string_view schema);

// The NOLOGIN role that holds a profile's grants in one database; issued users are made its
// members, so issuing and revoking never touch the grants of a hundred tables (which would
// also make concurrent issuers and revokers collide on the same catalog rows).
// "kubegrant_profile_<profile>_<8 hex of the database name>" (roles are server-wide).
std::string profileRoleName(std::string_view database, std::string_view profile);

// ---------------------------------------------------------------------------------------
// Catalog snapshot (read at issue time) and the grant plan computed from it

struct ColumnInfo {
  std::string name;
  std::string type;  // format_type() of the column: valid SQL type syntax
  bool operator==(const ColumnInfo&) const = default;
};

struct TableInfo {
  std::string schema;
  std::string name;
  char kind = 'r';      // pg_class.relkind: r table, p partitioned, v view, m matview, f foreign
  std::string comment;  // obj_description: for our masking views, the definition fingerprint
  std::vector<ColumnInfo> columns;
  bool operator==(const TableInfo&) const = default;
};

struct Catalog {
  std::vector<TableInfo> tables;  // of the schemas the profile names, and its mask schemas
  const TableInfo* find(std::string_view schema, std::string_view name) const;
};

// How the issued role reads one base table.
struct TableAccess {
  std::string schema;
  std::string table;
  std::vector<std::string> tablePrivileges;  // granted on the whole table
  // Column-level privileges (SELECT, INSERT, UPDATE, REFERENCES) on `columns` only, for tables
  // with excluded columns.
  std::vector<std::string> columnPrivileges;
  std::vector<std::string> columns;
  bool operator==(const TableAccess&) const = default;
};

struct MaskedColumn {
  std::string name;
  std::string type;
  v1alpha1::MaskFunction mask = v1alpha1::MaskFunction::Redact;
  bool operator==(const MaskedColumn&) const = default;
};

// A security_barrier view in a mask schema that replaces a base table for the issued role.
struct MaskView {
  std::string maskSchema;
  std::string schema;  // of the base table
  std::string table;   // base table; the view has the same name
  // Every column of the base table but the excluded ones, in table order; masked ones carry
  // their function.
  std::vector<std::string> columns;
  std::map<std::string, MaskedColumn> masked;
  std::string fingerprint;  // SHA-256 of the view's SQL, kept as the view's comment
  bool current = false;     // the catalog already has this exact view
  bool exists = false;      // a view of that name exists (maybe outdated)
  bool operator==(const MaskView&) const = default;
};

struct GrantPlan {
  std::vector<std::string> schemas;      // USAGE, in first-mention order
  std::vector<std::string> maskSchemas;  // USAGE; first in search_path
  std::vector<TableAccess> tables;
  std::vector<MaskView> views;
  std::vector<std::string> searchPath;     // mask schemas, then the granted schemas
  std::vector<std::string> withheld;       // "schema.table.column", sorted
  std::vector<std::string> maskedColumns;  // "schema.table.column (function)", sorted
  // SHA-256 of the profile role's grants and views: kept as the profile role's comment, so
  // an issue re-grants only when the profile or the catalog ("*") changed.
  std::string fingerprint;
};

// The mask schemas a profile needs (to lock and read them before the catalog query).
std::vector<std::string> maskSchemasOf(const v1alpha1::DatabaseProfile& profile);
// The schemas whose tables the catalog snapshot must contain.
std::vector<std::string> catalogSchemasOf(const v1alpha1::DatabaseProfile& profile);
// schema -> tables whose columns the plan needs (those with excluded or masked columns); the
// others are granted whole, by name.
std::map<std::string, std::vector<std::string>> columnTablesOf(
    const v1alpha1::DatabaseProfile& profile);

// Plans the profile against the catalog. `tables: ["*"]` expands to every table, view,
// materialized view and foreign table of the schema; a named table that does not exist is
// Invalid (naming the grant and the table), so nothing is half-granted. Excluded or masked
// columns that the table does not have are ignored (there is nothing to withhold).
[[nodiscard]] Result<GrantPlan> planGrants(const v1alpha1::DatabaseProfile& profile,
                                           const Catalog& catalog);

// The SQL expression serving `column` masked (`column` is already quoted).
std::string maskExpression(v1alpha1::MaskFunction mask, const std::string& quotedColumn,
                           const std::string& type);

// ---------------------------------------------------------------------------------------
// Statements

// The catalog snapshot: one row per table of the schemas in $1 (a JSON array) with
// (schema, table, relkind, comment, "", ""), except that the tables in $2 (a JSON object
// schema -> [table]) get one row per column with its name and type instead.
Statement catalogQuery(const std::vector<std::string>& schemas,
                       const std::map<std::string, std::vector<std::string>>& columnTables);
// Serializes issuers of the same profile (views) and of the same role within a transaction.
Statement advisoryLock(std::string_view key);
Statement roleExists(std::string_view role);

struct RoleOptions {
  std::string role;
  std::string passwordVerifier;  // SCRAM verifier (never the plain password)
  TimePoint validUntil{};
  std::optional<int32_t> connectionLimit;
};
// CREATE ROLE ... LOGIN PASSWORD ... VALID UNTIL ... CONNECTION LIMIT (secret).
Statement createRole(const Quoter& q, const RoleOptions& options);
// The same options on an existing role (a retry after a crash), LOGIN again (secret).
Statement alterRole(const Quoter& q, const RoleOptions& options);
// Makes the admin a member, which PostgreSQL 15 requires to terminate the role's sessions
// and DROP OWNED BY it.
Statement grantRoleToAdmin(const Quoter& q, std::string_view role);
Statement commentOnRole(const Quoter& q, std::string_view role, std::string_view comment);
// Every privilege of the role in this database, dropped (DROP OWNED BY): a re-issue starts
// from nothing, and revoke leaves nothing.
Statement dropOwned(const Quoter& q, std::string_view role);

// Masking views: schema, grantees to keep across a re-create, the view itself.
Statement createMaskSchema(const Quoter& q, std::string_view maskSchema);
Statement viewGrantees(std::string_view maskSchema, std::string_view table);
Statement dropView(const Quoter& q, const MaskView& view);
std::string viewSql(const Quoter& q, const MaskView& view);  // CREATE VIEW ... AS SELECT ...
std::vector<Statement> createView(const Quoter& q, const MaskView& view,
                                  const std::vector<std::string>& keepGrantees);

// The grants of a plan to the profile role (USAGE, table and column privileges, view SELECT).
std::vector<Statement> profileGrantStatements(const Quoter& q, const GrantPlan& plan,
                                              std::string_view profileRole);
// An issued user: member of the profile role, its search_path (mask schemas first) and, when
// `auditStatements`, log_statement = all.
std::vector<Statement> userStatements(const Quoter& q, const GrantPlan& plan, std::string_view user,
                                      std::string_view profileRole, bool auditStatements);
Statement createProfileRole(const Quoter& q, std::string_view role);
// One row: (1 if the role exists else 0, its comment or "").
Statement profileRoleState(std::string_view role);
// The roles `role` is a member of, one per row.
Statement memberships(std::string_view role);
Statement revokeMembership(const Quoter& q, std::string_view role, std::string_view member);

// Revocation.
Statement disableLogin(const Quoter& q, std::string_view role);
// Signals every backend of the role to terminate (pg_terminate_backend). One row: (backends
// found, backends signalled). Repeated until it finds none: a backend that got the signal
// leaves pg_stat_activity when it has exited.
Statement terminateSessions(std::string_view role);
Statement dropRole(const Quoter& q, std::string_view role);
// One row: (roles named so, backends of that role).
Statement roleState(std::string_view role);
// Roles whose name starts with kg_: name, valid until (RFC 3339 or empty), comment, sessions.
Statement listRoles();

}  // namespace kubegrant::database
