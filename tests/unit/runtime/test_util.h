#pragma once

#include <chrono>
#include <functional>
#include <thread>

#include "operator/common/clock.h"

namespace kubegrant::runtime::testutil {

// Polls `pred` in real time (the code under test runs on its own threads).
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds limit = std::chrono::milliseconds(3000)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

// Moves the fake clock forward `step` at a time (giving the threads under test a moment
// after each step) until `pred` holds; false if it still does not after `max` fake time.
// For code whose sleep starts at a moment the test cannot observe.
inline bool advanceUntil(FakeClock& clock, Duration step, Duration max,
                         const std::function<bool()>& pred) {
  for (Duration spent{}; spent < max; spent += step) {
    if (eventually(pred, std::chrono::milliseconds(20))) return true;
    clock.advance(step);
  }
  return eventually(pred, std::chrono::milliseconds(1000));
}

}  // namespace kubegrant::runtime::testutil
