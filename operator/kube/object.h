#pragma once

// How the kube client names resources and carries objects.
//
// Objects cross the client interface as their JSON body wrapped in a thin struct with
// accessors for the metadata every layer needs (name, namespace, resourceVersion, uid,
// labels, finalizers, deletionTimestamp). Typed structs for kubegrant's own kinds live in
// crds/v1alpha1; higher layers convert from/to Object::body at the edge.

#include <cstdint>
#include <iosfwd>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kubegrant::kube {

// namespace/name of one object. `namespace_` is empty for cluster-scoped objects.
struct ObjectKey {
  std::string namespace_;
  std::string name;

  bool operator==(const ObjectKey&) const = default;
  auto operator<=>(const ObjectKey&) const = default;
  // "ns/name", or "name" when cluster-scoped (the form client-go's cache keys use).
  std::string toString() const;
};

// A REST resource: group/version/resource (plural) plus its kind and scope, enough to build
// every URL the client needs. Core resources have an empty group and live under /api/v1;
// every other group under /apis/<group>/<version>.
struct ResourceRef {
  std::string group;     // "" for the core group, e.g. "rbac.authorization.k8s.io"
  std::string version;   // "v1"
  std::string resource;  // lower-case plural, e.g. "configmaps"
  std::string kind;      // "ConfigMap"
  bool namespaced = true;

  bool operator==(const ResourceRef&) const = default;

  // "v1" for the core group, "group/version" otherwise (the objects' apiVersion field).
  std::string apiVersion() const;
  // "/api/v1" or "/apis/<group>/<version>".
  std::string groupVersionPath() const;
  // Collection URL path. `ns` empty on a namespaced resource means all namespaces; it is
  // ignored for cluster-scoped resources. Path segments are percent-encoded.
  std::string collectionPath(std::string_view ns) const;
  // One object's URL path, optionally with a subresource ("status", "scale", ...).
  std::string objectPath(const ObjectKey& key, std::string_view subresource = {}) const;
};

// Well-known resources, so callers do not spell group/version/plural by hand.
namespace resources {
ResourceRef namespaces();
ResourceRef configMaps();
ResourceRef secrets();
ResourceRef pods();
ResourceRef serviceAccounts();
ResourceRef events();  // core/v1 Event
ResourceRef leases();  // coordination.k8s.io/v1
ResourceRef roles();   // rbac.authorization.k8s.io/v1
ResourceRef roleBindings();
ResourceRef clusterRoles();
ResourceRef clusterRoleBindings();
ResourceRef customResourceDefinitions();  // apiextensions.k8s.io/v1
// admissionregistration.k8s.io/v1 (cluster-scoped)
ResourceRef mutatingWebhookConfigurations();
ResourceRef validatingWebhookConfigurations();
ResourceRef selfSubjectReviews();        // authentication.k8s.io/v1 (create only)
ResourceRef subjectAccessReviews();      // authorization.k8s.io/v1 (create only)
ResourceRef selfSubjectAccessReviews();  // authorization.k8s.io/v1 (create only)
// kubegrant.io/v1alpha1
ResourceRef accessRequests();
ResourceRef accessPolicies();
ResourceRef databaseTargets();
}  // namespace resources

// One Kubernetes object as JSON, with metadata accessors. Accessors never throw: a missing
// or mistyped field reads as empty.
struct Object {
  nlohmann::json body = nlohmann::json::object();

  Object() = default;
  explicit Object(nlohmann::json b) : body(std::move(b)) {}

  std::string apiVersion() const;
  std::string kind() const;
  std::string name() const;
  std::string namespace_() const;
  ObjectKey key() const;
  std::string uid() const;
  std::string resourceVersion() const;
  std::int64_t generation() const;
  std::map<std::string, std::string> labels() const;
  std::map<std::string, std::string> annotations() const;
  std::vector<std::string> finalizers() const;
  bool hasFinalizer(std::string_view finalizer) const;
  // RFC 3339 as the server sent it; nullopt when the object is not being deleted.
  std::optional<std::string> deletionTimestamp() const;
  bool isBeingDeleted() const { return deletionTimestamp().has_value(); }

  // Setters create metadata as needed.
  void setApiVersionKind(const ResourceRef& ref);
  void setName(std::string_view name);
  void setNamespace(std::string_view ns);
  void setResourceVersion(std::string_view rv);
  void setLabel(std::string_view key, std::string_view value);
  void setAnnotation(std::string_view key, std::string_view value);
  void setFinalizers(const std::vector<std::string>& finalizers);
};

// Where the Kubernetes objects sit in a JSON document given to parseWithoutManagedFields.
enum class JsonShape {
  Object,      // the document is one object (a GET, or a write's answer)
  List,        // a list: the objects are the elements of "items"
  WatchEvent,  // a watch event line: the object is "object"
};

// Parses `text` as nlohmann::json::parse(text, nullptr, false) does (a discarded value when
// it is not valid JSON), except that the objects' metadata.managedFields is skipped while
// parsing instead of being built and erased afterwards: for a cache it is pure overhead
// (often a third of an object's nodes), and nodes that are built and then freed leave
// holes between the long-lived ones. Only metadata.managedFields of the objects at
// `shape`'s place is dropped; a field of that name anywhere else (say in a spec) is kept.
nlohmann::json parseWithoutManagedFields(std::string_view text, JsonShape shape);
// The same, reading from a stream (e.g. a response body as it arrives).
nlohmann::json parseWithoutManagedFields(std::istream& in, JsonShape shape);

// A page of a list call. `resourceVersion` is the collection's version, the point to start
// a watch from; `continueToken` is empty on the last page.
struct ObjectList {
  std::vector<Object> items;
  std::string resourceVersion;
  std::string continueToken;
  std::optional<std::int64_t> remainingItemCount;
};

}  // namespace kubegrant::kube
