#include "operator/notify/http_poster.h"

#include <gtest/gtest.h>

#include <atomic>

#include "operator/notify/signing.h"
#include "tests/unit/kube/scripted_server.h"

namespace kubegrant::notify {
namespace {

using kube::testing::Connection;
using kube::testing::HttpRequest;
using kube::testing::ScriptedServer;
using namespace std::chrono_literals;

TEST(HttpPoster, PostsTheJsonBodyWithItsHeadersAndTellsRetryableFromFinal) {
  std::atomic<int> status{200};
  ScriptedServer server([&](const HttpRequest&, Connection& c) {
    return c.respond(status.load(), "{}", {{"Content-Type", "application/json"}});
  });
  auto poster = makeHttpPoster();
  const std::string body = R"({"text":"hello","event":"created"})";
  ASSERT_TRUE(poster->post(server.url() + "/hook", body,
                           {{kIdHeader, "uid-1.created"}, {kEventHeader, "created"}}, 5s));
  auto got = server.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].target, "/hook");
  EXPECT_EQ(got[0].body, body);
  EXPECT_EQ(got[0].headers["x-kubegrant-id"], "uid-1.created");
  EXPECT_NE(got[0].headers["content-type"].find("application/json"), std::string::npos);

  for (int code : {500, 503, 429, 408}) {
    status = code;
    auto r = poster->post(server.url(), body, {}, 5s);
    ASSERT_FALSE(r) << code;
    EXPECT_EQ(r.error().code, ErrorCode::Unavailable) << code;
  }
  for (int code : {400, 403, 404}) {
    status = code;
    auto r = poster->post(server.url(), body, {}, 5s);
    ASSERT_FALSE(r) << code;
    EXPECT_NE(r.error().code, ErrorCode::Unavailable) << code;
  }
}

TEST(HttpPoster, AnUnreachableReceiverIsRetryableAndTheErrorNeverNamesTheUrl) {
  auto poster = makeHttpPoster();
  // Port 1 on loopback: nothing listens there.
  auto r = poster->post("http://127.0.0.1:1/services/T000/B000/SECRET-TOKEN", "{}", {}, 2s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(r.error().message.find("SECRET-TOKEN"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace kubegrant::notify
