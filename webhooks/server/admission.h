#pragma once

// AdmissionReview (admission.k8s.io/v1) decoding, encoding and routing, separate from the
// transport: the HTTPS listener, the unit tests and the fuzzer all drive handleAdmission()
// with raw bytes, so whatever the network can deliver is exercised without a socket.
//
// Guarantees of AdmissionRouter::handle: it never throws, never recurses on input depth
// (nesting is bounded before parsing), and answers every input with an HTTP status and a body:
//   - 405 for a method other than POST, 404 for an unknown path, 415 for a content type other
//     than application/json, 413 for a body above the cap, 400 for anything that is not an
//     admission.k8s.io/v1 AdmissionReview with request.uid (plain-text body naming the problem);
//   - 200 with an AdmissionReview response carrying the same uid otherwise. A handler that
//     throws yields a denial (fail closed), never an allowed answer.

#include <cstddef>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "operator/common/base64.h"

namespace kubegrant::webhooks {

// kube-apiserver's --max-request-bytes default (3 MiB): the largest body it accepts.
inline constexpr std::size_t kApiServerMaxRequestBytes = 3 * 1024 * 1024;
// The webhook must accept every review the API server can send, or an object could become
// un-updatable (failurePolicy Fail). An UPDATE review carries the old object (at most what the
// API server ever accepted) and the new one (the old one plus at most one request body, e.g. a
// patch), plus the review's own fields: 4x the API server's limit covers that with room.
constexpr std::size_t maxBodyBytesFor(std::size_t apiServerMaxRequestBytes) {
  return 4 * apiServerMaxRequestBytes;
}
// Requests larger than this are refused with 413.
inline constexpr std::size_t kDefaultMaxBodyBytes = maxBodyBytesFor(kApiServerMaxRequestBytes);
// Objects nested deeper than this are refused before parsing (Kubernetes objects are shallow).
inline constexpr int kMaxJsonDepth = 64;

enum class Operation { Create, Update, Delete, Connect };

struct GroupVersionKind {
  std::string group;
  std::string version;
  std::string kind;
};

struct GroupVersionResource {
  std::string group;
  std::string version;
  std::string resource;
};

// The authenticated caller, as the API server saw it.
struct UserIdentity {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
};

struct AdmissionRequest {
  std::string uid;
  GroupVersionKind kind;
  GroupVersionResource resource;
  std::string subResource;  // "status" for the status subresource, empty otherwise
  std::string name;
  std::string namespace_;
  Operation operation = Operation::Create;
  UserIdentity userInfo;
  nlohmann::json object;     // null when absent (DELETE)
  nlohmann::json oldObject;  // null when absent (CREATE)
  bool dryRun = false;
};

// One RFC 6902 operation. `value` is ignored for "remove".
struct PatchOperation {
  std::string op;  // add | replace | remove | test
  std::string path;
  nlohmann::json value;
};

struct AdmissionResponse {
  bool allowed = false;
  int code = 0;         // status.code; 0 = omitted (allowed answers)
  std::string reason;   // status.reason, e.g. "Forbidden"
  std::string message;  // status.message: names the field and the rule
  std::vector<std::string> warnings;
  std::vector<PatchOperation> patch;  // JSONPatch for mutating answers; empty = no patch
  // For a denial that is a security event (someone tried what they may not): the rule, e.g.
  // "self-approval" (webhooks/access_request/rules.h lists them). Empty for an ordinary refusal
  // (a typo, a missing reason). Not sent to the API server.
  std::string rule;

  static AdmissionResponse allow(std::vector<std::string> warnings = {});
  // 403 Forbidden: the caller may not do this.
  static AdmissionResponse forbid(std::string message);
  // 422 Invalid: the object is not acceptable whoever sends it.
  static AdmissionResponse invalid(std::string message);
  static AdmissionResponse deny(int code, std::string reason, std::string message);
  // This denial with its security rule set.
  AdmissionResponse withRule(std::string securityRule) &&;
};

using AdmissionHandler = std::function<AdmissionResponse(const AdmissionRequest&)>;

struct HttpRequestView {
  std::string_view method;  // "POST"
  std::string_view path;    // "/validate-accessrequest"
  std::string_view contentType;
  std::string_view body;
};

struct HttpReply {
  int status = 200;
  std::string contentType = "application/json";
  std::string body;
};

// Decodes an AdmissionReview body. On failure returns nullopt and sets `error` to a message
// naming the problem.
std::optional<AdmissionRequest> decodeAdmissionReview(std::string_view body, std::string& error);
// Encodes the AdmissionReview answer for `uid`.
std::string encodeAdmissionResponse(std::string_view uid, const AdmissionResponse& response);

using ::kubegrant::base64Encode;  // AdmissionReview patches are base64
const char* toString(Operation op);

// True when `contentType` is application/json (parameters such as charset allowed).
bool isJsonContentType(std::string_view contentType);

class AdmissionRouter {
 public:
  explicit AdmissionRouter(std::size_t maxBodyBytes = kDefaultMaxBodyBytes)
      : maxBodyBytes_(maxBodyBytes) {}

  void add(std::string path, AdmissionHandler handler);
  bool has(std::string_view path) const;
  std::size_t maxBodyBytes() const { return maxBodyBytes_; }

  // See the guarantees at the top of this file.
  HttpReply handle(const HttpRequestView& request) const noexcept;

 private:
  std::size_t maxBodyBytes_;
  std::map<std::string, AdmissionHandler, std::less<>> routes_;
};

// A denial (400 BadRequest) naming what was received when the review is not about
// group/version/kind; nullopt when it is.
std::optional<AdmissionResponse> checkKind(const AdmissionRequest& request, std::string_view group,
                                           std::string_view version, std::string_view kind);

// Plain-text error reply used by the router and the transport for non-review answers.
HttpReply textReply(int status, std::string message);

}  // namespace kubegrant::webhooks
