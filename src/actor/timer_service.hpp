// Drives a TimerWheel from the system clock: a thread that sleeps until the next deadline for
// a real clock, or a listener that fires due timers when a ManualClock is advanced.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "weft/core/clock.hpp"
#include "weft/core/timer_wheel.hpp"

namespace weft::detail {

class TimerService {
 public:
  explicit TimerService(std::shared_ptr<Clock> clock);
  ~TimerService();
  TimerService(const TimerService&) = delete;
  TimerService& operator=(const TimerService&) = delete;

  /// Runs fn (outside the service's lock) once `delay` has passed. Returns a non-zero id.
  std::uint64_t schedule(Duration delay, std::function<void()> fn);
  bool cancel(std::uint64_t id);
  /// Stops the thread; pending timers are dropped without firing.
  void shutdown();
  [[nodiscard]] std::size_t pending() const;

 private:
  void run();
  void fire_due(TimePoint now);

  std::shared_ptr<Clock> clock_;
  mutable std::mutex mutex_;
  std::condition_variable wakeup_;
  TimerWheel wheel_;
  std::vector<std::function<void()>> due_;  // filled by wheel callbacks under mutex_
  std::optional<TimePoint> sleeping_until_;
  bool stopped_ = false;
  std::uint64_t listener_ = 0;
  std::thread thread_;
};

}  // namespace weft::detail
