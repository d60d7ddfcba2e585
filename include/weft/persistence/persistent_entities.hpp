// PersistentEntities: one actor that owns many entities by id, as the local part of Akka
// Cluster Sharding. It spawns an entity on its first message, forwards to it, and lets it
// passivate when idle: the entity stops, and the next message for its id spawns it again
// (recovering its state). Messages that arrive while an entity stops wait here and go to the
// next incarnation, so passivation loses nothing.
//
//   auto entities = system.spawn(event_sourced_entities(
//       [journal](const std::string& id) { return counter_spec("counter-" + id, journal); }));
//   entities.tell(EntityEnvelope<Cmd>{"42", Add{1}});
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "weft/actor.hpp"
#include "weft/persistence/event_sourced.hpp"

namespace weft::persistence {

/// A command for the entity `entity_id`.
template <class Command>
struct EntityEnvelope {
  std::string entity_id;
  Command command;
};

/// Sent by an idle entity (through EntityContext::request_passivation): it has received
/// `commands_received` commands. Stopped only if that is everything sent to it.
struct PassivationRequest {
  std::string entity_id;
  std::uint64_t incarnation = 0;
  std::uint64_t commands_received = 0;
};

template <class Command>
using EntitiesMsg = std::variant<EntityEnvelope<Command>, PassivationRequest>;

/// What an entity is created with.
struct EntityContext {
  std::string entity_id;
  /// Set it as the entity's EventSourcedSpec::request_passivation.
  std::function<void(std::uint64_t)> request_passivation;
};

namespace detail {

template <class Command>
class EntitiesBehavior final : public AbstractBehavior<EntitiesMsg<Command>> {
  using Msg = EntitiesMsg<Command>;

 public:
  // By value: a factory may keep parts of the context (moved, not copied, per entity).
  using Factory = std::function<Behavior<Command>(EntityContext)>;
  explicit EntitiesBehavior(Factory make_entity) : make_entity_(std::move(make_entity)) {}

  Behavior<Msg> on_message(ActorContext<Msg>& ctx, Msg& msg) override {
    if (auto* env = std::get_if<EntityEnvelope<Command>>(&msg)) {
      auto& e = entities_[env->entity_id];
      if (e.passivating) {
        e.buffer.push_back(std::move(env->command));
      } else {
        if (!e.ref) spawn(ctx, env->entity_id, e);
        forward(e, std::move(env->command));
      }
      return behaviors::same();
    }
    auto& req = std::get<PassivationRequest>(msg);
    auto it = entities_.find(req.entity_id);
    if (it == entities_.end()) return behaviors::same();
    auto& e = it->second;
    // A command still on its way would be lost with the entity: decline, it asks again later.
    if (!e.ref || e.passivating || e.incarnation != req.incarnation ||
        e.forwarded != req.commands_received) {
      return behaviors::same();
    }
    e.passivating = true;
    ctx.stop(e.ref);
    return behaviors::same();
  }

  Behavior<Msg> on_signal(ActorContext<Msg>& ctx, const Signal& signal) override {
    const AnyActorRef* who = nullptr;
    if (auto* t = std::get_if<Terminated>(&signal)) who = &t->ref;
    if (auto* f = std::get_if<ChildFailed>(&signal)) who = &f->ref;
    if (!who) return AbstractBehavior<Msg>::on_signal(ctx, signal);
    auto id_it = by_cell_.find(who->cell());
    if (id_it == by_cell_.end()) return behaviors::same();
    const std::string id = std::move(id_it->second);
    by_cell_.erase(id_it);
    auto& e = entities_[id];
    e.ref = ActorRef<Command>();
    e.passivating = false;
    if (e.buffer.empty()) {
      entities_.erase(id);
      return behaviors::same();
    }
    // The handoff: what arrived while it stopped goes, in order, to the next incarnation.
    spawn(ctx, id, e);
    auto buffered = std::move(e.buffer);
    e.buffer.clear();
    for (auto& cmd : buffered) forward(e, std::move(cmd));
    return behaviors::same();
  }

 private:
  struct Entity {
    ActorRef<Command> ref;  // empty while no incarnation runs
    std::uint64_t incarnation = 0;
    std::uint64_t forwarded = 0;  // commands sent to this incarnation
    bool passivating = false;
    std::vector<Command> buffer;  // arrived while passivating
  };

  void spawn(ActorContext<Msg>& ctx, const std::string& id, Entity& e) {
    e.incarnation = next_incarnation_++;
    e.forwarded = 0;
    EntityContext ec{id, [self = ctx.self(), id, inc = e.incarnation](std::uint64_t received) {
                       self.tell(PassivationRequest{id, inc, received});
                     }};
    // Anonymous: an id may hold any character, and the old incarnation's name could still be
    // taken while it stops.
    e.ref = ctx.template spawn_anonymous<Command>(make_entity_(std::move(ec)));
    ctx.watch(e.ref);
    by_cell_[e.ref.any().cell()] = id;
  }

  static void forward(Entity& e, Command cmd) {
    ++e.forwarded;
    e.ref.tell(std::move(cmd));
  }

  Factory make_entity_;
  std::unordered_map<std::string, Entity> entities_;
  // Running incarnations by cell, for Terminated (the cell stays alive while `ref` holds it).
  std::unordered_map<const weft::detail::ActorCellBase*, std::string> by_cell_;
  std::uint64_t next_incarnation_ = 1;
};

template <class Spec>
struct SpecTraits;
template <class Command, class Event, class State>
struct SpecTraits<EventSourcedSpec<Command, Event, State>> {
  using command_type = Command;
};

}  // namespace detail

/// An entity manager. `make_entity` builds the behavior of one incarnation of an entity; it
/// runs on the manager's thread. Entities must be reached only through the manager (a command
/// sent to an entity directly is not counted, so that entity would never be passivated). Only
/// passivation hands commands over: an entity that stops by itself (then_stop, a failure)
/// loses what was already on its way to it, as in Akka, and the next command starts it again.
template <class Command>
Behavior<EntitiesMsg<Command>> persistent_entities(
    std::function<Behavior<Command>(EntityContext)> make_entity) {
  using B = detail::EntitiesBehavior<Command>;
  return behaviors::setup<EntitiesMsg<Command>>(
      [make_entity = std::move(make_entity)](ActorContext<EntitiesMsg<Command>>&) {
        return Behavior<EntitiesMsg<Command>>(std::make_shared<B>(make_entity));
      });
}

/// An entity manager of event-sourced entities: `make_spec(entity_id)` returns the entity's
/// EventSourcedSpec (with passivate_after set for it to passivate); the manager wires its
/// passivation to itself.
template <class F, class Spec = std::invoke_result_t<F&, const std::string&>,
          class Command = typename detail::SpecTraits<Spec>::command_type>
Behavior<EntitiesMsg<Command>> event_sourced_entities(F make_spec) {
  return persistent_entities<Command>(
      [make_spec = std::move(make_spec)](const EntityContext& ec) mutable {
        Spec spec = make_spec(ec.entity_id);
        spec.request_passivation = ec.request_passivation;
        return event_sourced(std::move(spec));
      });
}

/// An entity manager of event-sourced entities of one kind that all share `spec` (handlers,
/// journal, options): entity `id` persists as `spec->persistence_id + id` (a type name as the
/// prefix, as Akka's PersistenceId.of(typeName, entityId)). Nothing of the spec is copied per
/// entity, so an entity costs little more than its state (weft-bench node --scenario
/// actors_100k); handlers that need the entity's id get it from on_event_applied and
/// signal_handler, which are passed the persistence id.
template <class Command, class Event, class State>
Behavior<EntitiesMsg<Command>> event_sourced_entities(
    std::shared_ptr<const EventSourcedSpec<Command, Event, State>> spec) {
  using Identity = detail::EventSourcedIdentity<Command, Event, State>;
  return persistent_entities<Command>([spec = std::move(spec)](EntityContext ec) {
    auto identity = std::make_shared<Identity>();
    identity->spec = spec;
    identity->persistence_id = spec->persistence_id + ec.entity_id;
    identity->request_passivation = std::move(ec.request_passivation);
    return detail::event_sourced_as<Command, Event, State>(std::move(identity));
  });
}

}  // namespace weft::persistence
