#pragma once

// Lookup backed by the manager's typed caches: what production uses, so an admission request
// never waits on an API call, and never decodes JSON either: each object is decoded once per
// change, and the webhook shares it with the controller.

#include <memory>
#include <string>
#include <string_view>

#include "crds/v1alpha1/types.h"
#include "operator/runtime/typed_store.h"
#include "webhooks/access_request/lookup.h"

namespace kubegrant::webhooks {

template <class T>
class InformerLookup final : public Lookup<T> {
 public:
  using Store = runtime::TypedStore<T>;
  // `store` caches the cluster-scoped resource of T and must outlive this object.
  explicit InformerLookup(const Store& store) : store_(store) {}

  std::shared_ptr<const T> get(std::string_view name) const override {
    return store_.get({"", std::string(name)});
  }
  bool synced() const override { return store_.hasSynced(); }

 private:
  const Store& store_;
};

using InformerPolicyLookup = InformerLookup<v1alpha1::AccessPolicy>;
using InformerTargetLookup = InformerLookup<v1alpha1::DatabaseTarget>;

}  // namespace kubegrant::webhooks
