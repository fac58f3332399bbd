#include "operator/runtime/finalizer.h"

#include "operator/common/log.h"
#include "operator/kube/patch.h"

namespace kubegrant::runtime {

namespace {

// Our patches are guarded by `test` ops; the API server answers a failed test with 422
// Invalid. That only means someone changed the object meanwhile: retry from a fresh read.
Error asConflict(Error e, std::string_view what) {
  if (e.code == ErrorCode::Invalid) {
    e.code = ErrorCode::Conflict;
    e.message = std::string(what) + ": the object changed concurrently (" + e.message + ")";
  }
  return e;
}

}  // namespace

FinalizerView finalizerView(const kube::Object& object) {
  return {object.key(), object.resourceVersion(), object.finalizers(), object.isBeingDeleted()};
}

Result<Action> addFinalizer(kube::Client& client, const kube::ResourceRef& ref,
                            const FinalizerView& object, std::string_view finalizerName) {
  kube::JsonPatch patch =
      kube::addFinalizerPatch(object.finalizers, object.resourceVersion, finalizerName);
  auto patched = client.patch(ref, object.key, kube::PatchType::Json, patch.body());
  if (!patched) return std::unexpected(asConflict(patched.error(), "adding finalizer"));
  return Action::awaitChange();
}

Result<Action> removeFinalizer(kube::Client& client, const kube::ResourceRef& ref,
                               const FinalizerView& object, std::string_view finalizerName) {
  kube::JsonPatch patch = kube::removeFinalizerPatch(object.finalizers, finalizerName);
  auto patched = client.patch(ref, object.key, kube::PatchType::Json, patch.body());
  if (!patched) {
    // Gone already: the server deleted it once the last finalizer went (ours was removed
    // by an earlier attempt whose answer we missed).
    if (patched.error().code == ErrorCode::NotFound) return Action::awaitChange();
    return std::unexpected(asConflict(patched.error(), "removing finalizer"));
  }
  log::info("finalizer", "cleanup done, finalizer removed",
            {{"object", object.key.toString()}, {"finalizer", std::string(finalizerName)}});
  return Action::awaitChange();
}

}  // namespace kubegrant::runtime
