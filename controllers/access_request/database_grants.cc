// The AccessRequest reconciler's database bundle: the I/O half of database_bundle.h.

#include <fmt/format.h>

#include <map>
#include <set>

#include "controllers/access_request/database_bundle.h"
#include "controllers/access_request/reconciler.h"
#include "controllers/database/sql.h"
#include "operator/common/log.h"

namespace kubegrant::controllers::access_request {

namespace {

constexpr std::string_view kLogger = "accessrequest";

using GrantResult = std::variant<std::vector<v1::Grant>, AccessRequestReconciler::GrantFailure>;

AccessRequestReconciler::GrantFailure failure(std::string reason, std::string message) {
  return AccessRequestReconciler::GrantFailure{std::move(reason),
                                               message + "; nothing was granted"};
}

}  // namespace

Result<void> AccessRequestReconciler::removeLabelled(const kube::ResourceRef& ref,
                                                     const kube::ObjectKey& key,
                                                     const std::string& requestUid) {
  auto existing = client_.get(ref, key);
  if (!existing) {
    if (existing.error().code == ErrorCode::NotFound) return ok();
    return std::unexpected(existing.error());
  }
  auto labels = existing->labels();
  auto it = labels.find(std::string(kRequestUidLabel));
  if (it == labels.end() || it->second != requestUid) return ok();
  kube::DeleteOptions d;
  d.preconditionUid = existing->uid();
  auto r = client_.remove(ref, key, d);
  if (!r && r.error().code != ErrorCode::NotFound) return std::unexpected(r.error());
  return ok();
}

Result<std::variant<database::TargetAccess, AccessRequestReconciler::GrantFailure>>
AccessRequestReconciler::targetAccessFor(const v1::DatabaseTarget& target) {
  auto secret = [&](const v1::SecretReference& ref)
      -> Result<std::variant<database::SecretData, GrantFailure>> {
    auto s = client_.get(kube::resources::secrets(), {ref.namespace_, ref.name});
    if (!s) {
      if (s.error().code != ErrorCode::NotFound) return std::unexpected(s.error());
      return failure("DatabaseSecretNotFound",
                     fmt::format("DatabaseTarget {}: Secret {}/{} does not exist",
                                 target.metadata.name, ref.namespace_, ref.name));
    }
    auto data = decodeSecretData(s->body);
    if (!data) return failure("DatabaseSecretInvalid", data.error().message);
    return *data;
  };
  auto admin = secret(target.spec.adminSecretRef);
  if (!admin) return std::unexpected(admin.error());
  if (auto* f = std::get_if<GrantFailure>(&*admin)) return *f;
  std::optional<database::SecretData> ca;
  if (target.spec.caSecretRef) {
    auto c = secret(*target.spec.caSecretRef);
    if (!c) return std::unexpected(c.error());
    if (auto* f = std::get_if<GrantFailure>(&*c)) return *f;
    ca = std::get<database::SecretData>(*c);
  }
  auto access =
      database::targetAccess(target, std::get<database::SecretData>(*admin), ca ? &*ca : nullptr);
  if (!access) return failure("DatabaseSecretInvalid", access.error().message);
  return *access;
}

Result<GrantResult> AccessRequestReconciler::ensureDatabaseGrants(const v1::AccessRequest& request,
                                                                  bool checkFirst,
                                                                  TimePoint expiresAt) {
  std::vector<v1::Grant> grants;
  const std::string& ns = request.metadata.namespace_;
  kube::WriteOptions wo;
  wo.fieldManager = options_.fieldManager;
  for (const auto& d : request.spec.databases) {
    auto got = client_.get(kube::resources::databaseTargets(), {"", d.target});
    if (!got) {
      if (got.error().code != ErrorCode::NotFound) return std::unexpected(got.error());
      return failure("DatabaseTargetNotFound",
                     fmt::format("DatabaseTarget {} does not exist", d.target));
    }
    auto target = v1::fromJson<v1::DatabaseTarget>(got->body);
    if (!target) return failure("DatabaseTargetInvalid", target.error().message);
    const v1::DatabaseProfile* profile = nullptr;
    for (const auto& p : target->spec.profiles) {
      if (p.name == d.profile) profile = &p;
    }
    if (!profile) {
      return failure("DatabaseProfileNotFound",
                     fmt::format("DatabaseTarget {} has no profile {}", d.target, d.profile));
    }
    auto access = targetAccessFor(*target);
    if (!access) return std::unexpected(access.error());
    if (auto* f = std::get_if<GrantFailure>(&*access)) return *f;
    const auto& admin = std::get<database::TargetAccess>(*access);

    const std::string role = database::roleNameFor(request.metadata.uid, d.target);
    const std::string secretName = database::connectionSecretName(request.metadata.name, d.target);
    const v1::Grant userGrant{v1::GrantKind::DatabaseUser, "", role, d.target};
    const v1::Grant secretGrant{v1::GrantKind::Secret, ns, secretName, ""};

    // The requester may read the Secret (created or kept as is).
    auto roleObj = client_.create(kube::resources::roles(),
                                  kube::Object(secretReaderRoleJson(request, d.target)), wo);
    if (!roleObj && roleObj.error().code != ErrorCode::AlreadyExists) {
      if (roleObj.error().retryable()) return std::unexpected(roleObj.error());
      return failure("GrantForbidden",
                     fmt::format("cannot create Role {}/{} (get on Secret {}): {}", ns,
                                 secretReaderRoleName(request, d.target), secretName,
                                 roleObj.error().message));
    }

    if (checkFirst) {
      // Active: the user and its Secret stay as issued (a new password would break sessions).
      auto secret = client_.get(kube::resources::secrets(), {ns, secretName});
      if (!secret && secret.error().code != ErrorCode::NotFound) {
        return std::unexpected(secret.error());
      }
      if (secret) {
        auto state = options_.databases->inspect(admin, role);
        if (!state) return std::unexpected(state.error());
        if (state->exists) {
          grants.push_back(userGrant);
          grants.push_back(secretGrant);
          continue;
        }
      }
    }

    database::IssueInput in;
    in.access = admin;
    in.role = role;
    in.expiresAt = expiresAt;
    in.connectionLimit = target->spec.connectionLimit;
    in.profile = *profile;
    in.auditStatements = target->spec.auditStatements;
    in.comment = database::roleComment(ns, request.metadata.name, request.metadata.uid, d.target);
    auto user = options_.databases->issue(in);
    if (!user) {
      log::warn(kLogger, "database issue failed",
                {{"request", ns + "/" + request.metadata.name},
                 {"target", d.target},
                 {"error", user.error().describe()}});
      // Not reachable: everything of the request is removed (the role included, once the
      // database answers), and activation is tried again; never Active with parts missing.
      // A refusal (invalid profile, missing privilege) fails the request.
      if (user.error().retryable()) {
        if (!checkFirst) {
          if (auto r = removeGrants(request); !r) return std::unexpected(r.error());
        }
        return std::unexpected(user.error());
      }
      return failure("DatabaseGrantFailed",
                     fmt::format("cannot issue a user on DatabaseTarget {} (profile {}): {}",
                                 d.target, d.profile, user.error().message));
    }
    const auto data = database::connectionSecretData(*target, *user, expiresAt, admin.caCertPem);
    // A new password replaces whatever Secret of ours is there (a crash after the last issue).
    if (auto r = removeLabelled(kube::resources::secrets(), {ns, secretName}, request.metadata.uid);
        !r) {
      return std::unexpected(r.error());
    }
    auto created = client_.create(kube::resources::secrets(),
                                  kube::Object(connectionSecretJson(request, d.target, data)), wo);
    if (!created) {
      if (created.error().retryable()) return std::unexpected(created.error());
      return failure("GrantForbidden", fmt::format("cannot create Secret {}/{}: {}", ns, secretName,
                                                   created.error().message));
    }
    grants.push_back(userGrant);
    grants.push_back(secretGrant);
  }
  return grants;
}

Result<void> AccessRequestReconciler::removeDatabaseGrants(const v1::AccessRequest& request) {
  std::map<std::string, std::string> users;  // target -> role
  std::set<std::string> recorded;            // targets with a DatabaseUser in status.grants
  for (const auto& d : request.spec.databases) {
    users[d.target] = database::roleNameFor(request.metadata.uid, d.target);
  }
  if (request.status) {
    for (const auto& g : request.status->grants) {
      if (g.kind != v1::GrantKind::DatabaseUser) continue;
      users[g.target] = g.name;
      recorded.insert(g.target);
    }
  }
  if (users.empty()) return ok();
  const std::string& ns = request.metadata.namespace_;
  // Kubernetes first: the Secret and its Role go on time even when the database is down.
  for (const auto& [target, role] : users) {
    const std::string secretName = database::connectionSecretName(request.metadata.name, target);
    if (auto r = removeLabelled(kube::resources::secrets(), {ns, secretName}, request.metadata.uid);
        !r) {
      return r;
    }
    if (auto r = removeLabelled(kube::resources::roles(),
                                {ns, secretReaderRoleName(request, target)}, request.metadata.uid);
        !r) {
      return r;
    }
  }
  if (!options_.databases) return ok();
  std::optional<Error> first;
  for (const auto& [target, role] : users) {
    auto got = client_.get(kube::resources::databaseTargets(), {"", target});
    if (!got && got.error().code == ErrorCode::NotFound && !recorded.contains(target)) {
      // Never issued as far as the status knows, and there is no database to ask: nothing to
      // revoke (a role created just before a crash is the orphan sweep's to find).
      continue;
    }
    Result<database::RevokeReport> revoked = fail(ErrorCode::Unavailable, "not tried");
    if (!got) {
      revoked = fail(ErrorCode::Unavailable,
                     fmt::format("cannot revoke database user {}: DatabaseTarget {} is not "
                                 "readable ({}); will retry",
                                 role, target, got.error().message));
    } else if (auto t = v1::fromJson<v1::DatabaseTarget>(got->body); !t) {
      revoked = fail(ErrorCode::Unavailable, t.error().message);
    } else if (auto access = targetAccessFor(*t); !access) {
      revoked = fail(access.error());
    } else if (auto* f = std::get_if<GrantFailure>(&*access)) {
      revoked = fail(ErrorCode::Unavailable, f->message);
    } else {
      revoked = options_.databases->revoke({std::get<database::TargetAccess>(*access), role});
    }
    if (!revoked) {
      log::warn(kLogger, "database revocation pending",
                {{"request", ns + "/" + request.metadata.name},
                 {"target", target},
                 {"role", role},
                 {"error", revoked.error().describe()}});
      Error e = revoked.error();
      e.code = ErrorCode::Unavailable;  // retried with backoff, never given up
      e.message = fmt::format("DatabaseRevocationPending: {}", e.message);
      if (!first) first = std::move(e);
      continue;
    }
    log::info(kLogger, "database user revoked",
              {{"request", ns + "/" + request.metadata.name},
               {"target", target},
               {"role", role},
               {"sessionsTerminated", std::to_string(revoked->sessionsTerminated)}});
  }
  if (first) return std::unexpected(std::move(*first));
  return ok();
}

}  // namespace kubegrant::controllers::access_request
