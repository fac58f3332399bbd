#pragma once

// An informer: list + watch of one resource into an indexed in-memory store, with event
// handlers, as client-go's SharedIndexInformer / kube-rs' watcher + reflector.
//
// Guarantees:
//  - One writer (the informer thread), many cheap readers: the store holds
//    shared_ptr<const Object> snapshots behind a shared_mutex; a reader keeps what it got
//    even if the informer replaces it a moment later.
//  - hasSynced() turns true once the first complete (paginated) list is in the store and
//    its onAdd calls have run.
//  - Watches restart from the last seen resourceVersion (events and bookmarks advance it)
//    when the server ends the stream normally. On 410 Gone the informer re-lists and
//    replaces the store: objects missing from the new list are delivered as onDelete,
//    changed ones as onUpdate, new ones as onAdd, so handlers see a consistent history.
//  - Errors back off exponentially (800 ms doubling to 30 s, on the injected clock).
//  - resyncPeriod > 0 re-delivers every cached object as onUpdate(obj, obj) periodically
//    (a safety net for level-based controllers).
//  - Handlers run one at a time, in event order, on informer threads: they should only
//    enqueue keys. Add handlers and indexers before start().
//  - A transform runs on every object before it is stored (e.g. drop Secret data or
//    managedFields) to bound memory. managedFields are dropped by default.
//  - stop() ends the watch promptly and joins the threads.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "operator/common/clock.h"
#include "operator/kube/client.h"
#include "operator/runtime/namespaced_name.h"
#include "operator/runtime/work_queue.h"

namespace kubegrant::runtime {

using ObjectPtr = std::shared_ptr<const kube::Object>;
// Values an object is indexed under (e.g. a label's value); empty = not indexed.
using IndexFunc = std::function<std::vector<std::string>(const kube::Object&)>;
using TransformFunc = std::function<void(kube::Object&)>;

// Index helpers.
IndexFunc indexByLabel(std::string labelKey);
IndexFunc indexByNamespace();
// Transform helpers.
void stripManagedFields(kube::Object& obj);
// Drops `data` and `stringData` (e.g. of Secrets: cache only their metadata).
void stripData(kube::Object& obj);

class Informer;

// The informer's cache: read-only to everyone but its informer.
class Store {
 public:
  ObjectPtr get(const NamespacedName& key) const;
  std::vector<ObjectPtr> list() const;
  // In a metadata-only store (InformerOptions::metadataOnly) get, list and byIndex answer with
  // apiVersion, kind and metadata {name, namespace, resourceVersion} only.
  std::vector<ObjectPtr> byIndex(const std::string& indexName, const std::string& value) const;
  // The keys indexed under `value`, in key order: nothing decoded (cheap in compact mode too).
  std::vector<NamespacedName> keysByIndex(const std::string& indexName,
                                          const std::string& value) const;
  std::vector<NamespacedName> keys() const;
  size_t size() const;

 private:
  friend class Informer;
  // Orders index entries, which point at the keys of items_ (stable while the item is
  // cached) rather than holding copies of them, by the keys' values.
  struct KeyPtrLess {
    using is_transparent = void;
    bool operator()(const NamespacedName* a, const NamespacedName* b) const { return *a < *b; }
    bool operator()(const NamespacedName* a, const NamespacedName& b) const { return *a < b; }
    bool operator()(const NamespacedName& a, const NamespacedName* b) const { return a < *b; }
  };
  // The keys indexed under one value, in key order. Most values (an owner's UID) have a
  // single key, kept inline: a std::set and its node would cost ~100 bytes more per object.
  class KeySet {
   public:
    void insert(const NamespacedName* key);
    // Removes the entry equal to *key.
    void erase(const NamespacedName& key);
    bool empty() const { return one_ == nullptr && many_ == nullptr; }
    template <typename F>
    void forEach(F&& f) const {
      if (one_ != nullptr) f(one_);
      if (many_ != nullptr) {
        for (const NamespacedName* k : *many_) f(k);
      }
    }

   private:
    const NamespacedName* one_ = nullptr;
    std::unique_ptr<std::set<const NamespacedName*, KeyPtrLess>> many_;
  };
  struct Index {
    IndexFunc fn;
    std::unordered_map<std::string, KeySet> entries;
  };
  // Where an entry is indexed: the index and its value (the key of the index's entries map,
  // whose address is stable while the entry is indexed under it). An entry is un-indexed
  // from these, so removing one needs neither its object nor a decode of it.
  struct IndexRef {
    Index* index;
    const std::string* value;
  };
  // One cached object: shared as is, (compact mode) packed as MessagePack, or (metadata-only
  // mode) only its resourceVersion.
  struct Entry {
    ObjectPtr object;
    std::vector<std::uint8_t> packed;
    std::string resourceVersion;  // metadata-only mode
    std::vector<IndexRef> indexed;
    std::uint64_t listEpoch = 0;  // the list that last delivered it (see eraseUnlisted)
  };
  void addIndexer(std::string name, IndexFunc fn);
  void setCompact(bool compact) { compact_ = compact; }
  void setMetadataOnly(const kube::ResourceRef& ref) {
    metadataOnly_ = true;
    apiVersion_ = ref.apiVersion();
    kind_ = ref.kind;
  }
  // Returns the previous object (nullptr if none). `listEpoch` marks the object as seen by
  // that list (0 = by a watch event).
  ObjectPtr upsert(ObjectPtr obj, std::uint64_t listEpoch = 0);
  ObjectPtr erase(const NamespacedName& key);
  // Removes every object the list `listEpoch` did not deliver; returns them in key order.
  std::vector<ObjectPtr> eraseUnlisted(std::uint64_t listEpoch);
  // `key` must be the key of `entry` in items_ (the index points at it).
  void indexLocked(const NamespacedName& key, Entry& entry, const kube::Object& obj);
  void indexOneLocked(Index& idx, const NamespacedName& key, Entry& entry, const kube::Object& obj);
  void unindexLocked(const NamespacedName& key, Entry& entry);
  ObjectPtr objectOf(const NamespacedName& key, const Entry& entry) const;

  mutable std::shared_mutex mu_;
  bool compact_ = false;
  bool metadataOnly_ = false;
  std::string apiVersion_, kind_;  // of a metadata-only store's objects
  std::unordered_map<NamespacedName, Entry, NamespacedNameHash> items_;
  std::map<std::string, Index> indexes_;
};

struct EventHandler {
  std::function<void(const ObjectPtr& obj)> onAdd;
  std::function<void(const ObjectPtr& oldObj, const ObjectPtr& newObj)> onUpdate;
  std::function<void(const ObjectPtr& obj)> onDelete;
};

// Handlers that enqueue the object's own key, or keys derived from it (e.g. the owning
// AccessRequest named in a label).
EventHandler enqueueObject(WorkQueue& queue);
EventHandler enqueueMapped(WorkQueue& queue,
                           std::function<std::vector<NamespacedName>(const kube::Object&)> map);

struct InformerOptions {
  std::string namespace_;  // "" = all namespaces
  std::string labelSelector;
  std::string fieldSelector;
  std::int64_t pageSize = 500;  // list page size; 0 = one response
  Duration resyncPeriod{0};     // 0 = no periodic resync
  std::int64_t watchTimeoutSeconds = 300;
  Duration initialBackoff = std::chrono::milliseconds(800);
  Duration maxBackoff = std::chrono::seconds(30);
  bool keepManagedFields = false;
  TransformFunc transform;  // after managedFields are stripped
  // Keeps each cached object packed as MessagePack (about a third of the parsed JSON's
  // memory) and decodes it on every read: for large caches read rarely. Readers then get a
  // fresh copy per call (~µs per KiB) instead of a shared pointer to the cached one.
  bool compactCache = false;
  // Keeps no object at all, only each object's key, resourceVersion and index entries (as
  // controller-runtime's metadata-only informers): for a resource whose objects a
  // TypedStore holds decoded, so they are held once. Handlers still receive every event's
  // full object (and, for onUpdate's old object or a relist's onDelete, the metadata); store
  // reads answer with the metadata only; keysByIndex and keys are what to read.
  bool metadataOnly = false;
};

struct InformerStats {
  std::uint64_t lists = 0;        // complete lists (the first one and every relist)
  std::uint64_t watches = 0;      // watch calls started
  std::uint64_t goneRelists = 0;  // relists caused by 410 Gone
  std::uint64_t errors = 0;
};

class Informer {
 public:
  // The client and clock must outlive the informer.
  Informer(kube::Client& client, kube::ResourceRef ref, Clock& clock, InformerOptions options = {});
  ~Informer();

  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void addIndexer(std::string name, IndexFunc fn);  // before start()
  void addEventHandler(EventHandler handler);       // before start()

  void start();
  void stop();

  bool hasSynced() const;
  // Blocks until synced, stopped, or `timeout` (real time) passed; returns hasSynced().
  bool waitForSync(std::chrono::milliseconds timeout) const;

  const Store& store() const { return store_; }
  const kube::ResourceRef& resource() const { return ref_; }
  std::string lastResourceVersion() const;
  InformerStats stats() const;

 private:
  void run(std::stop_token stop);
  void resyncLoop(std::stop_token stop, TimePoint started);
  // Lists everything (paginated) and replaces the store; false on error.
  bool listAndReplace(std::stop_token stop);
  // Watches until the stream ends; returns the result of the watch call.
  Result<void> watchOnce(std::stop_token stop);
  void onWatchEvent(const kube::WatchEvent& ev);
  ObjectPtr prepare(kube::Object obj) const;
  void setResourceVersion(std::string rv);
  bool sleepFor(Duration d, const std::stop_token& stop);
  bool sleepUntil(TimePoint deadline, const std::stop_token& stop);

  void dispatchAdd(const ObjectPtr& obj);
  void dispatchUpdate(const ObjectPtr& oldObj, const ObjectPtr& newObj);
  void dispatchDelete(const ObjectPtr& obj);

  kube::Client& client_;
  const kube::ResourceRef ref_;
  Clock& clock_;
  const InformerOptions options_;
  Store store_;
  std::vector<EventHandler> handlers_;
  // Serializes handler calls (and the store writes they describe) across the watch and
  // resync threads.
  std::mutex dispatchMu_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;  // sync, stop, sleeps
  bool synced_ = false;
  bool stopping_ = false;
  std::string resourceVersion_;
  InformerStats stats_;
  std::uint64_t listEpoch_ = 0;  // informer thread only

  std::jthread thread_;
  std::jthread resyncThread_;
};

}  // namespace kubegrant::runtime
