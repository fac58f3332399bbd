#include "operator/manager/request_packing.h"

#include <nlohmann/json.hpp>
#include <string>

#include "operator/common/compression.h"

namespace kubegrant::manager {
namespace {

// A request as toJson() writes one (keys sorted, no spaces), with the values all requests
// share: a compressed request then mostly refers back to it. Only this process reads what it
// packs, so the dictionary may change between versions.
const std::string& dictionary() {
  static const std::string text = [] {
    nlohmann::json condition = {{"lastTransitionTime", "2026-01-01T00:00:00Z"},
                                {"message",
                                 "waiting for approval: needs 1 more approval from "
                                 "group ; ends unapproved at access granted until "
                                 " (no approval required): RoleBinding kubegrant-"},
                                {"observedGeneration", 1},
                                {"reason", "AwaitingApproval"},
                                {"status", "False"},
                                {"type", "Approved"}};
    nlohmann::json granted = condition;
    granted["reason"] = "NoApprovalRequired";
    granted["status"] = "True";
    granted["type"] = "Granted";
    nlohmann::json sample = {
        {"apiVersion", "kubegrant.io/v1alpha1"},
        {"kind", "AccessRequest"},
        {"metadata",
         {{"creationTimestamp", "2026-01-01T00:00:00Z"},
          {"finalizers", {std::string(v1alpha1::kRevokeFinalizer)}},
          {"generation", 1},
          {"labels", nlohmann::json::object()},
          {"name", "request"},
          {"namespace", "default"},
          {"resourceVersion", "1"},
          {"uid", "00000000-0000-0000-0000-000000000000"}}},
        {"spec",
         {{"databases", {{{"profile", "readonly"}, {"target", "orders"}}}},
          {"duration", "1h"},
          {"policy", "policy"},
          {"reason", "incident"},
          {"requester", {{"groups", {"system:authenticated"}}, {"username", "user"}}},
          {"requesterSeal", "v1.k2026"},
          {"revoke", false},
          {"roles", {{{"kind", "ClusterRole"}, {"name", "view"}, {"namespaces", {"default"}}}}},
          {"ticket", "INC-1"}}},
        {"status",
         {{"activatedAt", "2026-01-01T00:00:00Z"},
          {"approvals",
           {{{"approver", "approver"},
             {"approverGroups", {"system:authenticated"}},
             {"comment", "ok"},
             {"decision", "Approve"},
             {"seal", "v1.k2026"},
             {"time", "2026-01-01T00:00:00Z"}}}},
          {"approvedAt", "2026-01-01T00:00:00Z"},
          {"breakGlass", false},
          {"conditions", {condition, granted}},
          {"expiresAt", "2026-01-01T00:00:00Z"},
          {"grants", {{{"kind", "RoleBinding"}, {"name", "kubegrant-"}, {"namespace", "default"}}}},
          {"message", "access granted until "},
          {"observedGeneration", 1},
          {"phase", "Active"},
          {"seal", "v1.k2026"}}}};
    return sample.dump();
  }();
  return text;
}

}  // namespace

runtime::Packing<v1alpha1::AccessRequest> accessRequestPacking(std::size_t hot) {
  return {.pack =
              [](const v1alpha1::AccessRequest& r) {
                return compress(v1alpha1::toJson(r).dump(), dictionary());
              },
          .unpack = [](std::string_view packed) -> Result<v1alpha1::AccessRequest> {
            auto text = decompress(packed, dictionary());
            if (!text) return std::unexpected(text.error());
            return v1alpha1::fromJsonText<v1alpha1::AccessRequest>(*text);
          },
          .hot = hot};
}

}  // namespace kubegrant::manager
