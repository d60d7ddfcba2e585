#include "actor/timer_service.hpp"

namespace weft::detail {

TimerService::TimerService(std::shared_ptr<Clock> clock)
    : clock_(std::move(clock)), wheel_(clock_->now()) {
  if (auto* manual = dynamic_cast<ManualClock*>(clock_.get())) {
    listener_ = manual->add_listener([this](TimePoint now) { fire_due(now); });
  } else {
    thread_ = std::thread([this] { run(); });
  }
}

TimerService::~TimerService() {
  shutdown();
}

std::uint64_t TimerService::schedule(Duration delay, std::function<void()> fn) {
  std::lock_guard lock(mutex_);
  const auto deadline = clock_->now() + delay;
  const auto id = wheel_.schedule(
      deadline, [this, fn = std::move(fn)]() mutable { due_.push_back(std::move(fn)); });
  if (thread_.joinable() && (!sleeping_until_ || deadline < *sleeping_until_)) {
    wakeup_.notify_one();
  }
  return id;
}

bool TimerService::cancel(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  return wheel_.cancel(id);
}

std::size_t TimerService::pending() const {
  std::lock_guard lock(mutex_);
  return wheel_.size();
}

void TimerService::fire_due(TimePoint now) {
  std::vector<std::function<void()>> fire;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    wheel_.advance(now);
    fire.swap(due_);
  }
  for (auto& fn : fire) fn();
}

void TimerService::run() {
  std::unique_lock lock(mutex_);
  while (!stopped_) {
    wheel_.advance(clock_->now());
    if (!due_.empty()) {
      std::vector<std::function<void()>> fire;
      fire.swap(due_);
      lock.unlock();
      for (auto& fn : fire) fn();
      fire.clear();  // callbacks may hold actor references; drop them before sleeping
      lock.lock();
      continue;
    }
    sleeping_until_ = wheel_.next_deadline();
    if (sleeping_until_) {
      wakeup_.wait_until(lock, *sleeping_until_);
    } else {
      wakeup_.wait(lock);
    }
    sleeping_until_.reset();
  }
}

void TimerService::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
  }
  wakeup_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (listener_) {
    static_cast<ManualClock*>(clock_.get())->remove_listener(listener_);
    listener_ = 0;
  }
}

}  // namespace weft::detail
