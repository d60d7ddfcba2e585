// Processing-time windows and global windows with triggers, on a manual job clock; both
// restored from a checkpoint with their timers re-armed. Tumbling and sliding windows kept in
// panes against a brute-force model, across restores and from blobs written before panes.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
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

// ---------------------------------------------------------------------------------------
// Tumbling and sliding windows in panes: what fires equals a brute-force model that keeps every
// record, whatever the size, slide, offset, lateness, disorder and restores.

/// Every record accepted so far; a window's count is recomputed from them when it fires.
class SlidingModel {
 public:
  SlidingModel(Timestamp size, Timestamp slide, Timestamp offset, Timestamp lateness)
      : size_(size), slide_(slide), offset_(offset), lateness_(lateness) {}

  void emit(std::int64_t key, Timestamp ts) {
    bool open = false;
    for (const Timestamp s : starts(ts)) open = open || !expired(s);
    if (!open) {
      ++late;
      return;
    }
    records_.emplace_back(key, ts);
    for (const Timestamp s : starts(ts)) {
      if (!expired(s) && s + size_ - 1 <= time_) fired.emplace_back(key, s, count(key, s));
    }
  }

  void watermark(Timestamp wm) {
    if (wm <= time_) return;
    std::set<Timestamp> closing;
    for (const auto& [k, ts] : records_) {
      for (const Timestamp s : starts(ts)) {
        if (s + size_ - 1 > time_ && s + size_ - 1 <= wm) closing.insert(s);
      }
    }
    time_ = wm;
    for (const Timestamp s : closing) {
      std::set<std::int64_t> keys;
      for (const auto& [k, ts] : records_) {
        if (ts >= s && ts < s + size_) keys.insert(k);
      }
      for (const auto k : keys) fired.emplace_back(k, s, count(k, s));
    }
  }

  std::vector<std::tuple<std::int64_t, Timestamp, std::uint64_t>> fired;
  std::size_t late = 0;

 private:
  [[nodiscard]] std::vector<Timestamp> starts(Timestamp ts) const {
    std::vector<Timestamp> r;
    for (Timestamp s = ts - detail::floor_mod(ts - offset_, slide_); s > ts - size_; s -= slide_) {
      r.push_back(s);
    }
    return r;
  }
  [[nodiscard]] bool expired(Timestamp s) const { return s + size_ - 1 + lateness_ <= time_; }
  [[nodiscard]] std::uint64_t count(std::int64_t key, Timestamp s) const {
    return static_cast<std::uint64_t>(std::ranges::count_if(records_, [&](const auto& r) {
      return r.first == key && r.second >= s && r.second < s + size_;
    }));
  }

  Timestamp size_, slide_, offset_, lateness_;
  Timestamp time_ = min_timestamp;
  std::vector<std::pair<std::int64_t, Timestamp>> records_;
};

struct FixedHarness {
  FixedContext ctx;
  Into<Counted> out;
  Into<Tick> late;
  CountOp op;
  FixedHarness(WindowAssigner assigner, Timestamp lateness)
      : op([](const Tick& t) { return t.key; }, std::move(assigner), lateness, {}, {}, &out,
           &late) {
    op.open(ctx);
  }
};

std::vector<std::byte> snapshot_of(CountOp& op) {
  std::vector<std::byte> blob;
  Writer w(blob);
  EXPECT_TRUE(op.snapshot(1, w));
  return blob;
}

/// Sliding windows for a property: mostly whole multiples of the slide (the usual windows),
/// sometimes any size (small panes, or gaps between windows when the slide is the larger).
struct FixedCase {
  Timestamp slide = 0, size = 0, offset = 0, lateness = 0;
  WindowAssigner assigner;
};
FixedCase draw_fixed_case() {
  FixedCase c;
  c.slide = *rc::gen::inRange<Timestamp>(1, 30);
  c.size = *rc::gen::weightedOneOf<Timestamp>(
      {{3, rc::gen::map(rc::gen::inRange<Timestamp>(1, 6),
                        [slide = c.slide](Timestamp m) { return m * slide; })},
       {1, rc::gen::inRange<Timestamp>(1, 60)}});
  c.offset = *rc::gen::inRange<Timestamp>(0, 20);
  c.lateness = *rc::gen::element<Timestamp>(0, 0, 7, 40);
  c.assigner = sliding(std::chrono::milliseconds(c.size), std::chrono::milliseconds(c.slide),
                       std::chrono::milliseconds(c.offset));
  return c;
}

RC_GTEST_PROP(PaneProperty, SlidingAndTumblingWindowsFireAsTheRecordsSay, ()) {
  const auto [slide, size, offset, lateness, assigner] = draw_fixed_case();
  SlidingModel model(size, slide, offset, lateness);
  auto h = std::make_unique<FixedHarness>(assigner, lateness);
  std::vector<std::tuple<std::int64_t, Timestamp, std::uint64_t>> fired;
  const auto n = *rc::gen::inRange(1, 200);
  Timestamp now = *rc::gen::inRange<Timestamp>(-100, 100);
  Timestamp wm = min_timestamp;
  for (int i = 0; i < n; ++i) {
    now += *rc::gen::inRange<Timestamp>(0, 8);
    switch (*rc::gen::inRange(0, 10)) {
      case 0: {  // a watermark a little behind the newest record
        wm = std::max(wm, now - *rc::gen::inRange<Timestamp>(0, 15));
        h->op.watermark(wm);
        model.watermark(wm);
        break;
      }
      case 1: {  // a restore from a snapshot: what fired so far stays, the rest carries on
        const auto blob = snapshot_of(h->op);
        for (const auto& c : h->out.values) fired.emplace_back(c.key, c.window.start, c.value);
        auto restored = std::make_unique<FixedHarness>(assigner, lateness);
        RC_ASSERT(restored->op.restore(std::vector<std::vector<std::byte>>{blob}));
        restored->late.values = std::move(h->late.values);
        h = std::move(restored);
        break;
      }
      default: {  // a record up to 30 ms out of order
        const auto key = *rc::gen::inRange<std::int64_t>(0, 4);
        const Timestamp ts = now - *rc::gen::inRange<Timestamp>(0, 30);
        h->op.emit(Tick{key, ts}, ts);
        model.emit(key, ts);
      }
    }
  }
  h->op.watermark(max_timestamp);
  model.watermark(max_timestamp);
  for (const auto& c : h->out.values) fired.emplace_back(c.key, c.window.start, c.value);
  std::ranges::sort(fired);
  std::ranges::sort(model.fired);
  RC_ASSERT(fired == model.fired);
  RC_ASSERT(h->late.values.size() == model.late);
}

// Two-phase aggregation (combine_locally): two local stages, each with its own watermark,
// feeding one window operator over their partials, fire exactly what the model fires for the
// same records and the slower watermark, whatever the flushes before checkpoints and restores.
using CombineOp = detail::PaneCombineOp<std::int64_t, Tick, aggregates::Count<Tick>>;
using PartialTick = detail::Partial<std::int64_t, Tick, std::uint64_t>;
using CombinedCountOp =
    detail::CombinedWindowOp<std::int64_t, Tick, aggregates::Count<Tick>, Counted, EmitCount>;

struct CombinedHarness {
  /// One local stage's output: partials straight into the window operator; its watermark kept
  /// for the minimum the window operator sees.
  struct Link final : Output<PartialTick> {
    CombinedHarness* h = nullptr;
    Timestamp wm = min_timestamp;
    std::uint64_t partials = 0;
    void emit(PartialTick&& p, Timestamp ts) override {
      partials += p.raw ? 0 : 1;
      h->global.emit(std::move(p), ts);
    }
    void watermark(Timestamp w) override {
      wm = w;
      h->global.watermark(std::min(h->links[0].wm, h->links[1].wm));
    }
    void finish() override {}
  };

  FixedContext ctx;
  Into<Counted> out;
  Into<Tick> late;
  CombinedCountOp global;
  std::array<Link, 2> links;
  std::array<std::unique_ptr<CombineOp>, 2> locals;

  CombinedHarness(const WindowAssigner& assigner, Timestamp lateness)
      : global(assigner, lateness, {}, {}, &out, &late) {
    global.open(ctx);
    for (std::size_t i = 0; i < 2; ++i) {
      links[i].h = this;
      locals[i] = std::make_unique<CombineOp>([](const Tick& t) { return t.key; }, assigner,
                                              aggregates::Count<Tick>{}, &links[i]);
      locals[i]->open(ctx);
    }
  }
};

RC_GTEST_PROP(PaneProperty, LocallyCombinedWindowsFireAsTheRecordsSay, ()) {
  const auto [slide, size, offset, lateness, assigner] = draw_fixed_case();
  SlidingModel model(size, slide, offset, lateness);
  auto h = std::make_unique<CombinedHarness>(assigner, lateness);
  std::vector<std::tuple<std::int64_t, Timestamp, std::uint64_t>> fired;
  std::size_t late = 0;
  const auto n = *rc::gen::inRange(1, 300);
  std::array<Timestamp, 2> now{};
  now[0] = now[1] = *rc::gen::inRange<Timestamp>(-100, 100);
  std::array<Timestamp, 2> wm{min_timestamp, min_timestamp};
  const auto global_wm = [&] { return std::min(wm[0], wm[1]); };
  for (int i = 0; i < n; ++i) {
    const auto at = static_cast<std::size_t>(*rc::gen::inRange(0, 2));
    now[at] += *rc::gen::inRange<Timestamp>(0, 8);
    switch (*rc::gen::inRange(0, 12)) {
      case 0: {  // one instance's watermark a little behind its newest record
        wm[at] = std::max(wm[at], now[at] - *rc::gen::inRange<Timestamp>(0, 15));
        h->locals[at]->watermark(wm[at]);
        model.watermark(global_wm());
        break;
      }
      case 1: {  // a checkpoint: the local stages flush, the window operator snapshots
        for (auto& l : h->locals) l->prepare_snapshot(1);
        std::vector<std::byte> blob;
        Writer w(blob);
        RC_ASSERT(h->global.snapshot(1, w));
        if (*rc::gen::inRange(0, 2) == 0) break;
        // ... and a restore from it: what fired so far stays, the rest carries on.
        for (const auto& c : h->out.values) fired.emplace_back(c.key, c.window.start, c.value);
        late += h->late.values.size();
        h = std::make_unique<CombinedHarness>(assigner, lateness);
        RC_ASSERT(h->global.restore(std::vector<std::vector<std::byte>>{blob}));
        for (std::size_t k = 0; k < 2; ++k) {
          if (wm[k] != min_timestamp) h->locals[k]->watermark(wm[k]);
        }
        break;
      }
      default: {  // a record up to 30 ms out of order
        const auto key = *rc::gen::inRange<std::int64_t>(0, 4);
        const Timestamp ts = now[at] - *rc::gen::inRange<Timestamp>(0, 30);
        h->locals[at]->emit(Tick{key, ts}, ts);
        model.emit(key, ts);
      }
    }
  }
  for (auto& l : h->locals) l->finish();
  for (auto& l : h->locals) l->watermark(max_timestamp);
  model.watermark(max_timestamp);
  for (const auto& c : h->out.values) fired.emplace_back(c.key, c.window.start, c.value);
  late += h->late.values.size();
  std::ranges::sort(fired);
  std::ranges::sort(model.fired);
  RC_ASSERT(fired == model.fired);
  RC_ASSERT(late == model.late);
}

TEST(PaneWindows, LocalStageSendsOnePartialPerKeyAndPane) {
  CombinedHarness h(sliding(10ms, 2ms), 0);
  // 1,000 records of 2 keys in one 2 ms pane: two partials cross, not 1,000 records.
  for (int i = 0; i < 1000; ++i) h.locals[0]->emit(Tick{i % 2, 4}, 4);
  h.locals[1]->watermark(100);
  EXPECT_EQ(h.links[0].partials, 0u) << "nothing is sent before the watermark passes the pane";
  h.locals[0]->watermark(100);
  EXPECT_EQ(h.links[0].partials, 2u);
  std::vector<std::tuple<std::int64_t, Timestamp, std::uint64_t>> got;
  for (const auto& c : h.out.values) got.emplace_back(c.key, c.window.start, c.value);
  std::ranges::sort(got);
  // The pane [4, 6) is in the windows starting -4, -2, 0, 2 and 4.
  decltype(got) want;
  for (std::int64_t k = 0; k < 2; ++k) {
    for (Timestamp s = -4; s <= 4; s += 2) want.emplace_back(k, s, 500);
  }
  EXPECT_EQ(got, want);
  // A record behind its instance's watermark goes on as it is, and is late downstream.
  h.locals[0]->emit(Tick{0, 5}, 5);
  EXPECT_EQ(h.links[0].partials, 2u);
  ASSERT_EQ(h.late.values.size(), 1u);
  EXPECT_EQ(h.late.values[0].value, 5);
}

TEST(PaneWindows, EachRecordUpdatesOnePaneAndTheWindowMergesThem) {
  FixedHarness h(sliding(10ms, 2ms), 0);
  for (Timestamp ts = 0; ts < 10; ++ts) h.op.emit(Tick{ts % 2, ts}, ts);
  // Five panes of 2 ms; the first window to close is [-8, 2), holding the pane [0, 2) only.
  auto blob = snapshot_of(h.op);
  Reader r(blob);
  EXPECT_EQ(*r.varint(), 5u);
  h.op.watermark(9);  // closes [-8, 2) ... [0, 10)
  std::vector<std::tuple<std::int64_t, Timestamp, std::uint64_t>> got;
  for (const auto& c : h.out.values) got.emplace_back(c.key, c.window.start, c.value);
  std::ranges::sort(got);
  EXPECT_EQ(got, (decltype(got){{0, -8, 1},
                                {0, -6, 2},
                                {0, -4, 3},
                                {0, -2, 4},
                                {0, 0, 5},
                                {1, -8, 1},
                                {1, -6, 2},
                                {1, -4, 3},
                                {1, -2, 4},
                                {1, 0, 5}}));
}

TEST(PaneWindows, BlobWrittenBeforePanesRestoresItsWholeWindows) {
  // The layout before panes: per window its bounds, whether it fired, and its keys; then no
  // sessions, no global windows, no trigger timers, and no closed time.
  std::vector<std::byte> blob;
  Writer w(blob);
  const auto window = [&](Timestamp start, bool fired, std::int64_t key, std::uint64_t n) {
    w.put_fixed64(static_cast<std::uint64_t>(start));
    w.put_fixed64(static_cast<std::uint64_t>(start + 10));
    w.put_byte(fired ? std::byte{1} : std::byte{0});
    w.put_varint(1);
    Codec<std::int64_t>::encode(key, w);
    Codec<std::uint64_t>::encode(n, w);
  };
  w.put_varint(3);
  window(-6, true, 7, 1);  // [-6, 4) fired with 1 record, kept for the allowed lateness
  window(-4, false, 7, 2);
  window(-2, false, 7, 3);
  for (int section = 0; section < 4; ++section) w.put_varint(0);

  FixedHarness h(sliding(10ms, 2ms), 5);
  ASSERT_TRUE(h.op.restore(std::vector<std::vector<std::byte>>{blob}));
  h.op.emit(Tick{7, 3}, 3);  // late for [-6, 4), which fires again; and in [-4, 6) ... [2, 12)
  h.op.emit(Tick{7, 6}, 6);
  h.op.watermark(max_timestamp);
  std::vector<std::tuple<std::int64_t, Timestamp, std::uint64_t>> got;
  for (const auto& c : h.out.values) got.emplace_back(c.key, c.window.start, c.value);
  std::ranges::sort(got);
  EXPECT_EQ(got,
            (decltype(got){
                {7, -6, 2}, {7, -4, 3}, {7, -2, 5}, {7, 0, 2}, {7, 2, 2}, {7, 4, 1}, {7, 6, 1}}));
  EXPECT_TRUE(h.late.values.empty());
}

TEST(PaneWindows, EntriesOfAnotherWidthAreAnError) {
  std::vector<std::byte> blob;
  Writer w(blob);
  w.put_varint(1);
  w.put_fixed64(0);
  w.put_fixed64(7);  // neither a 2 ms pane nor a 10 ms window
  w.put_byte(std::byte{0});
  w.put_varint(0);
  FixedHarness h(sliding(10ms, 2ms), 0);
  const auto r = h.op.restore(std::vector<std::vector<std::byte>>{blob});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("[0, 7)"), std::string::npos) << r.error().message();

  // Bounds whose width overflows (a damaged blob) are the same error, not arithmetic on them.
  std::vector<std::byte> extreme;
  Writer x(extreme);
  x.put_varint(1);
  x.put_fixed64(static_cast<std::uint64_t>(std::numeric_limits<Timestamp>::min()));
  x.put_fixed64(static_cast<std::uint64_t>(std::numeric_limits<Timestamp>::max()));
  x.put_byte(std::byte{0});
  x.put_varint(0);
  FixedHarness g(sliding(10ms, 2ms), 0);
  const auto e = g.op.restore(std::vector<std::vector<std::byte>>{extreme});
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), Errc::corrupted);
}

}  // namespace
}  // namespace weft::stream
