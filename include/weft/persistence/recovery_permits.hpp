// Bounded recovery: at most `capacity` event-sourced actors recover at once, so a node that
// starts (or un-passivates) a million actors does not read a million histories in parallel.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

namespace weft::persistence {

/// Shared by every actor of a node that should count against one limit (set the same object
/// in each EventSourcedSpec); create it with std::make_shared. Thread-safe.
class RecoveryPermits : public std::enable_shared_from_this<RecoveryPermits> {
 public:
  /// One of the `capacity` permits; released when destroyed (however its holder ends).
  class Permit {
   public:
    Permit() = default;
    explicit Permit(std::shared_ptr<RecoveryPermits> owner) : owner_(std::move(owner)) {}
    Permit(Permit&& other) noexcept = default;
    Permit& operator=(Permit&& other) noexcept {
      if (this != &other) {
        reset();
        owner_ = std::move(other.owner_);
      }
      return *this;
    }
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { reset(); }

    void reset() {
      if (auto o = std::move(owner_)) o->release();
    }
    [[nodiscard]] explicit operator bool() const noexcept { return owner_ != nullptr; }

   private:
    std::shared_ptr<RecoveryPermits> owner_;
  };

  /// A capacity of 0 is taken as 1 (0 would never let anyone recover).
  explicit RecoveryPermits(std::size_t capacity);

  /// Calls `granted` with a permit once one is free: at once on this thread if one is, else
  /// on the thread that releases one (keep it short: it typically posts to an actor). Waiters
  /// are served in arrival order.
  void acquire(std::move_only_function<void(Permit)> granted);

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::size_t in_use() const;
  [[nodiscard]] std::size_t waiting() const;

 private:
  void release();

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::size_t free_;
  std::deque<std::move_only_function<void(Permit)>> waiters_;
  // A thread is handing permits to waiters. A waiter that drops its permit at once (its actor
  // is gone) releases re-entrantly; the loop in release() picks that permit up instead of
  // recursing, so a long queue of dead waiters cannot overflow the stack.
  bool draining_ = false;
};

}  // namespace weft::persistence
