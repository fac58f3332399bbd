// The informer against the real kube-apiserver: events, store == fresh list, and recovery
// (relist) after the API server restarts.

#include <fcntl.h>
#include <signal.h>

#include <fstream>
#include <mutex>
#include <set>

#include "operator/common/clock.h"
#include "operator/runtime/informer.h"
#include "tests/integration/runtime/it_util.h"
#include "tests/support/spawn.h"

namespace kubegrant::runtime {
namespace {

using namespace std::chrono_literals;
using it::configMap;
using it::eventually;

const kube::ResourceRef kConfigMaps = kube::resources::configMaps();

class Recorder {
 public:
  EventHandler handler() {
    EventHandler h;
    h.onAdd = [this](const ObjectPtr& o) { push("add " + o->name()); };
    h.onUpdate = [this](const ObjectPtr& a, const ObjectPtr& o) {
      if (a->resourceVersion() != o->resourceVersion()) push("update " + o->name());
    };
    h.onDelete = [this](const ObjectPtr& o) { push("delete " + o->name()); };
    return h;
  }
  std::vector<std::string> events() const {
    std::lock_guard<std::mutex> g(mu_);
    return events_;
  }
  bool has(const std::string& e) const {
    auto v = events();
    return std::find(v.begin(), v.end(), e) != v.end();
  }

 private:
  void push(std::string s) {
    std::lock_guard<std::mutex> g(mu_);
    events_.push_back(std::move(s));
  }
  mutable std::mutex mu_;
  std::vector<std::string> events_;
};

// name -> resourceVersion of a fresh list, and of the informer's store.
std::map<std::string, std::string> freshList(kube::Client& client, const std::string& ns) {
  std::map<std::string, std::string> out;
  auto l = client.list(kConfigMaps, ns);
  EXPECT_TRUE(l.has_value()) << l.error().describe();
  if (!l) return out;
  for (const auto& o : l->items) out[o.name()] = o.resourceVersion();
  return out;
}
std::map<std::string, std::string> storeContents(const Informer& inf) {
  std::map<std::string, std::string> out;
  for (const auto& o : inf.store().list()) out[o->name()] = o->resourceVersion();
  return out;
}

class InformerIT : public ::testing::Test {
 protected:
  void SetUp() override {
    auto envOpt = testing::requireEnv();
    ASSERT_TRUE(envOpt.has_value());
    env_ = *envOpt;
    client_ = it::clientFor(env_);
    ASSERT_NE(client_, nullptr);
    ns_ = it::createNamespace(*client_, "rt-informer");
    ASSERT_FALSE(ns_.empty());
  }
  void TearDown() override {
    if (client_) it::deleteNamespace(*client_, ns_);
  }
  testing::TestEnv env_;
  std::unique_ptr<kube::Client> client_;
  std::string ns_;
  SystemClock clock_;
};

TEST_F(InformerIT, SeesAddUpdateDeleteAndItsStoreEqualsAFreshList) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client_->create(kConfigMaps, configMap(ns_, "pre-" + std::to_string(i))));
  }
  InformerOptions opts;
  opts.namespace_ = ns_;
  opts.pageSize = 2;  // exercises pagination against the real server
  Informer inf(*client_, kConfigMaps, clock_, opts);
  inf.addIndexer("value", [](const kube::Object& o) -> std::vector<std::string> {
    if (!o.body.contains("data") || !o.body["data"].contains("key")) return {};
    return {o.body["data"]["key"].get<std::string>()};
  });
  Recorder rec;
  inf.addEventHandler(rec.handler());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  EXPECT_EQ(inf.store().size(), 5u);

  ASSERT_TRUE(client_->create(kConfigMaps, configMap(ns_, "added")));
  auto pre0 = client_->get(kConfigMaps, {ns_, "pre-0"});
  ASSERT_TRUE(pre0);
  pre0->body["data"]["key"] = "changed";
  ASSERT_TRUE(client_->update(kConfigMaps, *pre0));
  ASSERT_TRUE(client_->remove(kConfigMaps, {ns_, "pre-1"}));

  ASSERT_TRUE(eventually(
      [&] { return rec.has("add added") && rec.has("update pre-0") && rec.has("delete pre-1"); },
      10s))
      << ::testing::PrintToString(rec.events());
  ASSERT_TRUE(eventually([&] { return storeContents(inf) == freshList(*client_, ns_); }, 10s));
  EXPECT_EQ(inf.store().get({ns_, "pre-0"})->body["data"]["key"], "changed");
  auto changed = inf.store().byIndex("value", "changed");
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0]->name(), "pre-0");
  EXPECT_EQ(inf.store().get({ns_, "pre-1"}), nullptr);
  EXPECT_EQ(inf.stats().lists, 1u);
}

// The AccessRequest informer's mode (the typed store holds the objects): against the real
// server the store follows adds, updates and deletes with keys, resourceVersions and index
// entries only, while handlers get every object in full.
TEST_F(InformerIT, AMetadataOnlyCacheFollowsTheServerWithKeysAndIndexesOnly) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client_->create(kConfigMaps, configMap(ns_, "pre-" + std::to_string(i), "old")));
  }
  InformerOptions opts;
  opts.namespace_ = ns_;
  opts.pageSize = 2;
  opts.metadataOnly = true;
  Informer inf(*client_, kConfigMaps, clock_, opts);
  inf.addIndexer("value", [](const kube::Object& o) -> std::vector<std::string> {
    if (!o.body.contains("data") || !o.body["data"].contains("key")) return {};
    return {o.body["data"]["key"].get<std::string>()};
  });
  std::mutex mu;
  std::map<std::string, std::string> lastSeenValue;  // by the handlers: full objects
  EventHandler h;
  h.onAdd = [&](const ObjectPtr& o) {
    std::lock_guard<std::mutex> g(mu);
    lastSeenValue[o->name()] = o->body["data"]["key"].get<std::string>();
  };
  h.onUpdate = [&](const ObjectPtr&, const ObjectPtr& o) {
    std::lock_guard<std::mutex> g(mu);
    lastSeenValue[o->name()] = o->body["data"]["key"].get<std::string>();
  };
  inf.addEventHandler(h);
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  EXPECT_EQ(inf.store().keysByIndex("value", "old").size(), 5u);

  ASSERT_TRUE(client_->create(kConfigMaps, configMap(ns_, "added", "new")));
  auto pre0 = client_->get(kConfigMaps, {ns_, "pre-0"});
  ASSERT_TRUE(pre0);
  pre0->body["data"]["key"] = "new";
  ASSERT_TRUE(client_->update(kConfigMaps, *pre0));
  ASSERT_TRUE(client_->remove(kConfigMaps, {ns_, "pre-1"}));

  ASSERT_TRUE(eventually([&] { return storeContents(inf) == freshList(*client_, ns_); }, 10s));
  std::vector<std::string> keys;
  for (const auto& k : inf.store().keysByIndex("value", "new")) keys.push_back(k.name);
  EXPECT_EQ(keys, (std::vector<std::string>{"added", "pre-0"}));
  EXPECT_EQ(inf.store().keysByIndex("value", "old").size(), 3u);
  // What the store answers with: the metadata, no data.
  auto cached = inf.store().get({ns_, "pre-0"});
  ASSERT_NE(cached, nullptr);
  EXPECT_FALSE(cached->body.contains("data"));
  EXPECT_EQ(cached->resourceVersion(),
            client_->get(kConfigMaps, {ns_, "pre-0"})->resourceVersion());
  std::lock_guard<std::mutex> g(mu);
  EXPECT_EQ(lastSeenValue["pre-0"], "new");
  EXPECT_EQ(lastSeenValue["added"], "new");
}

// Forwards to the real client, but can end the informer's current watch and make its next
// one start from resourceVersion "1", far older than the API server's watch cache: the real
// server answers 410 Gone ("too old resource version"), as it does after a compaction. The
// next watch waits for open() so the test can change objects in between.
class StaleWatchClient : public kube::Client {
 public:
  explicit StaleWatchClient(kube::Client& inner) : inner_(inner) {}

  void endCurrentWatchAndGoStale() {
    std::lock_guard<std::mutex> g(mu_);
    staleNext_ = true;
    gateOpen_ = false;
    if (current_ != nullptr) current_->request_stop();
  }
  void open() {
    std::lock_guard<std::mutex> g(mu_);
    gateOpen_ = true;
    cv_.notify_all();
  }
  int waitingAtGate() const {
    std::lock_guard<std::mutex> g(mu_);
    return waiting_;
  }

  Result<kube::Object> get(const kube::ResourceRef& r, const kube::ObjectKey& k) override {
    return inner_.get(r, k);
  }
  Result<kube::ObjectList> list(const kube::ResourceRef& r, std::string_view ns,
                                const kube::ListOptions& o) override {
    return inner_.list(r, ns, o);
  }
  Result<kube::Object> create(const kube::ResourceRef& r, const kube::Object& o,
                              const kube::WriteOptions& w) override {
    return inner_.create(r, o, w);
  }
  Result<kube::Object> update(const kube::ResourceRef& r, const kube::Object& o,
                              const kube::WriteOptions& w) override {
    return inner_.update(r, o, w);
  }
  Result<kube::Object> updateStatus(const kube::ResourceRef& r, const kube::Object& o,
                                    const kube::WriteOptions& w) override {
    return inner_.updateStatus(r, o, w);
  }
  Result<kube::Object> patch(const kube::ResourceRef& r, const kube::ObjectKey& k,
                             kube::PatchType t, const nlohmann::json& p,
                             const kube::PatchOptions& o) override {
    return inner_.patch(r, k, t, p, o);
  }
  Result<kube::DeleteResult> remove(const kube::ResourceRef& r, const kube::ObjectKey& k,
                                    const kube::DeleteOptions& o) override {
    return inner_.remove(r, k, o);
  }
  Result<nlohmann::json> getRaw(std::string_view p) override { return inner_.getRaw(p); }
  Result<nlohmann::json> postRaw(std::string_view p, const nlohmann::json& b) override {
    return inner_.postRaw(p, b);
  }
  Result<void> watch(const kube::ResourceRef& r, std::string_view ns, const kube::WatchOptions& o,
                     const kube::WatchHandler& h, std::stop_token stop) override {
    kube::WatchOptions opts = o;
    std::stop_source local;
    std::stop_callback forward(stop, [&] {
      local.request_stop();
      std::lock_guard<std::mutex> g(mu_);
      cv_.notify_all();
    });
    {
      std::unique_lock<std::mutex> lk(mu_);
      if (staleNext_) {
        staleNext_ = false;
        ++waiting_;
        cv_.wait(lk, [&] { return gateOpen_ || stop.stop_requested(); });
        --waiting_;
        opts.resourceVersion = "1";
      }
      current_ = &local;
    }
    auto result = inner_.watch(r, ns, opts, h, local.get_token());
    std::lock_guard<std::mutex> g(mu_);
    current_ = nullptr;
    return result;
  }

 private:
  kube::Client& inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool staleNext_ = false;
  bool gateOpen_ = true;
  int waiting_ = 0;
  std::stop_source* current_ = nullptr;
};

TEST_F(InformerIT, CachesObjectsAsTheServerHasThemExceptForManagedFields) {
  // kubectl apply leaves the last-applied-configuration annotation (client-go keeps it, so
  // must we) next to its managedFields entry.
  const std::string manifest = nlohmann::json{
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata", {{"name", "applied"}, {"namespace", ns_}, {"labels", {{"app", "web"}}}}},
      {"data", {{"a", "1"}}}}.dump();
  auto applied = testing::kubectl(env_, "admin", {"apply", "-f", "-"}, manifest);
  ASSERT_EQ(applied.exitCode, 0) << applied.err;
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(client_->create(kConfigMaps, configMap(ns_, "cm-" + std::to_string(i))));
  }
  InformerOptions opts;
  opts.namespace_ = ns_;
  opts.pageSize = 3;  // several streamed pages
  Informer inf(*client_, kConfigMaps, clock_, opts);
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  // One more through the watch.
  ASSERT_TRUE(client_->create(kConfigMaps, configMap(ns_, "watched")));
  ASSERT_TRUE(eventually([&] { return inf.store().get({ns_, "watched"}) != nullptr; }, 10s));

  auto fresh = client_->list(kConfigMaps, ns_);
  ASSERT_TRUE(fresh.has_value()) << fresh.error().describe();
  ASSERT_EQ(fresh->items.size(), 9u);
  ASSERT_EQ(inf.store().size(), 9u);
  for (const auto& o : fresh->items) {
    SCOPED_TRACE(o.name());
    auto cached = inf.store().get(o.key());
    ASSERT_NE(cached, nullptr);
    ASSERT_TRUE(o.body["metadata"].contains("managedFields"));  // the server sends them
    nlohmann::json expected = o.body;
    expected["metadata"].erase("managedFields");
    EXPECT_EQ(cached->body, expected);
  }
  auto cachedApplied = inf.store().get({ns_, "applied"});
  ASSERT_NE(cachedApplied, nullptr);
  EXPECT_EQ(cachedApplied->annotations().count("kubectl.kubernetes.io/last-applied-configuration"),
            1u);
  inf.stop();

  // keepManagedFields keeps them.
  opts.keepManagedFields = true;
  Informer keeping(*client_, kConfigMaps, clock_, opts);
  keeping.start();
  ASSERT_TRUE(keeping.waitForSync(10s));
  for (const auto& o : fresh->items) {
    auto cached = keeping.store().get(o.key());
    ASSERT_NE(cached, nullptr);
    EXPECT_EQ(cached->body, o.body) << o.name();
  }
}

TEST_F(InformerIT, A410GoneFromTheServerMakesItRelistAndDeliverTheDifference) {
  for (const char* n : {"keep", "vanish", "change"}) {
    ASSERT_TRUE(client_->create(kConfigMaps, configMap(ns_, n)));
  }
  StaleWatchClient stale(*client_);
  InformerOptions opts;
  opts.namespace_ = ns_;
  opts.initialBackoff = 100ms;
  Informer inf(stale, kConfigMaps, clock_, opts);
  Recorder rec;
  inf.addEventHandler(rec.handler());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));

  stale.endCurrentWatchAndGoStale();
  ASSERT_TRUE(eventually([&] { return stale.waitingAtGate() == 1; }, 10s));
  // Changes the informer can only learn about from the relist.
  ASSERT_TRUE(client_->remove(kConfigMaps, {ns_, "vanish"}));
  auto c = client_->get(kConfigMaps, {ns_, "change"});
  ASSERT_TRUE(c);
  c->body["data"]["key"] = "changed";
  ASSERT_TRUE(client_->update(kConfigMaps, *c));
  ASSERT_TRUE(client_->create(kConfigMaps, configMap(ns_, "appear")));
  stale.open();

  ASSERT_TRUE(eventually([&] { return inf.stats().goneRelists == 1; }, 10s))
      << "the real server did not answer 410 to a watch from resourceVersion 1";
  ASSERT_TRUE(eventually([&] { return storeContents(inf) == freshList(*client_, ns_); }, 10s));
  EXPECT_EQ(inf.stats().lists, 2u);
  EXPECT_TRUE(rec.has("delete vanish")) << ::testing::PrintToString(rec.events());
  EXPECT_TRUE(rec.has("update change"));
  EXPECT_TRUE(rec.has("add appear"));
  // Watching again from the new list.
  ASSERT_TRUE(client_->create(kConfigMaps, configMap(ns_, "later")));
  ASSERT_TRUE(eventually([&] { return rec.has("add later"); }, 10s));
}

std::string readFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Kills kube-apiserver (kill -9; its PID is in DIR/pids) and starts it again with the same
// command line, in its own session, logging where up.sh logs, and records the new PID so
// tests/controlplane/down.sh stops it. (Re-running up.sh would also bring it back, but it
// may pick a new port while the old one still has TIME_WAIT sockets, and a client with the
// old URL could then never recover.)
void restartApiServer(const testing::TestEnv& env) {
  const std::string pidFile = env.dir + "/pids/kube-apiserver.pid";
  std::string pidText = readFile(pidFile);
  ASSERT_FALSE(pidText.empty()) << "no kube-apiserver pid in " << pidFile;
  pid_t pid = static_cast<pid_t>(std::stol(pidText));
  std::string cmdline = readFile("/proc/" + std::to_string(pid) + "/cmdline");
  ASSERT_FALSE(cmdline.empty()) << "kube-apiserver pid " << pid << " is not running";
  std::vector<std::string> argv;
  for (size_t start = 0; start < cmdline.size();) {
    size_t end = cmdline.find('\0', start);
    if (end == std::string::npos) end = cmdline.size();
    argv.push_back(cmdline.substr(start, end - start));
    start = end + 1;
  }
  ASSERT_NE(argv[0].find("kube-apiserver"), std::string::npos) << argv[0];
  ASSERT_EQ(::kill(pid, SIGKILL), 0) << "cannot kill kube-apiserver pid " << pid;
  ASSERT_TRUE(eventually([&] { return ::kill(pid, 0) != 0; }, 10s));

  const std::string log = env.dir + "/logs/kube-apiserver.log";
  const pid_t child = ::kubegrant::testing::Spawn(argv)
                          .open(0, "/dev/null", O_RDONLY)
                          .open(1, log, O_WRONLY | O_CREAT | O_APPEND)
                          .dup(1, 2)
                          .newSession()
                          .start();
  ASSERT_GT(child, 0) << "cannot start kube-apiserver again";
  std::ofstream(pidFile) << child << "\n";

  auto probe = it::clientFor(env);
  ASSERT_NE(probe, nullptr);
  ASSERT_TRUE(
      eventually([&] { return probe->list(kube::resources::namespaces(), "").has_value(); }, 120s))
      << "kube-apiserver did not come back";
}

TEST_F(InformerIT, RecoversAfterTheApiServerRestartsAndRelistsConsistently) {
  for (const char* n : {"keep", "remove-while-away", "change-while-away"}) {
    ASSERT_TRUE(client_->create(kConfigMaps, configMap(ns_, n)));
  }
  InformerOptions opts;
  opts.namespace_ = ns_;
  opts.initialBackoff = 200ms;
  opts.maxBackoff = 2s;
  Informer inf(*client_, kConfigMaps, clock_, opts);
  Recorder rec;
  inf.addEventHandler(rec.handler());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  ASSERT_EQ(inf.store().size(), 3u);
  // A write elsewhere moves etcd past the informer's resourceVersion, so that the restarted
  // API server's watch cache starts after it and answers the resumed watch with 410 Gone.
  std::string other = it::createNamespace(*client_, "rt-informer-bump");

  ASSERT_NO_FATAL_FAILURE(restartApiServer(env_));
  auto fresh = it::clientFor(env_);
  ASSERT_NE(fresh, nullptr);

  // Changes before the informer is back: it must notice them through the relist or the
  // resumed watch, and deliver the deletion.
  ASSERT_TRUE(fresh->remove(kConfigMaps, {ns_, "remove-while-away"}));
  auto c = fresh->get(kConfigMaps, {ns_, "change-while-away"});
  ASSERT_TRUE(c);
  c->body["data"]["key"] = "changed";
  ASSERT_TRUE(fresh->update(kConfigMaps, *c));
  ASSERT_TRUE(fresh->create(kConfigMaps, configMap(ns_, "added-while-away")));

  ASSERT_TRUE(eventually([&] { return storeContents(inf) == freshList(*fresh, ns_); }, 60s))
      << ::testing::PrintToString(storeContents(inf)) << " vs "
      << ::testing::PrintToString(freshList(*fresh, ns_));
  EXPECT_TRUE(rec.has("delete remove-while-away")) << ::testing::PrintToString(rec.events());
  EXPECT_TRUE(rec.has("update change-while-away"));
  EXPECT_TRUE(rec.has("add added-while-away"));
  auto s = inf.stats();
  std::cout << "informer after restart: lists=" << s.lists << " watches=" << s.watches
            << " goneRelists=" << s.goneRelists << " errors=" << s.errors << "\n";
  EXPECT_GE(s.watches, 2u) << "the watch was resumed or restarted";

  // And it keeps following changes.
  ASSERT_TRUE(fresh->create(kConfigMaps, configMap(ns_, "after-recovery")));
  ASSERT_TRUE(eventually([&] { return rec.has("add after-recovery"); }, 10s));
  it::deleteNamespace(*fresh, other);
}

}  // namespace
}  // namespace kubegrant::runtime
