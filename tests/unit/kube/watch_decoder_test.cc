#include "operator/kube/watch_decoder.h"

#include <gtest/gtest.h>

namespace kubegrant::kube {
namespace {

std::string eventLine(const char* type, const char* name, const char* rv) {
  nlohmann::json ev = {
      {"type", type},
      {"object", {{"kind", "ConfigMap"}, {"metadata", {{"name", name}, {"resourceVersion", rv}}}}}};
  return ev.dump() + "\n";
}

TEST(DecodeWatchEvent, DecodesEachEventType) {
  const std::pair<const char*, WatchEventType> cases[] = {
      {"ADDED", WatchEventType::Added},
      {"MODIFIED", WatchEventType::Modified},
      {"DELETED", WatchEventType::Deleted},
      {"BOOKMARK", WatchEventType::Bookmark},
  };
  for (const auto& [text, type] : cases) {
    SCOPED_TRACE(text);
    auto ev = decodeWatchEvent(eventLine(text, "a", "5"));
    ASSERT_TRUE(ev.has_value()) << ev.error().describe();
    EXPECT_EQ(ev->type, type);
    EXPECT_EQ(ev->object.name(), "a");
    EXPECT_EQ(ev->object.resourceVersion(), "5");
  }
}

TEST(DecodeWatchEvent, TurnsAnExpiredErrorEventIntoGone) {
  auto line =
      R"json({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",)json"
      R"json("message":"too old resource version: 1 (4521)","reason":"Expired","code":410}})json";
  auto ev = decodeWatchEvent(line);
  ASSERT_FALSE(ev.has_value());
  EXPECT_EQ(ev.error().code, ErrorCode::Gone);
  EXPECT_EQ(ev.error().httpStatus, 410);
  EXPECT_EQ(ev.error().message, "too old resource version: 1 (4521)");
}

TEST(DecodeWatchEvent, TurnsA410ErrorEventWithoutReasonIntoGone) {
  auto ev = decodeWatchEvent(R"({"type":"ERROR","object":{"kind":"Status","code":410}})");
  ASSERT_FALSE(ev.has_value());
  EXPECT_EQ(ev.error().code, ErrorCode::Gone);
}

TEST(DecodeWatchEvent, TurnsATooOldResourceVersionMessageIntoGoneWhateverTheCode) {
  auto ev = decodeWatchEvent(
      R"json({"type":"ERROR","object":{"kind":"Status","message":"too old resource version: 5 (9)"}})json");
  ASSERT_FALSE(ev.has_value());
  EXPECT_EQ(ev.error().code, ErrorCode::Gone);
}

TEST(DecodeWatchEvent, KeepsOtherErrorEventsCodes) {
  auto ev = decodeWatchEvent(
      R"({"type":"ERROR","object":{"kind":"Status","code":500,"reason":"InternalError","message":"boom"}})");
  ASSERT_FALSE(ev.has_value());
  EXPECT_EQ(ev.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(ev.error().message, "boom");
}

TEST(DecodeWatchEvent, RejectsMalformedLines) {
  EXPECT_EQ(decodeWatchEvent("{not json").error().code, ErrorCode::Internal);
  EXPECT_EQ(decodeWatchEvent(R"({"type":"ADDED"})").error().code, ErrorCode::Internal);
  EXPECT_EQ(decodeWatchEvent(R"({"type":"WHAT","object":{}})").error().code, ErrorCode::Internal);
}

TEST(WatchStreamDecoder, DeliversEventsSplitAcrossArbitraryChunks) {
  std::string stream = eventLine("ADDED", "a", "1") + eventLine("MODIFIED", "a", "2") +
                       eventLine("DELETED", "a", "3");
  for (std::size_t chunk : {1u, 2u, 7u, 64u, 100000u}) {
    SCOPED_TRACE(chunk);
    std::vector<std::string> seen;
    WatchStreamDecoder d([&](const WatchEvent& ev) {
      seen.push_back(std::string(toString(ev.type)) + ":" + ev.object.resourceVersion());
    });
    for (std::size_t i = 0; i < stream.size(); i += chunk) {
      ASSERT_TRUE(d.feed(std::string_view(stream).substr(i, chunk)).has_value());
    }
    ASSERT_TRUE(d.finish().has_value());
    EXPECT_EQ(seen, (std::vector<std::string>{"ADDED:1", "MODIFIED:2", "DELETED:3"}));
    EXPECT_EQ(d.delivered(), 3u);
  }
}

TEST(WatchStreamDecoder, DeliversAnEventAsSoonAsItsLineIsComplete) {
  int seen = 0;
  WatchStreamDecoder d([&](const WatchEvent&) { ++seen; });
  std::string line = eventLine("ADDED", "a", "1");
  ASSERT_TRUE(d.feed(line.substr(0, line.size() - 1)).has_value());
  EXPECT_EQ(seen, 0);
  ASSERT_TRUE(d.feed("\n").has_value());
  EXPECT_EQ(seen, 1);
}

TEST(WatchStreamDecoder, StopsAtAGoneErrorEventAfterDeliveringEarlierEvents) {
  int seen = 0;
  WatchStreamDecoder d([&](const WatchEvent&) { ++seen; });
  std::string stream =
      eventLine("ADDED", "a", "1") +
      R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}})"
      "\n" +
      eventLine("ADDED", "b", "2");
  auto r = d.feed(stream);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Gone);
  EXPECT_EQ(seen, 1);
}

TEST(WatchStreamDecoder, DecodesATrailingLineWithoutNewlineAtFinish) {
  int seen = 0;
  WatchStreamDecoder d([&](const WatchEvent&) { ++seen; });
  std::string line = eventLine("ADDED", "a", "1");
  line.pop_back();
  ASSERT_TRUE(d.feed(line + "\r").has_value());
  EXPECT_EQ(seen, 0);
  ASSERT_TRUE(d.finish().has_value());
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace kubegrant::kube
