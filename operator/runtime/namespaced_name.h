#pragma once

// The key of every work item and cache entry: a namespace (empty for cluster-scoped
// objects) and a name. As in controller-runtime, a reconcile request is only this key and
// never carries the event that caused it.

#include <functional>
#include <string>

namespace kubegrant::runtime {

struct NamespacedName {
  std::string ns;  // empty for cluster-scoped objects
  std::string name;

  friend bool operator==(const NamespacedName&, const NamespacedName&) = default;
  friend auto operator<=>(const NamespacedName&, const NamespacedName&) = default;

  // "ns/name", or "name" when cluster-scoped (the cache key format of client-go).
  std::string toString() const { return ns.empty() ? name : ns + "/" + name; }
};

}  // namespace kubegrant::runtime

template <>
struct std::hash<kubegrant::runtime::NamespacedName> {
  size_t operator()(const kubegrant::runtime::NamespacedName& k) const noexcept {
    size_t h = std::hash<std::string>{}(k.ns);
    return h ^ (std::hash<std::string>{}(k.name) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  }
};
