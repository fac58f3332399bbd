#pragma once

// A typed view of an informer's cache, as kube-rs' reflector Store<K> hands out Arc<K>: each
// object is decoded once per watch event, and every reader shares the decoded, immutable
// object (shared_ptr<const T>) instead of decoding the cached JSON again. For a resource of
// many objects, give its informer InformerOptions::metadataOnly: each object is then held
// once, here (the operator's AccessRequests; bench/README.md, issue 15).
//
// Guarantees:
//  - Kept current by the informer's own event handler, so it never lags its informer by more
//    than the event being delivered. Create it before the handlers that enqueue keys
//    (handlers run in the order they were added): a reconcile triggered by an event then
//    finds that event's object here.
//  - An object that does not decode is left out (and logged): readers see "not cached" and
//    fall back to the API server, whose answer reports the decode error.
//  - Readers keep what they got even if the store replaces it a moment later.

#include <functional>
#include <memory>
#include <shared_mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "operator/common/log.h"
#include "operator/common/result.h"
#include "operator/runtime/informer.h"

namespace kubegrant::runtime {

template <typename T>
class TypedStore {
 public:
  using Ptr = std::shared_ptr<const T>;
  using Decode = std::function<Result<T>(const kube::Object&)>;

  // Registers a handler on `informer` (before start()); `informer` must outlive the store.
  TypedStore(Informer& informer, Decode decode) : informer_(informer), decode_(std::move(decode)) {
    EventHandler h;
    h.onAdd = [this](const ObjectPtr& obj) { upsert(*obj); };
    h.onUpdate = [this](const ObjectPtr& old, const ObjectPtr& obj) {
      // A resync re-delivers the version already decoded.
      if (old->resourceVersion() == obj->resourceVersion() && get(obj->key())) return;
      upsert(*obj);
    };
    h.onDelete = [this](const ObjectPtr& obj) {
      std::unique_lock<std::shared_mutex> g(mu_);
      items_.erase(obj->key());
    };
    informer.addEventHandler(std::move(h));
  }
  TypedStore(const TypedStore&) = delete;
  TypedStore& operator=(const TypedStore&) = delete;

  // nullptr when not cached (or not decodable).
  Ptr get(const NamespacedName& key) const {
    std::shared_lock<std::shared_mutex> g(mu_);
    auto it = items_.find(key);
    return it == items_.end() ? nullptr : it->second;
  }
  std::vector<Ptr> list() const {
    std::shared_lock<std::shared_mutex> g(mu_);
    std::vector<Ptr> out;
    out.reserve(items_.size());
    for (const auto& [key, obj] : items_) out.push_back(obj);
    return out;
  }
  size_t size() const {
    std::shared_lock<std::shared_mutex> g(mu_);
    return items_.size();
  }
  bool hasSynced() const { return informer_.hasSynced(); }

 private:
  void upsert(const kube::Object& obj) {
    auto decoded = decode_(obj);
    std::unique_lock<std::shared_mutex> g(mu_);
    if (!decoded) {
      items_.erase(obj.key());
      g.unlock();
      log::warn("typed-store", "cannot decode cached object",
                {{"object", obj.key().toString()}, {"error", decoded.error().message}});
      return;
    }
    items_.insert_or_assign(obj.key(), std::make_shared<const T>(std::move(*decoded)));
  }

  const Informer& informer_;
  Decode decode_;
  mutable std::shared_mutex mu_;
  std::unordered_map<NamespacedName, Ptr, NamespacedNameHash> items_;
};

}  // namespace kubegrant::runtime
