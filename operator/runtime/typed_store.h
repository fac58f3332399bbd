#pragma once

// A typed view of an informer's cache, as kube-rs' reflector Store<K> hands out Arc<K>: each
// object is decoded once per watch event, and every reader shares the decoded, immutable
// object (shared_ptr<const T>) instead of decoding the cached JSON again. For a resource of
// many objects, give its informer InformerOptions::metadataOnly: each object is then held
// once, here (the operator's AccessRequests; bench/README.md, issue 15).
//
// With a Packing, the store holds each object packed (Packing::pack, e.g. compressed JSON:
// ~0.35 KiB for an AccessRequest that takes ~2.4 KiB decoded) and keeps only the `hot` most
// recently changed or read objects decoded; a reader of any other object gets a decoded copy
// of its own. Thousands of requests wait (Pending) or run (Active) untouched for hours, while a
// reconcile reads the object whose event woke it, which the store has just decoded.
//
// Guarantees:
//  - Kept current by the informer's own event handler, so it never lags its informer by more
//    than the event being delivered. Create it before the handlers that enqueue keys
//    (handlers run in the order they were added): a reconcile triggered by an event then
//    finds that event's object here.
//  - An object that does not decode is left out (and logged): readers see "not cached" and
//    fall back to the API server, whose answer reports the decode error.
//  - Readers keep what they got even if the store replaces it a moment later; what they got
//    is never older than the store was when they asked.

#include <cstring>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "operator/common/log.h"
#include "operator/common/result.h"
#include "operator/runtime/informer.h"

namespace kubegrant::runtime {

template <typename T>
struct Packing {
  std::function<std::string(const T&)> pack;
  std::function<Result<T>(std::string_view)> unpack;
  // How many objects stay decoded: the most recently changed or read.
  std::size_t hot = 256;
};

template <typename T>
class TypedStore {
 public:
  using Ptr = std::shared_ptr<const T>;
  using Decode = std::function<Result<T>(const kube::Object&)>;

  // Registers a handler on `informer` (before start()); `informer` must outlive the store.
  TypedStore(Informer& informer, Decode decode, std::optional<Packing<T>> packing = std::nullopt)
      : informer_(informer), decode_(std::move(decode)), packing_(std::move(packing)) {
    EventHandler h;
    h.onAdd = [this](const ObjectPtr& obj) { upsert(*obj); };
    h.onUpdate = [this](const ObjectPtr& old, const ObjectPtr& obj) {
      // A resync re-delivers the version already decoded.
      if (old->resourceVersion() == obj->resourceVersion() && contains(obj->key())) return;
      upsert(*obj);
    };
    h.onDelete = [this](const ObjectPtr& obj) {
      std::unique_lock<std::shared_mutex> g(mu_);
      items_.erase(obj->key());
      packed_.erase(obj->key());
      forgetHot(obj->key());
    };
    informer.addEventHandler(std::move(h));
  }
  TypedStore(const TypedStore&) = delete;
  TypedStore& operator=(const TypedStore&) = delete;

  // nullptr when not cached (or not decodable). `remember = false` (a sweep reading every
  // object once) leaves the hot set as it was.
  Ptr get(const NamespacedName& key, bool remember = true) const {
    std::shared_lock<std::shared_mutex> g(mu_);
    if (!packing_) {
      auto it = items_.find(key);
      return it == items_.end() ? nullptr : it->second;
    }
    {
      std::lock_guard<std::mutex> h(hotMu_);
      if (auto it = hotIndex_.find(key); it != hotIndex_.end()) {
        hot_.splice(hot_.begin(), hot_, it->second);
        return it->second->second;
      }
    }
    auto it = packed_.find(key);
    if (it == packed_.end()) return nullptr;
    // Unpacked under the shared lock: an upsert of this key waits, so what is remembered below
    // is never older than the packed bytes.
    auto unpacked = packing_->unpack(it->second.view());
    if (!unpacked) {
      log::warn("typed-store", "cannot unpack cached object",
                {{"object", key.toString()}, {"error", unpacked.error().message}});
      return nullptr;
    }
    Ptr p = std::make_shared<const T>(std::move(*unpacked));
    if (remember) {
      std::lock_guard<std::mutex> h(hotMu_);
      rememberHot(key, p);
    }
    return p;
  }
  // Every object, decoded at once. For a packed store prefer keys() and get(key, false), one
  // at a time.
  std::vector<Ptr> list() const {
    std::vector<Ptr> out;
    if (!packing_) {
      std::shared_lock<std::shared_mutex> g(mu_);
      out.reserve(items_.size());
      for (const auto& [key, obj] : items_) out.push_back(obj);
      return out;
    }
    for (const auto& key : keys()) {
      if (auto p = get(key, false)) out.push_back(std::move(p));
    }
    return out;
  }
  std::vector<NamespacedName> keys() const {
    std::shared_lock<std::shared_mutex> g(mu_);
    std::vector<NamespacedName> out;
    out.reserve(packing_ ? packed_.size() : items_.size());
    if (packing_) {
      for (const auto& [key, bytes] : packed_) out.push_back(key);
    } else {
      for (const auto& [key, obj] : items_) out.push_back(key);
    }
    return out;
  }
  size_t size() const {
    std::shared_lock<std::shared_mutex> g(mu_);
    return packing_ ? packed_.size() : items_.size();
  }
  // How many objects are held decoded (a packed store's hot set; every object otherwise).
  size_t decodedCount() const {
    if (!packing_) return size();
    std::lock_guard<std::mutex> h(hotMu_);
    return hot_.size();
  }
  bool hasSynced() const { return informer_.hasSynced(); }

 private:
  // Exactly the packed bytes (a std::string may keep spare capacity).
  struct Bytes {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
    std::string_view view() const { return {data.get(), size}; }
  };

  bool contains(const NamespacedName& key) const {
    std::shared_lock<std::shared_mutex> g(mu_);
    return packing_ ? packed_.contains(key) : items_.contains(key);
  }

  void upsert(const kube::Object& obj) {
    auto decoded = decode_(obj);
    if (!decoded) {
      {
        std::unique_lock<std::shared_mutex> g(mu_);
        items_.erase(obj.key());
        packed_.erase(obj.key());
        forgetHot(obj.key());
      }
      log::warn("typed-store", "cannot decode cached object",
                {{"object", obj.key().toString()}, {"error", decoded.error().message}});
      return;
    }
    Ptr p = std::make_shared<const T>(std::move(*decoded));
    if (!packing_) {
      std::unique_lock<std::shared_mutex> g(mu_);
      items_.insert_or_assign(obj.key(), std::move(p));
      return;
    }
    const std::string packed = packing_->pack(*p);
    Bytes bytes{std::make_unique<char[]>(packed.size()), packed.size()};
    std::memcpy(bytes.data.get(), packed.data(), packed.size());
    std::unique_lock<std::shared_mutex> g(mu_);
    packed_.insert_or_assign(obj.key(), std::move(bytes));
    // Just changed: a reconcile is about to read it.
    std::lock_guard<std::mutex> h(hotMu_);
    rememberHot(obj.key(), std::move(p));
  }

  // hotMu_ held.
  void rememberHot(const NamespacedName& key, Ptr p) const {
    if (auto it = hotIndex_.find(key); it != hotIndex_.end()) {
      it->second->second = std::move(p);
      hot_.splice(hot_.begin(), hot_, it->second);
      return;
    }
    hot_.emplace_front(key, std::move(p));
    hotIndex_.emplace(key, hot_.begin());
    while (hot_.size() > packing_->hot) {
      hotIndex_.erase(hot_.back().first);
      hot_.pop_back();
    }
  }
  void forgetHot(const NamespacedName& key) {
    std::lock_guard<std::mutex> h(hotMu_);
    if (auto it = hotIndex_.find(key); it != hotIndex_.end()) {
      hot_.erase(it->second);
      hotIndex_.erase(it);
    }
  }

  const Informer& informer_;
  Decode decode_;
  const std::optional<Packing<T>> packing_;
  mutable std::shared_mutex mu_;
  std::unordered_map<NamespacedName, Ptr, NamespacedNameHash> items_;     // without packing
  std::unordered_map<NamespacedName, Bytes, NamespacedNameHash> packed_;  // with packing
  // The hot set (with packing): most recent first. hotMu_ nests inside mu_.
  mutable std::mutex hotMu_;
  mutable std::list<std::pair<NamespacedName, Ptr>> hot_;
  mutable std::unordered_map<NamespacedName,
                             typename std::list<std::pair<NamespacedName, Ptr>>::iterator,
                             NamespacedNameHash>
      hotIndex_;
};

}  // namespace kubegrant::runtime
