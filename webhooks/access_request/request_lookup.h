#pragma once

// How the admission rules see existing AccessRequests: only to count a requester's open
// requests under a policy (maxOpenRequests). Production backs it with an AccessRequest
// informer's cache (never an API call per review); the count is as fresh as that cache, so a
// burst of creates faster than the watch can overshoot by the creates in flight.

#include <string>
#include <string_view>

namespace kubegrant::webhooks {

class RequestLookup {
 public:
  virtual ~RequestLookup() = default;
  // Open (Pending, Approved, Active, not being deleted) requests by `username` under `policy`.
  virtual int countOpen(std::string_view policy, std::string_view username) const = 0;
  // False until the backing cache has listed once; creates are then refused (503, retryable).
  virtual bool synced() const { return true; }
};

}  // namespace kubegrant::webhooks
