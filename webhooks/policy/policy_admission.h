#pragma once

// Validating admission for AccessPolicy and DatabaseTarget: the sanity checks the CRD schema
// cannot express (durations parse, maxDuration >= defaultDuration, required >= 0 with
// approvers, patterns compile, ...), from crds/v1alpha1's validatePolicy and
// validateDatabaseTarget. Allowed answers carry warnings that explain consequences a
// platform team may not intend (no approval needed, break-glass subjects).

#include "webhooks/server/admission.h"

namespace kubegrant::webhooks {

AdmissionResponse validateAccessPolicy(const AdmissionRequest& request);
AdmissionResponse validateDatabaseTarget(const AdmissionRequest& request);

}  // namespace kubegrant::webhooks
