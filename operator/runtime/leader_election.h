#pragma once

// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics:
//
//  - A candidate takes the lease only when it is free or expired. Expiry is judged from the
//    candidate's OWN clock: the time it last saw the record change plus the record's
//    leaseDurationSeconds. Clocks of different machines are never compared.
//  - Every write carries the resourceVersion that was read (update with a precondition),
//    so two candidates racing for an expired lease cannot both win: the loser gets a
//    Conflict and keeps waiting.
//  - The leader renews every retryPeriod. If it has not renewed successfully for
//    renewDeadline (< leaseDuration), or it reads a record naming another holder, it stops
//    leading and calls onStoppedLeading (the operator exits, as controller-runtime does).
//    A leader stops at most renewDeadline after its last renew while others wait at least
//    leaseDuration after seeing it, so two leaders never overlap (given clocks that run at
//    roughly the same rate).
//  - Leadership is not re-acquired after it was lost: a fresh process starts over.
//  - On stop() while leading, with releaseOnCancel, the lease is handed back (empty holder)
//    so a successor need not wait for expiry.
//
// The Lease itself is reached through LeaseLock; KubeLeaseLock (kube_lease_lock.h)
// implements it over the kube client.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "operator/common/clock.h"
#include "operator/common/result.h"

namespace kubegrant::runtime {

// The fields of Lease.spec that leader election uses.
struct LeaderElectionRecord {
  std::string holderIdentity;
  int leaseDurationSeconds = 0;
  std::optional<TimePoint> acquireTime;  // MicroTime on the wire
  std::optional<TimePoint> renewTime;    // MicroTime on the wire
  int leaseTransitions = 0;

  friend bool operator==(const LeaderElectionRecord&, const LeaderElectionRecord&) = default;
};

struct VersionedLeaderElectionRecord {
  LeaderElectionRecord record;
  std::string resourceVersion;
};

// Storage of the record (client-go's resourcelock.Interface).
class LeaseLock {
 public:
  virtual ~LeaseLock() = default;
  // NotFound when the lease does not exist yet.
  virtual Result<VersionedLeaderElectionRecord> get() = 0;
  // AlreadyExists when another candidate created it first. Returns the new resourceVersion.
  virtual Result<std::string> create(const LeaderElectionRecord& record) = 0;
  // Conflict when `resourceVersion` is no longer current. Returns the new resourceVersion.
  virtual Result<std::string> update(const LeaderElectionRecord& record,
                                     const std::string& resourceVersion) = 0;
  // "namespace/name", for logs.
  virtual std::string describe() const = 0;
};

struct LeaderElectionConfig {
  std::string identity;  // unique per process, e.g. hostname + "_" + random
  Duration leaseDuration = std::chrono::seconds(15);
  Duration renewDeadline = std::chrono::seconds(10);
  Duration retryPeriod = std::chrono::seconds(2);
  bool releaseOnCancel = true;
  // Called on the elector thread; should start work and return promptly.
  std::function<void()> onStartedLeading;
  // Called once on the elector thread when leadership ends (lost, or stop() while leading).
  std::function<void()> onStoppedLeading;
  // Called when a different holder is observed (including ourselves).
  std::function<void(const std::string& identity)> onNewLeader;
};

class LeaderElector {
 public:
  // The lock and clock must outlive the elector. Invalid timings (renewDeadline >=
  // leaseDuration, retryPeriod >= renewDeadline, empty identity) are reported by validate().
  LeaderElector(LeaseLock& lock, Clock& clock, LeaderElectionConfig config);
  ~LeaderElector();  // stop()

  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  static Result<void> validate(const LeaderElectionConfig& config);

  // Starts the elector thread: acquire, then renew until lost or stopped.
  void start();
  // Stops; if leading, releases the lease (releaseOnCancel) and calls onStoppedLeading.
  void stop();
  // Blocks until the elector thread ended (leadership lost, or stopped).
  void wait();

  bool isLeader() const;
  // The holder last observed, empty if none.
  std::string leader() const;

  // One acquire-or-renew step (exposed for tests): true when we hold the lease afterwards.
  bool tryAcquireOrRenew();

 private:
  void run();
  bool sleepUntil(TimePoint deadline);  // false when stopped
  void release();
  bool stopping() const;
  void observeHolder(const std::string& holder);
  void finish();

  LeaseLock& lock_;
  Clock& clock_;
  LeaderElectionConfig config_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable finishedCv_;
  bool stop_ = false;
  bool leading_ = false;
  bool finished_ = false;
  std::thread thread_;

  // Touched only by the elector thread (or a test calling tryAcquireOrRenew directly).
  std::optional<VersionedLeaderElectionRecord> observed_;
  TimePoint observedTime_{};
  std::string observedHolder_;  // guarded by mu_
  TimePoint lastRenew_{};
  bool started_ = false;
};

}  // namespace kubegrant::runtime
