#include "operator/runtime/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "operator/common/clock.h"
#include "tests/unit/runtime/test_util.h"

namespace kubegrant::runtime {
namespace {

using namespace std::chrono_literals;

const TimePoint kStart = WallClock::from_time_t(1'800'000'000);

// An in-memory Lease with resourceVersion preconditions, fault injection and a hook that
// runs before an update is applied (to interleave a racing candidate).
class MemoryLeaseLock : public LeaseLock {
 public:
  Result<VersionedLeaderElectionRecord> get() override {
    std::lock_guard<std::mutex> g(mu_);
    if (failReads_) return fail(ErrorCode::Unavailable, "injected");
    if (!exists_) return fail(ErrorCode::NotFound, "lease not found");
    return VersionedLeaderElectionRecord{record_, std::to_string(rv_)};
  }
  Result<std::string> create(const LeaderElectionRecord& r) override {
    std::lock_guard<std::mutex> g(mu_);
    if (exists_) return fail(ErrorCode::AlreadyExists, "lease exists");
    exists_ = true;
    record_ = r;
    ++writes_;
    return std::to_string(++rv_);
  }
  Result<std::string> update(const LeaderElectionRecord& r, const std::string& rv) override {
    std::function<void()> hook;
    {
      std::lock_guard<std::mutex> g(mu_);
      hook = std::exchange(beforeUpdate_, nullptr);
    }
    if (hook) hook();
    std::lock_guard<std::mutex> g(mu_);
    if (failWrites_) return fail(ErrorCode::Unavailable, "injected");
    if (!exists_) return fail(ErrorCode::NotFound, "lease not found");
    if (rv != std::to_string(rv_)) return fail(ErrorCode::Conflict, "stale resourceVersion");
    record_ = r;
    ++writes_;
    return std::to_string(++rv_);
  }
  std::string describe() const override { return "test/lease"; }

  LeaderElectionRecord record() const {
    std::lock_guard<std::mutex> g(mu_);
    return record_;
  }
  void put(const LeaderElectionRecord& r) {
    std::lock_guard<std::mutex> g(mu_);
    exists_ = true;
    record_ = r;
    ++rv_;
  }
  void setFailWrites(bool f) {
    std::lock_guard<std::mutex> g(mu_);
    failWrites_ = f;
  }
  void setBeforeUpdate(std::function<void()> hook) {
    std::lock_guard<std::mutex> g(mu_);
    beforeUpdate_ = std::move(hook);
  }
  int writes() const {
    std::lock_guard<std::mutex> g(mu_);
    return writes_;
  }

 private:
  mutable std::mutex mu_;
  bool exists_ = false;
  LeaderElectionRecord record_;
  long rv_ = 100;
  int writes_ = 0;
  bool failReads_ = false;
  bool failWrites_ = false;
  std::function<void()> beforeUpdate_;
};

LeaderElectionConfig config(std::string identity) {
  LeaderElectionConfig c;
  c.identity = std::move(identity);
  return c;
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 3000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

TEST(LeaderElection, AFirstCandidateCreatesTheLeaseAndHoldsIt) {
  FakeClock clock(kStart);
  MemoryLeaseLock lock;
  LeaderElector a(lock, clock, config("a"));
  ASSERT_TRUE(a.tryAcquireOrRenew());
  LeaderElectionRecord r = lock.record();
  EXPECT_EQ(r.holderIdentity, "a");
  EXPECT_EQ(r.leaseDurationSeconds, 15);
  EXPECT_EQ(r.acquireTime, kStart);
  EXPECT_EQ(r.renewTime, kStart);
  EXPECT_EQ(r.leaseTransitions, 0);
}

TEST(LeaderElection, RenewingKeepsAcquireTimeAndTransitionsAndMovesRenewTime) {
  FakeClock clock(kStart);
  MemoryLeaseLock lock;
  LeaderElector a(lock, clock, config("a"));
  ASSERT_TRUE(a.tryAcquireOrRenew());
  clock.advance(2s);
  ASSERT_TRUE(a.tryAcquireOrRenew());
  LeaderElectionRecord r = lock.record();
  EXPECT_EQ(r.acquireTime, kStart);
  EXPECT_EQ(r.renewTime, kStart + 2s);
  EXPECT_EQ(r.leaseTransitions, 0);
}

TEST(LeaderElection, AHeldLeaseIsTakenOnlyAfterLeaseDurationWithoutChangeOnTheLocalClock) {
  FakeClock clock(kStart);
  MemoryLeaseLock lock;
  LeaderElector a(lock, clock, config("a"));
  LeaderElector b(lock, clock, config("b"));
  ASSERT_TRUE(a.tryAcquireOrRenew());
  EXPECT_FALSE(b.tryAcquireOrRenew());
  EXPECT_EQ(b.leader(), "a");
  clock.advance(14s);
  EXPECT_FALSE(b.tryAcquireOrRenew()) << "b saw the record 14 s ago: not expired";
  clock.advance(1s);
  ASSERT_TRUE(b.tryAcquireOrRenew());
  LeaderElectionRecord r = lock.record();
  EXPECT_EQ(r.holderIdentity, "b");
  EXPECT_EQ(r.acquireTime, kStart + 15s);
  EXPECT_EQ(r.leaseTransitions, 1);
}

TEST(LeaderElection, ExpiryIgnoresTheRenewTimeWrittenByAnotherMachinesClock) {
  FakeClock clock(kStart);
  MemoryLeaseLock lock;
  // The holder's clock is an hour behind ours: by its renewTime the lease looks long
  // expired, but we have only just seen it.
  lock.put({"a", 15, kStart - 1h, kStart - 1h, 3});
  LeaderElector b(lock, clock, config("b"));
  EXPECT_FALSE(b.tryAcquireOrRenew());
  clock.advance(10s);
  EXPECT_FALSE(b.tryAcquireOrRenew());
  clock.advance(5s);
  EXPECT_TRUE(b.tryAcquireOrRenew());
  EXPECT_EQ(lock.record().leaseTransitions, 4);
}

TEST(LeaderElection, EveryRenewByTheHolderRestartsTheObserversExpiryTimer) {
  FakeClock clock(kStart);
  MemoryLeaseLock lock;
  LeaderElector a(lock, clock, config("a"));
  LeaderElector b(lock, clock, config("b"));
  ASSERT_TRUE(a.tryAcquireOrRenew());
  for (int i = 0; i < 10; ++i) {
    clock.advance(10s);
    EXPECT_FALSE(b.tryAcquireOrRenew());
    ASSERT_TRUE(a.tryAcquireOrRenew());
  }
  EXPECT_EQ(lock.record().holderIdentity, "a");
}

TEST(LeaderElection, TwoCandidatesRacingForAnExpiredLeaseCannotBothWin) {
  FakeClock clock(kStart);
  MemoryLeaseLock lock;
  lock.put({"gone", 15, kStart, kStart, 0});
  LeaderElector b(lock, clock, config("b"));
  LeaderElector c(lock, clock, config("c"));
  EXPECT_FALSE(b.tryAcquireOrRenew());
  EXPECT_FALSE(c.tryAcquireOrRenew());
  clock.advance(16s);
  bool cWon = false;
  // c reads and writes between b's read and b's write.
  lock.setBeforeUpdate([&] { cWon = c.tryAcquireOrRenew(); });
  bool bWon = b.tryAcquireOrRenew();
  EXPECT_TRUE(cWon);
  EXPECT_FALSE(bWon) << "b's update carried a stale resourceVersion: Conflict";
  EXPECT_EQ(lock.record().holderIdentity, "c");
  EXPECT_EQ(lock.record().leaseTransitions, 1);
}

TEST(LeaderElection, AReleasedLeaseIsTakenAtOnce) {
  FakeClock clock(kStart);
  MemoryLeaseLock lock;
  lock.put({"", 1, kStart, kStart, 2});
  LeaderElector b(lock, clock, config("b"));
  EXPECT_TRUE(b.tryAcquireOrRenew());
  EXPECT_EQ(lock.record().leaseTransitions, 3);
}

struct ValidateCase {
  std::string name;
  std::function<void(LeaderElectionConfig&)> change;
  bool valid;
};

TEST(LeaderElection, ValidateRejectsTimingsThatCouldLetTwoLeadersOverlap) {
  std::vector<ValidateCase> cases = {
      {"the defaults", [](auto&) {}, true},
      {"an empty identity", [](auto& c) { c.identity = ""; }, false},
      {"renew deadline equal to the lease", [](auto& c) { c.renewDeadline = 15s; }, false},
      {"retry period equal to the renew deadline", [](auto& c) { c.retryPeriod = 10s; }, false},
      {"a zero retry period", [](auto& c) { c.retryPeriod = 0s; }, false},
  };
  for (const auto& tc : cases) {
    LeaderElectionConfig c = config("a");
    tc.change(c);
    EXPECT_EQ(LeaderElector::validate(c).has_value(), tc.valid) << tc.name;
  }
}

// The threaded loop, driven by the fake clock.
struct Observed {
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
};

LeaderElectionConfig observedConfig(std::string identity, Observed& o) {
  LeaderElectionConfig c = config(std::move(identity));
  c.onStartedLeading = [&o] { ++o.started; };
  c.onStoppedLeading = [&o] { ++o.stopped; };
  return c;
}

// Advances the fake clock in small steps, giving the elector threads time to act.
void advanceInSteps(FakeClock& clock, Duration total, Duration step = 500ms,
                    const std::function<void()>& check = nullptr) {
  for (Duration done{}; done < total; done += step) {
    clock.advance(step);
    std::this_thread::sleep_for(3ms);
    if (check) check();
  }
}

TEST(LeaderElection, ALeaderThatCannotRenewStopsLeadingAtTheRenewDeadline) {
  FakeClock clock(kStart);
  MemoryLeaseLock lock;
  Observed o;
  LeaderElector a(lock, clock, observedConfig("a", o));
  a.start();
  // onStartedLeading runs just after isLeader() turns true: wait for both.
  ASSERT_TRUE(eventually([&] { return a.isLeader() && o.started == 1; }));
  lock.setFailWrites(true);
  advanceInSteps(clock, 9s);
  EXPECT_TRUE(a.isLeader()) << "renew failures for 9 s < renewDeadline";
  EXPECT_EQ(o.stopped, 0);
  advanceInSteps(clock, 2s);
  ASSERT_TRUE(eventually([&] { return o.stopped == 1; }));
  EXPECT_FALSE(a.isLeader());
  a.wait();
  lock.setFailWrites(false);
  advanceInSteps(clock, 20s);
  EXPECT_EQ(o.started, 1) << "leadership is not re-acquired after it was lost";
}

TEST(LeaderElection, ALeaderStopsAtOnceWhenItSeesAnotherHolderInTheLease) {
  FakeClock clock(kStart);
  MemoryLeaseLock lock;
  Observed o;
  LeaderElector a(lock, clock, observedConfig("a", o));
  a.start();
  ASSERT_TRUE(eventually([&] { return a.isLeader(); }));
  lock.put({"intruder", 15, kStart, kStart, 1});
  // At its next renew (2 s), far before its renew deadline (10 s).
  ASSERT_TRUE(testutil::advanceUntil(clock, 500ms, 4s, [&] { return o.stopped == 1; }));
  EXPECT_FALSE(a.isLeader());
  EXPECT_EQ(lock.record().holderIdentity, "intruder");
}

TEST(LeaderElection, StoppingTheLeaderReleasesTheLeaseForAnImmediateSuccessor) {
  FakeClock clock(kStart);
  MemoryLeaseLock lock;
  Observed oa, ob;
  LeaderElector a(lock, clock, observedConfig("a", oa));
  LeaderElector b(lock, clock, observedConfig("b", ob));
  a.start();
  ASSERT_TRUE(eventually([&] { return a.isLeader(); }));
  b.start();
  ASSERT_TRUE(eventually([&] { return b.leader() == "a"; }));
  a.stop();
  EXPECT_EQ(oa.stopped, 1);
  EXPECT_EQ(lock.record().holderIdentity, "");
  // At b's next retry (2 s), far before the 15 s lease would have expired.
  ASSERT_TRUE(testutil::advanceUntil(clock, 500ms, 4s, [&] { return b.isLeader(); }));
  EXPECT_EQ(lock.record().holderIdentity, "b");
  b.stop();
}

TEST(LeaderElection, TwoElectorsOnOneLeaseNeverLeadAtTheSameTime) {
  FakeClock clock(kStart);
  MemoryLeaseLock lock;
  Observed oa, ob;
  auto a = std::make_unique<LeaderElector>(lock, clock, observedConfig("a", oa));
  LeaderElector b(lock, clock, observedConfig("b", ob));
  a->start();
  b.start();
  int both = 0;
  auto check = [&] {
    if (a->isLeader() && b.isLeader()) ++both;
  };
  ASSERT_TRUE(eventually([&] { return a->isLeader() || b.isLeader(); }));
  advanceInSteps(clock, 60s, 500ms, check);
  EXPECT_EQ(both, 0);
  EXPECT_EQ(oa.started + ob.started, 1) << "leadership stayed with the first leader";

  // The leader's writes now fail (as if it were partitioned): it must step down before the
  // other one takes over.
  const bool aLeads = a->isLeader();
  LeaderElector& leader = aLeads ? *a : b;
  LeaderElector& follower = aLeads ? b : *a;
  lock.setFailWrites(true);
  bool overlap = false;
  advanceInSteps(clock, 11s, 500ms, [&] {
    if (leader.isLeader() && follower.isLeader()) overlap = true;
  });
  EXPECT_FALSE(leader.isLeader());
  lock.setFailWrites(false);
  advanceInSteps(clock, 10s, 500ms, [&] {
    if (leader.isLeader() && follower.isLeader()) overlap = true;
  });
  EXPECT_FALSE(overlap);
  EXPECT_TRUE(follower.isLeader());
  a.reset();
}

}  // namespace
}  // namespace kubegrant::runtime
