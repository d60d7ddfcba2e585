// Typed and untyped references to actors.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "weft/actor/detail/ref_counted.hpp"
#include "weft/actor/fwd.hpp"
#include "weft/core/result.hpp"

namespace weft {

namespace detail {

/// Anything an ActorRef<M> can deliver to that is not a local actor cell: message adapters,
/// ask promises, and (with the cluster) remote routes.
template <class M>
class Receiver : public RefCounted {
 public:
  virtual Result<void> deliver(M&& msg) = 0;
  [[nodiscard]] virtual std::string path() const = 0;
};

}  // namespace detail

/// An untyped handle on a local actor: for death watch (Terminated), children and logging.
class AnyActorRef {
 public:
  AnyActorRef() noexcept;
  explicit AnyActorRef(detail::IntrusivePtr<detail::ActorCellBase> cell) noexcept;
  AnyActorRef(const AnyActorRef& other) noexcept;
  AnyActorRef(AnyActorRef&& other) noexcept;
  AnyActorRef& operator=(const AnyActorRef& other) noexcept;
  AnyActorRef& operator=(AnyActorRef&& other) noexcept;
  ~AnyActorRef();

  [[nodiscard]] std::string path() const;
  [[nodiscard]] std::string name() const;
  [[nodiscard]] bool is_terminated() const;
  explicit operator bool() const noexcept { return static_cast<bool>(cell_); }
  [[nodiscard]] detail::ActorCellBase* cell() const noexcept { return cell_.get(); }

  friend bool operator==(const AnyActorRef& a, const AnyActorRef& b) noexcept {
    return a.cell_.get() == b.cell_.get();
  }

 private:
  detail::IntrusivePtr<detail::ActorCellBase> cell_;
};

/// A typed reference: the only way to send an actor a message. Cheap to copy; safe to use
/// from any thread; sending to a stopped actor goes to dead letters.
template <class M>
class ActorRef {
 public:
  using message_type = M;

  ActorRef() = default;

  /// Fire and forget. A full bounded mailbox applies its overflow policy; a stopped actor
  /// turns the message into a dead letter.
  void tell(M msg) const { (void)try_tell(std::move(msg)); }

  /// Like tell, but says whether the message was accepted (mailbox_full, actor_stopped).
  Result<void> try_tell(M msg) const;

  [[nodiscard]] std::string path() const;
  explicit operator bool() const noexcept { return bits_ != 0; }

  /// The untyped handle (empty for adapters and ask promises, which cannot be watched).
  [[nodiscard]] AnyActorRef any() const;

  friend bool operator==(const ActorRef& a, const ActorRef& b) noexcept {
    return a.bits_ == b.bits_;
  }
  /// True when this reference and `b` name the same local actor.
  [[nodiscard]] bool same_actor(const AnyActorRef& b) const noexcept;

  [[nodiscard]] std::size_t hash() const noexcept { return std::hash<std::uintptr_t>{}(bits_); }

  // Construction by the runtime.
  static ActorRef from_cell(detail::ActorCell<M>* cell);  // takes a new reference
  static ActorRef from_receiver(detail::IntrusivePtr<detail::Receiver<M>> r);

 private:
  // One word: the target's address, with the low bit set for a Receiver<M> (adapter, ask
  // promise, remote route) and clear for a local ActorCell<M>. Keeps refs as small as CAF's.
  static constexpr std::uintptr_t kReceiverBit = 1;
  [[nodiscard]] detail::RefCounted* target() const noexcept {
    return reinterpret_cast<detail::RefCounted*>(bits_ & ~kReceiverBit);
  }
  [[nodiscard]] bool local() const noexcept { return (bits_ & kReceiverBit) == 0; }
  std::uintptr_t bits_ = 0;

 public:
  ActorRef(const ActorRef& o) noexcept : bits_(o.bits_) {
    if (bits_) target()->retain();
  }
  ActorRef(ActorRef&& o) noexcept : bits_(std::exchange(o.bits_, 0)) {}
  ActorRef& operator=(ActorRef o) noexcept {
    std::swap(bits_, o.bits_);
    return *this;
  }
  ~ActorRef() {
    if (bits_) target()->release();
  }
};

}  // namespace weft

template <class M>
struct std::hash<weft::ActorRef<M>> {
  std::size_t operator()(const weft::ActorRef<M>& r) const noexcept { return r.hash(); }
};
