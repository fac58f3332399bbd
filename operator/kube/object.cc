#include "operator/kube/object.h"

#include <array>
#include <istream>
#include <utility>

#include "operator/kube/url.h"

namespace kubegrant::kube {

namespace {

using nlohmann::json;

const json* metadataOf(const json& body) {
  if (!body.is_object()) return nullptr;
  auto it = body.find("metadata");
  if (it == body.end() || !it->is_object()) return nullptr;
  return &*it;
}

std::string stringAt(const json* obj, std::string_view key) {
  if (obj == nullptr) return {};
  auto it = obj->find(key);
  if (it == obj->end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::map<std::string, std::string> stringMapAt(const json* obj, std::string_view key) {
  std::map<std::string, std::string> out;
  if (obj == nullptr) return out;
  auto it = obj->find(key);
  if (it == obj->end() || !it->is_object()) return out;
  for (const auto& [k, v] : it->items()) {
    if (v.is_string()) out.emplace(k, v.get<std::string>());
  }
  return out;
}

json& metadataFor(json& body) {
  if (!body.is_object()) body = json::object();
  json& md = body["metadata"];
  if (!md.is_object()) md = json::object();
  return md;
}

ResourceRef make(std::string group, std::string version, std::string resource, std::string kind,
                 bool namespaced) {
  return ResourceRef{std::move(group), std::move(version), std::move(resource), std::move(kind),
                     namespaced};
}

}  // namespace

namespace {

// `input`: what nlohmann::json::parse accepts (a string_view, a stream).
template <typename Input>
json parseDroppingManagedFields(Input&& input, JsonShape shape) {
  using Event = json::parse_event_t;
  // The parser reports keys with the depth of the object holding them (the document is
  // depth 1). The objects' metadata keys sit at:
  //   Object: depth 2, under key "metadata" (depth 1);
  //   List: depth 4, under "items" (depth 1), an element (depth 2), "metadata" (depth 3);
  //   WatchEvent: depth 3, under "object" (depth 1), "metadata" (depth 2).
  int metadataDepth = 2;
  const char* outerKey = nullptr;  // the key at depth 1 leading to the objects
  switch (shape) {
    case JsonShape::Object:
      break;
    case JsonShape::List:
      metadataDepth = 4;
      outerKey = "items";
      break;
    case JsonShape::WatchEvent:
      metadataDepth = 3;
      outerKey = "object";
      break;
  }
  // The last key seen at each depth up to the metadata's parent: a container at depth d+1
  // is the value of the last key at depth d.
  std::array<std::string, 4> lastKey;
  bool skipping = false;  // inside the value of a dropped managedFields
  auto callback = [&](int depth, Event event, json& parsed) -> bool {
    if (skipping) {
      // The skipped value ends where its parent (the metadata object) gets its next key or
      // ends; until then nothing is kept, so nothing under it is even built.
      if ((event == Event::key && depth == metadataDepth) ||
          (event == Event::object_end && depth == metadataDepth - 1)) {
        skipping = false;
      } else {
        return false;
      }
    }
    if (event != Event::key) return true;
    if (depth < metadataDepth) {
      if (depth >= 1 && parsed.is_string()) lastKey[depth] = parsed.get_ref<const std::string&>();
      return true;
    }
    if (depth != metadataDepth || !parsed.is_string() ||
        parsed.get_ref<const std::string&>() != "managedFields" ||
        lastKey[metadataDepth - 1] != "metadata" ||
        (outerKey != nullptr && lastKey[1] != outerKey)) {
      return true;
    }
    skipping = true;
    return false;
  };
  return json::parse(std::forward<Input>(input), callback, /*allow_exceptions=*/false);
}

}  // namespace

nlohmann::json parseWithoutManagedFields(std::string_view text, JsonShape shape) {
  return parseDroppingManagedFields(text, shape);
}

nlohmann::json parseWithoutManagedFields(std::istream& in, JsonShape shape) {
  return parseDroppingManagedFields(in, shape);
}

std::string ObjectKey::toString() const {
  return namespace_.empty() ? name : namespace_ + "/" + name;
}

std::string ResourceRef::apiVersion() const {
  return group.empty() ? version : group + "/" + version;
}

std::string ResourceRef::groupVersionPath() const {
  return group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
}

std::string ResourceRef::collectionPath(std::string_view ns) const {
  std::string path = groupVersionPath();
  if (namespaced && !ns.empty()) {
    path += "/namespaces/";
    path += percentEncode(ns);
  }
  path += "/";
  path += resource;
  return path;
}

std::string ResourceRef::objectPath(const ObjectKey& key, std::string_view subresource) const {
  std::string path = collectionPath(namespaced ? std::string_view(key.namespace_) : "");
  path += "/";
  path += percentEncode(key.name);
  if (!subresource.empty()) {
    path += "/";
    path += percentEncode(subresource);
  }
  return path;
}

namespace resources {
ResourceRef namespaces() { return make("", "v1", "namespaces", "Namespace", false); }
ResourceRef configMaps() { return make("", "v1", "configmaps", "ConfigMap", true); }
ResourceRef secrets() { return make("", "v1", "secrets", "Secret", true); }
ResourceRef mutatingWebhookConfigurations() {
  return make("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
              "MutatingWebhookConfiguration", false);
}
ResourceRef validatingWebhookConfigurations() {
  return make("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
              "ValidatingWebhookConfiguration", false);
}
ResourceRef pods() { return make("", "v1", "pods", "Pod", true); }
ResourceRef serviceAccounts() { return make("", "v1", "serviceaccounts", "ServiceAccount", true); }
ResourceRef events() { return make("", "v1", "events", "Event", true); }
ResourceRef leases() { return make("coordination.k8s.io", "v1", "leases", "Lease", true); }
ResourceRef roles() { return make("rbac.authorization.k8s.io", "v1", "roles", "Role", true); }
ResourceRef roleBindings() {
  return make("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true);
}
ResourceRef clusterRoles() {
  return make("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false);
}
ResourceRef clusterRoleBindings() {
  return make("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding",
              false);
}
ResourceRef customResourceDefinitions() {
  return make("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
              false);
}
ResourceRef selfSubjectReviews() {
  return make("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", false);
}
ResourceRef subjectAccessReviews() {
  return make("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", false);
}
ResourceRef selfSubjectAccessReviews() {
  return make("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
              false);
}
ResourceRef accessRequests() {
  return make("kubegrant.io", "v1alpha1", "accessrequests", "AccessRequest", true);
}
ResourceRef accessPolicies() {
  return make("kubegrant.io", "v1alpha1", "accesspolicies", "AccessPolicy", false);
}
ResourceRef databaseTargets() {
  return make("kubegrant.io", "v1alpha1", "databasetargets", "DatabaseTarget", false);
}
}  // namespace resources

std::string Object::apiVersion() const {
  return body.is_object() ? stringAt(&body, "apiVersion") : std::string();
}
std::string Object::kind() const {
  return body.is_object() ? stringAt(&body, "kind") : std::string();
}
std::string Object::name() const { return stringAt(metadataOf(body), "name"); }
std::string Object::namespace_() const { return stringAt(metadataOf(body), "namespace"); }
ObjectKey Object::key() const { return ObjectKey{namespace_(), name()}; }
std::string Object::uid() const { return stringAt(metadataOf(body), "uid"); }
std::string Object::resourceVersion() const {
  return stringAt(metadataOf(body), "resourceVersion");
}

std::int64_t Object::generation() const {
  const json* md = metadataOf(body);
  if (md == nullptr) return 0;
  auto it = md->find("generation");
  if (it == md->end() || !it->is_number_integer()) return 0;
  return it->get<std::int64_t>();
}

std::map<std::string, std::string> Object::labels() const {
  return stringMapAt(metadataOf(body), "labels");
}
std::map<std::string, std::string> Object::annotations() const {
  return stringMapAt(metadataOf(body), "annotations");
}

std::vector<std::string> Object::finalizers() const {
  std::vector<std::string> out;
  const json* md = metadataOf(body);
  if (md == nullptr) return out;
  auto it = md->find("finalizers");
  if (it == md->end() || !it->is_array()) return out;
  for (const auto& f : *it) {
    if (f.is_string()) out.push_back(f.get<std::string>());
  }
  return out;
}

bool Object::hasFinalizer(std::string_view finalizer) const {
  for (const auto& f : finalizers()) {
    if (f == finalizer) return true;
  }
  return false;
}

std::optional<std::string> Object::deletionTimestamp() const {
  std::string ts = stringAt(metadataOf(body), "deletionTimestamp");
  if (ts.empty()) return std::nullopt;
  return ts;
}

void Object::setApiVersionKind(const ResourceRef& ref) {
  if (!body.is_object()) body = json::object();
  body["apiVersion"] = ref.apiVersion();
  body["kind"] = ref.kind;
}
void Object::setName(std::string_view name) { metadataFor(body)["name"] = name; }
void Object::setNamespace(std::string_view ns) { metadataFor(body)["namespace"] = ns; }
void Object::setResourceVersion(std::string_view rv) { metadataFor(body)["resourceVersion"] = rv; }
void Object::setLabel(std::string_view key, std::string_view value) {
  json& labels = metadataFor(body)["labels"];
  if (!labels.is_object()) labels = json::object();
  labels[std::string(key)] = value;
}
void Object::setAnnotation(std::string_view key, std::string_view value) {
  json& annotations = metadataFor(body)["annotations"];
  if (!annotations.is_object()) annotations = json::object();
  annotations[std::string(key)] = value;
}
void Object::setFinalizers(const std::vector<std::string>& finalizers) {
  metadataFor(body)["finalizers"] = finalizers;
}

}  // namespace kubegrant::kube
