#pragma once

// An EventRecorder that only remembers, for reconciler unit tests that assert the exact
// Events emitted ("Warning GrantFailed database unreachable").

#include <mutex>
#include <string>
#include <vector>

#include "operator/runtime/event_recorder.h"

namespace kubegrant::runtime::testing {

struct RecordedEvent {
  std::string object;  // "ns/name"
  EventType type = EventType::Normal;
  std::string reason;
  std::string message;

  // "Normal Approved approved by bob", the form client-go's FakeRecorder uses.
  std::string toString() const {
    return std::string(runtime::toString(type)) + " " + reason + " " + message;
  }
  friend bool operator==(const RecordedEvent&, const RecordedEvent&) = default;
};

class FakeEventRecorder final : public EventRecorder {
 public:
  void event(const kube::Object& involved, EventType type, std::string_view reason,
             std::string_view message) override {
    std::lock_guard<std::mutex> g(mu_);
    events_.push_back({involved.key().toString(), type, std::string(reason), std::string(message)});
  }
  std::vector<RecordedEvent> events() const {
    std::lock_guard<std::mutex> g(mu_);
    return events_;
  }
  // Just the "Type Reason Message" strings, in order.
  std::vector<std::string> strings() const {
    std::lock_guard<std::mutex> g(mu_);
    std::vector<std::string> out;
    for (const auto& e : events_) out.push_back(e.toString());
    return out;
  }
  void clear() {
    std::lock_guard<std::mutex> g(mu_);
    events_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<RecordedEvent> events_;
};

}  // namespace kubegrant::runtime::testing
