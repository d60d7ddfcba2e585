// Behaviors: what an actor does with its next message, as in Akka Typed.
//
// A handler returns the behavior for the next message: `same()`, a new behavior (become),
// `stopped()`, `unhandled()` or `failed(error)`. State lives either in a class derived from
// AbstractBehavior<M> or in what a `setup` lambda captures; `setup` runs again on restart, so
// a restarted actor starts from fresh state.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "weft/actor/fwd.hpp"
#include "weft/actor/signal.hpp"
#include "weft/actor/supervision.hpp"
#include "weft/core/result.hpp"

namespace weft {

namespace detail {
enum class BehaviorTag : std::uint8_t {
  empty,       // default-constructed; not a valid behavior to run
  live,        // impl handles messages
  same,        // keep the current behavior
  stopped,     // stop the actor
  unhandled,   // the message was not understood (counted)
  failed,      // fail with error (supervision decides)
  deferred,    // setup: impl is created from the context when the actor starts
  supervised,  // impl wraps another behavior with a supervisor strategy
};
}  // namespace detail

/// A behavior written as a class: override on_message (and on_signal if needed). Member
/// fields are the actor's state; only the actor's own thread ever touches them.
template <class M>
class AbstractBehavior {
 public:
  using message_type = M;
  virtual ~AbstractBehavior() = default;
  virtual Behavior<M> on_message(ActorContext<M>& ctx, M& msg) = 0;
  virtual Behavior<M> on_signal(ActorContext<M>& ctx, const Signal& signal);
};

namespace detail {
/// Holds the error of a `failed(error)` directive.
struct FailureHolder {
  explicit FailureHolder(Error e) : error(std::move(e)) {}
  Error error;
};
}  // namespace detail

/// A directive (same, stopped, unhandled, failed) that converts to any Behavior<M>.
struct BehaviorDirective {
  detail::BehaviorTag tag;
  std::shared_ptr<detail::FailureHolder> failure;
};

template <class M>
class Behavior {
 public:
  Behavior() = default;
  Behavior(BehaviorDirective d)  // NOLINT(google-explicit-constructor): `return same();`
      : payload_(std::move(d.failure)), tag_(d.tag) {}
  explicit Behavior(std::shared_ptr<AbstractBehavior<M>> impl,
                    detail::BehaviorTag tag = detail::BehaviorTag::live)
      : payload_(std::move(impl)), tag_(tag) {}

  [[nodiscard]] detail::BehaviorTag tag() const noexcept { return tag_; }
  /// The handler object (live, deferred and supervised behaviors).
  [[nodiscard]] AbstractBehavior<M>* impl() const noexcept {
    return tag_ == detail::BehaviorTag::failed ? nullptr
                                               : static_cast<AbstractBehavior<M>*>(payload_.get());
  }
  [[nodiscard]] std::shared_ptr<AbstractBehavior<M>> shared_impl() const noexcept {
    if (tag_ == detail::BehaviorTag::failed) return nullptr;
    return std::static_pointer_cast<AbstractBehavior<M>>(payload_);
  }
  [[nodiscard]] const Error* error() const noexcept {
    return tag_ == detail::BehaviorTag::failed
               ? &static_cast<const detail::FailureHolder*>(payload_.get())->error
               : nullptr;
  }

 private:
  // Shared because a spawn may reuse one behavior for many actors and a restart reuses the
  // initial behavior; a live impl with state is created per actor by `setup` or `make`.
  // Holds an AbstractBehavior<M>, or a FailureHolder for `failed`.
  std::shared_ptr<void> payload_;
  detail::BehaviorTag tag_ = detail::BehaviorTag::empty;
};

template <class M>
Behavior<M> AbstractBehavior<M>::on_signal(ActorContext<M>&, const Signal&) {
  return BehaviorDirective{detail::BehaviorTag::unhandled, nullptr};
}

namespace detail {

template <class M, class F, class G>
class ReceiveBehavior final : public AbstractBehavior<M> {
 public:
  ReceiveBehavior(F f, G g) : on_message_(std::move(f)), on_signal_(std::move(g)) {}
  Behavior<M> on_message(ActorContext<M>& ctx, M& msg) override { return on_message_(ctx, msg); }
  Behavior<M> on_signal(ActorContext<M>& ctx, const Signal& s) override {
    if constexpr (std::is_same_v<G, std::nullptr_t>) {
      return AbstractBehavior<M>::on_signal(ctx, s);
    } else {
      return on_signal_(ctx, s);
    }
  }

 private:
  F on_message_;
  G on_signal_;
};

/// A behavior created from the context when the actor starts (see behaviors::setup).
template <class M>
class DeferredBehavior : public AbstractBehavior<M> {
 public:
  virtual Behavior<M> create(ActorContext<M>& ctx) const = 0;
  Behavior<M> on_message(ActorContext<M>&, M&) override {
    return BehaviorDirective{BehaviorTag::unhandled, nullptr};
  }
};

// The factory is stored as it is, not in a std::function: every spawned actor keeps its
// initial behavior (for restarts), so a second allocation here is paid per actor.
template <class M, class F>
class DeferredBehaviorOf final : public DeferredBehavior<M> {
 public:
  explicit DeferredBehaviorOf(F f) : factory_(std::move(f)) {}
  Behavior<M> create(ActorContext<M>& ctx) const override { return factory_(ctx); }

 private:
  mutable F factory_;  // a `mutable` lambda may keep state across restarts
};

template <class M>
class SupervisedBehavior final : public AbstractBehavior<M> {
 public:
  SupervisedBehavior(Behavior<M> inner, SupervisorStrategy s)
      : inner_(std::move(inner)), strategy_(s) {}
  [[nodiscard]] const Behavior<M>& inner() const { return inner_; }
  [[nodiscard]] const SupervisorStrategy& strategy() const { return strategy_; }
  Behavior<M> on_message(ActorContext<M>&, M&) override {
    return BehaviorDirective{BehaviorTag::unhandled, nullptr};
  }

 private:
  Behavior<M> inner_;
  SupervisorStrategy strategy_;
};

}  // namespace detail

namespace behaviors {

/// Keep the current behavior for the next message.
inline BehaviorDirective same() {
  return {detail::BehaviorTag::same, nullptr};
}
/// Stop this actor (children first, then PostStop).
inline BehaviorDirective stopped() {
  return {detail::BehaviorTag::stopped, nullptr};
}
/// The message was not understood: counted and logged at debug level.
inline BehaviorDirective unhandled() {
  return {detail::BehaviorTag::unhandled, nullptr};
}
/// The handler failed: the actor's supervisor strategy decides what happens.
inline BehaviorDirective failed(Error error) {
  return {detail::BehaviorTag::failed, std::make_shared<detail::FailureHolder>(std::move(error))};
}

/// A behavior from a handler `(ActorContext<M>&, M&) -> Behavior<M>`, and optionally a signal
/// handler `(ActorContext<M>&, const Signal&) -> Behavior<M>`.
template <class M, class F>
Behavior<M> receive(F on_message) {
  return Behavior<M>(std::make_shared<detail::ReceiveBehavior<M, F, std::nullptr_t>>(
      std::move(on_message), nullptr));
}
template <class M, class F, class G>
Behavior<M> receive(F on_message, G on_signal) {
  return Behavior<M>(std::make_shared<detail::ReceiveBehavior<M, F, G>>(std::move(on_message),
                                                                        std::move(on_signal)));
}

/// A behavior created when the actor starts (and again at each restart).
template <class M, class F>
Behavior<M> setup(F factory) {
  return Behavior<M>(std::make_shared<detail::DeferredBehaviorOf<M, F>>(std::move(factory)),
                     detail::BehaviorTag::deferred);
}

/// A class behavior `B : AbstractBehavior<M>` constructed with `args`, per actor (deferred, so
/// each spawn and each restart gets fresh state). The context comes first if B takes one.
template <class B, class... Args>
Behavior<typename B::message_type> make(Args... args) {
  using M = typename B::message_type;
  return setup<M>([... args = std::move(args)](ActorContext<M>& ctx) -> Behavior<M> {
    if constexpr (std::is_constructible_v<B, ActorContext<M>&, const Args&...>) {
      return Behavior<M>(std::make_shared<B>(ctx, args...));
    } else {
      return Behavior<M>(std::make_shared<B>(args...));
    }
  });
}

/// Wraps a behavior with a supervisor strategy (the default is stop).
template <class M>
Behavior<M> supervise(Behavior<M> behavior, SupervisorStrategy strategy) {
  return Behavior<M>(std::make_shared<detail::SupervisedBehavior<M>>(std::move(behavior), strategy),
                     detail::BehaviorTag::supervised);
}

/// Ignores every message.
template <class M>
Behavior<M> ignore() {
  return receive<M>([](ActorContext<M>&, M&) -> Behavior<M> { return same(); });
}

}  // namespace behaviors

}  // namespace weft
