// Polling with a deadline, for tests that wait on another thread's progress (never a sleep
// that hopes an event has happened).
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace weft::test {

/// Polls `condition` until it holds or `timeout` passes; returns its last value.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a polling interval
  }
  return true;
}

}  // namespace weft::test
