// The typed half of an actor: its mailbox of M, its behavior, timers and stash.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "weft/actor/actor_context.hpp"
#include "weft/actor/actor_ref.hpp"
#include "weft/actor/behavior.hpp"
#include "weft/actor/detail/actor_cell_base.hpp"
#include "weft/actor/detail/node_pool.hpp"
#include "weft/actor/mailbox.hpp"

namespace weft {

namespace detail {

template <class M>
struct MessageNode final : MpscNode, Pooled<MessageNode<M>> {
  explicit MessageNode(M&& m) : value(std::move(m)) {}
  M value;
};

/// Counts for a bounded mailbox. `size` is what is queued; `pending_drops` are oldest messages
/// the consumer must discard (drop_oldest makes room without touching the consumer's end).
struct BoundedState {
  std::size_t capacity;
  OverflowPolicy policy;
  std::atomic<std::size_t> size{0};
  std::atomic<std::size_t> pending_drops{0};
};

template <class M>
struct TimerEntry {
  std::uint64_t generation;
  std::uint64_t timer_id;
  Duration interval;  // zero for a single-shot timer
  M message;
};

/// A FIFO of messages on one vector, released once drained. An event-sourced actor stashes
/// while it recovers or persists, then rarely again: with std::deque (which allocates ~600
/// bytes as soon as it exists) its stash and local queue would keep ~1.2 KB for good, times
/// every actor of a node.
template <class M>
class MessageFifo {
 public:
  void push_back(M&& m) { items_.push_back(std::move(m)); }
  /// Queues `front`, in its order, ahead of everything already queued.
  void prepend(std::vector<M>&& front) {
    if (front.empty()) return;
    if (empty()) {
      items_ = std::move(front);
      head_ = 0;
      return;
    }
    front.reserve(front.size() + size());
    for (auto i = head_; i < items_.size(); ++i) front.push_back(std::move(items_[i]));
    items_ = std::move(front);
    head_ = 0;
  }
  /// Not empty.
  M pop_front() {
    M m = std::move(items_[head_++]);
    if (head_ == items_.size()) {
      clear();
    } else if (head_ >= 32 && head_ * 2 >= items_.size()) {
      // Never drained (a producer always ahead): drop the moved-from half, amortized O(1).
      std::vector<M> rest;
      rest.reserve(size());
      for (auto i = head_; i < items_.size(); ++i) rest.push_back(std::move(items_[i]));
      items_ = std::move(rest);
      head_ = 0;
    }
    return m;
  }
  [[nodiscard]] bool empty() const noexcept { return head_ == items_.size(); }
  [[nodiscard]] std::size_t size() const noexcept { return items_.size() - head_; }
  void clear() noexcept {
    std::vector<M>().swap(items_);
    head_ = 0;
  }

 private:
  std::vector<M> items_;
  std::size_t head_ = 0;  // items before it are moved from
};

/// Per-actor parts most actors never use; allocated on first use.
template <class M>
struct TypedExtras {
  std::unordered_map<std::string, TimerEntry<M>> timers;
  std::uint64_t next_generation = 1;
  std::vector<M> stash;  // released when unstashed
  std::size_t stash_capacity = 1000;
  MessageFifo<M> local;  // unstashed and adapted messages, handled before the mailbox
};

/// Runs `produce()` on the actor's thread and handles the resulting message (adapters, asks
/// and piped futures).
template <class M>
struct ThunkMsg final : SystemMessage {
  explicit ThunkMsg(std::move_only_function<M()> f) : produce(std::move(f)) {}
  void apply(ActorCellBase& cell) override;
  std::move_only_function<M()> produce;
};

/// Runs a function on a cell's own thread (test kit: watching on behalf of a probe).
struct CallbackMsg final : SystemMessage {
  explicit CallbackMsg(std::move_only_function<void(ActorCellBase&)> f) : fn(std::move(f)) {}
  void apply(ActorCellBase& cell) override { fn(cell); }
  std::move_only_function<void(ActorCellBase&)> fn;
};

template <class M>
struct TimerFireMsg final : SystemMessage {
  TimerFireMsg(std::string k, std::uint64_t g) : key(std::move(k)), generation(g) {}
  void apply(ActorCellBase& cell) override;
  std::string key;
  std::uint64_t generation;
};

template <class M>
class ActorCell final : public ActorCellBase, public ActorContext<M> {
 public:
  using ActorCellBase::child;
  using ActorCellBase::children;
  using ActorCellBase::name;
  using ActorCellBase::path;
  using ActorCellBase::stop;
  using ActorCellBase::unwatch;
  using ActorCellBase::watch;

  ActorCell(SystemServices& system, ActorCellBase* parent, std::string name, std::uint64_t id,
            Behavior<M> initial, const MailboxConfig& mailbox)
      : ActorCellBase(system, parent, std::move(name), id), initial_(std::move(initial)) {
    if (mailbox.capacity > 0) {
      bounded_ = std::make_unique<BoundedState>(mailbox.capacity, mailbox.overflow);
    }
  }

  /// Any thread. The hot path of every local send.
  Result<void> deliver(M&& msg) {
    system().count_sent();
    if (is_terminated()) [[unlikely]] {
      system().dead_letters(*this, 1, "recipient is stopped");
      return weft::fail(Errc::actor_stopped, "actor " + path() + " is stopped");
    }
    if (bounded_) [[unlikely]] {
      auto admitted = admit_bounded();
      if (!admitted) return std::unexpected(admitted.error());
      if (!*admitted) return {};  // dropped by drop_newest (counted)
    }
    mailbox_.push(new MessageNode<M>(std::move(msg)));
    schedule_if_idle();
    return {};
  }

  // --- the actor's own thread ---
  ActorRef<M> self() { return ActorRef<M>::from_cell(this); }
  TypedExtras<M>& typed_extras() {
    if (!typed_) typed_ = std::make_unique<TypedExtras<M>>();
    return *typed_;
  }

  void start_timer(std::string key, M msg, Duration delay, Duration interval) {
    auto& x = typed_extras();
    cancel_timer(key);
    const auto gen = x.next_generation++;
    const auto id = schedule_fire(key, gen, delay);
    x.timers.insert_or_assign(std::move(key), TimerEntry<M>{gen, id, interval, std::move(msg)});
  }
  bool cancel_timer(const std::string& key) {
    if (!typed_) return false;
    auto it = typed_->timers.find(key);
    if (it == typed_->timers.end()) return false;
    system().cancel_timer(it->second.timer_id);
    typed_->timers.erase(it);
    return true;
  }
  void cancel_all_timers_public() noexcept { cancel_all_timers(); }
  [[nodiscard]] bool timer_active(const std::string& key) const {
    return typed_ && typed_->timers.contains(key);
  }

  void on_timer(const std::string& key, std::uint64_t generation) {
    if (!typed_ || state() != CellState::running) return;
    auto it = typed_->timers.find(key);
    if (it == typed_->timers.end() || it->second.generation != generation) return;  // cancelled
    auto& entry = it->second;
    system().count_processed(1);
    if (entry.interval.count() > 0) {
      entry.timer_id = schedule_fire(key, generation, entry.interval);
      M copy = entry.message;
      handle(copy);
    } else {
      M msg = std::move(entry.message);
      typed_->timers.erase(it);
      handle(msg);
    }
  }

  /// Queues a message produced on the actor's thread ahead of the mailbox.
  void enqueue_local(M&& msg) {
    system().count_sent();
    if (is_terminated()) {
      system().dead_letters(*this, 1, "recipient is stopped");
      return;
    }
    typed_extras().local.push_back(std::move(msg));
  }

  /// Handles one message with the current behavior (exceptions become failures).
  void handle(M& msg) {
    try {
      apply_next(current_.impl()->on_message(context(), msg));
    } catch (const std::exception& e) {
      fail(Error(Errc::actor_failed, path() + " threw: " + e.what()));
    } catch (...) {
      fail(Error(Errc::actor_failed, path() + " threw a non-exception"));
    }
  }

  ActorContext<M>& context() noexcept { return *this; }

 protected:
  void start_behavior() override {
    Behavior<M> b = initial_;
    for (;;) {
      if (b.tag() == BehaviorTag::supervised) {
        auto* s = static_cast<SupervisedBehavior<M>*>(b.impl());
        set_strategy(s->strategy());
        b = s->inner();
      } else if (b.tag() == BehaviorTag::deferred) {
        b = static_cast<DeferredBehavior<M>*>(b.impl())->create(context());
      } else {
        break;
      }
    }
    switch (b.tag()) {
      case BehaviorTag::live:
        current_ = std::move(b);
        break;
      case BehaviorTag::stopped:
        initiate_stop(std::nullopt);
        return;
      case BehaviorTag::failed:
        fail(*b.error());
        return;
      default:
        fail(Error(Errc::invalid_argument,
                   "setup of " + path() + " returned no behavior (same/unhandled/empty)"));
        return;
    }
    if (!signal_safely(PreStart{})) return;
  }

  void process_messages(std::uint32_t limit) override {
    std::uint32_t n = 0;
    while (n < limit) {
      if (typed_ && !typed_->local.empty()) {
        M msg = typed_->local.pop_front();
        ++n;
        handle(msg);
      } else {
        MpscNode* raw = mailbox_.pop();
        if (!raw) break;
        auto* node = static_cast<MessageNode<M>*>(raw);
        if (bounded_ && consume_bounded()) {
          delete node;
          system().mailbox_dropped(*this);
          continue;
        }
        ++n;
        handle(node->value);
        delete node;
      }
      if (!accepting_messages()) break;
    }
    system().count_processed(n);
  }

  [[nodiscard]] bool mailbox_maybe_nonempty() const noexcept override {
    return mailbox_.maybe_nonempty();
  }

  [[nodiscard]] bool has_messages() const noexcept override {
    return !mailbox_.empty() || (typed_ && !typed_->local.empty());
  }

  void drain_to_dead_letters() override {
    std::uint64_t n = 0;
    if (typed_) {
      n += typed_->local.size() + typed_->stash.size();
      typed_->local.clear();
      std::vector<M>().swap(typed_->stash);
    }
    while (MpscNode* raw = mailbox_.pop()) {
      delete static_cast<MessageNode<M>*>(raw);
      if (bounded_) bounded_->size.fetch_sub(1, std::memory_order_relaxed);
      ++n;
    }
    if (n) system().dead_letters(*this, n, "recipient stopped with messages queued");
  }

  bool deliver_signal(const Signal& s) override {
    if (current_.tag() != BehaviorTag::live) return true;
    auto next = current_.impl()->on_signal(context(), s);
    if (next.tag() == BehaviorTag::unhandled) return false;
    if (std::holds_alternative<PostStop>(s) || std::holds_alternative<PreRestart>(s)) return true;
    apply_next(std::move(next));
    return true;
  }

  void discard_behavior() noexcept override {
    current_ = Behavior<M>();
    if (typed_) std::vector<M>().swap(typed_->stash);
  }

  void cancel_all_timers() noexcept override {
    if (!typed_) return;
    for (auto& [key, entry] : typed_->timers) system().cancel_timer(entry.timer_id);
    typed_->timers.clear();
  }

 private:
  void apply_next(Behavior<M>&& next) {
    switch (next.tag()) {
      case BehaviorTag::same:
        return;
      case BehaviorTag::live:
        current_ = std::move(next);
        return;
      case BehaviorTag::deferred:
      case BehaviorTag::supervised: {
        // become(setup(...)): run it now, like Akka.
        Behavior<M> b = std::move(next);
        while (b.tag() == BehaviorTag::deferred || b.tag() == BehaviorTag::supervised) {
          b = b.tag() == BehaviorTag::deferred
                  ? static_cast<DeferredBehavior<M>*>(b.impl())->create(context())
                  : static_cast<SupervisedBehavior<M>*>(b.impl())->inner();
        }
        return apply_next(std::move(b));
      }
      case BehaviorTag::stopped:
        initiate_stop(std::nullopt);
        return;
      case BehaviorTag::unhandled:
        system().unhandled(*this);
        return;
      case BehaviorTag::failed:
        fail(*next.error());
        return;
      case BehaviorTag::empty:
        fail(Error(Errc::invalid_argument, path() + ": a handler returned an empty behavior"));
        return;
    }
  }

  /// Producer side of a bounded mailbox: true to enqueue the message, false if drop_newest
  /// dropped it, an error if the policy is fail.
  Result<bool> admit_bounded() {
    auto& b = *bounded_;
    auto size = b.size.fetch_add(1, std::memory_order_acq_rel);
    if (size < b.capacity) return true;
    switch (b.policy) {
      case OverflowPolicy::drop_oldest:
        b.pending_drops.fetch_add(1, std::memory_order_acq_rel);
        return true;
      case OverflowPolicy::drop_newest:
        b.size.fetch_sub(1, std::memory_order_acq_rel);
        system().mailbox_dropped(*this);
        return false;
      case OverflowPolicy::fail:
        b.size.fetch_sub(1, std::memory_order_acq_rel);
        system().mailbox_dropped(*this);
        return weft::fail(Errc::mailbox_full, "mailbox of " + path() + " is full (" +
                                                  std::to_string(b.capacity) + " messages)");
    }
    return true;
  }

  /// Consumer side of a bounded mailbox: true if this dequeued message must be dropped.
  bool consume_bounded() {
    auto& b = *bounded_;
    b.size.fetch_sub(1, std::memory_order_acq_rel);
    auto drops = b.pending_drops.load(std::memory_order_acquire);
    while (drops > 0) {
      if (b.pending_drops.compare_exchange_weak(drops, drops - 1, std::memory_order_acq_rel)) {
        return true;
      }
    }
    return false;
  }

  std::uint64_t schedule_fire(const std::string& key, std::uint64_t gen, Duration delay) {
    retain();
    IntrusivePtr<ActorCell> self = IntrusivePtr<ActorCell>::adopt(this);
    return system().schedule_timer(
        delay, [self = std::move(self), key, gen] { self->post(new TimerFireMsg<M>(key, gen)); });
  }

  MpscQueue mailbox_;
  Behavior<M> initial_;
  Behavior<M> current_;
  std::unique_ptr<BoundedState> bounded_;
  std::unique_ptr<TypedExtras<M>> typed_;
};

template <class M>
void ThunkMsg<M>::apply(ActorCellBase& cell) {
  auto& c = static_cast<ActorCell<M>&>(cell);
  try {
    c.enqueue_local(produce());  // a stopped actor turns it into a dead letter
  } catch (const std::exception& e) {
    c.fail(Error(Errc::actor_failed, c.path() + " threw in a message adapter: " + e.what()));
  }
}

template <class M>
void TimerFireMsg<M>::apply(ActorCellBase& cell) {
  static_cast<ActorCell<M>&>(cell).on_timer(key, generation);
}

}  // namespace detail

template <class M>
template <class F>
void ActorContext<M>::post_mapped(const detail::IntrusivePtr<detail::ActorCell<M>>& self,
                                  F produce) {
  self->post(new detail::ThunkMsg<M>(std::move(produce)));
}

namespace detail {

/// An ActorRef<R> that turns R into the owning actor's M on the owner's thread.
template <class R, class M>
class MessageAdapter final : public Receiver<R> {
 public:
  MessageAdapter(ActorCell<M>* owner, std::function<M(R&&)> fn)
      : owner_(IntrusivePtr<ActorCell<M>>::share(owner)), fn_(std::move(fn)) {}
  Result<void> deliver(R&& msg) override {
    if (owner_->is_terminated()) {
      owner_->system().dead_letters(*owner_, 1, "adapter owner is stopped");
      return weft::fail(Errc::actor_stopped, "actor " + owner_->path() + " is stopped");
    }
    owner_->post(
        new ThunkMsg<M>([fn = fn_, m = std::move(msg)]() mutable { return fn(std::move(m)); }));
    return {};
  }
  [[nodiscard]] std::string path() const override { return owner_->path() + "/$adapter"; }

 private:
  IntrusivePtr<ActorCell<M>> owner_;
  std::function<M(R&&)> fn_;
};

}  // namespace detail

// --- ActorRef<M> members that need the cell ---

template <class M>
Result<void> ActorRef<M>::try_tell(M msg) const {
  if (!bits_) [[unlikely]]
    return fail(Errc::invalid_argument, "tell on an empty ActorRef");
  if (local()) [[likely]]
    return static_cast<detail::ActorCell<M>*>(target())->deliver(std::move(msg));
  return static_cast<detail::Receiver<M>*>(target())->deliver(std::move(msg));
}

template <class M>
std::string ActorRef<M>::path() const {
  if (!bits_) return "<empty>";
  if (local()) return static_cast<detail::ActorCell<M>*>(target())->path();
  return static_cast<detail::Receiver<M>*>(target())->path();
}

template <class M>
AnyActorRef ActorRef<M>::any() const {
  if (!bits_ || !local()) return {};
  detail::ActorCellBase* base = static_cast<detail::ActorCell<M>*>(target());
  return AnyActorRef(detail::IntrusivePtr<detail::ActorCellBase>::share(base));
}

template <class M>
bool ActorRef<M>::same_actor(const AnyActorRef& b) const noexcept {
  return bits_ && local() &&
         static_cast<detail::ActorCellBase*>(static_cast<detail::ActorCell<M>*>(target())) ==
             b.cell();
}

template <class M>
ActorRef<M> ActorRef<M>::from_cell(detail::ActorCell<M>* cell) {
  ActorRef r;
  cell->retain();
  r.bits_ = reinterpret_cast<std::uintptr_t>(static_cast<detail::RefCounted*>(cell));
  return r;
}

template <class M>
ActorRef<M> ActorRef<M>::from_receiver(detail::IntrusivePtr<detail::Receiver<M>> rcv) {
  ActorRef r;
  r.bits_ = reinterpret_cast<std::uintptr_t>(static_cast<detail::RefCounted*>(rcv.detach())) |
            kReceiverBit;
  return r;
}

namespace detail {

[[nodiscard]] Result<void> validate_actor_name(std::string_view name);

template <class C>
Result<ActorRef<C>> spawn_cell(ActorCellBase& parent, Behavior<C> behavior, std::string name,
                               const SpawnOptions& options) {
  if (behavior.tag() != BehaviorTag::live && behavior.tag() != BehaviorTag::deferred &&
      behavior.tag() != BehaviorTag::supervised) {
    return fail(Errc::invalid_argument, "spawn needs a behavior, not a directive");
  }
  auto& system = parent.system();
  const auto id = system.next_actor_id();
  if (!name.empty()) {
    if (auto valid = validate_actor_name(name); !valid) return std::unexpected(valid.error());
  }
  auto* cell =
      new ActorCell<C>(system, &parent, std::move(name), id, std::move(behavior), options.mailbox);
  if (auto adopted = parent.adopt_child(cell); !adopted) {
    cell->release();
    return std::unexpected(adopted.error());
  }
  auto ref = ActorRef<C>::from_cell(cell);
  cell->schedule_if_idle();  // the first turn runs setup and PreStart
  return ref;
}

/// The reply_to of an ask: completes once, then ignores further replies.
template <class Res>
class AskReceiver final : public Receiver<Res> {
 public:
  AskReceiver(SystemServices& system, std::string target_path,
              std::function<void(Result<Res>)> done)
      : system_(system), target_path_(std::move(target_path)), done_(std::move(done)) {}

  Result<void> deliver(Res&& reply) override {
    complete(Result<Res>(std::move(reply)));
    return {};
  }
  [[nodiscard]] std::string path() const override { return target_path_ + "/$ask"; }

  void complete(Result<Res> r) {
    std::function<void(Result<Res>)> done;
    std::uint64_t timer = 0;
    std::uint64_t hook = 0;
    IntrusivePtr<ActorCellBase> target;
    {
      std::lock_guard lock(mutex_);
      if (completed_) return;
      completed_ = true;
      done.swap(done_);
      timer = std::exchange(timer_, 0);
      hook = std::exchange(hook_, 0);
      target = std::move(target_);
    }
    if (timer) system_.cancel_timer(timer);
    if (hook && target) target->remove_termination_hook(hook);
    done(std::move(r));
  }

  /// Records how to clean up; cleans up at once if the ask already completed.
  void arm(std::uint64_t timer, std::uint64_t hook, IntrusivePtr<ActorCellBase> target) {
    {
      std::lock_guard lock(mutex_);
      if (!completed_) {
        timer_ = timer;
        hook_ = hook;
        target_ = std::move(target);
        return;
      }
    }
    if (timer) system_.cancel_timer(timer);
    if (hook && target) target->remove_termination_hook(hook);
  }

 private:
  SystemServices& system_;
  std::string target_path_;
  std::mutex mutex_;
  bool completed_ = false;
  std::function<void(Result<Res>)> done_;
  std::uint64_t timer_ = 0;
  std::uint64_t hook_ = 0;
  IntrusivePtr<ActorCellBase> target_;
};

template <class Res, class Req, class Make>
void start_ask(SystemServices& system, const ActorRef<Req>& target, Make make, Duration timeout,
               std::function<void(Result<Res>)> done) {
  const std::string target_path = target.path();
  auto rcv = IntrusivePtr<AskReceiver<Res>>::adopt(
      new AskReceiver<Res>(system, target_path, std::move(done)));
  auto reply_to = ActorRef<Res>::from_receiver(IntrusivePtr<Receiver<Res>>::share(rcv.get()));

  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
  const auto timer = system.schedule_timer(timeout, [rcv, target_path, millis] {
    rcv->complete(fail(Errc::timeout, "ask to " + target_path + " got no reply within " +
                                          std::to_string(millis) + " ms"));
  });
  std::uint64_t hook = 0;
  IntrusivePtr<ActorCellBase> cell;
  if (auto any = target.any()) {
    cell = IntrusivePtr<ActorCellBase>::share(any.cell());
    hook = cell->add_termination_hook([rcv, target_path] {
      rcv->complete(
          fail(Errc::actor_stopped, "ask target " + target_path + " stopped before it replied"));
    });
  }
  rcv->arm(timer, hook, std::move(cell));
  if (auto sent = target.try_tell(make(std::move(reply_to))); !sent) {
    rcv->complete(std::unexpected(sent.error().with_context("ask to " + target_path)));
  }
}

}  // namespace detail

}  // namespace weft
