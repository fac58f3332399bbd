#pragma once

// Small pure builders for PATCH bodies: RFC 6902 JSON patch operations (including `test`,
// which makes a patch conditional, e.g. "remove finalizer #2 only if it is still X") and
// RFC 7386 merge patches.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "operator/kube/object.h"

namespace kubegrant::kube {

// Escapes one JSON pointer reference token (RFC 6901: '~' -> "~0", '/' -> "~1").
std::string jsonPointerEscape(std::string_view token);
// Builds "/a/b~1c" from tokens.
std::string jsonPointer(const std::vector<std::string>& tokens);

// Accumulates RFC 6902 operations; body() is the array to send with PatchType::Json.
class JsonPatch {
 public:
  JsonPatch& add(std::string path, nlohmann::json value);
  JsonPatch& remove(std::string path);
  JsonPatch& replace(std::string path, nlohmann::json value);
  JsonPatch& test(std::string path, nlohmann::json value);
  JsonPatch& move(std::string from, std::string path);
  JsonPatch& copy(std::string from, std::string path);
  const nlohmann::json& body() const { return ops_; }
  bool empty() const { return ops_.empty(); }

 private:
  nlohmann::json ops_ = nlohmann::json::array();
};

// Removes `finalizer` from `obj`, guarded by a `test` op on the entry's index so that a
// concurrent change to the list makes the patch fail (422 Invalid: re-read and retry)
// instead of dropping someone else's finalizer. Empty patch when the finalizer is absent.
JsonPatch removeFinalizerPatch(const Object& obj, std::string_view finalizer);
// Appends `finalizer` to `obj`, guarded by a `test` of the current list (or, when there is
// none yet, of metadata.resourceVersion). Empty patch when already present.
JsonPatch addFinalizerPatch(const Object& obj, std::string_view finalizer);
// The same, from an object's finalizer list and resourceVersion (e.g. of a typed object).
JsonPatch removeFinalizerPatch(const std::vector<std::string>& finalizers,
                               std::string_view finalizer);
JsonPatch addFinalizerPatch(const std::vector<std::string>& finalizers,
                            std::string_view resourceVersion, std::string_view finalizer);

// RFC 7386 merge patch turning `from` into `to` (null for removed keys; arrays replaced).
nlohmann::json mergePatchDiff(const nlohmann::json& from, const nlohmann::json& to);
// Applies an RFC 7386 merge patch to `target` (what the server does).
nlohmann::json applyMergePatch(nlohmann::json target, const nlohmann::json& patch);
// A merge patch that only sets metadata.labels[key] (null value removes it).
nlohmann::json labelMergePatch(std::string_view key, const nlohmann::json& value);

}  // namespace kubegrant::kube
