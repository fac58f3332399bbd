#pragma once

// How the admission rules see AccessPolicies: through a small read-only interface, so the
// rules stay pure and testable and production backs it with the informer cache (never an
// API call per admission request: the webhook has a 2 s budget and runs on every write).

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "crds/v1alpha1/types.h"

namespace kubegrant::webhooks {

class PolicyLookup {
 public:
  virtual ~PolicyLookup() = default;
  // The policy as last seen, or nullptr when it does not exist. Thread-safe, non-blocking.
  virtual std::shared_ptr<const v1alpha1::AccessPolicy> get(std::string_view name) const = 0;
  // False until the backing cache has listed policies once; the rules then refuse (503,
  // retryable) instead of answering "policy not found" for a policy not yet seen.
  virtual bool synced() const { return true; }
};

// A map filled by its owner: for unit tests, and for wiring a cache that pushes updates.
class StaticPolicyLookup final : public PolicyLookup {
 public:
  void put(v1alpha1::AccessPolicy policy) {
    auto p = std::make_shared<const v1alpha1::AccessPolicy>(std::move(policy));
    std::lock_guard lock(mu_);
    policies_[p->metadata.name] = std::move(p);
  }
  void remove(std::string_view name) {
    std::lock_guard lock(mu_);
    if (auto it = policies_.find(name); it != policies_.end()) policies_.erase(it);
  }
  std::shared_ptr<const v1alpha1::AccessPolicy> get(std::string_view name) const override {
    std::lock_guard lock(mu_);
    auto it = policies_.find(name);
    return it == policies_.end() ? nullptr : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const v1alpha1::AccessPolicy>, std::less<>> policies_;
};

}  // namespace kubegrant::webhooks
