// parseWithoutManagedFields: the objects' metadata.managedFields is never built, and the
// result is otherwise exactly what a plain parse gives.

#include <gtest/gtest.h>

#include <sstream>

#include "operator/kube/object.h"
#include "operator/kube/watch_decoder.h"

namespace kubegrant::kube {
namespace {

using nlohmann::json;

// A ConfigMap as the API server sends it, with managedFields, the last-applied annotation
// kubectl apply leaves (client-go keeps it, and so must we), and fields called
// managedFields where they are data, not server bookkeeping.
json configMap(const std::string& name) {
  return json::parse(R"({
    "apiVersion": "v1", "kind": "ConfigMap",
    "metadata": {
      "name": ")" + name +
                     R"(", "namespace": "ns", "uid": "u-)" + name + R"(",
      "resourceVersion": "7", "creationTimestamp": "2026-11-29T07:04:36Z",
      "labels": {"app": "web"},
      "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"a\":\"1\"}}"
      },
      "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
        "time": "2026-11-29T07:04:36Z", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:labels": {}}}}],
      "finalizers": ["kubegrant.io/x"]
    },
    "data": {"a": "1", "managedFields": "kept: data, not metadata"},
    "spec": {"template": {"metadata": {"managedFields": ["kept: not the object's"]}}}
  })");
}

json withoutManagedFields(json obj) {
  obj["metadata"].erase("managedFields");
  return obj;
}

struct ShapeCase {
  const char* name;
  JsonShape shape;
  json document;
  json expected;
};

void PrintTo(const ShapeCase& c, std::ostream* os) { *os << c.name; }

class ParseWithoutManagedFields : public ::testing::TestWithParam<ShapeCase> {};

std::vector<ShapeCase> shapeCases() {
  json list = {{"apiVersion", "v1"},
               {"kind", "ConfigMapList"},
               // The list's own metadata is not an object's: nothing to drop there.
               {"metadata", {{"resourceVersion", "9"}, {"managedFields", "list-level"}}},
               {"items", {configMap("a"), configMap("b"), configMap("c")}}};
  json expectedList = list;
  for (auto& item : expectedList["items"]) item = withoutManagedFields(item);
  return {
      {"Object", JsonShape::Object, configMap("a"), withoutManagedFields(configMap("a"))},
      {"List", JsonShape::List, list, expectedList},
      {"WatchEvent",
       JsonShape::WatchEvent,
       {{"type", "MODIFIED"}, {"object", configMap("a")}},
       {{"type", "MODIFIED"}, {"object", withoutManagedFields(configMap("a"))}}},
  };
}

TEST_P(ParseWithoutManagedFields, DropsOnlyTheObjectsManagedFieldsAndKeepsEverythingElse) {
  const ShapeCase& c = GetParam();
  const std::string text = c.document.dump(2);
  EXPECT_EQ(parseWithoutManagedFields(text, c.shape), c.expected);
  std::istringstream in(text);
  EXPECT_EQ(parseWithoutManagedFields(in, c.shape), c.expected);
}

TEST_P(ParseWithoutManagedFields, ReturnsDiscardedForInvalidJson) {
  const std::string text = GetParam().document.dump();
  for (const std::string& bad : {text.substr(0, text.size() / 2), text + "}", std::string("")}) {
    EXPECT_TRUE(parseWithoutManagedFields(bad, GetParam().shape).is_discarded()) << bad;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ParseWithoutManagedFields, ::testing::ValuesIn(shapeCases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ParseWithoutManagedFieldsAt, AnyPositionInMetadataAndAnyValueType) {
  // First, last, only key; a scalar, an object or an empty array as its value.
  for (const char* text : {
           R"({"metadata":{"managedFields":[{"a":{"b":[1,{"c":2}]}}],"name":"x"},"n":1})",
           R"({"metadata":{"name":"x","managedFields":{"k":"v"}},"n":1})",
           R"({"metadata":{"managedFields":null,"name":"x"},"n":1})",
           R"({"n":1,"metadata":{"name":"x","managedFields":[]}})",
       }) {
    SCOPED_TRACE(text);
    EXPECT_EQ(parseWithoutManagedFields(text, JsonShape::Object),
              json::parse(R"({"metadata":{"name":"x"},"n":1})"));
  }
  EXPECT_EQ(parseWithoutManagedFields(R"({"metadata":{"managedFields":[]}})", JsonShape::Object),
            json::parse(R"({"metadata":{}})"));
}

TEST(ParseWithoutManagedFieldsAt, LeavesDocumentsOfAnotherShapeAlone) {
  // A list parsed as an object has no metadata.managedFields at the object's place.
  json list = {{"items", {configMap("a")}}};
  EXPECT_EQ(parseWithoutManagedFields(list.dump(), JsonShape::Object), list);
  // Items of something that is not "items" are not the list's objects.
  json other = {{"things", {configMap("a")}}};
  EXPECT_EQ(parseWithoutManagedFields(other.dump(), JsonShape::List), other);
}

TEST(DecodeWatchEvent, DropsManagedFieldsOnlyWhenAsked) {
  const std::string line = json{{"type", "ADDED"}, {"object", configMap("a")}}.dump();
  auto kept = decodeWatchEvent(line);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->object.body, configMap("a"));
  auto dropped = decodeWatchEvent(line, /*dropManagedFields=*/true);
  ASSERT_TRUE(dropped.has_value());
  EXPECT_EQ(dropped->object.body, withoutManagedFields(configMap("a")));
  EXPECT_EQ(dropped->object.annotations().at("kubectl.kubernetes.io/last-applied-configuration"),
            R"({"data":{"a":"1"}})");

  std::vector<json> seen;
  WatchStreamDecoder decoder([&](const WatchEvent& ev) { seen.push_back(ev.object.body); },
                             /*dropManagedFields=*/true);
  ASSERT_TRUE(decoder.feed(line + "\n" + line.substr(0, 20)));
  ASSERT_TRUE(decoder.feed(line.substr(20) + "\n"));
  EXPECT_EQ(seen, (std::vector<json>{withoutManagedFields(configMap("a")),
                                     withoutManagedFields(configMap("a"))}));
}

}  // namespace
}  // namespace kubegrant::kube
