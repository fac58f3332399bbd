// The REST client's transport behaviour against a scripted loopback HTTP server: what the
// real API server cannot be made to do on demand (throttle, hang, stream slowly, 5xx).

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "operator/common/log.h"
#include "operator/kube/rest/rest_client.h"
#include "tests/unit/kube/scripted_server.h"

namespace kubegrant::kube {
namespace {

using namespace std::chrono_literals;
using testing::Connection;
using testing::HttpRequest;
using testing::ScriptedServer;

const char kConfigMap[] =
    R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"ns","resourceVersion":"5"}})";

std::string status(int code, const char* reason, const char* message) {
  return nlohmann::json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
                        {"code", code},     {"reason", reason},   {"message", message}}
      .dump();
}

std::string event(const char* type, const char* name, const char* rv) {
  return nlohmann::json{{"type", type},
                        {"object",
                         {{"apiVersion", "v1"},
                          {"kind", "ConfigMap"},
                          {"metadata", {{"name", name}, {"resourceVersion", rv}}}}}}
             .dump() +
         "\n";
}

std::unique_ptr<Client> clientFor(const ScriptedServer& server, rest::RestOptions options = {},
                                  std::string tokenFile = {}) {
  ClusterConfig cfg;
  cfg.server = server.url();
  cfg.insecureSkipTlsVerify = true;  // plain http to the scripted server
  cfg.token = "static-token";
  cfg.tokenFile = std::move(tokenFile);
  auto client = rest::makeRestClient(cfg, options);
  EXPECT_TRUE(client.has_value()) << client.error().describe();
  return client ? std::move(*client) : nullptr;
}

TEST(RestTransport, RetriesAThrottledReadAfterRetryAfter) {
  std::atomic<int> calls{0};
  ScriptedServer server([&](const HttpRequest&, Connection& c) {
    if (calls++ == 0) {
      return c.respond(429, status(429, "TooManyRequests", "slow down"), {{"Retry-After", "1"}});
    }
    return c.respond(200, kConfigMap);
  });
  auto client = clientFor(server);
  auto start = std::chrono::steady_clock::now();
  auto got = client->get(resources::configMaps(), {"ns", "a"});
  ASSERT_TRUE(got.has_value()) << got.error().describe();
  EXPECT_EQ(got->name(), "a");
  EXPECT_EQ(calls.load(), 2);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 900ms) << "Retry-After not honoured";
}

TEST(RestTransport, GivesUpOnThrottlingAfterMaxRetries) {
  ScriptedServer server([&](const HttpRequest&, Connection& c) {
    return c.respond(429, status(429, "TooManyRequests", "slow down"), {{"Retry-After", "3"}});
  });
  auto client = clientFor(server, {.maxRetries = 2, .maxRetryAfter = 0s});
  auto got = client->get(resources::configMaps(), {"ns", "a"});
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::TooManyRequests);
  EXPECT_EQ(got.error().retryAfterSeconds, 3);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(RestTransport, RetriesAReadWhenA5xxCarriesRetryAfterButNotOtherwise) {
  std::atomic<int> calls{0};
  ScriptedServer server([&](const HttpRequest&, Connection& c) {
    int n = calls++;
    if (n == 0) {
      return c.respond(500, status(500, "InternalError", "etcd restarting"),
                       {{"Retry-After", "1"}});
    }
    if (n == 1) return c.respond(200, kConfigMap);
    return c.respond(503, status(503, "ServiceUnavailable", "down"));
  });
  auto client = clientFor(server, {.maxRetryAfter = 0s});
  auto got = client->get(resources::configMaps(), {"ns", "a"});
  ASSERT_TRUE(got.has_value()) << got.error().describe();
  EXPECT_EQ(calls.load(), 2);
  auto down = client->get(resources::configMaps(), {"ns", "a"});
  ASSERT_FALSE(down.has_value());
  EXPECT_EQ(down.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(calls.load(), 3) << "a 5xx without Retry-After is returned, not retried";
}

TEST(RestTransport, DoesNotRetryAThrottledCreate) {
  ScriptedServer server([&](const HttpRequest&, Connection& c) {
    return c.respond(429, status(429, "TooManyRequests", "slow down"), {{"Retry-After", "1"}});
  });
  auto client = clientFor(server);
  Object cm(nlohmann::json::parse(kConfigMap));
  auto created = client->create(resources::configMaps(), cm);
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error().code, ErrorCode::TooManyRequests);
  EXPECT_EQ(created.error().retryAfterSeconds, 1);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(RestTransport, HandsTheServersWarningsToOnWarning) {
  ScriptedServer server([&](const HttpRequest&, Connection& c) {
    return c.write(
        "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
        "Warning: 299 - \"policy p matched\"\r\nWarning: 299 - \"needs 1 approval, from leads\"\r\n"
        "Content-Length: " +
        std::to_string(sizeof(kConfigMap) - 1) + "\r\n\r\n" + kConfigMap);
  });
  std::vector<std::string> warnings;
  auto client =
      clientFor(server, {.onWarning = [&](const std::string& w) { warnings.push_back(w); }});
  Object cm(nlohmann::json::parse(kConfigMap));
  auto created = client->create(resources::configMaps(), cm);
  ASSERT_TRUE(created.has_value()) << created.error().describe();
  EXPECT_EQ(warnings,
            (std::vector<std::string>{"policy p matched", "needs 1 approval, from leads"}));
}

TEST(RestTransport, LogsEachRequestAtDebugLevelWithoutItsBody) {
  const char secret[] =
      R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"ns"},)"
      R"("data":{"password":"aHVudGVyMg=="}})";
  ScriptedServer server([&](const HttpRequest& r, Connection& c) {
    if (r.method == "GET") return c.respond(200, secret);
    return c.respond(404, status(404, "NotFound", "gone"));
  });
  auto client = clientFor(server);
  std::vector<nlohmann::json> lines;
  log::setSink([&](std::string_view line) { lines.push_back(nlohmann::json::parse(line)); });
  const log::Level before = log::level();
  auto readAndDelete = [&] {
    EXPECT_TRUE(client->get(resources::secrets(), {"ns", "db"}).has_value());
    EXPECT_FALSE(client->remove(resources::secrets(), {"ns", "db"}).has_value());
  };
  log::setLevel(log::Level::Info);
  readAndDelete();
  const auto atInfo = lines.size();
  log::setLevel(log::Level::Debug);
  readAndDelete();
  log::setLevel(before);
  log::setSink(nullptr);

  EXPECT_EQ(atInfo, 0u) << "request lines are debug only";
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["msg"], "request");
  EXPECT_EQ(lines[0]["method"], "GET");
  EXPECT_EQ(lines[0]["path"], "/api/v1/namespaces/ns/secrets/db");
  EXPECT_EQ(lines[0]["status"], 200);
  EXPECT_TRUE(lines[0]["ms"].is_number());
  EXPECT_EQ(lines[1]["method"], "DELETE");
  EXPECT_EQ(lines[1]["status"], 404);
  for (const auto& l : lines) EXPECT_EQ(l.dump().find("aHVudGVyMg"), std::string::npos) << l;
}

TEST(RestTransport, SendsEncodedSelectorsHeadersAndBodies) {
  ScriptedServer server([&](const HttpRequest& r, Connection& c) {
    if (r.method == "GET") return c.respond(200, R"({"items":[],"metadata":{}})");
    return c.respond(200, kConfigMap);
  });
  auto client = clientFor(server, {.userAgent = "kubegrant-test"});
  ASSERT_TRUE(client->list(resources::configMaps(), "ns",
                           {.labelSelector = "app in (a,b),!x", .limit = 5}));
  ASSERT_TRUE(client->patch(resources::configMaps(), {"ns", "a"}, PatchType::Apply,
                            nlohmann::json::object(), {.fieldManager = "kg", .force = true}));
  ASSERT_TRUE(client->remove(resources::configMaps(), {"ns", "a"}, {.preconditionUid = "u"}));
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].target,
            "/api/v1/namespaces/ns/configmaps?labelSelector=app%20in%20%28a%2Cb%29%2C%21x&limit=5");
  EXPECT_EQ(reqs[0].headers["authorization"], "Bearer static-token");
  EXPECT_EQ(reqs[0].headers["user-agent"], "kubegrant-test");
  EXPECT_EQ(reqs[0].headers["accept"], "application/json");
  EXPECT_EQ(reqs[1].method, "PATCH");
  EXPECT_EQ(reqs[1].target, "/api/v1/namespaces/ns/configmaps/a?fieldManager=kg&force=true");
  EXPECT_EQ(reqs[1].headers["content-type"].rfind("application/apply-patch+yaml", 0), 0u);
  EXPECT_EQ(reqs[2].method, "DELETE");
  EXPECT_EQ(nlohmann::json::parse(reqs[2].body)["preconditions"]["uid"], "u");
}

TEST(RestTransport, ReReadsTheTokenFileWhenItChanges) {
  auto path =
      std::filesystem::temp_directory_path() / ("kg-kube-token-" + std::to_string(::getpid()));
  std::ofstream(path) << "first\n";
  ScriptedServer server(
      [&](const HttpRequest&, Connection& c) { return c.respond(200, kConfigMap); });
  auto client = clientFor(server, {}, path.string());
  ASSERT_TRUE(client->get(resources::configMaps(), {"ns", "a"}));
  std::ofstream(path) << "second-longer\n";  // size changes even within one mtime tick
  ASSERT_TRUE(client->get(resources::configMaps(), {"ns", "a"}));
  std::filesystem::remove(path);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].headers["authorization"], "Bearer first");
  EXPECT_EQ(reqs[1].headers["authorization"], "Bearer second-longer");
}

TEST(RestTransport, MapsServerErrorsAndNonStatusBodies) {
  ScriptedServer server([&](const HttpRequest&, Connection& c) {
    return c.respond(503, "upstream down", {{"Content-Type", "text/plain"}});
  });
  auto got = clientFor(server)->get(resources::configMaps(), {"ns", "a"});
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(got.error().httpStatus, 503);
  EXPECT_NE(got.error().message.find("upstream down"), std::string::npos);
}

TEST(RestTransport, TimesOutASilentServer) {
  ScriptedServer server([&](const HttpRequest&, Connection& c) {
    c.pause(10s);
    return false;
  });
  auto client = clientFor(server, {.timeout = 300ms});
  auto start = std::chrono::steady_clock::now();
  auto got = client->get(resources::configMaps(), {"ns", "a"});
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::Timeout) << got.error().describe();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(RestTransport, ReportsARefusedConnectionAsUnavailable) {
  int port;
  {
    ScriptedServer gone([](const HttpRequest&, Connection&) { return false; });
    port = gone.port();
  }
  ClusterConfig cfg;
  cfg.server = "http://127.0.0.1:" + std::to_string(port);
  cfg.insecureSkipTlsVerify = true;
  auto client = rest::makeRestClient(cfg);
  ASSERT_TRUE(client.has_value());
  auto got = (*client)->get(resources::configMaps(), {"ns", "a"});
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::Unavailable) << got.error().describe();
}

TEST(RestTransport, RefusesPlainHttpWithoutInsecureAndBadPem) {
  ClusterConfig plain;
  plain.server = "http://127.0.0.1:1";
  EXPECT_EQ(rest::makeRestClient(plain).error().code, ErrorCode::Invalid);
  ClusterConfig badCa;
  badCa.server = "https://127.0.0.1:1";
  badCa.caPem = "not a certificate";
  EXPECT_EQ(rest::makeRestClient(badCa).error().code, ErrorCode::Invalid);
}

TEST(RestTransport, WatchDeliversEachEventBeforeTheStreamEnds) {
  std::mutex mu;
  std::condition_variable cv;
  bool firstSeen = false;
  ScriptedServer server([&](const HttpRequest&, Connection& c) {
    c.startChunked();
    c.chunk(event("ADDED", "a", "1"));
    {
      // Hold the stream open until the client has handled the first event.
      std::unique_lock lock(mu);
      if (!cv.wait_for(lock, 10s, [&] { return firstSeen; })) return false;
    }
    std::string second = event("MODIFIED", "a", "2");
    c.chunk(second.substr(0, 10));  // a line split across chunks
    c.chunk(second.substr(10));
    c.endChunked();
    return false;
  });
  std::vector<std::string> seen;
  auto result = clientFor(server)->watch(
      resources::configMaps(), "ns", {.resourceVersion = "0", .timeoutSeconds = 30},
      [&](const WatchEvent& ev) {
        seen.push_back(std::string(toString(ev.type)) + ":" + ev.object.resourceVersion());
        std::lock_guard lock(mu);
        firstSeen = true;
        cv.notify_all();
      });
  EXPECT_TRUE(result.has_value()) << result.error().describe();
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED:1", "MODIFIED:2"}));
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target,
            "/api/v1/namespaces/ns/configmaps?watch=true&resourceVersion=0&timeoutSeconds=30"
            "&allowWatchBookmarks=true");
}

TEST(RestTransport, WatchReturnsGoneForA410StatusOrAnExpiredErrorEvent) {
  ScriptedServer byStatus([&](const HttpRequest&, Connection& c) {
    return c.respond(410, status(410, "Gone", "too old"));
  });
  auto r1 = clientFor(byStatus)->watch(resources::configMaps(), "", {.resourceVersion = "1"},
                                       [](const WatchEvent&) {});
  ASSERT_FALSE(r1.has_value());
  EXPECT_EQ(r1.error().code, ErrorCode::Gone);

  ScriptedServer byEvent([&](const HttpRequest&, Connection& c) {
    c.startChunked();
    c.chunk(event("BOOKMARK", "", "7"));
    c.chunk(R"({"type":"ERROR","object":)" +
            status(410, "Expired", "too old resource version: 1 (7)") + "}\n");
    c.pause(10s);  // the client must not wait for the end of the stream
    return false;
  });
  int delivered = 0;
  auto start = std::chrono::steady_clock::now();
  auto r2 = clientFor(byEvent)->watch(resources::configMaps(), "", {.resourceVersion = "1"},
                                      [&](const WatchEvent&) { ++delivered; });
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.error().code, ErrorCode::Gone);
  EXPECT_EQ(r2.error().message, "too old resource version: 1 (7)");
  EXPECT_EQ(delivered, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(RestTransport, StoppingAWatchAbortsBothWaitingForHeadersAndReading) {
  for (bool sendHeaders : {false, true}) {
    SCOPED_TRACE(sendHeaders ? "reading the body" : "waiting for headers");
    ScriptedServer server([&](const HttpRequest&, Connection& c) {
      if (sendHeaders) c.startChunked();
      c.pause(20s);
      return false;
    });
    auto client = clientFor(server);
    std::stop_source stop;
    Result<void> result = fail(ErrorCode::Internal, "not run");
    std::thread watcher([&] {
      result = client->watch(
          resources::configMaps(), "ns", {}, [](const WatchEvent&) {}, stop.get_token());
    });
    std::this_thread::sleep_for(200ms);
    auto start = std::chrono::steady_clock::now();
    stop.request_stop();
    watcher.join();
    EXPECT_TRUE(result.has_value()) << result.error().describe();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  }
}

}  // namespace
}  // namespace kubegrant::kube

namespace kubegrant::kube {
namespace {

// A list page as the API server sends it: items without apiVersion/kind, with managedFields.
std::string listPage(int items, const std::string& continueToken) {
  nlohmann::json page = {{"apiVersion", "v1"},
                         {"kind", "ConfigMapList"},
                         {"metadata", {{"resourceVersion", "42"}, {"continue", continueToken}}},
                         {"items", nlohmann::json::array()}};
  for (int i = 0; i < items; ++i) {
    page["items"].push_back(
        {{"metadata",
          {{"name", "cm-" + std::to_string(i)},
           {"namespace", "ns"},
           {"resourceVersion", std::to_string(10 + i)},
           {"annotations", {{"kubectl.kubernetes.io/last-applied-configuration", "{}"}}},
           {"managedFields", {{{"manager", "kubectl"}, {"fieldsV1", {{"f:data", {}}}}}}}}},
         {"data", {{"payload", std::string(300, 'x')}}}});
  }
  return page.dump();
}

TEST(RestTransport, ListParsesAPageAsItStreamsInAndDropsManagedFieldsWhenAsked) {
  const std::string body = listPage(50, "next");
  ScriptedServer server([&](const HttpRequest&, Connection& c) {
    // Small chunks with pauses: the client must assemble the page across reads.
    c.startChunked();
    for (std::size_t at = 0; at < body.size(); at += 1000) {
      if (!c.chunk(std::string_view(body).substr(at, 1000))) return false;
      if (at % 5000 == 0) c.pause(5ms);
    }
    return c.endChunked();
  });
  auto client = clientFor(server);
  for (bool drop : {false, true}) {
    SCOPED_TRACE(drop ? "dropManagedFields" : "keepManagedFields");
    auto page =
        client->list(resources::configMaps(), "ns", {.limit = 50, .dropManagedFields = drop});
    ASSERT_TRUE(page.has_value()) << page.error().describe();
    EXPECT_EQ(page->resourceVersion, "42");
    EXPECT_EQ(page->continueToken, "next");
    ASSERT_EQ(page->items.size(), 50u);
    for (int i = 0; i < 50; ++i) {
      const Object& o = page->items[i];
      EXPECT_EQ(o.name(), "cm-" + std::to_string(i));
      EXPECT_EQ(o.kind(), "ConfigMap");  // filled in for list items
      EXPECT_EQ(o.body["metadata"].contains("managedFields"), !drop);
      EXPECT_EQ(o.annotations().count("kubectl.kubernetes.io/last-applied-configuration"), 1u);
      EXPECT_EQ(o.body["data"]["payload"], std::string(300, 'x'));
    }
  }
  // dropManagedFields is client side: both requests asked the same.
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].target, reqs[1].target);
}

TEST(RestTransport, ListReportsInvalidOrCutOffPagesAsErrors) {
  const std::string body = listPage(20, "");
  ScriptedServer server([&](const HttpRequest& r, Connection& c) {
    if (r.target.find("invalid") != std::string::npos) {
      return c.respond(200, "{\"items\": [ not json");
    }
    // Half the page, then the connection goes away.
    c.startChunked();
    c.chunk(std::string_view(body).substr(0, body.size() / 2));
    return false;
  });
  auto client = clientFor(server);
  auto invalid = client->list(resources::configMaps(), "ns", {.labelSelector = "invalid"});
  ASSERT_FALSE(invalid.has_value());
  EXPECT_EQ(invalid.error().code, ErrorCode::Internal);
  EXPECT_NE(invalid.error().message.find("{\"items\": [ not json"), std::string::npos)
      << invalid.error().describe();
  // A cut-off page is never taken for a (shorter) page.
  auto cut = client->list(resources::configMaps(), "ns", {.dropManagedFields = true});
  ASSERT_FALSE(cut.has_value());
  EXPECT_TRUE(cut.error().code == ErrorCode::Unavailable || cut.error().code == ErrorCode::Internal)
      << cut.error().describe();
}

TEST(RestTransport, ListTimesOutWhenThePageStopsArriving) {
  const std::string body = listPage(20, "");
  ScriptedServer server([&](const HttpRequest&, Connection& c) {
    c.startChunked();
    c.chunk(std::string_view(body).substr(0, body.size() / 2));
    c.pause(10s);
    return false;
  });
  auto client = clientFor(server, {.timeout = 300ms});
  auto start = std::chrono::steady_clock::now();
  auto page = client->list(resources::configMaps(), "ns");
  ASSERT_FALSE(page.has_value());
  EXPECT_EQ(page.error().code, ErrorCode::Timeout) << page.error().describe();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(RestTransport, RateLimitsRequestsToQpsAfterTheBurst) {
  FakeClock clock(TimePoint{} + std::chrono::hours(1));
  ScriptedServer server(
      [&](const HttpRequest&, Connection& c) { return c.respond(200, kConfigMap); });
  auto client = clientFor(server, {.qps = 1, .burst = 2, .clock = &clock});
  std::atomic<int> done{0};
  std::thread caller([&] {
    for (int i = 0; i < 3; ++i) {
      if (client->get(resources::configMaps(), {"ns", "a"})) ++done;
    }
  });
  // The burst goes through at once; the third request waits for the (fake) clock.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (done.load() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(done.load(), 2);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(server.requests().size(), 2u) << "third request was not held back";
  clock.advance(1s);
  caller.join();
  EXPECT_EQ(done.load(), 3);
  EXPECT_EQ(server.requests().size(), 3u);
}

}  // namespace
}  // namespace kubegrant::kube

namespace kubegrant::kube {
namespace {

TEST(RestTransport, AHandlerCanStopItsOwnWatch) {
  ScriptedServer server([&](const HttpRequest&, Connection& c) {
    c.startChunked();
    c.chunk(event("ADDED", "a", "1") + event("ADDED", "b", "2"));
    c.pause(20s);
    return false;
  });
  auto client = clientFor(server);
  std::stop_source stop;
  std::vector<std::string> seen;
  auto start = std::chrono::steady_clock::now();
  auto result = client->watch(
      resources::configMaps(), "ns", {},
      [&](const WatchEvent& ev) {
        seen.push_back(ev.object.name());
        stop.request_stop();
      },
      stop.get_token());
  EXPECT_TRUE(result.has_value()) << result.error().describe();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen[0], "a");
}

TEST(RestTransport, AnAlreadyStoppedWatchSendsNothing) {
  ScriptedServer server([&](const HttpRequest&, Connection& c) { return c.respond(200, ""); });
  std::stop_source stop;
  stop.request_stop();
  auto result = clientFor(server)->watch(
      resources::configMaps(), "ns", {}, [](const WatchEvent&) {}, stop.get_token());
  EXPECT_TRUE(result.has_value());
  EXPECT_TRUE(server.requests().empty());
}

}  // namespace
}  // namespace kubegrant::kube
