#pragma once

// PolicyLookup backed by an AccessPolicy informer's cache: what production uses, so an
// admission request never waits on an API call. Decoded policies are memoized per
// resourceVersion, so the JSON decode happens once per policy change, not per review.

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "operator/runtime/informer.h"
#include "webhooks/access_request/policy_lookup.h"

namespace kubegrant::webhooks {

class InformerPolicyLookup final : public PolicyLookup {
 public:
  // `informer` watches kube::resources::accessPolicies() and must outlive this object.
  explicit InformerPolicyLookup(const runtime::Informer& informer) : informer_(informer) {}

  std::shared_ptr<const v1alpha1::AccessPolicy> get(std::string_view name) const override;
  bool synced() const override { return informer_.hasSynced(); }

 private:
  struct Entry {
    std::string resourceVersion;
    std::shared_ptr<const v1alpha1::AccessPolicy> policy;
  };
  const runtime::Informer& informer_;
  mutable std::mutex mu_;
  mutable std::map<std::string, Entry, std::less<>> decoded_;
};

}  // namespace kubegrant::webhooks
