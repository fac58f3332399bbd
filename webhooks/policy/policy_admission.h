#pragma once

// Validating admission for AccessPolicy and DatabaseTarget: the sanity checks the CRD schema
// cannot express (durations parse, maxDuration >= defaultDuration, required >= 0 with
// approvers, patterns compile, ...), from crds/v1alpha1's validatePolicy and
// validateDatabaseTarget. Allowed answers carry warnings that explain consequences a
// platform team may not intend (no approval needed, break-glass subjects).

#include "crds/v1alpha1/policy.h"
#include "webhooks/server/admission.h"

namespace kubegrant::webhooks {

// `secrets`: the namespaces whose Secrets a policy's notify receivers and a target's admin and
// CA Secret may name (checkSecretNamespaces); a reference elsewhere is refused.
AdmissionResponse validateAccessPolicy(const AdmissionRequest& request,
                                       const v1alpha1::SecretNamespaces& secrets = {});
AdmissionResponse validateDatabaseTarget(const AdmissionRequest& request,
                                         const v1alpha1::SecretNamespaces& secrets = {});

}  // namespace kubegrant::webhooks
