// The actor system: owns the scheduler, the timers and the user guardian (/user) under which
// every top-level actor lives.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "weft/actor/actor_context.hpp"
#include "weft/actor/actor_ref.hpp"
#include "weft/actor/behavior.hpp"
#include "weft/actor/detail/actor_cell.hpp"
#include "weft/actor/future.hpp"
#include "weft/core/clock.hpp"

namespace weft {

class MetricsRegistry;

struct ActorSystemConfig {
  std::string name = "weft";
  /// Worker threads; 0 means one per hardware thread.
  unsigned workers = 0;
  /// Messages an actor handles per turn before it yields its worker (fairness).
  std::uint32_t throughput = 256;
  /// The clock for timers, asks and backoff; null means the system clock.
  std::shared_ptr<Clock> clock;
  /// When set, no worker threads run: run_until_quiescent() runs actors on the calling
  /// thread in an order drawn from this seed, so tests are reproducible.
  std::optional<std::uint64_t> deterministic_seed;
  /// How long terminate() waits for actors to stop before giving up on them.
  std::chrono::milliseconds shutdown_timeout{10'000};
  /// Dead letters logged per second at most; the rest are counted and summarized.
  std::uint32_t dead_letter_log_limit = 10;
};

struct ActorSystemStats {
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_processed = 0;
  std::uint64_t dead_letters = 0;
  std::uint64_t mailbox_dropped = 0;
  std::uint64_t unhandled = 0;
  std::uint64_t restarts = 0;
  /// Messages sent but not yet processed, dropped or dead (approximate while running).
  std::int64_t mailbox_depth = 0;
};

namespace detail {
class SystemImpl;
}

class ActorSystem {
 public:
  explicit ActorSystem(ActorSystemConfig config = {});
  /// Terminates (see terminate()) if not done yet.
  ~ActorSystem();
  ActorSystem(const ActorSystem&) = delete;
  ActorSystem& operator=(const ActorSystem&) = delete;

  /// Spawns a top-level actor under /user. A bad or duplicate name throws
  /// std::invalid_argument; try_spawn returns the error instead.
  template <class M>
  ActorRef<M> spawn(Behavior<M> behavior, std::string name = {}, SpawnOptions options = {}) {
    auto r = try_spawn<M>(std::move(behavior), std::move(name), options);
    if (!r) detail::throw_spawn_error(r.error());
    return std::move(*r);
  }
  template <class M>
  Result<ActorRef<M>> try_spawn(Behavior<M> behavior, std::string name = {},
                                SpawnOptions options = {}) {
    return detail::spawn_cell<M>(guardian(), std::move(behavior), std::move(name), options);
  }

  /// Asks from outside any actor: the future completes with the reply, a timeout, or
  /// actor_stopped as soon as the target is known to be gone.
  template <class Res, class Req, class Make>
  Future<Res> ask(const ActorRef<Req>& target, Make make, Duration timeout) {
    Promise<Res> promise;
    detail::start_ask<Res>(services(), target, std::move(make), timeout,
                           [promise](Result<Res> r) { promise.complete(std::move(r)); });
    return promise.future();
  }

  /// Stops an actor (children first). Any actor can be stopped from outside.
  template <class M>
  void stop(const ActorRef<M>& ref) {
    if (auto any = ref.any()) any.cell()->stop();
  }

  /// Coordinated shutdown: stops every user actor (children before parents, each running its
  /// PostStop), drains what is left to dead letters, then joins the workers and the timer thread.
  void terminate();
  [[nodiscard]] bool is_terminated() const;

  [[nodiscard]] const Clock& clock() const;
  [[nodiscard]] unsigned workers() const;
  [[nodiscard]] ActorSystemStats stats() const;
  /// weft_actor_* metrics, for export.
  [[nodiscard]] MetricsRegistry& metrics() const;

  /// Deterministic mode only: runs actor turns until none is runnable (or max_turns); returns
  /// the number of turns run.
  std::size_t run_until_quiescent(std::size_t max_turns = 100'000'000);
  [[nodiscard]] bool is_deterministic() const;

  /// The /user guardian and the services behind it (used by spawn; not for applications).
  [[nodiscard]] detail::ActorCellBase& guardian() const;
  [[nodiscard]] detail::SystemServices& services() const;

 private:
  detail::SystemImpl* impl_;  // holds one reference; cells hold the others
};

}  // namespace weft
