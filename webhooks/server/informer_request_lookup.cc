#include "webhooks/server/informer_request_lookup.h"

#include "crds/v1alpha1/types.h"

namespace kubegrant::webhooks {

namespace {

std::string keyOf(std::string_view policy, std::string_view username) {
  std::string key(policy);
  key += '/';  // policy names are DNS names: no '/' inside
  key += username;
  return key;
}

}  // namespace

runtime::IndexFunc openRequestsIndex() {
  return [](const kube::Object& obj) -> std::vector<std::string> {
    if (obj.isBeingDeleted()) return {};
    const auto& body = obj.body;
    auto spec = body.find("spec");
    if (spec == body.end() || !spec->is_object()) return {};
    auto policy = spec->find("policy");
    auto requester = spec->find("requester");
    if (policy == spec->end() || !policy->is_string() || requester == spec->end() ||
        !requester->is_object()) {
      return {};
    }
    auto username = requester->find("username");
    if (username == requester->end() || !username->is_string()) return {};
    if (auto status = body.find("status"); status != body.end() && status->is_object()) {
      if (auto phase = status->find("phase"); phase != status->end() && phase->is_string()) {
        auto p = v1alpha1::parsePhase(phase->get<std::string>());
        if (p && v1alpha1::isTerminal(*p)) return {};
      }
    }
    return {keyOf(policy->get<std::string>(), username->get<std::string>())};
  };
}

int InformerRequestLookup::countOpen(std::string_view policy, std::string_view username) const {
  return static_cast<int>(
      informer_.store().keysByIndex(kOpenRequestsIndex, keyOf(policy, username)).size());
}

}  // namespace kubegrant::webhooks
