#include "controllers/database/credentials.h"

#include <fmt/format.h>

#include <algorithm>

#include "controllers/database/sql.h"
#include "operator/common/crypto.h"
#include "operator/common/time.h"

namespace kubegrant::database {

namespace {

// RFC 3986 unreserved characters stay; everything else is %XX.
std::string percentEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

Result<std::string> key(const SecretData& data, const v1alpha1::SecretReference& ref,
                        const std::string& name) {
  auto it = data.find(name);
  if (it == data.end() || it->second.empty()) {
    return fail(ErrorCode::Invalid,
                fmt::format("Secret {}/{} has no key {}", ref.namespace_, ref.name, name));
  }
  return it->second;
}

}  // namespace

Result<TargetAccess> targetAccess(const v1alpha1::DatabaseTarget& target, const SecretData& admin,
                                  const SecretData* ca) {
  TargetAccess a;
  a.target = target.metadata.name;
  a.host = target.spec.host;
  a.port = target.spec.port;
  a.database = target.spec.database;
  a.sslMode = target.spec.sslMode;
  auto user = key(admin, target.spec.adminSecretRef, "username");
  if (!user) return fail(user.error());
  auto password = key(admin, target.spec.adminSecretRef, "password");
  if (!password) return fail(password.error());
  a.adminUser = std::move(*user);
  a.adminPassword = SecretString(std::move(*password));
  if (target.spec.caSecretRef) {
    if (!ca) {
      return fail(ErrorCode::Invalid,
                  fmt::format("Secret {}/{} (caSecretRef) is not available",
                              target.spec.caSecretRef->namespace_, target.spec.caSecretRef->name));
    }
    auto pem = key(*ca, *target.spec.caSecretRef, "ca.crt");
    if (!pem) return fail(pem.error());
    a.caCertPem = std::move(*pem);
  }
  return a;
}

SecretData connectionSecretData(const v1alpha1::DatabaseTarget& target, const IssuedUser& user,
                                TimePoint expiresAt, const std::string& caPem) {
  const auto& s = target.spec;
  const std::string host = s.host.find(':') != std::string::npos ? "[" + s.host + "]" : s.host;
  SecretData d;
  d["host"] = s.host;
  d["port"] = std::to_string(s.port);
  d["database"] = s.database;
  d["username"] = user.role;
  d["password"] = user.password.reveal();
  d["sslmode"] = s.sslMode;
  d["uri"] = fmt::format("postgresql://{}:{}@{}:{}/{}?sslmode={}", percentEncode(user.role),
                         percentEncode(user.password.reveal()), host, s.port,
                         percentEncode(s.database), percentEncode(s.sslMode));
  d["expiresAt"] = formatRfc3339(expiresAt);
  if (!caPem.empty()) d["ca.crt"] = caPem;
  return d;
}

std::string connectionSecretName(std::string_view requestName, std::string_view target) {
  std::string name = fmt::format("{}-{}", requestName, target);
  if (name.size() <= 253) return name;
  return fmt::format("{}-{}", name.substr(0, 253 - 17), sha256Hex(name).substr(0, 16));
}

std::string roleComment(std::string_view requestNamespace, std::string_view requestName,
                        std::string_view requestUid, std::string_view target) {
  return fmt::format("kubegrant: AccessRequest {}/{} (uid {}) on DatabaseTarget {}",
                     requestNamespace, requestName, requestUid, target);
}

ProfileColumns profileColumns(const v1alpha1::DatabaseProfile& profile) {
  ProfileColumns out;
  for (const auto& g : profile.grants) {
    for (const auto& [table, columns] : g.excludeColumns) {
      for (const auto& c : columns) {
        out.withheld.push_back(fmt::format("{}.{}.{}", g.schema, table, c));
      }
    }
    for (const auto& [table, columns] : g.maskColumns) {
      for (const auto& [c, mask] : columns) {
        out.masked.push_back(fmt::format("{}.{}.{} ({})", g.schema, table, c, toString(mask)));
      }
    }
  }
  std::sort(out.withheld.begin(), out.withheld.end());
  std::sort(out.masked.begin(), out.masked.end());
  return out;
}

std::string profileSummary(std::string_view target, const v1alpha1::DatabaseProfile& profile) {
  const auto columns = profileColumns(profile);
  std::string out = fmt::format("database {}/{}: ", target, profile.name);
  if (columns.withheld.empty() && columns.masked.empty()) {
    return out + "no column withheld or masked";
  }
  std::vector<std::string> parts;
  if (!columns.withheld.empty()) {
    parts.push_back(fmt::format("withheld {}", fmt::join(columns.withheld, ", ")));
  }
  if (!columns.masked.empty()) {
    parts.push_back(fmt::format("masked {}", fmt::join(columns.masked, ", ")));
  }
  return out + fmt::format("{}", fmt::join(parts, "; "));
}

std::vector<std::string> orphanRoles(const std::vector<DatabaseRole>& listed,
                                     const std::set<std::string>& live) {
  std::vector<std::string> out;
  for (const auto& r : listed) {
    if (r.name.starts_with(kRolePrefix) && !live.contains(r.name)) out.push_back(r.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string profileHash(const v1alpha1::DatabaseTarget& target,
                        const v1alpha1::DatabaseProfile& profile) {
  // Through the CRD codec (nlohmann's objects keep their keys sorted): the same definition
  // always gives the same text, whatever order the YAML had.
  v1alpha1::DatabaseTarget only;
  only.spec.auditStatements = target.spec.auditStatements;
  only.spec.profiles.push_back(profile);
  const auto spec = v1alpha1::toJson(only).value("spec", nlohmann::json::object());
  nlohmann::json canonical = {{"auditStatements", target.spec.auditStatements},
                              {"grants", spec["profiles"][0].value("grants", nlohmann::json())}};
  return sha256Hex(canonical.dump()).substr(0, 16);
}

std::chrono::seconds revocationBackoff(int attempt) {
  if (attempt < 0) attempt = 0;
  if (attempt >= 5) return std::chrono::seconds(30);
  return std::min(std::chrono::seconds(1 << attempt), std::chrono::seconds(30));
}

}  // namespace kubegrant::database
