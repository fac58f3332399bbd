#include "webhooks/server/informer_policy_lookup.h"

#include "operator/common/log.h"

namespace kubegrant::webhooks {

std::shared_ptr<const v1alpha1::AccessPolicy> InformerPolicyLookup::get(
    std::string_view name) const {
  runtime::ObjectPtr obj = informer_.store().get(runtime::NamespacedName{"", std::string(name)});
  std::lock_guard lock(mu_);
  auto it = decoded_.find(name);
  if (!obj) {
    if (it != decoded_.end()) decoded_.erase(it);
    return nullptr;
  }
  std::string rv = obj->resourceVersion();
  if (it != decoded_.end() && it->second.resourceVersion == rv) return it->second.policy;
  auto policy = v1alpha1::fromJson<v1alpha1::AccessPolicy>(obj->body);
  if (!policy) {
    // The CRD schema and the policy webhook make this unlikely; treat it as absent (the
    // rules then refuse requests under it) and say why.
    log::warn("webhook.policies", "cannot decode AccessPolicy",
              {{"policy", std::string(name)}, {"error", policy.error().message}});
    return nullptr;
  }
  auto shared = std::make_shared<const v1alpha1::AccessPolicy>(std::move(*policy));
  decoded_[std::string(name)] = Entry{rv, shared};
  return shared;
}

}  // namespace kubegrant::webhooks
