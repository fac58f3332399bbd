#pragma once

// An in-memory kube::Client for unit tests of reconcilers and runtime pieces, behaving like
// the API server where tests rely on it:
//  - a global resourceVersion counter; every write sets metadata.resourceVersion, create
//    sets uid, creationTimestamp (from the injected clock) and generation;
//  - update with metadata.resourceVersion set is a precondition (stale -> Conflict);
//  - JSON patch (RFC 6902, `test` failures -> Invalid 422), merge patch (RFC 7386; strategic
//    merge is approximated by it), subresource "status" for patch/updateStatus; when a
//    resource has the status subresource enabled, update ignores .status and updateStatus
//    changes only .status;
//  - delete of an object with finalizers sets deletionTimestamp and keeps it; removing the
//    last finalizer of an object being deleted deletes it; uid/resourceVersion preconditions;
//  - list with labelSelector (=, ==, !=, exists, !exists, in, notin), fieldSelector
//    (metadata.name, metadata.namespace) and pagination (limit/continue); the client-side
//    dropManagedFields option of list and watch is recorded in the action, not applied;
//  - watch from a resourceVersion (replaying history), from "" (synthetic ADDED first),
//    Gone after compact(), ok() when closeWatches() ends the streams (as a server timeout
//    does), bookmarks on request (sendBookmark()).
// Every call is recorded as an Action so tests can assert exactly what was sent, and a
// reactor can fail or intercept any call (client-go's PrependReactor).

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "operator/common/clock.h"
#include "operator/kube/client.h"

namespace kubegrant::runtime::testing {

struct FakeAction {
  std::string verb;      // get, list, create, update, updateStatus, patch, delete, watch
  std::string resource;  // "configmaps", "leases.coordination.k8s.io"
  std::string namespace_;
  std::string name;
  std::string subresource;
  std::optional<kube::PatchType> patchType;
  nlohmann::json body;  // object sent (create/update) or patch body
};

// Returns an Error to fail the call, or nullopt to let it proceed.
using FakeReactor = std::function<std::optional<Error>(const FakeAction&)>;

class FakeClient : public kube::Client {
 public:
  // `clock` stamps creationTimestamp/deletionTimestamp; nullptr uses the system clock.
  explicit FakeClient(Clock* clock = nullptr);
  ~FakeClient() override;

  Result<kube::Object> get(const kube::ResourceRef& ref, const kube::ObjectKey& key) override;
  Result<kube::ObjectList> list(const kube::ResourceRef& ref, std::string_view ns,
                                const kube::ListOptions& options = {}) override;
  Result<kube::Object> create(const kube::ResourceRef& ref, const kube::Object& obj,
                              const kube::WriteOptions& options = {}) override;
  Result<kube::Object> update(const kube::ResourceRef& ref, const kube::Object& obj,
                              const kube::WriteOptions& options = {}) override;
  Result<kube::Object> updateStatus(const kube::ResourceRef& ref, const kube::Object& obj,
                                    const kube::WriteOptions& options = {}) override;
  Result<kube::Object> patch(const kube::ResourceRef& ref, const kube::ObjectKey& key,
                             kube::PatchType type, const nlohmann::json& patch,
                             const kube::PatchOptions& options = {}) override;
  Result<kube::DeleteResult> remove(const kube::ResourceRef& ref, const kube::ObjectKey& key,
                                    const kube::DeleteOptions& options = {}) override;
  Result<void> watch(const kube::ResourceRef& ref, std::string_view ns,
                     const kube::WatchOptions& options, const kube::WatchHandler& handler,
                     std::stop_token stop = {}) override;
  Result<nlohmann::json> getRaw(std::string_view path) override;
  Result<nlohmann::json> postRaw(std::string_view path, const nlohmann::json& body) override;

  // --- test controls ---

  // Stores `obj` as if created (no action recorded, no reactor). Returns the stored object.
  kube::Object seed(const kube::ResourceRef& ref, kube::Object obj);
  // The stored object, without recording an action.
  std::optional<kube::Object> peek(const kube::ResourceRef& ref, const kube::ObjectKey& key) const;
  // Makes update ignore .status and updateStatus change only .status for `ref`.
  void enableStatusSubresource(const kube::ResourceRef& ref);

  void addReactor(FakeReactor reactor);  // consulted in order; the first Error wins
  void clearReactors();

  std::vector<FakeAction> actions() const;
  // Actions other than get/list/watch: what the code under test changed.
  std::vector<FakeAction> writes() const;
  void clearActions();

  // Forgets the event history: watches from an older resourceVersion fail with Gone.
  void compact();
  // Ends every open watch stream normally (like the server's timeout).
  void closeWatches();
  // Sends a BOOKMARK with the current resourceVersion to open watches that asked for them.
  void sendBookmark();
  // Open watch streams right now (to wait until an informer is watching).
  int openWatches() const;
  std::int64_t currentResourceVersion() const;

 private:
  struct StoredKey {
    std::string resource;  // "resource.group"
    std::string ns;
    std::string name;
    auto operator<=>(const StoredKey&) const = default;
  };
  struct HistoryEvent {
    std::int64_t rv = 0;
    std::string resource;
    kube::WatchEventType type = kube::WatchEventType::Added;
    std::optional<nlohmann::json> before;  // for Modified/Deleted
    nlohmann::json object;                 // after (or the deleted object)
  };

  std::optional<Error> react(const FakeAction& action);
  void record(const FakeAction& action);
  TimePoint now() const;
  std::string nextRvLocked();
  Result<kube::Object> writeLocked(const kube::ResourceRef& ref, const StoredKey& key,
                                   nlohmann::json next, const nlohmann::json& before);
  void emitLocked(const kube::ResourceRef& ref, kube::WatchEventType type,
                  std::optional<nlohmann::json> before, nlohmann::json after);
  static std::string resourceId(const kube::ResourceRef& ref);
  static StoredKey keyFor(const kube::ResourceRef& ref, std::string_view ns, std::string_view name);

  Clock* clock_;
  SystemClock systemClock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<StoredKey, nlohmann::json> objects_;
  std::set<std::string> statusSubresource_;
  std::vector<HistoryEvent> history_;
  std::int64_t rv_ = 1000;
  std::int64_t compactedRv_ = 0;
  std::uint64_t uidCounter_ = 0;
  std::uint64_t closeGeneration_ = 0;
  std::uint64_t bookmarkGeneration_ = 0;
  int openWatches_ = 0;
  std::vector<FakeAction> actions_;
  std::vector<FakeReactor> reactors_;
};

// Matches a label selector string against labels (exported for reuse in tests).
Result<bool> matchesLabelSelector(std::string_view selector,
                                  const std::map<std::string, std::string>& labels);

}  // namespace kubegrant::runtime::testing
