#include "weft/persistence/recovery_permits.hpp"

#include <algorithm>
#include <utility>

namespace weft::persistence {

RecoveryPermits::RecoveryPermits(std::size_t capacity)
    : capacity_(std::max<std::size_t>(capacity, 1)), free_(capacity_) {}

void RecoveryPermits::acquire(std::move_only_function<void(Permit)> granted) {
  {
    std::lock_guard lock(mutex_);
    if (free_ == 0 || draining_ || !waiters_.empty()) {
      waiters_.push_back(std::move(granted));
      return;
    }
    --free_;
  }
  granted(Permit(shared_from_this()));
}

void RecoveryPermits::release() {
  std::unique_lock lock(mutex_);
  ++free_;
  if (draining_) return;
  draining_ = true;
  while (free_ > 0 && !waiters_.empty()) {
    --free_;
    auto next = std::move(waiters_.front());
    waiters_.pop_front();
    lock.unlock();
    next(Permit(shared_from_this()));
    next = nullptr;  // a waiter may hold actor references: drop them outside the lock
    lock.lock();
  }
  draining_ = false;
}

std::size_t RecoveryPermits::in_use() const {
  std::lock_guard lock(mutex_);
  return capacity_ - free_;
}

std::size_t RecoveryPermits::waiting() const {
  std::lock_guard lock(mutex_);
  return waiters_.size();
}

}  // namespace weft::persistence
