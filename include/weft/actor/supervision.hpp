// What happens to an actor whose handler throws or returns a failure.
#pragma once

#include <chrono>
#include <cstdint>

#include "weft/core/clock.hpp"

namespace weft {

struct SupervisorStrategy {
  enum class Kind : std::uint8_t {
    stop,      // stop the actor; a watching parent sees ChildFailed
    resume,    // drop the failing message, keep the behavior and its state
    restart,   // stop the children, then start the initial behavior afresh
    escalate,  // stop the actor and fail its parent with the same error
  };

  Kind kind = Kind::stop;
  /// Restart only: at most this many restarts within `within` (< 0: unlimited); past it the
  /// actor stops.
  int max_restarts = -1;
  Duration within = std::chrono::minutes(1);
  /// Restart only: exponential backoff between restarts, from min to max, +- random_factor.
  Duration min_backoff{0};
  Duration max_backoff{0};
  double random_factor = 0.0;

  static SupervisorStrategy stop() { return {}; }
  static SupervisorStrategy resume() { return {.kind = Kind::resume}; }
  static SupervisorStrategy escalate() { return {.kind = Kind::escalate}; }
  static SupervisorStrategy restart() { return {.kind = Kind::restart}; }
  static SupervisorStrategy restart_with_backoff(Duration min, Duration max,
                                                 double random_factor = 0.2) {
    return {.kind = Kind::restart,
            .min_backoff = min,
            .max_backoff = max,
            .random_factor = random_factor};
  }
  /// Restart only: limit restarts to `n` within `window`.
  [[nodiscard]] SupervisorStrategy with_limit(int n, Duration window) const {
    auto s = *this;
    s.max_restarts = n;
    s.within = window;
    return s;
  }
};

}  // namespace weft
