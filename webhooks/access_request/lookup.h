#pragma once

// How the admission rules see the cluster-scoped objects they check against (AccessPolicies,
// DatabaseTargets): through a small read-only interface, so the rules stay pure and testable
// and production backs it with the informer cache (never an API call per admission request:
// the webhook has a 2 s budget and runs on every write).

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "crds/v1alpha1/types.h"

namespace kubegrant::webhooks {

template <class T>
class Lookup {
 public:
  virtual ~Lookup() = default;
  // The object as last seen, or nullptr when it does not exist. Thread-safe, non-blocking.
  virtual std::shared_ptr<const T> get(std::string_view name) const = 0;
  // False until the backing cache has listed the objects once; the rules then refuse (503,
  // retryable) instead of answering "not found" for an object not yet seen.
  virtual bool synced() const { return true; }
};

// A map filled by its owner: for unit tests, and for wiring a cache that pushes updates.
template <class T>
class StaticLookup final : public Lookup<T> {
 public:
  void put(T object) {
    auto o = std::make_shared<const T>(std::move(object));
    std::lock_guard lock(mu_);
    objects_[o->metadata.name] = std::move(o);
  }
  void remove(std::string_view name) {
    std::lock_guard lock(mu_);
    if (auto it = objects_.find(name); it != objects_.end()) objects_.erase(it);
  }
  std::shared_ptr<const T> get(std::string_view name) const override {
    std::lock_guard lock(mu_);
    auto it = objects_.find(name);
    return it == objects_.end() ? nullptr : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const T>, std::less<>> objects_;
};

using PolicyLookup = Lookup<v1alpha1::AccessPolicy>;
using StaticPolicyLookup = StaticLookup<v1alpha1::AccessPolicy>;
using TargetLookup = Lookup<v1alpha1::DatabaseTarget>;
using StaticTargetLookup = StaticLookup<v1alpha1::DatabaseTarget>;

}  // namespace kubegrant::webhooks
