#pragma once

// How the admission rules see DatabaseTargets: like PolicyLookup, a small read-only interface
// so the rules stay pure; production backs it with the operator's informer cache (never an
// API call per admission request).

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "crds/v1alpha1/types.h"

namespace kubegrant::webhooks {

class TargetLookup {
 public:
  virtual ~TargetLookup() = default;
  // The target as last seen, or nullptr when it does not exist. Thread-safe, non-blocking.
  virtual std::shared_ptr<const v1alpha1::DatabaseTarget> get(std::string_view name) const = 0;
  // False until the backing cache has listed targets once; the rules then refuse (503,
  // retryable) instead of answering "target not found" for a target not yet seen.
  virtual bool synced() const { return true; }
};

// A map filled by its owner: for unit tests.
class StaticTargetLookup final : public TargetLookup {
 public:
  void put(v1alpha1::DatabaseTarget target) {
    auto t = std::make_shared<const v1alpha1::DatabaseTarget>(std::move(target));
    std::lock_guard lock(mu_);
    targets_[t->metadata.name] = std::move(t);
  }
  void remove(std::string_view name) {
    std::lock_guard lock(mu_);
    if (auto it = targets_.find(name); it != targets_.end()) targets_.erase(it);
  }
  std::shared_ptr<const v1alpha1::DatabaseTarget> get(std::string_view name) const override {
    std::lock_guard lock(mu_);
    auto it = targets_.find(name);
    return it == targets_.end() ? nullptr : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const v1alpha1::DatabaseTarget>, std::less<>> targets_;
};

}  // namespace kubegrant::webhooks
