#include "webhooks/server/routes.h"

#include <string>

#include "webhooks/policy/policy_admission.h"

namespace kubegrant::webhooks {

AdmissionRouter makeRouter(const AccessRequestAdmission& admission, std::size_t maxBodyBytes,
                           v1alpha1::SecretNamespaces secrets) {
  AdmissionRouter router(maxBodyBytes);
  router.add(std::string(kMutateAccessRequestPath),
             [&admission](const AdmissionRequest& r) { return admission.mutate(r); });
  router.add(std::string(kValidateAccessRequestPath),
             [&admission](const AdmissionRequest& r) { return admission.validate(r); });
  router.add(std::string(kValidateAccessPolicyPath),
             [secrets](const AdmissionRequest& r) { return validateAccessPolicy(r, secrets); });
  router.add(std::string(kValidateDatabaseTargetPath),
             [secrets](const AdmissionRequest& r) { return validateDatabaseTarget(r, secrets); });
  return router;
}

}  // namespace kubegrant::webhooks
