#include "weft/core/timer_wheel.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace weft {
namespace {

using namespace std::chrono_literals;
using TimerId = TimerWheel::TimerId;

// An hour past the epoch, so deadlines before the wheel's start are representable.
const TimePoint kStart = TimePoint{} + 1h;

TimePoint at(Duration since_start) {
  return kStart + since_start;
}

TEST(TimerWheel, FiresInDeadlineOrderTiesInSchedulingOrder) {
  TimerWheel wheel(kStart);
  std::vector<std::string> fired;
  auto record = [&fired](std::string name) { return [&fired, name] { fired.push_back(name); }; };
  wheel.schedule(at(30ms), record("30ms"));
  wheel.schedule(at(2ms + 700us), record("2.7ms"));
  wheel.schedule(at(2ms + 300us), record("2.3ms"));
  wheel.schedule(at(5s), record("5s-first"));
  wheel.schedule(at(1ms), record("1ms"));
  wheel.schedule(at(5s), record("5s-second"));
  wheel.schedule(at(70ms), record("70ms"));

  EXPECT_EQ(wheel.advance(at(10s)), 7U);
  EXPECT_EQ(fired, (std::vector<std::string>{"1ms", "2.3ms", "2.7ms", "30ms", "70ms", "5s-first",
                                             "5s-second"}));
  EXPECT_TRUE(wheel.empty());
}

// Random deadlines with sub-tick precision, and advances in random steps; for each timer, the
// `now` of the advance that fired it and of the advance before.
struct SteppedRun {
  std::vector<TimePoint> deadlines;
  std::vector<TimePoint> fired_at;
  std::vector<TimePoint> previous_now;
};

SteppedRun run_stepped(Duration tick, Duration max_step, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  TimerWheel wheel(kStart, tick);
  SteppedRun run;
  constexpr std::size_t kTimers = 5000;
  const Duration horizon = 2s;
  std::uniform_int_distribution<std::int64_t> offset(0, horizon.count());
  run.fired_at.assign(kTimers, TimePoint::max());
  run.previous_now.assign(kTimers, TimePoint::max());
  TimePoint now = kStart;
  TimePoint previous = kStart;
  for (std::size_t i = 0; i < kTimers; ++i) {
    run.deadlines.push_back(at(Duration(offset(rng))));
    wheel.schedule(run.deadlines[i], [&run, &now, &previous, i] {
      run.fired_at[i] = now;
      run.previous_now[i] = previous;
    });
  }
  std::uniform_int_distribution<std::int64_t> step(1, max_step.count());
  while (now <= at(horizon)) {
    previous = now;
    now += Duration(step(rng));
    wheel.advance(now);
  }
  EXPECT_TRUE(wheel.empty());
  return run;
}

TEST(TimerWheel, NeverFiresEarly) {
  const SteppedRun run = run_stepped(1ms, 3ms, 1);
  for (std::size_t i = 0; i < run.deadlines.size(); ++i) {
    ASSERT_NE(run.fired_at[i], TimePoint::max()) << "timer " << i << " never fired";
    ASSERT_GE(run.fired_at[i], run.deadlines[i]) << "timer " << i << " fired early";
  }
}

TEST(TimerWheel, FiresOnTheFirstAdvanceReachingItsDeadline) {
  // Steps below a tick: a timer may not wait for the next tick boundary.
  const SteppedRun run = run_stepped(1ms, 300us, 2);
  for (std::size_t i = 0; i < run.deadlines.size(); ++i) {
    ASSERT_NE(run.fired_at[i], TimePoint::max()) << "timer " << i << " never fired";
    ASSERT_LT(run.previous_now[i], run.deadlines[i]) << "timer " << i << " fired an advance late";
    ASSERT_LE(run.fired_at[i] - run.deadlines[i], 1ms) << "timer " << i << " over a tick late";
  }
}

TEST(TimerWheel, FiresExactlyAtADeadlineInsideATick) {
  TimerWheel wheel(kStart, 1ms);
  int fired = 0;
  wheel.schedule(at(1ms + 500us), [&fired] { ++fired; });
  EXPECT_EQ(wheel.advance(at(1ms + 499us)), 0U);
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(wheel.advance(at(1ms + 500us)), 1U);
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, CancelBeforeFire) {
  TimerWheel wheel(kStart);
  std::vector<int> fired;
  const TimerId a = wheel.schedule(at(1ms), [&fired] { fired.push_back(1); });
  const TimerId b = wheel.schedule(at(2h), [&fired] { fired.push_back(2); });
  wheel.schedule(at(3ms), [&fired] { fired.push_back(3); });
  EXPECT_EQ(wheel.size(), 3U);

  EXPECT_TRUE(wheel.cancel(a));
  EXPECT_TRUE(wheel.cancel(b));
  EXPECT_FALSE(wheel.cancel(a));
  EXPECT_EQ(wheel.size(), 1U);

  EXPECT_EQ(wheel.advance(at(3h)), 1U);
  EXPECT_EQ(fired, std::vector<int>{3});
}

TEST(TimerWheel, CallbackCancelsTimersDueInTheSameAdvance) {
  TimerWheel wheel(kStart);
  std::vector<std::string> fired;
  std::vector<bool> cancelled;
  TimerId a = 0;
  TimerId same_tick = 0;
  TimerId later_tick = 0;
  a = wheel.schedule(at(1ms), [&] {
    fired.push_back("a");
    cancelled.push_back(wheel.cancel(same_tick));
    cancelled.push_back(wheel.cancel(later_tick));
    cancelled.push_back(wheel.cancel(a));  // already removed: it is firing
  });
  same_tick = wheel.schedule(at(1ms + 500us), [&fired] { fired.push_back("same_tick"); });
  later_tick = wheel.schedule(at(3ms), [&fired] { fired.push_back("later_tick"); });
  wheel.schedule(at(10ms), [&fired] { fired.push_back("not_due"); });

  EXPECT_EQ(wheel.advance(at(5ms)), 1U);
  EXPECT_EQ(fired, std::vector<std::string>{"a"});
  EXPECT_EQ(cancelled, (std::vector<bool>{true, true, false}));
  EXPECT_EQ(wheel.size(), 1U);
  EXPECT_EQ(wheel.advance(at(20ms)), 1U);
  EXPECT_EQ(fired, (std::vector<std::string>{"a", "not_due"}));
}

TEST(TimerWheel, CallbackSchedulingADueTimerFiresItInTheSameAdvanceInOrder) {
  TimerWheel wheel(kStart);
  std::vector<std::string> fired;
  auto record = [&fired](std::string name) { return [&fired, name] { fired.push_back(name); }; };
  wheel.schedule(at(2ms), [&] {
    fired.push_back("a");
    wheel.schedule(at(1ms), record("past"));
    wheel.schedule(at(2ms), record("tie"));
    wheel.schedule(at(4ms), record("later_tick"));
    wheel.schedule(at(6ms), record("not_due"));
  });
  wheel.schedule(at(2ms + 1ns), record("b"));
  wheel.schedule(at(3ms), record("c"));

  EXPECT_EQ(wheel.advance(at(5ms)), 6U);
  EXPECT_EQ(fired, (std::vector<std::string>{"a", "past", "tie", "b", "c", "later_tick"}));
  EXPECT_EQ(wheel.size(), 1U);
}

TEST(TimerWheel, PeriodicTimerReschedulesItselfWithinOneAdvance) {
  TimerWheel wheel(kStart);
  std::vector<TimePoint> ticks;
  std::function<void(TimePoint)> arm = [&](TimePoint deadline) {
    wheel.schedule(deadline, [&, deadline] {
      ticks.push_back(deadline);
      arm(deadline + 1ms);
    });
  };
  arm(at(1ms));
  EXPECT_EQ(wheel.advance(at(10ms)), 10U);
  ASSERT_EQ(ticks.size(), 10U);
  EXPECT_EQ(ticks.back(), at(10ms));
  EXPECT_EQ(wheel.next_deadline(), at(11ms));
}

TEST(TimerWheel, LargeJumpFiresEverythingDueAndNothingElse) {
  TimerWheel wheel(kStart, 1ms);
  std::vector<std::string> fired;
  auto record = [&fired](std::string name) { return [&fired, name] { fired.push_back(name); }; };
  const Duration ten_days = 240h;
  wheel.schedule(at(ten_days + 1ns), record("10d+1ns"));
  wheel.schedule(at(1ms), record("1ms"));
  wheel.schedule(at(ten_days), record("10d"));
  wheel.schedule(at(1h), record("1h"));
  wheel.schedule(at(ten_days - 1ns), record("10d-1ns"));
  wheel.schedule(at(120h), record("5d"));
  wheel.schedule(at(24h * 400), record("400d"));
  wheel.schedule(at(24h * 365 * 100), record("100y"));

  EXPECT_EQ(wheel.advance(at(ten_days)), 5U);
  EXPECT_EQ(fired, (std::vector<std::string>{"1ms", "1h", "5d", "10d-1ns", "10d"}));
  EXPECT_EQ(wheel.advance(at(ten_days + 1ns)), 1U);
  EXPECT_EQ(wheel.next_deadline(), at(24h * 400));
  EXPECT_EQ(wheel.advance(at(24h * 365 * 200)), 2U);
  EXPECT_EQ(fired.back(), "100y");
}

TEST(TimerWheel, LargeJumpOverAnEmptyWheel) {
  TimerWheel wheel(kStart, 1ms);
  EXPECT_EQ(wheel.advance(at(240h)), 0U);
  EXPECT_EQ(wheel.now(), at(240h));
  // The wheel keeps working relative to the new time.
  int fired = 0;
  wheel.schedule(at(240h + 1ms), [&fired] { ++fired; });
  wheel.schedule(at(240h + 70ms), [&fired] { ++fired; });
  EXPECT_EQ(wheel.advance(at(240h + 999us)), 0U);
  EXPECT_EQ(wheel.advance(at(240h + 1ms)), 1U);
  EXPECT_EQ(wheel.advance(at(240h + 70ms)), 1U);
  EXPECT_EQ(fired, 2);
}

TEST(TimerWheel, DeadlinesOutsideTheRangeNeverFireEarly) {
  // At 1 ns ticks the wheel spans 2^60 ns, about 36.5 years; later deadlines are parked.
  TimerWheel wheel(kStart, 1ns);
  std::vector<std::string> fired;
  auto record = [&fired](std::string name) { return [&fired, name] { fired.push_back(name); }; };
  const Duration year = 24h * 365;
  wheel.schedule(at(year * 50), record("50y"));
  wheel.schedule(TimePoint::max(), record("max"));
  wheel.schedule(TimePoint::min(), record("min"));
  EXPECT_EQ(wheel.advance(kStart), 1U);
  EXPECT_EQ(wheel.advance(at(year * 40)), 0U);
  EXPECT_EQ(wheel.advance(at(year * 50) - 1ns), 0U);
  EXPECT_EQ(wheel.advance(at(year * 50)), 1U);
  EXPECT_EQ(wheel.advance(TimePoint::max() - 1ns), 0U);
  EXPECT_EQ(wheel.advance(TimePoint::max()), 1U);
  EXPECT_EQ(fired, (std::vector<std::string>{"min", "50y", "max"}));
}

TEST(TimerWheel, AMillionRandomTimersFireOnceInDeadlineOrder) {
  constexpr std::uint32_t kTimers = 1'000'000;
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::int64_t> offset(0, Duration(100s).count());
  TimerWheel wheel(kStart, 1ms);
  std::vector<TimePoint> deadlines(kTimers);
  std::vector<std::uint32_t> order;
  order.reserve(kTimers);
  TimePoint now = kStart;
  std::size_t early = 0;
  for (std::uint32_t i = 0; i < kTimers; ++i) {
    deadlines[i] = at(Duration(offset(rng)));
    wheel.schedule(deadlines[i], [&, i] {
      order.push_back(i);
      if (deadlines[i] > now) ++early;
    });
  }
  ASSERT_EQ(wheel.size(), kTimers);

  std::uniform_int_distribution<std::int64_t> step(0, Duration(50ms).count());
  std::size_t fired = 0;
  while (!wheel.empty()) {
    now += Duration(step(rng));
    fired += wheel.advance(now);
  }

  EXPECT_EQ(fired, kTimers);
  EXPECT_EQ(early, 0U);
  ASSERT_EQ(order.size(), kTimers);
  std::vector<bool> seen(kTimers, false);
  for (std::size_t k = 0; k < order.size(); ++k) {
    ASSERT_FALSE(seen[order[k]]) << "timer " << order[k] << " fired twice";
    seen[order[k]] = true;
    if (k > 0) {
      ASSERT_LE(deadlines[order[k - 1]], deadlines[order[k]]) << "out of order at " << k;
    }
  }
}

TEST(TimerWheel, NextDeadlineIsTheEarliestPendingDeadline) {
  TimerWheel wheel(kStart, 1ms);
  EXPECT_EQ(wheel.next_deadline(), std::nullopt);

  const TimerId soon = wheel.schedule(at(5ms + 3ns), [] {});
  wheel.schedule(at(2h), [] {});
  wheel.schedule(at(300ms + 7ns), [] {});
  EXPECT_EQ(wheel.next_deadline(), at(5ms + 3ns));

  wheel.cancel(soon);
  EXPECT_EQ(wheel.next_deadline(), at(300ms + 7ns));
  wheel.advance(at(299ms));  // cascades the 300 ms timer down without firing it
  EXPECT_EQ(wheel.next_deadline(), at(300ms + 7ns));
  wheel.advance(at(300ms + 6ns));
  EXPECT_EQ(wheel.next_deadline(), at(300ms + 7ns));
  wheel.advance(at(300ms + 7ns));
  EXPECT_EQ(wheel.next_deadline(), at(2h));

  // A deadline already passed is reported as is: the timer thread should not sleep.
  wheel.schedule(at(1ms), [] {});
  EXPECT_EQ(wheel.next_deadline(), at(1ms));
  wheel.advance(wheel.now());
  EXPECT_EQ(wheel.next_deadline(), at(2h));
  wheel.advance(at(3h));
  EXPECT_EQ(wheel.next_deadline(), std::nullopt);
}

TEST(TimerWheel, IdsAreNeverReused) {
  TimerWheel wheel(kStart);
  const TimerId cancelled = wheel.schedule(at(1ms), [] {});
  EXPECT_NE(cancelled, TimerWheel::kInvalidTimer);
  EXPECT_TRUE(wheel.cancel(cancelled));

  // The freed node is reused; its id must not be.
  int fired = 0;
  const TimerId reused = wheel.schedule(at(1ms), [&fired] { ++fired; });
  EXPECT_NE(reused, cancelled);
  EXPECT_FALSE(wheel.cancel(cancelled));
  EXPECT_EQ(wheel.size(), 1U);

  wheel.advance(at(1ms));
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(wheel.cancel(reused));
  EXPECT_FALSE(wheel.cancel(TimerWheel::kInvalidTimer));
  EXPECT_FALSE(wheel.cancel(0xdead'beef'0000'0007));

  std::set<TimerId> ids{cancelled, reused};
  for (int i = 0; i < 1000; ++i) {
    const TimerId id = wheel.schedule(at(2ms), [] {});
    EXPECT_TRUE(ids.insert(id).second) << "id " << id << " issued twice";
    if (i % 2 == 0) wheel.cancel(id);
  }
  wheel.advance(at(2ms));
  const TimerId after_fire = wheel.schedule(at(3ms), [] {});
  EXPECT_TRUE(ids.insert(after_fire).second);
}

// The property: driven by the same script, the wheel and a sorted-map model fire the same
// timers in the same order, and agree on every answer along the way.

class Timers {
 public:
  virtual ~Timers() = default;
  /// Labels are 0, 1, 2... in scheduling order; firing `label` calls on_fire(label).
  virtual void schedule(TimePoint deadline, std::size_t label) = 0;
  virtual bool cancel(std::size_t label) = 0;
  virtual std::size_t advance(TimePoint now) = 0;
  [[nodiscard]] virtual std::optional<TimePoint> next_deadline() const = 0;
  [[nodiscard]] virtual std::size_t size() const = 0;

  std::function<void(std::size_t)> on_fire;
};

class WheelTimers final : public Timers {
 public:
  explicit WheelTimers(Duration tick) : wheel_(kStart, tick) {}
  void schedule(TimePoint deadline, std::size_t label) override {
    ids_.push_back(wheel_.schedule(deadline, [this, label] { on_fire(label); }));
  }
  bool cancel(std::size_t label) override { return wheel_.cancel(ids_.at(label)); }
  std::size_t advance(TimePoint now) override { return wheel_.advance(now); }
  std::optional<TimePoint> next_deadline() const override { return wheel_.next_deadline(); }
  std::size_t size() const override { return wheel_.size(); }

 private:
  TimerWheel wheel_;
  std::vector<TimerId> ids_;
};

class ModelTimers final : public Timers {
 public:
  void schedule(TimePoint deadline, std::size_t label) override {
    pending_.emplace(std::pair(deadline, label), label);
    deadlines_.push_back(deadline);
  }
  bool cancel(std::size_t label) override {
    return pending_.erase(std::pair(deadlines_.at(label), label)) == 1;
  }
  std::size_t advance(TimePoint now) override {
    now_ = std::max(now_, now);
    std::size_t fired = 0;
    while (!pending_.empty() && pending_.begin()->first.first <= now_) {
      const std::size_t label = pending_.begin()->second;
      pending_.erase(pending_.begin());
      ++fired;
      on_fire(label);
    }
    return fired;
  }
  std::optional<TimePoint> next_deadline() const override {
    if (pending_.empty()) return std::nullopt;
    return pending_.begin()->first.first;
  }
  std::size_t size() const override { return pending_.size(); }

 private:
  TimePoint now_ = kStart;
  std::map<std::pair<TimePoint, std::size_t>, std::size_t> pending_;
  std::vector<TimePoint> deadlines_;
};

enum class OpKind { schedule, schedule_past, cancel, advance, advance_to_next, advance_backwards };

struct Op {
  OpKind kind;
  std::int64_t amount_ns;  // deadline offset from now, or advance step
  std::uint64_t pick;      // which timer to cancel; for a schedule, what its callback does
};

// Runs `ops` against `timers` and returns everything observable, in order.
std::vector<std::int64_t> run_script(const std::vector<Op>& ops, Duration tick, Timers& timers) {
  std::vector<std::int64_t> trace;
  std::vector<TimePoint> deadlines;
  std::vector<std::uint64_t> actions;  // per label; 0 for timers scheduled by callbacks
  TimePoint now = kStart;

  auto schedule = [&](TimePoint deadline, std::uint64_t action) {
    deadlines.push_back(deadline);
    actions.push_back(action);
    timers.schedule(deadline, deadlines.size() - 1);
  };
  // A callback may cancel any timer and schedule one near its own deadline, possibly already due.
  timers.on_fire = [&](std::size_t label) {
    trace.push_back(-1 - static_cast<std::int64_t>(label));
    const std::uint64_t action = actions[label];
    if (action % 4 == 1 || action % 4 == 3) {
      trace.push_back(timers.cancel((action / 4) % deadlines.size()));
    }
    if (action % 4 == 2 || action % 4 == 3) {
      const auto spread = static_cast<std::uint64_t>(6 * tick.count());
      schedule(deadlines[label] +
                   Duration(static_cast<std::int64_t>((action / 4) % spread) - 2 * tick.count()),
               0);
    }
  };

  for (const Op& op : ops) {
    switch (op.kind) {
      case OpKind::schedule:
        schedule(now + Duration(op.amount_ns), op.pick);
        break;
      case OpKind::schedule_past:
        schedule(now - Duration(op.amount_ns), op.pick);
        break;
      case OpKind::cancel:
        if (!deadlines.empty()) trace.push_back(timers.cancel(op.pick % deadlines.size()));
        break;
      case OpKind::advance:
        now += Duration(op.amount_ns);
        trace.push_back(static_cast<std::int64_t>(timers.advance(now)));
        break;
      case OpKind::advance_to_next:
        now = std::max(now, timers.next_deadline().value_or(now));
        trace.push_back(static_cast<std::int64_t>(timers.advance(now)));
        break;
      case OpKind::advance_backwards:
        trace.push_back(static_cast<std::int64_t>(timers.advance(now - Duration(op.amount_ns))));
        break;
    }
    const auto next = timers.next_deadline();
    trace.push_back(next ? next->time_since_epoch().count() : -1);
    trace.push_back(static_cast<std::int64_t>(timers.size()));
  }
  return trace;
}

rc::Gen<Op> gen_op() {
  // Magnitudes spread over 0..2^46 ns (about 20 hours), so every level of the wheel is used.
  auto amount = rc::gen::mapcat(rc::gen::inRange(0, 47), [](int bits) {
    return rc::gen::inRange<std::int64_t>(0, std::int64_t{1} << bits);
  });
  auto kind = rc::gen::weightedElement<OpKind>({{6, OpKind::schedule},
                                                {1, OpKind::schedule_past},
                                                {2, OpKind::cancel},
                                                {3, OpKind::advance},
                                                {1, OpKind::advance_to_next},
                                                {1, OpKind::advance_backwards}});
  return rc::gen::construct<Op>(kind, amount, rc::gen::arbitrary<std::uint64_t>());
}

RC_GTEST_PROP(TimerWheel, FiresLikeASortedMapModel, ()) {
  const auto tick = Duration(*rc::gen::element<std::int64_t>(1, 1'000, 1'000'000));
  const auto ops = *rc::gen::container<std::vector<Op>>(gen_op());
  WheelTimers wheel(tick);
  ModelTimers model;
  RC_ASSERT(run_script(ops, tick, wheel) == run_script(ops, tick, model));
}

}  // namespace
}  // namespace weft
