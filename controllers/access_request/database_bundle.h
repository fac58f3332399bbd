#pragma once

// Pure pieces of a request's database bundle: per spec.databases entry, a database user
// (controllers/database), the Secret `<request>-<target>` with its credentials, and a Role +
// RoleBinding that let the requester `get` exactly that Secret.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "controllers/access_request/builders.h"
#include "controllers/database/credentials.h"

namespace kubegrant::controllers::access_request {

// The Role granting `get` on the request's Secret for `target` (same naming scheme as the
// RoleBindings), and the binding of the requester to it.
std::string secretReaderRoleName(const v1::AccessRequest& request, std::string_view target);
DesiredRoleBinding secretReaderBinding(const v1::AccessRequest& request, std::string_view target);
nlohmann::json secretReaderRoleJson(const v1::AccessRequest& request, std::string_view target);

// The Secret with the credentials (stringData; labelled like the RoleBindings).
nlohmann::json connectionSecretJson(const v1::AccessRequest& request, std::string_view target,
                                    const database::SecretData& data);

// The decoded `data` of a Secret as read from the API server (base64); Invalid naming the
// Secret when a value is not base64.
[[nodiscard]] Result<database::SecretData> decodeSecretData(const nlohmann::json& secret);

}  // namespace kubegrant::controllers::access_request
