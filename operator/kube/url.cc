#include "operator/kube/url.h"

#include <fmt/format.h>

namespace kubegrant::kube {

std::string percentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0F]);
    }
  }
  return out;
}

Query& Query::add(std::string_view key, std::string_view value) {
  params_.emplace_back(std::string(key), std::string(value));
  return *this;
}

Query& Query::addIfSet(std::string_view key, std::string_view value) {
  if (!value.empty()) add(key, value);
  return *this;
}

std::string Query::str() const {
  std::string out;
  for (const auto& [k, v] : params_) {
    out += out.empty() ? "?" : "&";
    out += percentEncode(k);
    out += "=";
    out += percentEncode(v);
  }
  return out;
}

std::string listQuery(const ListOptions& options) {
  Query q;
  q.addIfSet("labelSelector", options.labelSelector);
  q.addIfSet("fieldSelector", options.fieldSelector);
  if (options.limit > 0) q.add("limit", std::to_string(options.limit));
  q.addIfSet("continue", options.continueToken);
  q.addIfSet("resourceVersion", options.resourceVersion);
  return q.str();
}

std::string watchQuery(const WatchOptions& options, std::int64_t effectiveTimeoutSeconds) {
  Query q;
  q.add("watch", "true");
  q.addIfSet("resourceVersion", options.resourceVersion);
  q.addIfSet("labelSelector", options.labelSelector);
  q.addIfSet("fieldSelector", options.fieldSelector);
  if (effectiveTimeoutSeconds > 0) q.add("timeoutSeconds", std::to_string(effectiveTimeoutSeconds));
  if (options.allowWatchBookmarks) q.add("allowWatchBookmarks", "true");
  return q.str();
}

std::string writeQuery(const WriteOptions& options) {
  Query q;
  if (options.dryRun) q.add("dryRun", "All");
  q.addIfSet("fieldManager", options.fieldManager);
  return q.str();
}

std::string patchQuery(PatchType /*type*/, const PatchOptions& options) {
  Query q;
  if (options.dryRun) q.add("dryRun", "All");
  q.addIfSet("fieldManager", options.fieldManager);
  if (options.force.has_value()) q.add("force", *options.force ? "true" : "false");
  return q.str();
}

const char* patchContentType(PatchType type) {
  switch (type) {
    case PatchType::Merge:
      return "application/merge-patch+json";
    case PatchType::Json:
      return "application/json-patch+json";
    case PatchType::StrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::Apply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

nlohmann::json deleteOptionsBody(const DeleteOptions& options) {
  nlohmann::json body = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (options.preconditionUid || options.preconditionResourceVersion) {
    nlohmann::json pre = nlohmann::json::object();
    if (options.preconditionUid) pre["uid"] = *options.preconditionUid;
    if (options.preconditionResourceVersion) {
      pre["resourceVersion"] = *options.preconditionResourceVersion;
    }
    body["preconditions"] = pre;
  }
  if (options.propagationPolicy) {
    switch (*options.propagationPolicy) {
      case PropagationPolicy::Orphan:
        body["propagationPolicy"] = "Orphan";
        break;
      case PropagationPolicy::Background:
        body["propagationPolicy"] = "Background";
        break;
      case PropagationPolicy::Foreground:
        body["propagationPolicy"] = "Foreground";
        break;
    }
  }
  if (options.gracePeriodSeconds) body["gracePeriodSeconds"] = *options.gracePeriodSeconds;
  if (options.dryRun) body["dryRun"] = nlohmann::json::array({"All"});
  return body;
}

}  // namespace kubegrant::kube
