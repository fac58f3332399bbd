#pragma once

// One function that runs a reconcile behind a finalizer, as kube-rs' `finalizer()`:
//
//   1. Not being deleted, finalizer missing -> add it (and return awaitChange(): the patch
//      itself is a change the informer delivers, so apply runs next time on an object that
//      already carries the finalizer). Nothing is applied before the finalizer is in place,
//      so nothing can be left behind by a delete that races the first reconcile.
//   2. Being deleted, finalizer present -> run cleanup; only if it succeeded, remove our
//      finalizer. A failed cleanup is returned as is (the controller retries it with
//      backoff) and the finalizer stays, so the object cannot disappear before its grants
//      are revoked.
//   3. Being deleted, finalizer absent -> nothing to do (someone else's finalizer holds it).
//   4. Otherwise -> run apply.
//
// Both patches are RFC 6902 JSON patches guarded by `test` ops: adding tests the current
// finalizer list (or the resourceVersion when there is none), removing tests our entry's
// exact index and value. A concurrent change by another party therefore makes the patch
// fail (422 Invalid) instead of dropping their finalizer; that failure is returned as a
// Conflict, which the controller retries from a fresh read.
//
// Assumptions the callbacks must honour:
//  - apply and cleanup are idempotent: either may run again after a crash, a conflict or a
//    retry, with the world in any intermediate state.
//  - cleanup tolerates apply never having run (the object may be deleted right after the
//    finalizer was added), i.e. it removes what exists and succeeds when nothing does.
//  - `object` is a recent read (e.g. from the informer cache); the caller handles NotFound
//    (the object is gone: nothing to do) before calling.
//
// `object` is a kube::Object or a typed object whose `metadata` has name, namespace_,
// resourceVersion, finalizers and deletionTimestamp (as v1alpha1::ObjectMeta).

#include <algorithm>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "operator/common/result.h"
#include "operator/kube/client.h"
#include "operator/runtime/controller.h"

namespace kubegrant::runtime {

template <typename T>
using ApplyFunc = std::function<Result<Action>(const T& object)>;
template <typename T>
using CleanupFunc = std::function<Result<void>(const T& object)>;

// What the finalizer helper reads of an object.
struct FinalizerView {
  kube::ObjectKey key;
  std::string resourceVersion;
  std::vector<std::string> finalizers;
  bool deleting = false;
};

FinalizerView finalizerView(const kube::Object& object);

template <typename T>
requires requires(const T& t) {
  t.metadata.finalizers;
  t.metadata.deletionTimestamp;
}
FinalizerView finalizerView(const T& object) {
  const auto& m = object.metadata;
  return {{m.namespace_, m.name}, m.resourceVersion, m.finalizers, m.deletionTimestamp.has_value()};
}

// The patches of steps 1 and 2 (awaitChange() once done).
[[nodiscard]] Result<Action> addFinalizer(kube::Client& client, const kube::ResourceRef& ref,
                                          const FinalizerView& object,
                                          std::string_view finalizerName);
[[nodiscard]] Result<Action> removeFinalizer(kube::Client& client, const kube::ResourceRef& ref,
                                             const FinalizerView& object,
                                             std::string_view finalizerName);

template <typename T>
[[nodiscard]] Result<Action> reconcileWithFinalizer(
    kube::Client& client, const kube::ResourceRef& ref, const T& object,
    std::string_view finalizerName, const std::type_identity_t<ApplyFunc<T>>& apply,
    const std::type_identity_t<CleanupFunc<T>>& cleanup) {
  const FinalizerView view = finalizerView(object);
  const bool ours = std::find(view.finalizers.begin(), view.finalizers.end(), finalizerName) !=
                    view.finalizers.end();
  if (view.deleting) {
    if (!ours) return Action::awaitChange();
    if (auto cleaned = cleanup(object); !cleaned) return std::unexpected(cleaned.error());
    return removeFinalizer(client, ref, view, finalizerName);
  }
  if (!ours) return addFinalizer(client, ref, view, finalizerName);
  return apply(object);
}

}  // namespace kubegrant::runtime
