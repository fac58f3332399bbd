#include "controllers/access_request/audit.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "operator/common/log.h"
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

namespace {

// The audit file: appended to with one write(2) per line, locked against other processes, and
// reopened when rotation renamed it away.
class AuditFile {
 public:
  explicit AuditFile(std::string path) : path_(std::move(path)) {}
  ~AuditFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  AuditFile(const AuditFile&) = delete;
  AuditFile& operator=(const AuditFile&) = delete;

  Result<void> open() {
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
      return fail(ErrorCode::Invalid, fmt::format("cannot open audit log {} for appending: {}",
                                                  path_, std::strerror(errno)));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      return fail(ErrorCode::Invalid,
                  fmt::format("audit log {} is locked by another process ({}): each replica "
                              "needs its own --audit-log file",
                              path_, std::strerror(err)));
    }
    struct stat st {};
    ::fstat(fd, &st);
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    return ok();
  }

  // Writes `bytes` whole, reopening first when the path no longer names the open file.
  Result<void> append(std::string_view bytes) {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0 || st.st_dev != dev_ || st.st_ino != ino_) {
      if (auto r = open(); !r) return r;
      log::info("audit", "audit log rotated: continuing the chain in a new file",
                {{"path", path_}});
    }
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail(ErrorCode::Unavailable,
                    fmt::format("cannot write audit log {}: {}", path_, std::strerror(errno)));
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return ok();
  }

 private:
  std::string path_;
  int fd_ = -1;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

// The head the file at `path` continues (see AuditLog::open); `terminate` when its last line
// is torn and needs a '\n' before the next one.
Result<audit::ChainHead> resumeHead(const std::string& path, bool& terminate) {
  terminate = false;
  std::string from = path;
  auto last = audit::lastLineOf(path);
  if (!last) return fail(last.error());
  if (!*last) {
    from = path + ".1";
    last = audit::lastLineOf(from);
    if (!last) return fail(last.error());
    if (!*last) return audit::ChainHead{};
  }
  if (!(*last)->complete) {
    terminate = from == path;
    log::error("audit",
               "the audit log ends with a torn line: a new chain starts (verify reports it)",
               {{"path", from}});
    return audit::ChainHead{};
  }
  auto head = audit::headOf((*last)->text);
  if (!head) {
    log::error("audit",
               "the audit log's last line is not a chained line: a new chain starts (verify "
               "reports it)",
               {{"path", from}, {"error", head.error().message}});
    return audit::ChainHead{};
  }
  log::info("audit", "audit log continues its chain",
            {{"path", path}, {"from", from}, {"seq", head->seq}, {"hash", head->hash}});
  return *head;
}

}  // namespace

AuditLog::AuditLog(Sink sink, audit::ChainHead head)
    : writer_([sink = std::move(sink)](std::string_view line) -> Result<void> {
        sink(line);
        return ok();
      }),
      head_(std::move(head)) {}

AuditLog::AuditLog(Writer writer, audit::ChainHead head)
    : writer_(std::move(writer)), head_(std::move(head)) {}

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& path) {
  if (path.empty() || path == "-") {
    return std::make_unique<AuditLog>(Sink([](std::string_view line) {
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fputc('\n', stdout);
      std::fflush(stdout);
    }));
  }
  auto file = std::make_shared<AuditFile>(path);
  // Locked before the last line is read: nobody else appends in between.
  if (auto r = file->open(); !r) return fail(r.error());
  bool terminate = false;
  auto head = resumeHead(path, terminate);
  if (!head) return fail(head.error());
  if (terminate) {
    if (auto r = file->append("\n"); !r) return fail(r.error());
  }
  return std::make_unique<AuditLog>(Writer([file](std::string_view line) -> Result<void> {
                                      std::string bytes;
                                      bytes.reserve(line.size() + 1);
                                      bytes.append(line);
                                      bytes.push_back('\n');
                                      return file->append(bytes);
                                    }),
                                    std::move(*head));
}

void AuditLog::write(const nlohmann::json& record) {
  std::lock_guard<std::mutex> g(mu_);
  std::string line = audit::chainLine(record, head_);
  if (auto r = writer_(line); !r) {
    log::error("audit", "audit line not written",
               {{"error", r.error().message},
                {"event", record.is_object() ? record.value("event", "") : ""}});
    return;
  }
  head_ = audit::nextHead(head_, line);
}

audit::ChainHead AuditLog::head() const {
  std::lock_guard<std::mutex> g(mu_);
  return head_;
}

}  // namespace kubegrant::controllers::access_request
