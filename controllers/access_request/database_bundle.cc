#include "controllers/access_request/database_bundle.h"

#include <fmt/format.h>

namespace kubegrant::controllers::access_request {

namespace {

nlohmann::json labelledMeta(const v1::AccessRequest& request, const std::string& name) {
  nlohmann::json m;
  m["name"] = name;
  m["namespace"] = request.metadata.namespace_;
  m["labels"][std::string(kManagedByLabel)] = kManagedByValue;
  m["labels"][std::string(kRequestUidLabel)] = request.metadata.uid;
  m["annotations"][std::string(kRequestNameAnnotation)] = request.metadata.name;
  m["annotations"][std::string(kRequestNamespaceAnnotation)] = request.metadata.namespace_;
  return m;
}

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string secretReaderRoleName(const v1::AccessRequest& request, std::string_view target) {
  return roleBindingName(request.metadata.namespace_, request.metadata.name, v1::RoleKind::Role,
                         fmt::format("db-{}", target));
}

DesiredRoleBinding secretReaderBinding(const v1::AccessRequest& request, std::string_view target) {
  DesiredRoleBinding rb;
  rb.namespace_ = request.metadata.namespace_;
  rb.roleKind = v1::RoleKind::Role;
  rb.roleName = secretReaderRoleName(request, target);
  rb.name = rb.roleName;  // a Role and its binding share the name (different kinds)
  rb.user = request.spec.requester ? request.spec.requester->username : "";
  return rb;
}

nlohmann::json secretReaderRoleJson(const v1::AccessRequest& request, std::string_view target) {
  nlohmann::json j;
  j["apiVersion"] = "rbac.authorization.k8s.io/v1";
  j["kind"] = "Role";
  j["metadata"] = labelledMeta(request, secretReaderRoleName(request, target));
  j["rules"] = nlohmann::json::array(
      {{{"apiGroups", {""}},
        {"resources", {"secrets"}},
        {"resourceNames", {database::connectionSecretName(request.metadata.name, target)}},
        {"verbs", {"get"}}}});
  return j;
}

nlohmann::json connectionSecretJson(const v1::AccessRequest& request, std::string_view target,
                                    const database::SecretData& data) {
  nlohmann::json j;
  j["apiVersion"] = "v1";
  j["kind"] = "Secret";
  j["type"] = "Opaque";
  j["metadata"] =
      labelledMeta(request, database::connectionSecretName(request.metadata.name, target));
  j["stringData"] = data;
  return j;
}

Result<database::SecretData> decodeSecretData(const nlohmann::json& secret) {
  database::SecretData out;
  const auto data = secret.value("data", nlohmann::json::object());
  for (auto it = data.begin(); it != data.end(); ++it) {
    if (!it.value().is_string()) continue;
    const std::string in = it.value().get<std::string>();
    std::string value;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
      if (c == '=') break;
      const int v = base64Value(c);
      if (v < 0) {
        return fail(
            ErrorCode::Invalid,
            fmt::format("Secret {}/{}: key {} is not base64",
                        secret.value("metadata", nlohmann::json::object()).value("namespace", ""),
                        secret.value("metadata", nlohmann::json::object()).value("name", ""),
                        it.key()));
      }
      acc = (acc << 6) | static_cast<uint32_t>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        value.push_back(static_cast<char>((acc >> bits) & 0xFF));
      }
    }
    out[it.key()] = std::move(value);
  }
  return out;
}

}  // namespace kubegrant::controllers::access_request
