#pragma once

// One function that runs a reconcile behind a finalizer, as kube-rs' `finalizer()`:
//
//   1. Not being deleted, finalizer missing -> add it (and return awaitChange(): the patch
//      itself is a change the informer delivers, so apply runs next time on an object that
//      already carries the finalizer). Nothing is applied before the finalizer is in place,
//      so nothing can be left behind by a delete that races the first reconcile.
//   2. Being deleted, finalizer present -> run cleanup; only if it succeeded, remove our
//      finalizer. A failed cleanup is returned as is (retryable errors are retried with
//      backoff) and the finalizer stays, so the object cannot disappear before its grants
//      are revoked.
//   3. Being deleted, finalizer absent -> nothing to do (someone else's finalizer holds it).
//   4. Otherwise -> run apply.
//
// Both patches are RFC 6902 JSON patches guarded by `test` ops: adding tests the current
// finalizer list (or the resourceVersion when there is none), removing tests our entry's
// exact index and value. A concurrent change by another party therefore makes the patch
// fail instead of dropping their finalizer; that failure is returned as a retryable
// Conflict and the next attempt starts from a fresh read.
//
// Assumptions the callbacks must honour:
//  - apply and cleanup are idempotent: either may run again after a crash, a conflict or a
//    retry, with the world in any intermediate state.
//  - cleanup tolerates apply never having run (the object may be deleted right after the
//    finalizer was added), i.e. it removes what exists and succeeds when nothing does.
//  - `object` is a recent read (e.g. from the informer cache); the caller handles NotFound
//    (the object is gone: nothing to do) before calling.

#include <functional>
#include <string_view>

#include "operator/common/result.h"
#include "operator/kube/client.h"
#include "operator/runtime/controller.h"

namespace kubegrant::runtime {

using ApplyFunc = std::function<Result<Action>(const kube::Object& object)>;
using CleanupFunc = std::function<Result<void>(const kube::Object& object)>;

[[nodiscard]] Result<Action> reconcileWithFinalizer(
    kube::Client& client, const kube::ResourceRef& ref, const kube::Object& object,
    std::string_view finalizerName, const ApplyFunc& apply, const CleanupFunc& cleanup);

}  // namespace kubegrant::runtime
