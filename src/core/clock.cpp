#include "weft/core/clock.hpp"

#include <algorithm>

namespace weft {

std::int64_t SystemClock::wall_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<SystemClock> SystemClock::instance() {
  static const auto clock = std::make_shared<SystemClock>();
  return clock;
}

ManualClock::ManualClock(std::int64_t wall_ms_at_start) : wall_start_ms_(wall_ms_at_start) {}

TimePoint ManualClock::now() const {
  std::lock_guard lock(mutex_);
  return TimePoint(elapsed_);
}

std::int64_t ManualClock::wall_ms() const {
  std::lock_guard lock(mutex_);
  return wall_start_ms_ + std::chrono::duration_cast<std::chrono::milliseconds>(elapsed_).count();
}

void ManualClock::advance(Duration d) {
  std::vector<std::shared_ptr<Listener>> to_call;
  TimePoint now;
  {
    std::lock_guard lock(mutex_);
    elapsed_ += d;
    now = TimePoint(elapsed_);
    for (auto& [id, l] : listeners_) to_call.push_back(l);
  }
  // Called without the lock: a listener may read the clock or add listeners.
  for (auto& l : to_call) (*l)(now);
}

std::uint64_t ManualClock::add_listener(Listener listener) {
  std::lock_guard lock(mutex_);
  auto id = next_listener_id_++;
  listeners_.emplace_back(id, std::make_shared<Listener>(std::move(listener)));
  return id;
}

void ManualClock::remove_listener(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  std::erase_if(listeners_, [id](const auto& p) { return p.first == id; });
}

}  // namespace weft
