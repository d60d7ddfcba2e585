// A work-stealing scheduler in the style of Tokio's: per-worker bounded FIFO queues that idle
// workers steal from, a LIFO slot so a message's receiver runs next on the sender's warm
// cache, a global injection queue for work from outside, and parking so an idle system sleeps.
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "actor/scheduler.hpp"
#include "weft/actor/detail/actor_cell_base.hpp"

namespace weft::detail {
namespace {

/// Bounded ring: the owner pushes at the tail; the owner and thieves pop at the head by CAS.
class LocalQueue {
 public:
  static constexpr std::uint32_t kCapacity = 256;

  bool push(ActorCellBase* c) noexcept {
    const auto t = tail_.load(std::memory_order_relaxed);
    const auto h = head_.load(std::memory_order_acquire);
    if (t - h >= kCapacity) return false;
    slots_[t % kCapacity].store(c, std::memory_order_relaxed);
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  ActorCellBase* pop() noexcept {
    auto h = head_.load(std::memory_order_acquire);
    for (;;) {
      const auto t = tail_.load(std::memory_order_acquire);
      if (static_cast<std::int32_t>(t - h) <= 0) return nullptr;
      ActorCellBase* c = slots_[h % kCapacity].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(h, h + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        return c;
      }
    }
  }

  [[nodiscard]] bool empty() const noexcept {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire);
  }

 private:
  alignas(64) std::atomic<std::uint32_t> head_{0};
  alignas(64) std::atomic<std::uint32_t> tail_{0};
  std::array<std::atomic<ActorCellBase*>, kCapacity> slots_{};
};

/// Unbounded FIFO for work that arrives from outside the workers or overflows a local queue.
class Injector {
 public:
  void push(ActorCellBase* c) {
    std::lock_guard lock(mutex_);
    queue_.push_back(c);
    size_.store(queue_.size(), std::memory_order_release);
  }

  ActorCellBase* pop() {
    if (size_.load(std::memory_order_acquire) == 0) return nullptr;
    std::lock_guard lock(mutex_);
    if (queue_.empty()) return nullptr;
    ActorCellBase* c = queue_.front();
    queue_.pop_front();
    size_.store(queue_.size(), std::memory_order_release);
    return c;
  }

  [[nodiscard]] bool empty() const noexcept { return size_.load(std::memory_order_acquire) == 0; }

 private:
  std::mutex mutex_;
  std::deque<ActorCellBase*> queue_;
  std::atomic<std::size_t> size_{0};
};

class WorkStealingScheduler;

struct Worker {
  WorkStealingScheduler* scheduler = nullptr;
  unsigned index = 0;
  LocalQueue queue;
  ActorCellBase* lifo = nullptr;  // owner only; not stealable
  unsigned lifo_streak = 0;
  std::uint32_t tick = 0;
  bool yielded = false;  // the last turn ended with work left (its throughput used up)
  std::uint32_t rng = 0;
  alignas(64) std::atomic<std::uint32_t> wake{0};
  std::thread thread;
};

thread_local Worker* tl_worker = nullptr;

class WorkStealingScheduler final : public Scheduler {
 public:
  explicit WorkStealingScheduler(unsigned n) : workers_(n) {
    for (unsigned i = 0; i < n; ++i) {
      workers_[i] = std::make_unique<Worker>();
      workers_[i]->scheduler = this;
      workers_[i]->index = i;
      workers_[i]->rng = 0x9e3779b9u * (i + 1);
    }
    for (auto& w : workers_) {
      Worker* wp = w.get();
      w->thread = std::thread([this, wp] { run(*wp); });
    }
  }

  ~WorkStealingScheduler() override { shutdown(); }

  void schedule(ActorCellBase* c) override {
    Worker* w = tl_worker;
    if (w && w->scheduler == this) {
      // The receiver of a message sent by the running actor runs next on this worker.
      if (ActorCellBase* displaced = std::exchange(w->lifo, c)) {
        push_local(*w, displaced);
        notify_if_idle();
      }
      return;
    }
    if (stopping_.load(std::memory_order_acquire)) {
      c->abandon();
      return;
    }
    injector_.push(c);
    notify_if_idle();
  }

  void shutdown() override {
    if (stopping_.exchange(true)) return;
    {
      std::lock_guard lock(idle_mutex_);
      for (auto* w : sleepers_) wake(*w);
      sleepers_.clear();
      idle_count_.store(0);
    }
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
    // Whatever is still queued will never run.
    for (auto& w : workers_) {
      if (w->lifo) std::exchange(w->lifo, nullptr)->abandon();
      while (auto* c = w->queue.pop()) c->abandon();
    }
    while (auto* c = injector_.pop()) c->abandon();
  }

  [[nodiscard]] unsigned workers() const noexcept override {
    return static_cast<unsigned>(workers_.size());
  }

 private:
  static constexpr unsigned kMaxLifoStreak = 16;  // then let queued work run (fairness)
  static constexpr std::uint32_t kGlobalQueueInterval = 61;
  static constexpr int kSpinRounds = 64;

  void run(Worker& w) {
    tl_worker = &w;
    while (!stopping_.load(std::memory_order_acquire)) {
      ActorCellBase* c = next(w);
      for (int i = 0; !c && i < kSpinRounds && !stopping_.load(std::memory_order_relaxed); ++i) {
        for (int p = 0; p < 32; ++p) __builtin_ia32_pause();
        c = steal(w);
      }
      if (!c) {
        park(w);
        continue;
      }
      execute(w, c);
    }
    tl_worker = nullptr;
  }

  void execute(Worker& w, ActorCellBase* c) {
    if (!c->run_turn()) {
      c->release();
      return;
    }
    // Still has work: to the back of the local queue, behind what is waiting.
    const bool others_waiting = !w.queue.empty() || w.lifo;
    push_local(w, c);
    w.yielded = true;
    if (others_waiting) notify_if_idle();
  }

  ActorCellBase* next(Worker& w) {
    ++w.tick;
    // Work from outside the workers (timers, I/O threads) also gets in after every turn that
    // used up an actor's throughput: such turns can be long (a stream task's turn is 256 batches
    // of records), and 61 of them held a job's checkpoint timer back for seconds on a worker
    // that one busy task kept to itself.
    if (std::exchange(w.yielded, false) || w.tick % kGlobalQueueInterval == 0) {
      if (auto* c = injector_.pop()) return c;
    }
    if (w.lifo) {
      if (w.lifo_streak < kMaxLifoStreak) {
        ++w.lifo_streak;
        return std::exchange(w.lifo, nullptr);
      }
      push_local(w, std::exchange(w.lifo, nullptr));
    }
    w.lifo_streak = 0;
    if (auto* c = w.queue.pop()) return c;
    if (auto* c = injector_.pop()) return c;
    return steal(w);
  }

  ActorCellBase* steal(Worker& w) {
    if (auto* c = injector_.pop()) return c;
    const auto n = static_cast<unsigned>(workers_.size());
    w.rng ^= w.rng << 13;
    w.rng ^= w.rng >> 17;
    w.rng ^= w.rng << 5;
    const unsigned start = w.rng % n;
    for (unsigned k = 0; k < n; ++k) {
      Worker& victim = *workers_[(start + k) % n];
      if (&victim == &w) continue;
      if (auto* c = victim.queue.pop()) return c;
    }
    return nullptr;
  }

  void push_local(Worker& w, ActorCellBase* c) {
    if (!w.queue.push(c)) injector_.push(c);
  }

  [[nodiscard]] bool has_work() const {
    if (!injector_.empty()) return true;
    for (auto& w : workers_) {
      if (!w->queue.empty()) return true;
    }
    return false;
  }

  void notify_if_idle() {
    // A seq_cst read-modify-write orders the push before this read (a full fence on x86, and
    // visible to TSan, which does not model atomic_thread_fence).
    if (idle_count_.fetch_add(0, std::memory_order_seq_cst) == 0) return;
    Worker* w = nullptr;
    {
      std::lock_guard lock(idle_mutex_);
      if (sleepers_.empty()) return;
      w = sleepers_.back();
      sleepers_.pop_back();
      idle_count_.fetch_sub(1, std::memory_order_seq_cst);
    }
    wake(*w);
  }

  static void wake(Worker& w) {
    w.wake.store(1, std::memory_order_release);
    w.wake.notify_one();
  }

  void park(Worker& w) {
    {
      std::lock_guard lock(idle_mutex_);
      w.wake.store(0, std::memory_order_relaxed);
      sleepers_.push_back(&w);
      idle_count_.fetch_add(1, std::memory_order_seq_cst);
    }
    // Re-check after announcing: a producer that pushed before seeing us idle is seen here.
    if (has_work() || stopping_.load(std::memory_order_seq_cst)) {
      std::lock_guard lock(idle_mutex_);
      for (auto it = sleepers_.begin(); it != sleepers_.end(); ++it) {
        if (*it == &w) {
          sleepers_.erase(it);
          idle_count_.fetch_sub(1, std::memory_order_seq_cst);
          break;
        }
      }
      return;
    }
    while (w.wake.load(std::memory_order_acquire) == 0) w.wake.wait(0, std::memory_order_acquire);
  }

  std::vector<std::unique_ptr<Worker>> workers_;
  Injector injector_;
  std::atomic<bool> stopping_{false};
  alignas(64) std::atomic<int> idle_count_{0};
  std::mutex idle_mutex_;
  std::vector<Worker*> sleepers_;
};

}  // namespace

std::unique_ptr<Scheduler> make_work_stealing_scheduler(unsigned workers) {
  return std::make_unique<WorkStealingScheduler>(workers == 0 ? 1 : workers);
}

}  // namespace weft::detail
