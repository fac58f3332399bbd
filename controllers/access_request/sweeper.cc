#include "controllers/access_request/sweeper.h"

#include <map>

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
                 metrics::Registry* metrics, Duration interval)
    : client_(client),
      clock_(clock),
      roleBindings_(roleBindings),
      requests_(requests),
      enqueue_(std::move(enqueue)),
      interval_(interval) {
  if (metrics) {
    removed_ = &metrics->counter("kubegrant_sweep_removed_total",
                                 "RoleBindings removed by the sweep, by cause.", {"cause"});
  }
}

Sweeper::~Sweeper() { stop(); }

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
    } else if (r->removed > 0 || r->enqueued > 0) {
      log::info(
          kLogger, "sweep",
          {{"roleBindings", r->roleBindings}, {"removed", r->removed}, {"enqueued", r->enqueued}});
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
  std::map<std::string, runtime::TypedStore<v1::AccessRequest>::Ptr> byUid;
  for (auto& r : requests_.list()) {
    const auto& st = r->status;
    if (st && st->phase == v1::Phase::Active && st->expiresAt && *st->expiresAt <= now) {
      enqueue_({r->metadata.namespace_, r->metadata.name});
      ++report.enqueued;
    }
    byUid.emplace(r->metadata.uid, std::move(r));
  }

  for (const auto& rb : roleBindings_.list()) {
    ++report.roleBindings;
    const std::string uid = valueOf(rb->labels(), kRequestUidLabel);
    std::string cause;
    const v1::AccessRequest* owner = nullptr;
    if (uid.empty()) {
      cause = "unlabelled";
    } else if (auto found = byUid.find(uid); found == byUid.end()) {
      // The request cache may lag the RoleBinding cache: ask the API server.
      auto gone = ownerGone(*rb, uid);
      if (!gone) {
        log::warn(kLogger, "cannot tell whether a RoleBinding's request exists",
                  {{"roleBinding", rb->key().toString()}, {"error", gone.error().describe()}});
        continue;
      }
      if (*gone) cause = "orphan";
    } else {
      owner = found->second.get();
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
    auto r = client_.remove(kube::resources::roleBindings(), rb->key(), d);
    if (!r && r.error().code != ErrorCode::NotFound && r.error().code != ErrorCode::Conflict) {
      log::warn(kLogger, "sweep could not remove RoleBinding",
                {{"roleBinding", rb->key().toString()}, {"error", r.error().describe()}});
      continue;
    }
    ++report.removed;
    if (removed_) removed_->with({cause}).inc();
    log::info(kLogger, "sweep removed RoleBinding",
              {{"roleBinding", rb->key().toString()}, {"cause", cause}});
    if (owner) enqueue_({owner->metadata.namespace_, owner->metadata.name});
  }
  return report;
}

}  // namespace kubegrant::controllers::access_request
