#pragma once

// Wires the runtime together the way controller-runtime's manager does, so main.cc stays
// wiring only:
//  - informers (one per resource/namespace/selector, shared by every controller that asks)
//    start at once, so caches are warm whoever leads;
//  - run() waits for every cache to sync, then, with leader election, for leadership, and
//    only then starts the controllers' workers;
//  - losing leadership ends run() with an error: the process should exit and start over
//    (no half-stopped controllers keep writing);
//  - stop() (e.g. from a SIGTERM handler thread) ends run() cleanly: controllers finish
//    their current reconcile, the lease is released, informers stop.

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "operator/common/clock.h"
#include "operator/common/result.h"
#include "operator/kube/client.h"
#include "operator/runtime/controller.h"
#include "operator/runtime/event_recorder.h"
#include "operator/runtime/informer.h"
#include "operator/runtime/kube_lease_lock.h"
#include "operator/runtime/leader_election.h"

namespace kubegrant::runtime {

struct ManagerOptions {
  bool leaderElection = true;
  std::string leaseNamespace = "kubegrant-system";
  std::string leaseName = "kubegrant-operator";
  std::string identity;                        // required with leader election: unique per process
  LeaderElectionConfig leaderElectionTimings;  // durations only; identity/callbacks are set here
  std::chrono::milliseconds cacheSyncTimeout{std::chrono::minutes(2)};
  EventRecorderOptions events;
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
  // A controller whose workers start once this process leads. Register before run().
  Controller& addController(std::string name, Reconciler& reconciler,
                            ControllerOptions options = {});
  EventRecorder& eventRecorder() { return recorder_; }
  kube::Client& client() { return client_; }

  // Blocks: ok() after stop(); Unavailable when leadership was lost; Timeout when caches
  // did not sync; Invalid on a bad leader election configuration.
  [[nodiscard]] Result<void> run();
  void stop();
  bool leading() const;

 private:
  void startControllers();

  kube::Client& client_;
  Clock& clock_;
  ManagerOptions options_;
  KubeEventRecorder recorder_;
  std::map<std::string, std::unique_ptr<Informer>> informers_;
  std::vector<std::unique_ptr<Controller>> controllers_;
  std::unique_ptr<KubeLeaseLock> lock_;
  std::unique_ptr<LeaderElector> elector_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopRequested_ = false;
  bool lost_ = false;
  bool leading_ = false;
};

}  // namespace kubegrant::runtime
