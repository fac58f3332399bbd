#pragma once

// URL building for the API server: percent-encoding of path segments and query values,
// and the query strings of list/watch/write calls. Pure functions, no I/O.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "operator/kube/client.h"

namespace kubegrant::kube {

// Percent-encodes everything except RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~),
// so selectors such as "a in (x,y),!b" or names can never break out of their slot.
std::string percentEncode(std::string_view s);

// Builds "?k=v&k2=v2" with keys and values percent-encoded; "" when empty.
class Query {
 public:
  Query& add(std::string_view key, std::string_view value);
  // Adds only when the value is non-empty.
  Query& addIfSet(std::string_view key, std::string_view value);
  std::string str() const;
  bool empty() const { return params_.empty(); }

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

std::string listQuery(const ListOptions& options);
std::string watchQuery(const WatchOptions& options, std::int64_t effectiveTimeoutSeconds);
std::string writeQuery(const WriteOptions& options);
std::string patchQuery(PatchType type, const PatchOptions& options);

// The Content-Type of a PATCH body of this type.
const char* patchContentType(PatchType type);

// The DeleteOptions body the API server expects (kind DeleteOptions, preconditions, ...).
nlohmann::json deleteOptionsBody(const DeleteOptions& options);

}  // namespace kubegrant::kube
