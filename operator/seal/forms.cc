#include "operator/seal/forms.h"

#include "operator/common/time.h"

namespace kubegrant::seal {

namespace {

using v1alpha1::AccessRequest;

std::string timeOr(const std::optional<TimePoint>& t) { return t ? formatRfc3339(*t) : ""; }

}  // namespace

CanonicalForm requesterForm(const AccessRequest& request) {
  v1alpha1::AccessRequestSpec spec = request.spec;
  v1alpha1::UserInfo requester = spec.requester.value_or(v1alpha1::UserInfo{});
  spec.requester.reset();
  spec.requesterSeal.reset();
  spec.revoke = false;
  CanonicalForm form("requester");
  form.add("namespace", request.metadata.namespace_)
      .add("username", requester.username)
      .addSet("groups", requester.groups)
      .add("spec", v1alpha1::toJson(spec).dump());
  return form;
}

CanonicalForm approvalForm(std::string_view requestUid, const v1alpha1::Approval& approval) {
  CanonicalForm form("approval");
  form.add("uid", requestUid)
      .add("approver", approval.approver.value_or(""))
      .addSet("groups", approval.approverGroups)
      .add("decision", v1alpha1::toString(approval.decision))
      .add("comment", approval.comment.value_or(""))
      .add("time", timeOr(approval.time));
  return form;
}

CanonicalForm statusForm(const AccessRequest& request) {
  v1alpha1::AccessRequestStatus status = request.status.value_or(v1alpha1::AccessRequestStatus{});
  nlohmann::json grants = nlohmann::json::array();
  for (const auto& g : status.grants) grants.push_back(v1alpha1::toJson(g));
  CanonicalForm form("status");
  form.add("uid", request.metadata.uid)
      .add("phase", status.phase ? v1alpha1::toString(*status.phase) : "")
      .add("breakGlass", status.breakGlass.value_or(false) ? "true" : "false")
      .add("approvedAt", timeOr(status.approvedAt))
      .add("activatedAt", timeOr(status.activatedAt))
      .add("expiresAt", timeOr(status.expiresAt))
      .add("endedAt", timeOr(status.endedAt))
      .add("grants", grants.dump());
  return form;
}

}  // namespace kubegrant::seal
