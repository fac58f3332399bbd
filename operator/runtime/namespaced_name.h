#pragma once

// The key of every work item and cache entry: a namespace (empty for cluster-scoped
// objects) and a name. As in controller-runtime, a reconcile request is only this key and
// never carries the event that caused it. It is the kube client's ObjectKey, so a request
// can be passed straight to Client::get.

#include <functional>
#include <string>

#include "operator/kube/object.h"

namespace kubegrant::runtime {

using NamespacedName = kube::ObjectKey;

struct NamespacedNameHash {
  size_t operator()(const NamespacedName& k) const noexcept {
    size_t h = std::hash<std::string>{}(k.namespace_);
    return h ^ (std::hash<std::string>{}(k.name) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  }
};

}  // namespace kubegrant::runtime
