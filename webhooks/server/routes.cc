#include "webhooks/server/routes.h"

#include <string>

#include "webhooks/policy/policy_admission.h"

namespace kubegrant::webhooks {

AdmissionRouter makeRouter(const AccessRequestAdmission& admission, std::size_t maxBodyBytes) {
  AdmissionRouter router(maxBodyBytes);
  router.add(std::string(kMutateAccessRequestPath),
             [&admission](const AdmissionRequest& r) { return admission.mutate(r); });
  router.add(std::string(kValidateAccessRequestPath),
             [&admission](const AdmissionRequest& r) { return admission.validate(r); });
  router.add(std::string(kValidateAccessPolicyPath), validateAccessPolicy);
  router.add(std::string(kValidateDatabaseTargetPath), validateDatabaseTarget);
  return router;
}

}  // namespace kubegrant::webhooks
