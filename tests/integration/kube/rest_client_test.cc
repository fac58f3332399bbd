// The REST client against the real kube-apiserver from tests/controlplane.

#include "operator/kube/rest/rest_client.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "operator/kube/patch.h"
#include "tests/support/test_env.h"

namespace kubegrant::kube {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::TestEnv;
using testing::uniqueName;
using Ms = std::chrono::duration<double, std::milli>;

std::unique_ptr<Client> clientFor(const TestEnv& env, std::string_view user) {
  auto cfg = loadKubeconfig(env.kubeconfig(user));
  EXPECT_TRUE(cfg.has_value()) << cfg.error().describe();
  if (!cfg) return nullptr;
  auto client = rest::makeRestClient(*cfg);
  EXPECT_TRUE(client.has_value()) << client.error().describe();
  if (!client) return nullptr;
  return std::move(*client);
}

Object configMap(const std::string& ns, const std::string& name,
                 const std::map<std::string, std::string>& data = {}) {
  Object o;
  o.setApiVersionKind(resources::configMaps());
  o.setNamespace(ns);
  o.setName(name);
  o.body["data"] = data;
  return o;
}

// Each test gets its own namespace (the control plane is shared) and removes it after.
class RestClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto envOpt = testing::requireEnv();
    ASSERT_TRUE(envOpt.has_value());
    env_ = *envOpt;
    admin_ = clientFor(env_, "admin");
    ASSERT_NE(admin_, nullptr);
    ns_ = uniqueName("kube-it");
    Object nsObj;
    nsObj.setApiVersionKind(resources::namespaces());
    nsObj.setName(ns_);
    auto created = admin_->create(resources::namespaces(), nsObj);
    ASSERT_TRUE(created.has_value()) << created.error().describe();
  }
  void TearDown() override {
    if (admin_ && !ns_.empty()) {
      // Not waited for: the controller-manager's namespace controller removes it and what
      // is in it in the background.
      (void)admin_->remove(resources::namespaces(), {"", ns_});
    }
  }

  TestEnv env_;
  std::unique_ptr<Client> admin_;
  std::string ns_;
};

TEST_F(RestClientTest, CreatesReadsUpdatesAndDeletesAConfigMap) {
  const auto cms = resources::configMaps();
  auto created = admin_->create(cms, configMap(ns_, "settings", {{"a", "1"}}));
  ASSERT_TRUE(created.has_value()) << created.error().describe();
  EXPECT_FALSE(created->uid().empty());
  EXPECT_FALSE(created->resourceVersion().empty());

  auto again = admin_->create(cms, configMap(ns_, "settings"));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::AlreadyExists);
  EXPECT_EQ(again.error().httpStatus, 409);

  auto got = admin_->get(cms, {ns_, "settings"});
  ASSERT_TRUE(got.has_value()) << got.error().describe();
  EXPECT_EQ(got->body["data"]["a"], "1");
  EXPECT_EQ(got->uid(), created->uid());

  Object changed = *got;
  changed.body["data"]["b"] = "2";
  auto updated = admin_->update(cms, changed);
  ASSERT_TRUE(updated.has_value()) << updated.error().describe();
  EXPECT_EQ(updated->body["data"]["b"], "2");
  EXPECT_NE(updated->resourceVersion(), got->resourceVersion());

  auto listed = admin_->list(cms, ns_);
  ASSERT_TRUE(listed.has_value()) << listed.error().describe();
  bool found = false;
  for (const auto& item : listed->items) {
    if (item.name() == "settings") {
      found = true;
      EXPECT_EQ(item.kind(), "ConfigMap");
    }
  }
  EXPECT_TRUE(found);
  EXPECT_FALSE(listed->resourceVersion.empty());

  ASSERT_TRUE(admin_->remove(cms, {ns_, "settings"}).has_value());
  auto gone = admin_->get(cms, {ns_, "settings"});
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code, ErrorCode::NotFound);
  EXPECT_EQ(gone.error().reason, "NotFound");
  auto removeAgain = admin_->remove(cms, {ns_, "settings"});
  ASSERT_FALSE(removeAgain.has_value());
  EXPECT_EQ(removeAgain.error().code, ErrorCode::NotFound);
}

TEST_F(RestClientTest, DryRunCreateIsValidatedButNotPersisted) {
  auto dry = admin_->create(resources::configMaps(), configMap(ns_, "dry"), {.dryRun = true});
  ASSERT_TRUE(dry.has_value()) << dry.error().describe();
  auto got = admin_->get(resources::configMaps(), {ns_, "dry"});
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::NotFound);
}

TEST_F(RestClientTest, InvalidObjectsReturnTheServersFieldCauses) {
  auto bad = admin_->create(resources::configMaps(), configMap(ns_, "Not_A_DNS_Name"));
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::Invalid);
  EXPECT_EQ(bad.error().httpStatus, 422);
  ASSERT_FALSE(bad.error().causes.empty());
  EXPECT_EQ(bad.error().causes[0].field, "metadata.name");
}

TEST_F(RestClientTest, ListsWithSelectorsAndPagesThroughResults) {
  const auto cms = resources::configMaps();
  for (int i = 0; i < 25; ++i) {
    Object o = configMap(ns_, fmt::format("page-{:02}", i));
    o.setLabel("batch", "paged");
    o.setLabel("parity", i % 2 == 0 ? "even" : "odd");
    ASSERT_TRUE(admin_->create(cms, o).has_value());
  }
  for (int i = 0; i < 5; ++i) {
    Object o = configMap(ns_, fmt::format("other-{}", i));
    o.setLabel("batch", "other");
    ASSERT_TRUE(admin_->create(cms, o).has_value());
  }

  std::vector<std::string> names;
  ListOptions opts{.labelSelector = "batch=paged", .limit = 10};
  int pages = 0;
  do {
    auto page = admin_->list(cms, ns_, opts);
    ASSERT_TRUE(page.has_value()) << page.error().describe();
    ++pages;
    EXPECT_LE(page->items.size(), 10u);
    for (const auto& item : page->items) names.push_back(item.name());
    opts.continueToken = page->continueToken;
  } while (!opts.continueToken.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(names.size(), 25u);
  for (int i = 0; i < 25; ++i) EXPECT_EQ(names[i], fmt::format("page-{:02}", i));

  // Set-based and negated selectors carry characters that must be URL-encoded.
  auto odd =
      admin_->list(cms, ns_, {.labelSelector = "batch in (paged, nothing),parity!=even,!missing"});
  ASSERT_TRUE(odd.has_value()) << odd.error().describe();
  EXPECT_EQ(odd->items.size(), 12u);

  auto byName = admin_->list(cms, ns_, {.fieldSelector = "metadata.name=other-3"});
  ASSERT_TRUE(byName.has_value()) << byName.error().describe();
  ASSERT_EQ(byName->items.size(), 1u);
  EXPECT_EQ(byName->items[0].name(), "other-3");

  auto badSelector = admin_->list(cms, ns_, {.labelSelector = "a in (b"});
  ASSERT_FALSE(badSelector.has_value());
  EXPECT_EQ(badSelector.error().code, ErrorCode::BadRequest);
}

TEST_F(RestClientTest, ListsAcrossAllNamespacesAndFindsNamesThatNeedEncoding) {
  const auto cms = resources::configMaps();
  Object o = configMap(ns_, "everywhere");
  o.setLabel("kube-it-run", ns_);
  ASSERT_TRUE(admin_->create(cms, o).has_value());
  auto all = admin_->list(cms, "", {.labelSelector = "kube-it-run=" + ns_});
  ASSERT_TRUE(all.has_value()) << all.error().describe();
  ASSERT_EQ(all->items.size(), 1u);
  EXPECT_EQ(all->items[0].key(), (ObjectKey{ns_, "everywhere"}));

  // Bootstrap RBAC names contain ':' (percent-encoded in the path).
  auto role = admin_->get(resources::clusterRoles(), {"", "system:aggregate-to-view"});
  ASSERT_TRUE(role.has_value()) << role.error().describe();
  EXPECT_EQ(role->name(), "system:aggregate-to-view");
}

TEST_F(RestClientTest, UpdateWithAStaleResourceVersionConflictsAndSucceedsAfterReRead) {
  const auto cms = resources::configMaps();
  auto created = admin_->create(cms, configMap(ns_, "contended", {{"n", "0"}}));
  ASSERT_TRUE(created.has_value());

  Object first = *created;
  first.body["data"]["n"] = "1";
  ASSERT_TRUE(admin_->update(cms, first).has_value());

  Object stale = *created;  // still carries the original resourceVersion
  stale.body["data"]["n"] = "2";
  auto conflict = admin_->update(cms, stale);
  ASSERT_FALSE(conflict.has_value());
  EXPECT_EQ(conflict.error().code, ErrorCode::Conflict);
  EXPECT_EQ(conflict.error().httpStatus, 409);
  EXPECT_EQ(conflict.error().reason, "Conflict");
  EXPECT_TRUE(conflict.error().retryable());

  auto fresh = admin_->get(cms, {ns_, "contended"});
  ASSERT_TRUE(fresh.has_value());
  fresh->body["data"]["n"] = "2";
  auto retried = admin_->update(cms, *fresh);
  ASSERT_TRUE(retried.has_value()) << retried.error().describe();
  EXPECT_EQ(retried->body["data"]["n"], "2");
}

TEST_F(RestClientTest, DeleteHonoursUidAndResourceVersionPreconditions) {
  const auto cms = resources::configMaps();
  auto created = admin_->create(cms, configMap(ns_, "guarded"));
  ASSERT_TRUE(created.has_value());

  auto wrongUid = admin_->remove(cms, {ns_, "guarded"}, {.preconditionUid = "not-the-uid"});
  ASSERT_FALSE(wrongUid.has_value());
  EXPECT_EQ(wrongUid.error().code, ErrorCode::Conflict);

  auto wrongRv = admin_->remove(cms, {ns_, "guarded"}, {.preconditionResourceVersion = "1"});
  ASSERT_FALSE(wrongRv.has_value());
  EXPECT_EQ(wrongRv.error().code, ErrorCode::Conflict);
  ASSERT_TRUE(admin_->get(cms, {ns_, "guarded"}).has_value());

  auto removed = admin_->remove(cms, {ns_, "guarded"},
                                {.preconditionUid = created->uid(),
                                 .preconditionResourceVersion = created->resourceVersion(),
                                 .propagationPolicy = PropagationPolicy::Background});
  ASSERT_TRUE(removed.has_value()) << removed.error().describe();
  EXPECT_TRUE(removed->gone());
  EXPECT_EQ(admin_->get(cms, {ns_, "guarded"}).error().code, ErrorCode::NotFound);
}

TEST_F(RestClientTest, DeleteTellsAnObjectHeldByAFinalizerFromOneThatIsGone) {
  const auto cms = resources::configMaps();
  auto held = configMap(ns_, "held");
  held.body["metadata"]["finalizers"] = nlohmann::json::array({"example.com/hold"});
  ASSERT_TRUE(admin_->create(cms, held).has_value());

  auto pending = admin_->remove(cms, {ns_, "held"});
  ASSERT_TRUE(pending.has_value()) << pending.error().describe();
  ASSERT_FALSE(pending->gone());
  EXPECT_TRUE(pending->pending->isBeingDeleted());
  EXPECT_EQ(pending->pending->finalizers(), std::vector<std::string>{"example.com/hold"});
  ASSERT_TRUE(admin_->get(cms, {ns_, "held"}).has_value());

  // Released: the next delete answer says gone (or NotFound when the release itself ended it).
  auto current = admin_->get(cms, {ns_, "held"});
  current->body["metadata"]["finalizers"] = nlohmann::json::array();
  ASSERT_TRUE(admin_->update(cms, *current).has_value());
  auto again = admin_->remove(cms, {ns_, "held"});
  if (again.has_value()) {
    EXPECT_TRUE(again->gone());
  } else {
    EXPECT_EQ(again.error().code, ErrorCode::NotFound);
  }
  EXPECT_EQ(admin_->get(cms, {ns_, "held"}).error().code, ErrorCode::NotFound);
}

TEST_F(RestClientTest, AppliesMergeJsonAndStrategicMergePatches) {
  const auto cms = resources::configMaps();
  ASSERT_TRUE(admin_->create(cms, configMap(ns_, "patched", {{"a", "1"}, {"b", "2"}})));

  auto merged = admin_->patch(cms, {ns_, "patched"}, PatchType::Merge,
                              json::parse(R"({"data":{"a":null,"c":"3"},
                                  "metadata":{"labels":{"x":"y"}}})"));
  ASSERT_TRUE(merged.has_value()) << merged.error().describe();
  EXPECT_EQ(merged->body["data"], json::parse(R"({"b":"2","c":"3"})"));
  EXPECT_EQ(merged->labels().at("x"), "y");

  auto strategic = admin_->patch(cms, {ns_, "patched"}, PatchType::StrategicMerge,
                                 json::parse(R"({"data":{"d":"4"}})"));
  ASSERT_TRUE(strategic.has_value()) << strategic.error().describe();
  EXPECT_EQ(strategic->body["data"], json::parse(R"({"b":"2","c":"3","d":"4"})"));

  JsonPatch ops;
  ops.test("/data/b", "2").replace("/data/b", "two").add("/metadata/labels/z", "w");
  auto jsonPatched = admin_->patch(cms, {ns_, "patched"}, PatchType::Json, ops.body());
  ASSERT_TRUE(jsonPatched.has_value()) << jsonPatched.error().describe();
  EXPECT_EQ(jsonPatched->body["data"]["b"], "two");
  EXPECT_EQ(jsonPatched->labels().at("z"), "w");

  // The same patch again: its `test` op now fails, and nothing changes.
  auto failedTest = admin_->patch(cms, {ns_, "patched"}, PatchType::Json, ops.body());
  ASSERT_FALSE(failedTest.has_value());
  EXPECT_EQ(failedTest.error().code, ErrorCode::Invalid);
  EXPECT_EQ(admin_->get(cms, {ns_, "patched"})->resourceVersion(), jsonPatched->resourceVersion());
}

TEST_F(RestClientTest, FinalizerPatchesAddAndRemoveWithoutDroppingOthers) {
  const auto cms = resources::configMaps();
  Object o = configMap(ns_, "finalized");
  o.setFinalizers({"example.com/other"});
  auto created = admin_->create(cms, o);
  ASSERT_TRUE(created.has_value());

  auto added = admin_->patch(cms, {ns_, "finalized"}, PatchType::Json,
                             addFinalizerPatch(*created, "kubegrant.io/revoke").body());
  ASSERT_TRUE(added.has_value()) << added.error().describe();
  EXPECT_EQ(added->finalizers(),
            (std::vector<std::string>{"example.com/other", "kubegrant.io/revoke"}));

  // A patch built from the stale object is refused instead of clobbering the list.
  auto staleAdd = admin_->patch(cms, {ns_, "finalized"}, PatchType::Json,
                                addFinalizerPatch(*created, "third.io/x").body());
  ASSERT_FALSE(staleAdd.has_value());
  EXPECT_EQ(staleAdd.error().code, ErrorCode::Invalid);

  auto removed = admin_->patch(cms, {ns_, "finalized"}, PatchType::Json,
                               removeFinalizerPatch(*added, "kubegrant.io/revoke").body());
  ASSERT_TRUE(removed.has_value()) << removed.error().describe();
  EXPECT_EQ(removed->finalizers(), std::vector<std::string>{"example.com/other"});

  auto cleared = admin_->patch(cms, {ns_, "finalized"}, PatchType::Json,
                               removeFinalizerPatch(*removed, "example.com/other").body());
  ASSERT_TRUE(cleared.has_value()) << cleared.error().describe();
}

TEST_F(RestClientTest, ServerSideApplyTracksFieldManagersAndConflicts) {
  const auto cms = resources::configMaps();
  json desired = {{"apiVersion", "v1"},
                  {"kind", "ConfigMap"},
                  {"metadata", {{"name", "applied"}, {"namespace", ns_}}},
                  {"data", {{"owner", "kubegrant"}}}};
  auto applied = admin_->patch(cms, {ns_, "applied"}, PatchType::Apply, desired,
                               {.fieldManager = "kubegrant"});
  ASSERT_TRUE(applied.has_value()) << applied.error().describe();
  EXPECT_EQ(applied->body["data"]["owner"], "kubegrant");
  bool managed = false;
  for (const auto& mf : applied->body["metadata"]["managedFields"]) {
    if (mf["manager"] == "kubegrant" && mf["operation"] == "Apply") managed = true;
  }
  EXPECT_TRUE(managed);

  json rival = desired;
  rival["data"]["owner"] = "someone-else";
  auto conflict =
      admin_->patch(cms, {ns_, "applied"}, PatchType::Apply, rival, {.fieldManager = "rival"});
  ASSERT_FALSE(conflict.has_value());
  EXPECT_EQ(conflict.error().code, ErrorCode::Conflict);
  EXPECT_FALSE(conflict.error().causes.empty());

  auto forced = admin_->patch(cms, {ns_, "applied"}, PatchType::Apply, rival,
                              {.fieldManager = "rival", .force = true});
  ASSERT_TRUE(forced.has_value()) << forced.error().describe();
  EXPECT_EQ(forced->body["data"]["owner"], "someone-else");

  auto noManager = admin_->patch(cms, {ns_, "applied"}, PatchType::Apply, desired, {});
  ASSERT_FALSE(noManager.has_value());
  EXPECT_EQ(noManager.error().code, ErrorCode::Invalid);
}

// A tiny CRD with a status subresource, shared by runs (cluster-scoped, created once).
const ResourceRef kWidgets{"test.kubegrant.io", "v1", "widgets", "Widget", true};

void ensureWidgetCrd(Client& client) {
  json crd = json::parse(R"({
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.test.kubegrant.io"},
    "spec": {"group": "test.kubegrant.io", "scope": "Namespaced",
      "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
      "versions": [{"name": "v1", "served": true, "storage": true,
        "subresources": {"status": {}},
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {
          "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
          "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}}]}})");
  auto created = client.create(resources::customResourceDefinitions(), Object(crd));
  ASSERT_TRUE(created.has_value() || created.error().code == ErrorCode::AlreadyExists)
      << created.error().describe();
  // Established, and the new resource is actually served (discovery can lag a little).
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto got =
        client.get(resources::customResourceDefinitions(), {"", "widgets.test.kubegrant.io"});
    bool established = false;
    if (got) {
      for (const auto& c : got->body["status"].value("conditions", json::array())) {
        if (c["type"] == "Established" && c["status"] == "True") established = true;
      }
    }
    if (established && client.list(kWidgets, "default").has_value()) return;
    std::this_thread::sleep_for(200ms);
  }
  FAIL() << "widgets CRD not established within 30s";
}

TEST_F(RestClientTest, StatusSubresourceIsWrittenOnlyThroughUpdateStatus) {
  ASSERT_NO_FATAL_FAILURE(ensureWidgetCrd(*admin_));
  Object w;
  w.setApiVersionKind(kWidgets);
  w.setNamespace(ns_);
  w.setName("w1");
  w.body["spec"] = {{"size", 3}};
  w.body["status"] = {{"phase", "Ignored"}};
  auto created = admin_->create(kWidgets, w);
  ASSERT_TRUE(created.has_value()) << created.error().describe();
  EXPECT_FALSE(created->body.contains("status") && created->body["status"].contains("phase"));

  Object withStatus = *created;
  withStatus.body["status"] = {{"phase", "Ready"}};
  withStatus.body["spec"]["size"] = 99;  // ignored by the status endpoint
  auto statusUpdated = admin_->updateStatus(kWidgets, withStatus);
  ASSERT_TRUE(statusUpdated.has_value()) << statusUpdated.error().describe();
  EXPECT_EQ(statusUpdated->body["status"]["phase"], "Ready");
  EXPECT_EQ(statusUpdated->body["spec"]["size"], 3);

  // A stale status write conflicts like any other.
  auto stale = admin_->updateStatus(kWidgets, withStatus);
  ASSERT_FALSE(stale.has_value());
  EXPECT_EQ(stale.error().code, ErrorCode::Conflict);

  // The main endpoint ignores status.
  Object specChange = *statusUpdated;
  specChange.body["spec"]["size"] = 4;
  specChange.body["status"]["phase"] = "Hijacked";
  auto updated = admin_->update(kWidgets, specChange);
  ASSERT_TRUE(updated.has_value()) << updated.error().describe();
  EXPECT_EQ(updated->body["spec"]["size"], 4);
  EXPECT_EQ(updated->body["status"]["phase"], "Ready");

  auto patched =
      admin_->patch(kWidgets, {ns_, "w1"}, PatchType::Merge,
                    json::parse(R"({"status":{"phase":"Done"}})"), {.subresource = "status"});
  ASSERT_TRUE(patched.has_value()) << patched.error().describe();
  EXPECT_EQ(patched->body["status"]["phase"], "Done");
  EXPECT_GE(patched->generation(), 2);
}

// Collects watch events from a background watch.
struct EventLog {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<WatchEvent, std::chrono::steady_clock::time_point>> events;

  void add(const WatchEvent& ev) {
    std::lock_guard lock(mu);
    events.emplace_back(ev, std::chrono::steady_clock::now());
    cv.notify_all();
  }
  // Waits for an event of `type` on `name`; returns its arrival time.
  std::optional<std::chrono::steady_clock::time_point> waitFor(WatchEventType type,
                                                               const std::string& name,
                                                               std::chrono::seconds timeout) {
    std::unique_lock lock(mu);
    std::optional<std::chrono::steady_clock::time_point> at;
    cv.wait_for(lock, timeout, [&] {
      for (const auto& [ev, t] : events) {
        if (ev.type == type && ev.object.name() == name) {
          at = t;
          return true;
        }
      }
      return false;
    });
    return at;
  }
};

TEST_F(RestClientTest, WatchStreamsAddedModifiedDeletedAsTheyHappen) {
  const auto cms = resources::configMaps();
  auto initial = admin_->list(cms, ns_);
  ASSERT_TRUE(initial.has_value());

  EventLog log;
  std::stop_source stop;
  Result<void> watchResult;
  std::thread watcher([&] {
    watchResult = admin_->watch(
        cms, ns_, {.resourceVersion = initial->resourceVersion},
        [&](const WatchEvent& ev) { log.add(ev); }, stop.get_token());
  });
  // The watch is established before its first event; give the request a moment to land.
  std::this_thread::sleep_for(300ms);

  auto t0 = std::chrono::steady_clock::now();
  auto created = admin_->create(cms, configMap(ns_, "watched", {{"v", "1"}}));
  ASSERT_TRUE(created.has_value());
  auto added = log.waitFor(WatchEventType::Added, "watched", 10s);
  ASSERT_TRUE(added.has_value()) << "no ADDED event within 10s";
  auto t1 = std::chrono::steady_clock::now();
  Object changed = *created;
  changed.body["data"]["v"] = "2";
  ASSERT_TRUE(admin_->update(cms, changed).has_value());
  auto modified = log.waitFor(WatchEventType::Modified, "watched", 10s);
  ASSERT_TRUE(modified.has_value()) << "no MODIFIED event within 10s";
  auto t2 = std::chrono::steady_clock::now();
  ASSERT_TRUE(admin_->remove(cms, {ns_, "watched"}).has_value());
  auto deleted = log.waitFor(WatchEventType::Deleted, "watched", 10s);
  ASSERT_TRUE(deleted.has_value()) << "no DELETED event within 10s";

  auto stopAt = std::chrono::steady_clock::now();
  stop.request_stop();
  watcher.join();
  auto stopTook = std::chrono::steady_clock::now() - stopAt;
  EXPECT_TRUE(watchResult.has_value()) << watchResult.error().describe();

  std::vector<WatchEventType> types;
  {
    std::lock_guard lock(log.mu);
    for (const auto& [ev, t] : log.events) {
      if (ev.type != WatchEventType::Bookmark) types.push_back(ev.type);
    }
    ASSERT_EQ(types.size(), 3u);
    EXPECT_EQ(log.events.back().first.object.body["data"]["v"], "2");
  }
  EXPECT_EQ(types, (std::vector<WatchEventType>{WatchEventType::Added, WatchEventType::Modified,
                                                WatchEventType::Deleted}));
  // Figures for the report (never asserted: speed depends on the machine).
  std::cout << "[ figures  ] watch delay ADDED " << Ms(*added - t0).count() << " ms, MODIFIED "
            << Ms(*modified - t1).count() << " ms, DELETED " << Ms(*deleted - t2).count()
            << " ms; stop took " << Ms(stopTook).count() << " ms\n";
}

TEST_F(RestClientTest, StoppingAnIdleWatchReturnsPromptly) {
  std::stop_source stop;
  Result<void> result = fail(ErrorCode::Internal, "not run");
  std::thread watcher([&] {
    result = admin_->watch(
        resources::configMaps(), ns_, {.timeoutSeconds = 300}, [](const WatchEvent&) {},
        stop.get_token());
  });
  std::this_thread::sleep_for(500ms);
  auto start = std::chrono::steady_clock::now();
  stop.request_stop();
  watcher.join();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(result.has_value()) << result.error().describe();
  EXPECT_LT(took, 10s) << "a stopped watch must not wait for the server's timeout";
  std::cout << "[ figures  ] idle watch stop took " << Ms(took).count() << " ms\n";
}

TEST_F(RestClientTest, WatchEndsNormallyWhenTheServerTimeoutElapses) {
  auto start = std::chrono::steady_clock::now();
  auto result =
      admin_->watch(resources::configMaps(), ns_, {.timeoutSeconds = 2}, [](const WatchEvent&) {});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(result.has_value()) << result.error().describe();
  EXPECT_GE(took, 1s);
}

TEST_F(RestClientTest, WatchFromATooOldResourceVersionReturnsGone) {
  const auto cms = resources::configMaps();
  // Churn so that the watch cache's window moves past the start point.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(admin_->create(cms, configMap(ns_, fmt::format("churn-{}", i))).has_value());
  }
  int delivered = 0;
  auto result = admin_->watch(cms, ns_, {.resourceVersion = "1", .timeoutSeconds = 5},
                              [&](const WatchEvent&) { ++delivered; });
  ASSERT_FALSE(result.has_value())
      << "watch from resourceVersion 1 should be expired, got " << delivered << " events";
  EXPECT_EQ(result.error().code, ErrorCode::Gone) << result.error().describe();
  std::cout << "[ figures  ] resourceVersion 1 -> " << result.error().describe() << "\n";
}

TEST_F(RestClientTest, MalloryIsForbiddenWithTheServersMessage) {
  auto mallory = clientFor(env_, "mallory");
  ASSERT_NE(mallory, nullptr);
  auto listed = mallory->list(resources::configMaps(), ns_);
  ASSERT_FALSE(listed.has_value());
  EXPECT_EQ(listed.error().code, ErrorCode::Forbidden);
  EXPECT_EQ(listed.error().httpStatus, 403);
  EXPECT_EQ(listed.error().reason, "Forbidden");
  EXPECT_NE(listed.error().message.find("\"mallory\""), std::string::npos)
      << listed.error().message;
  EXPECT_NE(listed.error().message.find("cannot list resource \"configmaps\""), std::string::npos)
      << listed.error().message;
  EXPECT_FALSE(listed.error().retryable());

  auto watched = mallory->watch(resources::configMaps(), ns_, {}, [](const WatchEvent&) {});
  ASSERT_FALSE(watched.has_value());
  EXPECT_EQ(watched.error().code, ErrorCode::Forbidden);
}

TEST_F(RestClientTest, SelfSubjectReviewReportsTheCallersIdentity) {
  auto alice = clientFor(env_, "alice");
  ASSERT_NE(alice, nullptr);
  Object review;
  review.setApiVersionKind(resources::selfSubjectReviews());
  auto result = alice->create(resources::selfSubjectReviews(), review);
  ASSERT_TRUE(result.has_value()) << result.error().describe();
  EXPECT_EQ(result->body["status"]["userInfo"]["username"], "alice");
  bool inGroup = false;
  for (const auto& g : result->body["status"]["userInfo"]["groups"]) {
    if (g == "payments-devs") inGroup = true;
  }
  EXPECT_TRUE(inGroup);

  auto version = alice->getRaw("/version");
  ASSERT_TRUE(version.has_value()) << version.error().describe();
  EXPECT_EQ(version->value("major", ""), "1");
}

TEST_F(RestClientTest, AServiceAccountTokenWorksThroughTheInClusterConfig) {
  Object sa;
  sa.setApiVersionKind(resources::serviceAccounts());
  sa.setNamespace(ns_);
  sa.setName("robot");
  ASSERT_TRUE(admin_->create(resources::serviceAccounts(), sa).has_value());
  // TokenRequest, a create on a subresource, through the raw escape hatch.
  auto tokenRequest =
      admin_->postRaw(resources::serviceAccounts().objectPath({ns_, "robot"}, "token"),
                      json{{"apiVersion", "authentication.k8s.io/v1"},
                           {"kind", "TokenRequest"},
                           {"spec", {{"expirationSeconds", 600}}}});
  ASSERT_TRUE(tokenRequest.has_value()) << tokenRequest.error().describe();
  std::string token = tokenRequest->at("status").value("token", "");
  ASSERT_FALSE(token.empty());

  // Lay out what a pod sees under /var/run/secrets/kubernetes.io/serviceaccount.
  auto saDir = std::filesystem::temp_directory_path() / uniqueName("kg-sa");
  std::filesystem::create_directories(saDir);
  auto adminCfg = loadKubeconfig(env_.kubeconfig("admin"));
  ASSERT_TRUE(adminCfg.has_value());
  std::ofstream(saDir / "ca.crt") << adminCfg->caPem;
  std::ofstream(saDir / "token") << token;
  std::ofstream(saDir / "namespace") << ns_;
  auto hostPort = env_.apiServer.substr(std::string("https://").size());
  auto colon = hostPort.rfind(':');
  auto cfg = loadInClusterConfig({.env = {{"KUBERNETES_SERVICE_HOST", hostPort.substr(0, colon)},
                                          {"KUBERNETES_SERVICE_PORT", hostPort.substr(colon + 1)}},
                                  .saDir = saDir});
  ASSERT_TRUE(cfg.has_value()) << cfg.error().describe();
  EXPECT_EQ(cfg->namespace_, ns_);
  auto robot = rest::makeRestClient(*cfg);
  ASSERT_TRUE(robot.has_value()) << robot.error().describe();

  Object review;
  review.setApiVersionKind(resources::selfSubjectReviews());
  auto who = (*robot)->create(resources::selfSubjectReviews(), review);
  std::filesystem::remove_all(saDir);
  ASSERT_TRUE(who.has_value()) << who.error().describe();
  EXPECT_EQ(who->body["status"]["userInfo"]["username"], "system:serviceaccount:" + ns_ + ":robot");
  auto denied = (*robot)->list(resources::secrets(), ns_);
  ASSERT_FALSE(denied.has_value());
  EXPECT_EQ(denied.error().code, ErrorCode::Forbidden);
}

TEST_F(RestClientTest, AnUnknownTokenIsUnauthorized) {
  auto cfg = loadKubeconfig(env_.kubeconfig("admin"));
  ASSERT_TRUE(cfg.has_value());
  cfg->clientCertPem.clear();
  cfg->clientKeyPem.clear();
  cfg->token = "not-a-real-token";
  auto client = rest::makeRestClient(*cfg);
  ASSERT_TRUE(client.has_value());
  auto got = (*client)->get(resources::namespaces(), {"", "default"});
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::Unauthorized);
  EXPECT_EQ(got.error().httpStatus, 401);
}

TEST_F(RestClientTest, AServerCertificateFromAnotherCaIsRejected) {
  auto cfg = loadKubeconfig(env_.kubeconfig("admin"));
  ASSERT_TRUE(cfg.has_value());
  // Trust only the admin's own client certificate: it did not sign the server's.
  cfg->caPem = cfg->clientCertPem;
  auto client = rest::makeRestClient(*cfg);
  ASSERT_TRUE(client.has_value());
  auto got = (*client)->get(resources::namespaces(), {"", "default"});
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::Unavailable) << got.error().describe();
  std::cout << "[ figures  ] wrong CA -> " << got.error().describe() << "\n";
}

}  // namespace
}  // namespace kubegrant::kube
