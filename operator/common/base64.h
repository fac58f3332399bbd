#pragma once

// Base64 (RFC 4648) as Kubernetes uses it: Secret data, kubeconfig certificate data,
// AdmissionReview patches. One implementation for the whole operator.

#include <string>
#include <string_view>

#include "operator/common/result.h"

namespace kubegrant {

// Standard alphabet, with '=' padding.
std::string base64Encode(std::string_view bytes);
// Unpadded URL-safe alphabet ('-', '_'), as JWTs and seals use it.
std::string base64UrlEncode(std::string_view bytes);
// Accepts the standard and the URL-safe alphabet, with or without padding, and ignores
// whitespace (PEM-style line breaks). Invalid with "`what` is not valid base64" otherwise.
[[nodiscard]] Result<std::string> base64Decode(std::string_view text, std::string_view what);

}  // namespace kubegrant
