#include "operator/runtime/informer.h"

#include <algorithm>
#include <utility>

#include "operator/common/log.h"

namespace kubegrant::runtime {

namespace {
constexpr const char* kLogger = "informer";

std::string describe(const kube::ResourceRef& ref) {
  return ref.group.empty() ? ref.resource : ref.resource + "." + ref.group;
}
}  // namespace

IndexFunc indexByLabel(std::string labelKey) {
  return [labelKey = std::move(labelKey)](const kube::Object& obj) -> std::vector<std::string> {
    auto labels = obj.labels();
    auto it = labels.find(labelKey);
    if (it == labels.end()) return {};
    return {it->second};
  };
}

IndexFunc indexByNamespace() {
  return [](const kube::Object& obj) -> std::vector<std::string> { return {obj.namespace_()}; };
}

void stripManagedFields(kube::Object& obj) {
  auto md = obj.body.find("metadata");
  if (md != obj.body.end() && md->is_object()) md->erase("managedFields");
}

void stripData(kube::Object& obj) {
  obj.body.erase("data");
  obj.body.erase("stringData");
  obj.body.erase("binaryData");
}

// ---- Store ----

void Store::KeySet::insert(const NamespacedName* key) {
  if (many_ != nullptr) {
    many_->insert(key);
  } else if (one_ == nullptr) {
    one_ = key;
  } else if (*one_ == *key) {
    one_ = key;  // the same name: the entry points at the current key
  } else {
    many_ = std::make_unique<std::set<const NamespacedName*, KeyPtrLess>>();
    many_->insert(one_);
    many_->insert(key);
    one_ = nullptr;
  }
}

void Store::KeySet::erase(const NamespacedName& key) {
  if (one_ != nullptr) {
    if (*one_ == key) one_ = nullptr;
    return;
  }
  if (many_ == nullptr) return;
  // std::set::erase by an equivalent key of another type is C++23 (not in libstdc++ 12).
  if (auto it = many_->find(key); it != many_->end()) many_->erase(it);
  if (many_->size() == 1) {
    one_ = *many_->begin();
    many_.reset();
  } else if (many_->empty()) {
    many_.reset();
  }
}

ObjectPtr Store::objectOf(const NamespacedName& key, const Entry& entry) const {
  if (entry.object) return entry.object;
  if (metadataOnly_) {
    nlohmann::json md = {{"name", key.name}, {"resourceVersion", entry.resourceVersion}};
    if (!key.namespace_.empty()) md["namespace"] = key.namespace_;
    return std::make_shared<const kube::Object>(
        nlohmann::json{{"apiVersion", apiVersion_}, {"kind", kind_}, {"metadata", std::move(md)}});
  }
  // Packed by upsert from a valid object, so decoding cannot fail short of memory
  // corruption; an empty object is the safe answer then.
  auto body = nlohmann::json::from_msgpack(entry.packed, true, false);
  if (body.is_discarded()) return std::make_shared<const kube::Object>();
  return std::make_shared<const kube::Object>(std::move(body));
}

ObjectPtr Store::get(const NamespacedName& key) const {
  std::shared_lock<std::shared_mutex> g(mu_);
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : objectOf(it->first, it->second);
}

std::vector<ObjectPtr> Store::list() const {
  std::shared_lock<std::shared_mutex> g(mu_);
  std::vector<ObjectPtr> out;
  out.reserve(items_.size());
  for (const auto& [k, v] : items_) out.push_back(objectOf(k, v));
  return out;
}

std::vector<ObjectPtr> Store::byIndex(const std::string& indexName,
                                      const std::string& value) const {
  std::shared_lock<std::shared_mutex> g(mu_);
  std::vector<ObjectPtr> out;
  auto idx = indexes_.find(indexName);
  if (idx == indexes_.end()) return out;
  auto entry = idx->second.entries.find(value);
  if (entry == idx->second.entries.end()) return out;
  entry->second.forEach([&](const NamespacedName* key) {
    auto it = items_.find(*key);
    if (it != items_.end()) out.push_back(objectOf(it->first, it->second));
  });
  return out;
}

std::vector<NamespacedName> Store::keysByIndex(const std::string& indexName,
                                               const std::string& value) const {
  std::shared_lock<std::shared_mutex> g(mu_);
  std::vector<NamespacedName> out;
  auto idx = indexes_.find(indexName);
  if (idx == indexes_.end()) return out;
  auto entry = idx->second.entries.find(value);
  if (entry == idx->second.entries.end()) return out;
  entry->second.forEach([&](const NamespacedName* key) { out.push_back(*key); });
  return out;
}

std::vector<NamespacedName> Store::keys() const {
  std::shared_lock<std::shared_mutex> g(mu_);
  std::vector<NamespacedName> out;
  out.reserve(items_.size());
  for (const auto& [k, v] : items_) out.push_back(k);
  std::sort(out.begin(), out.end());
  return out;
}

size_t Store::size() const {
  std::shared_lock<std::shared_mutex> g(mu_);
  return items_.size();
}

void Store::addIndexer(std::string name, IndexFunc fn) {
  std::unique_lock<std::shared_mutex> g(mu_);
  auto [at, inserted] = indexes_.try_emplace(std::move(name));
  if (!inserted) return;  // one indexer per name
  at->second.fn = std::move(fn);
  // Normally called before the informer starts, with nothing cached yet. A metadata-only
  // store cannot index what it no longer has: its objects are indexed as they come.
  if (metadataOnly_) return;
  for (auto& [key, entry] : items_) indexOneLocked(at->second, key, entry, *objectOf(key, entry));
}

void Store::indexOneLocked(Index& idx, const NamespacedName& key, Entry& entry,
                           const kube::Object& obj) {
  for (auto& v : idx.fn(obj)) {
    auto [it, inserted] = idx.entries.try_emplace(std::move(v));
    // An index function that names one value twice indexes the entry once.
    const bool already = std::any_of(entry.indexed.begin(), entry.indexed.end(),
                                     [&](const IndexRef& r) { return r.value == &it->first; });
    if (already) continue;
    it->second.insert(&key);
    entry.indexed.push_back({&idx, &it->first});
  }
}

void Store::indexLocked(const NamespacedName& key, Entry& entry, const kube::Object& obj) {
  for (auto& [name, idx] : indexes_) indexOneLocked(idx, key, entry, obj);
  entry.indexed.shrink_to_fit();
}

void Store::unindexLocked(const NamespacedName& key, Entry& entry) {
  for (const IndexRef& r : entry.indexed) {
    auto it = r.index->entries.find(*r.value);
    if (it == r.index->entries.end()) continue;
    it->second.erase(key);
    if (it->second.empty()) r.index->entries.erase(it);
  }
  entry.indexed.clear();
}

ObjectPtr Store::upsert(ObjectPtr obj, std::uint64_t listEpoch) {
  NamespacedName key = obj->key();
  Entry next;
  next.listEpoch = listEpoch;
  if (metadataOnly_) {
    next.resourceVersion = obj->resourceVersion();
  } else if (compact_) {
    next.packed = nlohmann::json::to_msgpack(obj->body);
    next.packed.shrink_to_fit();
  } else {
    next.object = obj;
  }
  std::unique_lock<std::shared_mutex> g(mu_);
  auto [it, inserted] = items_.try_emplace(std::move(key));
  ObjectPtr old;
  if (!inserted) {
    old = objectOf(it->first, it->second);
    unindexLocked(it->first, it->second);
  }
  it->second = std::move(next);
  indexLocked(it->first, it->second, *obj);
  return old;
}

ObjectPtr Store::erase(const NamespacedName& key) {
  std::unique_lock<std::shared_mutex> g(mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return nullptr;
  ObjectPtr old = objectOf(it->first, it->second);
  unindexLocked(it->first, it->second);  // while the key it points at still exists
  items_.erase(it);
  return old;
}

std::vector<ObjectPtr> Store::eraseUnlisted(std::uint64_t listEpoch) {
  std::unique_lock<std::shared_mutex> g(mu_);
  std::vector<const NamespacedName*> stale;
  for (const auto& [key, entry] : items_) {
    if (entry.listEpoch != listEpoch) stale.push_back(&key);
  }
  std::sort(stale.begin(), stale.end(), KeyPtrLess());
  std::vector<ObjectPtr> removed;
  removed.reserve(stale.size());
  for (const NamespacedName* key : stale) {
    auto it = items_.find(*key);
    ObjectPtr old = objectOf(it->first, it->second);
    unindexLocked(it->first, it->second);
    items_.erase(it);
    removed.push_back(std::move(old));
  }
  return removed;
}

// ---- handlers ----

EventHandler enqueueObject(WorkQueue& queue) {
  return enqueueMapped(
      queue, [](const kube::Object& obj) { return std::vector<NamespacedName>{obj.key()}; });
}

EventHandler enqueueMapped(WorkQueue& queue,
                           std::function<std::vector<NamespacedName>(const kube::Object&)> map) {
  auto enqueue = [&queue, map = std::move(map)](const ObjectPtr& obj) {
    for (const auto& key : map(*obj)) queue.add(key);
  };
  EventHandler h;
  h.onAdd = enqueue;
  h.onUpdate = [enqueue](const ObjectPtr&, const ObjectPtr& obj) { enqueue(obj); };
  h.onDelete = enqueue;
  return h;
}

// ---- Informer ----

Informer::Informer(kube::Client& client, kube::ResourceRef ref, Clock& clock,
                   InformerOptions options)
    : client_(client), ref_(std::move(ref)), clock_(clock), options_(std::move(options)) {
  store_.setCompact(options_.compactCache);
  if (options_.metadataOnly) store_.setMetadataOnly(ref_);
}

Informer::~Informer() { stop(); }

void Informer::addIndexer(std::string name, IndexFunc fn) {
  store_.addIndexer(std::move(name), std::move(fn));
}

void Informer::addEventHandler(EventHandler handler) {
  std::lock_guard<std::mutex> g(dispatchMu_);
  handlers_.push_back(std::move(handler));
}

void Informer::start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
  if (options_.resyncPeriod > Duration::zero()) {
    resyncThread_ = std::jthread(
        [this, started = clock_.now()](std::stop_token st) { resyncLoop(st, started); });
  }
}

void Informer::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  thread_.request_stop();
  resyncThread_.request_stop();
  {
    std::lock_guard<std::mutex> g(mu_);
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  if (resyncThread_.joinable()) resyncThread_.join();
}

bool Informer::hasSynced() const {
  std::lock_guard<std::mutex> g(mu_);
  return synced_;
}

bool Informer::waitForSync(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait_for(lk, timeout, [&] { return synced_ || stopping_; });
  return synced_;
}

std::string Informer::lastResourceVersion() const {
  std::lock_guard<std::mutex> g(mu_);
  return resourceVersion_;
}

InformerStats Informer::stats() const {
  std::lock_guard<std::mutex> g(mu_);
  return stats_;
}

void Informer::setResourceVersion(std::string rv) {
  std::lock_guard<std::mutex> g(mu_);
  resourceVersion_ = std::move(rv);
}

bool Informer::sleepFor(Duration d, const std::stop_token& stop) {
  return sleepUntil(clock_.now() + std::chrono::duration_cast<WallClock::duration>(d), stop);
}

bool Informer::sleepUntil(TimePoint deadline, const std::stop_token& stop) {
  std::unique_lock<std::mutex> lk(mu_);
  while (!stopping_ && !stop.stop_requested() && clock_.now() < deadline) {
    clock_.waitUntil(cv_, lk, deadline);
  }
  return !stopping_ && !stop.stop_requested();
}

ObjectPtr Informer::prepare(kube::Object obj) const {
  // The client normally parsed the object without managedFields already (ListOptions /
  // WatchOptions::dropManagedFields); a client that ignores that option still gets them
  // stripped here.
  bool dropped = false;
  if (!options_.keepManagedFields) {
    auto md = obj.body.find("metadata");
    dropped = md != obj.body.end() && md->is_object() && md->contains("managedFields");
    if (dropped) md->erase("managedFields");
  }
  if (options_.transform) options_.transform(obj);
  if (!dropped && !options_.transform) {
    // Built by the parser without anything dropped: its nodes are already laid out
    // compactly, and a copy would only cost time.
    return std::make_shared<const kube::Object>(std::move(obj));
  }
  // A fresh deep copy: the parsed object's nodes are interleaved with what was dropped
  // (managedFields is often half of them), and a long-lived cache made of them would pin
  // all that memory. The copy is laid out compactly.
  return std::make_shared<const kube::Object>(nlohmann::json(std::as_const(obj.body)));
}

void Informer::dispatchAdd(const ObjectPtr& obj) {
  for (const auto& h : handlers_) {
    if (h.onAdd) h.onAdd(obj);
  }
}
void Informer::dispatchUpdate(const ObjectPtr& oldObj, const ObjectPtr& newObj) {
  for (const auto& h : handlers_) {
    if (h.onUpdate) h.onUpdate(oldObj, newObj);
  }
}
void Informer::dispatchDelete(const ObjectPtr& obj) {
  for (const auto& h : handlers_) {
    if (h.onDelete) h.onDelete(obj);
  }
}

bool Informer::listAndReplace(std::stop_token stop) {
  // Pages go into the store as they arrive, so memory peaks at one page rather than at a
  // second copy of the whole collection; readers may see old and new objects side by side
  // during a relist (each one a real version), and objects missing from the new list are
  // removed, with onDelete, once the list is complete.
  // Objects are marked with the list's epoch as they arrive (rather than collected in a
  // set of keys: that would be a second copy of every key, freed again right after sync and
  // leaving holes between the cached objects).
  std::uint64_t epoch = ++listEpoch_;
  std::size_t listed = 0;
  std::string listRv;
  kube::ListOptions lo;
  lo.labelSelector = options_.labelSelector;
  lo.fieldSelector = options_.fieldSelector;
  lo.limit = options_.pageSize;
  lo.dropManagedFields = !options_.keepManagedFields;
  for (;;) {
    if (stop.stop_requested()) return false;
    auto page = client_.list(ref_, options_.namespace_, lo);
    if (!page) {
      if (page.error().code == ErrorCode::Gone && !lo.continueToken.empty()) {
        // The continue token expired between pages: start again with one full list.
        log::info(kLogger, "list continuation expired, listing in one request",
                  {{"resource", describe(ref_)}});
        epoch = ++listEpoch_;
        listed = 0;
        listRv.clear();
        lo.continueToken.clear();
        lo.limit = 0;
        continue;
      }
      log::warn(kLogger, "list failed",
                {{"resource", describe(ref_)}, {"error", page.error().describe()}});
      return false;
    }
    if (lo.continueToken.empty()) listRv = page->resourceVersion;  // the list's snapshot
    {
      std::lock_guard<std::mutex> dg(dispatchMu_);
      for (auto& item : page->items) {
        // List items carry no apiVersion/kind; fill them in so stored objects are complete.
        if (item.apiVersion().empty()) item.setApiVersionKind(ref_);
        ObjectPtr obj = prepare(std::move(item));
        ++listed;
        ObjectPtr old = store_.upsert(obj, epoch);
        if (!old) {
          dispatchAdd(obj);
        } else if (old->resourceVersion() != obj->resourceVersion()) {
          dispatchUpdate(old, obj);
        }
      }
    }
    page->items.clear();
    if (page->continueToken.empty()) break;
    lo.continueToken = page->continueToken;
  }
  {
    std::lock_guard<std::mutex> dg(dispatchMu_);
    for (const auto& old : store_.eraseUnlisted(epoch)) dispatchDelete(old);
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    resourceVersion_ = listRv;
    ++stats_.lists;
    synced_ = true;
    cv_.notify_all();
  }
  log::debug(kLogger, "listed",
             {{"resource", describe(ref_)}, {"items", listed}, {"resourceVersion", listRv}});
  return true;
}

void Informer::onWatchEvent(const kube::WatchEvent& ev) {
  switch (ev.type) {
    case kube::WatchEventType::Bookmark:
      setResourceVersion(ev.object.resourceVersion());
      return;
    case kube::WatchEventType::Added:
    case kube::WatchEventType::Modified: {
      kube::Object copy = ev.object;
      if (copy.apiVersion().empty()) copy.setApiVersionKind(ref_);
      ObjectPtr obj = prepare(std::move(copy));
      {
        std::lock_guard<std::mutex> dg(dispatchMu_);
        ObjectPtr old = store_.upsert(obj);
        if (old) {
          dispatchUpdate(old, obj);
        } else {
          dispatchAdd(obj);
        }
      }
      setResourceVersion(obj->resourceVersion());
      return;
    }
    case kube::WatchEventType::Deleted: {
      {
        std::lock_guard<std::mutex> dg(dispatchMu_);
        ObjectPtr old = store_.erase(ev.object.key());
        if (old) {
          // Deliver the final state the server sent (it may carry the deletion's changes).
          kube::Object copy = ev.object;
          if (copy.apiVersion().empty()) copy.setApiVersionKind(ref_);
          dispatchDelete(prepare(std::move(copy)));
        }
      }
      setResourceVersion(ev.object.resourceVersion());
      return;
    }
    case kube::WatchEventType::Error:
      return;  // the client turns ERROR events into watch()'s result
  }
}

Result<void> Informer::watchOnce(std::stop_token stop) {
  kube::WatchOptions wo;
  wo.resourceVersion = lastResourceVersion();
  wo.labelSelector = options_.labelSelector;
  wo.fieldSelector = options_.fieldSelector;
  wo.timeoutSeconds = options_.watchTimeoutSeconds;
  wo.allowWatchBookmarks = true;
  wo.dropManagedFields = !options_.keepManagedFields;
  {
    std::lock_guard<std::mutex> g(mu_);
    ++stats_.watches;
  }
  return client_.watch(
      ref_, options_.namespace_, wo, [this](const kube::WatchEvent& ev) { onWatchEvent(ev); },
      stop);
}

void Informer::run(std::stop_token stop) {
  Duration backoff = options_.initialBackoff;
  auto backOff = [&](bool afterError) {
    const TimePoint until = clock_.now() + std::chrono::duration_cast<WallClock::duration>(backoff);
    if (afterError) {
      // Counted once the retry time is fixed, so an observer of the count can move a fake
      // clock and know exactly when the retry happens.
      std::lock_guard<std::mutex> g(mu_);
      ++stats_.errors;
    }
    backoff = std::min(backoff * 2, options_.maxBackoff);
    return sleepUntil(until, stop);
  };
  while (!stop.stop_requested()) {
    if (!listAndReplace(stop)) {
      if (stop.stop_requested() || !backOff(true)) return;
      continue;
    }
    backoff = options_.initialBackoff;
    // Watch until the history we hold is gone (relist) or we stop.
    while (!stop.stop_requested()) {
      const TimePoint started = clock_.now();
      auto r = watchOnce(stop);
      if (stop.stop_requested()) return;
      if (r) {
        // Normal end of stream: resume from the last resourceVersion. A stream that ends
        // at once again and again means something is wrong: back off then.
        if (clock_.now() - started < std::chrono::seconds(1)) {
          if (!backOff(false)) return;
        } else {
          backoff = options_.initialBackoff;
        }
        continue;
      }
      const Error& err = r.error();
      if (err.code == ErrorCode::Gone) {
        {
          std::lock_guard<std::mutex> g(mu_);
          ++stats_.errors;
          ++stats_.goneRelists;
        }
        log::info(kLogger, "watch history expired (410 Gone), relisting",
                  {{"resource", describe(ref_)}, {"error", err.describe()}});
        break;
      }
      log::warn(kLogger, "watch failed", {{"resource", describe(ref_)}, {"error", err.describe()}});
      if (!backOff(true)) return;
      if (err.code != ErrorCode::Unavailable && err.code != ErrorCode::Timeout &&
          err.code != ErrorCode::TooManyRequests) {
        break;  // e.g. Forbidden: relist after the backoff, as client-go does
      }
    }
  }
}

void Informer::resyncLoop(std::stop_token stop, TimePoint started) {
  // Periods count from start(), not from when this thread got scheduled.
  const auto period = std::chrono::duration_cast<WallClock::duration>(options_.resyncPeriod);
  TimePoint next = started + period;
  while (sleepUntil(next, stop)) {
    next = std::max(next + period, clock_.now() + period / 2);
    if (!hasSynced()) continue;
    std::lock_guard<std::mutex> dg(dispatchMu_);
    for (const auto& obj : store_.list()) dispatchUpdate(obj, obj);
  }
}

}  // namespace kubegrant::runtime
