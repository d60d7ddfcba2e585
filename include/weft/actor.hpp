// The actor layer in one include: ActorSystem, ActorRef, behaviors, context, supervision.
#pragma once

#include "weft/actor/actor_context.hpp"
#include "weft/actor/actor_ref.hpp"
#include "weft/actor/actor_system.hpp"
#include "weft/actor/behavior.hpp"
#include "weft/actor/future.hpp"
#include "weft/actor/mailbox.hpp"
#include "weft/actor/signal.hpp"
#include "weft/actor/supervision.hpp"
