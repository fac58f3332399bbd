#include "webhooks/server/admission.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace kubegrant::webhooks {
namespace {

using nlohmann::json;

json review(json request) {
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request", std::move(request)}};
}

json minimalRequest() {
  return {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
          {"kind", {{"group", "kubegrant.io"}, {"version", "v1alpha1"}, {"kind", "AccessRequest"}}},
          {"resource",
           {{"group", "kubegrant.io"}, {"version", "v1alpha1"}, {"resource", "accessrequests"}}},
          {"name", "debug"},
          {"namespace", "payments"},
          {"operation", "CREATE"},
          {"userInfo", {{"username", "alice"}, {"groups", {"payments-devs"}}}},
          {"object", {{"spec", {{"policy", "p"}}}}}};
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() : router_(1024) {
    router_.add("/allow", [this](const AdmissionRequest& r) {
      seen_ = r;
      auto resp = AdmissionResponse::allow({"a warning"});
      resp.patch.push_back({"add", "/spec/x", 1});
      return resp;
    });
    router_.add("/deny", [](const AdmissionRequest&) {
      return AdmissionResponse::forbid("spec.x: not allowed");
    });
    router_.add("/throw", [](const AdmissionRequest&) -> AdmissionResponse {
      throw std::runtime_error("boom");
    });
  }

  HttpReply post(std::string_view path, std::string_view body,
                 std::string_view contentType = "application/json") {
    return router_.handle({"POST", path, contentType, body});
  }

  AdmissionRouter router_;
  AdmissionRequest seen_;
};

TEST_F(RouterTest, AllowedAnswerCarriesSameUidWarningsAndBase64JsonPatch) {
  auto reply = post("/allow", review(minimalRequest()).dump());
  ASSERT_EQ(reply.status, 200) << reply.body;
  auto out = json::parse(reply.body);
  EXPECT_EQ(out["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(out["kind"], "AdmissionReview");
  EXPECT_EQ(out["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
  EXPECT_EQ(out["response"]["allowed"], true);
  EXPECT_EQ(out["response"]["warnings"], json::array({"a warning"}));
  EXPECT_EQ(out["response"]["patchType"], "JSONPatch");
  // base64 of [{"op":"add","path":"/spec/x","value":1}]
  EXPECT_EQ(out["response"]["patch"], "W3sib3AiOiJhZGQiLCJwYXRoIjoiL3NwZWMveCIsInZhbHVlIjoxfV0=");
  EXPECT_FALSE(out["response"].contains("status"));
}

TEST_F(RouterTest, DecodedRequestHasEveryFieldTheRulesUse) {
  auto req = minimalRequest();
  req["subResource"] = "status";
  req["operation"] = "UPDATE";
  req["oldObject"] = {{"spec", {{"policy", "old"}}}};
  req["dryRun"] = true;
  ASSERT_EQ(post("/allow", review(req).dump()).status, 200);
  EXPECT_EQ(seen_.kind.group, "kubegrant.io");
  EXPECT_EQ(seen_.kind.kind, "AccessRequest");
  EXPECT_EQ(seen_.resource.resource, "accessrequests");
  EXPECT_EQ(seen_.subResource, "status");
  EXPECT_EQ(seen_.operation, Operation::Update);
  EXPECT_EQ(seen_.name, "debug");
  EXPECT_EQ(seen_.namespace_, "payments");
  EXPECT_EQ(seen_.userInfo.username, "alice");
  EXPECT_EQ(seen_.userInfo.groups, std::vector<std::string>{"payments-devs"});
  EXPECT_EQ(seen_.object["spec"]["policy"], "p");
  EXPECT_EQ(seen_.oldObject["spec"]["policy"], "old");
  EXPECT_TRUE(seen_.dryRun);
}

TEST_F(RouterTest, DenialCarriesStatusCodeReasonAndMessage) {
  auto reply = post("/deny", review(minimalRequest()).dump());
  ASSERT_EQ(reply.status, 200);
  auto out = json::parse(reply.body);
  EXPECT_EQ(out["response"]["allowed"], false);
  EXPECT_EQ(out["response"]["status"]["code"], 403);
  EXPECT_EQ(out["response"]["status"]["reason"], "Forbidden");
  EXPECT_EQ(out["response"]["status"]["message"], "spec.x: not allowed");
  EXPECT_FALSE(out["response"].contains("patch"));
}

TEST_F(RouterTest, HandlerThatThrowsIsADenialNeverAnAllow) {
  auto reply = post("/throw", review(minimalRequest()).dump());
  ASSERT_EQ(reply.status, 200);
  auto out = json::parse(reply.body);
  EXPECT_EQ(out["response"]["allowed"], false);
  EXPECT_EQ(out["response"]["status"]["code"], 500);
  EXPECT_NE(out["response"]["status"]["message"].get<std::string>().find("boom"),
            std::string::npos);
}

struct BadInput {
  std::string name;
  std::string method;
  std::string path;
  std::string contentType;
  std::string body;
  int status;
  std::string messagePart;
};
// Readable in test names' listings and failure messages (instead of raw bytes).
void PrintTo(const BadInput& c, std::ostream* os) {
  *os << c.name << ": " << c.method << " " << c.path << " -> " << c.status;
}

class RouterBadInputTest : public RouterTest, public ::testing::WithParamInterface<BadInput> {};

TEST_P(RouterBadInputTest, IsRefusedWithStatusAndClearMessage) {
  const auto& c = GetParam();
  auto reply = router_.handle({c.method, c.path, c.contentType, c.body});
  EXPECT_EQ(reply.status, c.status) << reply.body;
  EXPECT_NE(reply.body.find(c.messagePart), std::string::npos) << reply.body;
}

std::string withRequest(const std::function<void(json&)>& edit) {
  auto r = review(minimalRequest());
  edit(r);
  return r.dump();
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, RouterBadInputTest,
    ::testing::Values(
        BadInput{"Garbage", "POST", "/allow", "application/json", "\x01\xff garbage", 400,
                 "not valid JSON"},
        BadInput{"EmptyBody", "POST", "/allow", "application/json", "", 400, "empty body"},
        BadInput{"JsonArray", "POST", "/allow", "application/json", "[1,2]", 400,
                 "not a JSON object"},
        BadInput{"JsonButNotAReview", "POST", "/allow", "application/json",
                 R"({"apiVersion":"v1","kind":"Pod"})", 400,
                 "kind is \"Pod\": expected AdmissionReview"},
        BadInput{"WrongApiVersion", "POST", "/allow", "application/json",
                 withRequest([](json& r) { r["apiVersion"] = "admission.k8s.io/v1beta1"; }), 400,
                 "only admission.k8s.io/v1 is served"},
        BadInput{"MissingRequest", "POST", "/allow", "application/json",
                 withRequest([](json& r) { r.erase("request"); }), 400, "request is missing"},
        BadInput{"MissingUid", "POST", "/allow", "application/json",
                 withRequest([](json& r) { r["request"].erase("uid"); }), 400,
                 "request.uid is missing"},
        BadInput{"UidNotString", "POST", "/allow", "application/json",
                 withRequest([](json& r) { r["request"]["uid"] = 7; }), 400,
                 "request.uid must be a string"},
        BadInput{"MissingKind", "POST", "/allow", "application/json",
                 withRequest([](json& r) { r["request"].erase("kind"); }), 400,
                 "request.kind is missing"},
        BadInput{"UnknownOperation", "POST", "/allow", "application/json",
                 withRequest([](json& r) { r["request"]["operation"] = "PATCH"; }), 400,
                 "request.operation \"PATCH\""},
        BadInput{"MissingUserInfo", "POST", "/allow", "application/json",
                 withRequest([](json& r) { r["request"].erase("userInfo"); }), 400,
                 "request.userInfo is missing"},
        BadInput{"GroupsNotStrings", "POST", "/allow", "application/json", withRequest([](json& r) {
                   r["request"]["userInfo"]["groups"] = {1, 2};
                 }),
                 400, "groups must be a list of strings"},
        BadInput{"ObjectNotAnObject", "POST", "/allow", "application/json",
                 withRequest([](json& r) { r["request"]["object"] = "x"; }), 400,
                 "request.object must be an object"},
        BadInput{"DeeplyNested", "POST", "/allow", "application/json",
                 std::string(100, '[') + std::string(100, ']'), 400, "nested deeper"},
        BadInput{"HugeBody", "POST", "/allow", "application/json", std::string(2048, ' '), 413,
                 "exceeds 1024 bytes"},
        BadInput{"WrongContentType", "POST", "/allow", "text/plain", "{}", 415,
                 "unsupported content type"},
        BadInput{"NoContentType", "POST", "/allow", "", "{}", 415, "unsupported content type"},
        BadInput{"WrongMethod", "GET", "/allow", "application/json", "", 405, "method not allowed"},
        BadInput{"UnknownPath", "POST", "/nope", "application/json", "{}", 404,
                 "no admission webhook"}),
    [](const auto& info) { return info.param.name; });

TEST(AdmissionContentType, AcceptsJsonWithParametersAndAnyCase) {
  EXPECT_TRUE(isJsonContentType("application/json"));
  EXPECT_TRUE(isJsonContentType("application/json; charset=utf-8"));
  EXPECT_TRUE(isJsonContentType("Application/JSON"));
  EXPECT_FALSE(isJsonContentType("application/jsonx"));
  EXPECT_FALSE(isJsonContentType("application/yaml"));
}

TEST(AdmissionKind, WrongKindIsADenialNamingWhatWasReceived) {
  AdmissionRequest r;
  r.kind = {"", "v1", "Pod"};
  auto denied = checkKind(r, "kubegrant.io", "v1alpha1", "AccessRequest");
  ASSERT_TRUE(denied);
  EXPECT_FALSE(denied->allowed);
  EXPECT_EQ(denied->message,
            "this webhook admits kubegrant.io/v1alpha1 AccessRequest, not core/v1 Pod");
  r.kind = {"kubegrant.io", "v1alpha1", "AccessRequest"};
  EXPECT_FALSE(checkKind(r, "kubegrant.io", "v1alpha1", "AccessRequest"));
}

TEST(AdmissionBase64, EncodesAllPaddingCases) {
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
}

TEST(AdmissionEncode, InvalidUtf8InAMessageIsReplacedNotThrown) {
  auto resp = AdmissionResponse::forbid("bad \xff\xfe value");
  std::string out = encodeAdmissionResponse("u1", resp);
  auto parsed = json::parse(out);
  EXPECT_EQ(parsed["response"]["uid"], "u1");
  EXPECT_FALSE(parsed["response"]["allowed"].get<bool>());
}

}  // namespace
}  // namespace kubegrant::webhooks
