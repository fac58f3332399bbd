#include "operator/kube/object.h"

#include <gtest/gtest.h>

namespace kubegrant::kube {
namespace {

TEST(Object, ReadsMetadata) {
  Object o(nlohmann::json::parse(R"({
    "apiVersion":"v1","kind":"ConfigMap",
    "metadata":{"name":"a","namespace":"ns","uid":"u","resourceVersion":"9","generation":3,
      "labels":{"l":"1"},"annotations":{"n":"2"},"finalizers":["f1","f2"],
      "deletionTimestamp":"2026-01-01T00:00:00Z"}})"));
  EXPECT_EQ(o.apiVersion(), "v1");
  EXPECT_EQ(o.kind(), "ConfigMap");
  EXPECT_EQ(o.key(), (ObjectKey{"ns", "a"}));
  EXPECT_EQ(o.key().toString(), "ns/a");
  EXPECT_EQ(o.uid(), "u");
  EXPECT_EQ(o.resourceVersion(), "9");
  EXPECT_EQ(o.generation(), 3);
  EXPECT_EQ(o.labels().at("l"), "1");
  EXPECT_EQ(o.annotations().at("n"), "2");
  EXPECT_EQ(o.finalizers(), (std::vector<std::string>{"f1", "f2"}));
  EXPECT_TRUE(o.hasFinalizer("f2"));
  EXPECT_TRUE(o.isBeingDeleted());
  EXPECT_EQ(o.deletionTimestamp().value(), "2026-01-01T00:00:00Z");
}

TEST(Object, ReadsMissingOrMistypedFieldsAsEmpty) {
  for (const char* text : {R"({})", R"({"metadata":"x"})", R"([1])",
                           R"({"metadata":{"name":5,"labels":[],"finalizers":{}}})"}) {
    SCOPED_TRACE(text);
    Object o(nlohmann::json::parse(text));
    EXPECT_EQ(o.name(), "");
    EXPECT_TRUE(o.labels().empty());
    EXPECT_TRUE(o.finalizers().empty());
    EXPECT_FALSE(o.isBeingDeleted());
    EXPECT_EQ(o.generation(), 0);
  }
}

TEST(Object, SettersCreateMetadata) {
  Object o;
  o.setApiVersionKind(resources::roleBindings());
  o.setName("rb");
  o.setNamespace("ns");
  o.setLabel("a", "b");
  o.setAnnotation("c", "d");
  o.setFinalizers({"f"});
  o.setResourceVersion("1");
  EXPECT_EQ(o.body["apiVersion"], "rbac.authorization.k8s.io/v1");
  EXPECT_EQ(o.body["kind"], "RoleBinding");
  EXPECT_EQ(o.key(), (ObjectKey{"ns", "rb"}));
  EXPECT_EQ(o.labels().at("a"), "b");
  EXPECT_EQ(o.annotations().at("c"), "d");
  EXPECT_EQ(o.finalizers(), std::vector<std::string>{"f"});
  EXPECT_EQ(o.resourceVersion(), "1");
}

}  // namespace
}  // namespace kubegrant::kube
