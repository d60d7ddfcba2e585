// Lifecycle signals delivered to behaviors beside their messages.
#pragma once

#include <variant>

#include "weft/actor/actor_ref.hpp"
#include "weft/core/result.hpp"

namespace weft {

/// Before the first message, after the behavior is set up (also after each restart).
struct PreStart {};
/// After the actor and all its children have stopped; the last thing a behavior sees.
struct PostStop {};
/// Before a supervised restart replaces the behavior.
struct PreRestart {};
/// A watched actor stopped normally.
struct Terminated {
  AnyActorRef ref;
};
/// A watched child stopped because it failed.
struct ChildFailed {
  AnyActorRef ref;
  Error error;
};

using Signal = std::variant<PreStart, PostStop, PreRestart, Terminated, ChildFailed>;

}  // namespace weft
