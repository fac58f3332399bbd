// The SQL the PostgreSQL provider sends, built for hostile names (quotes, spaces, keywords,
// unicode): every identifier quoted, values as parameters, the password statement secret.

#include "controllers/database/sql.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "operator/common/crypto.h"
#include "operator/common/time.h"

namespace kubegrant::database {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using v1alpha1::DatabaseProfile;
using v1alpha1::MaskFunction;
using v1alpha1::TableGrant;

const StandardQuoter kQ;

struct QuoteCase {
  std::string name;
  std::string input;
  std::string identifier;
  std::string literal;
};

class Quoting : public ::testing::TestWithParam<QuoteCase> {};

TEST_P(Quoting, QuotesIdentifiersAndLiteralsLikeLibpq) {
  EXPECT_EQ(kQ.identifier(GetParam().input), GetParam().identifier);
  EXPECT_EQ(kQ.literal(GetParam().input), GetParam().literal);
}

INSTANTIATE_TEST_SUITE_P(
    HostileNames, Quoting,
    ::testing::Values(
        QuoteCase{"Plain", "customers", "\"customers\"", "'customers'"},
        QuoteCase{"EmbeddedQuote", "weird\"name", "\"weird\"\"name\"", "'weird\"name'"},
        QuoteCase{"SqlInAName", "drop table", "\"drop table\"", "'drop table'"},
        QuoteCase{"Injection", "x\"; DROP TABLE customers; --",
                  "\"x\"\"; DROP TABLE customers; --\"", "'x\"; DROP TABLE customers; --'"},
        QuoteCase{"SchemaWithSpaces", "sales data", "\"sales data\"", "'sales data'"},
        QuoteCase{"Unicode", "clientes_ñ_客户", "\"clientes_ñ_客户\"", "'clientes_ñ_客户'"},
        QuoteCase{"Keyword", "order", "\"order\"", "'order'"},
        QuoteCase{"SingleQuote", "o'brien", "\"o'brien\"", "'o''brien'"},
        QuoteCase{"Backslash", "a\\b", "\"a\\b\"", " E'a\\\\b'"}),
    [](const auto& info) { return info.param.name; });

TEST(Names, RoleNameIsStableShortAndPerRequestAndTarget) {
  const std::string a = roleNameFor("6f1c-uid", "orders-db");
  EXPECT_EQ(a, roleNameFor("6f1c-uid", "orders-db"));
  EXPECT_EQ(a.size(), 19u);
  EXPECT_TRUE(a.starts_with("kg_"));
  EXPECT_NE(a, roleNameFor("6f1c-uid", "billing-db"));
  EXPECT_NE(a, roleNameFor("7a2d-uid", "orders-db"));
}

TEST(Names, MaskSchemaIsPerProfileAndSchemaAndFitsPostgres) {
  EXPECT_EQ(maskSchemaName("support", "public"), "kubegrant_mask_support");
  EXPECT_EQ(maskSchemaName("support", "sales data"), "kubegrant_mask_support_sales data");
  const std::string longA = maskSchemaName(std::string(60, 'p'), "public");
  const std::string longB = maskSchemaName(std::string(60, 'p'), "other");
  EXPECT_LE(longA.size(), 63u);
  EXPECT_NE(longA, longB);
  // Never cut inside a UTF-8 character.
  const std::string uni = maskSchemaName(std::string(40, 'p') + "客户客户客户客户客户", "public");
  EXPECT_LE(uni.size(), 63u);
  EXPECT_EQ(uni.find("\xE5\xAE_"), std::string::npos);
}

// A catalog with the hostile names of the control plane's sample schema.
Catalog hostileCatalog() {
  Catalog c;
  c.tables.push_back({"public",
                      "customers",
                      'r',
                      "",
                      {{"id", "integer"},
                       {"name", "text"},
                       {"email", "text"},
                       {"phone", "text"},
                       {"card_number", "text"}}});
  c.tables.push_back(
      {"public", "orders", 'r', "", {{"id", "integer"}, {"total", "numeric(10,2)"}}});
  c.tables.push_back({"public",
                      "weird\"name",
                      'r',
                      "",
                      {{"id", "integer"}, {"drop table", "text"}, {"secret", "text"}}});
  c.tables.push_back(
      {"sales data", "客户", 'r', "", {{"id", "integer"}, {"邮箱", "text"}, {"order", "text"}}});
  return c;
}

TableGrant grant(std::string schema, std::vector<std::string> tables) {
  TableGrant g;
  g.schema = std::move(schema);
  g.tables = std::move(tables);
  g.privileges = {"SELECT"};
  return g;
}

TEST(PlanGrants, StarExpandsFromTheCatalogAndExcludedColumnsAreWithheld) {
  auto g = grant("public", {"*"});
  g.excludeColumns = {{"customers", {"email", "phone", "card_number"}},
                      {"weird\"name", {"secret"}}};
  auto plan = planGrants(DatabaseProfile{"readonly", {g}}, hostileCatalog());
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  ASSERT_EQ(plan->tables.size(), 3u);
  EXPECT_EQ(plan->tables[0], (TableAccess{"public", "customers", {}, {"SELECT"}, {"id", "name"}}));
  EXPECT_EQ(plan->tables[1], (TableAccess{"public", "orders", {"SELECT"}, {}, {}}));
  EXPECT_EQ(plan->tables[2],
            (TableAccess{"public", "weird\"name", {}, {"SELECT"}, {"id", "drop table"}}));
  EXPECT_THAT(plan->withheld, ElementsAre("public.customers.card_number", "public.customers.email",
                                          "public.customers.phone", "public.weird\"name.secret"));
  EXPECT_THAT(plan->searchPath, ElementsAre("public"));
}

TEST(PlanGrants, TheCatalogReadsColumnsOnlyOfTablesWithExcludedOrMaskedColumns) {
  auto g = grant("public", {"*"});
  g.excludeColumns = {{"customers", {"email"}}};
  g.maskColumns = {{"weird\"name", {{"secret", MaskFunction::Hash}}}};
  const DatabaseProfile profile{"support", {g, grant("sales data", {"客户"})}};
  EXPECT_EQ(
      columnTablesOf(profile),
      (std::map<std::string, std::vector<std::string>>{{"public", {"customers", "weird\"name"}}}));
  EXPECT_THAT(catalogSchemasOf(profile),
              ElementsAre("public", "sales data", "kubegrant_mask_support"));
}

TEST(PlanGrants, TablePrivilegesStayTableLevelNextToColumnGrants) {
  auto g = grant("public", {"customers"});
  g.privileges = {"SELECT", "UPDATE", "DELETE"};
  g.excludeColumns = {{"customers", {"card_number"}}};
  auto plan = planGrants(DatabaseProfile{"rw", {g}}, hostileCatalog());
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->tables[0].columnPrivileges, (std::vector<std::string>{"SELECT", "UPDATE"}));
  EXPECT_EQ(plan->tables[0].tablePrivileges, (std::vector<std::string>{"DELETE"}));
}

TEST(PlanGrants, AMissingTableIsInvalidNamingTheGrantAndNothingIsPlanned) {
  auto plan = planGrants(
      DatabaseProfile{"readonly", {grant("public", {"orders"}), grant("public", {"invoices"})}},
      hostileCatalog());
  ASSERT_FALSE(plan.has_value());
  EXPECT_EQ(plan.error().code, ErrorCode::Invalid);
  EXPECT_EQ(plan.error().message,
            "profile readonly grants[1]: table public.invoices does not exist");
}

TEST(PlanGrants, MaskedTablesBecomeViewsInTheProfilesMaskSchema) {
  auto g = grant("public", {"customers", "orders"});
  g.excludeColumns = {{"customers", {"card_number"}}};
  g.maskColumns = {
      {"customers", {{"email", MaskFunction::Email}, {"phone", MaskFunction::Partial}}}};
  auto plan = planGrants(DatabaseProfile{"support", {g}}, hostileCatalog());
  ASSERT_TRUE(plan.has_value());
  ASSERT_EQ(plan->tables.size(), 1u);  // orders; customers only through the view
  EXPECT_EQ(plan->tables[0].table, "orders");
  ASSERT_EQ(plan->views.size(), 1u);
  const auto& v = plan->views[0];
  EXPECT_EQ(v.maskSchema, "kubegrant_mask_support");
  EXPECT_THAT(v.columns, ElementsAre("id", "name", "email", "phone"));
  EXPECT_FALSE(v.exists);
  EXPECT_FALSE(v.current);
  EXPECT_THAT(plan->searchPath, ElementsAre("kubegrant_mask_support", "public"));
  EXPECT_THAT(plan->maskedColumns,
              ElementsAre("public.customers.email (email)", "public.customers.phone (partial)"));
  EXPECT_THAT(plan->withheld, ElementsAre("public.customers.card_number"));
}

TEST(PlanGrants, AViewWithTheSameFingerprintIsCurrentAnOtherOneIsRecreated) {
  auto g = grant("public", {"customers"});
  g.maskColumns = {{"customers", {{"email", MaskFunction::Hash}}}};
  const DatabaseProfile profile{"support", {g}};
  auto first = planGrants(profile, hostileCatalog());
  ASSERT_TRUE(first.has_value());
  auto catalog = hostileCatalog();
  catalog.tables.push_back(
      {"kubegrant_mask_support", "customers", 'v', "kubegrant:" + first->views[0].fingerprint, {}});
  auto again = planGrants(profile, catalog);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->views[0].exists);
  EXPECT_TRUE(again->views[0].current);
  auto changed = profile;
  changed.grants[0].maskColumns["customers"]["email"] = MaskFunction::Redact;
  auto after = planGrants(changed, catalog);
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(after->views[0].exists);
  EXPECT_FALSE(after->views[0].current);
}

TEST(Statements, GrantsForHostileNamesQuoteEveryIdentifier) {
  auto pub = grant("public", {"*"});
  pub.excludeColumns = {{"weird\"name", {"secret"}}};
  auto sales = grant("sales data", {"客户"});
  sales.maskColumns = {{"客户", {{"邮箱", MaskFunction::Email}}}};
  auto plan = planGrants(DatabaseProfile{"support", {pub, sales}}, hostileCatalog());
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  const std::string profileRole = profileRoleName("orders", "support");
  EXPECT_EQ(profileRole, "kubegrant_profile_support_" + sha256Hex("orders").substr(0, 8));
  std::vector<std::string> sql;
  for (const auto& s : profileGrantStatements(kQ, *plan, "kubegrant_profile_support")) {
    EXPECT_TRUE(s.params.empty());
    EXPECT_FALSE(s.secret);
    sql.push_back(s.sql);
  }
  EXPECT_THAT(
      sql, ElementsAre(
               "GRANT USAGE ON SCHEMA \"kubegrant_mask_support_sales data\", \"public\", \"sales "
               "data\" TO \"kubegrant_profile_support\"",
               "GRANT SELECT ON TABLE \"public\".\"customers\", \"public\".\"orders\" TO "
               "\"kubegrant_profile_support\"",
               "GRANT SELECT (\"id\", \"drop table\") ON TABLE \"public\".\"weird\"\"name\" TO "
               "\"kubegrant_profile_support\"",
               "GRANT SELECT ON TABLE \"kubegrant_mask_support_sales data\".\"客户\" TO "
               "\"kubegrant_profile_support\""));
  sql.clear();
  for (const auto& s :
       userStatements(kQ, *plan, "kg_0123456789abcdef", "kubegrant_profile_support", true)) {
    sql.push_back(s.sql);
  }
  EXPECT_THAT(
      sql,
      ElementsAre(
          "GRANT \"kubegrant_profile_support\" TO \"kg_0123456789abcdef\"",
          "ALTER ROLE \"kg_0123456789abcdef\" SET search_path TO \"kubegrant_mask_support_sales "
          "data\", \"public\", \"sales data\"",
          "ALTER ROLE \"kg_0123456789abcdef\" SET log_statement = 'all'"));
}

TEST(PlanGrants, TheFingerprintChangesWithTheProfileAndTheCatalog) {
  auto g = grant("public", {"*"});
  const DatabaseProfile profile{"readonly", {g}};
  auto before = planGrants(profile, hostileCatalog());
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(before->fingerprint, planGrants(profile, hostileCatalog())->fingerprint);
  auto catalog = hostileCatalog();
  catalog.tables.push_back({"public", "invoices", 'r', "", {}});  // a new table under "*"
  EXPECT_NE(before->fingerprint, planGrants(profile, catalog)->fingerprint);
  auto narrower = profile;
  narrower.grants[0].excludeColumns = {{"customers", {"email"}}};
  EXPECT_NE(before->fingerprint, planGrants(narrower, hostileCatalog())->fingerprint);
}

TEST(Statements, TheMaskingViewIsASecurityBarrierOverTheBaseTable) {
  MaskView v;
  v.maskSchema = "kubegrant_mask_support";
  v.schema = "public";
  v.table = "weird\"name";
  v.columns = {"id", "drop table"};
  v.masked = {{"drop table", MaskedColumn{"drop table", "text", MaskFunction::Redact}}};
  EXPECT_EQ(viewSql(kQ, v),
            "CREATE VIEW \"kubegrant_mask_support\".\"weird\"\"name\" WITH (security_barrier = "
            "true) AS SELECT \"id\", CASE WHEN \"drop table\" IS NULL THEN NULL::text ELSE "
            "'***'::text END AS \"drop table\" FROM \"public\".\"weird\"\"name\"");
  auto statements = createView(kQ, v, {"kg_a", "kg_\"b"});
  ASSERT_EQ(statements.size(), 3u);
  EXPECT_EQ(statements[2].sql,
            "GRANT SELECT ON TABLE \"kubegrant_mask_support\".\"weird\"\"name\" TO \"kg_a\", "
            "\"kg_\"\"b\"");
}

struct MaskCase {
  MaskFunction mask;
  std::string sql;
};

TEST(Statements, EachMaskFunctionHasItsExpression) {
  const std::string c = "\"e mail\"";
  for (const auto& m : std::vector<MaskCase>{
           {MaskFunction::Redact,
            "CASE WHEN \"e mail\" IS NULL THEN NULL::text ELSE '***'::text END"},
           {MaskFunction::Partial,
            "CASE WHEN \"e mail\" IS NULL THEN NULL::text WHEN length(\"e mail\"::text) <= 4 THEN "
            "repeat('*', length(\"e mail\"::text)) ELSE repeat('*', length(\"e mail\"::text) - 4) "
            "|| right(\"e mail\"::text, 4) END"},
           {MaskFunction::Email,
            "CASE WHEN \"e mail\" IS NULL THEN NULL::text WHEN strpos(\"e mail\"::text, '@') > 1 "
            "THEN left(\"e mail\"::text, 1) || '***@' || substring(\"e mail\"::text FROM "
            "'@([^@]*)$') ELSE '***'::text END"},
           {MaskFunction::Hash, "encode(sha256(convert_to(\"e mail\"::text, 'UTF8')), 'hex')"},
           {MaskFunction::Null, "NULL::character varying(40)"}}) {
    EXPECT_EQ(maskExpression(m.mask, c, "character varying(40)"), m.sql) << toString(m.mask);
  }
}

TEST(Statements, ThePasswordStatementIsSecretAndItsDescriptionIsNot) {
  const RoleOptions o{"kg_0123456789abcdef", "SCRAM-SHA-256$4096:c2FsdA==$stored:server",
                      *parseRfc3339("2026-11-29T12:00:00Z"), 2};
  for (const auto& s : {createRole(kQ, o), alterRole(kQ, o)}) {
    EXPECT_TRUE(s.secret);
    EXPECT_THAT(s.what, Not(HasSubstr("SCRAM")));
    EXPECT_TRUE(s.params.empty());
  }
  EXPECT_EQ(createRole(kQ, o).sql,
            "CREATE ROLE \"kg_0123456789abcdef\" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
            "NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$stored:server' VALID "
            "UNTIL '2026-11-29T12:00:00Z' CONNECTION LIMIT 2");
  auto unlimited = o;
  unlimited.connectionLimit.reset();
  EXPECT_EQ(alterRole(kQ, unlimited).sql,
            "ALTER ROLE \"kg_0123456789abcdef\" WITH LOGIN PASSWORD "
            "'SCRAM-SHA-256$4096:c2FsdA==$stored:server' VALID UNTIL '2026-11-29T12:00:00Z' "
            "CONNECTION LIMIT -1");
}

TEST(Statements, ValuesGoAsParameters) {
  const std::string hostile = "kg_x'; DROP ROLE postgres; --";
  for (const auto& s :
       {roleExists(hostile), roleState(hostile), terminateSessions(hostile), advisoryLock(hostile),
        viewGrantees(hostile, hostile), profileRoleState(hostile), memberships(hostile)}) {
    EXPECT_THAT(s.sql, Not(HasSubstr("DROP ROLE postgres"))) << s.what;
    EXPECT_EQ(s.params.at(0), hostile) << s.what;
  }
  auto catalog =
      catalogQuery({"public", "sales data", "weird\"schema"}, {{"sales data", {"客户", "t'1"}}});
  EXPECT_EQ(nlohmann::json::parse(catalog.params.at(0)),
            nlohmann::json({"public", "sales data", "weird\"schema"}));
  EXPECT_EQ(nlohmann::json::parse(catalog.params.at(1)),
            nlohmann::json({{"sales data", {"客户", "t'1"}}}));
  EXPECT_EQ(listRoles().params, std::vector<std::string>{"kg_"});
}

TEST(Statements, RevocationQuotesTheRole) {
  const std::string r = "kg_\"x";
  EXPECT_EQ(disableLogin(kQ, r).sql, "ALTER ROLE \"kg_\"\"x\" NOLOGIN");
  EXPECT_EQ(dropOwned(kQ, r).sql, "DROP OWNED BY \"kg_\"\"x\"");
  EXPECT_EQ(dropRole(kQ, r).sql, "DROP ROLE IF EXISTS \"kg_\"\"x\"");
  EXPECT_EQ(grantRoleToAdmin(kQ, r).sql, "GRANT \"kg_\"\"x\" TO CURRENT_USER");
  EXPECT_EQ(revokeMembership(kQ, "kubegrant_profile_x", r).sql,
            "REVOKE \"kubegrant_profile_x\" FROM \"kg_\"\"x\"");
  EXPECT_EQ(createProfileRole(kQ, "kubegrant_profile_\"x").sql,
            "CREATE ROLE \"kubegrant_profile_\"\"x\" NOLOGIN");
  EXPECT_EQ(commentOnRole(kQ, r, "request payments/debug-orders").sql,
            "COMMENT ON ROLE \"kg_\"\"x\" IS 'request payments/debug-orders'");
}

}  // namespace
}  // namespace kubegrant::database
