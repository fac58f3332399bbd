// The finalizer helper and the event recorder against the real kube-apiserver.

#include "operator/common/clock.h"
#include "operator/runtime/event_recorder.h"
#include "operator/runtime/finalizer.h"
#include "tests/integration/runtime/it_util.h"

namespace kubegrant::runtime {
namespace {

using namespace std::chrono_literals;
using it::configMap;

const kube::ResourceRef kConfigMaps = kube::resources::configMaps();
constexpr const char* kOurs = "kubegrant.io/revoke-grants";
constexpr const char* kForeign = "example.com/keep-me";

class FinalizerIT : public ::testing::Test {
 protected:
  void SetUp() override {
    auto envOpt = testing::requireEnv();
    ASSERT_TRUE(envOpt.has_value());
    env_ = *envOpt;
    client_ = it::clientFor(env_);
    ASSERT_NE(client_, nullptr);
    ns_ = it::createNamespace(*client_, "rt-finalizer");
    ASSERT_FALSE(ns_.empty());
  }
  void TearDown() override {
    if (client_) it::deleteNamespace(*client_, ns_);
  }
  kube::Object read(const std::string& name) {
    auto o = client_->get(kConfigMaps, {ns_, name});
    EXPECT_TRUE(o.has_value()) << o.error().describe();
    return o ? *o : kube::Object();
  }
  Result<Action> run(const kube::Object& obj) {
    return reconcileWithFinalizer(
        *client_, kConfigMaps, obj, kOurs,
        [&](const kube::Object&) -> Result<Action> {
          ++applied_;
          return Action::requeueAfter(1min);
        },
        [&](const kube::Object&) -> Result<void> {
          ++cleaned_;
          return cleanupResult_;
        });
  }

  testing::TestEnv env_;
  std::unique_ptr<kube::Client> client_;
  std::string ns_;
  int applied_ = 0;
  int cleaned_ = 0;
  Result<void> cleanupResult_ = ok();
};

TEST_F(FinalizerIT, AddsAndRemovesOnlyItsOwnFinalizerNextToAForeignOne) {
  auto cm = configMap(ns_, "guarded");
  cm.setFinalizers({kForeign});
  ASSERT_TRUE(client_->create(kConfigMaps, cm));

  auto r = run(read("guarded"));
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(applied_, 0) << "the finalizer goes on first";
  EXPECT_EQ(read("guarded").finalizers(), (std::vector<std::string>{kForeign, kOurs}));

  r = run(read("guarded"));
  ASSERT_TRUE(r);
  EXPECT_EQ(applied_, 1);
  EXPECT_EQ(*r, Action::requeueAfter(1min));

  ASSERT_TRUE(client_->remove(kConfigMaps, {ns_, "guarded"}));
  auto deleting = read("guarded");
  ASSERT_TRUE(deleting.isBeingDeleted());

  cleanupResult_ = fail(ErrorCode::Unavailable, "database unreachable");
  r = run(deleting);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(read("guarded").finalizers(), (std::vector<std::string>{kForeign, kOurs}))
      << "a failed cleanup keeps the finalizer";

  cleanupResult_ = ok();
  r = run(read("guarded"));
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(cleaned_, 2);
  EXPECT_EQ(read("guarded").finalizers(), std::vector<std::string>{kForeign})
      << "the foreign finalizer stays; the object waits for it";

  // The other party finishes: the object goes.
  ASSERT_TRUE(client_->patch(kConfigMaps, {ns_, "guarded"}, kube::PatchType::Merge,
                             {{"metadata", {{"finalizers", nullptr}}}}));
  auto gone = client_->get(kConfigMaps, {ns_, "guarded"});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::NotFound);
}

TEST_F(FinalizerIT, AddsTheFirstFinalizerToAnObjectWithNone) {
  ASSERT_TRUE(client_->create(kConfigMaps, configMap(ns_, "bare")));
  auto r = run(read("bare"));
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(read("bare").finalizers(), std::vector<std::string>{kOurs});
  ASSERT_TRUE(client_->remove(kConfigMaps, {ns_, "bare"}));
  ASSERT_TRUE(run(read("bare")));
  EXPECT_FALSE(client_->get(kConfigMaps, {ns_, "bare"}).has_value()) << "our finalizer was last";
}

TEST_F(FinalizerIT, AStaleReadNeverClobbersAConcurrentFinalizerChange) {
  auto cm = configMap(ns_, "raced");
  cm.setFinalizers({kForeign});
  ASSERT_TRUE(client_->create(kConfigMaps, cm));
  auto stale = read("raced");
  // Another party adds its finalizer after our read.
  ASSERT_TRUE(client_->patch(
      kConfigMaps, {ns_, "raced"}, kube::PatchType::Json,
      nlohmann::json::array(
          {{{"op", "add"}, {"path", "/metadata/finalizers/-"}, {"value", "example.com/second"}}})));
  auto r = run(stale);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::Conflict) << r.error().describe();
  EXPECT_EQ(read("raced").finalizers(), (std::vector<std::string>{kForeign, "example.com/second"}));
  // From a fresh read it succeeds and keeps both.
  ASSERT_TRUE(run(read("raced")));
  EXPECT_EQ(read("raced").finalizers(),
            (std::vector<std::string>{kForeign, "example.com/second", kOurs}));
  // Clean up so the namespace can go.
  ASSERT_TRUE(client_->patch(kConfigMaps, {ns_, "raced"}, kube::PatchType::Merge,
                             {{"metadata", {{"finalizers", nullptr}}}}));
}

TEST_F(FinalizerIT, EventsAreWrittenAndRepeatsAggregated) {
  auto created = client_->create(kConfigMaps, configMap(ns_, "subject"));
  ASSERT_TRUE(created);
  SystemClock clock;
  KubeEventRecorder rec(*client_, clock);
  rec.event(*created, EventType::Warning, "GrantFailed", "database unreachable");
  rec.event(*created, EventType::Warning, "GrantFailed", "database unreachable");
  rec.event(*created, EventType::Normal, "Granted", "granted until 10:00");
  auto evs = client_->list(kube::resources::events(), ns_);
  ASSERT_TRUE(evs) << evs.error().describe();
  ASSERT_EQ(evs->items.size(), 2u);
  std::map<std::string, nlohmann::json> byReason;
  for (const auto& e : evs->items) byReason[e.body["reason"]] = e.body;
  EXPECT_EQ(byReason["GrantFailed"]["count"], 2);
  EXPECT_EQ(byReason["GrantFailed"]["type"], "Warning");
  EXPECT_EQ(byReason["GrantFailed"]["involvedObject"]["uid"], created->uid());
  EXPECT_EQ(byReason["GrantFailed"]["source"]["component"], "kubegrant-operator");
  EXPECT_EQ(byReason["Granted"]["count"], 1);
  // kubectl shows them on the object.
  auto out = testing::kubectl(env_, "admin", {"describe", "configmap", "subject", "-n", ns_});
  EXPECT_NE(out.out.find("GrantFailed"), std::string::npos) << out.out << out.err;
}

}  // namespace
}  // namespace kubegrant::runtime
