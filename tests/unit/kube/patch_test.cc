#include "operator/kube/patch.h"

#include <gtest/gtest.h>

namespace kubegrant::kube {
namespace {

using nlohmann::json;

Object withFinalizers(std::vector<std::string> f, const char* rv = "7") {
  Object o;
  o.setName("x");
  o.setResourceVersion(rv);
  if (!f.empty()) o.setFinalizers(f);
  return o;
}

TEST(JsonPointer, EscapesTildeAndSlash) {
  EXPECT_EQ(jsonPointerEscape("kubegrant.io/revoke"), "kubegrant.io~1revoke");
  EXPECT_EQ(jsonPointerEscape("a~b"), "a~0b");
  EXPECT_EQ(jsonPointer({"metadata", "labels", "app.kubernetes.io/name"}),
            "/metadata/labels/app.kubernetes.io~1name");
}

TEST(JsonPatch, BuildsOperationsInOrder) {
  JsonPatch p;
  p.test("/a", 1).replace("/a", 2).add("/b/-", "x").remove("/c").move("/d", "/e").copy("/f", "/g");
  EXPECT_EQ(p.body(), json::parse(R"([
    {"op":"test","path":"/a","value":1},
    {"op":"replace","path":"/a","value":2},
    {"op":"add","path":"/b/-","value":"x"},
    {"op":"remove","path":"/c"},
    {"op":"move","from":"/d","path":"/e"},
    {"op":"copy","from":"/f","path":"/g"}])"));
}

TEST(RemoveFinalizerPatch, TestsTheEntryBeforeRemovingIt) {
  auto p =
      removeFinalizerPatch(withFinalizers({"other", "kubegrant.io/revoke"}), "kubegrant.io/revoke");
  EXPECT_EQ(p.body(), json::parse(R"([
    {"op":"test","path":"/metadata/finalizers/1","value":"kubegrant.io/revoke"},
    {"op":"remove","path":"/metadata/finalizers/1"}])"));
}

TEST(RemoveFinalizerPatch, IsEmptyWhenTheFinalizerIsAbsent) {
  EXPECT_TRUE(removeFinalizerPatch(withFinalizers({"other"}), "mine").empty());
  EXPECT_TRUE(removeFinalizerPatch(withFinalizers({}), "mine").empty());
}

TEST(AddFinalizerPatch, GuardsTheCurrentListWhenThereIsOne) {
  auto p = addFinalizerPatch(withFinalizers({"other"}), "mine");
  EXPECT_EQ(p.body(), json::parse(R"([
    {"op":"test","path":"/metadata/finalizers","value":["other"]},
    {"op":"add","path":"/metadata/finalizers/-","value":"mine"}])"));
}

TEST(AddFinalizerPatch, GuardsTheResourceVersionWhenThereIsNoList) {
  auto p = addFinalizerPatch(withFinalizers({}, "42"), "mine");
  EXPECT_EQ(p.body(), json::parse(R"([
    {"op":"test","path":"/metadata/resourceVersion","value":"42"},
    {"op":"add","path":"/metadata/finalizers","value":["mine"]}])"));
  EXPECT_TRUE(addFinalizerPatch(withFinalizers({"mine"}), "mine").empty());
}

TEST(MergePatch, DiffThenApplyReproducesTheTarget) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"a":1,"b":{"c":2,"d":3}})", R"({"a":1,"b":{"c":4}})"},
      {R"({"a":[1,2]})", R"({"a":[3]})"},
      {R"({})", R"({"x":{"y":{"z":"new"}}})"},
      {R"({"gone":true,"keep":"v"})", R"({"keep":"v"})"},
  };
  for (const auto& [from, to] : cases) {
    SCOPED_TRACE(std::string(from) + " -> " + to);
    json f = json::parse(from), t = json::parse(to);
    EXPECT_EQ(applyMergePatch(f, mergePatchDiff(f, t)), t);
  }
  EXPECT_EQ(mergePatchDiff(json::parse(R"({"a":1,"b":2})"), json::parse(R"({"a":1})")),
            json::parse(R"({"b":null})"));
}

TEST(MergePatch, AppliesRfc7386Examples) {
  json target = json::parse(R"({"title":"Goodbye!","author":{"givenName":"John",
    "familyName":"Doe"},"tags":["example","sample"],"content":"This will be unchanged"})");
  json patch = json::parse(R"({"title":"Hello!","phoneNumber":"+01-123-456-7890",
    "author":{"familyName":null},"tags":["example"]})");
  EXPECT_EQ(applyMergePatch(target, patch), json::parse(R"({"title":"Hello!",
    "author":{"givenName":"John"},"tags":["example"],"content":"This will be unchanged",
    "phoneNumber":"+01-123-456-7890"})"));
}

TEST(LabelMergePatch, SetsOrRemovesOneLabel) {
  EXPECT_EQ(labelMergePatch("a", "b"), json::parse(R"({"metadata":{"labels":{"a":"b"}}})"));
  EXPECT_EQ(labelMergePatch("a", nullptr), json::parse(R"({"metadata":{"labels":{"a":null}}})"));
}

}  // namespace
}  // namespace kubegrant::kube
