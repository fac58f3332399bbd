#pragma once

// The two cryptographic primitives the pure code needs, behind plain functions so that only
// operator/common links OpenSSL: a digest for stable derived names, and random bytes for
// credentials.

#include <cstddef>
#include <string>
#include <string_view>

#include "operator/common/result.h"

namespace kubegrant {

// Lower-case hex SHA-256 of `data` (64 characters).
std::string sha256Hex(std::string_view data);

// `bytes` bytes from OpenSSL's CSPRNG (RAND_bytes), base64url without padding: safe in URLs,
// connection strings and shell words. Unavailable when the generator fails (never a weak value).
[[nodiscard]] Result<std::string> randomUrlSafe(size_t bytes);

}  // namespace kubegrant
