#include "operator/kube/patch.h"

#include <algorithm>

namespace kubegrant::kube {

using nlohmann::json;

std::string jsonPointerEscape(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string jsonPointer(const std::vector<std::string>& tokens) {
  std::string out;
  for (const auto& t : tokens) {
    out += "/";
    out += jsonPointerEscape(t);
  }
  return out;
}

JsonPatch& JsonPatch::add(std::string path, json value) {
  ops_.push_back({{"op", "add"}, {"path", std::move(path)}, {"value", std::move(value)}});
  return *this;
}
JsonPatch& JsonPatch::remove(std::string path) {
  ops_.push_back({{"op", "remove"}, {"path", std::move(path)}});
  return *this;
}
JsonPatch& JsonPatch::replace(std::string path, json value) {
  ops_.push_back({{"op", "replace"}, {"path", std::move(path)}, {"value", std::move(value)}});
  return *this;
}
JsonPatch& JsonPatch::test(std::string path, json value) {
  ops_.push_back({{"op", "test"}, {"path", std::move(path)}, {"value", std::move(value)}});
  return *this;
}
JsonPatch& JsonPatch::move(std::string from, std::string path) {
  ops_.push_back({{"op", "move"}, {"from", std::move(from)}, {"path", std::move(path)}});
  return *this;
}
JsonPatch& JsonPatch::copy(std::string from, std::string path) {
  ops_.push_back({{"op", "copy"}, {"from", std::move(from)}, {"path", std::move(path)}});
  return *this;
}

JsonPatch removeFinalizerPatch(const std::vector<std::string>& finalizers,
                               std::string_view finalizer) {
  JsonPatch p;
  for (std::size_t i = 0; i < finalizers.size(); ++i) {
    if (finalizers[i] == finalizer) {
      std::string path = "/metadata/finalizers/" + std::to_string(i);
      p.test(path, std::string(finalizer)).remove(path);
      break;
    }
  }
  return p;
}

JsonPatch addFinalizerPatch(const std::vector<std::string>& finalizers,
                            std::string_view resourceVersion, std::string_view finalizer) {
  JsonPatch p;
  if (std::find(finalizers.begin(), finalizers.end(), finalizer) != finalizers.end()) return p;
  if (finalizers.empty()) {
    // JSON patch cannot test for absence; the resourceVersion pins the object instead.
    if (!resourceVersion.empty()) p.test("/metadata/resourceVersion", std::string(resourceVersion));
    p.add("/metadata/finalizers", json::array({std::string(finalizer)}));
  } else {
    p.test("/metadata/finalizers", finalizers);
    p.add("/metadata/finalizers/-", std::string(finalizer));
  }
  return p;
}

JsonPatch removeFinalizerPatch(const Object& obj, std::string_view finalizer) {
  return removeFinalizerPatch(obj.finalizers(), finalizer);
}

JsonPatch addFinalizerPatch(const Object& obj, std::string_view finalizer) {
  return addFinalizerPatch(obj.finalizers(), obj.resourceVersion(), finalizer);
}

json mergePatchDiff(const json& from, const json& to) {
  if (!from.is_object() || !to.is_object()) return to;
  json patch = json::object();
  for (const auto& [key, value] : from.items()) {
    if (!to.contains(key)) patch[key] = nullptr;
  }
  for (const auto& [key, value] : to.items()) {
    auto it = from.find(key);
    if (it == from.end()) {
      patch[key] = value;
    } else if (*it != value) {
      if (it->is_object() && value.is_object()) {
        patch[key] = mergePatchDiff(*it, value);
      } else {
        patch[key] = value;
      }
    }
  }
  return patch;
}

json applyMergePatch(json target, const json& patch) {
  if (!patch.is_object()) return patch;
  if (!target.is_object()) target = json::object();
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      target.erase(key);
    } else {
      json current = target.contains(key) ? target[key] : json();
      target[key] = applyMergePatch(std::move(current), value);
    }
  }
  return target;
}

json labelMergePatch(std::string_view key, const json& value) {
  json labels = json::object();
  labels[std::string(key)] = value;
  return {{"metadata", {{"labels", labels}}}};
}

}  // namespace kubegrant::kube
