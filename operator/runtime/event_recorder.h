#pragma once

// Kubernetes Events (core/v1) about an object, e.g. "Approved" on an AccessRequest, so
// `kubectl describe` shows what the operator did.
//
//  - type Normal or Warning, a CamelCase reason, a human message (no secrets, ever);
//  - source.component and reportingComponent "kubegrant-operator";
//  - repeats are aggregated as client-go's EventCorrelator does for identical events: the
//    same (object, type, reason, message) again within the window patches count and
//    lastTimestamp of the Event already written instead of creating a new one;
//  - best effort: a failure to write an Event is logged and never fails the reconcile.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "operator/common/clock.h"
#include "operator/kube/client.h"

namespace kubegrant::runtime {

enum class EventType { Normal, Warning };
const char* toString(EventType type);

class EventRecorder {
 public:
  virtual ~EventRecorder() = default;
  virtual void event(const kube::Object& involved, EventType type, std::string_view reason,
                     std::string_view message) = 0;
};

struct EventRecorderOptions {
  std::string component = "kubegrant-operator";
  std::string instance;  // reportingInstance / source.host, e.g. the pod name
  Duration aggregationWindow = std::chrono::minutes(10);
  size_t maxTrackedEvents = 4096;  // bound on the aggregation cache
};

class KubeEventRecorder final : public EventRecorder {
 public:
  // The client and clock must outlive the recorder.
  KubeEventRecorder(kube::Client& client, Clock& clock, EventRecorderOptions options = {});

  void event(const kube::Object& involved, EventType type, std::string_view reason,
             std::string_view message) override;

 private:
  struct Key {
    std::string involved;  // uid, or apiVersion/kind/ns/name when there is no uid
    std::string type, reason, message;
    auto operator<=>(const Key&) const = default;
  };
  struct Seen {
    std::string ns, name;  // the Event object
    std::int64_t count = 0;
    TimePoint last{};
  };
  void pruneLocked(TimePoint now);
  Result<void> create(const kube::Object& involved, EventType type, std::string_view reason,
                      const std::string& message, TimePoint now, Seen& seen);

  kube::Client& client_;
  Clock& clock_;
  EventRecorderOptions options_;
  std::mutex mu_;
  std::map<Key, Seen> seen_;
  std::uint64_t counter_ = 0;
};

}  // namespace kubegrant::runtime
