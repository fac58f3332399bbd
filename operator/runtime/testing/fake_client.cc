#include "operator/runtime/testing/fake_client.h"

#include <algorithm>
#include <charconv>

#include "operator/common/time.h"

namespace kubegrant::runtime::testing {

using kube::Object;
using kube::ObjectKey;
using kube::ResourceRef;
using kube::WatchEventType;
using nlohmann::json;

namespace {

Error apiError(ErrorCode code, int http, std::string reason, std::string message) {
  Error e = makeError(code, std::move(message));
  e.reason = std::move(reason);
  e.httpStatus = http;
  return e;
}

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

// Splits on commas that are not inside parentheses.
std::vector<std::string> splitTerms(std::string_view s) {
  std::vector<std::string> out;
  int depth = 0;
  std::string cur;
  for (char c : s) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!trim(cur).empty() || !out.empty()) out.push_back(trim(cur));
  return out;
}

std::set<std::string> parseValueSet(std::string_view s) {
  std::set<std::string> out;
  size_t open = s.find('('), close = s.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return out;
  }
  for (const auto& v : splitTerms(s.substr(open + 1, close - open - 1))) out.insert(v);
  return out;
}

Result<bool> matchesFieldSelector(std::string_view selector, const json& obj) {
  for (const auto& term : splitTerms(selector)) {
    if (term.empty()) continue;
    bool negate = false;
    size_t pos = term.find("!=");
    size_t valueAt = pos + 2;
    if (pos != std::string::npos) {
      negate = true;
    } else if ((pos = term.find("==")) != std::string::npos) {
      valueAt = pos + 2;
    } else if ((pos = term.find('=')) != std::string::npos) {
      valueAt = pos + 1;
    } else {
      return fail(ErrorCode::BadRequest, "invalid field selector: " + term);
    }
    std::string field = trim(std::string_view(term).substr(0, pos));
    std::string value = trim(std::string_view(term).substr(valueAt));
    Object o(obj);
    std::string actual;
    if (field == "metadata.name") {
      actual = o.name();
    } else if (field == "metadata.namespace") {
      actual = o.namespace_();
    } else {
      return fail(ErrorCode::BadRequest, "field label not supported by the fake: " + field);
    }
    if ((actual == value) == negate) return false;
  }
  return true;
}

bool matches(const kube::ListOptions& o, const json& obj) {
  if (!o.labelSelector.empty()) {
    auto m = matchesLabelSelector(o.labelSelector, Object(obj).labels());
    if (!m || !*m) return false;
  }
  if (!o.fieldSelector.empty()) {
    auto m = matchesFieldSelector(o.fieldSelector, obj);
    if (!m || !*m) return false;
  }
  return true;
}

// Everything but metadata.resourceVersion/managedFields, to detect no-op writes.
json comparable(json o) {
  if (o.contains("metadata") && o["metadata"].is_object()) {
    o["metadata"].erase("resourceVersion");
    o["metadata"].erase("managedFields");
  }
  return o;
}

json withoutMetadataAndStatus(json o) {
  if (o.is_object()) {
    o.erase("metadata");
    o.erase("status");
  }
  return o;
}

// generateName suffix: five lower-case alphanumerics derived from a counter.
std::string generatedSuffix(std::uint64_t n) {
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  n = n * 2654435761u + 12345;
  for (int i = 0; i < 5; ++i) {
    out.push_back(kAlphabet[n % (sizeof(kAlphabet) - 1)]);
    n /= sizeof(kAlphabet) - 1;
  }
  return out;
}

}  // namespace

Result<bool> matchesLabelSelector(std::string_view selector,
                                  const std::map<std::string, std::string>& labels) {
  for (const auto& term : splitTerms(selector)) {
    if (term.empty()) continue;
    if (term[0] == '!') {
      if (labels.count(trim(term.substr(1))) != 0) return false;
      continue;
    }
    size_t sp = term.find(' ');
    if (sp != std::string::npos && term.find('(') != std::string::npos) {
      std::string key = trim(std::string_view(term).substr(0, sp));
      std::string rest = trim(std::string_view(term).substr(sp));
      auto values = parseValueSet(rest);
      auto it = labels.find(key);
      if (rest.rfind("notin", 0) == 0) {
        if (it != labels.end() && values.count(it->second) != 0) return false;
      } else if (rest.rfind("in", 0) == 0) {
        if (it == labels.end() || values.count(it->second) == 0) return false;
      } else {
        return fail(ErrorCode::BadRequest, "invalid label selector term: " + term);
      }
      continue;
    }
    size_t pos;
    if ((pos = term.find("!=")) != std::string::npos) {
      auto it = labels.find(trim(term.substr(0, pos)));
      if (it != labels.end() && it->second == trim(term.substr(pos + 2))) return false;
    } else if ((pos = term.find("==")) != std::string::npos) {
      auto it = labels.find(trim(term.substr(0, pos)));
      if (it == labels.end() || it->second != trim(term.substr(pos + 2))) return false;
    } else if ((pos = term.find('=')) != std::string::npos) {
      auto it = labels.find(trim(term.substr(0, pos)));
      if (it == labels.end() || it->second != trim(term.substr(pos + 1))) return false;
    } else if (labels.count(term) == 0) {
      return false;
    }
  }
  return true;
}

FakeClient::FakeClient(Clock* clock) : clock_(clock) {}

FakeClient::~FakeClient() { closeWatches(); }

TimePoint FakeClient::now() const { return clock_ != nullptr ? clock_->now() : systemClock_.now(); }

std::string FakeClient::resourceId(const ResourceRef& ref) {
  return ref.group.empty() ? ref.resource : ref.resource + "." + ref.group;
}

FakeClient::StoredKey FakeClient::keyFor(const ResourceRef& ref, std::string_view ns,
                                         std::string_view name) {
  return StoredKey{resourceId(ref), ref.namespaced ? std::string(ns) : std::string(),
                   std::string(name)};
}

void FakeClient::record(const FakeAction& action) {
  std::lock_guard<std::mutex> g(mu_);
  actions_.push_back(action);
}

std::optional<Error> FakeClient::react(const FakeAction& action) {
  record(action);
  std::vector<FakeReactor> reactors;
  {
    std::lock_guard<std::mutex> g(mu_);
    reactors = reactors_;
  }
  for (const auto& r : reactors) {
    if (auto e = r(action)) return e;
  }
  return std::nullopt;
}

std::string FakeClient::nextRvLocked() { return std::to_string(++rv_); }

void FakeClient::emitLocked(const ResourceRef& ref, WatchEventType type, std::optional<json> before,
                            json after) {
  history_.push_back(HistoryEvent{rv_, resourceId(ref), type, std::move(before), std::move(after)});
  cv_.notify_all();
}

Result<Object> FakeClient::writeLocked(const ResourceRef& ref, const StoredKey& key, json next,
                                       const json& before) {
  if (comparable(next) == comparable(before)) return Object(before);  // no-op: no new rv
  Object o(next);
  if (o.isBeingDeleted() && o.finalizers().empty()) {
    objects_.erase(key);
    o.setResourceVersion(nextRvLocked());
    emitLocked(ref, WatchEventType::Deleted, before, o.body);
    return o;
  }
  o.setResourceVersion(nextRvLocked());
  objects_[key] = o.body;
  emitLocked(ref, WatchEventType::Modified, before, o.body);
  return o;
}

Result<Object> FakeClient::get(const ResourceRef& ref, const ObjectKey& key) {
  if (auto e = react({"get", resourceId(ref), key.namespace_, key.name, "", std::nullopt, {}})) {
    return fail(*e);
  }
  std::lock_guard<std::mutex> g(mu_);
  auto it = objects_.find(keyFor(ref, key.namespace_, key.name));
  if (it == objects_.end()) {
    return fail(apiError(ErrorCode::NotFound, 404, "NotFound",
                         resourceId(ref) + " \"" + key.name + "\" not found"));
  }
  return Object(it->second);
}

Result<kube::ObjectList> FakeClient::list(const ResourceRef& ref, std::string_view ns,
                                          const kube::ListOptions& options) {
  FakeAction action{"list", resourceId(ref), std::string(ns), "", "", std::nullopt, {}};
  action.body = {{"labelSelector", options.labelSelector},
                 {"fieldSelector", options.fieldSelector},
                 {"limit", options.limit},
                 {"continue", options.continueToken}};
  // Recorded, not applied: objects keep their managedFields, so a caller's own fallback
  // (the informer strips them too) is what tests see working.
  if (options.dropManagedFields) action.body["dropManagedFields"] = true;
  if (auto e = react(action)) return fail(*e);
  if (!options.labelSelector.empty()) {
    if (auto m = matchesLabelSelector(options.labelSelector, {}); !m) return fail(m.error());
  }
  std::lock_guard<std::mutex> g(mu_);
  kube::ObjectList out;
  out.resourceVersion = std::to_string(rv_);
  std::string id = resourceId(ref);
  StoredKey after{id, "", ""};
  if (!options.continueToken.empty()) {
    auto token = json::parse(options.continueToken, nullptr, false);
    if (!token.is_object() || !token.contains("ns") || !token.contains("name")) {
      return fail(apiError(ErrorCode::BadRequest, 400, "BadRequest", "invalid continue token"));
    }
    after = StoredKey{id, token["ns"].get<std::string>(), token["name"].get<std::string>()};
  }
  for (auto it = objects_.upper_bound(after); it != objects_.end() && it->first.resource == id;
       ++it) {
    if (ref.namespaced && !ns.empty() && it->first.ns != ns) continue;
    if (!matches(options, it->second)) continue;
    if (options.limit > 0 && static_cast<std::int64_t>(out.items.size()) == options.limit) {
      const StoredKey& last = keyFor(ref, out.items.back().namespace_(), out.items.back().name());
      out.continueToken = json{{"ns", last.ns}, {"name", last.name}}.dump();
      break;
    }
    out.items.emplace_back(it->second);
  }
  return out;
}

Result<Object> FakeClient::create(const ResourceRef& ref, const Object& obj,
                                  const kube::WriteOptions& options) {
  FakeAction action{"create", resourceId(ref), obj.namespace_(), obj.name(),
                    "",       std::nullopt,    obj.body};
  if (auto e = react(action)) return fail(*e);
  std::lock_guard<std::mutex> g(mu_);
  Object o(obj.body);
  if (ref.namespaced && o.namespace_().empty()) {
    return fail(apiError(ErrorCode::BadRequest, 400, "BadRequest",
                         "the namespace of the object must be set"));
  }
  if (o.name().empty()) {
    std::string generate;
    if (o.body["metadata"].contains("generateName") &&
        o.body["metadata"]["generateName"].is_string()) {
      generate = o.body["metadata"]["generateName"].get<std::string>();
    }
    if (generate.empty()) {
      return fail(apiError(ErrorCode::Invalid, 422, "Invalid", "metadata.name: Required value"));
    }
    o.setName(generate + generatedSuffix(++uidCounter_));
  }
  StoredKey key = keyFor(ref, o.namespace_(), o.name());
  if (objects_.count(key) != 0) {
    return fail(apiError(ErrorCode::AlreadyExists, 409, "AlreadyExists",
                         resourceId(ref) + " \"" + o.name() + "\" already exists"));
  }
  o.setApiVersionKind(ref);
  json& md = o.body["metadata"];
  md["uid"] = "fake-uid-" + std::to_string(++uidCounter_);
  md["creationTimestamp"] = formatRfc3339(now());
  md["generation"] = 1;
  md.erase("deletionTimestamp");
  if (!ref.namespaced) md.erase("namespace");
  if (statusSubresource_.count(resourceId(ref)) != 0) o.body.erase("status");
  if (options.dryRun) return o;
  o.setResourceVersion(nextRvLocked());
  objects_[key] = o.body;
  emitLocked(ref, WatchEventType::Added, std::nullopt, o.body);
  return o;
}

Result<Object> FakeClient::update(const ResourceRef& ref, const Object& obj,
                                  const kube::WriteOptions& options) {
  FakeAction action{"update", resourceId(ref), obj.namespace_(), obj.name(),
                    "",       std::nullopt,    obj.body};
  if (auto e = react(action)) return fail(*e);
  std::lock_guard<std::mutex> g(mu_);
  StoredKey key = keyFor(ref, obj.namespace_(), obj.name());
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return fail(apiError(ErrorCode::NotFound, 404, "NotFound",
                         resourceId(ref) + " \"" + obj.name() + "\" not found"));
  }
  const json before = it->second;
  Object stored(before);
  if (!obj.resourceVersion().empty() && obj.resourceVersion() != stored.resourceVersion()) {
    return fail(apiError(ErrorCode::Conflict, 409, "Conflict",
                         "Operation cannot be fulfilled on " + resourceId(ref) + " \"" +
                             obj.name() +
                             "\": the object has been modified; please apply your changes to "
                             "the latest version and try again"));
  }
  Object next(obj.body);
  next.setApiVersionKind(ref);
  json& md = next.body["metadata"];
  const json& oldMd = before["metadata"];
  for (const char* kept : {"uid", "creationTimestamp", "deletionTimestamp", "generation",
                           "deletionGracePeriodSeconds"}) {
    if (oldMd.contains(kept)) {
      md[kept] = oldMd[kept];
    } else {
      md.erase(kept);
    }
  }
  if (!ref.namespaced) md.erase("namespace");
  if (statusSubresource_.count(resourceId(ref)) != 0) {
    if (before.contains("status")) {
      next.body["status"] = before["status"];
    } else {
      next.body.erase("status");
    }
  }
  if (stored.isBeingDeleted()) {
    for (const auto& f : next.finalizers()) {
      if (!stored.hasFinalizer(f)) {
        return fail(apiError(ErrorCode::Forbidden, 403, "Forbidden",
                             "no new finalizers can be added if the object is being deleted"));
      }
    }
  }
  if (withoutMetadataAndStatus(next.body) != withoutMetadataAndStatus(before)) {
    md["generation"] = stored.generation() + 1;
  }
  if (options.dryRun) return next;
  return writeLocked(ref, key, next.body, before);
}

Result<Object> FakeClient::updateStatus(const ResourceRef& ref, const Object& obj,
                                        const kube::WriteOptions& options) {
  FakeAction action{"updateStatus", resourceId(ref), obj.namespace_(), obj.name(),
                    "status",       std::nullopt,    obj.body};
  if (auto e = react(action)) return fail(*e);
  std::lock_guard<std::mutex> g(mu_);
  StoredKey key = keyFor(ref, obj.namespace_(), obj.name());
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return fail(apiError(ErrorCode::NotFound, 404, "NotFound",
                         resourceId(ref) + " \"" + obj.name() + "\" not found"));
  }
  const json before = it->second;
  if (!obj.resourceVersion().empty() && obj.resourceVersion() != Object(before).resourceVersion()) {
    return fail(apiError(ErrorCode::Conflict, 409, "Conflict",
                         "Operation cannot be fulfilled on " + resourceId(ref) + " \"" +
                             obj.name() + "\": the object has been modified"));
  }
  json next = before;
  if (obj.body.contains("status")) {
    next["status"] = obj.body["status"];
  } else {
    next.erase("status");
  }
  if (options.dryRun) return Object(next);
  return writeLocked(ref, key, std::move(next), before);
}

Result<Object> FakeClient::patch(const ResourceRef& ref, const ObjectKey& objectKey,
                                 kube::PatchType type, const json& body,
                                 const kube::PatchOptions& options) {
  FakeAction action{
      "patch", resourceId(ref), objectKey.namespace_, objectKey.name, options.subresource, type,
      body};
  if (auto e = react(action)) return fail(*e);
  std::lock_guard<std::mutex> g(mu_);
  StoredKey key = keyFor(ref, objectKey.namespace_, objectKey.name);
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return fail(apiError(ErrorCode::NotFound, 404, "NotFound",
                         resourceId(ref) + " \"" + objectKey.name + "\" not found"));
  }
  const json before = it->second;
  json patched;
  try {
    switch (type) {
      case kube::PatchType::Json:
        patched = before.patch(body);
        break;
      case kube::PatchType::Merge:
      case kube::PatchType::StrategicMerge:
        patched = before;
        patched.merge_patch(body);
        break;
      case kube::PatchType::Apply:
        return fail(apiError(ErrorCode::BadRequest, 400, "BadRequest",
                             "server-side apply is not supported by the fake client"));
    }
  } catch (const json::exception& e) {
    // The API server answers a failed `test` (or a bad path) with 422.
    return fail(apiError(ErrorCode::Invalid, 422, "Invalid",
                         std::string("the server rejected our request due to an error in our "
                                     "request: ") +
                             e.what()));
  }
  Object stored(before);
  Object next(patched);
  if (next.resourceVersion() != stored.resourceVersion()) {
    return fail(apiError(ErrorCode::Conflict, 409, "Conflict",
                         "Operation cannot be fulfilled on " + resourceId(ref) + " \"" +
                             objectKey.name + "\": the object has been modified"));
  }
  if (next.name() != stored.name() || next.namespace_() != stored.namespace_() ||
      next.uid() != stored.uid()) {
    return fail(apiError(ErrorCode::Invalid, 422, "Invalid",
                         "metadata.name, namespace and uid are immutable"));
  }
  if (options.subresource == "status") {
    json onlyStatus = before;
    if (patched.contains("status")) {
      onlyStatus["status"] = patched["status"];
    } else {
      onlyStatus.erase("status");
    }
    patched = std::move(onlyStatus);
  } else if (statusSubresource_.count(resourceId(ref)) != 0) {
    if (before.contains("status")) {
      patched["status"] = before["status"];
    } else {
      patched.erase("status");
    }
  }
  Object result(patched);
  if (stored.isBeingDeleted()) {
    for (const auto& f : result.finalizers()) {
      if (!stored.hasFinalizer(f)) {
        return fail(apiError(ErrorCode::Forbidden, 403, "Forbidden",
                             "no new finalizers can be added if the object is being deleted"));
      }
    }
  }
  if (withoutMetadataAndStatus(patched) != withoutMetadataAndStatus(before)) {
    result.body["metadata"]["generation"] = stored.generation() + 1;
  }
  if (options.dryRun) return result;
  return writeLocked(ref, key, std::move(result.body), before);
}

Result<kube::DeleteResult> FakeClient::remove(const ResourceRef& ref, const ObjectKey& objectKey,
                                              const kube::DeleteOptions& options) {
  FakeAction action{
      "delete", resourceId(ref), objectKey.namespace_, objectKey.name, "", std::nullopt, {}};
  if (options.preconditionUid) action.body["preconditions"]["uid"] = *options.preconditionUid;
  if (options.preconditionResourceVersion) {
    action.body["preconditions"]["resourceVersion"] = *options.preconditionResourceVersion;
  }
  if (auto e = react(action)) return fail(*e);
  std::lock_guard<std::mutex> g(mu_);
  StoredKey key = keyFor(ref, objectKey.namespace_, objectKey.name);
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return fail(apiError(ErrorCode::NotFound, 404, "NotFound",
                         resourceId(ref) + " \"" + objectKey.name + "\" not found"));
  }
  const json before = it->second;
  Object stored(before);
  if ((options.preconditionUid && *options.preconditionUid != stored.uid()) ||
      (options.preconditionResourceVersion &&
       *options.preconditionResourceVersion != stored.resourceVersion())) {
    return fail(
        apiError(ErrorCode::Conflict, 409, "Conflict",
                 "Precondition failed for " + resourceId(ref) + " \"" + objectKey.name + "\""));
  }
  if (options.dryRun) return kube::DeleteResult{};
  if (!stored.finalizers().empty()) {
    if (stored.isBeingDeleted()) return kube::DeleteResult{.pending = stored};
    json next = before;
    next["metadata"]["deletionTimestamp"] = formatRfc3339(now());
    next["metadata"]["deletionGracePeriodSeconds"] = 0;
    auto r = writeLocked(ref, key, std::move(next), before);
    if (!r) return fail(r.error());
    return kube::DeleteResult{.pending = std::move(*r)};
  }
  objects_.erase(it);
  Object gone(before);
  gone.setResourceVersion(nextRvLocked());
  emitLocked(ref, WatchEventType::Deleted, before, gone.body);
  return kube::DeleteResult{};
}

Result<void> FakeClient::watch(const ResourceRef& ref, std::string_view ns,
                               const kube::WatchOptions& options, const kube::WatchHandler& handler,
                               std::stop_token stop) {
  FakeAction action{"watch", resourceId(ref), std::string(ns), "", "", std::nullopt, {}};
  action.body = {{"resourceVersion", options.resourceVersion},
                 {"labelSelector", options.labelSelector},
                 {"fieldSelector", options.fieldSelector}};
  if (options.dropManagedFields) action.body["dropManagedFields"] = true;  // as for list
  if (auto e = react(action)) return fail(*e);

  const std::string id = resourceId(ref);
  kube::ListOptions filter;
  filter.labelSelector = options.labelSelector;
  filter.fieldSelector = options.fieldSelector;
  auto inScope = [&](const json& obj) {
    if (ref.namespaced && !ns.empty() && Object(obj).namespace_() != ns) return false;
    return matches(filter, obj);
  };

  // Registered before taking mu_: the callback locks mu_ and may run right here.
  std::stop_callback wake(stop, [this] {
    std::lock_guard<std::mutex> g(mu_);
    cv_.notify_all();
  });

  std::vector<kube::WatchEvent> batch;
  std::int64_t from = 0;
  std::uint64_t closeGen = 0, bookmarkGen = 0;
  {
    std::lock_guard<std::mutex> g(mu_);
    closeGen = closeGeneration_;
    bookmarkGen = bookmarkGeneration_;
    if (options.resourceVersion.empty() || options.resourceVersion == "0") {
      for (const auto& [key, obj] : objects_) {
        if (key.resource == id && inScope(obj)) {
          batch.push_back({WatchEventType::Added, Object(obj)});
        }
      }
      from = rv_;
    } else {
      auto [p, ec] =
          std::from_chars(options.resourceVersion.data(),
                          options.resourceVersion.data() + options.resourceVersion.size(), from);
      (void)p;
      if (ec != std::errc()) {
        return fail(apiError(ErrorCode::BadRequest, 400, "BadRequest",
                             "invalid resourceVersion " + options.resourceVersion));
      }
      if (from < compactedRv_) {
        return fail(apiError(ErrorCode::Gone, 410, "Expired",
                             "too old resource version: " + options.resourceVersion + " (" +
                                 std::to_string(compactedRv_) + ")"));
      }
    }
    ++openWatches_;
  }
  struct Closer {
    FakeClient* self;
    ~Closer() {
      std::lock_guard<std::mutex> g(self->mu_);
      --self->openWatches_;
      self->cv_.notify_all();
    }
  } closer{this};

  for (;;) {
    for (const auto& ev : batch) {
      if (stop.stop_requested()) return ok();
      handler(ev);
    }
    batch.clear();
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] {
      return stop.stop_requested() || closeGeneration_ != closeGen ||
             bookmarkGeneration_ != bookmarkGen || (!history_.empty() && history_.back().rv > from);
    });
    if (stop.stop_requested() || closeGeneration_ != closeGen) return ok();
    if (from < compactedRv_) {
      // This watcher fell behind a compaction: the server ends such a stream with 410.
      return fail(apiError(ErrorCode::Gone, 410, "Expired",
                           "too old resource version: " + std::to_string(from)));
    }
    auto first = std::upper_bound(history_.begin(), history_.end(), from,
                                  [](std::int64_t v, const HistoryEvent& e) { return v < e.rv; });
    for (auto it = first; it != history_.end(); ++it) {
      from = it->rv;
      if (it->resource != id) continue;
      const bool nowIn = inScope(it->object);
      const bool wasIn = it->before && inScope(*it->before);
      switch (it->type) {
        case WatchEventType::Added:
          if (nowIn) batch.push_back({WatchEventType::Added, Object(it->object)});
          break;
        case WatchEventType::Modified:
          if (nowIn && wasIn) batch.push_back({WatchEventType::Modified, Object(it->object)});
          if (nowIn && !wasIn) batch.push_back({WatchEventType::Added, Object(it->object)});
          if (!nowIn && wasIn) batch.push_back({WatchEventType::Deleted, Object(it->object)});
          break;
        case WatchEventType::Deleted:
          if (wasIn) batch.push_back({WatchEventType::Deleted, Object(it->object)});
          break;
        default:
          break;
      }
    }
    if (bookmarkGeneration_ != bookmarkGen) {
      bookmarkGen = bookmarkGeneration_;
      if (options.allowWatchBookmarks) {
        from = std::max(from, rv_);
        Object bm;
        bm.setApiVersionKind(ref);
        bm.setResourceVersion(std::to_string(from));
        batch.push_back({WatchEventType::Bookmark, bm});
      }
    }
  }
}

Result<json> FakeClient::getRaw(std::string_view path) {
  if (path == "/version") return json{{"major", "1"}, {"minor", "33"}, {"gitVersion", "fake"}};
  return fail(apiError(ErrorCode::NotFound, 404, "NotFound", "the fake serves no raw paths"));
}

Result<json> FakeClient::postRaw(std::string_view, const json&) {
  return fail(apiError(ErrorCode::NotFound, 404, "NotFound", "the fake serves no raw paths"));
}

Object FakeClient::seed(const ResourceRef& ref, Object obj) {
  std::lock_guard<std::mutex> g(mu_);
  obj.setApiVersionKind(ref);
  json& md = obj.body["metadata"];
  if (!md.contains("uid")) md["uid"] = "fake-uid-" + std::to_string(++uidCounter_);
  if (!md.contains("creationTimestamp")) md["creationTimestamp"] = formatRfc3339(now());
  if (!md.contains("generation")) md["generation"] = 1;
  obj.setResourceVersion(nextRvLocked());
  StoredKey key = keyFor(ref, obj.namespace_(), obj.name());
  auto it = objects_.find(key);
  std::optional<json> before;
  if (it != objects_.end()) before = it->second;
  objects_[key] = obj.body;
  emitLocked(ref, before ? WatchEventType::Modified : WatchEventType::Added, before, obj.body);
  return obj;
}

std::optional<Object> FakeClient::peek(const ResourceRef& ref, const ObjectKey& key) const {
  std::lock_guard<std::mutex> g(mu_);
  auto it = objects_.find(keyFor(ref, key.namespace_, key.name));
  if (it == objects_.end()) return std::nullopt;
  return Object(it->second);
}

void FakeClient::enableStatusSubresource(const ResourceRef& ref) {
  std::lock_guard<std::mutex> g(mu_);
  statusSubresource_.insert(resourceId(ref));
}

void FakeClient::addReactor(FakeReactor reactor) {
  std::lock_guard<std::mutex> g(mu_);
  reactors_.push_back(std::move(reactor));
}

void FakeClient::clearReactors() {
  std::lock_guard<std::mutex> g(mu_);
  reactors_.clear();
}

std::vector<FakeAction> FakeClient::actions() const {
  std::lock_guard<std::mutex> g(mu_);
  return actions_;
}

std::vector<FakeAction> FakeClient::writes() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<FakeAction> out;
  for (const auto& a : actions_) {
    if (a.verb != "get" && a.verb != "list" && a.verb != "watch") out.push_back(a);
  }
  return out;
}

void FakeClient::clearActions() {
  std::lock_guard<std::mutex> g(mu_);
  actions_.clear();
}

void FakeClient::compact() {
  std::lock_guard<std::mutex> g(mu_);
  history_.clear();
  compactedRv_ = rv_;
}

void FakeClient::closeWatches() {
  std::lock_guard<std::mutex> g(mu_);
  ++closeGeneration_;
  cv_.notify_all();
}

void FakeClient::sendBookmark() {
  std::lock_guard<std::mutex> g(mu_);
  ++bookmarkGeneration_;
  cv_.notify_all();
}

int FakeClient::openWatches() const {
  std::lock_guard<std::mutex> g(mu_);
  return openWatches_;
}

std::int64_t FakeClient::currentResourceVersion() const {
  std::lock_guard<std::mutex> g(mu_);
  return rv_;
}

}  // namespace kubegrant::runtime::testing
