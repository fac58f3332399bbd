// TypedStore with and without a Packing, over a metadata-only informer of a fake client.

#include "operator/runtime/typed_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "operator/common/clock.h"
#include "operator/runtime/testing/fake_client.h"
#include "tests/unit/runtime/test_util.h"

namespace kubegrant::runtime {
namespace {

using namespace std::chrono_literals;
using testing::FakeClient;
using testutil::eventually;

const TimePoint kStart = WallClock::from_time_t(1'800'000'000);
const kube::ResourceRef kConfigMaps = kube::resources::configMaps();

struct Value {
  std::string name;
  std::string data;
  bool operator==(const Value&) const = default;
};

kube::Object configMap(const std::string& name, const std::string& value) {
  kube::Object o;
  o.setApiVersionKind(kConfigMaps);
  o.setNamespace("a");
  o.setName(name);
  o.body["data"] = {{"key", value}};
  return o;
}

Result<Value> decode(const kube::Object& o) {
  if (!o.body.contains("data")) return fail(ErrorCode::Invalid, "no data");
  return Value{o.name(), o.body["data"].value("key", "")};
}

struct Counting {
  std::atomic<int> unpacked{0};
  Packing<Value> packing(std::size_t hot) {
    return {.pack = [](const Value& v) { return v.name + '\n' + v.data; },
            .unpack = [this](std::string_view s) -> Result<Value> {
              ++unpacked;
              auto nl = s.find('\n');
              if (nl == std::string_view::npos) return fail(ErrorCode::Invalid, "bad");
              return Value{std::string(s.substr(0, nl)), std::string(s.substr(nl + 1))};
            },
            .hot = hot};
  }
};

TEST(TypedStore, PackedHoldsEveryObjectAndOnlyTheHotOnesDecoded) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  for (int i = 0; i < 10; ++i)
    client.seed(kConfigMaps, configMap("cm-" + std::to_string(i), "v" + std::to_string(i)));
  InformerOptions opts;
  opts.metadataOnly = true;
  Informer inf(client, kConfigMaps, clock, opts);
  Counting counting;
  TypedStore<Value> store(inf, decode, counting.packing(3));
  inf.start();
  ASSERT_TRUE(inf.waitForSync(3s));

  EXPECT_EQ(store.size(), 10u);
  EXPECT_EQ(store.keys().size(), 10u);
  EXPECT_EQ(store.decodedCount(), 3u) << "only the hot set stays decoded";
  EXPECT_EQ(counting.unpacked, 0) << "decoded from the event, never unpacked yet";

  // A cold object: unpacked for the reader, equal to what was cached, then hot.
  auto first = store.get({"a", "cm-0"});
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(*first, (Value{"cm-0", "v0"}));
  EXPECT_EQ(counting.unpacked, 1);
  auto again = store.get({"a", "cm-0"});
  EXPECT_EQ(again, first) << "a hot object is shared, not unpacked again";
  EXPECT_EQ(counting.unpacked, 1);
  EXPECT_EQ(store.decodedCount(), 3u);

  // A sweep's read (remember = false) leaves the hot set alone.
  auto swept = store.get({"a", "cm-1"}, false);
  ASSERT_NE(swept, nullptr);
  EXPECT_EQ(swept->data, "v1");
  EXPECT_EQ(counting.unpacked, 2);
  EXPECT_NE(store.get({"a", "cm-1"}, false), swept) << "not remembered";
  EXPECT_EQ(store.get({"a", "cm-0"}), first) << "still hot";

  // list() decodes everything, once each, in whatever order.
  EXPECT_EQ(store.list().size(), 10u);

  // An update replaces the object for every later reader; an earlier reader keeps its copy.
  ASSERT_TRUE(client.patch(kConfigMaps, {"a", "cm-0"}, kube::PatchType::Merge,
                           {{"data", {{"key", "changed"}}}}));
  ASSERT_TRUE(eventually([&] { return store.get({"a", "cm-0"})->data == "changed"; }));
  EXPECT_EQ(first->data, "v0");
  // Evicted from the hot set by newer ones, then unpacked as the new version.
  for (int i = 5; i < 9; ++i) ASSERT_NE(store.get({"a", "cm-" + std::to_string(i)}), nullptr);
  EXPECT_EQ(store.decodedCount(), 3u);
  const int before = counting.unpacked;
  EXPECT_EQ(store.get({"a", "cm-0"})->data, "changed");
  EXPECT_EQ(counting.unpacked, before + 1);

  // A delete removes it from both.
  ASSERT_TRUE(client.remove(kConfigMaps, {"a", "cm-0"}));
  ASSERT_TRUE(eventually([&] { return store.size() == 9u; }));
  EXPECT_EQ(store.get({"a", "cm-0"}), nullptr);
  EXPECT_LE(store.decodedCount(), 3u);
  inf.stop();
}

TEST(TypedStore, WithoutPackingEveryObjectIsDecodedOnceAndShared) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  client.seed(kConfigMaps, configMap("one", "1"));
  Informer inf(client, kConfigMaps, clock, {});
  TypedStore<Value> store(inf, decode);
  inf.start();
  ASSERT_TRUE(inf.waitForSync(3s));
  auto a = store.get({"a", "one"});
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(store.get({"a", "one"}), a);
  EXPECT_EQ(store.decodedCount(), 1u);
  EXPECT_EQ(store.keys(), (std::vector<NamespacedName>{{"a", "one"}}));
  // Not decodable: left out, readers see "not cached".
  ASSERT_TRUE(client.patch(kConfigMaps, {"a", "one"}, kube::PatchType::Json,
                           nlohmann::json::array({{{"op", "remove"}, {"path", "/data"}}})));
  ASSERT_TRUE(eventually([&] { return store.get({"a", "one"}) == nullptr; }));
  inf.stop();
}

}  // namespace
}  // namespace kubegrant::runtime
