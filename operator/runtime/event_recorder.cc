#include "operator/runtime/event_recorder.h"

#include <fmt/format.h>

#include "operator/common/log.h"
#include "operator/common/time.h"

namespace kubegrant::runtime {

namespace {
constexpr size_t kMaxMessageBytes = 1024;  // what events.k8s.io allows for a note

std::string truncateMessage(std::string_view message) {
  if (message.size() <= kMaxMessageBytes) return std::string(message);
  std::string out(message.substr(0, kMaxMessageBytes - 3));
  // Do not cut a UTF-8 sequence in half.
  while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
  if (!out.empty() && (static_cast<unsigned char>(out.back()) & 0x80) != 0) out.pop_back();
  return out + "...";
}
}  // namespace

const char* toString(EventType type) { return type == EventType::Warning ? "Warning" : "Normal"; }

KubeEventRecorder::KubeEventRecorder(kube::Client& client, Clock& clock,
                                     EventRecorderOptions options)
    : client_(client), clock_(clock), options_(std::move(options)) {}

void KubeEventRecorder::pruneLocked(TimePoint now) {
  if (seen_.size() < options_.maxTrackedEvents) return;
  for (auto it = seen_.begin(); it != seen_.end();) {
    if (now - it->second.last > options_.aggregationWindow) {
      it = seen_.erase(it);
    } else {
      ++it;
    }
  }
  // Still full of recent events: forget the oldest half rather than grow without bound.
  while (seen_.size() >= options_.maxTrackedEvents) {
    auto oldest = seen_.begin();
    for (auto it = seen_.begin(); it != seen_.end(); ++it) {
      if (it->second.last < oldest->second.last) oldest = it;
    }
    seen_.erase(oldest);
  }
}

Result<void> KubeEventRecorder::create(const kube::Object& involved, EventType type,
                                       std::string_view reason, const std::string& message,
                                       TimePoint now, Seen& seen) {
  const std::string ns = involved.namespace_().empty() ? "default" : involved.namespace_();
  std::uint64_t n;
  {
    std::lock_guard<std::mutex> g(mu_);
    n = ++counter_;
  }
  // client-go names Events "<object>.<unix nanos in hex>"; the counter keeps two events in
  // the same nanosecond apart.
  const std::string name = fmt::format(
      "{}.{:x}{:x}", involved.name(),
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count(), n);
  const std::string ts = formatRfc3339(now);
  nlohmann::json involvedRef = {
      {"apiVersion", involved.apiVersion()}, {"kind", involved.kind()}, {"name", involved.name()}};
  if (!involved.namespace_().empty()) involvedRef["namespace"] = involved.namespace_();
  if (!involved.uid().empty()) involvedRef["uid"] = involved.uid();
  if (!involved.resourceVersion().empty()) {
    involvedRef["resourceVersion"] = involved.resourceVersion();
  }
  nlohmann::json source = {{"component", options_.component}};
  if (!options_.instance.empty()) source["host"] = options_.instance;
  kube::Object ev(nlohmann::json{
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"name", name}, {"namespace", ns}}},
      {"involvedObject", involvedRef},
      {"type", toString(type)},
      {"reason", std::string(reason)},
      {"message", message},
      {"source", source},
      {"firstTimestamp", ts},
      {"lastTimestamp", ts},
      {"count", 1},
      {"reportingComponent", options_.component},
      {"reportingInstance", options_.instance},
  });
  auto created = client_.create(kube::resources::events(), ev);
  if (!created) return std::unexpected(created.error());
  seen.ns = ns;
  seen.name = name;
  seen.count = 1;
  seen.last = now;
  return ok();
}

void KubeEventRecorder::event(const kube::Object& involved, EventType type, std::string_view reason,
                              std::string_view rawMessage) {
  const TimePoint now = clock_.now();
  const std::string message = truncateMessage(rawMessage);
  Key key{involved.uid().empty() ? involved.apiVersion() + "/" + involved.kind() + "/" +
                                       involved.namespace_() + "/" + involved.name()
                                 : involved.uid(),
          toString(type), std::string(reason), message};
  std::optional<Seen> previous;
  {
    std::lock_guard<std::mutex> g(mu_);
    pruneLocked(now);
    auto it = seen_.find(key);
    if (it != seen_.end() && now - it->second.last <= options_.aggregationWindow) {
      previous = it->second;
    }
  }
  Seen next;
  Result<void> written = ok();
  if (previous) {
    next = *previous;
    next.count = previous->count + 1;
    next.last = now;
    nlohmann::json patch = {{"count", next.count}, {"lastTimestamp", formatRfc3339(now)}};
    auto patched = client_.patch(kube::resources::events(), {previous->ns, previous->name},
                                 kube::PatchType::Merge, patch);
    if (!patched && patched.error().code == ErrorCode::NotFound) {
      written = create(involved, type, reason, message, now, next);  // the Event expired
    } else if (!patched) {
      written = std::unexpected(patched.error());
    }
  } else {
    written = create(involved, type, reason, message, now, next);
  }
  if (!written) {
    log::warn("events", "cannot record event",
              {{"object", involved.key().toString()},
               {"reason", std::string(reason)},
               {"error", written.error().describe()}});
    return;
  }
  std::lock_guard<std::mutex> g(mu_);
  seen_[key] = next;
}

}  // namespace kubegrant::runtime
