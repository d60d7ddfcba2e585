// Processing-time windows and global windows with triggers, on a manual job clock; both
// restored from a checkpoint with their timers re-armed.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "temp_dir.hpp"
#include "weft/actor/actor_system.hpp"
#include "weft/core/codec.hpp"
#include "weft/stream/sinks.hpp"
#include "weft/stream/sources.hpp"
#include "weft/stream/stream.hpp"

namespace weft::stream {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using weft::test::TempDir;

struct Tick {
  std::int64_t key = 0;
  std::int64_t value = 0;
};
WEFT_CODEC(Tick, "test.window.Tick", 1, key, value);

using Sums = Collected<Windowed<std::int64_t, Tick>>;

template <class Pred>
bool poll_until(Pred done, Duration timeout = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

/// A job over a queue on a manual clock, with checkpoints on request.
class ClockedJob {
 public:
  using Build = std::function<void(Stream<Tick>, std::shared_ptr<Sums>)>;

  ClockedJob(ActorSystem& system, const fs::path& dir, std::shared_ptr<Sums> out, Build build)
      : queue_(std::make_shared<StreamQueue<Tick>>(1000)) {
    JobOptions options;
    options.checkpoint_dir = dir;
    StreamJob job(options);
    build(job.from(from_queue(queue_), {}, "ticks", 1), std::move(out));
    auto started = job.start(system);
    EXPECT_TRUE(started) << started.error().describe();
    if (started) job_ = std::move(*started);
  }

  void offer(std::int64_t key, std::int64_t value) {
    ASSERT_TRUE(queue_->offer(Tick{key, value}, 0));
  }

  /// Returns once everything offered so far, and every wakeup of a clock advance made so far,
  /// has been handled by every task: the queue is drained, then a checkpoint completes (its
  /// barrier follows those records, and each task's wakeup turns, through the whole job).
  void settle() {
    ASSERT_TRUE(poll_until([&] { return queue_->size() == 0; }));
    Result<CheckpointId> id = fail(Errc::conflict, "not yet");
    ASSERT_TRUE(poll_until([&] {
      id = job_->checkpoint();
      return id.has_value();
    })) << id.error().describe();
    ASSERT_TRUE(poll_until([&] { return job_->metrics().last_checkpoint == *id; }));
  }

  void finish() {
    queue_->close();
    ASSERT_TRUE(job_->wait_for(30s));
  }
  void cancel() {
    job_->cancel();
    job_.reset();
  }

 private:
  std::shared_ptr<StreamQueue<Tick>> queue_;
  std::unique_ptr<Job> job_;
};

struct Fixture {
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::unique_ptr<ActorSystem> system;
  TempDir dir;
  Timestamp t0 = 0;

  Fixture() {
    ActorSystemConfig config;
    config.workers = 2;
    config.clock = clock;
    system = std::make_unique<ActorSystem>(config);
    t0 = clock->wall_ms();
  }
};

Tick add(const Tick& a, const Tick& b) {
  return Tick{a.key, a.value + b.value};
}

std::vector<std::tuple<std::int64_t, Timestamp, Timestamp, std::int64_t>> rows(const Sums& out,
                                                                               Timestamp t0) {
  std::vector<std::tuple<std::int64_t, Timestamp, Timestamp, std::int64_t>> r;
  for (const auto& w : out.values()) {
    r.emplace_back(w.key, w.window.start - t0, w.window.end - t0, w.value.value);
  }
  std::ranges::sort(r);
  return r;
}

TEST(ProcessingTimeWindow, TumblingFiresOnTheClockAndSurvivesRestore) {
  Fixture f;
  ASSERT_EQ(f.t0 % 10'000, 0) << "the test assumes the manual clock starts on a 10 s boundary";
  auto build = [](Stream<Tick> s, std::shared_ptr<Sums> out) {
    s.key_by([](const Tick& t) { return t.key; })
        .window(tumbling_processing_time(10s))
        .reduce(add)
        .uid("sums")
        .to(collect(std::move(out)));
  };
  auto out = std::make_shared<Sums>();
  {
    ClockedJob job(*f.system, f.dir.path(), out, build);
    job.offer(1, 1);
    job.offer(1, 2);
    job.offer(2, 5);
    job.settle();
    f.clock->advance(9999ms);  // [0, 10 s) still open
    job.settle();
    EXPECT_EQ(out->size(), 0u);
    f.clock->advance(1ms);
    ASSERT_TRUE(poll_until([&] { return out->size() == 2; }));
    EXPECT_EQ(rows(*out, f.t0), (decltype(rows(*out, 0)){{1, 0, 10'000, 3}, {2, 0, 10'000, 5}}));
    // A window left open in the checkpoint the next job resumes from.
    job.offer(1, 7);
    job.settle();
    job.cancel();
  }
  auto restored = std::make_shared<Sums>();
  ClockedJob job(*f.system, f.dir.path(), restored, build);
  f.clock->advance(10s);  // the restored window [10 s, 20 s) closes on the re-armed wakeup
  ASSERT_TRUE(poll_until([&] { return restored->size() == 1; }));
  EXPECT_EQ(rows(*restored, f.t0), (decltype(rows(*out, 0)){{1, 10'000, 20'000, 7}}));
  job.finish();
  EXPECT_EQ(restored->size(), 1u);
}

TEST(ProcessingTimeWindow, SlidingAndSessionWindowsFollowTheClock) {
  Fixture f;
  auto sliding_out = std::make_shared<Sums>();
  auto session_out = std::make_shared<Sums>();
  ClockedJob job(
      *f.system, f.dir.path(), sliding_out,
      [session_out](Stream<Tick> s, std::shared_ptr<Sums> out) {
        auto keyed = s.key_by([](const Tick& t) { return t.key; });
        keyed.window(sliding_processing_time(10s, 5s)).reduce(add).to(collect(std::move(out)));
        keyed.window(session_processing_time(5s)).reduce(add).to(collect(session_out));
      });
  job.offer(1, 1);  // at 0: sliding [-5, 5) and [0, 10); session [0, 5)
  job.settle();
  f.clock->advance(3s);
  job.offer(1, 10);  // at 3: the same sliding windows; the session grows to [0, 8)
  job.settle();
  f.clock->advance(2s);  // 5: sliding [-5, 5) closes
  ASSERT_TRUE(poll_until([&] { return sliding_out->size() == 1; }));
  job.offer(1, 100);  // at 5: sliding [0, 10) and [5, 15); still the session
  job.settle();
  f.clock->advance(5s);  // 10: [0, 10) closes; the session (last record at 5) runs to 10 too
  ASSERT_TRUE(poll_until([&] { return sliding_out->size() == 2 && session_out->size() == 1; }));
  EXPECT_EQ(rows(*session_out, f.t0), (decltype(rows(*session_out, 0)){{1, 0, 10'000, 111}}));
  job.finish();  // the end of input closes [5, 15)
  EXPECT_EQ(rows(*sliding_out, f.t0),
            (decltype(rows(*sliding_out, 0)){
                {1, -5'000, 5'000, 11}, {1, 0, 10'000, 111}, {1, 5'000, 15'000, 100}}));
}

TEST(GlobalWindowTrigger, ProcessingTimeTriggerFiresAfterTheFirstRecordAndSurvivesRestore) {
  Fixture f;
  auto build = [](Stream<Tick> s, std::shared_ptr<Sums> out) {
    s.key_by([](const Tick& t) { return t.key; })
        .window(global_window(processing_time_trigger(5s)))
        .reduce(add)
        .uid("batches")
        .to(collect(std::move(out)));
  };
  auto out = std::make_shared<Sums>();
  {
    ClockedJob job(*f.system, f.dir.path(), out, build);
    job.offer(1, 1);  // key 1's window: due at 5 s
    job.settle();
    f.clock->advance(2s);
    job.offer(1, 2);
    job.offer(2, 4);  // key 2's window: due at 7 s
    job.settle();
    f.clock->advance(3s);  // 5 s
    ASSERT_TRUE(poll_until([&] { return out->size() == 1; }));
    EXPECT_EQ(out->values()[0].key, 1);
    EXPECT_EQ(out->values()[0].value.value, 3);
    job.settle();  // the last checkpoint: key 2's window and its timer, key 1's window gone
    job.cancel();
  }
  auto restored = std::make_shared<Sums>();
  ClockedJob job(*f.system, f.dir.path(), restored, build);
  f.clock->advance(1s);  // 6 s
  job.settle();
  EXPECT_EQ(restored->size(), 0u);
  f.clock->advance(1s);  // 7 s: the restored timer fires
  ASSERT_TRUE(poll_until([&] { return restored->size() == 1; }));
  EXPECT_EQ(restored->values()[0].key, 2);
  EXPECT_EQ(restored->values()[0].value.value, 4);
  job.finish();
  EXPECT_EQ(restored->size(), 1u);
}

TEST(GlobalWindowTrigger, AnyTriggerFiresOnCountOrTimeAndAPurgeDropsTheTimers) {
  Fixture f;
  auto out = std::make_shared<Sums>();
  ClockedJob job(*f.system, f.dir.path(), out, [](Stream<Tick> s, std::shared_ptr<Sums> o) {
    s.key_by([](const Tick& t) { return t.key; })
        .window(global_window(any_trigger({count_trigger(3), processing_time_trigger(5s)})))
        .reduce(add)
        .to(collect(std::move(o)));
  });
  job.offer(1, 1);  // timer at 5 s
  job.offer(1, 2);
  job.offer(1, 3);  // the count fires and purges, dropping the timer at 5 s
  ASSERT_TRUE(poll_until([&] { return out->size() == 1; }));
  EXPECT_EQ(out->values()[0].value.value, 6);
  f.clock->advance(4s);
  job.offer(1, 10);  // a new window: timer at 9 s
  job.settle();
  f.clock->advance(1s);  // 5 s: the dropped timer must not fire the new window
  job.settle();
  EXPECT_EQ(out->size(), 1u);
  f.clock->advance(4s);  // 9 s
  ASSERT_TRUE(poll_until([&] { return out->size() == 2; }));
  EXPECT_EQ(out->values()[1].value.value, 10);
  job.finish();
  EXPECT_EQ(out->size(), 2u);
}

/// A custom trigger: early results at the end of every event-time second, the window kept
/// (accumulating); the end of input fires once more.
class EverySecond final : public Trigger {
 public:
  TriggerResult on_element(TriggerContext& ctx, Timestamp ts) const override {
    ctx.register_event_timer(ts - (ts % 1000) + 999);
    return TriggerResult::keep;
  }
  TriggerResult on_event_time(TriggerContext&, Timestamp) const override {
    return TriggerResult::fire;
  }
};

TEST(GlobalWindowTrigger, CustomEventTimeTriggerFiresWithoutPurging) {
  ActorSystem system;
  std::vector<std::pair<Tick, Timestamp>> input{
      {Tick{1, 1}, 100}, {Tick{1, 2}, 200}, {Tick{1, 3}, 1100}, {Tick{1, 4}, 2500}};
  auto out = std::make_shared<Sums>();
  StreamJob job;
  job.from(from_collection(input),
           WatermarkStrategy<Tick>::monotonous().with_per_record_watermarks())
      .key_by([](const Tick& t) { return t.key; })
      .window(global_window(std::make_shared<EverySecond>()))
      .reduce(add)
      .to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running);
  ASSERT_TRUE((*running)->wait_for(30s));
  // Timers at 999, 1999 and 2999; each fires when the watermark (ts - 1 after each record)
  // passes it, after that record was added: 999 after 1100, 1999 after 2500, 2999 at the end.
  std::vector<std::int64_t> sums;
  for (const auto& w : out->values()) sums.push_back(w.value.value);
  EXPECT_EQ(sums, (std::vector<std::int64_t>{6, 10, 10}));
}

TEST(GlobalWindowTrigger, ThrowingTriggerSendsTheRecordToTheDeadLetters) {
  struct Throws final : Trigger {
    TriggerResult on_element(TriggerContext& ctx, Timestamp) const override {
      if (ctx.count() == 2) throw std::runtime_error("trigger refused the second record");
      return TriggerResult::keep;
    }
  };
  ActorSystem system;
  std::vector<std::pair<Tick, Timestamp>> input{{Tick{1, 1}, 1}, {Tick{1, 2}, 2}};
  auto out = std::make_shared<Sums>();
  StreamJob job;
  job.from(from_collection(input))
      .key_by([](const Tick& t) { return t.key; })
      .window(global_window(std::make_shared<Throws>()))
      .reduce(add)
      .to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running);
  ASSERT_TRUE((*running)->wait_for(30s));
  const auto dead = (*running)->dead_letters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_NE(dead[0].reason.find("trigger refused the second record"), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// The window operator alone: its blob with trigger timers restores whole, and damaged copies
// are errors or garbage, never crashes.

class FixedContext final : public OperatorContext {
 public:
  [[nodiscard]] const std::string& name() const override { return name_; }
  [[nodiscard]] std::uint32_t subtask() const override { return 0; }
  [[nodiscard]] std::uint32_t parallelism() const override { return 1; }
  [[nodiscard]] std::uint32_t max_parallelism() const override { return default_max_parallelism; }
  [[nodiscard]] const Clock& clock() const override { return clock_; }
  void dead_letter(DeadLetter letter) override { letters.push_back(std::move(letter)); }
  void count_late(std::uint64_t) override {}
  void request_wakeup(TimePoint) override {}
  std::vector<DeadLetter> letters;

 private:
  std::string name_ = "window";
  ManualClock clock_;
};

using Counted = Windowed<std::int64_t, std::uint64_t>;

template <class T>
class Into final : public Output<T> {
 public:
  using Output<T>::emit;
  void emit(T&& value, Timestamp) override { values.push_back(std::move(value)); }
  void watermark(Timestamp) override {}
  void finish() override {}
  std::vector<T> values;
};

struct EmitCount {
  void operator()(const std::int64_t& k, Window w, const std::uint64_t& n,
                  Output<Counted>& out) const {
    out.emit(Counted{k, w, n}, w.max_timestamp());
  }
};

using CountOp = detail::WindowOp<std::int64_t, Tick, aggregates::Count<Tick>, Counted, EmitCount>;

struct Harness {
  FixedContext ctx;
  Into<Counted> out;
  Into<Tick> late;
  CountOp op{
      [](const Tick& t) { return t.key; },
      global_window(any_trigger({std::make_shared<EverySecond>(), processing_time_trigger(5s)})),
      0,
      {},
      {},
      &out,
      &late};
  Harness() { op.open(ctx); }
};

std::vector<std::tuple<std::int64_t, Timestamp, std::uint64_t>> fired(const Into<Counted>& out) {
  std::vector<std::tuple<std::int64_t, Timestamp, std::uint64_t>> r;
  for (const auto& c : out.values) r.emplace_back(c.key, c.window.start, c.value);
  std::ranges::sort(r);
  return r;
}

TEST(WindowState, TriggerTimersRestoreWholeAndDamagedBlobsNeverCrash) {
  Harness original;
  for (int i = 0; i < 30; ++i) original.op.emit(Tick{i % 5, i}, 100 * i);
  std::vector<std::byte> blob;
  Writer w(blob);
  ASSERT_TRUE(original.op.snapshot(1, w));
  original.op.watermark(max_timestamp);  // every event timer (and then the processing ones)
  ASSERT_FALSE(original.out.values.empty());

  Harness whole;
  ASSERT_TRUE(whole.op.restore(std::vector<std::vector<std::byte>>{blob}));
  whole.op.watermark(max_timestamp);
  EXPECT_EQ(fired(whole.out), fired(original.out));

  for (std::size_t len = 0; len < blob.size(); ++len) {
    Harness cut;
    const std::vector<std::vector<std::byte>> blobs{
        std::vector<std::byte>(blob.begin(), blob.begin() + static_cast<std::ptrdiff_t>(len))};
    (void)cut.op.restore(blobs);  // an error, or a prefix that ends at a section boundary
    cut.op.watermark(max_timestamp);
  }
  std::mt19937 rng(11);
  for (int round = 0; round < 300; ++round) {
    auto damaged = blob;
    damaged[rng() % damaged.size()] ^= static_cast<std::byte>(1 + rng() % 255);
    Harness h;
    if (!h.op.restore(std::vector<std::vector<std::byte>>{damaged})) continue;
    for (int i = 0; i < 10; ++i) h.op.emit(Tick{i % 5, i}, 100 * i);
    h.op.watermark(max_timestamp);
  }
}

}  // namespace
}  // namespace weft::stream
