#pragma once

// TargetLookup backed by the manager's typed DatabaseTarget cache (the one the webhook shares
// with the operator), so admitting spec.databases never waits on an API call.

#include <memory>
#include <string>

#include "crds/v1alpha1/types.h"
#include "operator/runtime/typed_store.h"
#include "webhooks/access_request/target_lookup.h"

namespace kubegrant::webhooks {

class InformerTargetLookup final : public TargetLookup {
 public:
  using Store = runtime::TypedStore<v1alpha1::DatabaseTarget>;
  // `targets` caches kube::resources::databaseTargets() and must outlive this object.
  explicit InformerTargetLookup(const Store& targets) : targets_(targets) {}

  std::shared_ptr<const v1alpha1::DatabaseTarget> get(std::string_view name) const override {
    return targets_.get({"", std::string(name)});
  }
  bool synced() const override { return targets_.hasSynced(); }

 private:
  const Store& targets_;
};

}  // namespace kubegrant::webhooks
