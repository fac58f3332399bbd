// The executor's database effects (effects.h): the I/O half of database_bundle.h.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "controllers/access_request/database_bundle.h"
#include "controllers/access_request/executor.h"
#include "controllers/database/sql.h"
#include "operator/common/log.h"

namespace kubegrant::controllers::access_request {

namespace {

constexpr std::string_view kLogger = "accessrequest";

GrantRefused refused(std::string reason, const std::string& message) {
  return GrantRefused{std::move(reason), message + "; nothing was granted"};
}

std::string requestName(const v1::AccessRequest& r) {
  return r.metadata.namespace_ + "/" + r.metadata.name;
}

// Whether an object read from the API server carries this request's uid label (as
// removeOurs checks): one that does not is someone else's and is never handed to the requester.
bool ours(const kube::Object& o, const v1::AccessRequest& request) {
  auto labels = o.labels();
  auto it = labels.find(std::string(kRequestUidLabel));
  return it != labels.end() && it->second == request.metadata.uid;
}

}  // namespace

Result<std::variant<database::TargetAccess, GrantRefused>> Executor::targetAccessFor(
    const v1::DatabaseTarget& target) const {
  auto secret = [&](const v1::SecretReference& ref)
      -> Result<std::variant<database::SecretData, GrantRefused>> {
    if (!options_.secretNamespaces.allows(ref.namespace_)) {
      return refused("DatabaseSecretNamespaceNotAllowed",
                     fmt::format("DatabaseTarget {}: Secret {}/{} is outside the namespaces the "
                                 "operator reads Secrets from ({})",
                                 target.metadata.name, ref.namespace_, ref.name,
                                 fmt::join(options_.secretNamespaces.allowed, ", ")));
    }
    auto s = client_.get(kube::resources::secrets(), {ref.namespace_, ref.name});
    if (!s) {
      if (s.error().code != ErrorCode::NotFound) return std::unexpected(s.error());
      return refused("DatabaseSecretNotFound",
                     fmt::format("DatabaseTarget {}: Secret {}/{} does not exist",
                                 target.metadata.name, ref.namespace_, ref.name));
    }
    auto data = decodeSecretData(s->body);
    if (!data) return refused("DatabaseSecretInvalid", data.error().message);
    return *data;
  };
  auto admin = secret(target.spec.adminSecretRef);
  if (!admin) return std::unexpected(admin.error());
  if (auto* f = std::get_if<GrantRefused>(&*admin)) return *f;
  std::optional<database::SecretData> ca;
  if (target.spec.caSecretRef) {
    auto c = secret(*target.spec.caSecretRef);
    if (!c) return std::unexpected(c.error());
    if (auto* f = std::get_if<GrantRefused>(&*c)) return *f;
    ca = std::get<database::SecretData>(*c);
  }
  auto access =
      database::targetAccess(target, std::get<database::SecretData>(*admin), ca ? &*ca : nullptr);
  if (!access) return refused("DatabaseSecretInvalid", access.error().message);
  return *access;
}

Executor::Outcome Executor::perform(const v1::AccessRequest& request,
                                    const EnsureDatabaseUser& e) const {
  const std::string& ns = request.metadata.namespace_;
  if (!options_.databases) {
    return refused("DatabaseNotConfigured",
                   fmt::format("spec.databases: this operator has no database credential "
                               "provider, so DatabaseTarget {} cannot be granted",
                               e.target));
  }
  auto got = client_.get(kube::resources::databaseTargets(), {"", e.target});
  if (!got) {
    if (got.error().code != ErrorCode::NotFound) return std::unexpected(got.error());
    return refused("DatabaseTargetNotFound",
                   fmt::format("DatabaseTarget {} does not exist", e.target));
  }
  auto target = v1::fromJson<v1::DatabaseTarget>(got->body);
  if (!target) return refused("DatabaseTargetInvalid", target.error().message);
  const v1::DatabaseProfile* profile = findProfile(*target, e.profile);
  if (!profile) {
    return refused("DatabaseProfileNotFound",
                   fmt::format("DatabaseTarget {} has no profile {}", e.target, e.profile));
  }
  auto access = targetAccessFor(*target);
  if (!access) return std::unexpected(access.error());
  if (auto* f = std::get_if<GrantRefused>(&*access)) return *f;
  const auto& admin = std::get<database::TargetAccess>(*access);

  const std::string role = database::roleNameFor(request.metadata.uid, e.target);
  const std::string secretName = database::connectionSecretName(request.metadata.name, e.target);
  kube::WriteOptions wo;
  wo.fieldManager = options_.fieldManager;

  // A Secret of that name that is not ours is never handed over (the reader Role names it):
  // refused before anything is issued.
  auto secret = client_.get(kube::resources::secrets(), {ns, secretName});
  if (!secret && secret.error().code != ErrorCode::NotFound) {
    return std::unexpected(secret.error());
  }
  if (secret && !ours(*secret, request)) {
    return refused(
        "DatabaseSecretConflict",
        fmt::format("Secret {}/{} exists and does not belong to this request", ns, secretName));
  }

  // The requester may read the Secret (created, or kept when it is ours from an earlier
  // reconcile; someone else's Role of that name is refused, never bound to the requester).
  const std::string readerRole = secretReaderRoleName(request, e.target);
  auto roleObj = client_.create(kube::resources::roles(),
                                kube::Object(secretReaderRoleJson(request, e.target)), wo);
  if (!roleObj && roleObj.error().code != ErrorCode::AlreadyExists) {
    if (roleObj.error().retryable()) return std::unexpected(roleObj.error());
    return refused("GrantForbidden",
                   fmt::format("cannot create Role {}/{} (get on Secret {}): {}", ns, readerRole,
                               secretName, roleObj.error().message));
  }
  if (!roleObj) {
    auto existing = client_.get(kube::resources::roles(), {ns, readerRole});
    if (!existing && existing.error().code != ErrorCode::NotFound) {
      return std::unexpected(existing.error());
    }
    if (!existing) return fail(ErrorCode::Conflict, "Role " + readerRole + " vanished; retrying");
    if (!ours(*existing, request)) {
      return refused(
          "DatabaseRoleConflict",
          fmt::format("Role {}/{} exists and does not belong to this request", ns, readerRole));
    }
    if (existing->body.value("rules", nlohmann::json()) !=
        secretReaderRoleJson(request, e.target)["rules"]) {
      // Ours but altered: put back exactly `get` on this Secret.
      auto r = removeOurs(kube::resources::roles(), {ns, readerRole}, request, false);
      if (!r) return r;
      return fail(ErrorCode::Conflict, "Role " + readerRole + " was altered; recreating");
    }
  }

  if (e.keep) {
    // Active: the user and its Secret stay as issued (a new password would break sessions).
    if (secret) {
      auto state = options_.databases->inspect(admin, role);
      if (!state) return std::unexpected(state.error());
      if (state->exists) return std::nullopt;
    }
  }

  database::IssueInput in;
  in.access = admin;
  in.role = role;
  in.expiresAt = e.expiresAt;
  in.connectionLimit = target->spec.connectionLimit;
  in.profile = *profile;
  in.auditStatements = target->spec.auditStatements;
  in.comment = database::roleComment(ns, request.metadata.name, request.metadata.uid, e.target);
  auto user = options_.databases->issue(in);
  if (!user) {
    log::warn(kLogger, "database issue failed",
              {{"request", requestName(request)},
               {"target", e.target},
               {"error", user.error().describe()}});
    // Not reachable: what this activation may have created goes again (the role included,
    // once the database answers), and activation is tried again; never Active with parts
    // missing. A refusal (invalid profile, missing privilege) fails the request.
    if (user.error().retryable()) {
      if (!e.keep) {
        for (auto kind : {LabelledKind::Secret, LabelledKind::Role}) {
          const std::string name =
              kind == LabelledKind::Secret ? secretName : secretReaderRoleName(request, e.target);
          if (auto r = perform(request, RemoveLabelled{kind, {ns, name}}); !r) return r;
        }
        if (auto r = perform(request, RevokeDatabaseUsers{{{e.target, role, false}}}); !r) {
          return r;
        }
      }
      return std::unexpected(user.error());
    }
    return refused("DatabaseGrantFailed",
                   fmt::format("cannot issue a user on DatabaseTarget {} (profile {}): {}",
                               e.target, e.profile, user.error().message));
  }
  const auto data = database::connectionSecretData(*target, *user, e.expiresAt, admin.caCertPem);
  // A new password replaces whatever Secret of ours is there (a crash after the last issue).
  if (auto r = perform(request, RemoveLabelled{LabelledKind::Secret, {ns, secretName}}); !r) {
    return r;
  }
  auto created = client_.create(kube::resources::secrets(),
                                kube::Object(connectionSecretJson(request, e.target, data)), wo);
  if (!created) {
    if (created.error().retryable()) return std::unexpected(created.error());
    return refused("GrantForbidden", fmt::format("cannot create Secret {}/{}: {}", ns, secretName,
                                                 created.error().message));
  }
  return std::nullopt;
}

Executor::Outcome Executor::perform(const v1::AccessRequest& request,
                                    const ReapplyDatabaseProfile& e) const {
  if (!options_.databases) return std::nullopt;
  auto got = client_.get(kube::resources::databaseTargets(), {"", e.target});
  if (!got) {
    if (got.error().code != ErrorCode::NotFound) return std::unexpected(got.error());
    return fail(ErrorCode::Conflict,
                fmt::format("DatabaseTarget {} was deleted; deciding again", e.target));
  }
  auto target = v1::fromJson<v1::DatabaseTarget>(got->body);
  if (!target) return refused("DatabaseTargetInvalid", target.error().message);
  const v1::DatabaseProfile* profile = findProfile(*target, e.profile);
  if (!profile) {
    // The plan was made from an older copy: the next reconcile revokes.
    return fail(ErrorCode::Conflict, fmt::format("DatabaseTarget {} no longer has profile {}; "
                                                 "deciding again",
                                                 e.target, e.profile));
  }
  auto access = targetAccessFor(*target);
  if (!access) return std::unexpected(access.error());
  if (auto* f = std::get_if<GrantRefused>(&*access)) return *f;
  database::ReapplyInput in;
  in.access = std::get<database::TargetAccess>(*access);
  in.profile = *profile;
  in.roles = {e.role};
  in.auditStatements = target->spec.auditStatements;
  auto report = options_.databases->reapplyProfile(in);
  if (!report) {
    log::warn(kLogger, "database profile re-apply failed",
              {{"request", requestName(request)},
               {"target", e.target},
               {"profile", e.profile},
               {"error", report.error().describe()}});
    if (report.error().retryable()) return std::unexpected(report.error());
    // The changed profile cannot be applied (a table it names does not exist): the user does
    // not keep what the target no longer describes.
    return GrantRefused{"DatabaseReapplyFailed",
                        fmt::format("cannot re-apply the changed profile {} of DatabaseTarget {} "
                                    "to database user {}: {}; access was revoked",
                                    e.profile, e.target, e.role, report.error().message)};
  }
  log::info(kLogger, "database profile re-applied",
            {{"request", requestName(request)},
             {"target", e.target},
             {"profile", e.profile},
             {"role", e.role},
             {"viewsRecreated", std::to_string(report->viewsRecreated)}});
  if (options_.events) {
    options_.events(request,
                    {"Normal", "DatabaseProfileReapplied",
                     fmt::format("DatabaseTarget {} changed profile {}: its grants and masking "
                                 "views were re-applied to database user {} ({} views re-created)",
                                 e.target, e.profile, e.role, report->viewsRecreated)});
  }
  return std::nullopt;
}

Executor::Outcome Executor::perform(const v1::AccessRequest& request,
                                    const RemoveLabelled& e) const {
  const auto ref = e.kind == LabelledKind::Secret ? kube::resources::secrets()
                   : e.kind == LabelledKind::Role ? kube::resources::roles()
                                                  : kube::resources::clusterRoles();
  return removeOurs(ref, e.key, request, false);
}

Executor::Outcome Executor::perform(const v1::AccessRequest& request,
                                    const RevokeDatabaseUsers& e) const {
  if (!options_.databases) return std::nullopt;
  std::optional<Error> first;
  for (const auto& u : e.users) {
    auto got = client_.get(kube::resources::databaseTargets(), {"", u.target});
    if (!got && got.error().code == ErrorCode::NotFound && !u.recorded) {
      // Never issued as far as the status knows, and there is no database to ask: nothing to
      // revoke (a role created just before a crash is the orphan sweep's to find).
      continue;
    }
    Result<database::RevokeReport> revoked = fail(ErrorCode::Unavailable, "not tried");
    if (!got) {
      revoked = fail(ErrorCode::Unavailable,
                     fmt::format("cannot revoke database user {}: DatabaseTarget {} is not "
                                 "readable ({}); will retry",
                                 u.role, u.target, got.error().message));
    } else if (auto t = v1::fromJson<v1::DatabaseTarget>(got->body); !t) {
      revoked = fail(ErrorCode::Unavailable, t.error().message);
    } else if (auto access = targetAccessFor(*t); !access) {
      revoked = fail(access.error());
    } else if (auto* f = std::get_if<GrantRefused>(&*access)) {
      revoked = fail(ErrorCode::Unavailable, f->message);
    } else {
      revoked = options_.databases->revoke({std::get<database::TargetAccess>(*access), u.role});
    }
    if (!revoked) {
      log::warn(kLogger, "database revocation pending",
                {{"request", requestName(request)},
                 {"target", u.target},
                 {"role", u.role},
                 {"error", revoked.error().describe()}});
      Error err = revoked.error();
      err.code = ErrorCode::Unavailable;  // retried with backoff, never given up
      err.message = fmt::format("{}: {}", kDatabaseRevocationPending, err.message);
      if (!first) first = std::move(err);
      continue;
    }
    log::info(kLogger, "database user revoked",
              {{"request", requestName(request)},
               {"target", u.target},
               {"role", u.role},
               {"sessionsTerminated", std::to_string(revoked->sessionsTerminated)}});
  }
  if (first) {
    if (auto r = revocationPending(request, *first); !r) return r;
    return std::unexpected(std::move(*first));
  }
  return std::nullopt;
}

Executor::Outcome Executor::revocationPending(const v1::AccessRequest& request,
                                              const Error& error) const {
  {
    std::lock_guard lock(pendingMu_);
    pendingUids_.insert(request.metadata.uid);
    if (revocationsPending_) revocationsPending_->set(static_cast<double>(pendingUids_.size()));
  }
  if (options_.events)
    options_.events(request, {"Warning", std::string(kDatabaseRevocationPending),
                              error.message + "; retrying"});
  if (!request.status || request.metadata.deletionTimestamp) return std::nullopt;
  for (const auto& c : request.status->conditions) {
    if (c.type == kDatabaseRevocationPending && c.status == "True") return std::nullopt;
  }
  // Written once when it turns True (a write per retry would wake the reconciler at once and
  // defeat the backoff); the resourceVersion precondition keeps it from a stale read.
  WriteStatus w{*request.status};
  std::erase_if(w.status.conditions,
                [](const v1::Condition& c) { return c.type == kDatabaseRevocationPending; });
  v1::Condition c;
  c.type = std::string(kDatabaseRevocationPending);
  c.status = "True";
  c.reason = "DatabaseUnreachable";
  c.message = error.message + "; retrying with backoff (at most 30 s apart) until it is gone";
  c.lastTransitionTime = clock_.now();
  w.status.conditions.push_back(std::move(c));
  return perform(request, w);
}

void Executor::revocationDone(const v1::AccessRequest& request) const {
  std::lock_guard lock(pendingMu_);
  pendingUids_.erase(request.metadata.uid);
  if (revocationsPending_) revocationsPending_->set(static_cast<double>(pendingUids_.size()));
}

}  // namespace kubegrant::controllers::access_request
