#include "weft/actor/actor_system.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "actor/scheduler.hpp"
#include "actor/timer_service.hpp"
#include "weft/core/metrics.hpp"

namespace weft::detail {

Result<void> validate_actor_name(std::string_view name) {
  if (name.empty() || name.size() > 255) {
    return fail(Errc::invalid_argument,
                "actor name must be 1-255 characters, got " + std::to_string(name.size()));
  }
  if (name[0] == '$') {
    return fail(Errc::invalid_argument,
                "actor name '" + std::string(name) + "' must not start with '$' (reserved)");
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':' || c == '@';
    if (!ok) {
      return fail(Errc::invalid_argument,
                  "actor name '" + std::string(name) + "' has an invalid character at position " +
                      std::to_string(i) + " (allowed: A-Z a-z 0-9 - _ . : @)");
    }
  }
  return {};
}

std::string anonymous_name(std::uint64_t id) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  char buf[16];
  int n = 0;
  do {
    buf[n++] = kDigits[id % 36];
    id /= 36;
  } while (id);
  std::string s = "$";
  while (n) s += buf[--n];
  return s;
}

void throw_spawn_error(const Error& e) {
  throw std::invalid_argument(e.describe());
}

namespace {
struct GuardianMsg {};
}  // namespace

class SystemImpl final : public SystemServices {
 public:
  explicit SystemImpl(ActorSystemConfig config)
      : config_(std::move(config)),
        clock_(config_.clock ? config_.clock : SystemClock::instance()),
        timers_(clock_),
        sent_(metrics_.counter("weft_actor_messages_sent_total", "Messages sent to local actors")),
        processed_(metrics_.counter("weft_actor_messages_processed_total",
                                    "Messages handled by actor behaviors")),
        dead_(metrics_.counter("weft_actor_dead_letters_total",
                               "Messages that could not be delivered")),
        dropped_(metrics_.counter("weft_actor_mailbox_dropped_total",
                                  "Messages dropped by bounded mailbox overflow policies")),
        unhandled_(
            metrics_.counter("weft_actor_unhandled_total", "Messages a behavior did not handle")),
        restarts_(metrics_.counter("weft_actor_restarts_total", "Supervised actor restarts")) {
    metrics_.callback_gauge("weft_actor_mailbox_depth", "Messages queued in actor mailboxes",
                            [this] { return static_cast<double>(depth()); });
    if (config_.deterministic_seed) {
      auto d = std::make_unique<DeterministicScheduler>(*config_.deterministic_seed);
      deterministic_ = d.get();
      scheduler_ = std::move(d);
    } else {
      unsigned n = config_.workers ? config_.workers : std::thread::hardware_concurrency();
      scheduler_ = make_work_stealing_scheduler(n ? n : 1);
    }
    guardian_ = new ActorCell<GuardianMsg>(*this, nullptr, "user", next_actor_id(),
                                           behaviors::ignore<GuardianMsg>(), MailboxConfig{});
    guardian_->schedule_if_idle();
  }

  ~SystemImpl() override = default;

  // SystemServices
  void schedule(ActorCellBase* cell) override {
    if (scheduler_down_.load(std::memory_order_acquire)) {
      cell->abandon();
      return;
    }
    scheduler_->schedule(cell);
  }
  [[nodiscard]] std::uint32_t throughput() const noexcept override { return config_.throughput; }
  [[nodiscard]] const Clock& clock() const noexcept override { return *clock_; }
  std::uint64_t next_actor_id() noexcept override {
    return next_id_.fetch_add(1, std::memory_order_relaxed);
  }
  std::uint64_t schedule_timer(Duration delay, std::function<void()> fn) override {
    return timers_.schedule(delay, std::move(fn));
  }
  bool cancel_timer(std::uint64_t id) override { return timers_.cancel(id); }

  void dead_letters(const ActorCellBase& recipient, std::uint64_t n,
                    std::string_view reason) override {
    dead_.inc(n);
    log_limited(recipient, n, reason);
  }
  void mailbox_dropped(const ActorCellBase& recipient) override {
    dropped_.inc();
    (void)recipient;
  }
  void unhandled(const ActorCellBase& recipient) override {
    unhandled_.inc();
    if (spdlog::should_log(spdlog::level::debug)) {
      spdlog::debug("{} did not handle a message", recipient.path());
    }
  }
  void count_processed(std::uint64_t n) noexcept override { processed_.inc(n); }
  void count_restart() noexcept override { restarts_.inc(); }
  void count_sent() noexcept override { sent_.inc(); }

  void on_guardian_terminated() override {
    {
      std::lock_guard lock(term_mutex_);
      guardian_done_ = true;
    }
    term_cv_.notify_all();
  }

  // ActorSystem
  void terminate() {
    {
      std::lock_guard lock(term_mutex_);
      if (terminate_started_) return;
      terminate_started_ = true;
    }
    guardian_->stop();
    bool done;
    if (deterministic_) {
      while (deterministic_->run_one()) {
      }
      std::lock_guard lock(term_mutex_);
      done = guardian_done_;
    } else {
      std::unique_lock lock(term_mutex_);
      done = term_cv_.wait_for(lock, config_.shutdown_timeout, [this] { return guardian_done_; });
    }
    if (!done) {
      spdlog::error("actor system '{}': actors did not stop within {} ms; shutting down anyway",
                    config_.name, config_.shutdown_timeout.count());
    }
    scheduler_down_.store(true, std::memory_order_release);
    scheduler_->shutdown();
    timers_.shutdown();
    flush_dead_letter_summary();
  }

  [[nodiscard]] bool terminated() const {
    std::lock_guard lock(term_mutex_);
    return guardian_done_;
  }

  std::size_t run_until_quiescent(std::size_t max_turns) {
    if (!deterministic_) {
      throw std::logic_error("run_until_quiescent needs ActorSystemConfig::deterministic_seed");
    }
    std::size_t n = 0;
    while (n < max_turns && deterministic_->run_one()) ++n;
    return n;
  }

  [[nodiscard]] ActorSystemStats stats() const {
    ActorSystemStats s;
    s.messages_sent = sent_.value();
    s.messages_processed = processed_.value();
    s.dead_letters = dead_.value();
    s.mailbox_dropped = dropped_.value();
    s.unhandled = unhandled_.value();
    s.restarts = restarts_.value();
    s.mailbox_depth = depth();
    return s;
  }

  [[nodiscard]] std::int64_t depth() const {
    return static_cast<std::int64_t>(sent_.value()) -
           static_cast<std::int64_t>(processed_.value() + dropped_.value() + dead_.value());
  }

  ActorCellBase& guardian() { return *guardian_; }
  MetricsRegistry& metrics() { return metrics_; }
  [[nodiscard]] unsigned workers() const { return scheduler_->workers(); }
  [[nodiscard]] bool deterministic() const { return deterministic_ != nullptr; }

  /// Drops the system's reference to the guardian (after terminate).
  void release_guardian() {
    if (guardian_) std::exchange(guardian_, nullptr)->release();
  }

 private:
  void log_limited(const ActorCellBase& recipient, std::uint64_t n, std::string_view reason) {
    const auto now = clock_->now();
    std::unique_lock lock(log_mutex_);
    if (now - log_window_ >= std::chrono::seconds(1)) {
      const auto suppressed = std::exchange(suppressed_, 0);
      log_window_ = now;
      logged_in_window_ = 0;
      if (suppressed) {
        spdlog::info("{} more dead letters were not logged in the last second", suppressed);
      }
    }
    if (logged_in_window_ >= config_.dead_letter_log_limit) {
      suppressed_ += n;
      return;
    }
    ++logged_in_window_;
    lock.unlock();
    spdlog::info("dead letter{}: {} message{} to {} ({})", n == 1 ? "" : "s", n, n == 1 ? "" : "s",
                 recipient.path(), reason);
  }

  void flush_dead_letter_summary() {
    std::lock_guard lock(log_mutex_);
    if (suppressed_) {
      spdlog::info("{} more dead letters were not logged", std::exchange(suppressed_, 0));
    }
  }

  ActorSystemConfig config_;
  std::shared_ptr<Clock> clock_;
  MetricsRegistry metrics_;
  TimerService timers_;
  Counter& sent_;
  Counter& processed_;
  Counter& dead_;
  Counter& dropped_;
  Counter& unhandled_;
  Counter& restarts_;
  std::unique_ptr<Scheduler> scheduler_;
  DeterministicScheduler* deterministic_ = nullptr;
  std::atomic<bool> scheduler_down_{false};
  std::atomic<std::uint64_t> next_id_{1};
  ActorCellBase* guardian_ = nullptr;

  mutable std::mutex term_mutex_;
  std::condition_variable term_cv_;
  bool terminate_started_ = false;
  bool guardian_done_ = false;

  std::mutex log_mutex_;
  TimePoint log_window_{};
  std::uint32_t logged_in_window_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace weft::detail

namespace weft {

ActorSystem::ActorSystem(ActorSystemConfig config)
    : impl_(new detail::SystemImpl(std::move(config))) {}

ActorSystem::~ActorSystem() {
  impl_->terminate();
  impl_->release_guardian();
  impl_->release();
}

void ActorSystem::terminate() {
  impl_->terminate();
}
bool ActorSystem::is_terminated() const {
  return impl_->terminated();
}
const Clock& ActorSystem::clock() const {
  return impl_->clock();
}
unsigned ActorSystem::workers() const {
  return impl_->workers();
}
ActorSystemStats ActorSystem::stats() const {
  return impl_->stats();
}
MetricsRegistry& ActorSystem::metrics() const {
  return impl_->metrics();
}
std::size_t ActorSystem::run_until_quiescent(std::size_t max_turns) {
  return impl_->run_until_quiescent(max_turns);
}
bool ActorSystem::is_deterministic() const {
  return impl_->deterministic();
}
detail::ActorCellBase& ActorSystem::guardian() const {
  return impl_->guardian();
}
detail::SystemServices& ActorSystem::services() const {
  return *impl_;
}

}  // namespace weft
