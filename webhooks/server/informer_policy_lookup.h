#pragma once

// PolicyLookup backed by the manager's typed AccessPolicy cache: what production uses, so an
// admission request never waits on an API call, and never decodes JSON either: each policy is
// decoded once per change, and the webhook shares that object with the controller.

#include <memory>
#include <string>

#include "crds/v1alpha1/types.h"
#include "operator/runtime/typed_store.h"
#include "webhooks/access_request/policy_lookup.h"

namespace kubegrant::webhooks {

class InformerPolicyLookup final : public PolicyLookup {
 public:
  using Store = runtime::TypedStore<v1alpha1::AccessPolicy>;
  // `policies` caches kube::resources::accessPolicies() and must outlive this object.
  explicit InformerPolicyLookup(const Store& policies) : policies_(policies) {}

  std::shared_ptr<const v1alpha1::AccessPolicy> get(std::string_view name) const override {
    return policies_.get({"", std::string(name)});
  }
  bool synced() const override { return policies_.hasSynced(); }

 private:
  const Store& policies_;
};

}  // namespace kubegrant::webhooks
