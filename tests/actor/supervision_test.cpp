// Supervision: stop (default), resume, restart (limits, backoff, children), escalate, and
// failures in odd places (setup on restart, signal handlers, a parent that is stopping).
#include "weft/actor/supervision.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
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

struct Add {
  int n;
};
struct Throw {};
struct Fail {
  Errc code;
};
struct Get {
  ActorRef<int> reply_to;
};
using Msg = std::variant<Add, Throw, Fail, Get>;
using Log = std::shared_ptr<std::vector<std::string>>;

/// A counter that fails on demand and logs its lifecycle into `log`.
Behavior<Msg> counter(Log log) {
  return behaviors::setup<Msg>([log](ActorContext<Msg>&) {
    log->push_back("setup");
    auto total = std::make_shared<int>(0);
    return behaviors::receive<Msg>(
        [total](ActorContext<Msg>&, Msg& m) -> Behavior<Msg> {
          if (auto* a = std::get_if<Add>(&m)) *total += a->n;
          if (std::holds_alternative<Throw>(m)) throw std::runtime_error("thrown on purpose");
          if (auto* f = std::get_if<Fail>(&m))
            return behaviors::failed(Error(f->code, "failed on purpose"));
          if (auto* g = std::get_if<Get>(&m)) g->reply_to.tell(*total);
          return behaviors::same();
        },
        [log](ActorContext<Msg>&, const Signal& s) -> Behavior<Msg> {
          if (std::holds_alternative<PreRestart>(s)) log->push_back("pre-restart");
          if (std::holds_alternative<PostStop>(s)) log->push_back("post-stop");
          return behaviors::same();
        });
  });
}

TEST(Supervision, DefaultIsStopAndTheParentSeesChildFailedOthersTerminated) {
  TestKit kit;
  auto parent_saw = kit.probe<std::string>();
  auto log = std::make_shared<std::vector<std::string>>();
  auto child = std::make_shared<ActorRef<Msg>>();
  auto parent = kit.system().spawn(
      behaviors::setup<int>([&, out = parent_saw.ref()](ActorContext<int>& ctx) {
        *child = ctx.spawn(counter(log), "child");
        ctx.watch(*child);
        return behaviors::receive<int>(
            [](ActorContext<int>&, int&) -> Behavior<int> { return behaviors::same(); },
            [out](ActorContext<int>&, const Signal& s) -> Behavior<int> {
              if (auto* f = std::get_if<ChildFailed>(&s)) {
                out.tell("child-failed " + std::string(to_string(f->error.code())) + " " +
                         f->ref.name());
              }
              if (std::holds_alternative<Terminated>(s)) out.tell("terminated");
              return behaviors::same();
            });
      }),
      "parent");
  kit.run();
  // A non-parent watcher gets Terminated, not ChildFailed.
  auto other = kit.probe<std::string>();
  auto other_actor = kit.system().spawn(
      behaviors::setup<int>([c = *child, out = other.ref()](ActorContext<int>& ctx) {
        ctx.watch(c);
        return behaviors::receive<int>(
            [](ActorContext<int>&, int&) -> Behavior<int> { return behaviors::same(); },
            [out](ActorContext<int>&, const Signal& s) -> Behavior<int> {
              if (std::holds_alternative<ChildFailed>(s)) out.tell("child-failed");
              if (std::holds_alternative<Terminated>(s)) out.tell("terminated");
              return behaviors::same();
            });
      }));
  kit.run();
  child->tell(Throw{});
  EXPECT_EQ(parent_saw.expect_msg(), "child-failed actor_failed child");
  EXPECT_EQ(other.expect_msg(), "terminated");
  EXPECT_TRUE(child->any().is_terminated());
  EXPECT_FALSE(parent.any().is_terminated());
  EXPECT_EQ(*log, (std::vector<std::string>{"setup", "post-stop"}));
  EXPECT_EQ(kit.system().stats().restarts, 0u);
}

TEST(Supervision, FailedDirectiveCarriesItsErrorToTheParent) {
  TestKit kit;
  auto saw = kit.probe<std::string>();
  auto child = std::make_shared<ActorRef<Msg>>();
  kit.system().spawn(behaviors::setup<int>([&, out = saw.ref()](ActorContext<int>& ctx) {
    *child = ctx.spawn(counter(std::make_shared<std::vector<std::string>>()), "c");
    ctx.watch(*child);
    return behaviors::receive<int>(
        [](ActorContext<int>&, int&) -> Behavior<int> { return behaviors::same(); },
        [out](ActorContext<int>&, const Signal& s) -> Behavior<int> {
          if (auto* f = std::get_if<ChildFailed>(&s)) out.tell(f->error.message());
          return behaviors::same();
        });
  }));
  kit.run();
  child->tell(Fail{Errc::io});
  EXPECT_EQ(saw.expect_msg(), "failed on purpose");
}

class FailureKind : public ::testing::TestWithParam<Msg> {};

TEST_P(FailureKind, ResumeKeepsStateAndDropsTheFailingMessage) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto log = std::make_shared<std::vector<std::string>>();
  auto c = kit.system().spawn(behaviors::supervise(counter(log), SupervisorStrategy::resume()));
  c.tell(Add{1});
  c.tell(GetParam());
  c.tell(Add{2});
  c.tell(Get{probe.ref()});
  EXPECT_EQ(probe.expect_msg(), 3);
  EXPECT_EQ(*log, (std::vector<std::string>{"setup"}));
  EXPECT_EQ(kit.system().stats().restarts, 0u);
}

TEST_P(FailureKind, RestartResetsStateRunsSetupAgainAndKeepsQueuedMessages) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto log = std::make_shared<std::vector<std::string>>();
  auto c = kit.system().spawn(behaviors::supervise(counter(log), SupervisorStrategy::restart()));
  c.tell(Add{1});
  c.tell(GetParam());
  c.tell(Add{2});
  c.tell(Get{probe.ref()});
  EXPECT_EQ(probe.expect_msg(), 2);
  EXPECT_EQ(*log, (std::vector<std::string>{"setup", "pre-restart", "setup"}));
  EXPECT_EQ(kit.system().stats().restarts, 1u);
}

INSTANTIATE_TEST_SUITE_P(ThrowOrFailed, FailureKind,
                         ::testing::Values(Msg{Throw{}}, Msg{Fail{Errc::io}}));

TEST(Supervision, RestartStopsChildrenFirst) {
  TestKit kit;
  auto log = std::make_shared<std::vector<std::string>>();
  auto parent = kit.system().spawn(
      behaviors::supervise(
          behaviors::setup<int>([log](ActorContext<int>& ctx) {
            log->push_back("parent setup");
            ctx.spawn(
                behaviors::receive<int>(
                    [](ActorContext<int>&, int&) -> Behavior<int> { return behaviors::same(); },
                    [log](ActorContext<int>&, const Signal& s) -> Behavior<int> {
                      if (std::holds_alternative<PostStop>(s)) log->push_back("kid post-stop");
                      return behaviors::same();
                    }),
                "kid");
            return behaviors::receive<int>([](ActorContext<int>&, int&) -> Behavior<int> {
              throw std::runtime_error("parent fails");
            });
          }),
          SupervisorStrategy::restart()),
      "parent");
  kit.run();
  parent.tell(1);
  kit.run();
  EXPECT_EQ(*log, (std::vector<std::string>{"parent setup", "kid post-stop", "parent setup"}));
  ASSERT_EQ(parent.any().cell()->children().size(), 1u);  // the named kid was spawned again
}

TEST(Supervision, RestartLimitStopsTheActorAfterNRestartsWithinTheWindow) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto log = std::make_shared<std::vector<std::string>>();
  auto c = kit.system().spawn(
      behaviors::supervise(counter(log), SupervisorStrategy::restart().with_limit(2, 1s)));
  probe.watch(c);
  c.tell(Throw{});
  c.tell(Throw{});
  kit.run();
  EXPECT_FALSE(c.any().is_terminated());
  EXPECT_EQ(kit.system().stats().restarts, 2u);
  c.tell(Throw{});
  probe.expect_terminated(c, Duration{0});
  EXPECT_EQ(kit.system().stats().restarts, 2u);
}

TEST(Supervision, RestartsOutsideTheWindowDoNotCount) {
  TestKit kit;
  auto c =
      kit.system().spawn(behaviors::supervise(counter(std::make_shared<std::vector<std::string>>()),
                                              SupervisorStrategy::restart().with_limit(2, 1s)));
  for (int i = 0; i < 5; ++i) {
    c.tell(Throw{});
    kit.run();
    kit.advance(600ms);  // two restarts are never within 1 s of a third
  }
  EXPECT_FALSE(c.any().is_terminated());
  EXPECT_EQ(kit.system().stats().restarts, 5u);
}

TEST(Supervision, BackoffDelaysTheRestartAndKeepsMessagesSentMeanwhile) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto log = std::make_shared<std::vector<std::string>>();
  auto c = kit.system().spawn(
      behaviors::supervise(counter(log), SupervisorStrategy::restart_with_backoff(100ms, 1s, 0.0)));
  c.tell(Add{5});
  c.tell(Throw{});
  kit.run();
  c.tell(Add{1});
  c.tell(Get{probe.ref()});
  kit.advance(99ms);
  EXPECT_FALSE(probe.receive(Duration{0}).has_value());
  EXPECT_EQ(*log, (std::vector<std::string>{"setup", "pre-restart"}));
  kit.advance(1ms);
  EXPECT_EQ(probe.receive(Duration{0}), std::optional<int>(1));
  EXPECT_EQ(log->back(), "setup");

  // The second restart backs off twice as long.
  c.tell(Throw{});
  c.tell(Get{probe.ref()});
  kit.run();
  kit.advance(199ms);
  EXPECT_FALSE(probe.receive(Duration{0}).has_value());
  kit.advance(1ms);
  EXPECT_EQ(probe.receive(Duration{0}), std::optional<int>(0));
}

TEST(Supervision, StopDuringBackoffStopsAtOnce) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto c = kit.system().spawn(
      behaviors::supervise(counter(std::make_shared<std::vector<std::string>>()),
                           SupervisorStrategy::restart_with_backoff(1s, 1s, 0.0)));
  probe.watch(c);
  c.tell(Throw{});
  c.tell(Add{1});
  kit.run();
  const auto dead = kit.system().stats().dead_letters;
  kit.system().stop(c);
  probe.expect_terminated(c, Duration{0});
  EXPECT_EQ(kit.system().stats().dead_letters, dead + 1);  // the queued Add
  kit.advance(2s);
}

TEST(Supervision, EscalateFailsTheParentWithTheChildsError) {
  TestKit kit;
  auto saw = kit.probe<std::string>();
  auto child = std::make_shared<ActorRef<Msg>>();
  auto middle = std::make_shared<ActorRef<int>>();
  kit.system().spawn(
      behaviors::setup<int>([&, out = saw.ref()](ActorContext<int>& top) {
        *middle = top.spawn(
            behaviors::setup<int>([&](ActorContext<int>& ctx) {
              *child = ctx.spawn(
                  behaviors::supervise(counter(std::make_shared<std::vector<std::string>>()),
                                       SupervisorStrategy::escalate()),
                  "child");
              return behaviors::ignore<int>();
            }),
            "middle");
        top.watch(*middle);
        return behaviors::receive<int>(
            [](ActorContext<int>&, int&) -> Behavior<int> { return behaviors::same(); },
            [out](ActorContext<int>&, const Signal& s) -> Behavior<int> {
              if (auto* f = std::get_if<ChildFailed>(&s))
                out.tell(f->ref.name() + ": " + f->error.message());
              return behaviors::same();
            });
      }),
      "top");
  kit.run();
  child->tell(Fail{Errc::io});
  auto m = saw.expect_msg();
  EXPECT_TRUE(m.starts_with("middle: ")) << m;
  EXPECT_NE(m.find("/user/top/middle/child"), std::string::npos) << m;
  EXPECT_NE(m.find("failed on purpose"), std::string::npos) << m;
  EXPECT_TRUE(middle->any().is_terminated());
  EXPECT_TRUE(child->any().is_terminated());
}

TEST(Supervision, SetupThrowingOnRestartCountsAsAnotherFailureUpToTheLimit) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto setups = std::make_shared<int>(0);
  auto c = kit.system().spawn(behaviors::supervise(
      behaviors::setup<int>([setups](ActorContext<int>&) -> Behavior<int> {
        if (++*setups > 1) throw std::runtime_error("setup fails on restart");
        return behaviors::receive<int>([](ActorContext<int>&, int&) -> Behavior<int> {
          return behaviors::failed(Error(Errc::internal, "first failure"));
        });
      }),
      SupervisorStrategy::restart().with_limit(3, 1min)));
  probe.watch(c);
  c.tell(1);
  probe.expect_terminated(c, Duration{0});
  EXPECT_EQ(*setups, 4);  // the first start and three restarts
  EXPECT_EQ(kit.system().stats().restarts, 3u);
}

TEST(Supervision, ChildFailingWhileItsParentStopsIsHarmless) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    TestKit kit(seed);
    auto probe = kit.probe<int>();
    auto log = std::make_shared<std::vector<std::string>>();
    auto child = std::make_shared<ActorRef<Msg>>();
    auto parent = kit.system().spawn(behaviors::setup<int>([&](ActorContext<int>& ctx) {
      *child = ctx.spawn(counter(log), "child");
      ctx.watch(*child);
      return behaviors::receive<int>(
          [](ActorContext<int>&, int&) -> Behavior<int> { return behaviors::same(); },
          [log](ActorContext<int>&, const Signal& s) -> Behavior<int> {
            if (std::holds_alternative<PostStop>(s)) log->push_back("parent post-stop");
            return behaviors::same();
          });
    }));
    probe.watch(parent);
    kit.run();
    child->tell(Throw{});
    kit.system().stop(parent);
    probe.expect_terminated(parent, Duration{0});
    EXPECT_TRUE(child->any().is_terminated());
    EXPECT_EQ(log->back(), "parent post-stop") << "seed " << seed;
  }
}

TEST(Supervision, ExceptionsInPostStopAndPreRestartDoNotCrash) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto throwing = [](ActorContext<int>&, const Signal& s) -> Behavior<int> {
    if (std::holds_alternative<PostStop>(s) || std::holds_alternative<PreRestart>(s)) {
      throw std::runtime_error("signal handler throws");
    }
    return behaviors::same();
  };
  auto a =
      kit.system().spawn(behaviors::supervise(behaviors::receive<int>(
                                                  [](ActorContext<int>&, int& n) -> Behavior<int> {
                                                    if (n == 0) throw std::runtime_error("fail");
                                                    if (n < 0) return behaviors::stopped();
                                                    return behaviors::same();
                                                  },
                                                  throwing),
                                              SupervisorStrategy::restart()));
  probe.watch(a);
  a.tell(0);  // PreRestart throws; the restart still happens
  kit.run();
  EXPECT_FALSE(a.any().is_terminated());
  EXPECT_EQ(kit.system().stats().restarts, 1u);
  a.tell(-1);  // PostStop throws; the actor still terminates and watchers hear of it
  probe.expect_terminated(a, Duration{0});
}

TEST(Supervision, ExceptionInASignalHandlerIsAFailure) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto target = kit.system().spawn(behaviors::ignore<int>());
  auto watcher = kit.system().spawn(behaviors::setup<int>([target](ActorContext<int>& ctx) {
    ctx.watch(target);
    return behaviors::receive<int>(
        [](ActorContext<int>&, int&) -> Behavior<int> { return behaviors::same(); },
        [](ActorContext<int>&, const Signal& s) -> Behavior<int> {
          if (std::holds_alternative<Terminated>(s)) throw std::runtime_error("cannot cope");
          return behaviors::same();
        });
  }));
  probe.watch(watcher);
  kit.run();
  kit.system().stop(target);
  probe.expect_terminated(watcher, Duration{0});
}

}  // namespace
}  // namespace weft
