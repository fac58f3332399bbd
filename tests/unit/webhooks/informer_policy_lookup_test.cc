#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "crds/v1alpha1/types.h"
#include "operator/kube/object.h"
#include "operator/runtime/informer.h"
#include "operator/runtime/testing/fake_client.h"
#include "operator/runtime/typed_store.h"
#include "webhooks/server/informer_lookup.h"

namespace kubegrant::webhooks {
namespace {

using namespace std::chrono_literals;

kube::Object policyObject(const std::string& name, const std::string& maxDuration) {
  v1alpha1::AccessPolicy p;
  p.metadata.name = name;
  p.spec.requesters.groups = {"payments-devs"};
  p.spec.maxDuration = maxDuration;
  p.spec.approval.approvers.groups = {"payments-leads"};
  return kube::Object(v1alpha1::toJson(p));
}

template <typename Pred>
bool eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TEST(InformerPolicyLookup, ServesDecodedPoliciesFromTheCacheAndFollowsChanges) {
  runtime::testing::FakeClient client;
  auto ref = kube::resources::accessPolicies();
  client.seed(ref, policyObject("payments-oncall", "4h"));
  SystemClock clock;
  runtime::Informer informer(client, ref, clock);
  InformerPolicyLookup::Store policies(informer, [](const kube::Object& o) {
    return v1alpha1::fromJson<v1alpha1::AccessPolicy>(o.body);
  });
  InformerPolicyLookup lookup(policies);
  EXPECT_FALSE(lookup.synced());
  informer.start();
  ASSERT_TRUE(informer.waitForSync(5s));
  EXPECT_TRUE(lookup.synced());

  auto first = lookup.get("payments-oncall");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->spec.maxDuration, "4h");
  // Decoded once per change: every admission request shares it.
  EXPECT_EQ(lookup.get("payments-oncall"), first);
  EXPECT_EQ(lookup.get("nope"), nullptr);

  auto changed = policyObject("payments-oncall", "2h");
  changed.setResourceVersion(client.peek(ref, {"", "payments-oncall"})->resourceVersion());
  ASSERT_TRUE(client.update(ref, changed));
  ASSERT_TRUE(eventually([&] {
    auto p = lookup.get("payments-oncall");
    return p && p->spec.maxDuration == "2h";
  }));
  EXPECT_EQ(first->spec.maxDuration, "4h");  // readers keep the snapshot they got

  ASSERT_TRUE(client.remove(ref, {"", "payments-oncall"}));
  EXPECT_TRUE(eventually([&] { return lookup.get("payments-oncall") == nullptr; }));
  informer.stop();
}

}  // namespace
}  // namespace kubegrant::webhooks
