#include "operator/manager/setup.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "operator/common/base64.h"
#include "operator/runtime/testing/fake_client.h"
#include "tests/unit/access_request/fixtures.h"
#include "tests/unit/runtime/test_util.h"

namespace kubegrant::manager {
namespace {

using namespace std::chrono_literals;
using controllers::access_request::testing::makePolicy;
using controllers::access_request::testing::makeRequest;
using runtime::testing::FakeAction;
using runtime::testing::FakeClient;
using runtime::testutil::advanceUntil;
using runtime::testutil::eventually;

// kubegrant as main.cc wires it, against the fake client, with no servers.
Flags quietFlags() {
  Flags f;
  f.webhookPort = 0;
  f.healthAddr = "0";
  f.metricsAddr = "0";
  f.leaderElect = false;
  f.operatorIdentity = "kubegrant-operator";
  return f;
}

// The seal keys Secret every replica reads (operator/deploy/seal-keys.sh new).
kube::Object sealKeysSecret() {
  return kube::Object(nlohmann::json{
      {"apiVersion", "v1"},
      {"kind", "Secret"},
      {"metadata", {{"name", "kubegrant-seal-keys"}, {"namespace", "kubegrant-system"}}},
      {"data", {{"keys", base64Encode("k1 " + base64Encode(std::string(32, 'k')) + "\n")}}}});
}

std::vector<FakeAction> requestWrites(FakeClient& client) {
  std::vector<FakeAction> out;
  for (const auto& a : client.writes()) {
    if (a.resource == "accessrequests.kubegrant.io") out.push_back(a);
  }
  return out;
}

TEST(Setup, NoRequestIsReconciledBeforeThePolicyCacheSynced) {
  FakeClock clock(WallClock::from_time_t(1'800'000'000));
  FakeClient client(&clock);
  client.enableStatusSubresource(kube::resources::accessRequests());
  client.seed(kube::resources::accessPolicies(), kube::Object(makePolicy()));
  client.seed(kube::resources::accessRequests(), kube::Object(makeRequest()));
  client.seed(kube::resources::secrets(), sealKeysSecret());
  // Policies cannot be listed yet: reconciling now would judge requests without the cache
  // that says which policies exist.
  std::atomic<bool> policiesListable{false};
  client.addReactor([&](const FakeAction& a) -> std::optional<Error> {
    if (a.verb == "list" && a.resource == "accesspolicies.kubegrant.io" && !policiesListable) {
      return makeError(ErrorCode::Unavailable, "not yet");
    }
    return std::nullopt;
  });
  const Flags flags = quietFlags();
  runtime::Manager mgr(client, clock, managerOptions(flags));
  ASSERT_TRUE(setupOperator(mgr, clock, nullptr, flags));
  auto run = std::async(std::launch::async, [&] { return mgr.run(); });

  ASSERT_TRUE(
      eventually([&] { return mgr.informer(kube::resources::accessRequests()).hasSynced(); }));
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(requestWrites(client).empty()) << "reconciled before every cache synced";

  policiesListable = true;
  ASSERT_TRUE(advanceUntil(clock, 1s, 60s, [&] { return !requestWrites(client).empty(); }));
  mgr.stop();
  auto r = run.get();
  EXPECT_TRUE(r.has_value()) << r.error().describe();
}

TEST(Setup, ThereIsNoBuiltInOperatorIdentity) {
  FakeClock clock(WallClock::from_time_t(1'800'000'000));
  FakeClient client(&clock);
  Flags flags = quietFlags();
  flags.operatorIdentity.clear();  // and no ServiceAccount token outside a cluster
  runtime::Manager mgr(client, clock, managerOptions(flags));
  auto r = setupOperator(mgr, clock, nullptr, flags);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind("--operator-identity: required outside a cluster", 0), 0u)
      << r.error().message;
}

}  // namespace
}  // namespace kubegrant::manager
