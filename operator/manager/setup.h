#pragma once

// kubegrant's part of the operator: what runs in the runtime::Manager. main.cc parses the
// flags, builds the client and the manager, calls setupOperator() and runs the manager.
//
// Registered: caches of AccessRequests (indexed by spec.policy and by open requests per
// policy/requester), AccessPolicies, the seal keys Secret (/readyz waits for its keys) and the
// RoleBindings labelled managed-by=kubegrant; the AccessRequest controller (with the
// PostgreSQL credential provider for spec.databases), woken by a change to a request, to its
// policy or to one of its RoleBindings; the sweep (leader only); the
// Event sink; and, unless --webhook-port=0, the admission webhook server, whose readiness
// (the port accepts connections) is part of /readyz.

#include "controllers/access_request/audit.h"
#include "operator/common/clock.h"
#include "operator/manager/flags.h"
#include "operator/runtime/manager.h"

namespace kubegrant::manager {

// The runtime's options from the flags (probes, metrics, leader election).
runtime::ManagerOptions managerOptions(const Flags& flags);

// Registers kubegrant with `mgr`. `audit` may be null; it and `clock` must outlive `mgr`.
// Invalid when the operator's identity cannot be resolved (--operator-identity) or
// --seal-keys-secret is malformed.
[[nodiscard]] Result<void> setupOperator(runtime::Manager& mgr, Clock& clock,
                                         controllers::access_request::AuditLog* audit,
                                         const Flags& flags);

}  // namespace kubegrant::manager
