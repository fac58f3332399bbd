#include "webhooks/server/admission.h"

#include <cctype>
#include <exception>
#include <utility>

namespace kubegrant::webhooks {

namespace {

using nlohmann::json;

constexpr std::string_view kApiVersion = "admission.k8s.io/v1";

// Strings from the request end up in messages and logs: dump with replacement so that a
// value nlohmann cannot re-encode never throws on the way out.
std::string dumpSafe(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Rejects inputs nested deeper than kMaxJsonDepth before nlohmann (whose parser, serializer
// and destructor recurse) sees them. A linear scan that skips string contents.
bool nestingWithinLimit(std::string_view body) {
  int depth = 0;
  bool inString = false;
  bool escaped = false;
  for (char c : body) {
    if (inString) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        inString = false;
      }
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

std::optional<std::string> optString(const json& obj, const char* key, std::string& error,
                                     std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    error = std::string(where) + "." + key + " must be a string";
    return std::nullopt;
  }
  return it->get<std::string>();
}

bool parseOperation(std::string_view s, Operation& op) {
  if (s == "CREATE") {
    op = Operation::Create;
  } else if (s == "UPDATE") {
    op = Operation::Update;
  } else if (s == "DELETE") {
    op = Operation::Delete;
  } else if (s == "CONNECT") {
    op = Operation::Connect;
  } else {
    return false;
  }
  return true;
}

}  // namespace

const char* toString(Operation op) {
  switch (op) {
    case Operation::Create:
      return "CREATE";
    case Operation::Update:
      return "UPDATE";
    case Operation::Delete:
      return "DELETE";
    case Operation::Connect:
      return "CONNECT";
  }
  return "UNKNOWN";
}

AdmissionResponse AdmissionResponse::allow(std::vector<std::string> warnings) {
  AdmissionResponse r;
  r.allowed = true;
  r.warnings = std::move(warnings);
  return r;
}

AdmissionResponse AdmissionResponse::withRule(std::string securityRule) && {
  rule = std::move(securityRule);
  return std::move(*this);
}

AdmissionResponse AdmissionResponse::deny(int code, std::string reason, std::string message) {
  AdmissionResponse r;
  r.allowed = false;
  r.code = code;
  r.reason = std::move(reason);
  r.message = std::move(message);
  return r;
}

AdmissionResponse AdmissionResponse::forbid(std::string message) {
  return deny(403, "Forbidden", std::move(message));
}

AdmissionResponse AdmissionResponse::invalid(std::string message) {
  return deny(422, "Invalid", std::move(message));
}

bool isJsonContentType(std::string_view ct) {
  auto semi = ct.find(';');
  std::string_view media = ct.substr(0, semi);
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.back()))) {
    media.remove_suffix(1);
  }
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.front()))) {
    media.remove_prefix(1);
  }
  constexpr std::string_view kJson = "application/json";
  if (media.size() != kJson.size()) return false;
  for (std::size_t i = 0; i < kJson.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(media[i])) != kJson[i]) return false;
  }
  return true;
}

std::optional<AdmissionRequest> decodeAdmissionReview(std::string_view body, std::string& error) {
  if (body.empty()) {
    error = "empty body: expected an admission.k8s.io/v1 AdmissionReview";
    return std::nullopt;
  }
  if (!nestingWithinLimit(body)) {
    error = "body nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    return std::nullopt;
  }
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    error = "body is not valid JSON";
    return std::nullopt;
  }
  if (!doc.is_object()) {
    error = "body is not a JSON object: expected an admission.k8s.io/v1 AdmissionReview";
    return std::nullopt;
  }
  auto kind = optString(doc, "kind", error, "");
  auto apiVersion = optString(doc, "apiVersion", error, "");
  if (!kind || !apiVersion) return std::nullopt;
  if (*kind != "AdmissionReview") {
    error = "kind is \"" + *kind + "\": expected AdmissionReview";
    return std::nullopt;
  }
  if (*apiVersion != kApiVersion) {
    error = "apiVersion is \"" + *apiVersion + "\": only admission.k8s.io/v1 is served";
    return std::nullopt;
  }
  auto reqIt = doc.find("request");
  if (reqIt == doc.end() || !reqIt->is_object()) {
    error = "request is missing or not an object";
    return std::nullopt;
  }
  json& r = *reqIt;
  AdmissionRequest out;
  auto uid = optString(r, "uid", error, "request");
  if (!uid) return std::nullopt;
  if (uid->empty()) {
    error = "request.uid is missing";
    return std::nullopt;
  }
  out.uid = std::move(*uid);

  auto kindIt = r.find("kind");
  if (kindIt == r.end() || !kindIt->is_object()) {
    error = "request.kind is missing or not an object";
    return std::nullopt;
  }
  auto g = optString(*kindIt, "group", error, "request.kind");
  auto v = optString(*kindIt, "version", error, "request.kind");
  auto k = optString(*kindIt, "kind", error, "request.kind");
  if (!g || !v || !k) return std::nullopt;
  out.kind = {std::move(*g), std::move(*v), std::move(*k)};

  if (auto resIt = r.find("resource"); resIt != r.end() && resIt->is_object()) {
    auto rg = optString(*resIt, "group", error, "request.resource");
    auto rv = optString(*resIt, "version", error, "request.resource");
    auto rr = optString(*resIt, "resource", error, "request.resource");
    if (!rg || !rv || !rr) return std::nullopt;
    out.resource = {std::move(*rg), std::move(*rv), std::move(*rr)};
  }
  auto sub = optString(r, "subResource", error, "request");
  auto name = optString(r, "name", error, "request");
  auto ns = optString(r, "namespace", error, "request");
  auto op = optString(r, "operation", error, "request");
  if (!sub || !name || !ns || !op) return std::nullopt;
  out.subResource = std::move(*sub);
  out.name = std::move(*name);
  out.namespace_ = std::move(*ns);
  if (!parseOperation(*op, out.operation)) {
    error = "request.operation \"" + *op + "\" is not CREATE, UPDATE, DELETE or CONNECT";
    return std::nullopt;
  }

  auto userIt = r.find("userInfo");
  if (userIt == r.end() || !userIt->is_object()) {
    error = "request.userInfo is missing or not an object";
    return std::nullopt;
  }
  auto username = optString(*userIt, "username", error, "request.userInfo");
  auto userUid = optString(*userIt, "uid", error, "request.userInfo");
  if (!username || !userUid) return std::nullopt;
  out.userInfo.username = std::move(*username);
  out.userInfo.uid = std::move(*userUid);
  if (auto groupsIt = userIt->find("groups"); groupsIt != userIt->end() && !groupsIt->is_null()) {
    if (!groupsIt->is_array()) {
      error = "request.userInfo.groups must be a list of strings";
      return std::nullopt;
    }
    for (const auto& grp : *groupsIt) {
      if (!grp.is_string()) {
        error = "request.userInfo.groups must be a list of strings";
        return std::nullopt;
      }
      out.userInfo.groups.push_back(grp.get<std::string>());
    }
  }

  if (auto it = r.find("object"); it != r.end()) out.object = std::move(*it);
  if (auto it = r.find("oldObject"); it != r.end()) out.oldObject = std::move(*it);
  if (!out.object.is_null() && !out.object.is_object()) {
    error = "request.object must be an object";
    return std::nullopt;
  }
  if (!out.oldObject.is_null() && !out.oldObject.is_object()) {
    error = "request.oldObject must be an object";
    return std::nullopt;
  }
  if (auto it = r.find("dryRun"); it != r.end() && it->is_boolean()) out.dryRun = it->get<bool>();
  return out;
}

std::string encodeAdmissionResponse(std::string_view uid, const AdmissionResponse& response) {
  json resp = {{"uid", uid}, {"allowed", response.allowed}};
  if (!response.allowed || response.code != 0 || !response.message.empty()) {
    json status = json::object();
    if (response.code != 0) status["code"] = response.code;
    if (!response.reason.empty()) status["reason"] = response.reason;
    if (!response.message.empty()) status["message"] = response.message;
    resp["status"] = std::move(status);
  }
  if (!response.warnings.empty()) resp["warnings"] = response.warnings;
  if (response.allowed && !response.patch.empty()) {
    json ops = json::array();
    for (const auto& p : response.patch) {
      json op = {{"op", p.op}, {"path", p.path}};
      if (p.op != "remove") op["value"] = p.value;
      ops.push_back(std::move(op));
    }
    resp["patchType"] = "JSONPatch";
    resp["patch"] = base64Encode(dumpSafe(ops));
  }
  json review = {
      {"apiVersion", kApiVersion}, {"kind", "AdmissionReview"}, {"response", std::move(resp)}};
  return dumpSafe(review);
}

std::optional<AdmissionResponse> checkKind(const AdmissionRequest& request, std::string_view group,
                                           std::string_view version, std::string_view kind) {
  const auto& k = request.kind;
  if (k.group == group && k.version == version && k.kind == kind) return std::nullopt;
  return AdmissionResponse::deny(400, "BadRequest",
                                 "this webhook admits " + std::string(group) + "/" +
                                     std::string(version) + " " + std::string(kind) + ", not " +
                                     (k.group.empty() ? "core" : k.group) + "/" + k.version + " " +
                                     k.kind);
}

HttpReply textReply(int status, std::string message) {
  HttpReply reply;
  reply.status = status;
  reply.contentType = "text/plain; charset=utf-8";
  reply.body = std::move(message);
  reply.body.push_back('\n');
  return reply;
}

void AdmissionRouter::add(std::string path, AdmissionHandler handler) {
  routes_[std::move(path)] = std::move(handler);
}

bool AdmissionRouter::has(std::string_view path) const { return routes_.contains(path); }

HttpReply AdmissionRouter::handle(const HttpRequestView& request) const noexcept {
  try {
    if (request.method != "POST") {
      return textReply(405, "method not allowed: AdmissionReviews are POSTed");
    }
    auto route = routes_.find(request.path);
    if (route == routes_.end()) {
      return textReply(404, "no admission webhook at this path");
    }
    if (!isJsonContentType(request.contentType)) {
      return textReply(415, "unsupported content type: expected application/json");
    }
    if (request.body.size() > maxBodyBytes_) {
      return textReply(413, "request body exceeds " + std::to_string(maxBodyBytes_) + " bytes");
    }
    std::string error;
    auto review = decodeAdmissionReview(request.body, error);
    if (!review) return textReply(400, "bad AdmissionReview: " + error);

    AdmissionResponse response;
    try {
      response = route->second(*review);
    } catch (const std::exception& e) {
      // Fail closed: an unexpected error in a rule must never admit the object.
      response = AdmissionResponse::deny(
          500, "InternalError", std::string("kubegrant webhook internal error: ") + e.what());
    } catch (...) {
      response = AdmissionResponse::deny(500, "InternalError", "kubegrant webhook internal error");
    }
    HttpReply reply;
    reply.body = encodeAdmissionResponse(review->uid, response);
    return reply;
  } catch (...) {
    // Only allocation failure can get here.
    HttpReply reply;
    reply.status = 500;
    reply.contentType = "text/plain";
    return reply;
  }
}

}  // namespace kubegrant::webhooks
