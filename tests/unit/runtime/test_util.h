#pragma once

#include <chrono>
#include <functional>
#include <thread>

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

}  // namespace kubegrant::runtime::testutil
