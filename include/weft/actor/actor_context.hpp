// What a behavior can do besides handling its message: spawn and stop children, watch,
// timers, stash, message adapters, ask, and piping futures to itself. Only valid on the
// actor's own thread (inside its handlers).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "weft/actor/actor_ref.hpp"
#include "weft/actor/behavior.hpp"
#include "weft/actor/future.hpp"
#include "weft/actor/mailbox.hpp"
#include "weft/core/clock.hpp"

namespace weft {

struct SpawnOptions {
  MailboxConfig mailbox;
};

namespace detail {
template <class R, class M>
class MessageAdapter;
template <class M>
struct ThunkMsg;

/// Creates and starts a child cell under `parent`. An empty name makes an anonymous actor.
template <class C>
Result<ActorRef<C>> spawn_cell(ActorCellBase& parent, Behavior<C> behavior, std::string name,
                               const SpawnOptions& options);
/// Sends make(reply_to) to target and calls done exactly once: with the reply, a timeout, or at
/// once when the target is (or becomes) stopped.
template <class Res, class Req, class Make>
void start_ask(SystemServices& system, const ActorRef<Req>& target, Make make, Duration timeout,
               std::function<void(Result<Res>)> done);
/// Throws std::invalid_argument with the error's text; spawn() inside an actor thereby fails
/// the actor (supervision decides) and outside it reaches the caller.
[[noreturn]] void throw_spawn_error(const Error& e);
}  // namespace detail

/// Named timers of one actor. Starting a timer with a key that is active replaces it; a
/// cancelled timer's message is never delivered, even if it was already due.
template <class M>
class TimerScheduler {
 public:
  explicit TimerScheduler(detail::ActorCell<M>& cell) : cell_(cell) {}
  void start_single_timer(std::string key, M msg, Duration delay) {
    cell_.start_timer(std::move(key), std::move(msg), delay, Duration{0});
  }
  /// Fixed delay between deliveries. Requires a copyable M.
  void start_periodic_timer(std::string key, M msg, Duration interval) {
    cell_.start_timer(std::move(key), std::move(msg), interval, interval);
  }
  bool cancel(const std::string& key) { return cell_.cancel_timer(key); }
  void cancel_all() { cell_.cancel_all_timers_public(); }
  [[nodiscard]] bool is_active(const std::string& key) const { return cell_.timer_active(key); }

 private:
  detail::ActorCell<M>& cell_;
};

/// Messages put aside until the actor is ready for them (e.g. while it initializes).
template <class M>
class StashBuffer {
 public:
  explicit StashBuffer(detail::ActorCell<M>& cell) : cell_(cell) {}
  /// Fails with mailbox_full when the stash holds `capacity()` messages.
  Result<void> stash(M msg) {
    auto& x = cell_.typed_extras();
    if (x.stash.size() >= x.stash_capacity) {
      return fail(Errc::mailbox_full, "stash of " + cell_.path() + " is full (" +
                                          std::to_string(x.stash_capacity) + " messages)");
    }
    x.stash.push_back(std::move(msg));
    cell_.system().count_sent();  // handled again when unstashed: keeps mailbox depth balanced
    return {};
  }
  /// Stashed messages are handled next, in order, before anything else in the mailbox.
  void unstash_all() {
    auto& x = cell_.typed_extras();
    x.local.prepend(std::exchange(x.stash, {}));
  }
  [[nodiscard]] std::size_t size() const { return cell_.typed_extras().stash.size(); }
  [[nodiscard]] bool empty() const { return size() == 0; }
  [[nodiscard]] std::size_t capacity() const { return cell_.typed_extras().stash_capacity; }
  void set_capacity(std::size_t n) { cell_.typed_extras().stash_capacity = n; }

 private:
  detail::ActorCell<M>& cell_;
};

/// The context is a view of the actor's cell (the cell derives from it), so it costs no
/// memory per actor and stays valid for the actor's whole life: a behavior may keep it.
template <class M>
class ActorContext {
 public:
  ActorContext(const ActorContext&) = delete;
  ActorContext& operator=(const ActorContext&) = delete;

  [[nodiscard]] ActorRef<M> self() const { return cell().self(); }
  [[nodiscard]] std::string path() const { return base().path(); }
  [[nodiscard]] std::string name() const { return base().name(); }
  [[nodiscard]] const Clock& clock() const { return base().system().clock(); }

  /// Spawns a named child. A bad or duplicate name throws std::invalid_argument (inside a
  /// handler that is a failure of this actor); use try_spawn to get the error as a value.
  template <class C>
  ActorRef<C> spawn(Behavior<C> behavior, std::string name, SpawnOptions options = {}) {
    auto r = try_spawn<C>(std::move(behavior), std::move(name), options);
    if (!r) detail::throw_spawn_error(r.error());
    return std::move(*r);
  }
  template <class C>
  ActorRef<C> spawn_anonymous(Behavior<C> behavior, SpawnOptions options = {}) {
    return spawn<C>(std::move(behavior), std::string(), options);
  }
  template <class C>
  Result<ActorRef<C>> try_spawn(Behavior<C> behavior, std::string name, SpawnOptions options = {}) {
    return detail::spawn_cell<C>(base(), std::move(behavior), std::move(name), options);
  }

  /// Stops a child (children first, then its PostStop). Returns false if `child` is not one.
  template <class C>
  bool stop(const ActorRef<C>& child) {
    auto any = child.any();
    if (!any || any.cell()->parent() != &base()) return false;
    any.cell()->stop();
    return true;
  }
  [[nodiscard]] std::vector<AnyActorRef> children() const { return base().children(); }
  [[nodiscard]] AnyActorRef child(std::string_view name) const { return base().child(name); }

  /// Death watch: Terminated (or ChildFailed for a failed child) arrives as a signal when the
  /// target stops; at once if it already has.
  template <class C>
  void watch(const ActorRef<C>& target) {
    watch(target.any());
  }
  void watch(const AnyActorRef& target) { base().watch(target.cell()); }
  template <class C>
  void unwatch(const ActorRef<C>& target) {
    unwatch(target.any());
  }
  void unwatch(const AnyActorRef& target) { base().unwatch(target.cell()); }

  [[nodiscard]] TimerScheduler<M> timers() { return TimerScheduler<M>(cell()); }
  [[nodiscard]] StashBuffer<M> stash() { return StashBuffer<M>(cell()); }

  /// A reference that accepts R and delivers fn(R) to this actor, on this actor's thread.
  template <class R, class F>
  ActorRef<R> message_adapter(F fn) {
    return ActorRef<R>::from_receiver(detail::IntrusivePtr<detail::Receiver<R>>::adopt(
        new detail::MessageAdapter<R, M>(&cell(), std::function<M(R &&)>(std::move(fn)))));
  }

  /// Asks `target` with make(reply_to) and delivers map(Result<Res>) to this actor: the reply,
  /// a timeout error, or an actor_stopped error as soon as the target is known to be gone.
  /// `map` runs on this actor's thread, like a handler, so it may read the actor's state.
  template <class Res, class Req, class Make, class Map>
  void ask(const ActorRef<Req>& target, Make make, Duration timeout, Map map) {
    auto self = detail::IntrusivePtr<detail::ActorCell<M>>::share(&cell());
    detail::start_ask<Res>(
        base().system(), target, std::move(make), timeout,
        [self, map = std::move(map)](Result<Res> r) mutable {
          post_mapped(self, [map, r = std::move(r)]() mutable { return map(std::move(r)); });
        });
  }

  /// When `future` completes, delivers map(result) to this actor (map runs on its thread).
  template <class T, class Map>
  void pipe_to_self(Future<T> future, Map map) {
    auto self = detail::IntrusivePtr<detail::ActorCell<M>>::share(&cell());
    future.on_complete([self, map = std::move(map)](const Result<T>& r) {
      post_mapped(self, [map, r]() mutable { return map(r); });
    });
  }

 protected:
  ActorContext() = default;
  ~ActorContext() = default;

 private:
  detail::ActorCell<M>& cell() const {
    return const_cast<detail::ActorCell<M>&>(static_cast<const detail::ActorCell<M>&>(*this));
  }
  detail::ActorCellBase& base() const { return cell(); }
  template <class F>
  static void post_mapped(const detail::IntrusivePtr<detail::ActorCell<M>>& self, F produce);
};

}  // namespace weft
