#pragma once

// Something the manager starts and stops with it (controller-runtime's Runnable): a webhook
// server, an event sink, a periodic sweep.

#include "operator/common/result.h"

namespace kubegrant::runtime {

class Runnable {
 public:
  virtual ~Runnable() = default;
  // Starts background work and returns; an error ends Manager::run() with it.
  [[nodiscard]] virtual Result<void> start() = 0;
  // Stops and joins. Called once, only after a successful start().
  virtual void stop() = 0;
};

enum class RunOn {
  EveryReplica,  // e.g. the webhook server: serves whether or not this process leads
  Leader,        // e.g. a sweep that writes: only while this process leads
};

}  // namespace kubegrant::runtime
