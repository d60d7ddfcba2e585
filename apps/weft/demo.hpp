#pragma once

#include <cstdint>

namespace weft::app {

struct DemoOptions {
  unsigned machines = 8;
  double duration_s = 10;
  double rate_hz = 10;
  std::uint64_t seed = 42;
  unsigned workers = 0;
};

/// Runs the showcase; returns the process exit code.
int run_demo(const DemoOptions& options);

}  // namespace weft::app
