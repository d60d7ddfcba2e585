// Actor timers on a manual clock: single and periodic, cancel, replace, stop.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "weft/actor/actor_system.hpp"
#include "weft/actor/testkit/test_probe.hpp"

namespace weft {
namespace {

using namespace std::chrono_literals;
using testkit::TestKit;
using testkit::TestProbe;

struct Tick {
  int n;
};
struct Command {
  std::string what;
};
using TimerMsg = std::variant<Tick, Command>;

/// Forwards ticks as their number; runs `on_command` for commands.
template <class F>
Behavior<TimerMsg> timed(ActorRef<int> out, F on_command) {
  return behaviors::receive<TimerMsg>(
      [out, on_command](ActorContext<TimerMsg>& ctx, TimerMsg& m) -> Behavior<TimerMsg> {
        if (auto* t = std::get_if<Tick>(&m)) {
          out.tell(t->n);
          return behaviors::same();
        }
        return on_command(ctx, std::get<Command>(m).what);
      });
}

std::vector<int> drain(TestProbe<int>& probe) {
  std::vector<int> seen;
  while (auto m = probe.receive(Duration{0})) seen.push_back(*m);
  return seen;
}

TEST(Timers, SingleTimerFiresAtItsDeadlineNotBeforeAndOnlyOnce) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto active = std::make_shared<std::vector<bool>>();
  auto a = kit.system().spawn(
      timed(probe.ref(),
            [active](ActorContext<TimerMsg>& ctx, const std::string& what) -> Behavior<TimerMsg> {
              if (what == "start") ctx.timers().start_single_timer("t", Tick{1}, 100ms);
              active->push_back(ctx.timers().is_active("t"));
              return behaviors::same();
            }));
  a.tell(Command{"start"});
  kit.run();
  EXPECT_EQ(*active, (std::vector<bool>{true}));
  kit.advance(99ms);
  EXPECT_TRUE(drain(probe).empty());
  kit.advance(1ms);
  EXPECT_EQ(drain(probe), (std::vector<int>{1}));
  kit.advance(1s);
  EXPECT_TRUE(drain(probe).empty());
  a.tell(Command{"check"});
  kit.run();
  EXPECT_EQ(*active, (std::vector<bool>{true, false}));
}

TEST(Timers, PeriodicTimerFiresEveryIntervalUntilCancelled) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto active = std::make_shared<std::vector<bool>>();
  auto a = kit.system().spawn(
      timed(probe.ref(),
            [active](ActorContext<TimerMsg>& ctx, const std::string& what) -> Behavior<TimerMsg> {
              if (what == "start") ctx.timers().start_periodic_timer("p", Tick{7}, 10ms);
              if (what == "cancel") {
                EXPECT_TRUE(ctx.timers().cancel("p"));
              }
              active->push_back(ctx.timers().is_active("p"));
              return behaviors::same();
            }));
  a.tell(Command{"start"});
  kit.run();
  kit.advance(9ms);
  EXPECT_TRUE(drain(probe).empty());
  kit.advance(1ms);
  EXPECT_EQ(drain(probe).size(), 1u);
  for (int i = 0; i < 5; ++i) {
    kit.advance(9ms);
    EXPECT_TRUE(drain(probe).empty()) << i;
    kit.advance(1ms);
    EXPECT_EQ(drain(probe), (std::vector<int>{7})) << i;
  }
  a.tell(Command{"check"});
  a.tell(Command{"cancel"});
  kit.run();
  kit.advance(100ms);
  EXPECT_TRUE(drain(probe).empty());
  EXPECT_EQ(*active, (std::vector<bool>{true, true, false}));
}

TEST(Timers, CancelPreventsDeliveryEvenWhenAlreadyDue) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto cancelled = std::make_shared<bool>(false);
  ManualClock* clock = &kit.clock();
  auto a = kit.system().spawn(
      timed(probe.ref(),
            [clock, cancelled](ActorContext<TimerMsg>& ctx,
                               const std::string& what) -> Behavior<TimerMsg> {
              if (what == "start") ctx.timers().start_single_timer("t", Tick{1}, 10ms);
              if (what == "race") {
                clock->advance(10ms);  // the timer fires now: its message is already on the way
                *cancelled = ctx.timers().cancel("t");
              }
              return behaviors::same();
            }));
  a.tell(Command{"start"});
  kit.run();
  a.tell(Command{"race"});
  kit.run();
  EXPECT_TRUE(*cancelled);
  kit.advance(1s);
  EXPECT_TRUE(drain(probe).empty());
}

TEST(Timers, StartingAnActiveKeyReplacesTheTimer) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(timed(
      probe.ref(), [](ActorContext<TimerMsg>& ctx, const std::string& what) -> Behavior<TimerMsg> {
        ctx.timers().start_single_timer("t", Tick{what == "first" ? 1 : 2}, 100ms);
        return behaviors::same();
      }));
  a.tell(Command{"first"});
  kit.run();
  kit.advance(50ms);
  a.tell(Command{"second"});
  kit.run();
  kit.advance(50ms);  // the first timer's deadline
  EXPECT_TRUE(drain(probe).empty());
  kit.advance(49ms);
  EXPECT_TRUE(drain(probe).empty());
  kit.advance(1ms);
  EXPECT_EQ(drain(probe), (std::vector<int>{2}));
  kit.advance(1s);
  EXPECT_TRUE(drain(probe).empty());
}

TEST(Timers, ReplacingAKeyWhoseTimerIsAlreadyDueDropsTheOldMessage) {
  TestKit kit;
  auto probe = kit.probe<int>();
  ManualClock* clock = &kit.clock();
  auto a = kit.system().spawn(
      timed(probe.ref(),
            [clock](ActorContext<TimerMsg>& ctx, const std::string& what) -> Behavior<TimerMsg> {
              if (what == "start") ctx.timers().start_single_timer("t", Tick{1}, 10ms);
              if (what == "replace") {
                clock->advance(10ms);
                ctx.timers().start_single_timer("t", Tick{2}, 10ms);
              }
              return behaviors::same();
            }));
  a.tell(Command{"start"});
  kit.run();
  a.tell(Command{"replace"});
  kit.run();
  EXPECT_TRUE(drain(probe).empty());
  kit.advance(10ms);
  EXPECT_EQ(drain(probe), (std::vector<int>{2}));
}

TEST(Timers, CancelAllStopsEveryTimer) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(timed(
      probe.ref(), [](ActorContext<TimerMsg>& ctx, const std::string& what) -> Behavior<TimerMsg> {
        if (what == "start") {
          ctx.timers().start_single_timer("a", Tick{1}, 10ms);
          ctx.timers().start_periodic_timer("b", Tick{2}, 10ms);
        } else {
          ctx.timers().cancel_all();
          EXPECT_FALSE(ctx.timers().is_active("a"));
          EXPECT_FALSE(ctx.timers().is_active("b"));
          EXPECT_FALSE(ctx.timers().cancel("a"));
        }
        return behaviors::same();
      }));
  a.tell(Command{"start"});
  a.tell(Command{"cancel"});
  kit.run();
  kit.advance(1s);
  EXPECT_TRUE(drain(probe).empty());
}

TEST(Timers, StoppingTheActorCancelsItsTimersWithoutDeadLetters) {
  TestKit kit;
  auto probe = kit.probe<int>();
  ManualClock* clock = &kit.clock();
  auto make = [&] {
    return kit.system().spawn(
        timed(probe.ref(),
              [clock](ActorContext<TimerMsg>& ctx, const std::string& what) -> Behavior<TimerMsg> {
                if (what == "start") {
                  ctx.timers().start_periodic_timer("p", Tick{1}, 10ms);
                  ctx.timers().start_single_timer("s", Tick{2}, 10ms);
                  return behaviors::same();
                }
                if (what == "due-then-stop") clock->advance(10ms);  // both fire as the actor stops
                return behaviors::stopped();
              }));
  };
  auto a = make();
  auto b = make();
  probe.watch(a);
  probe.watch(b);
  a.tell(Command{"start"});
  b.tell(Command{"start"});
  kit.run();
  const auto before = kit.system().stats();
  a.tell(Command{"stop"});
  b.tell(Command{"due-then-stop"});
  probe.expect_terminated(a, Duration{0});
  probe.expect_terminated(b, Duration{0});
  kit.advance(1s);
  EXPECT_TRUE(drain(probe).empty());
  EXPECT_EQ(kit.system().stats().dead_letters, before.dead_letters);
}

TEST(Timers, RestartCancelsTimers) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(behaviors::supervise(
      timed(probe.ref(),
            [](ActorContext<TimerMsg>& ctx, const std::string& what) -> Behavior<TimerMsg> {
              if (what == "start") ctx.timers().start_periodic_timer("p", Tick{1}, 10ms);
              if (what == "fail") return behaviors::failed(Error(Errc::internal, "boom"));
              return behaviors::same();
            }),
      SupervisorStrategy::restart()));
  a.tell(Command{"start"});
  kit.run();
  kit.advance(10ms);
  EXPECT_EQ(drain(probe), (std::vector<int>{1}));
  a.tell(Command{"fail"});
  kit.run();
  EXPECT_EQ(kit.system().stats().restarts, 1u);
  kit.advance(100ms);
  EXPECT_TRUE(drain(probe).empty());
}

}  // namespace
}  // namespace weft
