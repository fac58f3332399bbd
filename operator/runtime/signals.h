#pragma once

// SIGTERM and SIGINT as a file descriptor (signalfd(2)), so Manager::run() waits on them
// together with everything else it waits for: no handler, no polling loop.
//
// Create it in main before any thread starts: it blocks both signals in the calling thread,
// every thread started later inherits that mask, and so only this descriptor sees them.

#include <signal.h>

#include "operator/common/result.h"

namespace kubegrant::runtime {

class StopSignals {
 public:
  [[nodiscard]] static Result<StopSignals> block();
  StopSignals(StopSignals&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  StopSignals& operator=(StopSignals&&) = delete;
  StopSignals(const StopSignals&) = delete;
  ~StopSignals();

  // Readable once a signal arrived.
  int fd() const { return fd_; }
  // The signal that arrived (consuming it), or 0 when none is pending.
  int take() const;

 private:
  explicit StopSignals(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace kubegrant::runtime
