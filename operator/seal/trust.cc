#include "operator/seal/trust.h"

#include <fmt/format.h>

#include "crds/v1alpha1/duration.h"
#include "crds/v1alpha1/policy.h"
#include "operator/common/time.h"
#include "operator/seal/forms.h"

namespace kubegrant::seal {

namespace {

using v1alpha1::AccessRequest;
using v1alpha1::AccessRequestStatus;

}  // namespace

bool hasOperatorFields(const AccessRequestStatus& s) {
  return s.phase || s.breakGlass || s.approvedAt || s.activatedAt || s.expiresAt || s.endedAt ||
         !s.grants.empty() || !s.conditions.empty() || s.message || s.observedGeneration;
}

Trust assess(const AccessRequest& observed, const v1alpha1::AccessPolicy* policy,
             const Sealer& sealer, TimePoint now) {
  Trust t;
  t.request = observed;
  AccessRequest& r = t.request;

  auto unavailable = [&](const Error& e) {
    t.unavailable = e;
    return t;
  };

  // The requester.
  if (!r.spec.requester) {
    t.forgedRequester =
        "spec.requester: missing; only the kubegrant admission webhook records the requester";
  } else {
    auto v = sealer.verify(requesterForm(r), r.spec.requesterSeal.value_or(""));
    if (!v && v.error().code == ErrorCode::Unavailable) return unavailable(v.error());
    if (!v) {
      t.forgedRequester = fmt::format(
          "spec.requesterSeal: {}; the requester {} was not recorded by the kubegrant admission "
          "webhook and is not believed",
          v.error().message, r.spec.requester->username);
    }
  }

  if (!r.status) return t;
  AccessRequestStatus& st = *r.status;

  // The operator's own status.
  if (hasOperatorFields(st)) {
    auto v = sealer.verify(statusForm(r), st.seal.value_or(""));
    if (!v && v.error().code == ErrorCode::Unavailable) return unavailable(v.error());
    if (!v) {
      t.statusVerified = false;
      t.tampering = fmt::format(
          "status.seal: {}; the status (phase {}) was not written by the kubegrant operator: "
          "treated as tampering",
          v.error().message, st.phase ? v1alpha1::toString(*st.phase) : "unset");
    }
  }

  // Approvals: sealed for this request, and fresh enough while not yet active.
  std::optional<Duration> validFor;
  bool notActiveYet = !st.activatedAt;
  if (policy && notActiveYet) {
    if (auto d = v1alpha1::effectiveApprovalValidFor(*policy)) validFor = *d;
  }
  std::vector<v1alpha1::Approval> counted;
  for (std::size_t i = 0; i < st.approvals.size(); ++i) {
    const auto& a = st.approvals[i];
    std::string who = a.approver.value_or("(nobody)");
    auto v = sealer.verify(approvalForm(r.metadata.uid, a), a.seal.value_or(""));
    if (!v && v.error().code == ErrorCode::Unavailable) return unavailable(v.error());
    if (!v) {
      if (!t.tampering) {
        t.tampering = fmt::format(
            "status.approvals[{}].seal: {}; the decision by {} was not recorded by the kubegrant "
            "admission webhook: treated as tampering",
            i, v.error().message, who);
      }
      continue;
    }
    if (validFor && a.decision == v1alpha1::Decision::Approve && a.time &&
        now - *a.time > *validFor) {
      t.ignoredApprovals.push_back(fmt::format(
          "status.approvals[{}] by {}: given at {}, more than approvalValidFor {} ago, before "
          "the request was active; not counted",
          i, who, formatRfc3339(*a.time), v1alpha1::formatDuration(*validFor)));
      continue;
    }
    counted.push_back(a);
  }
  st.approvals = std::move(counted);

  // Recomputed, never read from the object.
  if (!t.forgedRequester) {
    st.breakGlass = policy && v1alpha1::isBreakGlass(*policy, *r.spec.requester);
  }
  if (policy && st.activatedAt && st.expiresAt) {
    if (auto d = v1alpha1::effectiveDuration(*policy, r.spec)) {
      TimePoint cap = v1alpha1::expiryFor(*st.activatedAt, *d);
      if (*st.expiresAt > cap) st.expiresAt = cap;
    }
  }
  return t;
}

Result<void> sealStatus(AccessRequest& request, const Sealer& sealer) {
  if (!request.status) request.status = AccessRequestStatus{};
  auto s = sealer.seal(statusForm(request));
  if (!s) return std::unexpected(s.error());
  request.status->seal = *s;
  return ok();
}

}  // namespace kubegrant::seal
