// What an actor cell needs from its system. Implemented by the ActorSystem in src/actor.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "weft/actor/detail/ref_counted.hpp"
#include "weft/core/clock.hpp"

namespace weft::detail {

class ActorCellBase;

/// Reference counted: every actor cell holds a reference, so a cell (or an ActorRef to it)
/// that outlives its ActorSystem object still finds dead letters to go to.
class SystemServices : public RefCounted {
 public:
  /// Queues a cell that has work; the caller has set its scheduled flag and given it a ref.
  virtual void schedule(ActorCellBase* cell) = 0;
  /// Messages an actor may handle per turn before yielding its worker.
  [[nodiscard]] virtual std::uint32_t throughput() const noexcept = 0;
  [[nodiscard]] virtual const Clock& clock() const noexcept = 0;
  [[nodiscard]] virtual std::uint64_t next_actor_id() noexcept = 0;

  /// Runs `fn` on the timer thread once `delay` has passed on the system clock. Returns an id
  /// for cancel_timer (never 0). `fn` must be short: it typically posts a message.
  virtual std::uint64_t schedule_timer(Duration delay, std::function<void()> fn) = 0;
  virtual bool cancel_timer(std::uint64_t id) = 0;

  /// Messages that could not be delivered to `recipient`: counted, logged at a limited rate.
  virtual void dead_letters(const ActorCellBase& recipient, std::uint64_t n,
                            std::string_view reason) = 0;
  /// A message that `recipient`'s bounded mailbox dropped by its overflow policy.
  virtual void mailbox_dropped(const ActorCellBase& recipient) = 0;
  /// A message the behavior of `recipient` did not handle.
  virtual void unhandled(const ActorCellBase& recipient) = 0;

  virtual void count_processed(std::uint64_t n) noexcept = 0;
  virtual void count_restart() noexcept = 0;
  virtual void count_sent() noexcept = 0;
  /// The user guardian terminated: the system is down.
  virtual void on_guardian_terminated() = 0;
};

}  // namespace weft::detail
