#pragma once

// Shared objects for the AccessRequest controller's unit tests: the payments-oncall policy
// of API.md and a request by alice, as the API server would store them.

#include <nlohmann/json.hpp>
#include <string>

#include "crds/v1alpha1/types.h"
#include "operator/common/time.h"

namespace kubegrant::controllers::access_request::testing {

inline nlohmann::json makePolicy(const std::string& name = "payments-oncall") {
  auto j = nlohmann::json::parse(R"({
    "apiVersion": "kubegrant.io/v1alpha1", "kind": "AccessPolicy",
    "metadata": {"name": "payments-oncall", "generation": 1},
    "spec": {
      "requesters": {"groups": ["payments-devs"]},
      "namespaces": ["payments"],
      "roles": [{"kind": "ClusterRole", "name": "view"}, {"kind": "Role", "name": "pod-debugger"}],
      "defaultDuration": "1h", "maxDuration": "4h", "pendingTimeout": "24h", "retainFor": "720h",
      "requireReason": true,
      "approval": {"approvers": {"groups": ["payments-leads"]}, "required": 1,
                   "autoApprove": {"groups": ["sre-oncall"]}}
    }})");
  j["metadata"]["name"] = name;
  return j;
}

inline nlohmann::json makeRequest(const std::string& name = "debug-orders",
                                  const std::string& user = "alice",
                                  const std::string& group = "payments-devs") {
  auto j = nlohmann::json::parse(R"({
    "apiVersion": "kubegrant.io/v1alpha1", "kind": "AccessRequest",
    "metadata": {"name": "debug-orders", "namespace": "payments", "uid": "uid-1",
                 "generation": 1, "creationTimestamp": "2026-11-29T10:00:00Z"},
    "spec": {"policy": "payments-oncall", "duration": "30m", "reason": "orders stuck",
             "ticket": "INC-4211",
             "roles": [{"kind": "ClusterRole", "name": "view"}]}
  })");
  j["metadata"]["name"] = name;
  j["spec"]["requester"] = {{"username", user}, {"groups", {group}}};
  return j;
}

inline nlohmann::json approval(const std::string& who, const std::string& decision = "Approve",
                               const std::string& group = "payments-leads") {
  return {{"approver", who},
          {"approverGroups", {group}},
          {"decision", decision},
          {"comment", "ok"},
          {"time", "2026-11-29T10:01:00Z"}};
}

inline TimePoint at(const char* rfc3339) { return *parseRfc3339(rfc3339); }

}  // namespace kubegrant::controllers::access_request::testing
