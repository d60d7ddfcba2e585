// Watermark alignment (WatermarkStrategy::with_alignment): a source subtask stops polling while
// it is too far ahead of the slowest aligned one in event time.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "eventually.hpp"
#include "weft/actor/actor_system.hpp"
#include "weft/stream/sinks.hpp"
#include "weft/stream/stream.hpp"

namespace weft::stream {
namespace {

using namespace std::chrono_literals;

constexpr Timestamp drift_ms = 200;
constexpr std::size_t per_poll = 10;  // the fast subtask's records per poll

/// Polls `done` until it holds or 20 s pass (no sleeps standing in for events).
bool eventually(const std::function<bool()>& done) {
  return weft::test::eventually(done, 20s);
}

/// What the test controls and sees of the two subtasks.
struct Gate {
  Timestamp fast_records = 3000;
  Timestamp slow_records = 3000;
  /// The slow subtask emits timestamps up to this one.
  std::atomic<Timestamp> allowed{99};
  /// The slow subtask's first watermark has reached the alignment (it polls again only after).
  std::atomic<bool> slow_reported{false};
  std::atomic<Timestamp> fast_highest{-1};
  std::atomic<bool> fast_done{false};
  /// Records the fast subtask emitted more than the drift (and one poll) ahead of the slow one.
  std::atomic<int> overshoot{0};
};

/// Subtask 0 emits one record per ms of event time as fast as it is polled; subtask 1 only up
/// to what the gate allows (polled again and again meanwhile, as a source waiting for input).
class TwoSpeedSource final : public Source<Timestamp> {
 public:
  explicit TwoSpeedSource(std::shared_ptr<Gate> gate) : gate_(std::move(gate)) {}

  SourceStatus poll(SourceOutput<Timestamp>& out, std::size_t max) override {
    return ctx().subtask() == 0 ? poll_fast(out, max) : poll_slow(out, max);
  }

 private:
  SourceStatus poll_fast(SourceOutput<Timestamp>& out, std::size_t max) {
    // Before the slow subtask has a watermark there is nothing to align with.
    if (!gate_->slow_reported.load()) return SourceStatus::more;
    for (std::size_t i = 0; i < std::min(max, per_poll) && next_ < gate_->fast_records; ++i) {
      // The slow subtask's watermark is at most allowed - 1; this subtask polls while its own
      // (highest - 1) is within the drift of it, and a poll adds up to per_poll records.
      const auto bound = gate_->allowed.load() + drift_ms + static_cast<Timestamp>(per_poll);
      if (next_ > bound && gate_->allowed.load() < gate_->slow_records) ++gate_->overshoot;
      gate_->fast_highest.store(next_);
      out.emit(Timestamp{next_}, next_);
      ++next_;
    }
    if (next_ < gate_->fast_records) return SourceStatus::more;
    gate_->fast_done.store(true);
    return SourceStatus::finished;
  }

  SourceStatus poll_slow(SourceOutput<Timestamp>& out, std::size_t max) {
    if (next_ > 0) gate_->slow_reported.store(true);
    for (std::size_t i = 0; i < std::min(max, per_poll) && next_ <= gate_->allowed.load() &&
                            next_ < gate_->slow_records;
         ++i) {
      out.emit(Timestamp{next_}, next_);
      ++next_;
    }
    if (next_ < gate_->slow_records) return SourceStatus::more;
    gate_->slow_reported.store(true);
    return SourceStatus::finished;
  }

  std::shared_ptr<Gate> gate_;
  Timestamp next_ = 0;
};

struct TwoSpeedJob {
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();
  std::shared_ptr<Collected<Timestamp>> out = std::make_shared<Collected<Timestamp>>();
  StreamJob job;
};

void build(TwoSpeedJob& run, bool aligned) {
  auto strategy = WatermarkStrategy<Timestamp>::monotonous();
  if (aligned) strategy = strategy.with_alignment(std::chrono::milliseconds(drift_ms));
  run.job
      .from<Timestamp>([gate = run.gate] { return std::make_unique<TwoSpeedSource>(gate); },
                       strategy, "two-speed", 2)
      .to(collect(run.out));
}

TEST(WatermarkAlignment, WithoutItAFastSubtaskRunsToTheEndWhileTheOtherWaits) {
  ActorSystem system(ActorSystemConfig{.workers = 2});
  TwoSpeedJob run;
  build(run, false);
  auto running = run.job.start(system);
  ASSERT_TRUE(running) << running.error().describe();
  ASSERT_TRUE(eventually([&] { return run.gate->fast_done.load(); }));
  EXPECT_GT(run.gate->overshoot.load(), 0);
  run.gate->allowed.store(run.gate->slow_records);
  ASSERT_TRUE((*running)->wait_for(30s));
  EXPECT_EQ(run.out->size(), 6000u);
}

TEST(WatermarkAlignment, AFastSubtaskKeepsWithinTheDriftOfTheSlowOne) {
  ActorSystem system(ActorSystemConfig{.workers = 2});
  TwoSpeedJob run;
  build(run, true);
  auto running = run.job.start(system);
  ASSERT_TRUE(running) << running.error().describe();
  // Step the slow subtask on; each time, the fast one catches up to at least half the drift ahead
  // of it (a waiting subtask resumes only once the slowest is within half its drift, so it may
  // stay paused anywhere between half the drift and the drift ahead) and no further than the
  // drift and one poll (the overshoot count).
  for (Timestamp allowed = 99; allowed < run.gate->slow_records; allowed += 250) {
    run.gate->allowed.store(allowed);
    const Timestamp near = std::min(allowed + drift_ms / 2, run.gate->fast_records - 1);
    ASSERT_TRUE(eventually([&] { return run.gate->fast_highest.load() >= near; }))
        << "allowed " << allowed << ", fast at " << run.gate->fast_highest.load();
    if (allowed + drift_ms + static_cast<Timestamp>(per_poll) < run.gate->fast_records - 1) {
      EXPECT_FALSE(run.gate->fast_done.load()) << "allowed " << allowed;
    }
  }
  run.gate->allowed.store(run.gate->slow_records);
  ASSERT_TRUE((*running)->wait_for(30s));
  EXPECT_EQ(run.gate->overshoot.load(), 0);
  auto values = run.out->values();
  std::ranges::sort(values);
  ASSERT_EQ(values.size(), 6000u);
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(values[i], static_cast<Timestamp>(i / 2));
  }
}

TEST(WatermarkAlignment, ASubtaskThatFinishesHoldsNoOneBack) {
  ActorSystem system(ActorSystemConfig{.workers = 2});
  TwoSpeedJob run;
  run.gate->slow_records = 100;  // finishes far behind the fast one's end
  build(run, true);
  auto running = run.job.start(system);
  ASSERT_TRUE(running) << running.error().describe();
  ASSERT_TRUE((*running)->wait_for(30s));
  EXPECT_TRUE(run.gate->fast_done.load());
  EXPECT_EQ(run.out->size(), 3100u);
}

}  // namespace
}  // namespace weft::stream
