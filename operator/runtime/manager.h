#pragma once

// The operator's only composition root, as controller-runtime's manager: main.cc builds the
// client, registers what runs, and calls run().
//
//  - Informers are shared: one per resource/namespace/selectors, whoever asks. typedStore<T>()
//    adds a typed view that decodes each object once per event.
//  - run() starts, in order: the probe and metrics servers, the runnables that run on every
//    replica (webhook server, event sink), the informers; waits until every cache synced;
//    then (with leader election, once this process leads) the controllers' workers and the
//    runnables that need leadership (e.g. a periodic sweep). No controller ever sees a cold
//    cache.
//  - run() returns ok() after stop() or a stop signal (SIGTERM/SIGINT through StopSignals);
//    Unavailable when leadership was lost (the process should exit and start over: no
//    half-stopped controller keeps writing); Timeout when caches did not sync; the error of
//    a server or runnable that could not start.
//  - Shutdown is ordered: controllers (each finishes its current reconcile), leader-only
//    runnables, the lease (released), informers, the other runnables (newest first), and
//    the probe and metrics servers last.
//  - /healthz and /livez answer 200 while run() runs; /readyz 200 only when every cache has
//    synced and every readiness check passes, otherwise 503 naming what is missing.
//  - /metrics renders metrics(): the manager adds its controllers', work queues', informers'
//    and leadership gauges at scrape time.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "operator/common/clock.h"
#include "operator/common/metrics.h"
#include "operator/common/result.h"
#include "operator/kube/client.h"
#include "operator/runtime/controller.h"
#include "operator/runtime/event_recorder.h"
#include "operator/runtime/http_server.h"
#include "operator/runtime/informer.h"
#include "operator/runtime/kube_lease_lock.h"
#include "operator/runtime/leader_election.h"
#include "operator/runtime/runnable.h"
#include "operator/runtime/signals.h"
#include "operator/runtime/typed_store.h"

namespace kubegrant::runtime {

struct ManagerOptions {
  bool leaderElection = true;
  std::string leaseNamespace = "kubegrant-system";
  std::string leaseName = "kubegrant-operator";
  std::string identity;                        // required with leader election: unique per process
  LeaderElectionConfig leaderElectionTimings;  // durations only; identity/callbacks are set here
  std::chrono::milliseconds cacheSyncTimeout{std::chrono::minutes(2)};
  EventRecorderOptions events;
  std::string healthAddr;   // /healthz, /livez, /readyz: "host:port", ":port"; "" or "0" = off
  std::string metricsAddr;  // /metrics; "" or "0" = off
  // glibc keeps freed memory in its arenas: after the initial LIST and after bursts (a create
  // storm, an expiry herd) the process would stay at its peak. The manager returns free pages
  // to the system (malloc_trim) once the caches synced and then at this interval, from its
  // otherwise idle main thread; 0 = never (bench/README.md, issue 15).
  std::chrono::milliseconds memoryTrimInterval{std::chrono::seconds(30)};
};

class Manager {
 public:
  // The client and clock must outlive the manager.
  Manager(kube::Client& client, Clock& clock, ManagerOptions options);
  ~Manager();

  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // The shared informer for `ref` with these options (same resource, namespace and
  // selectors = same informer). Add handlers and indexers before run().
  Informer& informer(const kube::ResourceRef& ref, const InformerOptions& options = {});
  // The shared typed view of that informer (create it before the handlers that enqueue).
  // With `packing`, it holds the objects packed and only the hot ones decoded (typed_store.h).
  template <typename T>
  TypedStore<T>& typedStore(const kube::ResourceRef& ref, typename TypedStore<T>::Decode decode,
                            const InformerOptions& options = {},
                            std::optional<Packing<T>> packing = std::nullopt) {
    auto& slot = stores_[informerKey(ref, options)];
    if (!slot) {
      slot = std::make_shared<TypedStore<T>>(informer(ref, options), std::move(decode),
                                             std::move(packing));
    }
    return *std::static_pointer_cast<TypedStore<T>>(slot);
  }
  // A controller whose workers start once caches synced and this process leads. The
  // reconciler must outlive the manager. Register before run().
  Controller& addController(std::string name, Reconciler& reconciler,
                            ControllerOptions options = {});
  // The same, owning the reconciler.
  Controller& addController(std::string name, std::unique_ptr<Reconciler> reconciler,
                            ControllerOptions options = {});
  // Owns `runnable` and runs it from run() to shutdown. Register before run().
  void add(std::unique_ptr<Runnable> runnable, RunOn when);
  // A readiness condition of /readyz besides synced caches: an error's message says why not.
  void addReadyzCheck(std::string name, std::function<Result<void>()> check);

  EventRecorder& eventRecorder() { return recorder_; }
  metrics::Registry& metrics() { return metrics_; }
  kube::Client& client() { return client_; }

  // Blocks until stop(), a signal on `signals` (may be null), or a failure; see above.
  [[nodiscard]] Result<void> run(const StopSignals* signals = nullptr);
  // Ends run(); callable from any thread, before or during run().
  void stop();
  bool leading() const;
  // Whether /readyz would answer 200; `why` says what is missing.
  bool ready(std::string* why = nullptr) const;
  // Bound ports (after run() started the servers; 0 when off).
  int healthPort() const;
  int metricsPort() const;

 private:
  static std::string informerKey(const kube::ResourceRef& ref, const InformerOptions& options);
  Result<void> startServers();
  Result<void> startRunnables(RunOn when);
  void stopRunnables(RunOn when);
  // On the starter thread: caches, then leader election (or straight to leading).
  void startWhenSynced(std::optional<LeaderElectionConfig> lec);
  Result<void> waitForCaches();
  void startLeadingLocked();  // holds startMu_
  void failWith(Error e);
  // Waits for stop(), lost leadership, a failure or a signal; returns the signal (0 = none).
  int waitForEnd(const StopSignals* signals);
  bool stopping() const;
  void wake();
  void shutdown();
  HttpResponse serveProbe(const std::string& method, const std::string& path) const;
  void collectMetrics();

  kube::Client& client_;
  Clock& clock_;
  ManagerOptions options_;
  metrics::Registry metrics_;
  KubeEventRecorder recorder_;
  std::map<std::string, std::unique_ptr<Informer>> informers_;
  std::map<std::string, std::shared_ptr<void>> stores_;
  std::vector<std::unique_ptr<Reconciler>> reconcilers_;
  std::vector<std::unique_ptr<Controller>> controllers_;
  struct Owned {
    std::unique_ptr<Runnable> runnable;
    RunOn when;
    bool started = false;
  };
  std::vector<Owned> runnables_;
  std::vector<std::pair<std::string, std::function<Result<void>()>>> readyzChecks_;
  std::unique_ptr<HttpServer> health_;
  std::unique_ptr<HttpServer> metricsServer_;
  std::unique_ptr<KubeLeaseLock> lock_;
  std::unique_ptr<LeaderElector> elector_;
  int wakeFd_ = -1;  // eventfd: stop(), lost leadership, a failure
  std::jthread starter_;
  // Held while controllers and leader-only runnables start or stop, so none starts after
  // shutdown began.
  std::mutex startMu_;

  mutable std::mutex mu_;
  bool stopRequested_ = false;
  bool lost_ = false;
  bool leading_ = false;
  std::optional<Error> failure_;
};

}  // namespace kubegrant::runtime
