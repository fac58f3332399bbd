#pragma once

// What the webhook e2e suites (tests/e2e/webhooks, tests/e2e/security) share: the operator's
// RBAC for the webhook's caches, the HTTP pool size, and how kubectl prints a refusal.

#include <gtest/gtest.h>

#include <string>

#include "tests/support/test_env.h"
#include "webhooks/server/https_server.h"

namespace kubegrant::testing {

// kubectl prints the validating webhook's message after this prefix, then a newline.
inline const std::string kValidatingRefusal =
    "admission webhook \"vaccessrequest.kubegrant.io\" denied the request: ";

// The operator identity's permissions the suites' in-process webhook needs: read policies,
// watch and write requests (it also plays the operator with kubectl).
inline const char* kWebhookE2eOperatorRbac = R"(
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kubegrant-webhook-e2e-operator}
rules:
  - apiGroups: ["kubegrant.io"]
    resources: ["accesspolicies", "databasetargets"]
    verbs: ["get", "list", "watch"]
  - apiGroups: ["kubegrant.io"]
    resources: ["accessrequests", "accessrequests/status"]
    verbs: ["get", "list", "watch", "update", "patch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kubegrant-webhook-e2e-operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubegrant-webhook-e2e-operator}
subjects:
  - {kind: User, apiGroup: rbac.authorization.k8s.io, name: kubegrant-operator}
)";

// As kubegrant-operator does (--http-threads, one per core): the webhook listener, the API
// client and the informers' long-running watches all share a pool of 2 threads here, so a
// blocked pool thread would show up as a hung or timed-out test.
class SmallHttpPool : public ::testing::Environment {
 public:
  void SetUp() override {
    ASSERT_TRUE(webhooks::configureHttpThreads(2)) << "pool already created";
  }
};

// What the operator writes first on a new request (so approvers can append decisions).
inline constexpr const char* kPendingStatus = R"({"status":{"phase":"Pending","approvals":[]}})";

// A merge patch of the status subresource of AccessRequest ns/name as `user`.
inline CommandResult patchStatus(const TestEnv& env, std::string_view user, const std::string& ns,
                                 const std::string& name, const std::string& mergePatch) {
  return kubectl(
      env, user,
      {"patch", "areq", name, "-n", ns, "--subresource=status", "--type=merge", "-p", mergePatch});
}

// Appends a decision (`approval` is the JSON of one status.approvals entry) as `user`, as
// API.md tells approvers to.
inline CommandResult appendDecision(const TestEnv& env, std::string_view user,
                                    const std::string& ns, const std::string& name,
                                    const std::string& approval) {
  return kubectl(env, user,
                 {"patch", "areq", name, "-n", ns, "--subresource=status", "--type=json", "-p",
                  R"([{"op":"add","path":"/status/approvals/-","value":)" + approval + "}]"});
}

}  // namespace kubegrant::testing
