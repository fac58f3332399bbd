#pragma once

// kubectl-grant's exit codes, stable for scripts (documented in `kubectl grant --help`).

#include <string>

#include "crds/v1alpha1/types.h"
#include "operator/common/result.h"

namespace kubegrant::kubectl_grant {

enum class ExitCode : int {
  Ok = 0,           // done; with `request --wait`: the request is Active
  Error = 1,        // could not do it: API server unreachable, bad kubeconfig, unexpected answer
  Usage = 2,        // bad flags or arguments
  Refused = 3,      // the API server refused: admission webhook, RBAC or validation (message shown)
  NotFound = 4,     // the request (or policy) does not exist
  Denied = 5,       // --wait: the request was denied
  Expired = 6,      // --wait: it expired (pendingTimeout) before it was approved
  Failed = 7,       // --wait: the operator could not grant it
  Revoked = 8,      // --wait: it was revoked (or deleted) while waiting
  WaitTimeout = 9,  // --wait --timeout elapsed first
  Tampered = 10,    // audit verify: a line was changed, removed, reordered or inserted
};

inline int toInt(ExitCode code) { return static_cast<int>(code); }

// The exit code for an error from the kube client.
ExitCode exitCodeFor(const Error& error);

// The exit code `request --wait` ends with once the request reaches `phase`; nullopt while
// the phase is not final for a waiter (Pending, Approved).
std::optional<ExitCode> exitCodeForPhase(v1alpha1::Phase phase);

// The table printed by --help.
std::string exitCodesHelp();

}  // namespace kubegrant::kubectl_grant
