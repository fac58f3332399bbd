#pragma once

// Base64 decoding as Kubernetes data fields need it (Secret data, kubeconfig *-data).

#include <string>
#include <string_view>

#include "operator/common/result.h"

namespace kubegrant {

// Decodes standard or URL-safe base64; padding and whitespace are ignored. Invalid (naming
// `what`, never echoing the input: it may be a credential) on any other character.
[[nodiscard]] Result<std::string> base64Decode(std::string_view in, std::string_view what);

}  // namespace kubegrant
