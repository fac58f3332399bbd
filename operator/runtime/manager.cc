#include "operator/runtime/manager.h"

#include "operator/common/log.h"

namespace kubegrant::runtime {

namespace {
constexpr const char* kLogger = "manager";
}

Manager::Manager(kube::Client& client, Clock& clock, ManagerOptions options)
    : client_(client),
      clock_(clock),
      options_(std::move(options)),
      recorder_(client, clock, options_.events) {}

Manager::~Manager() {
  stop();
  for (auto& c : controllers_) c->stop();
  if (elector_) elector_->stop();
  for (auto& [k, inf] : informers_) inf->stop();
}

Informer& Manager::informer(const kube::ResourceRef& ref, const InformerOptions& options) {
  const std::string key = ref.group + "/" + ref.version + "/" + ref.resource + "|" +
                          options.namespace_ + "|" + options.labelSelector + "|" +
                          options.fieldSelector;
  auto& slot = informers_[key];
  if (!slot) slot = std::make_unique<Informer>(client_, ref, clock_, options);
  return *slot;
}

Controller& Manager::addController(std::string name, Reconciler& reconciler,
                                   ControllerOptions options) {
  controllers_.push_back(
      std::make_unique<Controller>(std::move(name), reconciler, clock_, options));
  return *controllers_.back();
}

bool Manager::leading() const {
  std::lock_guard<std::mutex> g(mu_);
  return leading_;
}

void Manager::stop() {
  std::lock_guard<std::mutex> g(mu_);
  stopRequested_ = true;
  cv_.notify_all();
}

void Manager::startControllers() {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (stopRequested_) return;
    leading_ = true;
  }
  for (auto& c : controllers_) c->start();
}

Result<void> Manager::run() {
  std::optional<LeaderElectionConfig> lec;
  if (options_.leaderElection) {
    lec = options_.leaderElectionTimings;
    lec->identity = options_.identity;
    if (auto valid = LeaderElector::validate(*lec); !valid) return valid;
  }

  for (auto& [k, inf] : informers_) inf->start();
  const auto deadline = std::chrono::steady_clock::now() + options_.cacheSyncTimeout;
  for (auto& [k, inf] : informers_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!inf->waitForSync(std::max(left, std::chrono::milliseconds(0)))) {
      for (auto& [k2, i2] : informers_) i2->stop();
      return fail(ErrorCode::Timeout,
                  "cache of " + inf->resource().resource + " did not sync within the timeout");
    }
  }
  log::info(kLogger, "caches synced", {{"informers", informers_.size()}});

  if (lec) {
    lec->onStartedLeading = [this] { startControllers(); };
    lec->onStoppedLeading = [this] {
      std::lock_guard<std::mutex> g(mu_);
      leading_ = false;
      if (!stopRequested_) lost_ = true;
      cv_.notify_all();
    };
    lock_ = std::make_unique<KubeLeaseLock>(client_, options_.leaseNamespace, options_.leaseName);
    elector_ = std::make_unique<LeaderElector>(*lock_, clock_, *lec);
    elector_->start();
  } else {
    startControllers();
  }

  bool lost = false;
  {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return stopRequested_ || lost_; });
    lost = lost_ && !stopRequested_;
  }
  // Workers first (they finish their current reconcile), then the lease, then the caches.
  for (auto& c : controllers_) c->stop();
  if (elector_) elector_->stop();
  for (auto& [k, inf] : informers_) inf->stop();
  {
    std::lock_guard<std::mutex> g(mu_);
    leading_ = false;
  }
  if (lost) {
    log::error(kLogger, "leadership lost, stopping", {{"identity", options_.identity}});
    return fail(ErrorCode::Unavailable, "lost the leader election lease " +
                                            options_.leaseNamespace + "/" + options_.leaseName);
  }
  return ok();
}

}  // namespace kubegrant::runtime
