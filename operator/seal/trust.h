#pragma once

// What the operator may believe about an AccessRequest (issue 11): only what kubegrant
// sealed. Whatever reaches the operator while the admission webhook is not in the path is
// checked here before the reconciler plans anything:
//   - spec.requester counts only with a requester seal that verifies (else: forged);
//   - an approval whose seal does not verify for this request's UID was written around the
//     webhook: tampering; a sealed approval counts only (until the request is active) when it
//     is not older than the policy's approvalValidFor;
//   - a status carrying anything the operator writes (phase, times, breakGlass, grants,
//     conditions, message) must carry the operator's status seal over it (else: tampering);
//   - breakGlass is recomputed from the policy, and expiresAt is never later than
//     activatedAt + the duration recomputed from spec and policy.
// Pure: no I/O, no clock reads.

#include <optional>
#include <string>
#include <vector>

#include "crds/v1alpha1/types.h"
#include "operator/common/clock.h"
#include "operator/common/result.h"
#include "operator/seal/seal.h"

namespace kubegrant::seal {

struct Trust {
  // The request as the operator may act on it (see above).
  v1alpha1::AccessRequest request;
  // Set when the status holds what neither the operator nor the webhook wrote (its operator
  // fields without the operator's seal, or an approval without the webhook's): a sentence
  // naming the rule. The reconciler then revokes every grant and ends the request as Failed.
  std::optional<std::string> tampering;
  // Set when spec.requester is not the webhook's: the request is not believed at all.
  std::optional<std::string> forgedRequester;
  // The status is the operator's own: it carries nothing only the operator writes, or its
  // seal verifies (so its recorded grants may be believed).
  bool statusVerified = true;
  // One sentence per sealed approval that no longer counts (older than approvalValidFor).
  std::vector<std::string> ignoredApprovals;
  // Set when a key is missing (keys not loaded yet): nothing can be judged, retry later.
  std::optional<Error> unavailable;
};

// `policy` nullptr: the policy is gone (breakGlass false, expiresAt not capped).
Trust assess(const v1alpha1::AccessRequest& observed, const v1alpha1::AccessPolicy* policy,
             const Sealer& sealer, TimePoint now);

// True when the status holds anything only the operator writes (what statusForm covers, and
// conditions, message, observedGeneration): such a status must carry the operator's seal.
bool hasOperatorFields(const v1alpha1::AccessRequestStatus& status);

// Seals `request.status` (status.seal = seal of statusForm) before the operator writes it.
[[nodiscard]] Result<void> sealStatus(v1alpha1::AccessRequest& request, const Sealer& sealer);

}  // namespace kubegrant::seal
