// Leader election between real processes (lease_elector) on one Lease of the real API
// server: exactly one leads; after kill -9 of the leader the other leads within 20 s and
// never while the first one could still be leading.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "operator/runtime/kube_lease_lock.h"
#include "tests/integration/runtime/it_util.h"
#include "tests/support/spawn.h"

namespace kubegrant::runtime {
namespace {

using namespace std::chrono_literals;
using it::eventually;

long long nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One lease_elector process whose stdout goes to a file.
class Elector {
 public:
  Elector(const std::vector<std::string>& argv, std::string outPath) : out_(std::move(outPath)) {
    pid_ = ::kubegrant::testing::Spawn(argv).open(1, out_, O_WRONLY | O_CREAT | O_TRUNC).start();
  }
  ~Elector() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // Timestamps (unix ms) of lines starting with `what` ("LEADING" / "STOPPED").
  std::vector<long long> times(const std::string& what) const {
    std::ifstream f(out_);
    std::vector<long long> out;
    std::string kind, id;
    long long ms;
    while (f >> kind >> id >> ms) {
      if (kind == what) out.push_back(ms);
    }
    return out;
  }
  void kill9() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // SIGTERM and wait for a clean exit.
  int terminate() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  std::string out_;
  pid_t pid_ = -1;
};

TEST(LeaderElectionIT, ExactlyOneOfTwoProcessesLeadsAndTheOtherTakesOverAfterKill9) {
  KG_REQUIRE_ENV(env);
  auto client = it::clientFor(env);
  ASSERT_NE(client, nullptr);
  std::string ns = it::createNamespace(*client, "rt-lease");
  ASSERT_FALSE(ns.empty());
  const std::string lease = "kubegrant-operator";
  const std::string dir = ::testing::TempDir();
  auto argv = [&](const std::string& id) {
    return std::vector<std::string>{LEASE_ELECTOR_PATH, env.kubeconfig("admin"), ns, lease, id};
  };
  const std::string idA = testing::uniqueName("elector-a");
  const std::string idB = testing::uniqueName("elector-b");
  auto a = std::make_unique<Elector>(argv(idA), dir + "/" + idA + ".out");
  auto b = std::make_unique<Elector>(argv(idB), dir + "/" + idB + ".out");
  ASSERT_GT(a->pid(), 0);
  ASSERT_GT(b->pid(), 0);

  auto leaders = [&] { return a->times("LEADING").size() + b->times("LEADING").size(); };
  ASSERT_TRUE(eventually([&] { return leaders() >= 1; }, 20s)) << "nobody leads";
  // Several renew periods later still exactly one.
  std::this_thread::sleep_for(6s);
  ASSERT_EQ(leaders(), 1u);
  const bool aLeads = !a->times("LEADING").empty();
  Elector& leader = aLeads ? *a : *b;
  Elector& follower = aLeads ? *b : *a;
  const std::string leaderId = aLeads ? idA : idB;
  const std::string followerId = aLeads ? idB : idA;

  KubeLeaseLock lock(*client, ns, lease);
  auto record = lock.get();
  ASSERT_TRUE(record) << record.error().describe();
  EXPECT_EQ(record->record.holderIdentity, leaderId);
  EXPECT_EQ(record->record.leaseDurationSeconds, 15);
  EXPECT_EQ(record->record.leaseTransitions, 0);

  const long long killedAt = nowMs();
  leader.kill9();
  ASSERT_TRUE(eventually([&] { return !follower.times("LEADING").empty(); }, 25s))
      << "the follower never took over";
  const long long tookOverAt = follower.times("LEADING").front();
  std::cout << "failover after kill -9: " << (tookOverAt - killedAt) << " ms\n";
  EXPECT_LE(tookOverAt - killedAt, 20'000);
  // The dead leader's lease had to expire first: a lease duration (15 s) after the follower
  // saw its last renew, which was at most one retry period (2 s, plus the request's own
  // time: 1 s of slack) before the kill.
  EXPECT_GE(tookOverAt - killedAt, 15'000 - 2'000 - 1'000);
  EXPECT_TRUE(leader.times("STOPPED").empty());

  record = lock.get();
  ASSERT_TRUE(record);
  EXPECT_EQ(record->record.holderIdentity, followerId);
  EXPECT_EQ(record->record.leaseTransitions, 1);

  // A graceful stop releases the lease.
  int status = follower.terminate();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(follower.times("STOPPED").size(), 1u);
  record = lock.get();
  ASSERT_TRUE(record);
  EXPECT_EQ(record->record.holderIdentity, "");
  it::deleteNamespace(*client, ns);
}

}  // namespace
}  // namespace kubegrant::runtime
