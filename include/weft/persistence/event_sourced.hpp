// Event-sourced actors, as Akka Typed's EventSourcedBehavior: a command handler decides what
// happened (an Effect: persist events, then side effects), a pure event handler says what an
// event does to the state. Events are stored in a Journal before they are applied, so the state
// after a crash is exactly what replaying the journal gives.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "weft/actor.hpp"
#include "weft/core/codec.hpp"
#include "weft/persistence/journal.hpp"
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
/// version are stored with every event).
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
  /// Events read per journal round trip while recovering: memory stays bounded by this.
  std::size_t recovery_page = 4096;
  std::uint64_t writer_epoch = 0;
  /// Readers of events stored by older schemas (see upcasters.hpp).
  Upcasters<Event> upcasters;
};

namespace detail {

/// The actor's persistent state machine; shared with the journal callbacks it is waiting for,
/// which check `alive` because a restart replaces the behavior (and this core) while a
/// journal call may still be in flight.
template <class Command, class Event, class State>
struct EventSourcedCore {
  EventSourcedSpec<Command, Event, State> spec;
  State state;
  std::uint64_t last_sequence_nr = 0;
  bool recovering = true;
  bool persisting = false;
  bool alive = true;
};

template <class Command, class Event, class State>
class EventSourcedBehavior final : public AbstractBehavior<Command> {
  using Core = EventSourcedCore<Command, Event, State>;
  using EffectT = Effect<Event, State>;

 public:
  EventSourcedBehavior(ActorContext<Command>& ctx, EventSourcedSpec<Command, Event, State> spec)
      : core_(std::make_shared<Core>(Core{std::move(spec), {}, 0, true, false, true})),
        cell_(weft::detail::IntrusivePtr<weft::detail::ActorCell<Command>>::share(
            &static_cast<weft::detail::ActorCell<Command>&>(ctx))) {
    core_->state = core_->spec.empty_state;
    ctx.stash().set_capacity(100'000);
    read_page(cell_, core_, 1);
  }

  ~EventSourcedBehavior() override { core_->alive = false; }

  Behavior<Command> on_message(ActorContext<Command>& ctx, Command& cmd) override {
    if (core_->recovering || core_->persisting) {
      if (auto r = ctx.stash().stash(std::move(cmd)); !r) {
        return behaviors::failed(r.error().with_context(core_->spec.persistence_id));
      }
      return behaviors::same();
    }
    EffectT effect = core_->spec.command_handler(core_->state, cmd);
    return apply_effect(std::move(effect));
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
    auto& spec = core_->spec;
    AppendBatch batch;
    batch.persistence_id = spec.persistence_id;
    batch.expected_next_sequence_nr = core_->last_sequence_nr + 1;
    batch.writer_epoch = spec.writer_epoch;
    const auto now = cell_->system().clock().wall_ms();
    std::uint64_t seq = core_->last_sequence_nr;
    for (auto& e : effect.events()) {
      EventRecord r;
      r.persistence_id = spec.persistence_id;
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
    spec.journal->append(std::move(batch))
        .on_complete([core, cell = cell_, pending](const Result<std::uint64_t>& r) {
          on_actor(cell, core, [core, pending, r](weft::detail::ActorCellBase& c) {
            core->persisting = false;
            if (!r) {
              // Nothing was applied: supervision restarts (recovering from the journal) or stops.
              c.fail(
                  r.error().with_context("persist to '" + core->spec.persistence_id + "' failed"));
              return;
            }
            for (auto& e : pending->events()) {
              core->state = core->spec.event_handler(std::move(core->state), e);
              ++core->last_sequence_nr;
            }
            for (auto& f : pending->side_effects()) f(core->state);
            auto& cell = static_cast<weft::detail::ActorCell<Command>&>(c);
            if (pending->stop_after()) {
              cell.initiate_stop(std::nullopt);
              return;
            }
            ActorContext<Command>& ctx = cell;
            ctx.stash().unstash_all();
          });
        });
  }

  using CellPtr = weft::detail::IntrusivePtr<weft::detail::ActorCell<Command>>;

  /// Recovery, one page at a time: the next page is read only once this one is applied, so
  /// replaying a long history never holds more than `recovery_page` events.
  static void read_page(const CellPtr& cell, const std::shared_ptr<Core>& core,
                        std::uint64_t from) {
    auto& spec = core->spec;
    spec.journal->read(spec.persistence_id, from, UINT64_MAX, spec.recovery_page)
        .on_complete([core, cell](const Result<std::vector<EventRecord>>& page) {
          on_actor(cell, core, [core, cell, page](weft::detail::ActorCellBase& c) {
            if (!page) {
              c.fail(page.error().with_context("recovery of '" + core->spec.persistence_id + "'"));
              return;
            }
            for (auto& rec : *page) {
              auto ev = core->spec.upcasters.decode(rec.manifest, rec.version, rec.payload);
              if (!ev) {
                c.fail(ev.error().with_context("recovery of '" + core->spec.persistence_id +
                                               "' at sequence " + std::to_string(rec.sequence_nr)));
                return;
              }
              core->state = core->spec.event_handler(std::move(core->state), *ev);
              core->last_sequence_nr = rec.sequence_nr;
            }
            if (page->size() == core->spec.recovery_page) {
              read_page(cell, core, core->last_sequence_nr + 1);
              return;
            }
            core->recovering = false;
            if (core->spec.on_recovery_completed) core->spec.on_recovery_completed(core->state);
            ActorContext<Command>& ctx = static_cast<weft::detail::ActorCell<Command>&>(c);
            ctx.stash().unstash_all();
          });
        });
  }

  /// Runs `fn` on the actor's thread if the behavior that asked is still the live one; a throw
  /// (from a user event handler or side effect) becomes a failure of the actor.
  template <class F>
  static void on_actor(const weft::detail::IntrusivePtr<weft::detail::ActorCell<Command>>& cell,
                       const std::shared_ptr<Core>& core, F fn) {
    cell->post(new weft::detail::CallbackMsg(
        [core, fn = std::move(fn)](weft::detail::ActorCellBase& c) mutable {
          if (!core->alive || c.is_terminated()) return;
          try {
            fn(c);
          } catch (const std::exception& e) {
            c.fail(Error(Errc::actor_failed, "event-sourced actor '" + core->spec.persistence_id +
                                                 "' threw: " + e.what()));
          }
        }));
  }

  std::shared_ptr<Core> core_;
  CellPtr cell_;
};

}  // namespace detail

/// The behavior of an event-sourced actor: recovers its state from the journal before the
/// first command (commands that arrive meanwhile are stashed), then handles commands; while a
/// persist is in flight, later commands wait in the stash, so each command sees the state left
/// by the one before. A failed persist applies nothing and fails the actor: wrap the behavior
/// in behaviors::supervise(..., restart_with_backoff(...)) to recover and go on.
template <class Command, class Event, class State>
Behavior<Command> event_sourced(EventSourcedSpec<Command, Event, State> spec) {
  return behaviors::setup<Command>([spec = std::move(spec)](ActorContext<Command>& ctx) {
    return Behavior<Command>(
        std::make_shared<detail::EventSourcedBehavior<Command, Event, State>>(ctx, spec));
  });
}

}  // namespace weft::persistence
