#include "operator/kube/url.h"

#include <gtest/gtest.h>

#include "operator/kube/object.h"

namespace kubegrant::kube {
namespace {

TEST(PercentEncode, KeepsUnreservedAndEncodesEverythingElse) {
  EXPECT_EQ(percentEncode("abc-XYZ_0.9~"), "abc-XYZ_0.9~");
  EXPECT_EQ(percentEncode("a b"), "a%20b");
  EXPECT_EQ(percentEncode("app=web,tier in (a,b),!canary"),
            "app%3Dweb%2Ctier%20in%20%28a%2Cb%29%2C%21canary");
  EXPECT_EQ(percentEncode("x&y=z#f/g?h+i%"), "x%26y%3Dz%23f%2Fg%3Fh%2Bi%25");
  EXPECT_EQ(percentEncode("\xC3\xA9"), "%C3%A9");
}

TEST(ListQuery, EncodesSelectorsSoTheyCannotInjectParameters) {
  ListOptions o;
  o.labelSelector = "app=web&limit=1";
  o.fieldSelector = "metadata.name=a b";
  o.limit = 25;
  o.continueToken = "eyJ2Ijoi+/=";
  EXPECT_EQ(listQuery(o),
            "?labelSelector=app%3Dweb%26limit%3D1&fieldSelector=metadata.name%3Da%20b&limit=25"
            "&continue=eyJ2Ijoi%2B%2F%3D");
}

TEST(ListQuery, IsEmptyWithoutOptions) { EXPECT_EQ(listQuery({}), ""); }

TEST(WatchQuery, AsksForBookmarksAndAServerTimeout) {
  WatchOptions o;
  o.resourceVersion = "123";
  o.labelSelector = "a in (x)";
  EXPECT_EQ(watchQuery(o, 60),
            "?watch=true&resourceVersion=123&labelSelector=a%20in%20%28x%29&timeoutSeconds=60"
            "&allowWatchBookmarks=true");
  o.allowWatchBookmarks = false;
  o.resourceVersion.clear();
  o.labelSelector.clear();
  EXPECT_EQ(watchQuery(o, 5), "?watch=true&timeoutSeconds=5");
}

TEST(WriteAndPatchQuery, CarryDryRunFieldManagerAndForce) {
  EXPECT_EQ(writeQuery({.dryRun = true, .fieldManager = "kubegrant"}),
            "?dryRun=All&fieldManager=kubegrant");
  EXPECT_EQ(writeQuery({}), "");
  PatchOptions p;
  p.fieldManager = "kg";
  p.force = true;
  EXPECT_EQ(patchQuery(PatchType::Apply, p), "?fieldManager=kg&force=true");
}

TEST(PatchContentType, MatchesEachPatchType) {
  EXPECT_STREQ(patchContentType(PatchType::Merge), "application/merge-patch+json");
  EXPECT_STREQ(patchContentType(PatchType::Json), "application/json-patch+json");
  EXPECT_STREQ(patchContentType(PatchType::StrategicMerge),
               "application/strategic-merge-patch+json");
  EXPECT_STREQ(patchContentType(PatchType::Apply), "application/apply-patch+yaml");
}

TEST(DeleteOptionsBody, CarriesPreconditionsAndPropagation) {
  DeleteOptions o;
  o.preconditionUid = "u-1";
  o.preconditionResourceVersion = "42";
  o.propagationPolicy = PropagationPolicy::Foreground;
  o.dryRun = true;
  auto body = deleteOptionsBody(o);
  EXPECT_EQ(body["kind"], "DeleteOptions");
  EXPECT_EQ(body["preconditions"]["uid"], "u-1");
  EXPECT_EQ(body["preconditions"]["resourceVersion"], "42");
  EXPECT_EQ(body["propagationPolicy"], "Foreground");
  EXPECT_EQ(body["dryRun"], nlohmann::json::array({"All"}));
  EXPECT_FALSE(deleteOptionsBody({}).contains("preconditions"));
}

struct PathCase {
  const char* name;
  ResourceRef ref;
  ObjectKey key;
  const char* subresource;
  const char* collection;
  const char* object;
};

TEST(ResourceRefPaths, FollowCoreAndGroupLayouts) {
  const PathCase cases[] = {
      {"core namespaced",
       resources::configMaps(),
       {"ns1", "cm"},
       "",
       "/api/v1/namespaces/ns1/configmaps",
       "/api/v1/namespaces/ns1/configmaps/cm"},
      {"core cluster-scoped ignores namespace",
       resources::namespaces(),
       {"", "ns1"},
       "",
       "/api/v1/namespaces",
       "/api/v1/namespaces/ns1"},
      {"group namespaced with status",
       resources::accessRequests(),
       {"p", "r1"},
       "status",
       "/apis/kubegrant.io/v1alpha1/namespaces/p/accessrequests",
       "/apis/kubegrant.io/v1alpha1/namespaces/p/accessrequests/r1/status"},
      {"group cluster-scoped",
       resources::clusterRoles(),
       {"", "view"},
       "",
       "/apis/rbac.authorization.k8s.io/v1/clusterroles",
       "/apis/rbac.authorization.k8s.io/v1/clusterroles/view"},
      {"names are encoded",
       resources::configMaps(),
       {"ns", "a/b c"},
       "",
       "/api/v1/namespaces/ns/configmaps",
       "/api/v1/namespaces/ns/configmaps/a%2Fb%20c"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.ref.collectionPath(c.key.namespace_), c.collection);
    EXPECT_EQ(c.ref.objectPath(c.key, c.subresource), c.object);
  }
  EXPECT_EQ(resources::configMaps().collectionPath(""), "/api/v1/configmaps");
  EXPECT_EQ(resources::leases().apiVersion(), "coordination.k8s.io/v1");
  EXPECT_EQ(resources::secrets().apiVersion(), "v1");
}

}  // namespace
}  // namespace kubegrant::kube
