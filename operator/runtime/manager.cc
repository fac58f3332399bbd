#include "operator/runtime/manager.h"

#include <fmt/format.h>
#include <malloc.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "operator/common/log.h"

namespace kubegrant::runtime {

namespace {
constexpr const char* kLogger = "manager";

bool disabled(const std::string& addr) { return addr.empty() || addr == "0"; }
}  // namespace

Manager::Manager(kube::Client& client, Clock& clock, ManagerOptions options)
    : client_(client),
      clock_(clock),
      options_(std::move(options)),
      recorder_(client, clock, options_.events),
      wakeFd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  metrics_.addCollector([this] { collectMetrics(); });
}

Manager::~Manager() {
  shutdown();
  if (wakeFd_ >= 0) ::close(wakeFd_);
}

std::string Manager::informerKey(const kube::ResourceRef& ref, const InformerOptions& options) {
  return ref.group + "/" + ref.version + "/" + ref.resource + "|" + options.namespace_ + "|" +
         options.labelSelector + "|" + options.fieldSelector;
}

Informer& Manager::informer(const kube::ResourceRef& ref, const InformerOptions& options) {
  auto& slot = informers_[informerKey(ref, options)];
  if (!slot) slot = std::make_unique<Informer>(client_, ref, clock_, options);
  return *slot;
}

Controller& Manager::addController(std::string name, Reconciler& reconciler,
                                   ControllerOptions options) {
  controllers_.push_back(
      std::make_unique<Controller>(std::move(name), reconciler, clock_, options));
  return *controllers_.back();
}

Controller& Manager::addController(std::string name, std::unique_ptr<Reconciler> reconciler,
                                   ControllerOptions options) {
  reconcilers_.push_back(std::move(reconciler));
  return addController(std::move(name), *reconcilers_.back(), options);
}

void Manager::add(std::unique_ptr<Runnable> runnable, RunOn when) {
  runnables_.push_back({std::move(runnable), when});
}

void Manager::addReadyzCheck(std::string name, std::function<Result<void>()> check) {
  readyzChecks_.emplace_back(std::move(name), std::move(check));
}

bool Manager::leading() const {
  std::lock_guard<std::mutex> g(mu_);
  return leading_;
}

int Manager::healthPort() const { return health_ ? health_->port() : 0; }
int Manager::metricsPort() const { return metricsServer_ ? metricsServer_->port() : 0; }

void Manager::wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wakeFd_, &one, sizeof one);
}

void Manager::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stopRequested_ = true;
  }
  wake();
}

bool Manager::ready(std::string* why) const {
  auto notReady = [&](std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  };
  for (const auto& [key, inf] : informers_) {
    if (!inf->hasSynced()) {
      return notReady(fmt::format("cache of {} not synced", inf->resource().resource));
    }
  }
  for (const auto& [name, check] : readyzChecks_) {
    if (auto r = check(); !r) return notReady(fmt::format("{}: {}", name, r.error().message));
  }
  if (why) *why = "ok";
  return true;
}

HttpResponse Manager::serveProbe(const std::string& method, const std::string& path) const {
  if (method != "GET" && method != "HEAD") return {405, "text/plain", "method not allowed\n"};
  if (path == "/healthz" || path == "/livez") {
    std::lock_guard<std::mutex> g(mu_);
    if (lost_) return {503, "text/plain", "unhealthy: leader election lost\n"};
    return {200, "text/plain", "ok\n"};
  }
  if (path == "/readyz") {
    std::string why;
    bool r = ready(&why);
    return {r ? 200 : 503, "text/plain", why + "\n"};
  }
  return {404, "text/plain", "not found\n"};
}

void Manager::collectMetrics() {
  auto& reconciles =
      metrics_.counter("kubegrant_controller_reconcile_total",
                       "Reconciles by controller and result.", {"controller", "result"});
  auto& reconcileTime =
      metrics_.gauge("kubegrant_controller_reconcile_time_seconds_total",
                     "Total time spent reconciling, by controller.", {"controller"});
  auto& depth =
      metrics_.gauge("kubegrant_workqueue_depth", "Keys ready in the work queue.", {"controller"});
  auto& waiting = metrics_.gauge("kubegrant_workqueue_waiting",
                                 "Keys waiting for a delayed requeue (expiry, startAt, backoff).",
                                 {"controller"});
  auto& synced = metrics_.gauge("kubegrant_informer_synced",
                                "1 when the informer's cache has synced.", {"resource"});
  auto& cached = metrics_.gauge("kubegrant_informer_objects", "Objects in the informer's cache.",
                                {"resource"});
  auto& leader = metrics_.gauge("kubegrant_leader", "1 while this replica runs the controllers.");
  leader.with().set(leading() ? 1 : 0);
  // Counters mirror the controllers' own atomics.
  auto mirror = [&](const std::string& controller, const char* result, uint64_t value) {
    auto& c = reconciles.with({controller, result});
    c.inc(static_cast<double>(value) - c.value());
  };
  for (const auto& c : controllers_) {
    const auto s = c->stats();
    mirror(c->name(), "total", s.reconcileTotal);
    mirror(c->name(), "error", s.reconcileErrors);
    mirror(c->name(), "requeue_after", s.reconcileRequeueAfter);
    mirror(c->name(), "success", s.reconcileSuccess);
    reconcileTime.with({c->name()})
        .set(std::chrono::duration<double>(s.reconcileTimeTotal).count());
    depth.with({c->name()}).set(static_cast<double>(c->queue().len()));
    waiting.with({c->name()}).set(static_cast<double>(c->queue().numWaiting()));
  }
  for (const auto& [key, inf] : informers_) {
    synced.with({inf->resource().resource}).set(inf->hasSynced() ? 1 : 0);
    cached.with({inf->resource().resource}).set(static_cast<double>(inf->store().size()));
  }
}

Result<void> Manager::startServers() {
  auto serve = [](const std::string& addr, HttpHandler handler,
                  std::unique_ptr<HttpServer>& server) -> Result<void> {
    if (disabled(addr)) return ok();
    auto listen = parseListenAddress(addr);
    if (!listen) return std::unexpected(listen.error());
    server = std::make_unique<HttpServer>(*listen, std::move(handler));
    return server->start();
  };
  if (auto r = serve(
          options_.healthAddr,
          [this](const std::string& m, const std::string& p) { return serveProbe(m, p); }, health_);
      !r) {
    return r;
  }
  return serve(
      options_.metricsAddr,
      [this](const std::string& m, const std::string& p) -> HttpResponse {
        if (m != "GET" && m != "HEAD") return {405, "text/plain", "method not allowed\n"};
        if (p != "/metrics") return {404, "text/plain", "not found\n"};
        return {200, "text/plain; version=0.0.4; charset=utf-8", metrics_.render()};
      },
      metricsServer_);
}

Result<void> Manager::startRunnables(RunOn when) {
  for (auto& r : runnables_) {
    if (r.when != when || r.started) continue;
    if (auto s = r.runnable->start(); !s) return s;
    r.started = true;
  }
  return ok();
}

void Manager::stopRunnables(RunOn when) {
  for (auto it = runnables_.rbegin(); it != runnables_.rend(); ++it) {
    if (it->when != when || !it->started) continue;
    it->runnable->stop();
    it->started = false;
  }
}

bool Manager::stopping() const {
  std::lock_guard<std::mutex> g(mu_);
  return stopRequested_;
}

Result<void> Manager::waitForCaches() {
  for (auto& [key, inf] : informers_) inf->start();
  const auto deadline = std::chrono::steady_clock::now() + options_.cacheSyncTimeout;
  for (auto& [key, inf] : informers_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!inf->waitForSync(std::max(left, std::chrono::milliseconds(0)))) {
      if (stopping()) return ok();  // shutdown stopped the informer
      return fail(ErrorCode::Timeout,
                  "cache of " + inf->resource().resource + " did not sync within the timeout");
    }
  }
  log::info(kLogger, "caches synced", {{"informers", informers_.size()}});
  // The lists' transient memory (pages, decoded items) is free now: give it back.
  if (options_.memoryTrimInterval.count() > 0) ::malloc_trim(0);
  return ok();
}

void Manager::startWhenSynced(std::optional<LeaderElectionConfig> lec) {
  if (auto r = waitForCaches(); !r) return failWith(r.error());
  std::lock_guard<std::mutex> g(startMu_);
  if (stopping()) return;
  if (!lec) return startLeadingLocked();
  lec->onStartedLeading = [this] {
    std::lock_guard<std::mutex> sg(startMu_);
    startLeadingLocked();
  };
  lec->onStoppedLeading = [this] {
    std::lock_guard<std::mutex> lg(mu_);
    leading_ = false;
    if (!stopRequested_) lost_ = true;
    wake();
  };
  lock_ = std::make_unique<KubeLeaseLock>(client_, options_.leaseNamespace, options_.leaseName);
  elector_ = std::make_unique<LeaderElector>(*lock_, clock_, std::move(*lec));
  elector_->start();
}

void Manager::startLeadingLocked() {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (stopRequested_) return;
    leading_ = true;
  }
  for (auto& c : controllers_) c->start();
  if (auto r = startRunnables(RunOn::Leader); !r) return failWith(r.error());
  log::info(kLogger, "controllers started", {{"controllers", controllers_.size()}});
}

void Manager::failWith(Error e) {
  std::lock_guard<std::mutex> g(mu_);
  if (!failure_) failure_ = std::move(e);
  wake();
}

int Manager::waitForEnd(const StopSignals* signals) {
  for (;;) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (stopRequested_ || lost_ || failure_) return 0;
    }
    pollfd fds[2] = {{wakeFd_, POLLIN, 0}, {signals ? signals->fd() : -1, POLLIN, 0}};
    const int trimMs = static_cast<int>(options_.memoryTrimInterval.count());
    const int n = ::poll(fds, signals ? 2 : 1, trimMs > 0 ? trimMs : -1);
    if (n < 0 && errno != EINTR) return 0;
    if (n == 0) {
      ::malloc_trim(0);  // see ManagerOptions::memoryTrimInterval
      continue;
    }
    if (fds[0].revents & POLLIN) {
      std::uint64_t n = 0;
      [[maybe_unused]] auto r = ::read(wakeFd_, &n, sizeof n);
    }
    if (signals && (fds[1].revents & POLLIN)) {
      if (int sig = signals->take(); sig != 0) return sig;
    }
  }
}

Result<void> Manager::run(const StopSignals* signals) {
  std::optional<LeaderElectionConfig> lec;
  if (options_.leaderElection) {
    lec = options_.leaderElectionTimings;
    lec->identity = options_.identity;
    if (auto valid = LeaderElector::validate(*lec); !valid) return valid;
  }
  if (auto r = startServers(); !r) {
    shutdown();
    return r;
  }
  if (auto r = startRunnables(RunOn::EveryReplica); !r) {
    shutdown();
    return r;
  }
  // Waiting for the caches happens off this thread, so a signal or stop() is seen at once.
  starter_ = std::jthread([this, lec = std::move(lec)]() mutable { startWhenSynced(lec); });
  log::info(kLogger, "running",
            {{"healthPort", healthPort()},
             {"metricsPort", metricsPort()},
             {"leaderElection", options_.leaderElection}});

  if (int sig = waitForEnd(signals); sig != 0) {
    log::info(kLogger, "signal received, shutting down", {{"signal", sig}});
  }
  Result<void> result = ok();
  {
    std::lock_guard<std::mutex> g(mu_);
    if (failure_) {
      result = std::unexpected(*failure_);
    } else if (lost_ && !stopRequested_) {
      result = fail(ErrorCode::Unavailable, "lost the leader election lease " +
                                                options_.leaseNamespace + "/" + options_.leaseName);
    }
    stopRequested_ = true;
  }
  if (!result) log::error(kLogger, "stopping", {{"error", result.error().describe()}});
  shutdown();
  return result;
}

void Manager::shutdown() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stopRequested_ = true;
  }
  // Writers first (each finishes its current reconcile), then the lease, then the caches,
  // then what serves every replica, then the probes.
  {
    std::lock_guard<std::mutex> g(startMu_);  // nothing starts from here on
    for (auto& c : controllers_) c->stop();
    stopRunnables(RunOn::Leader);
  }
  if (elector_) elector_->stop();
  for (auto& [key, inf] : informers_) inf->stop();
  if (starter_.joinable()) starter_.join();
  stopRunnables(RunOn::EveryReplica);
  if (metricsServer_) metricsServer_->stop();
  if (health_) health_->stop();
  std::lock_guard<std::mutex> g(mu_);
  leading_ = false;
}

}  // namespace kubegrant::runtime
