#include "operator/kube/errors.h"

#include <gtest/gtest.h>

namespace kubegrant::kube {
namespace {

std::string status(int code, const char* reason, const char* message) {
  nlohmann::json s = {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
                      {"code", code},     {"reason", reason},   {"message", message}};
  return s.dump();
}

struct Case {
  int http;
  const char* reason;
  ErrorCode expected;
};

TEST(ErrorFromResponse, MapsHttpStatusAndReasonToErrorCode) {
  const Case cases[] = {
      {404, "NotFound", ErrorCode::NotFound},
      {409, "AlreadyExists", ErrorCode::AlreadyExists},
      {409, "Conflict", ErrorCode::Conflict},
      {403, "Forbidden", ErrorCode::Forbidden},
      {401, "Unauthorized", ErrorCode::Unauthorized},
      {422, "Invalid", ErrorCode::Invalid},
      {400, "BadRequest", ErrorCode::BadRequest},
      {410, "Expired", ErrorCode::Gone},
      {410, "Gone", ErrorCode::Gone},
      {429, "TooManyRequests", ErrorCode::TooManyRequests},
      {500, "InternalError", ErrorCode::Unavailable},
      {503, "ServiceUnavailable", ErrorCode::Unavailable},
      {504, "Timeout", ErrorCode::Timeout},
      {500, "ServerTimeout", ErrorCode::Timeout},
      {405, "MethodNotAllowed", ErrorCode::BadRequest},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::to_string(c.http) + " " + c.reason);
    Error e = errorFromResponse(c.http, status(c.http, c.reason, "msg"), "");
    EXPECT_EQ(e.code, c.expected);
    EXPECT_EQ(e.httpStatus, c.http);
    EXPECT_EQ(e.reason, c.reason);
    EXPECT_EQ(e.message, "msg");
  }
}

TEST(ErrorFromResponse, KeepsTheServersFieldCauses) {
  nlohmann::json s = nlohmann::json::parse(status(422, "Invalid", "ConfigMap \"x\" is invalid"));
  s["details"] = {{"name", "x"},
                  {"kind", "configmaps"},
                  {"causes",
                   {{{"reason", "FieldValueInvalid"},
                     {"message", "Invalid value: \"a b\""},
                     {"field", "data[a b]"}}}}};
  Error e = errorFromResponse(422, s.dump(), "");
  EXPECT_EQ(e.code, ErrorCode::Invalid);
  ASSERT_EQ(e.causes.size(), 1u);
  EXPECT_EQ(e.causes[0].reason, "FieldValueInvalid");
  EXPECT_EQ(e.causes[0].field, "data[a b]");
  EXPECT_EQ(e.causes[0].message, "Invalid value: \"a b\"");
}

TEST(ErrorFromResponse, ReadsRetryAfterFromHeaderOrDetails) {
  Error fromHeader = errorFromResponse(429, status(429, "TooManyRequests", "slow down"), " 7 ");
  EXPECT_EQ(fromHeader.code, ErrorCode::TooManyRequests);
  EXPECT_EQ(fromHeader.retryAfterSeconds, 7);
  EXPECT_TRUE(fromHeader.retryable());

  nlohmann::json s = nlohmann::json::parse(status(429, "TooManyRequests", "slow down"));
  s["details"] = {{"retryAfterSeconds", 3}};
  EXPECT_EQ(errorFromResponse(429, s.dump(), "").retryAfterSeconds, 3);
}

TEST(ErrorFromResponse, KeepsANonStatusBodyAsTheMessage) {
  Error e = errorFromResponse(502, "<html>bad gateway</html>", "");
  EXPECT_EQ(e.code, ErrorCode::Unavailable);
  EXPECT_EQ(e.message, "HTTP 502: <html>bad gateway</html>");
  EXPECT_TRUE(e.reason.empty());
}

TEST(ErrorFromStatus, MapsAnExpiredWatchErrorToGone) {
  auto s = nlohmann::json::parse(status(410, "Expired", "too old resource version: 1 (4521)"));
  Error e = errorFromStatus(s);
  EXPECT_EQ(e.code, ErrorCode::Gone);
  EXPECT_EQ(e.message, "too old resource version: 1 (4521)");
}

}  // namespace
}  // namespace kubegrant::kube
