#pragma once

// kubegrant's admission routes, independent of the transport: the HTTPS server serves them,
// and the fuzzer and tests drive them directly.
//   POST /mutate-accessrequest     stamps spec.requester (create), approver/time (status)
//   POST /validate-accessrequest   create, spec update and status (approval) rules
//   POST /validate-accesspolicy    AccessPolicy sanity
//   POST /validate-databasetarget  DatabaseTarget sanity

#include <cstddef>
#include <string_view>

#include "crds/v1alpha1/policy.h"
#include "webhooks/access_request/handler.h"
#include "webhooks/server/admission.h"

namespace kubegrant::webhooks {

inline constexpr std::string_view kMutateAccessRequestPath = "/mutate-accessrequest";
inline constexpr std::string_view kValidateAccessRequestPath = "/validate-accessrequest";
inline constexpr std::string_view kValidateAccessPolicyPath = "/validate-accesspolicy";
inline constexpr std::string_view kValidateDatabaseTargetPath = "/validate-databasetarget";

// The four routes over `admission` (which must outlive the router). `secrets`: where policies
// and targets may reference Secrets (policy_admission.h).
AdmissionRouter makeRouter(const AccessRequestAdmission& admission,
                           std::size_t maxBodyBytes = kDefaultMaxBodyBytes,
                           v1alpha1::SecretNamespaces secrets = {});

}  // namespace kubegrant::webhooks
