// Forward declarations for the actor layer.
#pragma once

namespace weft {

class ActorSystem;
struct ActorSystemConfig;
class AnyActorRef;
template <class M>
class ActorRef;
template <class M>
class Behavior;
template <class M>
class ActorContext;
template <class T>
class Future;
template <class T>
class Promise;
struct SupervisorStrategy;
struct MailboxConfig;
struct SpawnOptions;

namespace detail {
class ActorCellBase;
template <class M>
class ActorCell;
template <class M>
class Receiver;
class SystemServices;
}  // namespace detail

}  // namespace weft
