#pragma once

// How the operator's AccessRequest cache holds a request it is not working on: its JSON,
// compressed with a dictionary of what every AccessRequest's JSON shares (field names, fixed
// values, the operator's own messages). ~0.35 KiB per request instead of ~2.4 KiB decoded
// (bench/README.md, issue 15); the typed store keeps the hot few decoded.

#include "crds/v1alpha1/types.h"
#include "operator/runtime/typed_store.h"

namespace kubegrant::manager {

runtime::Packing<v1alpha1::AccessRequest> accessRequestPacking(std::size_t hot = 256);

}  // namespace kubegrant::manager
