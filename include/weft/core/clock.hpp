// Clocks: everything in weft that waits or stamps takes a Clock, so tests can use a manual one.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace weft {

using Duration = std::chrono::nanoseconds;
/// Monotonic instants. A ManualClock starts at the epoch of steady_clock.
using TimePoint = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  /// Monotonic time, for deadlines and timers.
  [[nodiscard]] virtual TimePoint now() const = 0;
  /// Wall-clock milliseconds since the Unix epoch, for stamping events.
  [[nodiscard]] virtual std::int64_t wall_ms() const = 0;
  /// True for a ManualClock: time moves only when a test advances it.
  [[nodiscard]] virtual bool is_manual() const noexcept { return false; }
};

/// The real clocks (steady for deadlines, system for stamps).
class SystemClock final : public Clock {
 public:
  [[nodiscard]] TimePoint now() const override { return std::chrono::steady_clock::now(); }
  [[nodiscard]] std::int64_t wall_ms() const override;
  /// The process-wide instance.
  [[nodiscard]] static std::shared_ptr<SystemClock> instance();
};

/// Time that moves only when told to. Listeners (timer services) run after each advance,
/// on the advancing thread, so due timers fire before advance() returns.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t wall_ms_at_start = 1'700'000'000'000);

  [[nodiscard]] TimePoint now() const override;
  [[nodiscard]] std::int64_t wall_ms() const override;
  [[nodiscard]] bool is_manual() const noexcept override { return true; }

  void advance(Duration d);

  using Listener = std::function<void(TimePoint)>;
  /// Returns an id for remove_listener.
  std::uint64_t add_listener(Listener listener);
  void remove_listener(std::uint64_t id);

 private:
  mutable std::mutex mutex_;
  Duration elapsed_{0};
  std::int64_t wall_start_ms_;
  std::uint64_t next_listener_id_ = 1;
  std::vector<std::pair<std::uint64_t, std::shared_ptr<Listener>>> listeners_;
};

}  // namespace weft
