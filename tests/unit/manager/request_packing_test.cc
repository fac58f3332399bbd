#include "operator/manager/request_packing.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kubegrant::manager {
namespace {

namespace v1 = v1alpha1;

// Every field of an AccessRequest the API has, set.
nlohmann::json everyField() {
  return nlohmann::json::parse(R"({
    "apiVersion": "kubegrant.io/v1alpha1", "kind": "AccessRequest",
    "metadata": {"name": "debug-orders", "namespace": "payments", "uid": "2b1c0d5e-1111-2222-3333-444455556666",
      "resourceVersion": "4711", "generation": 3, "creationTimestamp": "2026-12-01T10:00:00Z",
      "deletionTimestamp": "2026-12-01T12:00:00Z", "finalizers": ["kubegrant.io/revoke"],
      "labels": {"team": "payments"},
      "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"spec\":{}}"},
      "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u-1"}]},
    "spec": {"policy": "payments-oncall", "duration": "2h", "startAt": "2026-12-01T10:05:00Z",
      "reason": "INC-42: orders stuck", "ticket": "INC-42", "revoke": false,
      "roles": [{"kind": "Role", "name": "pod-debugger", "namespaces": ["payments", "orders"]},
                {"kind": "ClusterRole", "name": "node-viewer", "scope": "Cluster"}],
      "rules": [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"],
                 "resourceNames": ["api-0"], "namespaces": ["payments"]}],
      "databases": [{"target": "orders-db", "profile": "support-readonly"}],
      "requester": {"username": "alice", "groups": ["payments-devs", "system:authenticated"]},
      "requesterSeal": "v1.k20261201.fsvs8QN6S7TuTWuX5Yz68tQf44BVh9ftprTddbaDVck"},
    "status": {"phase": "Active", "breakGlass": false,
      "approvals": [{"approver": "bob", "approverGroups": ["payments-leads"], "decision": "Approve",
                     "comment": "go", "time": "2026-12-01T10:01:00Z", "seal": "v1.k20261201.abc"}],
      "approvedAt": "2026-12-01T10:01:00Z", "activatedAt": "2026-12-01T10:05:00Z",
      "expiresAt": "2026-12-01T12:05:00Z",
      "grants": [{"kind": "RoleBinding", "namespace": "payments", "name": "kubegrant-debug-orders-pod-debugger-1"},
                 {"kind": "DatabaseUser", "name": "kg_0123456789abcdef", "target": "orders-db",
                  "profile": "support-readonly", "profileHash": "9f86d081"}],
      "conditions": [{"type": "Approved", "status": "True", "observedGeneration": 3,
                      "lastTransitionTime": "2026-12-01T10:01:00Z", "reason": "Approved", "message": "approved by bob"},
                     {"type": "Granted", "status": "True", "observedGeneration": 3,
                      "lastTransitionTime": "2026-12-01T10:05:00Z", "reason": "Granted", "message": "access granted"}],
      "observedGeneration": 3, "message": "access granted", "seal": "v1.k20261201.def"}
  })");
}

TEST(AccessRequestPacking, UnpacksToTheSameRequestAndIsAFractionOfItsJson) {
  auto request = v1::fromJson<v1::AccessRequest>(everyField());
  ASSERT_TRUE(request) << request.error().message;
  const auto packing = accessRequestPacking();
  const std::string packed = packing.pack(*request);
  auto back = packing.unpack(packed);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, *request);
  const std::size_t json = v1::toJson(*request).dump().size();
  EXPECT_LT(packed.size(), json / 2) << packed.size() << " of " << json;

  // A minimal request (no status yet) too.
  v1::AccessRequest pending;
  pending.metadata.name = "r";
  pending.metadata.namespace_ = "ns";
  pending.spec.policy = "p";
  auto minimal = packing.unpack(packing.pack(pending));
  ASSERT_TRUE(minimal) << minimal.error().message;
  EXPECT_EQ(*minimal, pending);
  EXPECT_EQ(packing.hot, 256u);
}

TEST(AccessRequestPacking, BytesItDidNotPackAreRefused) {
  const auto packing = accessRequestPacking();
  auto r = packing.unpack("not packed");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::Invalid);
}

}  // namespace
}  // namespace kubegrant::manager
