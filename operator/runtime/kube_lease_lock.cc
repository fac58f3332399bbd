#include "operator/runtime/kube_lease_lock.h"

#include "operator/common/time.h"

namespace kubegrant::runtime {

KubeLeaseLock::KubeLeaseLock(kube::Client& client, std::string ns, std::string name)
    : client_(client), ns_(std::move(ns)), name_(std::move(name)) {}

LeaderElectionRecord KubeLeaseLock::recordFromLease(const kube::Object& lease) {
  LeaderElectionRecord r;
  auto spec = lease.body.find("spec");
  if (spec == lease.body.end() || !spec->is_object()) return r;
  auto str = [&](const char* k) -> std::string {
    auto it = spec->find(k);
    return it != spec->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto num = [&](const char* k) -> int {
    auto it = spec->find(k);
    return it != spec->end() && it->is_number_integer() ? it->get<int>() : 0;
  };
  r.holderIdentity = str("holderIdentity");
  r.leaseDurationSeconds = num("leaseDurationSeconds");
  r.leaseTransitions = num("leaseTransitions");
  if (auto t = str("acquireTime"); !t.empty()) r.acquireTime = parseRfc3339(t);
  if (auto t = str("renewTime"); !t.empty()) r.renewTime = parseRfc3339(t);
  return r;
}

nlohmann::json KubeLeaseLock::specFromRecord(const LeaderElectionRecord& r) {
  nlohmann::json spec = {{"holderIdentity", r.holderIdentity},
                         {"leaseDurationSeconds", r.leaseDurationSeconds},
                         {"leaseTransitions", r.leaseTransitions}};
  if (r.acquireTime) spec["acquireTime"] = formatRfc3339Micro(*r.acquireTime);
  if (r.renewTime) spec["renewTime"] = formatRfc3339Micro(*r.renewTime);
  return spec;
}

Result<VersionedLeaderElectionRecord> KubeLeaseLock::get() {
  auto lease = client_.get(kube::resources::leases(), {ns_, name_});
  if (!lease) return std::unexpected(lease.error());
  VersionedLeaderElectionRecord out{recordFromLease(*lease), lease->resourceVersion()};
  std::lock_guard<std::mutex> g(mu_);
  last_ = std::move(*lease);
  return out;
}

Result<std::string> KubeLeaseLock::create(const LeaderElectionRecord& record) {
  kube::Object lease;
  lease.setApiVersionKind(kube::resources::leases());
  lease.setNamespace(ns_);
  lease.setName(name_);
  lease.body["spec"] = specFromRecord(record);
  auto created = client_.create(kube::resources::leases(), lease);
  if (!created) return std::unexpected(created.error());
  std::string rv = created->resourceVersion();
  std::lock_guard<std::mutex> g(mu_);
  last_ = std::move(*created);
  return rv;
}

Result<std::string> KubeLeaseLock::update(const LeaderElectionRecord& record,
                                          const std::string& resourceVersion) {
  kube::Object lease;
  {
    std::lock_guard<std::mutex> g(mu_);
    lease = last_;
  }
  lease.setApiVersionKind(kube::resources::leases());
  lease.setNamespace(ns_);
  lease.setName(name_);
  lease.setResourceVersion(resourceVersion);
  lease.body["spec"] = specFromRecord(record);
  auto updated = client_.update(kube::resources::leases(), lease);
  if (!updated) return std::unexpected(updated.error());
  std::string rv = updated->resourceVersion();
  std::lock_guard<std::mutex> g(mu_);
  last_ = std::move(*updated);
  return rv;
}

}  // namespace kubegrant::runtime
