// The untyped half of an actor: identity, lifecycle, children, death watch and supervision.
// The typed half (mailbox of M, behavior) is ActorCell<M> in actor_cell.hpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "weft/actor/actor_ref.hpp"
#include "weft/actor/detail/mpsc_queue.hpp"
#include "weft/actor/detail/ref_counted.hpp"
#include "weft/actor/detail/system_services.hpp"
#include "weft/actor/signal.hpp"
#include "weft/actor/supervision.hpp"
#include "weft/core/result.hpp"

namespace weft::detail {

enum class CellState : std::uint8_t {
  created,     // spawned; the first turn sets up the behavior
  running,     // handling messages
  restarting,  // failed; waiting for children to stop, or for the backoff to pass
  stopping,    // waiting for children to stop before PostStop
  terminated,  // done; messages go to dead letters
};

class ActorCellBase;

/// "$" and the id in base 36: the name of an anonymous actor.
[[nodiscard]] std::string anonymous_name(std::uint64_t id);

/// A control message for a cell, handled before its user messages.
struct SystemMessage : MpscNode {
  virtual ~SystemMessage() = default;
  virtual void apply(ActorCellBase& cell) = 0;
};

class ActorCellBase : public RefCounted {
 public:
  /// An empty name makes an anonymous actor, named "$<id in base 36>".
  ActorCellBase(SystemServices& system, ActorCellBase* parent, std::string name, std::uint64_t id);

  [[nodiscard]] std::string path() const;
  [[nodiscard]] std::string name() const;
  [[nodiscard]] bool is_anonymous() const noexcept { return name_ == nullptr; }
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }
  [[nodiscard]] ActorCellBase* parent() const noexcept { return parent_; }
  [[nodiscard]] SystemServices& system() const noexcept { return *system_; }
  [[nodiscard]] bool is_terminated() const noexcept {
    return state_.load(std::memory_order_acquire) == CellState::terminated;
  }
  [[nodiscard]] CellState state() const noexcept { return state_.load(std::memory_order_acquire); }

  // --- any thread ---
  /// Queues a control message (takes ownership) and makes sure the cell will run.
  void post(SystemMessage* msg);
  /// Asks the actor to stop: children first, then PostStop.
  void stop();
  /// Runs `fn` once when this actor terminates, at once (on this thread) if it already has.
  /// Returns an id for remove_termination_hook (0 if it ran at once).
  std::uint64_t add_termination_hook(std::function<void()> fn);
  void remove_termination_hook(std::uint64_t id);

  /// Links a freshly created child (any thread). Fails on a duplicate name or when this actor
  /// is stopping.
  [[nodiscard]] Result<void> adopt_child(ActorCellBase* child);
  [[nodiscard]] std::vector<AnyActorRef> children() const;
  [[nodiscard]] AnyActorRef child(std::string_view name) const;

  /// Scheduler entry point: one turn. Returns true when the cell still has work and stays
  /// scheduled (the scheduler queues it again, keeping its reference).
  bool run_turn();

  /// For a scheduler that will never run this cell again (the system is down), in place of
  /// release(): the caller holds the cell's scheduled flag and a reference, both given up here.
  /// What is queued goes now (system messages destroyed, messages as dead letters): a queued
  /// callback may hold a reference to this very cell, and would keep it and its system alive
  /// for good (a snapshot saved just after its actor stopped).
  void abandon();

  /// Makes sure the cell will run (used after pushing work).
  void schedule_if_idle() noexcept {
    if (!scheduled_.load(std::memory_order_seq_cst) &&
        !scheduled_.exchange(true, std::memory_order_acq_rel)) {
      retain();
      system_->schedule(this);
    }
  }

  // --- the actor's own thread ---
  void watch(ActorCellBase* target);
  void unwatch(ActorCellBase* target);
  void set_strategy(const SupervisorStrategy& s);
  /// Supervision entry: the handler failed with `error`.
  void fail(Error error);
  /// Stop this actor (cause set when it stops because it failed).
  void initiate_stop(std::optional<Error> cause);

 protected:
  ~ActorCellBase() override;

  // Typed hooks, implemented by ActorCell<M>.
  virtual void start_behavior() = 0;  // may throw
  virtual void process_messages(std::uint32_t limit) = 0;
  [[nodiscard]] virtual bool has_messages() const noexcept = 0;
  /// Atomics only (see finish_turn): could a sender have queued a message?
  [[nodiscard]] virtual bool mailbox_maybe_nonempty() const noexcept = 0;
  virtual void drain_to_dead_letters() = 0;
  /// Delivers a signal; returns false if the behavior left it unhandled. May throw.
  virtual bool deliver_signal(const Signal& s) = 0;
  virtual void discard_behavior() noexcept = 0;
  virtual void cancel_all_timers() noexcept = 0;

  /// Delivers a signal, turning a throw into a failure. Returns false if unhandled.
  bool signal_safely(const Signal& s);
  [[nodiscard]] bool accepting_messages() const noexcept {
    return state_.load(std::memory_order_relaxed) == CellState::running && !suspended_;
  }

 private:
  friend struct StopMsg;
  friend struct WatchMsg;
  friend struct UnwatchMsg;
  friend struct DeathNotice;
  friend struct RestartNow;
  friend struct ChildTerminatedMsg;
  struct Extras;

  void drain_system_messages();
  bool finish_turn();
  void start();
  void on_child_terminated(ActorCellBase* child, const std::optional<Error>& failure,
                           bool escalate);
  void on_watched_terminated(ActorCellBase* who, const std::optional<Error>& failure);
  void stop_children();
  /// Under lock_: another thread may be linking a child (adopt_child from a spawn outside the
  /// actor) while this actor's own thread asks, e.g. the user guardian reaping stopped children.
  [[nodiscard]] bool has_children() const noexcept {
    std::lock_guard guard(lock_);
    return first_child_ != nullptr;
  }
  void finish_termination();
  void restart(Error cause);
  void complete_restart();
  Extras& extras();

  /// The control-message queue, created by the first post (most actors never get one).
  MpscQueue* system_queue() noexcept;
  [[nodiscard]] bool system_queue_empty() const noexcept {
    auto* q = system_queue_.load(std::memory_order_seq_cst);
    return !q || q->empty();
  }
  [[nodiscard]] bool system_queue_maybe_nonempty() const noexcept {
    auto* q = system_queue_.load(std::memory_order_seq_cst);
    return q && q->maybe_nonempty();
  }

  // Kept small: a node hosts millions of actors (weft-bench actors:memory).
  SystemServices* system_;
  ActorCellBase* parent_;                    // holds a reference
  std::unique_ptr<const std::string> name_;  // null for anonymous actors
  std::uint64_t id_;
  std::atomic<MpscQueue*> system_queue_{nullptr};
  std::atomic<bool> scheduled_{false};
  std::atomic<CellState> state_{CellState::created};
  bool suspended_ = false;  // restart backoff in progress
  mutable SpinLock lock_;   // children links, termination hooks, the move to terminated
  ActorCellBase* first_child_ = nullptr;
  ActorCellBase* prev_sibling_ = nullptr;
  ActorCellBase* next_sibling_ = nullptr;
  // Rarely used parts, allocated on first use by whichever thread needs them first (an
  // outside ask may race the actor's own setup), hence atomic.
  std::atomic<Extras*> extras_{nullptr};
};

}  // namespace weft::detail
