#include "weft/actor/detail/actor_cell_base.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <mutex>
#include <random>
#include <unordered_map>
#include <unordered_set>

namespace weft::detail {

namespace {

/// The cells an actor watches, or is watched by, each holding a reference: one or two for most
/// actors, every entity for an entity manager. A vector while small; a hash set past that, as
/// linear scans made spawning and stopping n watched entities O(n^2) (a quarter of weft-bench
/// node --scenario actors_100k).
class CellSet {
 public:
  /// False if `c` is already in.
  bool insert(ActorCellBase* c) {
    if (large_) return large_->insert(c).second;
    if (std::find(small_.begin(), small_.end(), c) != small_.end()) return false;
    if (small_.size() < kSmall) {
      small_.push_back(c);
      return true;
    }
    large_ = std::make_unique<std::unordered_set<ActorCellBase*>>(small_.begin(), small_.end());
    large_->insert(c);
    std::vector<ActorCellBase*>().swap(small_);
    return true;
  }
  /// False if `c` was not in.
  bool erase(ActorCellBase* c) {
    if (large_) return large_->erase(c) > 0;
    auto it = std::find(small_.begin(), small_.end(), c);
    if (it == small_.end()) return false;
    small_.erase(it);
    return true;
  }
  /// Empties the set, calling f on each cell (its reference passes to f).
  template <class F>
  void drain(F f) {
    auto small = std::move(small_);
    small_.clear();
    auto large = std::move(large_);
    for (auto* c : small) f(c);
    if (large) {
      for (auto* c : *large) f(c);
    }
  }

 private:
  static constexpr std::size_t kSmall = 16;
  std::vector<ActorCellBase*> small_;
  std::unique_ptr<std::unordered_set<ActorCellBase*>> large_;
};

}  // namespace

// Per-actor parts most actors never use, allocated on first use; kept in three pieces because
// the common case needs only one of them (an entity watched by its manager: the watchers),
// and a node hosts 100k such actors (weft-bench node --scenario actors_100k).
struct ActorCellBase::Extras {
  // The actor's own thread only.
  CellSet watchers;
  CellSet watching;
  struct Supervision {
    SupervisorStrategy strategy;
    std::vector<TimePoint> restarts;  // within strategy.within, oldest first
    std::optional<Error> failure;     // why this actor stopped, if it failed
    bool escalate = false;
    std::uint64_t backoff_timer = 0;
  };
  std::unique_ptr<Supervision> supervision;
  // Guarded by lock_: named children (views into the child's name_) and termination hooks.
  struct Registry {
    std::unordered_map<std::string_view, ActorCellBase*> named_children;
    std::vector<std::pair<std::uint64_t, std::function<void()>>> hooks;
    std::uint64_t next_hook_id = 1;
  };
  std::unique_ptr<Registry> registry;

  Supervision& sup() {
    if (!supervision) supervision = std::make_unique<Supervision>();
    return *supervision;
  }
  Registry& reg() {
    if (!registry) registry = std::make_unique<Registry>();
    return *registry;
  }
  [[nodiscard]] std::optional<Error> failure() const {
    return supervision ? supervision->failure : std::nullopt;
  }
};

// --- system messages ---

struct StopMsg final : SystemMessage {
  void apply(ActorCellBase& cell) override { cell.initiate_stop(std::nullopt); }
};

struct DeathNotice final : SystemMessage {
  DeathNotice(ActorCellBase* who, std::optional<Error> failure)
      : who(IntrusivePtr<ActorCellBase>::share(who)), failure(std::move(failure)) {}
  void apply(ActorCellBase& cell) override { cell.on_watched_terminated(who.get(), failure); }
  IntrusivePtr<ActorCellBase> who;
  std::optional<Error> failure;
};

struct WatchMsg final : SystemMessage {
  explicit WatchMsg(ActorCellBase* watcher)
      : watcher(IntrusivePtr<ActorCellBase>::share(watcher)) {}
  void apply(ActorCellBase& cell) override {
    if (cell.is_terminated()) {
      watcher->post(new DeathNotice(&cell, cell.extras().failure()));
      return;
    }
    if (cell.extras().watchers.insert(watcher.get())) (void)watcher.detach();
  }
  IntrusivePtr<ActorCellBase> watcher;
};

struct UnwatchMsg final : SystemMessage {
  explicit UnwatchMsg(ActorCellBase* watcher) : watcher(watcher) {}
  void apply(ActorCellBase& cell) override {
    if (cell.extras().watchers.erase(watcher)) watcher->release();
  }
  ActorCellBase* watcher;  // dereferenced only while the set still holds its reference
};

struct ChildTerminatedMsg final : SystemMessage {
  ChildTerminatedMsg(ActorCellBase* child, std::optional<Error> failure, bool escalate)
      : child(child), failure(std::move(failure)), escalate(escalate) {}
  void apply(ActorCellBase& cell) override { cell.on_child_terminated(child, failure, escalate); }
  ActorCellBase* child;  // kept alive by the parent's children list until unlinked
  std::optional<Error> failure;
  bool escalate;
};

struct RestartNow final : SystemMessage {
  void apply(ActorCellBase& cell) override {
    cell.extras().sup().backoff_timer = 0;
    if (cell.state() != CellState::restarting) return;
    cell.suspended_ = false;
    cell.start();
  }
};

// --- the cell ---

ActorCellBase::ActorCellBase(SystemServices& system, ActorCellBase* parent, std::string name,
                             std::uint64_t id)
    : system_(&system),
      parent_(parent),
      name_(name.empty() ? nullptr : std::make_unique<const std::string>(std::move(name))),
      id_(id) {
  if (parent_) parent_->retain();
  system_->retain();
}

ActorCellBase::~ActorCellBase() {
  if (auto* x = extras_.load(std::memory_order_acquire)) {
    x->watchers.drain([](ActorCellBase* c) { c->release(); });
    x->watching.drain([](ActorCellBase* c) { c->release(); });
    delete x;
  }
  // Leftover control messages (posted after termination was fully processed).
  if (auto* q = system_queue_.load(std::memory_order_acquire)) {
    while (auto* n = q->pop()) delete static_cast<SystemMessage*>(n);
    delete q;
  }
  if (parent_) parent_->release();
  system_->release();
}

ActorCellBase::Extras& ActorCellBase::extras() {
  auto* x = extras_.load(std::memory_order_acquire);
  if (x) return *x;
  auto* fresh = new Extras();
  if (extras_.compare_exchange_strong(x, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;
  return *x;
}

std::string ActorCellBase::name() const {
  return name_ ? *name_ : anonymous_name(id_);
}

std::string ActorCellBase::path() const {
  std::string p = parent_ ? parent_->path() : std::string();
  p.push_back('/');
  p.append(name());
  return p;
}

MpscQueue* ActorCellBase::system_queue() noexcept {
  auto* q = system_queue_.load(std::memory_order_acquire);
  if (q) return q;
  auto* fresh = new MpscQueue();
  if (system_queue_.compare_exchange_strong(q, fresh, std::memory_order_acq_rel)) return fresh;
  delete fresh;
  return q;
}

void ActorCellBase::post(SystemMessage* msg) {
  system_queue()->push(msg);
  schedule_if_idle();
}

void ActorCellBase::stop() {
  post(new StopMsg());
}

std::uint64_t ActorCellBase::add_termination_hook(std::function<void()> fn) {
  auto& x = extras();
  {
    std::lock_guard guard(lock_);
    if (state_.load(std::memory_order_relaxed) != CellState::terminated) {
      auto& r = x.reg();
      auto id = r.next_hook_id++;
      r.hooks.emplace_back(id, std::move(fn));
      return id;
    }
  }
  fn();
  return 0;
}

void ActorCellBase::remove_termination_hook(std::uint64_t id) {
  if (id == 0) return;
  auto& x = extras();
  std::function<void()> dropped;  // destroyed outside the lock
  std::lock_guard guard(lock_);
  if (!x.registry) return;
  auto& hooks = x.registry->hooks;
  auto it = std::find_if(hooks.begin(), hooks.end(), [id](auto& h) { return h.first == id; });
  if (it != hooks.end()) {
    dropped = std::move(it->second);
    hooks.erase(it);
  }
}

Result<void> ActorCellBase::adopt_child(ActorCellBase* child) {
  const bool named = !child->is_anonymous();
  auto& x = extras();
  std::lock_guard guard(lock_);
  auto st = state_.load(std::memory_order_relaxed);
  if (st == CellState::stopping || st == CellState::terminated) {
    return weft::fail(Errc::actor_stopped, "cannot spawn '" + child->name() + "' under '" + name() +
                                               "': it is stopping");
  }
  if (named) {
    auto [it, inserted] = x.reg().named_children.emplace(*child->name_, child);
    if (!inserted) {
      return weft::fail(Errc::invalid_argument, "an actor named '" + *child->name_ +
                                                    "' already exists under '" + name() + "'");
    }
  }
  child->next_sibling_ = first_child_;
  if (first_child_) first_child_->prev_sibling_ = child;
  first_child_ = child;
  return {};
}

std::vector<AnyActorRef> ActorCellBase::children() const {
  std::vector<AnyActorRef> out;
  std::lock_guard guard(lock_);
  for (auto* c = first_child_; c; c = c->next_sibling_) {
    out.emplace_back(IntrusivePtr<ActorCellBase>::share(c));
  }
  return out;
}

AnyActorRef ActorCellBase::child(std::string_view name) const {
  std::lock_guard guard(lock_);
  auto* x = extras_.load(std::memory_order_acquire);
  if (!x || !x->registry) return {};
  const auto& named = x->registry->named_children;
  auto it = named.find(name);
  if (it == named.end()) return {};
  return AnyActorRef(IntrusivePtr<ActorCellBase>::share(it->second));
}

bool ActorCellBase::run_turn() {
  // Setup runs before anything else, even a stop, so PostStop always follows a setup (as in
  // Akka) and the children it spawns are stopped with it.
  if (state() == CellState::created) start();
  drain_system_messages();
  auto st = state();
  if (st == CellState::running && !suspended_) {
    process_messages(system_->throughput());
  } else if (st == CellState::terminated) {
    drain_to_dead_letters();
  }
  return finish_turn();
}

void ActorCellBase::abandon() {
  for (;;) {
    if (auto* q = system_queue_.load(std::memory_order_acquire)) {
      while (auto* n = q->pop()) delete static_cast<SystemMessage*>(n);
    }
    drain_to_dead_letters();
    // As in finish_turn: what a destructor above (or another thread) queued meanwhile is either
    // seen here or schedules the cell again, to be abandoned by that caller.
    scheduled_.store(false, std::memory_order_seq_cst);
    if (!system_queue_maybe_nonempty() && !mailbox_maybe_nonempty()) break;
    if (scheduled_.exchange(true, std::memory_order_acq_rel)) break;
  }
  release();
}

void ActorCellBase::drain_system_messages() {
  auto* q = system_queue_.load(std::memory_order_acquire);
  if (!q) return;
  while (auto* n = q->pop()) {
    auto* msg = static_cast<SystemMessage*>(n);
    msg->apply(*this);
    delete msg;
  }
}

bool ActorCellBase::finish_turn() {
  const auto st = state();
  const bool mailbox_counts =
      (st == CellState::running && !suspended_) || st == CellState::terminated;
  if (!system_queue_empty() || st == CellState::created || (mailbox_counts && has_messages())) {
    return true;
  }
  // Mirror image of a sender's push-then-check (see MpscQueue::push): either we see its
  // message now, or it sees the flag cleared and schedules us. Once the flag is cleared another
  // worker may already be running this cell, so only atomics that senders write are read.
  scheduled_.store(false, std::memory_order_seq_cst);
  const bool more = system_queue_maybe_nonempty() || (mailbox_counts && mailbox_maybe_nonempty());
  return more && !scheduled_.exchange(true, std::memory_order_acq_rel);
}

void ActorCellBase::start() {
  state_.store(CellState::running, std::memory_order_release);
  try {
    start_behavior();
  } catch (const std::exception& e) {
    fail(Error(Errc::actor_failed, "setup of " + path() + " threw: " + e.what()));
  } catch (...) {
    fail(Error(Errc::actor_failed, "setup of " + path() + " threw a non-exception"));
  }
}

bool ActorCellBase::signal_safely(const Signal& s) {
  try {
    return deliver_signal(s);
  } catch (const std::exception& e) {
    if (std::holds_alternative<PostStop>(s) || std::holds_alternative<PreRestart>(s)) {
      spdlog::error("{}: signal handler threw during {}: {}", path(),
                    std::holds_alternative<PostStop>(s) ? "PostStop" : "PreRestart", e.what());
      return true;
    }
    fail(Error(Errc::actor_failed, path() + " threw on a signal: " + e.what()));
  } catch (...) {
    fail(Error(Errc::actor_failed, path() + " threw a non-exception on a signal"));
  }
  return true;
}

void ActorCellBase::set_strategy(const SupervisorStrategy& s) {
  extras().sup().strategy = s;
}

void ActorCellBase::fail(Error error) {
  auto st = state();
  if (st == CellState::stopping || st == CellState::terminated) {
    spdlog::error("{} failed while stopping: {}", path(), error.message());
    return;
  }
  auto& x = extras().sup();
  switch (x.strategy.kind) {
    case SupervisorStrategy::Kind::resume:
      spdlog::warn("{} failed, resuming: {}", path(), error.message());
      return;
    case SupervisorStrategy::Kind::stop:
      spdlog::error("{} failed, stopping: {}", path(), error.message());
      initiate_stop(std::move(error));
      return;
    case SupervisorStrategy::Kind::escalate:
      spdlog::error("{} failed, escalating to its parent: {}", path(), error.message());
      x.escalate = true;
      initiate_stop(std::move(error));
      return;
    case SupervisorStrategy::Kind::restart:
      restart(std::move(error));
      return;
  }
}

void ActorCellBase::restart(Error cause) {
  auto& x = extras().sup();
  const auto now = system_->clock().now();
  const auto expired = std::find_if(x.restarts.begin(), x.restarts.end(),
                                    [&](TimePoint t) { return now - t <= x.strategy.within; });
  x.restarts.erase(x.restarts.begin(), expired);
  if (x.strategy.max_restarts >= 0 &&
      x.restarts.size() >= static_cast<std::size_t>(x.strategy.max_restarts)) {
    spdlog::error("{} failed and reached its restart limit ({} within {} ms), stopping: {}", path(),
                  x.strategy.max_restarts,
                  std::chrono::duration_cast<std::chrono::milliseconds>(x.strategy.within).count(),
                  cause.message());
    initiate_stop(std::move(cause));
    return;
  }
  spdlog::warn("{} failed, restarting: {}", path(), cause.message());
  x.restarts.push_back(now);
  system_->count_restart();
  if (state() == CellState::running) signal_safely(PreRestart{});
  discard_behavior();
  cancel_all_timers();
  state_.store(CellState::restarting, std::memory_order_release);
  suspended_ = true;
  stop_children();
  if (!has_children()) complete_restart();
}

void ActorCellBase::complete_restart() {
  auto& x = extras().sup();
  Duration delay{0};
  if (x.strategy.min_backoff.count() > 0) {
    // min * 2^(n-1), capped at max, spread by the random factor.
    const auto n = std::min<std::size_t>(x.restarts.size(), 30);
    double d =
        static_cast<double>(x.strategy.min_backoff.count()) * static_cast<double>(1ull << (n - 1));
    d = std::min(
        d, static_cast<double>(std::max(x.strategy.max_backoff, x.strategy.min_backoff).count()));
    if (x.strategy.random_factor > 0) {
      thread_local std::minstd_rand rng(static_cast<unsigned>(id_));
      std::uniform_real_distribution<double> jitter(0.0, x.strategy.random_factor);
      d *= 1.0 + jitter(rng);
    }
    delay = Duration(static_cast<Duration::rep>(d));
  }
  if (delay.count() == 0) {
    // Posted, not called: a setup that keeps failing must not recurse.
    post(new RestartNow());
    return;
  }
  retain();
  x.backoff_timer = system_->schedule_timer(delay, [this] {
    post(new RestartNow());
    release();
  });
}

void ActorCellBase::initiate_stop(std::optional<Error> cause) {
  auto st = state();
  if (st == CellState::stopping || st == CellState::terminated) return;
  auto& x = extras();
  if (cause) x.sup().failure = std::move(cause);
  if (x.supervision && x.supervision->backoff_timer) {
    if (system_->cancel_timer(x.supervision->backoff_timer)) release();
    x.supervision->backoff_timer = 0;
  }
  state_.store(CellState::stopping, std::memory_order_release);
  cancel_all_timers();
  stop_children();
  if (!has_children()) finish_termination();
}

void ActorCellBase::stop_children() {
  std::vector<ActorCellBase*> kids;
  {
    std::lock_guard guard(lock_);
    for (auto* c = first_child_; c; c = c->next_sibling_) {
      c->retain();
      kids.push_back(c);
    }
  }
  for (auto* c : kids) {
    c->stop();
    c->release();
  }
}

void ActorCellBase::finish_termination() {
  auto& x = extras();
  signal_safely(PostStop{});
  std::vector<std::pair<std::uint64_t, std::function<void()>>> hooks;
  {
    std::lock_guard guard(lock_);
    state_.store(CellState::terminated, std::memory_order_release);
    if (x.registry) hooks.swap(x.registry->hooks);
  }
  // Before discard_behavior(), which empties the stash: stashed messages are dead letters too.
  drain_to_dead_letters();
  discard_behavior();
  const auto failure = x.failure();
  x.watchers.drain([&](ActorCellBase* w) {
    w->post(new DeathNotice(this, failure));
    w->release();
  });
  x.watching.drain([&](ActorCellBase* t) {
    t->post(new UnwatchMsg(this));
    t->release();
  });
  for (auto& [id, fn] : hooks) fn();
  if (parent_) {
    parent_->post(new ChildTerminatedMsg(this, failure, x.supervision && x.supervision->escalate));
  } else {
    system_->on_guardian_terminated();
  }
}

void ActorCellBase::on_child_terminated(ActorCellBase* child, const std::optional<Error>& failure,
                                        bool escalate) {
  {
    std::lock_guard guard(lock_);
    if (child->prev_sibling_) child->prev_sibling_->next_sibling_ = child->next_sibling_;
    if (child->next_sibling_) child->next_sibling_->prev_sibling_ = child->prev_sibling_;
    if (first_child_ == child) first_child_ = child->next_sibling_;
    child->prev_sibling_ = child->next_sibling_ = nullptr;
    auto* x = extras_.load(std::memory_order_acquire);
    if (x && x->registry && child->name_) {
      auto& named = x->registry->named_children;
      auto it = named.find(*child->name_);
      if (it != named.end() && it->second == child) named.erase(it);
    }
  }
  std::string child_path = escalate && failure ? child->path() : std::string();
  child->release();  // the children list's reference

  auto st = state();
  if (escalate && failure && st == CellState::running) {
    fail(Error(Errc::actor_failed, "child " + child_path + " escalated: " + failure->message()));
    st = state();
  }
  if (has_children()) return;
  if (st == CellState::stopping) {
    finish_termination();
  } else if (st == CellState::restarting && suspended_ && !extras().sup().backoff_timer) {
    complete_restart();
  }
}

void ActorCellBase::watch(ActorCellBase* target) {
  if (target == this || !target) return;
  if (!extras().watching.insert(target)) return;
  target->retain();
  target->post(new WatchMsg(this));
}

void ActorCellBase::unwatch(ActorCellBase* target) {
  if (!extras().watching.erase(target)) return;
  target->post(new UnwatchMsg(this));
  target->release();
}

void ActorCellBase::on_watched_terminated(ActorCellBase* who, const std::optional<Error>& failure) {
  if (!extras().watching.erase(who)) return;  // unwatched meanwhile
  AnyActorRef ref(IntrusivePtr<ActorCellBase>::share(who));
  who->release();
  if (state() != CellState::running) return;
  const bool handled = failure && who->parent_ == this ? signal_safely(ChildFailed{ref, *failure})
                                                       : signal_safely(Terminated{ref});
  if (!handled && state() == CellState::running) {
    // Akka's death pact: watching without handling Terminated means "fail with it".
    fail(Error(Errc::actor_failed, "death pact: watched actor " + ref.path() + " terminated and " +
                                       path() + " did not handle the signal"));
  }
}

}  // namespace weft::detail

namespace weft {

AnyActorRef::AnyActorRef() noexcept = default;
AnyActorRef::AnyActorRef(detail::IntrusivePtr<detail::ActorCellBase> cell) noexcept
    : cell_(std::move(cell)) {}
AnyActorRef::AnyActorRef(const AnyActorRef& other) noexcept = default;
AnyActorRef::AnyActorRef(AnyActorRef&& other) noexcept = default;
AnyActorRef& AnyActorRef::operator=(const AnyActorRef& other) noexcept = default;
AnyActorRef& AnyActorRef::operator=(AnyActorRef&& other) noexcept = default;
AnyActorRef::~AnyActorRef() = default;

std::string AnyActorRef::path() const {
  return cell_ ? cell_->path() : std::string("<none>");
}
std::string AnyActorRef::name() const {
  return cell_ ? cell_->name() : std::string();
}
bool AnyActorRef::is_terminated() const {
  return !cell_ || cell_->is_terminated();
}

}  // namespace weft
