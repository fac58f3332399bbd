// Pure pieces around the provider: admin access from a target and its Secrets, the requester's
// Secret, dry-run summaries, orphans and the revocation backoff.

#include "controllers/database/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "operator/common/time.h"

namespace kubegrant::database {
namespace {

using ::testing::ElementsAre;
using v1alpha1::MaskFunction;

v1alpha1::DatabaseTarget ordersDb() {
  v1alpha1::DatabaseTarget t;
  t.metadata.name = "orders-db";
  t.spec.host = "127.0.0.1";
  t.spec.port = 5433;
  t.spec.database = "orders";
  t.spec.sslMode = "verify-full";
  t.spec.adminSecretRef = {"kubegrant-system", "orders-db-admin"};
  t.spec.caSecretRef = v1alpha1::SecretReference{"kubegrant-system", "orders-db-ca"};
  return t;
}

TEST(TargetAccess, ComesFromTheTargetAndItsSecrets) {
  const SecretData admin{{"username", "kubegrant_admin"}, {"password", "pw"}};
  const SecretData ca{{"ca.crt", "-----BEGIN CERTIFICATE-----"}};
  auto a = targetAccess(ordersDb(), admin, &ca);
  ASSERT_TRUE(a.has_value()) << a.error().message;
  EXPECT_EQ(a->target, "orders-db");
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 5433);
  EXPECT_EQ(a->sslMode, "verify-full");
  EXPECT_EQ(a->adminUser, "kubegrant_admin");
  EXPECT_EQ(a->adminPassword.reveal(), "pw");
  EXPECT_EQ(a->caCertPem, "-----BEGIN CERTIFICATE-----");
}

TEST(TargetAccess, AMissingKeyNamesTheSecretAndTheKey) {
  const SecretData ca{{"ca.crt", "pem"}};
  auto a = targetAccess(ordersDb(), {{"username", "u"}}, &ca);
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().message, "Secret kubegrant-system/orders-db-admin has no key password");
  auto b = targetAccess(ordersDb(), {{"username", "u"}, {"password", "p"}}, nullptr);
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.error().message,
            "Secret kubegrant-system/orders-db-ca (caSecretRef) is not available");
  const SecretData empty{{"ca.crt", ""}};
  auto c = targetAccess(ordersDb(), {{"username", "u"}, {"password", "p"}}, &empty);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().message, "Secret kubegrant-system/orders-db-ca has no key ca.crt");
}

TEST(ConnectionSecret, CarriesWhatAClientNeeds) {
  IssuedUser user;
  user.role = "kg_0123456789abcdef";
  user.password = SecretString("p4ss-w0rd_x");
  auto d = connectionSecretData(ordersDb(), user, *parseRfc3339("2026-11-30T01:00:00Z"), "PEM");
  EXPECT_EQ(d, (SecretData{{"host", "127.0.0.1"},
                           {"port", "5433"},
                           {"database", "orders"},
                           {"username", "kg_0123456789abcdef"},
                           {"password", "p4ss-w0rd_x"},
                           {"sslmode", "verify-full"},
                           {"uri",
                            "postgresql://kg_0123456789abcdef:p4ss-w0rd_x@127.0.0.1:5433/"
                            "orders?sslmode=verify-full"},
                           {"expiresAt", "2026-11-30T01:00:00Z"},
                           {"ca.crt", "PEM"}}));
  auto t = ordersDb();
  t.spec.host = "::1";
  t.spec.database = "my db";
  auto v6 = connectionSecretData(t, user, {}, "");
  EXPECT_EQ(v6.at("uri"),
            "postgresql://kg_0123456789abcdef:p4ss-w0rd_x@[::1]:5433/my%20db?sslmode=verify-full");
  EXPECT_FALSE(v6.contains("ca.crt"));
}

TEST(ConnectionSecret, NameIsRequestDashTargetAndFits) {
  EXPECT_EQ(connectionSecretName("debug-orders", "orders-db"), "debug-orders-orders-db");
  EXPECT_EQ(connectionSecretName(std::string(250, 'r'), "orders-db").size(), 253u);
}

TEST(ProfileSummary, NamesWithheldAndMaskedColumns) {
  v1alpha1::TableGrant g;
  g.schema = "public";
  g.excludeColumns = {{"customers", {"card_number"}}};
  g.maskColumns = {
      {"customers", {{"phone", MaskFunction::Partial}, {"email", MaskFunction::Email}}}};
  EXPECT_EQ(profileSummary("orders-db", {"support", {g}}),
            "database orders-db/support: withheld public.customers.card_number; masked "
            "public.customers.email (email), public.customers.phone (partial)");
  v1alpha1::TableGrant plain;
  plain.schema = "public";
  EXPECT_EQ(profileSummary("orders-db", {"all", {plain}}),
            "database orders-db/all: no column withheld or masked");
}

TEST(Orphans, AreKgRolesOfNoLiveRequest) {
  std::vector<DatabaseRole> listed{{"kg_b", {}, "", 0},
                                   {"kg_a", {}, "", 1},
                                   {"kg_live", {}, "", 0},
                                   {"kubegrant_admin", {}, "", 0}};
  EXPECT_THAT(orphanRoles(listed, {"kg_live"}), ElementsAre("kg_a", "kg_b"));
}

TEST(RevocationBackoff, DoublesFromOneSecondAndIsCappedAtThirty) {
  std::vector<long> s;
  for (int i = 0; i < 8; ++i) s.push_back(revocationBackoff(i).count());
  EXPECT_THAT(s, ElementsAre(1, 2, 4, 8, 16, 30, 30, 30));
  EXPECT_EQ(revocationBackoff(1000).count(), 30);
}

}  // namespace
}  // namespace kubegrant::database
