#pragma once

// The Kubernetes API client interface (client-go semantics). Controllers, the runtime and
// webhooks depend on this header only; operator/kube/rest implements it over HTTPS and
// tests may implement it with a fake. No cpprestsdk type appears here.
//
// Errors keep the API server's Status: Error::code is mapped from the HTTP status and
// Status.reason (404 NotFound, 409 Conflict or AlreadyExists by reason, 403 Forbidden,
// 401 Unauthorized, 422 Invalid, 400 BadRequest, 410 Gone, 429 TooManyRequests with
// retryAfterSeconds, 5xx and connection failures Unavailable, timeouts Timeout);
// Error::reason, Error::message and Error::causes (details.causes) are the server's.

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "operator/common/result.h"
#include "operator/kube/object.h"

namespace kubegrant::kube {

struct ListOptions {
  std::string labelSelector;    // e.g. "app=web,tier in (a,b)"; URL-encoded by the client
  std::string fieldSelector;    // e.g. "metadata.name=foo"
  std::int64_t limit = 0;       // page size; 0 = everything in one response
  std::string continueToken;    // from the previous page's ObjectList::continueToken
  std::string resourceVersion;  // "" = most recent (quorum read); "0" = any cached
  // Client side, not sent: the items come without metadata.managedFields, skipped while
  // the response is parsed (what an informer wants; see parseWithoutManagedFields).
  bool dropManagedFields = false;
};

// Options shared by create/update/updateStatus.
struct WriteOptions {
  bool dryRun = false;       // dryRun=All: validated and admitted, never persisted
  std::string fieldManager;  // recorded in managedFields; empty = server default
};

enum class PatchType {
  Merge,           // application/merge-patch+json (RFC 7386)
  Json,            // application/json-patch+json (RFC 6902), body is an array of ops
  StrategicMerge,  // application/strategic-merge-patch+json (built-in kinds only)
  Apply,           // application/apply-patch+yaml: server-side apply; needs fieldManager
};

struct PatchOptions {
  std::string fieldManager;   // required for Apply
  std::optional<bool> force;  // Apply only: take ownership of conflicting fields
  std::string subresource;    // "" or e.g. "status"
  bool dryRun = false;
};

enum class PropagationPolicy { Orphan, Background, Foreground };

struct DeleteOptions {
  // Preconditions: the server refuses (409 Conflict) when the object's uid/resourceVersion
  // differ, so a delete never hits a newer incarnation or a changed object.
  std::optional<std::string> preconditionUid;
  std::optional<std::string> preconditionResourceVersion;
  std::optional<PropagationPolicy> propagationPolicy;
  std::optional<std::int64_t> gracePeriodSeconds;
  bool dryRun = false;
};

// What a successful DELETE left behind, as the API server answered it.
struct DeleteResult {
  // The object as the server still holds it when deletion is pending (finalizers, or a grace
  // period): it now has a deletionTimestamp and keeps doing whatever it did (a RoleBinding
  // still grants). Empty when the server deleted the object at once.
  std::optional<Object> pending;
  [[nodiscard]] bool gone() const { return !pending.has_value(); }
};

struct WatchOptions {
  // Where to start: normally ObjectList::resourceVersion of a list, or the last seen
  // event's resourceVersion. "" = start at the most recent (synthetic ADDED for everything
  // that exists first).
  std::string resourceVersion;
  std::string labelSelector;
  std::string fieldSelector;
  // The server ends the stream after this long (the client adds a margin to its own
  // request timeout). 0 = client default (5 minutes).
  std::int64_t timeoutSeconds = 0;
  bool allowWatchBookmarks = true;
  // Client side, not sent: event objects come without metadata.managedFields.
  bool dropManagedFields = false;
};

enum class WatchEventType { Added, Modified, Deleted, Bookmark, Error };

const char* toString(WatchEventType type);

// One decoded watch event. Bookmark objects carry only metadata.resourceVersion.
// Error events are not delivered to the handler: watch() returns them as its Error.
struct WatchEvent {
  WatchEventType type = WatchEventType::Added;
  Object object;
};

// Called on the watch's thread for each event as it arrives, in order. Must not block long:
// the stream is not read while it runs.
using WatchHandler = std::function<void(const WatchEvent&)>;

// Abstract Kubernetes client. Implementations are thread-safe: one instance is shared by
// every controller and informer. All calls block until done or timed out; none throws.
class Client {
 public:
  virtual ~Client() = default;

  // GET one object.
  [[nodiscard]] virtual Result<Object> get(const ResourceRef& ref, const ObjectKey& key) = 0;

  // LIST a collection; `ns` empty on a namespaced resource lists all namespaces. With
  // limit > 0 the result is one page; pass its continueToken back to get the next one.
  [[nodiscard]] virtual Result<ObjectList> list(const ResourceRef& ref, std::string_view ns,
                                                const ListOptions& options = {}) = 0;

  // POST. The namespace comes from obj.metadata.namespace (required for namespaced refs).
  // AlreadyExists when the name is taken. Returns the object as stored.
  [[nodiscard]] virtual Result<Object> create(const ResourceRef& ref, const Object& obj,
                                              const WriteOptions& options = {}) = 0;

  // PUT the whole object. metadata.resourceVersion, when set, is a precondition: a stale one
  // yields Conflict, and the caller re-reads and retries.
  [[nodiscard]] virtual Result<Object> update(const ResourceRef& ref, const Object& obj,
                                              const WriteOptions& options = {}) = 0;

  // PUT to the status subresource (only .status changes); same Conflict semantics.
  [[nodiscard]] virtual Result<Object> updateStatus(const ResourceRef& ref, const Object& obj,
                                                    const WriteOptions& options = {}) = 0;

  // PATCH with the given type. For PatchType::Json `patch` is an array of operations
  // (see patch.h); a failed `test` op yields Invalid (422) from the server.
  [[nodiscard]] virtual Result<Object> patch(const ResourceRef& ref, const ObjectKey& key,
                                             PatchType type, const nlohmann::json& patch,
                                             const PatchOptions& options = {}) = 0;

  // DELETE. Success includes "accepted, finalizers pending" (the object still exists with
  // deletionTimestamp set): DeleteResult tells the two apart from the server's answer, so
  // a caller that must know the object is gone needs no extra GET. NotFound when it was
  // already gone.
  [[nodiscard]] virtual Result<DeleteResult> remove(const ResourceRef& ref, const ObjectKey& key,
                                                    const DeleteOptions& options = {}) = 0;

  // WATCH a collection (`ns` empty = all namespaces), streaming: each event is handed to
  // `handler` as soon as its line arrives. Blocks until the stream ends:
  //   - ok() when the server closed it (timeoutSeconds elapsed) or `stop` was requested;
  //     the caller re-watches from the last resourceVersion it saw;
  //   - Error Gone when the start resourceVersion is too old (HTTP 410 or an ERROR event
  //     with code 410): the caller must re-list;
  //   - any other Error (Forbidden, Unavailable, ...) as for other calls.
  // Requesting `stop` aborts the stream promptly (in-flight reads are cancelled).
  [[nodiscard]] virtual Result<void> watch(const ResourceRef& ref, std::string_view ns,
                                           const WatchOptions& options, const WatchHandler& handler,
                                           std::stop_token stop = {}) = 0;

  // Raw escape hatches for paths the typed calls do not cover (e.g. /version, discovery,
  // subresources such as pods/eviction or serviceaccounts/token). `path` is the URL path
  // and optional query, already encoded (see url.h). Errors as for the typed calls.
  [[nodiscard]] virtual Result<nlohmann::json> getRaw(std::string_view path) = 0;
  [[nodiscard]] virtual Result<nlohmann::json> postRaw(std::string_view path,
                                                       const nlohmann::json& body) = 0;
};

}  // namespace kubegrant::kube
