// Event-sourced actors, as Akka Typed's EventSourcedBehavior: a command handler decides what
// happened (an Effect: persist events, then side effects), a pure event handler says what an
// event does to the state. Events are stored in a Journal before they are applied, so the state
// after a crash is exactly what replaying the journal gives.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "weft/actor.hpp"
#include "weft/core/codec.hpp"
#include "weft/persistence/journal.hpp"
#include "weft/persistence/recovery_permits.hpp"
#include "weft/persistence/snapshot_store.hpp"
#include "weft/persistence/upcasters.hpp"

namespace weft::persistence {

/// What a command handler decided. Build it with the functions in `effects`, then chain
/// then_run / then_reply / then_stop for side effects that run after the events are stored.
template <class Event, class State>
class Effect {
 public:
  enum class Kind : std::uint8_t { none, persist, unhandled, stop };

  Effect(Kind kind, std::vector<Event> events) : kind_(kind), events_(std::move(events)) {}

  /// Runs after the events are durable and applied, with the new state.
  template <class F>
  Effect then_run(F f) && {
    side_effects_.emplace_back(std::move(f));
    return std::move(*this);
  }
  /// Replies f(new state) to `to` once the events are durable and applied.
  template <class R, class F>
  Effect then_reply(ActorRef<R> to, F f) && {
    side_effects_.emplace_back(
        [to = std::move(to), f = std::move(f)](const State& s) { to.tell(f(s)); });
    return std::move(*this);
  }
  /// Stops the actor after the events are stored and the side effects ran.
  Effect then_stop() && {
    stop_after_ = true;
    return std::move(*this);
  }

  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  [[nodiscard]] std::vector<Event>& events() noexcept { return events_; }
  [[nodiscard]] const std::vector<std::function<void(const State&)>>& side_effects() const {
    return side_effects_;
  }
  [[nodiscard]] bool stop_after() const noexcept { return stop_after_ || kind_ == Kind::stop; }

 private:
  Kind kind_;
  std::vector<Event> events_;
  std::vector<std::function<void(const State&)>> side_effects_;
  bool stop_after_ = false;
};

namespace effects {
template <class State, class Event>
Effect<Event, State> persist(Event e) {
  std::vector<Event> v;
  v.push_back(std::move(e));
  return Effect<Event, State>(Effect<Event, State>::Kind::persist, std::move(v));
}
/// Persists several events atomically (all or none), in order.
template <class State, class Event>
Effect<Event, State> persist_all(std::vector<Event> events) {
  return Effect<Event, State>(Effect<Event, State>::Kind::persist, std::move(events));
}
template <class State, class Event>
Effect<Event, State> none() {
  return Effect<Event, State>(Effect<Event, State>::Kind::none, {});
}
template <class State, class Event>
Effect<Event, State> unhandled() {
  return Effect<Event, State>(Effect<Event, State>::Kind::unhandled, {});
}
template <class State, class Event>
Effect<Event, State> stop() {
  return Effect<Event, State>(Effect<Event, State>::Kind::stop, {});
}
}  // namespace effects

/// Everything that defines an event-sourced actor. Event needs a Codec (its manifest and
/// version are stored with every event); so does State when snapshots are on.
template <class Command, class Event, class State>
struct EventSourcedSpec {
  std::string persistence_id;
  State empty_state{};
  std::function<Effect<Event, State>(const State&, const Command&)> command_handler;
  std::function<State(State, const Event&)> event_handler;
  /// The journal; shared by every actor of the node and outliving them all.
  std::shared_ptr<Journal> journal;
  /// Tags to index an event under (events by tag feed the stream engine).
  std::function<std::vector<std::string>(const Event&)> tagger;
  /// Runs once the state is recovered, before the first command.
  std::function<void(const State&)> on_recovery_completed;
  /// Runs after each persisted event is applied (never while recovering), before the effect's
  /// side effects: with the persistence id, the event's sequence number, the event and the
  /// state right after it. One listener (a live feed, a projection) for many actors.
  std::function<void(const std::string& persistence_id, std::uint64_t sequence_nr, const Event&,
                     const State&)>
      on_event_applied;
  /// Akka's receiveSignal: the actor's lifecycle signals (PreStart once set up, PostStop,
  /// PreRestart; Terminated and ChildFailed of what it watches), with its persistence id and
  /// state. Runs on the actor's thread; a throw fails the actor, as from a handler.
  std::function<void(const std::string& persistence_id, const State&, const Signal&)>
      signal_handler;
  /// Events read per journal round trip while recovering: memory stays bounded by this.
  std::size_t recovery_page = 4096;
  std::uint64_t writer_epoch = 0;
  /// Readers of events stored by older schemas (see upcasters.hpp).
  Upcasters<Event> upcasters;

  // --- Snapshots: recovery loads the newest one and replays only the events after it. ---
  /// Where snapshots go (shared by the node's actors); null turns snapshots off.
  std::shared_ptr<SnapshotStore> snapshot_store;
  /// Snapshot once the sequence number reaches a multiple of this (after the persisted batch
  /// that crosses it); 0 means not by count.
  std::uint64_t snapshot_every = 0;
  /// And/or when this returns true, asked after each persisted event is applied (with the new
  /// state, the event and its sequence number).
  std::function<bool(const State&, const Event&, std::uint64_t)> snapshot_when;
  /// Snapshots kept per persistence id; older ones are deleted after each save. 0 keeps all.
  std::size_t keep_snapshots = 2;
  /// After a save, delete the events covered by the oldest snapshot still kept (not the newest:
  /// recovery falls back to an older snapshot when the newest is corrupted, and needs the
  /// events after it).
  bool delete_events_on_snapshot = false;
  /// Readers of snapshots stored by older State schemas. A snapshot that cannot be read is
  /// treated like a corrupted one: recovery falls back to an older snapshot or to the events.
  Upcasters<State> snapshot_upcasters;

  // --- Passivation: an idle actor stops, and its owner recreates it on the next message. ---
  /// Stop after this long without a command; 0 never does.
  Duration passivate_after{0};
  /// When set, an idle actor calls this (with the number of commands it has received) instead
  /// of stopping itself: an owner that routes its messages (PersistentEntities) stops it once
  /// no command is on its way, so none is lost.
  std::function<void(std::uint64_t commands_received)> request_passivation;

  // --- Bounded recovery. ---
  /// When set, recovery waits for one of its permits (commands are stashed meanwhile) and
  /// holds it until the state is recovered: at most `capacity` actors recover at once.
  std::shared_ptr<RecoveryPermits> recovery_permits;
};

namespace detail {

// Logging, out of line so spdlog stays out of public headers (src/persistence/event_sourced.cpp).
void log_snapshot_unusable(const std::string& path, const std::string& pid, const Error& error);
void log_snapshot_fallback(const std::string& path, const std::string& pid, std::uint64_t seq);
void log_snapshot_save_failed(const std::string& pid, std::uint64_t seq, const Error& error);
void log_snapshot_cleanup_failed(const std::string& pid, std::string_view what, const Error& error);
void log_recovery_corrupted(const std::string& path, const std::string& pid, std::uint64_t seq,
                            const Error& error);

/// Who an actor is: its spec, which actors of one kind may share (handlers, journal, options:
/// nothing per actor to copy), and what is its own. Kept by the actor's initial behavior for
/// restarts, and shared by each incarnation's core.
template <class Command, class Event, class State>
struct EventSourcedIdentity {
  std::shared_ptr<const EventSourcedSpec<Command, Event, State>> spec;
  std::string persistence_id;
  std::function<void(std::uint64_t)> request_passivation;
};

/// The actor's persistent state machine; shared with the journal, snapshot store, permit and
/// timer callbacks it is waiting for, which check `alive` because a restart replaces the
/// behavior (and this core) while such a call may still be in flight.
template <class Command, class Event, class State>
struct EventSourcedCore {
  using Identity = EventSourcedIdentity<Command, Event, State>;
  explicit EventSourcedCore(std::shared_ptr<const Identity> who)
      : identity(std::move(who)), state(identity->spec->empty_state) {}

  [[nodiscard]] const EventSourcedSpec<Command, Event, State>& spec() const noexcept {
    return *identity->spec;
  }
  [[nodiscard]] const std::string& pid() const noexcept { return identity->persistence_id; }

  std::shared_ptr<const Identity> identity;
  State state;
  std::uint64_t last_sequence_nr = 0;
  std::size_t page = 0;  // events asked for by the last recovery read
  bool recovering = true;
  bool persisting = false;
  std::atomic<bool> alive{true};   // also read by a permit grant on another actor's thread
  RecoveryPermits::Permit permit;  // held from the grant until recovery ends

  // The search for a readable snapshot below a corrupted one: load(lo) gave `best`,
  // load(hi) failed; bisect until they are adjacent. Only after corruption, so allocated then.
  struct SnapshotSearch {
    std::uint64_t lo = 0;
    std::uint64_t hi = 0;
    std::optional<State> best;
    std::uint64_t best_seq = 0;
  };
  std::unique_ptr<SnapshotSearch> search;
  // Snapshots known to be stored, oldest first: at most keep_snapshots of them (all if 0).
  std::vector<std::uint64_t> snapshot_seqs;
  std::uint64_t events_deleted_to = 0;

  TimePoint last_active{};
  std::uint64_t passivation_timer = 0;
  // Commands received, stashed ones counted once (the owner compares it with what it sent).
  std::uint64_t commands_received = 0;
  std::size_t stashed = 0;  // commands in the stash
};

template <class Command, class Event, class State>
class EventSourcedBehavior final : public AbstractBehavior<Command> {
  using Core = EventSourcedCore<Command, Event, State>;
  using CorePtr = std::shared_ptr<Core>;
  using Identity = EventSourcedIdentity<Command, Event, State>;
  using EffectT = Effect<Event, State>;
  using Cell = weft::detail::ActorCell<Command>;
  using CellPtr = weft::detail::IntrusivePtr<Cell>;
  static constexpr std::size_t kStashCapacity = 100'000;
  static constexpr std::size_t kFirstPage = 256;

 public:
  EventSourcedBehavior(ActorContext<Command>& ctx, std::shared_ptr<const Identity> identity)
      : core_(std::make_shared<Core>(std::move(identity))),
        cell_(CellPtr::share(&static_cast<Cell&>(ctx))) {
    start_recovery(cell_, core_);
  }

  ~EventSourcedBehavior() override {
    core_->alive.store(false, std::memory_order_release);
    if (core_->passivation_timer) cell_->system().cancel_timer(core_->passivation_timer);
  }

  Behavior<Command> on_message(ActorContext<Command>& ctx, Command& cmd) override {
    ++core_->commands_received;
    if (core_->spec().passivate_after.count() > 0) core_->last_active = ctx.clock().now();
    if (core_->recovering || core_->persisting) {
      auto stash = ctx.stash();
      if (core_->stashed == 0) stash.set_capacity(kStashCapacity);
      if (auto r = stash.stash(std::move(cmd)); !r) {
        return behaviors::failed(r.error().with_context(core_->pid()));
      }
      ++core_->stashed;
      return behaviors::same();
    }
    EffectT effect = core_->spec().command_handler(core_->state, cmd);
    return apply_effect(std::move(effect));
  }

  Behavior<Command> on_signal(ActorContext<Command>& ctx, const Signal& signal) override {
    const auto& handler = core_->spec().signal_handler;
    if (!handler) return AbstractBehavior<Command>::on_signal(ctx, signal);
    handler(core_->pid(), core_->state, signal);
    return behaviors::same();
  }

 private:
  Behavior<Command> apply_effect(EffectT effect) {
    switch (effect.kind()) {
      case EffectT::Kind::unhandled:
        return behaviors::unhandled();
      case EffectT::Kind::stop:
        run_side_effects(effect);
        return behaviors::stopped();
      case EffectT::Kind::none:
        run_side_effects(effect);
        return effect.stop_after() ? Behavior<Command>(behaviors::stopped())
                                   : Behavior<Command>(behaviors::same());
      case EffectT::Kind::persist:
        if (effect.events().empty()) {
          run_side_effects(effect);
          return effect.stop_after() ? Behavior<Command>(behaviors::stopped())
                                     : Behavior<Command>(behaviors::same());
        }
        persist(std::move(effect));
        return behaviors::same();
    }
    return behaviors::same();
  }

  void run_side_effects(const EffectT& effect) {
    for (auto& f : effect.side_effects()) f(core_->state);
  }

  void persist(EffectT effect) {
    const auto& spec = core_->spec();
    AppendBatch batch;
    batch.persistence_id = core_->pid();
    batch.expected_next_sequence_nr = core_->last_sequence_nr + 1;
    batch.writer_epoch = spec.writer_epoch;
    batch.events.reserve(effect.events().size());
    const auto now = cell_->system().clock().wall_ms();
    std::uint64_t seq = core_->last_sequence_nr;
    for (auto& e : effect.events()) {
      EventRecord r;
      r.persistence_id = core_->pid();
      r.sequence_nr = ++seq;
      r.manifest = std::string(Codec<Event>::manifest);
      r.version = Codec<Event>::version;
      r.payload = encode(e);
      if (spec.tagger) r.tags = spec.tagger(e);
      r.timestamp_ms = now;
      r.writer_epoch = spec.writer_epoch;
      batch.events.push_back(std::move(r));
    }
    core_->persisting = true;
    auto pending = std::make_shared<EffectT>(std::move(effect));
    auto core = core_;
    auto cell = cell_;
    spec.journal->append(std::move(batch))
        .on_complete([core, cell, pending](const Result<std::uint64_t>& r) {
          on_actor(cell, core, [core, cell, pending, r] {
            core->persisting = false;
            if (!r) {
              // Nothing was applied: supervision restarts (recovering from the journal) or stops.
              cell->fail(r.error().with_context("persist to '" + core->pid() + "' failed"));
              return;
            }
            const auto& spec = core->spec();
            bool snapshot_due = false;
            for (auto& e : pending->events()) {
              core->state = spec.event_handler(std::move(core->state), e);
              ++core->last_sequence_nr;
              snapshot_due = snapshot_due || should_snapshot(*core, e);
              if (spec.on_event_applied) {
                spec.on_event_applied(core->pid(), core->last_sequence_nr, e, core->state);
              }
            }
            for (auto& f : pending->side_effects()) f(core->state);
            if (snapshot_due) save_snapshot(cell, core);
            if (pending->stop_after()) {
              cell->initiate_stop(std::nullopt);
              return;
            }
            unstash(cell, core);
          });
        });
  }

  // --- recovery: permit, snapshot, events ---

  /// Every step runs on the actor's thread, posted (never inside setup, where a failure
  /// could not be handled yet).
  static void start_recovery(const CellPtr& cell, const CorePtr& core) {
    const auto& permits = core->spec().recovery_permits;
    if (!permits) {
      on_actor(cell, core, [cell, core] { load_snapshot(cell, core); });
      return;
    }
    permits->acquire([cell, core](RecoveryPermits::Permit permit) mutable {
      if (!core->alive.load(std::memory_order_acquire)) return;  // gone: the permit goes back
      cell->post(new weft::detail::CallbackMsg(
          [cell, core, permit = std::move(permit)](weft::detail::ActorCellBase&) mutable {
            // If the actor is gone by now, the permit goes back when this message is dropped.
            run_guarded(*cell, *core, [&] {
              core->permit = std::move(permit);
              load_snapshot(cell, core);
            });
          }));
    });
  }

  static void load_snapshot(const CellPtr& cell, const CorePtr& core) {
    const auto& spec = core->spec();
    if (!spec.snapshot_store) {
      replay(cell, core, 1);
      return;
    }
    if constexpr (!Codable<State>) {
      cell->fail(Error(Errc::invalid_argument, "event-sourced actor '" + core->pid() +
                                                   "' has a snapshot store but its State has "
                                                   "no Codec (WEFT_CODEC)"));
    } else {
      const auto* s = core->search.get();
      const std::uint64_t max = s ? s->lo + (s->hi - s->lo) / 2 : UINT64_MAX;
      when_ready(cell, core, spec.snapshot_store->load_latest(core->pid(), {max}),
                 [cell, core, max](const Result<std::optional<SnapshotRecord>>& r) {
                   on_snapshot_loaded(cell, core, max, r);
                 });
    }
  }

  /// A corrupted (or unreadable) snapshot is not fatal: the store cannot list snapshots, so
  /// bisect on max_sequence_nr for a readable one below it (at most 64 loads, and only after
  /// corruption), or recover from the events alone.
  static void on_snapshot_loaded(const CellPtr& cell, const CorePtr& core, std::uint64_t max,
                                 const Result<std::optional<SnapshotRecord>>& r) {
    const auto& spec = core->spec();
    const auto& pid = core->pid();
    if (!r && r.error().code() != Errc::corrupted) {
      cell->fail(r.error().with_context("recovery of '" + pid + "': loading its snapshot"));
      return;
    }
    std::optional<State> state;
    std::uint64_t seq = 0;
    std::optional<Error> bad;
    std::uint64_t bad_at = max;
    if (!r) {
      bad = r.error();
    } else if (*r) {
      const SnapshotRecord& rec = **r;
      auto decoded = spec.snapshot_upcasters.decode(rec.manifest, rec.version, rec.payload);
      if (decoded) {
        state = std::move(*decoded);
        seq = rec.meta.sequence_nr;
      } else {
        bad = decoded.error().with_context("snapshot of '" + pid + "' at sequence " +
                                           std::to_string(rec.meta.sequence_nr));
        bad_at = rec.meta.sequence_nr;
      }
    }
    if (!bad && !core->search) {
      recover_from(cell, core, std::move(state), seq);
      return;
    }
    if (bad) {
      if (!core->search) {
        log_snapshot_unusable(cell->path(), pid, *bad);
        core->search = std::make_unique<typename Core::SnapshotSearch>();
      }
      core->search->hi = bad_at;
    } else {
      core->search->lo = max;
      core->search->best = std::move(state);
      core->search->best_seq = seq;
    }
    if (core->search->hi > core->search->lo + 1) {
      load_snapshot(cell, core);
      return;
    }
    auto found = std::move(*core->search);
    core->search.reset();
    log_snapshot_fallback(cell->path(), pid, found.best ? found.best_seq : 0);
    recover_from(cell, core, std::move(found.best), found.best_seq);
  }

  static void recover_from(const CellPtr& cell, const CorePtr& core, std::optional<State> state,
                           std::uint64_t seq) {
    if (state) {
      core->state = std::move(*state);
      core->last_sequence_nr = seq;
      core->snapshot_seqs.assign(1, seq);
    }
    replay(cell, core, core->last_sequence_nr + 1);
  }

  /// One page at a time: the next page is read only once this one is applied and released,
  /// so replaying a long history never holds more than `recovery_page` events. Pages start
  /// small and double: most recoveries read a short tail after a snapshot, and a journal may
  /// size its result for the page it is asked for.
  static void replay(const CellPtr& cell, const CorePtr& core, std::uint64_t from) {
    const auto& spec = core->spec();
    core->page = core->page == 0 ? std::min(spec.recovery_page, kFirstPage)
                                 : std::min(spec.recovery_page, core->page * 2);
    when_ready(
        cell, core, spec.journal->read_page(core->pid(), from, UINT64_MAX, core->page),
        [cell, core, from](const Result<EventPage>& page) { apply_page(cell, core, from, page); });
  }

  // The recovery hot path (weft-bench journal --scenario recover): the page is views into the
  // journal's bytes (no copy or allocation per event), each payload decoded straight from them.
  static void apply_page(const CellPtr& cell, const CorePtr& core, std::uint64_t from,
                         const Result<EventPage>& page) {
    const auto& spec = core->spec();
    if (!page) {
      recovery_failed(cell, core, page.error(), from);
      return;
    }
    std::uint64_t expected = from;
    for (const EventView& rec : page->events()) {
      if (rec.sequence_nr != expected) [[unlikely]] {
        recovery_failed(
            cell, core,
            Error(Errc::corrupted,
                  "event " + std::to_string(expected) + " is missing (the journal goes on at " +
                      std::to_string(rec.sequence_nr) + "); deleted with no snapshot covering it?"),
            expected);
        return;
      }
      auto ev = spec.upcasters.decode(rec.manifest, rec.version, rec.payload);
      if (!ev) [[unlikely]] {
        cell->fail(ev.error().with_context("recovery of '" + core->pid() + "' at sequence " +
                                           std::to_string(expected)));
        return;
      }
      core->state = spec.event_handler(std::move(core->state), *ev);
      core->last_sequence_nr = expected++;
    }
    if (!page->empty() && page->size() >= core->page) {
      // Posted, not called: `page` is released first, and the stack does not grow per page.
      on_actor(cell, core, [cell, core] { replay(cell, core, core->last_sequence_nr + 1); });
      return;
    }
    complete_recovery(cell, core);
  }

  /// Corrupted data does not heal: a restart would fail the same way, forever. Stop with the
  /// error instead (watchers get ChildFailed); anything else fails as usual, so supervision
  /// decides (an I/O error may pass).
  static void recovery_failed(const CellPtr& cell, const CorePtr& core, const Error& error,
                              std::uint64_t seq) {
    core->permit.reset();
    auto e =
        error.with_context("recovery of '" + core->pid() + "' at sequence " + std::to_string(seq));
    if (error.code() == Errc::corrupted) {
      log_recovery_corrupted(cell->path(), core->pid(), seq, error);
      cell->initiate_stop(std::move(e));
      return;
    }
    cell->fail(std::move(e));
  }

  static void complete_recovery(const CellPtr& cell, const CorePtr& core) {
    const auto& spec = core->spec();
    core->recovering = false;
    core->permit.reset();
    if (spec.on_recovery_completed) spec.on_recovery_completed(core->state);
    if (spec.passivate_after.count() > 0) {
      core->last_active = cell->system().clock().now();
      arm_passivation(cell, core, spec.passivate_after);
    }
    unstash(cell, core);
  }

  // Touches the stash only if something was stashed: most recoveries stash nothing, and the
  // stash lives in per-actor extras allocated on first use (weft-bench journal: recover).
  static void unstash(const CellPtr& cell, const CorePtr& core) {
    if (core->stashed == 0) return;
    core->commands_received -= core->stashed;  // counted again when handled
    core->stashed = 0;
    static_cast<ActorContext<Command>&>(*cell).stash().unstash_all();
  }

  // --- snapshots ---

  static bool should_snapshot(const Core& core, const Event& e) {
    const auto& spec = core.spec();
    if (!spec.snapshot_store) return false;
    if (spec.snapshot_every > 0 && core.last_sequence_nr % spec.snapshot_every == 0) return true;
    return spec.snapshot_when && spec.snapshot_when(core.state, e, core.last_sequence_nr);
  }

  /// The state is encoded here, on the actor's thread; the store writes it on its own time and
  /// the actor goes on at once. A failed save only logs: the events are safe in the journal.
  static void save_snapshot(const CellPtr& cell, const CorePtr& core) {
    if constexpr (Codable<State>) {
      const auto& spec = core->spec();
      const std::uint64_t seq = core->last_sequence_nr;
      SnapshotRecord rec;
      rec.meta.persistence_id = core->pid();
      rec.meta.sequence_nr = seq;
      rec.meta.timestamp_ms = cell->system().clock().wall_ms();
      rec.manifest = std::string(Codec<State>::manifest);
      rec.version = Codec<State>::version;
      rec.payload = weft::encode(core->state);
      spec.snapshot_store->save(std::move(rec))
          .on_complete([cell, core, seq](const Result<std::monostate>& r) {
            if (!r) {
              log_snapshot_save_failed(core->pid(), seq, r.error());
              return;
            }
            on_actor(cell, core, [cell, core, seq] { snapshot_saved(cell, core, seq); });
          });
    }
  }

  static void snapshot_saved(const CellPtr&, const CorePtr& core, std::uint64_t seq) {
    const auto& spec = core->spec();
    const auto& pid = core->pid();
    auto& seqs = core->snapshot_seqs;
    if (seqs.empty() || seqs.back() < seq) seqs.push_back(seq);
    if (spec.keep_snapshots > 0) {
      if (seqs.size() > spec.keep_snapshots) {
        seqs.erase(seqs.begin(), seqs.end() - static_cast<std::ptrdiff_t>(spec.keep_snapshots));
      }
      spec.snapshot_store->delete_older(pid, spec.keep_snapshots)
          .on_complete([core](const Result<std::size_t>& r) {
            if (!r) log_snapshot_cleanup_failed(core->pid(), "snapshots", r.error());
          });
    }
    if (spec.delete_events_on_snapshot && seqs.front() > core->events_deleted_to) {
      core->events_deleted_to = seqs.front();
      spec.journal->delete_to(pid, seqs.front())
          .on_complete([core](const Result<std::uint64_t>& r) {
            if (!r) log_snapshot_cleanup_failed(core->pid(), "events", r.error());
          });
    }
  }

  // --- passivation ---

  static void arm_passivation(const CellPtr& cell, const CorePtr& core, Duration delay) {
    core->passivation_timer = cell->system().schedule_timer(
        delay, [cell, core] { on_actor(cell, core, [cell, core] { check_idle(cell, core); }); });
  }

  /// One timer per actor, re-armed for the rest of the idle period rather than on every
  /// command: commands only stamp `last_active`.
  static void check_idle(const CellPtr& cell, const CorePtr& core) {
    const auto& spec = core->spec();
    core->passivation_timer = 0;
    const Duration after = spec.passivate_after;
    const bool busy = core->recovering || core->persisting || core->stashed > 0;
    const auto idle =
        std::chrono::duration_cast<Duration>(cell->system().clock().now() - core->last_active);
    if (busy || idle < after) {
      arm_passivation(cell, core, busy ? after : after - idle);
      return;
    }
    if (const auto& request = core->identity->request_passivation) {
      request(core->commands_received);
      arm_passivation(cell, core, after);  // asks again if the owner declined
      return;
    }
    cell->initiate_stop(std::nullopt);
  }

  // --- running on the actor's thread ---

  /// Calls fn(result) on the actor's thread without copying the result: at once when the
  /// future is already complete (journals that read on the calling thread; every caller is on
  /// the actor's thread), else once posted there.
  template <class T, class F>
  static void when_ready(const CellPtr& cell, const CorePtr& core, Future<T> future, F fn) {
    if (future.is_ready()) {
      future.on_complete([&fn](const Result<T>& r) { fn(r); });
      return;
    }
    future.on_complete([cell, core, future, fn](const Result<T>&) mutable {
      // `future` refers to its own state until now; moving it out here breaks that cycle.
      on_actor(cell, core, [future = std::move(future), fn = std::move(fn)]() mutable {
        future.on_complete([&fn](const Result<T>& r) { fn(r); });
      });
    });
  }

  /// Runs `fn` on the actor's thread if the behavior that asked is still the live one.
  template <class F>
  static void on_actor(const CellPtr& cell, const CorePtr& core, F fn) {
    cell->post(new weft::detail::CallbackMsg(
        [core, fn = std::move(fn)](weft::detail::ActorCellBase& c) mutable {
          run_guarded(static_cast<Cell&>(c), *core, fn);
        }));
  }

  /// A throw (from a user event handler, side effect or hook) becomes a failure of the actor.
  template <class F>
  static void run_guarded(Cell& cell, Core& core, F&& fn) {
    if (!core.alive.load(std::memory_order_relaxed) || cell.is_terminated()) return;
    try {
      fn();
    } catch (const std::exception& e) {
      cell.fail(
          Error(Errc::actor_failed, "event-sourced actor '" + core.pid() + "' threw: " + e.what()));
    }
  }

  CorePtr core_;
  CellPtr cell_;
};

/// The behavior of the actor `identity` (each restart sets up a fresh core from it).
template <class Command, class Event, class State>
Behavior<Command> event_sourced_as(
    std::shared_ptr<const EventSourcedIdentity<Command, Event, State>> identity) {
  return behaviors::setup<Command>([identity = std::move(identity)](ActorContext<Command>& ctx) {
    return Behavior<Command>(
        std::make_shared<EventSourcedBehavior<Command, Event, State>>(ctx, identity));
  });
}

}  // namespace detail

/// The behavior of an event-sourced actor: recovers its state before the first command (the
/// newest readable snapshot, then the events after it; commands that arrive meanwhile are
/// stashed), then handles commands; while a persist is in flight, later commands wait in the
/// stash, so each command sees the state left by the one before. A failed persist applies
/// nothing and fails the actor: wrap the behavior in behaviors::supervise(...,
/// restart_with_backoff(...)) to recover and go on. Recovery that meets corrupted data
/// (Errc::corrupted: a broken integrity chain, a missing event) stops the actor with that
/// error instead, whatever the strategy: restarting would only fail again.
template <class Command, class Event, class State>
Behavior<Command> event_sourced(EventSourcedSpec<Command, Event, State> spec) {
  using Identity = detail::EventSourcedIdentity<Command, Event, State>;
  auto identity = std::make_shared<Identity>();
  identity->persistence_id = spec.persistence_id;
  identity->request_passivation = std::move(spec.request_passivation);
  identity->spec = std::make_shared<const EventSourcedSpec<Command, Event, State>>(std::move(spec));
  return detail::event_sourced_as<Command, Event, State>(std::move(identity));
}

/// An event-sourced actor of a kind whose actors all share `spec` (handlers, journal, options):
/// it persists as `spec->persistence_id + id` (a type name as the prefix, as Akka's
/// PersistenceId.of(typeName, entityId) and event_sourced_entities). Nothing of the spec is
/// copied per actor, which matters when a node spawns (and recovers) many thousands of them.
template <class Command, class Event, class State>
Behavior<Command> event_sourced(std::shared_ptr<const EventSourcedSpec<Command, Event, State>> spec,
                                std::string_view id) {
  using Identity = detail::EventSourcedIdentity<Command, Event, State>;
  auto identity = std::make_shared<Identity>();
  identity->persistence_id.reserve(spec->persistence_id.size() + id.size());
  identity->persistence_id.append(spec->persistence_id).append(id);
  identity->request_passivation = spec->request_passivation;
  identity->spec = std::move(spec);
  return detail::event_sourced_as<Command, Event, State>(std::move(identity));
}

}  // namespace weft::persistence
