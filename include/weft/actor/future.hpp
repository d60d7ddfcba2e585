// A one-shot result that completes later: the answer to an `ask` made outside an actor, or any
// asynchronous work an actor pipes to itself. Inside actors, never block on it: use
// ActorContext::pipe_to_self.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "weft/core/clock.hpp"
#include "weft/core/result.hpp"

namespace weft {

namespace detail {
template <class T>
struct FutureState {
  std::mutex mutex;
  std::optional<Result<T>> value;
  std::vector<std::function<void(const Result<T>&)>> callbacks;
  // Made by the first thread that blocks on the future, under `mutex`, and kept until the
  // state goes. Most futures are never waited on (a journal append completes thousands of
  // them a group, and its callers wait on the oldest only), and a condition variable costs
  // its completing thread a notify and whoever frees the state an atomic read-modify-write in
  // pthread_cond_destroy, on a cache line another core wrote: 12% of the journal writer's
  // samples when every future had one.
  std::unique_ptr<std::condition_variable> done;

  // Blocks on `lock` (of `mutex`) until `value` is set or `deadline` passes; false then.
  bool wait(std::unique_lock<std::mutex>& lock,
            std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt) {
    if (value) return true;
    if (!done) done = std::make_unique<std::condition_variable>();
    const auto ready = [this] { return value.has_value(); };
    if (!deadline) {
      done->wait(lock, ready);
      return true;
    }
    return done->wait_until(lock, *deadline, ready);
  }
};
}  // namespace detail

template <class T>
class Future {
 public:
  Future() = default;

  [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(state_); }
  [[nodiscard]] bool is_ready() const {
    std::lock_guard lock(state_->mutex);
    return state_->value.has_value();
  }

  /// Blocks until complete. For threads outside the actor system (main, tests, I/O).
  [[nodiscard]] Result<T> get() const {
    std::unique_lock lock(state_->mutex);
    state_->wait(lock);
    return *state_->value;
  }

  /// Blocks until complete and moves the result out instead of copying it: for the one
  /// consumer of a large result. Every copy of this future then sees a moved-from value, and
  /// so does a callback registered later.
  [[nodiscard]] Result<T> take() && {
    std::unique_lock lock(state_->mutex);
    state_->wait(lock);
    Result<T> out = std::move(*state_->value);
    lock.unlock();
    state_.reset();
    return out;
  }

  /// Blocks up to `timeout` of real time; nullopt if still pending.
  [[nodiscard]] std::optional<Result<T>> wait_for(Duration timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(state_->mutex);
    if (!state_->wait(lock, deadline)) return std::nullopt;
    return *state_->value;
  }

  /// Runs `f` once with the result: at once if already complete, else on the completing thread.
  void on_complete(std::function<void(const Result<T>&)> f) const {
    std::unique_lock lock(state_->mutex);
    if (state_->value) {
      lock.unlock();
      f(*state_->value);
      return;
    }
    state_->callbacks.push_back(std::move(f));
  }

 private:
  template <class U>
  friend class Promise;
  explicit Future(std::shared_ptr<detail::FutureState<T>> s) : state_(std::move(s)) {}
  // Shared by the Promise (the producer) and every copy of the Future (the consumers).
  std::shared_ptr<detail::FutureState<T>> state_;
};

template <class T>
class Promise {
 public:
  Promise() : state_(std::make_shared<detail::FutureState<T>>()) {}

  [[nodiscard]] Future<T> future() const { return Future<T>(state_); }

  /// Completes once; later calls return false and change nothing.
  bool complete(Result<T> result) const {
    std::vector<std::function<void(const Result<T>&)>> callbacks;
    std::condition_variable* waiting = nullptr;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->value) return false;
      state_->value.emplace(std::move(result));
      callbacks.swap(state_->callbacks);
      waiting = state_->done.get();
    }
    if (waiting != nullptr) waiting->notify_all();
    for (auto& cb : callbacks) cb(*state_->value);
    return true;
  }

 private:
  std::shared_ptr<detail::FutureState<T>> state_;
};

/// A future that is already complete.
template <class T>
Future<T> make_ready_future(Result<T> value) {
  Promise<T> p;
  p.complete(std::move(value));
  return p.future();
}

}  // namespace weft
