// TestProbe<M>: an actor whose messages a test can expect, and TestKit: a deterministic,
// seeded actor system on a manual clock. Nothing here sleeps: deterministic systems run to
// quiescence and move manual time; threaded systems wait on a condition with a deadline.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>

#include "weft/actor/actor_system.hpp"

namespace weft::testkit {

/// Thrown when an expectation is not met; test frameworks report it as a failure.
class ExpectationFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
/// What the probe's actor has received, shared between that actor and the test thread.
template <class M>
struct ProbeInbox {
  std::mutex mutex;
  std::condition_variable arrived;
  std::deque<M> messages;
  std::deque<Signal> signals;
};
}  // namespace detail

template <class M>
class TestProbe {
 public:
  explicit TestProbe(ActorSystem& system, std::string name = {})
      : system_(system), inbox_(std::make_shared<detail::ProbeInbox<M>>()) {
    auto inbox = inbox_;
    ref_ = system.spawn(
        behaviors::receive<M>(
            [inbox](ActorContext<M>&, M& msg) -> Behavior<M> {
              {
                std::lock_guard lock(inbox->mutex);
                inbox->messages.push_back(std::move(msg));
              }
              inbox->arrived.notify_all();
              return behaviors::same();
            },
            [inbox](ActorContext<M>&, const Signal& s) -> Behavior<M> {
              if (std::holds_alternative<Terminated>(s) || std::holds_alternative<ChildFailed>(s)) {
                {
                  std::lock_guard lock(inbox->mutex);
                  inbox->signals.push_back(s);
                }
                inbox->arrived.notify_all();
                return behaviors::same();
              }
              return behaviors::unhandled();
            }),
        std::move(name));
  }

  [[nodiscard]] const ActorRef<M>& ref() const { return ref_; }

  /// The next message, or ExpectationFailed if none arrives within `max`.
  M expect_msg(Duration max = std::chrono::seconds(3)) {
    auto m = receive(max);
    if (!m) {
      throw ExpectationFailed("probe " + ref_.path() + ": no message within " + millis(max));
    }
    return std::move(*m);
  }

  /// The next message must equal `expected`.
  M expect_msg(const M& expected, Duration max = std::chrono::seconds(3)) {
    M m = expect_msg(max);
    if (!(m == expected)) {
      throw ExpectationFailed("probe " + ref_.path() + ": received a different message");
    }
    return m;
  }

  /// The next message must hold alternative T of the variant M; returns it.
  template <class T>
  T expect_msg_of(Duration max = std::chrono::seconds(3)) {
    M m = expect_msg(max);
    if (auto* t = std::get_if<T>(&m)) return std::move(*t);
    throw ExpectationFailed("probe " + ref_.path() + ": received another alternative (index " +
                            std::to_string(m.index()) + ")");
  }

  /// No message may arrive during `d` (manual time is advanced by `d`).
  void expect_no_msg(Duration d = std::chrono::milliseconds(100)) {
    if (auto m = receive(d)) {
      throw ExpectationFailed("probe " + ref_.path() + ": unexpected message within " + millis(d));
    }
  }

  std::optional<M> receive(Duration max) {
    return wait_for(max, [](auto& in) -> std::optional<M> {
      if (in.messages.empty()) return std::nullopt;
      M m = std::move(in.messages.front());
      in.messages.pop_front();
      return m;
    });
  }

  /// Watches `target` on the probe's own actor.
  void watch(const AnyActorRef& target) {
    auto any = ref_.any();
    any.cell()->post(new weft::detail::CallbackMsg(
        [target](weft::detail::ActorCellBase& cell) { cell.watch(target.cell()); }));
  }
  template <class C>
  void watch(const ActorRef<C>& target) {
    watch(target.any());
  }

  /// The watched `target` must terminate within `max` (Terminated or ChildFailed).
  void expect_terminated(const AnyActorRef& target, Duration max = std::chrono::seconds(3)) {
    auto s = wait_for(max, [&](auto& in) -> std::optional<Signal> {
      for (auto it = in.signals.begin(); it != in.signals.end(); ++it) {
        const AnyActorRef* who = nullptr;
        if (auto* t = std::get_if<Terminated>(&*it)) who = &t->ref;
        if (auto* f = std::get_if<ChildFailed>(&*it)) who = &f->ref;
        if (who && *who == target) {
          Signal s = *it;
          in.signals.erase(it);
          return s;
        }
      }
      return std::nullopt;
    });
    if (!s) {
      throw ExpectationFailed("probe " + ref_.path() + ": " + target.path() +
                              " did not terminate within " + millis(max));
    }
  }
  template <class C>
  void expect_terminated(const ActorRef<C>& target, Duration max = std::chrono::seconds(3)) {
    expect_terminated(target.any(), max);
  }

  [[nodiscard]] std::size_t queued() const {
    std::lock_guard lock(inbox_->mutex);
    return inbox_->messages.size();
  }

 private:
  static std::string millis(Duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
  }

  /// Polls `take` until it yields, within `max`: by running the deterministic system and moving
  /// its manual clock in 1 ms steps, or by waiting on the inbox with a real deadline.
  template <class Take>
  std::invoke_result_t<Take&, detail::ProbeInbox<M>&> wait_for(Duration max, Take take) {
    if (system_.is_deterministic()) {
      auto* manual = dynamic_cast<const ManualClock*>(&system_.clock());
      Duration waited{0};
      for (;;) {
        system_.run_until_quiescent();
        {
          std::lock_guard lock(inbox_->mutex);
          if (auto r = take(*inbox_)) return r;
        }
        if (!manual || waited >= max) return std::nullopt;
        const Duration step = std::min<Duration>(std::chrono::milliseconds(1), max - waited);
        const_cast<ManualClock*>(manual)->advance(step);
        waited += step;
      }
    }
    const auto deadline = std::chrono::steady_clock::now() + max;
    std::unique_lock lock(inbox_->mutex);
    for (;;) {
      if (auto r = take(*inbox_)) return r;
      if (inbox_->arrived.wait_until(lock, deadline) == std::cv_status::timeout) {
        return take(*inbox_);
      }
    }
  }

  ActorSystem& system_;
  std::shared_ptr<detail::ProbeInbox<M>> inbox_;  // shared with the probe actor's behavior
  ActorRef<M> ref_;
};

/// A deterministic actor system on a manual clock, seeded: for reproducible actor tests.
class TestKit {
 public:
  explicit TestKit(std::uint64_t seed = 42, std::uint32_t throughput = 256)
      : clock_(std::make_shared<ManualClock>()),
        system_(ActorSystemConfig{.name = "testkit",
                                  .throughput = throughput,
                                  .clock = clock_,
                                  .deterministic_seed = seed}) {}

  [[nodiscard]] ActorSystem& system() { return system_; }
  [[nodiscard]] ManualClock& clock() { return *clock_; }

  template <class M>
  TestProbe<M> probe(std::string name = {}) {
    return TestProbe<M>(system_, std::move(name));
  }

  /// Runs every runnable actor until nothing is left to do.
  std::size_t run() { return system_.run_until_quiescent(); }
  /// Moves manual time (firing due timers), then runs to quiescence.
  void advance(Duration d) {
    clock_->advance(d);
    run();
  }

 private:
  std::shared_ptr<ManualClock> clock_;
  ActorSystem system_;
};

}  // namespace weft::testkit
