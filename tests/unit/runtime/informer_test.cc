#include "operator/runtime/informer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

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

kube::Object configMap(const std::string& ns, const std::string& name,
                       std::map<std::string, std::string> labels = {}, std::string value = "v") {
  kube::Object o;
  o.setApiVersionKind(kConfigMaps);
  o.setNamespace(ns);
  o.setName(name);
  for (const auto& [k, v] : labels) o.setLabel(k, v);
  o.body["data"] = {{"key", value}};
  return o;
}

// Records handler calls as "add ns/name", "update ns/name", "delete ns/name".
class Recorder {
 public:
  EventHandler handler() {
    EventHandler h;
    h.onAdd = [this](const ObjectPtr& o) { push("add " + o->key().toString()); };
    h.onUpdate = [this](const ObjectPtr& oldObj, const ObjectPtr& o) {
      push((oldObj == o ? "resync " : "update ") + o->key().toString());
    };
    h.onDelete = [this](const ObjectPtr& o) { push("delete " + o->key().toString()); };
    return h;
  }
  std::vector<std::string> events() const {
    std::lock_guard<std::mutex> g(mu_);
    return events_;
  }
  size_t size() const {
    std::lock_guard<std::mutex> g(mu_);
    return events_.size();
  }
  void clear() {
    std::lock_guard<std::mutex> g(mu_);
    events_.clear();
  }

 private:
  void push(std::string s) {
    std::lock_guard<std::mutex> g(mu_);
    events_.push_back(std::move(s));
  }
  mutable std::mutex mu_;
  std::vector<std::string> events_;
};

std::vector<NamespacedName> freshListKeys(FakeClient& client, const std::string& ns = "") {
  auto l = client.list(kConfigMaps, ns);
  std::vector<NamespacedName> keys;
  for (const auto& o : l->items) keys.push_back(o.key());
  std::sort(keys.begin(), keys.end());
  return keys;
}

TEST(Informer, TheFirstListIsPaginatedAndFillsTheStoreBeforeHasSynced) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  for (int i = 0; i < 5; ++i) client.seed(kConfigMaps, configMap("a", "cm-" + std::to_string(i)));
  InformerOptions opts;
  opts.namespace_ = "a";
  opts.pageSize = 2;
  Informer inf(client, kConfigMaps, clock, opts);
  Recorder rec;
  inf.addEventHandler(rec.handler());
  EXPECT_FALSE(inf.hasSynced());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(3s));
  EXPECT_EQ(inf.store().size(), 5u);
  EXPECT_EQ(rec.size(), 5u);
  int lists = 0;
  for (const auto& a : client.actions()) {
    if (a.verb == "list") {
      ++lists;
      EXPECT_EQ(a.body["limit"], 2);
      EXPECT_EQ(a.namespace_, "a");
    }
  }
  EXPECT_EQ(lists, 3) << "5 items in pages of 2";
  EXPECT_EQ(inf.store().get({"a", "cm-3"})->name(), "cm-3");
  EXPECT_EQ(inf.store().get({"a", "missing"}), nullptr);
}

TEST(Informer, WatchEventsUpdateTheStoreAndReachHandlersInOrder) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  client.seed(kConfigMaps, configMap("a", "one"));
  Informer inf(client, kConfigMaps, clock);
  Recorder rec;
  inf.addEventHandler(rec.handler());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(3s));
  ASSERT_TRUE(eventually([&] { return client.openWatches() == 1; }));

  ASSERT_TRUE(client.create(kConfigMaps, configMap("a", "two")));
  auto one = client.get(kConfigMaps, {"a", "one"});
  one->body["data"]["key"] = "changed";
  ASSERT_TRUE(client.update(kConfigMaps, *one));
  ASSERT_TRUE(client.remove(kConfigMaps, {"a", "two"}));
  ASSERT_TRUE(eventually([&] { return rec.size() == 4; }));
  EXPECT_EQ(rec.events(),
            (std::vector<std::string>{"add a/one", "add a/two", "update a/one", "delete a/two"}));
  EXPECT_EQ(inf.store().get({"a", "one"})->body["data"]["key"], "changed");
  EXPECT_EQ(inf.store().keys(), freshListKeys(client));
  // The informer records an event's resourceVersion once its handlers have returned, so the
  // last one may land just after the recorder saw the event.
  const std::string current = std::to_string(client.currentResourceVersion());
  EXPECT_TRUE(eventually([&] { return inf.lastResourceVersion() == current; }))
      << "last resourceVersion " << inf.lastResourceVersion() << ", server at " << current;
}

TEST(Informer, AnIndexFindsObjectsByLabelValueAndFollowsLabelChanges) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  const std::string kLabel = "kubegrant.io/request-uid";
  client.seed(kConfigMaps, configMap("a", "x1", {{kLabel, "u1"}}));
  client.seed(kConfigMaps, configMap("b", "x2", {{kLabel, "u1"}}));
  client.seed(kConfigMaps, configMap("a", "y", {{kLabel, "u2"}}));
  client.seed(kConfigMaps, configMap("a", "none"));
  Informer inf(client, kConfigMaps, clock);
  inf.addIndexer("request-uid", indexByLabel(kLabel));
  inf.addIndexer("namespace", indexByNamespace());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(3s));
  ASSERT_TRUE(eventually([&] { return client.openWatches() == 1; }));

  auto names = [&](const std::string& index, const std::string& value) {
    std::vector<std::string> out;
    for (const auto& o : inf.store().byIndex(index, value)) out.push_back(o->key().toString());
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(names("request-uid", "u1"), (std::vector<std::string>{"a/x1", "b/x2"}));
  EXPECT_EQ(names("request-uid", "u2"), (std::vector<std::string>{"a/y"}));
  EXPECT_EQ(names("namespace", "a").size(), 3u);
  EXPECT_TRUE(names("no-such-index", "u1").empty());

  ASSERT_TRUE(client.patch(kConfigMaps, {"a", "y"}, kube::PatchType::Merge,
                           {{"metadata", {{"labels", {{kLabel, "u1"}}}}}}));
  ASSERT_TRUE(client.remove(kConfigMaps, {"b", "x2"}));
  ASSERT_TRUE(eventually([&] {
    return names("request-uid", "u1").size() == 2 && names("request-uid", "u1")[1] == "a/y";
  }));
  EXPECT_EQ(names("request-uid", "u1"), (std::vector<std::string>{"a/x1", "a/y"}));
  EXPECT_TRUE(names("request-uid", "u2").empty());
}

TEST(Informer, ANormallyEndedWatchResumesFromTheLastResourceVersionWithoutRelisting) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  Informer inf(client, kConfigMaps, clock);
  Recorder rec;
  inf.addEventHandler(rec.handler());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(3s));
  ASSERT_TRUE(eventually([&] { return client.openWatches() == 1; }));
  ASSERT_TRUE(client.create(kConfigMaps, configMap("a", "one")));
  ASSERT_TRUE(eventually([&] { return rec.size() == 1; }));
  // Recorded once the handlers have returned: wait for it rather than read it at once.
  const std::string rvBefore = std::to_string(client.currentResourceVersion());
  ASSERT_TRUE(eventually([&] { return inf.lastResourceVersion() == rvBefore; }));

  client.closeWatches();
  ASSERT_TRUE(eventually([&] { return client.openWatches() == 0; }));
  // Changes while no watch is open must still arrive, from the history.
  ASSERT_TRUE(client.create(kConfigMaps, configMap("a", "two")));
  // The fake clock says the stream lasted 0 s, so the informer backs off before rewatching.
  ASSERT_TRUE(testutil::advanceUntil(clock, 200ms, 2s, [&] { return rec.size() == 2; }));
  EXPECT_EQ(rec.events().back(), "add a/two");
  auto s = inf.stats();
  EXPECT_EQ(s.lists, 1u);
  EXPECT_EQ(s.watches, 2u);
  std::vector<std::string> watchRvs;
  for (const auto& a : client.actions()) {
    if (a.verb == "watch") watchRvs.push_back(a.body["resourceVersion"]);
  }
  ASSERT_EQ(watchRvs.size(), 2u);
  EXPECT_EQ(watchRvs[1], rvBefore);
}

TEST(Informer, GoneRelistsAndDeliversTheDifferenceSoTheStoreEqualsAFreshList) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  client.seed(kConfigMaps, configMap("a", "stays"));
  client.seed(kConfigMaps, configMap("a", "changes"));
  client.seed(kConfigMaps, configMap("a", "vanishes"));
  Informer inf(client, kConfigMaps, clock);
  Recorder rec;
  inf.addEventHandler(rec.handler());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(3s));
  ASSERT_TRUE(eventually([&] { return client.openWatches() == 1; }));
  rec.clear();

  client.closeWatches();
  ASSERT_TRUE(eventually([&] { return client.openWatches() == 0; }));
  ASSERT_TRUE(client.remove(kConfigMaps, {"a", "vanishes"}));
  ASSERT_TRUE(client.patch(kConfigMaps, {"a", "changes"}, kube::PatchType::Merge,
                           {{"data", {{"key", "new"}}}}));
  ASSERT_TRUE(client.create(kConfigMaps, configMap("a", "appears")));
  client.compact();  // the informer's resourceVersion is now too old
  ASSERT_TRUE(testutil::advanceUntil(clock, 200ms, 2s, [&] { return inf.stats().lists == 2; }));
  ASSERT_TRUE(eventually([&] { return rec.size() == 3; }));
  auto events = rec.events();
  std::sort(events.begin(), events.end());
  EXPECT_EQ(events,
            (std::vector<std::string>{"add a/appears", "delete a/vanishes", "update a/changes"}));
  EXPECT_EQ(inf.stats().goneRelists, 1u);
  EXPECT_EQ(inf.store().keys(), freshListKeys(client));
  EXPECT_EQ(inf.store().get({"a", "changes"})->body["data"]["key"], "new");

  // And it watches again from the new list.
  ASSERT_TRUE(eventually([&] { return client.openWatches() == 1; }));
  ASSERT_TRUE(client.create(kConfigMaps, configMap("a", "after")));
  ASSERT_TRUE(eventually([&] { return rec.size() == 4; }));
}

TEST(Informer, ResyncRedeliversEveryCachedObjectAsAnUpdate) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  client.seed(kConfigMaps, configMap("a", "one"));
  client.seed(kConfigMaps, configMap("a", "two"));
  InformerOptions opts;
  opts.resyncPeriod = 10min;
  Informer inf(client, kConfigMaps, clock, opts);
  Recorder rec;
  inf.addEventHandler(rec.handler());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(3s));
  ASSERT_TRUE(eventually([&] { return rec.size() == 2; }));
  clock.advance(9min);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(rec.size(), 2u);
  clock.advance(1min);
  ASSERT_TRUE(eventually([&] { return rec.size() == 4; }));
  auto events = rec.events();
  EXPECT_EQ(events[2].rfind("resync ", 0), 0u);
  EXPECT_EQ(events[3].rfind("resync ", 0), 0u);
}

TEST(Informer, TheTransformRunsBeforeObjectsAreStoredAndManagedFieldsAreDropped) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  auto secretLike = configMap("a", "s");
  secretLike.body["metadata"]["managedFields"] = {{{"manager", "kubectl"}}};
  client.seed(kConfigMaps, secretLike);
  InformerOptions opts;
  opts.transform = stripData;
  Informer inf(client, kConfigMaps, clock, opts);
  inf.start();
  ASSERT_TRUE(inf.waitForSync(3s));
  ASSERT_TRUE(eventually([&] { return client.openWatches() == 1; }));
  auto stored = inf.store().get({"a", "s"});
  ASSERT_NE(stored, nullptr);
  EXPECT_FALSE(stored->body.contains("data"));
  EXPECT_FALSE(stored->body["metadata"].contains("managedFields"));
  ASSERT_TRUE(client.create(kConfigMaps, configMap("a", "t")));
  ASSERT_TRUE(eventually([&] { return inf.store().get({"a", "t"}) != nullptr; }));
  EXPECT_FALSE(inf.store().get({"a", "t"})->body.contains("data"));
}

TEST(Informer, ListErrorsBackOffOnTheClockAndSyncOnceTheServerAnswers) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  client.seed(kConfigMaps, configMap("a", "one"));
  std::atomic<bool> down{true};
  client.addReactor([&](const testing::FakeAction& a) -> std::optional<Error> {
    if (a.verb == "list" && down) return makeError(ErrorCode::Unavailable, "connection refused");
    return std::nullopt;
  });
  Informer inf(client, kConfigMaps, clock);
  inf.start();
  ASSERT_TRUE(eventually([&] { return inf.stats().errors == 1; }));
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(inf.stats().errors, 1u) << "waits 800 ms on the clock before retrying";
  clock.advance(800ms);
  ASSERT_TRUE(eventually([&] { return inf.stats().errors == 2; }));
  clock.advance(1599ms);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(inf.stats().errors, 2u) << "the second wait is 1.6 s";
  EXPECT_FALSE(inf.hasSynced());
  down = false;
  clock.advance(1ms);
  ASSERT_TRUE(inf.waitForSync(3s));
  EXPECT_EQ(inf.store().size(), 1u);
}

TEST(Informer, AWatchErrorOtherThanGoneBacksOffAndResumesTheWatch) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  std::atomic<int> watchFailures{1};
  client.addReactor([&](const testing::FakeAction& a) -> std::optional<Error> {
    if (a.verb == "watch" && watchFailures > 0) {
      --watchFailures;
      return makeError(ErrorCode::Unavailable, "stream reset");
    }
    return std::nullopt;
  });
  Informer inf(client, kConfigMaps, clock);
  Recorder rec;
  inf.addEventHandler(rec.handler());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(3s));
  ASSERT_TRUE(eventually([&] { return inf.stats().errors == 1; }));
  ASSERT_TRUE(client.create(kConfigMaps, configMap("a", "made-during-outage")));
  clock.advance(800ms);
  ASSERT_TRUE(eventually([&] { return rec.size() == 1; }));
  EXPECT_EQ(inf.stats().lists, 1u) << "resumed the watch, no relist";
}

TEST(Informer, BookmarksAdvanceTheResourceVersion) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  InformerOptions opts;
  opts.namespace_ = "a";
  Informer inf(client, kConfigMaps, clock, opts);
  inf.start();
  ASSERT_TRUE(inf.waitForSync(3s));
  ASSERT_TRUE(eventually([&] { return client.openWatches() == 1; }));
  // Changes elsewhere move the server's resourceVersion without events for this watch.
  ASSERT_TRUE(client.create(kConfigMaps, configMap("elsewhere", "x")));
  ASSERT_TRUE(client.create(kConfigMaps, configMap("elsewhere", "y")));
  EXPECT_NE(inf.lastResourceVersion(), std::to_string(client.currentResourceVersion()));
  client.sendBookmark();
  ASSERT_TRUE(eventually([&] {
    return inf.lastResourceVersion() == std::to_string(client.currentResourceVersion());
  }));
}

TEST(Informer, StopEndsAnOpenWatchPromptly) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  auto inf = std::make_unique<Informer>(client, kConfigMaps, clock);
  inf->start();
  ASSERT_TRUE(inf->waitForSync(3s));
  ASSERT_TRUE(eventually([&] { return client.openWatches() == 1; }));
  auto started = std::chrono::steady_clock::now();
  inf->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  EXPECT_EQ(client.openWatches(), 0);
}

TEST(Informer, EnqueueHandlersPutKeysOnTheWorkQueue) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  WorkQueue queue(clock);
  Informer inf(client, kConfigMaps, clock);
  inf.addEventHandler(enqueueObject(queue));
  inf.addEventHandler(enqueueMapped(queue, [](const kube::Object& o) {
    auto labels = o.labels();
    auto it = labels.find("owner");
    if (it == labels.end()) return std::vector<NamespacedName>{};
    return std::vector<NamespacedName>{{o.namespace_(), it->second}};
  }));
  client.seed(kConfigMaps, configMap("a", "binding", {{"owner", "req-7"}}));
  inf.start();
  ASSERT_TRUE(inf.waitForSync(3s));
  ASSERT_EQ(queue.len(), 2u);
  EXPECT_EQ(queue.get(), (NamespacedName{"a", "binding"}));
  EXPECT_EQ(queue.get(), (NamespacedName{"a", "req-7"}));
}

}  // namespace
}  // namespace kubegrant::runtime

namespace kubegrant::runtime {
namespace {

TEST(Informer, ACompactCacheAnswersLikeTheSharedOne) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  client.seed(kConfigMaps, configMap("a", "one", {{"owner", "x"}}, "1"));
  client.seed(kConfigMaps, configMap("a", "two", {{"owner", "x"}}, "2"));
  InformerOptions opts;
  opts.compactCache = true;
  Informer inf(client, kConfigMaps, clock, opts);
  inf.addIndexer("owner", indexByLabel("owner"));
  Recorder rec;
  inf.addEventHandler(rec.handler());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(3s));
  ASSERT_TRUE(eventually([&] { return client.openWatches() == 1; }));
  EXPECT_EQ(inf.store().get({"a", "one"})->body, client.peek(kConfigMaps, {"a", "one"})->body);
  EXPECT_EQ(inf.store().byIndex("owner", "x").size(), 2u);

  ASSERT_TRUE(client.patch(kConfigMaps, {"a", "one"}, kube::PatchType::Merge,
                           {{"metadata", {{"labels", {{"owner", "y"}}}}}}));
  ASSERT_TRUE(client.remove(kConfigMaps, {"a", "two"}));
  ASSERT_TRUE(eventually([&] { return rec.size() == 4; }));
  EXPECT_EQ(rec.events(),
            (std::vector<std::string>{"add a/one", "add a/two", "update a/one", "delete a/two"}));
  EXPECT_TRUE(inf.store().byIndex("owner", "x").empty());
  ASSERT_EQ(inf.store().byIndex("owner", "y").size(), 1u);
  EXPECT_EQ(inf.store().byIndex("owner", "y")[0]->body,
            client.peek(kConfigMaps, {"a", "one"})->body);
  EXPECT_EQ(inf.store().keys(), freshListKeys(client));
}

TEST(Informer, AMetadataOnlyCacheKeepsNoObjectButHandlersGetTheFullOnes) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  client.seed(kConfigMaps, configMap("a", "one", {{"owner", "x"}}, "1"));
  InformerOptions opts;
  opts.metadataOnly = true;
  Informer inf(client, kConfigMaps, clock, opts);
  inf.addIndexer("owner", indexByLabel("owner"));
  std::mutex mu;  // the handlers run on the informer's thread
  std::vector<ObjectPtr> added, updatedOld, updatedNew;
  EventHandler h;
  h.onAdd = [&](const ObjectPtr& o) {
    std::lock_guard<std::mutex> g(mu);
    added.push_back(o);
  };
  h.onUpdate = [&](const ObjectPtr& o, const ObjectPtr& n) {
    std::lock_guard<std::mutex> g(mu);
    updatedOld.push_back(o);
    updatedNew.push_back(n);
  };
  inf.addEventHandler(h);
  inf.start();
  ASSERT_TRUE(inf.waitForSync(3s));
  ASSERT_TRUE(eventually([&] { return client.openWatches() == 1; }));
  ASSERT_EQ(added.size(), 1u);
  EXPECT_EQ(added[0]->body, client.peek(kConfigMaps, {"a", "one"})->body);
  // The store answers with the metadata: what a handler needs to tell versions apart.
  auto cached = inf.store().get({"a", "one"});
  ASSERT_NE(cached, nullptr);
  EXPECT_EQ(cached->body, (nlohmann::json{{"apiVersion", "v1"},
                                          {"kind", "ConfigMap"},
                                          {"metadata",
                                           {{"name", "one"},
                                            {"namespace", "a"},
                                            {"resourceVersion", added[0]->resourceVersion()}}}}));

  ASSERT_TRUE(client.patch(kConfigMaps, {"a", "one"}, kube::PatchType::Merge,
                           {{"metadata", {{"labels", {{"owner", "y"}}}}}}));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> g(mu);
    return updatedNew.size() == 1;
  }));
  std::lock_guard<std::mutex> g(mu);
  EXPECT_EQ(inf.store().keysByIndex("owner", "y").size(), 1u);
  EXPECT_TRUE(inf.store().keysByIndex("owner", "x").empty()) << "un-indexed without the object";
  EXPECT_EQ(updatedNew[0]->body, client.peek(kConfigMaps, {"a", "one"})->body);
  EXPECT_EQ(updatedOld[0]->resourceVersion(), added[0]->resourceVersion());
  EXPECT_NE(updatedOld[0]->resourceVersion(), updatedNew[0]->resourceVersion());
  ASSERT_TRUE(client.remove(kConfigMaps, {"a", "one"}));
  ASSERT_TRUE(eventually([&] { return inf.store().size() == 0; }));
  EXPECT_TRUE(inf.store().keysByIndex("owner", "y").empty());
}

TEST(Informer, AsksTheClientToDropManagedFieldsUnlessTheyAreKept) {
  for (bool keep : {false, true}) {
    SCOPED_TRACE(keep ? "keepManagedFields" : "default");
    FakeClock clock(kStart);
    FakeClient client(&clock);
    auto withFields = configMap("a", "m");
    withFields.body["metadata"]["managedFields"] = {{{"manager", "kubectl"}}};
    client.seed(kConfigMaps, withFields);
    InformerOptions opts;
    opts.keepManagedFields = keep;
    Informer inf(client, kConfigMaps, clock, opts);
    inf.start();
    ASSERT_TRUE(inf.waitForSync(3s));
    ASSERT_TRUE(eventually([&] { return client.openWatches() == 1; }));
    int asked = 0;
    for (const auto& a : client.actions()) {
      if (a.verb == "list" || a.verb == "watch") {
        EXPECT_EQ(a.body.value("dropManagedFields", false), !keep) << a.verb;
        ++asked;
      }
    }
    EXPECT_EQ(asked, 2);
    // The fake client ignores the option: the informer strips them itself then, and the
    // object is otherwise the one the server holds.
    auto stored = inf.store().get({"a", "m"});
    ASSERT_NE(stored, nullptr);
    auto expected = client.peek(kConfigMaps, {"a", "m"})->body;
    if (!keep) expected["metadata"].erase("managedFields");
    EXPECT_EQ(stored->body, expected);
  }
}

struct CacheMode {
  const char* name;
  bool compact;
  bool metadataOnly = false;
};
void PrintTo(const CacheMode& m, std::ostream* os) { *os << m.name; }

class InformerCache : public ::testing::TestWithParam<CacheMode> {};

TEST_P(InformerCache, ARelistLeavesTheIndexEqualToOneBuiltFromAFreshList) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  for (int i = 0; i < 30; ++i) {
    client.seed(kConfigMaps, configMap(i % 2 ? "a" : "b", "cm-" + std::to_string(i),
                                       {{"owner", "o" + std::to_string(i % 3)}}));
  }
  InformerOptions opts;
  opts.compactCache = GetParam().compact;
  opts.metadataOnly = GetParam().metadataOnly;
  opts.pageSize = 7;  // several pages
  Informer inf(client, kConfigMaps, clock, opts);
  inf.addIndexer("owner", indexByLabel("owner"));
  Recorder rec;
  inf.addEventHandler(rec.handler());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(3s));
  ASSERT_TRUE(eventually([&] { return client.openWatches() == 1; }));
  rec.clear();

  // While no watch runs: some objects go, some move to another owner, new ones come; then
  // the history is compacted away and the informer has to relist.
  client.closeWatches();
  ASSERT_TRUE(eventually([&] { return client.openWatches() == 0; }));
  for (int i = 0; i < 30; i += 4) {
    ASSERT_TRUE(client.remove(kConfigMaps, {i % 2 ? "a" : "b", "cm-" + std::to_string(i)}));
  }
  for (int i = 1; i < 30; i += 6) {
    ASSERT_TRUE(client.patch(kConfigMaps, {i % 2 ? "a" : "b", "cm-" + std::to_string(i)},
                             kube::PatchType::Merge,
                             {{"metadata", {{"labels", {{"owner", "o9"}}}}}}));
  }
  ASSERT_TRUE(client.create(kConfigMaps, configMap("c", "new", {{"owner", "o0"}})));
  client.compact();
  ASSERT_TRUE(testutil::advanceUntil(clock, 200ms, 2s, [&] { return inf.stats().lists == 2; }));

  EXPECT_EQ(inf.store().keys(), freshListKeys(client));
  auto fresh = client.list(kConfigMaps, "");
  ASSERT_TRUE(fresh.has_value());
  for (const char* owner : {"o0", "o1", "o2", "o9"}) {
    SCOPED_TRACE(owner);
    std::vector<std::string> want, got;
    for (const auto& o : fresh->items) {
      if (o.labels()["owner"] == owner) want.push_back(o.key().toString());
    }
    std::sort(want.begin(), want.end());
    for (const auto& o : inf.store().byIndex("owner", owner)) {
      got.push_back(o->key().toString());
      auto server = client.peek(kConfigMaps, o->key());
      if (GetParam().metadataOnly) {
        EXPECT_EQ(o->resourceVersion(), server->resourceVersion());
        EXPECT_EQ(o->kind(), "ConfigMap");
      } else {
        EXPECT_EQ(o->body, server->body);
      }
    }
    EXPECT_EQ(got, want);  // byIndex answers in key order
    std::vector<std::string> keys;
    for (const auto& k : inf.store().keysByIndex("owner", owner)) keys.push_back(k.toString());
    EXPECT_EQ(keys, want) << "keysByIndex: the same keys, in the same order";
  }
  EXPECT_TRUE(inf.store().keysByIndex("owner", "nobody").empty());
  EXPECT_TRUE(inf.store().keysByIndex("no-such-index", "o0").empty());
  // 8 removed, 5 changed, 1 new; deletions of the relist come in key order.
  auto events = rec.events();
  std::vector<std::string> deletes;
  for (const auto& e : events) {
    if (e.rfind("delete ", 0) == 0) deletes.push_back(e);
  }
  EXPECT_EQ(deletes.size(), 8u);
  EXPECT_TRUE(std::is_sorted(deletes.begin(), deletes.end()));
  EXPECT_EQ(events.size(), 14u);
}

INSTANTIATE_TEST_SUITE_P(Modes, InformerCache,
                         ::testing::Values(CacheMode{"Shared", false}, CacheMode{"Compact", true},
                                           CacheMode{"MetadataOnly", false, true}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace kubegrant::runtime
