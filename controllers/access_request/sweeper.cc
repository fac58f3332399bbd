#include "controllers/access_request/sweeper.h"

#include <map>
#include <string_view>
#include <unordered_map>

#include "controllers/database/credentials.h"
#include "controllers/database/sql.h"
#include "operator/common/log.h"

namespace kubegrant::controllers::access_request {
namespace {
constexpr std::string_view kLogger = "sweep";

std::string valueOf(const std::map<std::string, std::string>& m, std::string_view key) {
  auto it = m.find(std::string(key));
  return it == m.end() ? std::string() : it->second;
}
}  // namespace

Sweeper::Sweeper(kube::Client& client, Clock& clock, const runtime::Store& roleBindings,
                 const runtime::TypedStore<v1::AccessRequest>& requests, EnqueueFn enqueue,
                 metrics::Registry* metrics, Duration interval, DatabaseSweep databases)
    : client_(client),
      clock_(clock),
      roleBindings_(roleBindings),
      requests_(requests),
      enqueue_(std::move(enqueue)),
      interval_(interval),
      databases_(std::move(databases)) {
  swept_.push_back({kube::resources::roleBindings(), &roleBindings, true});
  if (metrics) {
    removed_ = &metrics->counter("kubegrant_sweep_removed_total",
                                 "RoleBindings (and kg_ database roles, cause database-orphan) "
                                 "removed by the sweep, by cause.",
                                 {"cause"});
  }
}

Sweeper::~Sweeper() { stop(); }

void Sweeper::alsoSweep(const kube::ResourceRef& ref, const runtime::Store& store) {
  swept_.push_back({ref, &store, false});
}

Result<void> Sweeper::start() {
  thread_ = std::jthread([this](std::stop_token st) { loop(st); });
  return ok();
}

void Sweeper::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  {
    std::lock_guard<std::mutex> g(mu_);
    cv_.notify_all();
  }
  thread_.join();
}

void Sweeper::loop(std::stop_token stop) {
  TimePoint next = clock_.now();
  while (!stop.stop_requested()) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!stop.stop_requested() && clock_.now() < next) clock_.waitUntil(cv_, lock, next);
      if (stop.stop_requested()) return;
    }
    auto r = sweepOnce();
    if (!r) {
      log::warn(kLogger, "sweep failed", {{"error", r.error().describe()}});
    } else if (r->removed > 0 || r->enqueued > 0 || r->databaseRolesRevoked > 0) {
      log::info(kLogger, "sweep",
                {{"roleBindings", r->roleBindings},
                 {"removed", r->removed},
                 {"enqueued", r->enqueued},
                 {"databaseRolesRevoked", r->databaseRolesRevoked}});
    }
    next = clock_.now() + std::chrono::duration_cast<WallClock::duration>(interval_);
  }
}

Result<bool> Sweeper::ownerGone(const kube::Object& rb, const std::string& uid) {
  const auto annotations = rb.annotations();
  const std::string ns = valueOf(annotations, kRequestNamespaceAnnotation);
  const std::string name = valueOf(annotations, kRequestNameAnnotation);
  if (ns.empty() || name.empty()) return true;
  auto owner = client_.get(kube::resources::accessRequests(), {ns, name});
  if (!owner) {
    if (owner.error().code == ErrorCode::NotFound) return true;
    return std::unexpected(owner.error());
  }
  return owner->uid() != uid;
}

Result<Sweeper::Report> Sweeper::sweepOnce() {
  Report report;
  const TimePoint now = clock_.now();
  // One request at a time (get without remembering): the store holds most of them packed,
  // and decoding all of them at once would be the operator's peak (bench/README.md, issue 15).
  for (const auto& key : requests_.keys()) {
    auto r = requests_.get(key, false);
    if (!r) continue;
    const auto& st = r->status;
    if (st && st->phase == v1::Phase::Active && st->expiresAt && *st->expiresAt <= now) {
      enqueue_(key);
      ++report.enqueued;
    }
  }

  for (const auto& swept : swept_) {
    // One object at a time: a packed cache decodes what it hands out, and decoding all of
    // them at once was the operator's peak (bench/README.md, issue 15).
    for (const auto& key : swept.store->keys()) {
      auto rb = swept.store->get(key);
      if (!rb) continue;  // gone meanwhile
      ++report.roleBindings;
      const std::string uid = valueOf(rb->labels(), kRequestUidLabel);
      std::string cause;
      runtime::TypedStore<v1::AccessRequest>::Ptr owner;
      if (uid.empty()) {
        // Only RoleBindings: a role or ClusterRoleBinding without the uid label may be someone
        // else's who borrowed the managed-by label (an installer's own RBAC), never ours.
        if (!swept.removeUnlabelled) continue;
        cause = "unlabelled";
      } else {
        // The request the object names (annotations), if the cache has it with that uid.
        const auto annotations = rb->annotations();
        const runtime::NamespacedName ownerKey{valueOf(annotations, kRequestNamespaceAnnotation),
                                               valueOf(annotations, kRequestNameAnnotation)};
        if (!ownerKey.name.empty()) owner = requests_.get(ownerKey, false);
        if (owner && owner->metadata.uid != uid) owner = nullptr;
      }
      if (!uid.empty() && !owner) {
        // The request cache may lag the RoleBinding cache: ask the API server.
        auto gone = ownerGone(*rb, uid);
        if (!gone) {
          log::warn(kLogger, "cannot tell whether an object's request exists",
                    {{"kind", swept.ref.kind},
                     {"object", rb->key().toString()},
                     {"error", gone.error().describe()}});
          continue;
        }
        if (*gone) cause = "orphan";
      } else if (owner) {
        const auto& st = owner->status;
        const v1::Phase phase = st && st->phase ? *st->phase : v1::Phase::Pending;
        if (v1::isTerminal(phase)) {
          cause = "terminal";
        } else if (phase == v1::Phase::Active && st->expiresAt && *st->expiresAt <= now) {
          cause = "overdue";
        }
      }
      if (cause.empty()) continue;
      kube::DeleteOptions d;
      d.preconditionUid = rb->uid();
      auto r = client_.remove(swept.ref, rb->key(), d);
      if (!r && r.error().code != ErrorCode::NotFound && r.error().code != ErrorCode::Conflict) {
        log::warn(kLogger, "sweep could not remove an object",
                  {{"kind", swept.ref.kind},
                   {"object", rb->key().toString()},
                   {"error", r.error().describe()}});
        continue;
      }
      ++report.removed;
      if (removed_) removed_->with({cause}).inc();
      log::info(kLogger, "sweep removed an object",
                {{"kind", swept.ref.kind}, {"object", rb->key().toString()}, {"cause", cause}});
      if (owner) enqueue_({owner->metadata.namespace_, owner->metadata.name});
    }
  }
  sweepDatabases(report);
  // Nothing held between passes: no idle admin connection, and no libpq in a quiet operator.
  if (databases_.provider) databases_.provider->closeIdleConnections();
  return report;
}

void Sweeper::sweepDatabases(Report& report) {
  if (!databases_.provider || databases_.targets == nullptr || !databases_.access) return;
  // Roles first, requests second (see sweeper.h).
  struct Listed {
    database::TargetAccess access;
    std::vector<database::DatabaseRole> roles;
  };
  std::vector<Listed> listed;
  for (const auto& target : databases_.targets->list()) {
    auto access = databases_.access(*target);
    if (!access) {
      log::warn(kLogger, "sweep cannot reach a DatabaseTarget",
                {{"target", target->metadata.name}, {"error", access.error().describe()}});
      continue;
    }
    if (!*access) continue;
    auto roles = databases_.provider->listRoles(**access);
    if (!roles) {
      log::warn(kLogger, "sweep cannot list the kg_ roles of a DatabaseTarget",
                {{"target", target->metadata.name}, {"error", roles.error().describe()}});
      continue;
    }
    listed.push_back({std::move(**access), std::move(*roles)});
  }
  if (listed.empty()) return;

  std::set<std::string> live;
  for (const auto& key : requests_.keys()) {
    auto r = requests_.get(key, false);
    if (!r) continue;
    const auto& st = r->status;
    const bool terminal = st && st->phase && v1::isTerminal(*st->phase);
    if (!terminal) {
      for (const auto& d : r->spec.databases) {
        live.insert(database::roleNameFor(r->metadata.uid, d.target));
      }
    }
    if (!st) continue;
    for (const auto& g : st->grants) {
      if (g.kind == v1::GrantKind::DatabaseUser) live.insert(g.name);
    }
  }

  // Targets on the same server list the same roles: each orphan is revoked once.
  std::set<std::string> done;
  for (const auto& l : listed) {
    for (const auto& r : l.roles) {
      if (r.name.starts_with(database::kRolePrefix)) ++report.databaseRoles;
    }
    for (const auto& role : database::orphanRoles(l.roles, live)) {
      if (done.contains(role)) continue;
      auto revoked = databases_.provider->revoke({l.access, role});
      if (!revoked) {
        log::warn(
            kLogger, "sweep could not revoke an orphaned database role",
            {{"target", l.access.target}, {"role", role}, {"error", revoked.error().describe()}});
        continue;
      }
      done.insert(role);
      ++report.databaseRolesRevoked;
      if (removed_) removed_->with({"database-orphan"}).inc();
      log::info(kLogger, "sweep revoked an orphaned database role",
                {{"target", l.access.target},
                 {"role", role},
                 {"sessionsTerminated", revoked->sessionsTerminated}});
    }
  }
}

}  // namespace kubegrant::controllers::access_request
