#include "controllers/access_request/audit.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "operator/common/time.h"

namespace kubegrant::controllers::access_request {

namespace v1 = kubegrant::v1alpha1;

const char* toString(AuditEvent event) {
  switch (event) {
    case AuditEvent::Requested:
      return "requested";
    case AuditEvent::Approved:
      return "approved";
    case AuditEvent::Denied:
      return "denied";
    case AuditEvent::Granted:
      return "granted";
    case AuditEvent::Expired:
      return "expired";
    case AuditEvent::Revoked:
      return "revoked";
    case AuditEvent::Failed:
      return "failed";
  }
  return "unknown";
}

nlohmann::json auditRecord(AuditEvent event, const v1::AccessRequest& request,
                           const std::vector<std::string>& approvers, TimePoint now) {
  nlohmann::json j;
  j["ts"] = formatRfc3339Micro(now);
  j["kind"] = "kubegrant.audit";
  j["event"] = toString(event);
  j["request"] = {{"namespace", request.metadata.namespace_},
                  {"name", request.metadata.name},
                  {"uid", request.metadata.uid}};
  j["policy"] = request.spec.policy;
  if (request.spec.requester) {
    j["requester"] = {{"username", request.spec.requester->username},
                      {"groups", request.spec.requester->groups}};
  } else {
    j["requester"] = nullptr;
  }
  j["approvers"] = approvers;
  j["reason"] = request.spec.reason.value_or("");
  j["ticket"] = request.spec.ticket.value_or("");
  nlohmann::json roles = nlohmann::json::array();
  for (const auto& r : request.spec.roles) {
    roles.push_back(
        {{"kind", v1::toString(r.kind)}, {"name", r.name}, {"namespaces", r.namespaces}});
  }
  j["roles"] = roles;
  if (request.spec.duration) j["duration"] = *request.spec.duration;
  nlohmann::json grants = nlohmann::json::array();
  if (request.status) {
    const auto& st = *request.status;
    for (const auto& g : st.grants) grants.push_back(v1::toJson(g));
    j["phase"] = st.phase ? v1::toString(*st.phase) : "Pending";
    j["breakGlass"] = st.breakGlass.value_or(false);
    auto time = [&](const char* key, const std::optional<TimePoint>& t) {
      if (t) j[key] = formatRfc3339(*t);
    };
    time("approvedAt", st.approvedAt);
    time("activatedAt", st.activatedAt);
    time("expiresAt", st.expiresAt);
    time("endedAt", st.endedAt);
    if (st.message) j["message"] = *st.message;
  }
  j["grants"] = grants;
  return j;
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& path) {
  if (path.empty() || path == "-") {
    return std::make_unique<AuditLog>([](std::string_view line) {
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fputc('\n', stdout);
      std::fflush(stdout);
    });
  }
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (!f) {
    return fail(ErrorCode::Invalid,
                "cannot open audit log " + path + " for appending: " + std::strerror(errno));
  }
  std::shared_ptr<std::FILE> file(f, [](std::FILE* p) { std::fclose(p); });
  return std::make_unique<AuditLog>([file](std::string_view line) {
    std::fwrite(line.data(), 1, line.size(), file.get());
    std::fputc('\n', file.get());
    std::fflush(file.get());
  });
}

void AuditLog::write(const nlohmann::json& record) {
  std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard<std::mutex> g(mu_);
  sink_(line);
}

}  // namespace kubegrant::controllers::access_request
