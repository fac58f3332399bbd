#include "operator/common/result.h"

#include <gtest/gtest.h>

namespace kubegrant {
namespace {

TEST(ErrorTest, TransientCodesAreRetryableAndUserErrorsAreNot) {
  EXPECT_TRUE(makeError(ErrorCode::Conflict, "").retryable());
  EXPECT_TRUE(makeError(ErrorCode::Unavailable, "").retryable());
  EXPECT_TRUE(makeError(ErrorCode::TooManyRequests, "").retryable());
  EXPECT_FALSE(makeError(ErrorCode::Forbidden, "").retryable());
  EXPECT_FALSE(makeError(ErrorCode::Invalid, "").retryable());
  EXPECT_FALSE(makeError(ErrorCode::NotFound, "").retryable());
}

TEST(ErrorTest, DescribeNamesTheCodeAndMessage) {
  EXPECT_EQ(makeError(ErrorCode::NotFound, "accessrequests \"x\" not found").describe(),
            "NotFound: accessrequests \"x\" not found");
}

TEST(ResultTest, FailCarriesTheError) {
  Result<int> r = fail(ErrorCode::Gone, "too old resource version");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Gone);
}

}  // namespace
}  // namespace kubegrant
