#include "operator/runtime/leader_election.h"

#include <algorithm>

#include "operator/common/log.h"
#include "operator/common/time.h"

namespace kubegrant::runtime {

namespace {
constexpr const char* kLogger = "leader-election";

WallClock::duration toWall(Duration d) {
  return std::chrono::duration_cast<WallClock::duration>(d);
}
}  // namespace

LeaderElector::LeaderElector(LeaseLock& lock, Clock& clock, LeaderElectionConfig config)
    : lock_(lock), clock_(clock), config_(std::move(config)) {}

LeaderElector::~LeaderElector() { stop(); }

Result<void> LeaderElector::validate(const LeaderElectionConfig& c) {
  if (c.identity.empty()) return fail(ErrorCode::Invalid, "leader election identity is empty");
  if (c.leaseDuration < std::chrono::seconds(1)) {
    return fail(ErrorCode::Invalid, "leaseDuration must be at least 1s");
  }
  if (c.renewDeadline >= c.leaseDuration) {
    return fail(ErrorCode::Invalid, "renewDeadline must be shorter than leaseDuration");
  }
  if (c.retryPeriod <= Duration::zero() || c.retryPeriod >= c.renewDeadline) {
    return fail(ErrorCode::Invalid, "retryPeriod must be positive and shorter than renewDeadline");
  }
  return ok();
}

void LeaderElector::start() {
  std::lock_guard<std::mutex> g(mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { run(); });
}

void LeaderElector::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void LeaderElector::wait() {
  std::unique_lock<std::mutex> lk(mu_);
  if (!started_) return;
  finishedCv_.wait(lk, [&] { return finished_; });
}

bool LeaderElector::isLeader() const {
  std::lock_guard<std::mutex> g(mu_);
  return leading_;
}

std::string LeaderElector::leader() const {
  std::lock_guard<std::mutex> g(mu_);
  return observedHolder_;
}

bool LeaderElector::stopping() const {
  std::lock_guard<std::mutex> g(mu_);
  return stop_;
}

void LeaderElector::observeHolder(const std::string& holder) {
  bool changed = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    changed = holder != observedHolder_;
    observedHolder_ = holder;
  }
  if (changed && !holder.empty()) {
    log::info(kLogger, "new leader observed", {{"lease", lock_.describe()}, {"leader", holder}});
    if (config_.onNewLeader) config_.onNewLeader(holder);
  }
}

bool LeaderElector::tryAcquireOrRenew() {
  // Lease times are MicroTime: keep what we write equal to what we read back.
  const TimePoint now = std::chrono::floor<std::chrono::microseconds>(clock_.now());
  const int leaseSeconds = static_cast<int>(
      std::chrono::duration_cast<std::chrono::seconds>(config_.leaseDuration).count());
  LeaderElectionRecord desired{config_.identity, leaseSeconds, now, now, 0};

  auto current = lock_.get();
  if (!current) {
    if (current.error().code != ErrorCode::NotFound) {
      log::warn(kLogger, "cannot read the lease",
                {{"lease", lock_.describe()}, {"error", current.error().describe()}});
      return false;
    }
    auto rv = lock_.create(desired);
    if (!rv) {
      log::info(kLogger, "cannot create the lease",
                {{"lease", lock_.describe()}, {"error", rv.error().describe()}});
      return false;
    }
    observed_ = VersionedLeaderElectionRecord{desired, *rv};
    observedTime_ = now;
    observeHolder(config_.identity);
    return true;
  }

  // Expiry is measured from when WE saw the record change, never from the renewTime that
  // another machine's clock wrote.
  if (!observed_ || !(observed_->record == current->record)) {
    observed_ = *current;
    observedTime_ = now;
  } else {
    observed_->resourceVersion = current->resourceVersion;
  }
  const LeaderElectionRecord& rec = current->record;
  observeHolder(rec.holderIdentity);

  const bool heldByUs = rec.holderIdentity == config_.identity;
  if (!rec.holderIdentity.empty() && !heldByUs &&
      observedTime_ + std::chrono::seconds(rec.leaseDurationSeconds) > now) {
    return false;
  }
  if (heldByUs) {
    desired.acquireTime = rec.acquireTime;
    desired.leaseTransitions = rec.leaseTransitions;
  } else {
    desired.leaseTransitions = rec.leaseTransitions + 1;
  }
  auto rv = lock_.update(desired, current->resourceVersion);
  if (!rv) {
    // A Conflict means another candidate wrote first: we lost this race.
    log::info(kLogger, heldByUs ? "cannot renew the lease" : "cannot take the lease",
              {{"lease", lock_.describe()}, {"error", rv.error().describe()}});
    return false;
  }
  observed_ = VersionedLeaderElectionRecord{desired, *rv};
  observedTime_ = now;
  observeHolder(config_.identity);
  return true;
}

bool LeaderElector::sleepUntil(TimePoint deadline) {
  std::unique_lock<std::mutex> lk(mu_);
  while (!stop_ && clock_.now() < deadline) clock_.waitUntil(cv_, lk, deadline);
  return !stop_;
}

void LeaderElector::finish() {
  std::lock_guard<std::mutex> g(mu_);
  leading_ = false;
  finished_ = true;
  finishedCv_.notify_all();
}

void LeaderElector::run() {
  log::info(kLogger, "attempting to acquire the lease",
            {{"lease", lock_.describe()}, {"identity", config_.identity}});
  const auto retry = toWall(config_.retryPeriod);
  for (;;) {
    if (stopping()) return finish();
    const TimePoint attempt = clock_.now();
    if (tryAcquireOrRenew()) {
      lastRenew_ = attempt;
      break;
    }
    TimePoint next = clock_.now() + retry;
    // Wake exactly when the observed holder's lease would expire, not up to one retry
    // period later.
    if (observed_ && !observed_->record.holderIdentity.empty()) {
      TimePoint expiry =
          observedTime_ + std::chrono::seconds(observed_->record.leaseDurationSeconds);
      if (expiry > clock_.now()) next = std::min(next, expiry);
    }
    if (!sleepUntil(next)) return finish();
  }

  {
    std::lock_guard<std::mutex> g(mu_);
    leading_ = true;
  }
  log::info(kLogger, "acquired the lease, now leading",
            {{"lease", lock_.describe()}, {"identity", config_.identity}});
  if (config_.onStartedLeading) config_.onStartedLeading();

  const auto renewDeadline = toWall(config_.renewDeadline);
  bool stopped = false;
  for (;;) {
    const TimePoint deadline = lastRenew_ + renewDeadline;
    if (!sleepUntil(std::min(clock_.now() + retry, deadline))) {
      stopped = true;
      break;
    }
    if (clock_.now() >= deadline) {
      log::error(kLogger, "failed to renew the lease within the renew deadline, stopping",
                 {{"lease", lock_.describe()}, {"identity", config_.identity}});
      break;
    }
    const TimePoint attempt = clock_.now();
    if (tryAcquireOrRenew()) {
      lastRenew_ = attempt;
      continue;
    }
    if (observed_ && observed_->record.holderIdentity != config_.identity) {
      log::error(kLogger, "the lease was taken by another holder, stopping",
                 {{"lease", lock_.describe()},
                  {"identity", config_.identity},
                  {"holder", observed_->record.holderIdentity}});
      break;
    }
    if (clock_.now() >= lastRenew_ + renewDeadline) {
      log::error(kLogger, "failed to renew the lease within the renew deadline, stopping",
                 {{"lease", lock_.describe()}, {"identity", config_.identity}});
      break;
    }
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    leading_ = false;
  }
  if (stopped && config_.releaseOnCancel) release();
  log::info(kLogger, "stopped leading",
            {{"lease", lock_.describe()}, {"identity", config_.identity}});
  if (config_.onStoppedLeading) config_.onStoppedLeading();
  finish();
}

void LeaderElector::release() {
  if (!observed_ || observed_->record.holderIdentity != config_.identity) return;
  const TimePoint now = clock_.now();
  LeaderElectionRecord released{"", 1, now, now, observed_->record.leaseTransitions};
  auto rv = lock_.update(released, observed_->resourceVersion);
  if (!rv) {
    log::warn(kLogger, "cannot release the lease",
              {{"lease", lock_.describe()}, {"error", rv.error().describe()}});
    return;
  }
  observed_ = VersionedLeaderElectionRecord{released, *rv};
  log::info(kLogger, "released the lease", {{"lease", lock_.describe()}});
}

}  // namespace kubegrant::runtime
