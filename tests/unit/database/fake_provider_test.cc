// The fake provider the reconciler's unit tests use behaves like the contract says.

#include "controllers/database/testing/fake_provider.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kubegrant::database::testing {
namespace {

using ::testing::ElementsAre;

IssueInput input(std::string role) {
  IssueInput in;
  in.role = std::move(role);
  in.profile.name = "support";
  v1alpha1::TableGrant g;
  g.schema = "public";
  g.tables = {"customers"};
  g.privileges = {"SELECT"};
  g.excludeColumns = {{"customers", {"card_number"}}};
  g.maskColumns = {{"customers", {{"email", v1alpha1::MaskFunction::Email}}}};
  in.profile.grants = {g};
  return in;
}

TEST(FakeProvider, IssuesRevokesAndReportsWhatItWithheldAndMasked) {
  FakeProvider p;
  auto issued = p.issue(input("kg_a"));
  ASSERT_TRUE(issued.has_value());
  EXPECT_EQ(issued->password.reveal(), "fake-password-1");
  EXPECT_THAT(issued->withheld, ElementsAre("public.customers.card_number"));
  EXPECT_THAT(issued->maskedColumns, ElementsAre("public.customers.email (email)"));
  p.openSession("kg_a");
  auto revoked = p.revoke({{}, "kg_a"});
  ASSERT_TRUE(revoked.has_value());
  EXPECT_TRUE(revoked->roleExisted);
  EXPECT_EQ(revoked->sessionsTerminated, 1);
  EXPECT_TRUE(p.inspect({}, "kg_a")->gone());
  EXPECT_FALSE(p.revoke({{}, "kg_a"})->roleExisted);  // idempotent
  EXPECT_THAT(p.calls(), ElementsAre("issue kg_a", "revoke kg_a", "inspect kg_a", "revoke kg_a"));
}

TEST(FakeProvider, FailsOnceOnDemandAndAlwaysWhileDown) {
  FakeProvider p;
  p.failNext(FakeProvider::Op::Issue, makeError(ErrorCode::Forbidden, "no"));
  EXPECT_EQ(p.issue(input("kg_a")).error().code, ErrorCode::Forbidden);
  EXPECT_TRUE(p.issue(input("kg_a")).has_value());
  p.setDown(true);
  EXPECT_EQ(p.revoke({{}, "kg_a"}).error().code, ErrorCode::Unavailable);
  EXPECT_EQ(p.listRoles({}).error().code, ErrorCode::Unavailable);
  p.setDown(false);
  EXPECT_EQ(p.listRoles({})->size(), 1u);
  EXPECT_TRUE(p.issue(input("kg_a"))->reissued);
}

}  // namespace
}  // namespace kubegrant::database::testing
