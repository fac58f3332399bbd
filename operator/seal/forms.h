#pragma once

// What kubegrant seals on an AccessRequest, as canonical forms (seal.h). The admission
// webhook seals the requester it stamps and each approval it stamps; the operator seals its
// own status transitions. Both sides build the form from the typed object (crds/v1alpha1), so
// a field the API server adds, reorders or defaults never breaks a seal, and a field a client
// changes always does.
//
// Where the seals live (field names are the implementation's, API.md):
//   spec.requesterSeal          requesterForm
//   status.approvals[i].seal    approvalForm
//   status.seal                 statusForm

#include <string_view>

#include "crds/v1alpha1/types.h"
#include "operator/seal/seal.h"

namespace kubegrant::seal {

// The request's namespace, spec.requester (username, set of groups) and the spec as asked
// (policy, duration, startAt, reason, ticket, roles, databases): a requester seal cannot be
// moved to a request for something else, nor to another namespace. spec.revoke and the seal
// itself are left out (revoke may change later). Not the name or UID: neither exists yet when
// the mutating webhook runs on a create with generateName.
CanonicalForm requesterForm(const v1alpha1::AccessRequest& request);

// One decision on the request with UID `requestUid`: approver, set of approverGroups,
// decision, comment, time (second precision, as stored).
CanonicalForm approvalForm(std::string_view requestUid, const v1alpha1::Approval& approval);

// The operator's transitions on the request with UID `request.metadata.uid`: phase,
// breakGlass, approvedAt, activatedAt, expiresAt, endedAt and grants.
CanonicalForm statusForm(const v1alpha1::AccessRequest& request);

}  // namespace kubegrant::seal
