// libFuzzer target over the webhook's transport-free entry point: every byte string the
// network could deliver goes through AdmissionRouter::handle with kubegrant's real routes,
// rules and a realistic policy. The first byte picks the path; the rest is the body.
// Beyond ASan/UBSan findings it asserts the router's contract: a status in the documented set,
// and a 200 body that is a JSON AdmissionReview answer (allowed is a boolean).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>

#include "crds/v1alpha1/types.h"
#include "operator/common/clock.h"
#include "operator/common/log.h"
#include "operator/common/time.h"
#include "tests/support/api_examples.h"
#include "webhooks/access_request/handler.h"
#include "webhooks/access_request/lookup.h"
#include "webhooks/server/routes.h"

using namespace kubegrant;

namespace {

struct World {
  webhooks::StaticPolicyLookup policies;
  FakeClock clock{*parseRfc3339("2026-11-29T10:00:00Z")};
  std::unique_ptr<webhooks::AccessRequestAdmission> admission;
  std::unique_ptr<webhooks::AdmissionRouter> router;

  World() {
    log::setLevel(log::Level::Error);
    policies.put(testing::paymentsOncallPolicy());
    admission = std::make_unique<webhooks::AccessRequestAdmission>(policies, clock);
    router = std::make_unique<webhooks::AdmissionRouter>(
        webhooks::makeRouter(*admission, webhooks::kDefaultMaxBodyBytes));
  }
};

constexpr std::string_view kPaths[] = {
    webhooks::kValidateAccessRequestPath, webhooks::kMutateAccessRequestPath,
    webhooks::kValidateAccessPolicyPath, webhooks::kValidateDatabaseTargetPath};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();  // leaked on purpose: lives for the whole run
  if (size == 0) return 0;
  std::string_view path = kPaths[data[0] % 4];
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  webhooks::HttpReply reply = world->router->handle({"POST", path, "application/json", body});
  switch (reply.status) {
    case 200: {
      auto out = nlohmann::json::parse(reply.body, nullptr, false);
      if (out.is_discarded() || !out["response"]["allowed"].is_boolean()) std::abort();
      break;
    }
    case 400:
    case 413:
      break;
    default:
      std::abort();
  }
  return 0;
}
