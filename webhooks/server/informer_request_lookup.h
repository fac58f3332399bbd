#pragma once

// RequestLookup backed by an AccessRequest informer's cache, through an index of the open
// requests by (policy, requester): counting is a map lookup, never a scan or an API call.
// The informer must have the index (addIndexer(kOpenRequestsIndex, openRequestsIndex()))
// before it starts; the operator's AccessRequest informer carries it, so the webhook and the
// controller share one cache.

#include <string>
#include <string_view>

#include "operator/runtime/informer.h"
#include "webhooks/access_request/request_lookup.h"

namespace kubegrant::webhooks {

inline constexpr const char* kOpenRequestsIndex = "kubegrant.io/open-by-policy-requester";

// Indexes an open request (v1alpha1::isOpen) under "<policy>/<requester username>".
runtime::IndexFunc openRequestsIndex();

class InformerRequestLookup final : public RequestLookup {
 public:
  // `informer` watches kube::resources::accessRequests() with the index above, and must
  // outlive this object.
  explicit InformerRequestLookup(const runtime::Informer& informer) : informer_(informer) {}

  int countOpen(std::string_view policy, std::string_view username) const override;
  bool synced() const override { return informer_.hasSynced(); }

 private:
  const runtime::Informer& informer_;
};

}  // namespace kubegrant::webhooks
