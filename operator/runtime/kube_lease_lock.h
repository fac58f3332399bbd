#pragma once

// LeaseLock on a coordination.k8s.io/v1 Lease through the kube client. Times are written
// as MicroTime (RFC 3339 with microseconds); updates carry the resourceVersion that was
// read, so a concurrent writer makes them fail with Conflict.

#include <mutex>
#include <string>

#include "operator/kube/client.h"
#include "operator/runtime/leader_election.h"

namespace kubegrant::runtime {

class KubeLeaseLock final : public LeaseLock {
 public:
  // The client must outlive the lock.
  KubeLeaseLock(kube::Client& client, std::string ns, std::string name);

  Result<VersionedLeaderElectionRecord> get() override;
  Result<std::string> create(const LeaderElectionRecord& record) override;
  Result<std::string> update(const LeaderElectionRecord& record,
                             const std::string& resourceVersion) override;
  std::string describe() const override { return ns_ + "/" + name_; }

  // Pure conversions, exposed for tests.
  static LeaderElectionRecord recordFromLease(const kube::Object& lease);
  static nlohmann::json specFromRecord(const LeaderElectionRecord& record);

 private:
  kube::Client& client_;
  const std::string ns_;
  const std::string name_;
  std::mutex mu_;
  kube::Object last_;  // the last Lease read or written: update keeps its other fields
};

}  // namespace kubegrant::runtime
