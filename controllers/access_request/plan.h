#pragma once

// plan(): from (request, policy, now), the effects of one reconcile (effects.h). Pure: no
// I/O, no clock reads. decide() (builders.h) picks the step and the phase; this turns that
// into the grants to ensure or remove, the status to write and what to tell (audit lines,
// Events, metrics), in the order they must happen: grants before the status that reports
// them, and nothing told before the status write that makes it true.

#include "controllers/access_request/builders.h"
#include "controllers/access_request/effects.h"
#include "controllers/access_request/notifications.h"

namespace kubegrant::controllers::access_request {

// The effects for `request` (carrying the finalizer) under `policy` (nullptr = the policy
// does not exist) at `now`. The status of a request that already ended is its audit record:
// never rewritten. A reconcile that finds nothing to change plans no effect.
// `targets`: the DatabaseTargets of spec.databases as read now (builders.h). A target that was
// deleted or lost the profile revokes the request (decide()); while Active, a profile whose
// definition changed since the user got it (profileHash in status.grants) is re-applied
// (ReapplyDatabaseProfile) and the new fingerprint recorded.
// With `notify`, the lifecycle notifications the request owes (notifications.h) come last,
// after the status write that makes them true, and the plan wakes the request when
// "expiring" is due.
Plan plan(const v1::AccessRequest& request, const v1::AccessPolicy* policy, TimePoint now,
          const DatabaseTargets& targets = {}, const NotifyContext* notify = nullptr);

// After `refused` stopped a plan: remove whatever the request has, then write Failed with
// the refusal's actionable message.
Plan planRefusal(const v1::AccessRequest& request, const v1::AccessPolicy* policy,
                 const GrantRefused& refused, TimePoint now, const NotifyContext* notify = nullptr);

}  // namespace kubegrant::controllers::access_request
