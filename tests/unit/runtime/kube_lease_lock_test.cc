#include "operator/runtime/kube_lease_lock.h"

#include <gtest/gtest.h>

#include "operator/common/clock.h"
#include "operator/common/time.h"
#include "operator/runtime/leader_election.h"
#include "operator/runtime/testing/fake_client.h"

namespace kubegrant::runtime {
namespace {

using namespace std::chrono_literals;
using testing::FakeClient;

const TimePoint kStart = WallClock::from_time_t(1'800'000'000) + 123456us;

TEST(KubeLeaseLock, AnElectorWritesACoordinationLeaseWithMicroTimes) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  KubeLeaseLock lock(client, "kubegrant-system", "kubegrant-operator");
  LeaderElectionConfig cfg;
  cfg.identity = "pod-a_1234";
  LeaderElector a(lock, clock, cfg);
  ASSERT_TRUE(a.tryAcquireOrRenew());
  auto lease = client.peek(kube::resources::leases(), {"kubegrant-system", "kubegrant-operator"});
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->apiVersion(), "coordination.k8s.io/v1");
  EXPECT_EQ(lease->kind(), "Lease");
  const auto& spec = lease->body["spec"];
  EXPECT_EQ(spec["holderIdentity"], "pod-a_1234");
  EXPECT_EQ(spec["leaseDurationSeconds"], 15);
  EXPECT_EQ(spec["leaseTransitions"], 0);
  EXPECT_EQ(spec["acquireTime"], formatRfc3339Micro(kStart));
  EXPECT_EQ(spec["renewTime"], formatRfc3339Micro(kStart));
  EXPECT_EQ(spec["renewTime"], "2027-01-15T08:00:00.123456Z");

  clock.advance(2s);
  ASSERT_TRUE(a.tryAcquireOrRenew());
  lease = client.peek(kube::resources::leases(), {"kubegrant-system", "kubegrant-operator"});
  EXPECT_EQ(lease->body["spec"]["renewTime"], "2027-01-15T08:00:02.123456Z");
  EXPECT_EQ(lease->body["spec"]["acquireTime"], "2027-01-15T08:00:00.123456Z");
  auto writes = client.writes();
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_EQ(writes[0].verb, "create");
  EXPECT_EQ(writes[1].verb, "update");
  EXPECT_FALSE(writes[1].body["metadata"]["resourceVersion"].get<std::string>().empty())
      << "renewals are guarded by the resourceVersion";
}

TEST(KubeLeaseLock, AStaleResourceVersionIsAConflict) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  KubeLeaseLock lock(client, "ns", "lease");
  ASSERT_TRUE(lock.create({"a", 15, kStart, kStart, 0}));
  auto read = lock.get();
  ASSERT_TRUE(read);
  ASSERT_TRUE(lock.update({"a", 15, kStart, kStart + 2s, 0}, read->resourceVersion));
  auto stale = lock.update({"b", 15, kStart, kStart + 2s, 1}, read->resourceVersion);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, ErrorCode::Conflict);
  EXPECT_EQ(lock.get()->record.holderIdentity, "a");
}

TEST(KubeLeaseLock, RecordsRoundTripThroughTheLeaseSpec) {
  LeaderElectionRecord r{"x", 15, kStart, kStart + 3s, 7};
  kube::Object lease(nlohmann::json{{"spec", KubeLeaseLock::specFromRecord(r)}});
  EXPECT_EQ(KubeLeaseLock::recordFromLease(lease), r);
  EXPECT_EQ(KubeLeaseLock::recordFromLease(kube::Object()), LeaderElectionRecord{});
}

TEST(KubeLeaseLock, TwoElectorsOverTheFakeClientHandOverOnlyAfterExpiry) {
  FakeClock clock(kStart);
  FakeClient client(&clock);
  KubeLeaseLock lockA(client, "ns", "lease"), lockB(client, "ns", "lease");
  LeaderElectionConfig ca, cb;
  ca.identity = "a";
  cb.identity = "b";
  LeaderElector a(lockA, clock, ca), b(lockB, clock, cb);
  ASSERT_TRUE(a.tryAcquireOrRenew());
  EXPECT_FALSE(b.tryAcquireOrRenew());
  clock.advance(14s);
  EXPECT_FALSE(b.tryAcquireOrRenew());
  clock.advance(1s);
  EXPECT_TRUE(b.tryAcquireOrRenew());
  EXPECT_FALSE(a.tryAcquireOrRenew()) << "a now sees b's fresh record";
  auto lease = client.peek(kube::resources::leases(), {"ns", "lease"});
  EXPECT_EQ(lease->body["spec"]["holderIdentity"], "b");
  EXPECT_EQ(lease->body["spec"]["leaseTransitions"], 1);
}

}  // namespace
}  // namespace kubegrant::runtime
