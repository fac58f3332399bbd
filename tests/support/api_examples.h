#pragma once

// The AccessPolicy of API.md (examples/policy-payments-oncall.yaml) as a typed value, for unit
// tests, the fuzzer and benchmarks: one definition instead of one per file.
// tests/unit/api/types_test.cc checks it against the example's JSON.

#include "crds/v1alpha1/types.h"

namespace kubegrant::testing {

inline v1alpha1::AccessPolicy paymentsOncallPolicy() {
  using v1alpha1::RoleKind;
  v1alpha1::AccessPolicy p;
  p.metadata.name = "payments-oncall";
  p.spec.requesters.groups = {"payments-devs"};
  p.spec.namespaces = {"payments"};
  p.spec.roles = {{RoleKind::ClusterRole, "view"}, {RoleKind::Role, "pod-debugger"}};
  p.spec.databases = {{"orders-db", {"readonly"}}};
  p.spec.defaultDuration = "1h";
  p.spec.maxDuration = "4h";
  p.spec.pendingTimeout = "24h";
  p.spec.retainFor = "720h";
  p.spec.requireReason = true;
  p.spec.ticketPattern = "^INC-[0-9]+$";
  p.spec.maxOpenRequests = 5;
  p.spec.maxStartDelay = "168h";
  p.spec.approvalValidFor = "24h";
  p.spec.approval.approvers.groups = {"payments-leads"};
  p.spec.approval.required = 1;
  p.spec.approval.autoApprove = v1alpha1::Subjects{{}, {"sre-oncall"}};
  return p;
}

}  // namespace kubegrant::testing
